//! [`LeakGuard`] and its [`Builder`].

mod active;
mod rules;
mod wait;

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::ThreadId;
use std::time::Duration;

use corral_task::{Snapshot, TaskId, TaskInfo};
use tokio::runtime::Handle;

use crate::report::{Leak, Report, MAX_CHAIN};
use active::Registration;
use rules::LocationRule;

/// The default grace period: how long a check waits for tasks that are finishing.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(250);

/// Fails a test that leaves tasks behind.
///
/// Create it first thing in a test ([`LeakGuard::new`]); at the end,
/// [`assert_clean`](LeakGuard::assert_clean) panics with a report of every task still
/// alive that was not alive when the guard was made. `#[corral::test]` does both for
/// you.
///
/// What it watches:
/// - tracked tasks ([`corral_task::spawn`] and friends) of the guard's runtime, named
///   with their spawn site, age and parent chain; when a guard of another task tree
///   (another test) shares the runtime, only the tasks of this guard's own task tree
///   (spawned, directly or not, from where the guard was created, even through a
///   parent that has finished; a plain `tokio::spawn` in between breaks the chain). A
///   guard made inside another guard's tree (a guard per phase inside a test-wide
///   one) is part of that tree, so nested guards of one test never count as sharing.
///   A guard made inside a plain `tokio::spawn` task has no tree (nothing marks that
///   task's polls): on a shared runtime it checks every tracked task of the runtime,
///   other tests' included, and its report says so; make it in a corral task, or in
///   the test's own body outside any task, to narrow it;
/// - untracked tasks (plain `tokio::spawn`), counted through the runtime's alive-task
///   count against the count at creation, when the runtime is not shared (see
///   "Untracked tasks are a count" below);
/// - threads of dropped corral blocking pools still running a job
///   ([`corral_blocking::stray_threads`]);
/// - `corral_blocking::spawn_blocking` jobs still running or waiting for a slot, by
///   the line that spawned them (while any guard is alive, each such job is in the
///   live-task registry as a [`corral_blocking::SPAWN_BLOCKING_NAME`] entry).
///
/// Tasks still finishing get a grace period: the check rescans with exponential
/// backoff (1 ms doubling to 50 ms) for up to the budget ([`DEFAULT_BUDGET`] unless
/// [`Builder::budget`] says otherwise, which also says what a budget of zero
/// promises).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use corral_leak::LeakGuard;
///
/// let guard = LeakGuard::new();
/// let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
/// let worker = corral_task::spawn(async move { while rx.recv().await.is_some() {} });
///
/// let report = guard.check().await;
/// assert_eq!(report.leaked().len(), 1, "the worker waits on a channel still open");
///
/// drop(tx); // close the channel: the worker ends
/// worker.await.unwrap();
/// guard.assert_clean().await;
/// # }
/// ```
///
/// # Untracked tasks are a count
///
/// Tracked tasks are compared by identity: one alive at creation is baseline, any
/// other is checked. Plain `tokio::spawn` tasks cannot be: stable tokio exposes no
/// identity or list of a runtime's tasks (task dumps need `tokio_unstable`), only how
/// many are alive. So the report says how many more untracked tasks are alive than at
/// creation, and a new untracked leak hides exactly when at least as many untracked
/// tasks that were alive at creation ended during the test (five alive before the
/// guard end, one new one leaks: clean). A task joined just before the guard was made
/// can also still be in tokio's count (see [`Builder::budget`]) and raise the
/// baseline by one. `#[corral::test]` runs each test on a runtime of its own, whose
/// baseline is zero, so none of this applies there; it applies to a guard made on a
/// runtime already running plain tasks. Spawn with `corral::spawn` to be checked by
/// identity.
///
/// The count is the runtime's alive tasks minus its live tracked ones, and a tracked
/// future that is not one of the runtime's tasks (a
/// [`corral_task::Builder::track`] future run by a `LocalSet` or awaited inside
/// another task) is taken out all the same: stable tokio does not say which tasks
/// a `LocalSet` runs. So each such future alive at a check can hide one untracked
/// task. It is itself checked by identity, so a new one is reported; one in the
/// baseline or under an ignore rule is not, and then hides a plain leak.
#[must_use = "a LeakGuard checks nothing unless check() or assert_clean() is awaited"]
pub struct LeakGuard {
    settings: Builder,
    handle: Handle,
    baseline: HashSet<TaskId>,
    untracked_base: usize,
    strays_base: HashSet<String>,
    mark: u32,
    restore: Option<Restore>,
    registration: Registration,
    /// The tokio task the guard was made in, if any (not the `block_on` future).
    creator: Option<tokio::task::Id>,
    /// Keeps `corral_blocking::spawn_blocking` jobs in the registry while the guard
    /// lives (they are not registered otherwise: a cost no production path pays).
    _jobs: corral_blocking::__JobWatch,
}

/// Where the guard set its tree mark, to undo it on drop.
#[derive(Debug)]
struct Restore {
    prev: u32,
    owner: Owner,
}

#[derive(Debug, PartialEq, Eq)]
enum Owner {
    Task(TaskId),
    Thread(ThreadId),
}

impl LeakGuard {
    /// A guard with the default settings, watching the current runtime.
    ///
    /// # Panics
    ///
    /// Panics outside a tokio runtime. Checking needs the runtime's timer (enabled by
    /// `#[tokio::test]` and `#[corral::test]`).
    pub fn new() -> Self {
        Builder::new().build()
    }

    /// A builder for the settings: budget, ignore rules, what to count.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Waits out the grace period for tasks that are finishing, and reports what is
    /// still alive.
    ///
    /// A clean scan returns at once; only live tasks make it wait, up to the budget.
    /// Each wait also holds one of the runtime's `spawn_blocking` threads for its span
    /// (at most 50 ms), so a paused clock gives real work its grace period (see
    /// [`Builder::budget`]); the calling thread is never blocked.
    ///
    /// # Panics
    ///
    /// When it has to wait on a runtime built without its timer
    /// (`enable_time`/`enable_all`); `#[tokio::test]` and `#[corral::test]` enable it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the check; nothing is lost and the guard can check
    /// again.
    pub fn check(&self) -> Check<'_> {
        Check {
            inner: Box::pin(self.check_inner()),
        }
    }

    /// Like [`check`](LeakGuard::check), then panics with the report if anything
    /// leaked.
    ///
    /// # Panics
    ///
    /// Panics when a task, untracked task or stray blocking thread is still alive after
    /// the grace period; the message names each leaked task with its spawn file and
    /// line, age and parent chain, and ends with the place `assert_clean` was called
    /// (`#[track_caller]`: the panic itself is raised inside the future, where no
    /// caller location reaches).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the check without panicking.
    #[track_caller]
    pub fn assert_clean(&self) -> AssertClean<'_> {
        let caller = Location::caller();
        AssertClean {
            inner: Box::pin(async move {
                let report = self.check_inner().await;
                if !report.is_clean() {
                    panic!("{report}  (leak check by assert_clean at {caller})");
                }
            }),
        }
    }

    async fn check_inner(&self) -> Report {
        let (mut report, attempts, waited) =
            wait::retry(self.settings.budget, || self.scan(), Report::is_clean).await;
        report.attempts = attempts;
        report.waited = waited;
        if report.untracked_checked {
            // tokio may still count a task that is gone (see `wait::settle`); only
            // the untracked count can be off that way, so only it is re-read.
            report.untracked = wait::settle(report.untracked, || {
                let snap = corral_task::snapshot();
                self.untracked(&snap)
            })
            .await;
        }
        report
    }

    /// How many more untracked tasks the guard's runtime has than at the guard's
    /// creation, with the tracked tasks of `snap` taken out of its alive-task count.
    fn untracked(&self, snap: &Snapshot) -> usize {
        let tracked_here = tracked_tasks_on(snap, self.handle.id());
        // A plain tokio task running the check, other than the one that made the
        // guard, is alive because it is checking.
        let checking_task = corral_task::current().is_none()
            && tokio::task::try_id().is_some_and(|id| Some(id) != self.creator);
        untracked_now(&self.handle, tracked_here)
            .saturating_sub(self.untracked_base + usize::from(checking_task))
    }

    fn scan(&self) -> Report {
        let shared = self.registration.runtime_is_shared();
        let runtime = self.handle.id();
        let snap = corral_task::snapshot();
        // The task running the check (and what spawned it) is the test itself, alive by
        // necessity, not a leak.
        let mut checker = HashSet::new();
        let mut next = corral_task::current();
        while let Some(id) = next {
            if !checker.insert(id) {
                break;
            }
            next = snap.get(id).and_then(TaskInfo::parent);
        }
        let mut ignored = 0;
        let mut leaked = Vec::new();
        let in_tree = (shared && self.mark != 0).then(|| Registration::tree(self.mark));
        // Live tasks by id, for ignore-by-creator rules and the ancestry of leaks: made
        // only when one of them needs it (a clean scan without such rules never does),
        // and never a search of the snapshot per task, which made reporting a large
        // leak quadratic (`Snapshot::get` is a linear search).
        let index = OnceCell::new();
        let by_id = || -> &HashMap<TaskId, &TaskInfo> {
            index.get_or_init(|| snap.iter().map(|t| (t.id(), t)).collect())
        };
        let no_index = HashMap::new();
        for task in snap.iter().filter(|t| t.runtime() == runtime) {
            if self.baseline.contains(&task.id()) || checker.contains(&task.id()) {
                continue;
            }
            if in_tree
                .as_ref()
                .is_some_and(|in_tree| !in_tree(task.tree_mark()))
            {
                continue;
            }
            let live = if self.settings.ignores_by_creator() {
                by_id()
            } else {
                &no_index
            };
            if self.settings.ignores(task, live) {
                ignored += 1;
                continue;
            }
            leaked.push(task);
        }
        leaked.sort_by_key(|t| t.spawned_at());
        let leaked = leaked
            .into_iter()
            .map(|task| {
                let mut ancestors: Vec<TaskInfo> = Vec::new();
                let mut finished_ancestor = None;
                let mut finished_chain = None;
                let mut next = task.parent();
                while let Some(id) = next {
                    match by_id().get(&id).copied() {
                        Some(parent) if ancestors.len() < MAX_CHAIN => {
                            next = parent.parent();
                            ancestors.push(parent.clone());
                        }
                        Some(_) => break,
                        None => {
                            // The child of the finished one still holds its record.
                            let child = ancestors.last().unwrap_or(task);
                            finished_ancestor = Some(id);
                            finished_chain = child.creator().cloned();
                            break;
                        }
                    }
                }
                Leak {
                    task: task.clone(),
                    ancestors,
                    finished_ancestor,
                    finished_chain,
                }
            })
            .collect();
        let untracked_checked = self.settings.untracked && !shared;
        let untracked = if untracked_checked {
            self.untracked(&snap)
        } else {
            0
        };
        let strays = if self.settings.blocking {
            corral_blocking::stray_threads()
                .into_iter()
                .filter(|s| !self.strays_base.contains(&s.thread))
                .collect()
        } else {
            Vec::new()
        };
        Report {
            leaked,
            ignored,
            untracked,
            untracked_checked,
            runtime,
            strays,
            shared_runtime: shared,
            tree_checked: in_tree.is_some(),
            attempts: 0,
            waited: Duration::ZERO,
        }
    }
}

/// Registry entries of `runtime` that are tokio tasks: all but the entries of
/// `corral_blocking::spawn_blocking` jobs, which run as tokio *blocking* jobs, outside
/// tokio's alive-task count.
fn tracked_tasks_on(snap: &Snapshot, runtime: tokio::runtime::Id) -> usize {
    snap.iter()
        .filter(|t| {
            t.runtime() == runtime && t.name() != Some(corral_blocking::SPAWN_BLOCKING_NAME)
        })
        .count()
}

/// Alive tokio tasks of the runtime that are not tracked ones.
fn untracked_now(handle: &Handle, tracked_here: usize) -> usize {
    handle
        .metrics()
        .num_alive_tasks()
        .saturating_sub(tracked_here)
}

impl Default for LeakGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for LeakGuard {
    fn drop(&mut self) {
        let Some(restore) = self.restore.take() else {
            return;
        };
        let here = match corral_task::current() {
            Some(task) => Owner::Task(task),
            None => Owner::Thread(std::thread::current().id()),
        };
        if here == restore.owner && corral_task::__tree_mark() == self.mark {
            corral_task::__set_tree_mark(restore.prev);
        }
    }
}

impl fmt::Debug for LeakGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakGuard")
            .field("runtime", &self.handle.id())
            .field("baseline", &self.baseline.len())
            .field("untracked_base", &self.untracked_base)
            .field("mark", &self.mark)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Settings for a [`LeakGuard`].
///
/// Nothing here can be invalid, so [`build`](Builder::build) returns the guard itself.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
///
/// let guard = corral_leak::LeakGuard::builder()
///     .budget(Duration::from_millis(100))
///     .ignore_name("metrics-flusher")
///     .ignore_location("src/telemetry.rs")
///     .build();
/// guard.assert_clean().await;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    budget: Duration,
    ignore_names: Vec<String>,
    ignore_locations: Vec<LocationRule>,
    ignore_created_by_names: Vec<String>,
    ignore_created_by_locations: Vec<LocationRule>,
    untracked: bool,
    blocking: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// The defaults: a [`DEFAULT_BUDGET`] grace period, no ignore rules, untracked tasks
    /// and stray blocking threads counted.
    pub fn new() -> Self {
        Self {
            budget: DEFAULT_BUDGET,
            ignore_names: Vec::new(),
            ignore_locations: Vec::new(),
            ignore_created_by_names: Vec::new(),
            ignore_created_by_locations: Vec::new(),
            untracked: true,
            blocking: true,
        }
    }

    /// How long a check waits, in total, for tasks that are finishing before it
    /// reports them. With a paused clock the wait passes in both clocks: real time, so
    /// work on real threads (blocking jobs) can finish, and the same span of virtual
    /// time, never more, so a leaked timer is not skipped past; a busy runtime with a
    /// paused clock still ends, after twice the budget in real time.
    ///
    /// Zero means one immediate scan, with no grace period. What it promises: a task
    /// joined before the check (its `JoinHandle` resolved) is not reported, on any
    /// runtime flavor. A tracked one never is (it leaves the registry before tokio
    /// publishes its end); a plain one is not unless tokio takes more than the 50 ms
    /// settle below to take it out of its count (a worker descheduled that long
    /// between waking the `JoinHandle` and updating the count). What it does not
    /// promise: a task aborted but not yet dropped by its runtime, or one that has
    /// signalled the test (sent on a channel) but not yet returned, is still alive
    /// and is reported; give those a budget.
    ///
    /// Whatever the budget, the untracked count gets one more allowance: it comes from
    /// tokio's alive-task count, which on a multi-thread runtime still counts a task
    /// for a moment after its `JoinHandle` was woken. When that count is above the
    /// baseline at the end of the check, it is re-read (yields, then real-time waits
    /// that hold a paused clock still) until it drops to the baseline or 50 ms of real
    /// time have passed. A task that stays alive keeps the count up, so only tasks
    /// that are gone (or end meanwhile) drop out. A clean check never waits for it.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Ignores tasks with exactly this name.
    pub fn ignore_name(mut self, name: impl Into<String>) -> Self {
        self.ignore_names.push(name.into());
        self
    }

    /// Ignores tasks spawned at this location: `"path/file.rs"` (any line),
    /// `"path/file.rs:42"` or `"path/file.rs:42:5"`, so a site copied from a report's
    /// "spawned at ..." works as it is.
    ///
    /// The path matches whole trailing components of the spawn site's file path:
    /// `"src/telemetry.rs"` matches `crates/app/src/telemetry.rs`, and `"peer.rs"`
    /// does not match `tests/leak_peer.rs`. `\` and `/` are the same separator. An
    /// empty path matches nothing.
    pub fn ignore_location(mut self, location: &str) -> Self {
        self.ignore_locations.push(LocationRule::parse(location));
        self
    }

    /// Ignores tasks with exactly this name and every task they spawned, directly or
    /// not (goleak's `IgnoreCreatedBy`): a server's acceptor and all its connection
    /// tasks, say. The chain is followed past finished and aborted ancestors, through
    /// the creator each task keeps ([`corral_task::TaskInfo::creator`]); a plain
    /// `tokio::spawn` in between breaks it.
    pub fn ignore_created_by_name(mut self, name: impl Into<String>) -> Self {
        self.ignore_created_by_names.push(name.into());
        self
    }

    /// Ignores tasks spawned at this location and every task they spawned, directly
    /// or not; the location reads as in [`ignore_location`](Self::ignore_location),
    /// and the chain as in [`ignore_created_by_name`](Self::ignore_created_by_name).
    pub fn ignore_created_by_location(mut self, location: &str) -> Self {
        self.ignore_created_by_locations
            .push(LocationRule::parse(location));
        self
    }

    /// Whether to count untracked tasks (plain `tokio::spawn`) through the runtime's
    /// alive-task count (default: yes).
    pub fn untracked(mut self, count: bool) -> Self {
        self.untracked = count;
        self
    }

    /// Whether to report threads of dropped corral blocking pools still running a job
    /// (default: yes). The list is process-wide; turn this off if parallel tests leave
    /// such threads on purpose.
    pub fn blocking_threads(mut self, report: bool) -> Self {
        self.blocking = report;
        self
    }

    /// Creates the guard: records what is alive now (the baseline) and marks the
    /// current context, so tasks spawned from here on belong to this guard's tree.
    ///
    /// # Panics
    ///
    /// Panics outside a tokio runtime.
    pub fn build(self) -> LeakGuard {
        let handle = Handle::try_current()
            .unwrap_or_else(|_| panic!("LeakGuard must be created inside a tokio runtime"));
        // Before the baseline: a job spawned from here on is registered.
        let jobs = corral_blocking::__watch_jobs();
        let snap = corral_task::snapshot();
        let baseline: HashSet<TaskId> = snap.iter().map(TaskInfo::id).collect();
        let tracked_here = tracked_tasks_on(&snap, handle.id());
        let untracked_base = untracked_now(&handle, tracked_here);
        let strays_base = if self.blocking {
            corral_blocking::stray_threads()
                .into_iter()
                .map(|s| s.thread)
                .collect()
        } else {
            HashSet::new()
        };
        // Mark the tree. Inside a plain tokio task the mark would stick to the worker
        // thread and leak into unrelated tasks, so there the guard goes without one.
        // A mark made inside another guard's tree (a guard per phase within a
        // test-wide one) is recorded as part of it.
        let parent = corral_task::__tree_mark();
        let (mark, restore) = match corral_task::current() {
            Some(task) => {
                let mark = active::next_mark(parent);
                let prev = corral_task::__set_tree_mark(mark);
                (
                    mark,
                    Some(Restore {
                        prev,
                        owner: Owner::Task(task),
                    }),
                )
            }
            None if tokio::task::try_id().is_none() => {
                let mark = active::next_mark(parent);
                let prev = corral_task::__set_tree_mark(mark);
                (
                    mark,
                    Some(Restore {
                        prev,
                        owner: Owner::Thread(std::thread::current().id()),
                    }),
                )
            }
            None => (0, None),
        };
        let registration = Registration::new(handle.id(), mark);
        LeakGuard {
            settings: self,
            handle,
            baseline,
            untracked_base,
            strays_base,
            mark,
            restore,
            registration,
            creator: tokio::task::try_id(),
            _jobs: jobs,
        }
    }

    fn ignores_by_creator(&self) -> bool {
        !(self.ignore_created_by_names.is_empty() && self.ignore_created_by_locations.is_empty())
    }

    /// Whether a rule ignores `task`; `live` maps ids to live tasks (needed only for
    /// ignore-by-creator rules).
    fn ignores(&self, task: &TaskInfo, live: &HashMap<TaskId, &TaskInfo>) -> bool {
        let named = |rules: &[String], name: Option<&str>| {
            name.is_some_and(|name| rules.iter().any(|n| n == name))
        };
        let located = |rules: &[LocationRule], loc| rules.iter().any(|rule| rule.matches(loc));
        if named(&self.ignore_names, task.name())
            || located(&self.ignore_locations, task.location())
        {
            return true;
        }
        if !self.ignores_by_creator() {
            return false;
        }
        let by = |name: Option<&str>, loc| {
            named(&self.ignore_created_by_names, name)
                || located(&self.ignore_created_by_locations, loc)
        };
        // The task itself, its live ancestors by id, then the recorded creators past
        // the first finished one (or past the last live one).
        let mut at = task;
        for _ in 0..MAX_CHAIN {
            if by(at.name(), at.location()) {
                return true;
            }
            match at.parent().and_then(|id| live.get(&id)) {
                Some(parent) => at = parent,
                None => break,
            }
        }
        let mut creator = at.creator();
        while let Some(c) = creator {
            if by(c.name(), c.location()) {
                return true;
            }
            creator = c.creator();
        }
        false
    }
}

/// Future of [`LeakGuard::check`].
#[must_use = "futures do nothing unless awaited"]
pub struct Check<'a> {
    inner: Pin<Box<dyn Future<Output = Report> + Send + 'a>>,
}

impl Future for Check<'_> {
    type Output = Report;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Report> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for Check<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check").finish_non_exhaustive()
    }
}

/// Future of [`LeakGuard::assert_clean`].
#[must_use = "futures do nothing unless awaited"]
pub struct AssertClean<'a> {
    inner: Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
}

impl Future for AssertClean<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for AssertClean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertClean").finish_non_exhaustive()
    }
}
