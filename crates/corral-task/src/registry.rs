//! The live-task registry: [`snapshot`], [`live_count`], [`current`], and what a
//! snapshot holds ([`Snapshot`], [`TaskInfo`], [`TaskId`]).
//!
//! This file is the registry's face for the rest of the crate: the engine (the sharded
//! slab, `registry/engine.rs`) is private to it, and the few engine types the spawn
//! path and the per-thread context handle are re-exported here.

mod engine;

pub(crate) use engine::{Key, Lineage, Origin};

use std::fmt;
use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::census::Census;
use crate::context;
use crate::creators::Creator;
use engine::Registry;

/// The process-wide registry, sized once from the machine's parallelism.
#[inline]
pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        // Rounded up to a power of two. A few shards per core keeps threads that share one (more threads than
        // shards) rarely contending, while a snapshot still takes few locks.
        Registry::new((cpus * 4).clamp(8, 256))
    })
}

/// Identifies a tracked task for its whole life; never reused within a process.
///
/// It is corral's own id, distinct from `tokio::task::Id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub(crate) NonZeroU64);

impl TaskId {
    /// The id as a number (never zero).
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One live tracked task, as a [`Snapshot`] saw it.
///
/// `Display` renders one line: id, name, spawn site and age.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    id: TaskId,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
    parent: Option<TaskId>,
    creator: Option<Arc<Creator>>,
    runtime: tokio::runtime::Id,
    spawned_at: Instant,
    taken_at: Instant,
    tree: u32,
}

impl TaskInfo {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The name given with [`Builder::name`](crate::Builder::name), if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned (the caller of `spawn`, through `#[track_caller]`).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The tracked task that was being polled when this one was spawned, if any.
    ///
    /// The parent may have finished since; it is then absent from the snapshot, and
    /// [`creator`](Self::creator) still names it.
    pub fn parent(&self) -> Option<TaskId> {
        self.parent
    }

    /// The tracked task that spawned this one (its [`parent`](Self::parent)), as
    /// recorded at the spawn: name, spawn site and its own creator, up the chain. It
    /// is kept with the task, so it outlives the parent and every ancestor, finished
    /// or aborted (goleak's "created by").
    ///
    /// `None` for a task spawned outside any tracked task. Also `None` in one
    /// documented case: the process keeps at most 16,384 distinct creator records (a
    /// record per spawn path, `(site, name, creator)`, not per task), and once full,
    /// tasks whose creator has no record yet get none; [`parent`](Self::parent)
    /// still holds the id.
    pub fn creator(&self) -> Option<&Creator> {
        self.creator.as_deref()
    }

    /// The runtime the task was spawned on.
    ///
    /// One caveat: code inside a task that enters another runtime and calls
    /// [`spawn`](crate::spawn) there is recorded under the runtime of the first
    /// spawn that task made. Entering covers `Handle::enter` and also running
    /// another runtime's `block_on` inside `spawn_blocking` or `block_in_place` (a
    /// sync wrapper with its own runtime). [`Builder::spawn_on`](crate::Builder::spawn_on)
    /// records such spawns exactly.
    pub fn runtime(&self) -> tokio::runtime::Id {
        self.runtime
    }

    /// When the task was spawned.
    ///
    /// On Linux this comes from the kernel's coarse monotonic clock: it may be early by
    /// up to one kernel tick (1-10 ms), never late (see the crate docs, "Spawn times").
    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

    /// How long the task had been alive when the snapshot was taken (never less than
    /// the true age; more by under one kernel tick on Linux, see
    /// [`spawned_at`](Self::spawned_at)).
    pub fn age(&self) -> Duration {
        self.taken_at.saturating_duration_since(self.spawned_at)
    }

    /// The tree mark the task inherited (used by corral-leak to tell apart tests that
    /// share a runtime; 0 when unmarked).
    #[doc(hidden)]
    pub fn tree_mark(&self) -> u32 {
        self.tree
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " \"{name}\"")?;
        }
        write!(
            f,
            " spawned at {}, alive for {}",
            self.location,
            crate::census::Age(self.age())
        )
    }
}

/// The live tracked tasks at one moment, from [`snapshot`].
///
/// Shards are read one after another, so a task spawned or finished while the snapshot
/// is taken may or may not be in it; every task in it was alive at some point during
/// the call, and every task alive throughout the call is in it. Runtimes started
/// during the call are no exception: each task in a snapshot carries its own
/// runtime's id.
#[derive(Debug, Clone)]
pub struct Snapshot {
    tasks: Vec<TaskInfo>,
    taken_at: Instant,
}

impl Snapshot {
    /// How many tasks the snapshot holds.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no tracked task was alive.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The tasks, in no particular order.
    pub fn iter(&self) -> std::slice::Iter<'_, TaskInfo> {
        self.tasks.iter()
    }

    /// When the snapshot was taken (ages are measured to this instant).
    pub fn taken_at(&self) -> Instant {
        self.taken_at
    }

    /// Keeps only the tasks for which `keep` returns true (say, one runtime's).
    pub fn retain(&mut self, keep: impl FnMut(&TaskInfo) -> bool) {
        self.tasks.retain(keep);
    }

    /// Keeps only the tasks spawned on the current runtime: what a test running
    /// beside others on their own runtimes (`#[tokio::test]` makes one per test)
    /// wants to look at.
    ///
    /// # Panics
    ///
    /// Panics outside a tokio runtime, as `Handle::current` does.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mine = corral_task::spawn(std::future::pending::<()>());
    /// let snap = corral_task::snapshot().for_current_runtime();
    /// let here = tokio::runtime::Handle::current().id();
    /// assert!(snap.iter().all(|t| t.runtime() == here));
    /// assert_eq!(snap.len(), 1);
    /// mine.abort();
    /// # }
    /// ```
    #[track_caller]
    pub fn for_current_runtime(mut self) -> Self {
        let here = tokio::runtime::Handle::current().id();
        self.tasks.retain(|t| t.runtime == here);
        self
    }

    /// Keeps only the current task tree: the tasks descended from the tracked task
    /// calling this (through parents still in the snapshot), and, inside a leak
    /// guard's tree (a `corral_leak::LeakGuard` or `#[corral::test]` marks the tasks
    /// its test spawns), every task carrying that guard's mark, however its parents
    /// ended. The calling task itself is not kept. Outside both (no tracked task and
    /// no guard), there is no tree and nothing is kept.
    ///
    /// A nested guard's tree has a mark of its own: its tasks are kept only when they
    /// descend from the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let unrelated = corral_task::spawn(std::future::pending::<()>());
    /// let mine = corral_task::spawn(async {
    ///     let child = corral_task::spawn(std::future::pending::<()>());
    ///     let tree = corral_task::snapshot().in_current_tree();
    ///     assert_eq!(tree.len(), 1);
    ///     assert_eq!(tree.iter().next().unwrap().id(), corral_task::snapshot()
    ///         .iter().find(|t| t.parent() == corral_task::current()).unwrap().id());
    ///     child.abort();
    /// });
    /// mine.await.unwrap();
    /// unrelated.abort();
    /// # }
    /// ```
    pub fn in_current_tree(mut self) -> Self {
        let mark = context::tree();
        let me = current();
        let parents: std::collections::HashMap<TaskId, TaskId> = self
            .tasks
            .iter()
            .filter_map(|t| t.parent.map(|p| (t.id, p)))
            .collect();
        let descends = |mut id: TaskId| {
            let Some(me) = me else { return false };
            // Ids are never reused, so the chain has no cycle; the bound is a guard.
            for _ in 0..=parents.len() {
                match parents.get(&id) {
                    Some(&p) if p == me => return true,
                    Some(&p) => id = p,
                    None => return false,
                }
            }
            false
        };
        self.tasks
            .retain(|t| Some(t.id) != me && ((mark != 0 && t.tree == mark) || descends(t.id)));
        self
    }

    /// The task with id `id`, if it was alive.
    ///
    /// A linear search of the snapshot: to look up many tasks, collect
    /// [`iter`](Self::iter) into a map by [`TaskInfo::id`] once.
    pub fn get(&self, id: TaskId) -> Option<&TaskInfo> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// Groups the tasks by spawn site, with the count and oldest age of each: the
    /// production view of which call site is piling up tasks.
    pub fn census(&self) -> Census {
        Census::from_tasks(&self.tasks)
    }
}

impl<'a> IntoIterator for &'a Snapshot {
    type Item = &'a TaskInfo;
    type IntoIter = std::slice::Iter<'a, TaskInfo>;

    fn into_iter(self) -> Self::IntoIter {
        self.tasks.iter()
    }
}

impl IntoIterator for Snapshot {
    type Item = TaskInfo;
    type IntoIter = std::vec::IntoIter<TaskInfo>;

    fn into_iter(self) -> Self::IntoIter {
        self.tasks.into_iter()
    }
}

/// Lists every live tracked task, on every runtime.
///
/// Cost: the registry's shard locks, each held while at most 256 entries are copied
/// (a name is shared, not copied), so spawns on that shard wait at most that long;
/// about 2.5 ms per 100k live tasks
/// (`benches/corral_task.rs`, group `snapshot`).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
/// let worker = corral_task::Builder::new().name("worker").spawn(async move {
///     let _ = rx.await;
/// });
/// let snap = corral_task::snapshot();
/// assert!(snap.iter().any(|t| t.name() == Some("worker")));
/// print!("{}", snap.census());
/// drop(tx);
/// worker.await.unwrap();
/// # }
/// ```
pub fn snapshot() -> Snapshot {
    snapshot_of(registry())
}

/// What [`snapshot`] does, on any registry (the loom model runs it on its own).
///
/// The runtime table is read after the scan, never before: an entry's runtime is
/// interned before the entry is inserted, so once the scan has seen an entry (under
/// its shard's lock), a later read of the table (under its lock) holds that runtime.
/// A table read before the scan missed any runtime first seen during it, and indexing
/// it with such an entry's runtime panicked (issue #17). The indices are kept aside
/// during the scan and turned into ids after it.
fn snapshot_of(reg: &Registry) -> Snapshot {
    let capacity = reg.len();
    let mut tasks = Vec::with_capacity(capacity);
    let mut runtimes = Vec::with_capacity(capacity);
    let taken_at = Instant::now();
    reg.for_each(|id, e, name, creator| {
        tasks.push(Pending {
            id: TaskId(id),
            name: name.cloned(),
            location: e.location,
            parent: e.parent.map(TaskId),
            creator,
            spawned_at: reg.instant(e.spawned_at),
            tree: e.tree,
        });
        runtimes.push(e.runtime);
    });
    // Both tables are read after the scan, for the same reason.
    let ids = reg.runtimes().ids();
    let mut creators = reg.creators().resolver();
    let tasks = tasks
        .into_iter()
        .zip(runtimes)
        .map(|(p, runtime)| TaskInfo {
            id: p.id,
            name: p.name,
            location: p.location,
            parent: p.parent,
            creator: creators.get(p.creator),
            // In the table read after the scan: see above.
            runtime: ids[runtime as usize],
            spawned_at: p.spawned_at,
            taken_at,
            tree: p.tree,
        })
        .collect();
    Snapshot { tasks, taken_at }
}

/// A task seen by the scan, before its runtime index is resolved.
struct Pending {
    id: TaskId,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
    parent: Option<TaskId>,
    creator: u32,
    spawned_at: Instant,
    tree: u32,
}

/// How many tracked tasks are alive, on every runtime; cheaper than a [`snapshot`]
/// (one pass over the slots' tags, nothing copied: ~0.15 ms per 100k live tasks).
pub fn live_count() -> usize {
    registry().len()
}

/// The id of the tracked task being polled on this thread, if any.
///
/// `None` outside a tracked task, including inside a plain `tokio::spawn` task and
/// in the future given to `block_on`. Also `None` in a tracked task's destructors
/// (its future's or its output's `Drop`), where tokio's `task::id()` still answers:
/// corral marks a task only while it is polled, which costs a poll one swapped word
/// and a task's end nothing. So a task spawned from a destructor records no parent,
/// and takes the tree mark of the thread, not the task's (the mark a leak guard uses
/// to tell tests sharing one runtime apart).
pub fn current() -> Option<TaskId> {
    context::current_task().map(|t| TaskId(t.id))
}

/// Sets the tree mark that tasks spawned from the current context inherit, returning
/// the previous mark. Inside a tracked task the mark sticks to that task for the rest
/// of its life; outside one it stays on the thread until replaced.
///
/// This is how a leak guard tells its own task tree apart from other tests' on a
/// shared runtime; it is not meant for other uses.
#[doc(hidden)]
pub fn __set_tree_mark(mark: u32) -> u32 {
    context::set_tree(mark)
}

/// The tree mark of the current context (0 when unmarked).
#[doc(hidden)]
pub fn __tree_mark() -> u32 {
    context::tree()
}

#[cfg(all(test, corral_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc as LArc;
    use loom::thread;

    /// A snapshot races the first spawn on a runtime the registry has never seen: the
    /// spawner interns the runtime and inserts its entry (on the shard scanned last),
    /// then ends the task, while the main thread takes a snapshot with the shipped
    /// code. Whatever the interleaving, the snapshot does not panic, and every task in
    /// it carries its own runtime's id. (With the table read before the scan, the
    /// interleaving "table read, intern, insert, scan" indexed past its end.)
    #[test]
    fn a_snapshot_races_the_first_spawn_on_a_new_runtime() {
        let ids: Vec<_> = (0..2)
            .map(|_| {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
                    .handle()
                    .id()
            })
            .collect();
        let (old_rt, new_rt) = (ids[0], ids[1]);
        loom::model(move || {
            let reg = LArc::new(Registry::new(2));
            let old = reg.runtimes().intern(old_rt);
            reg.insert(
                1,
                Location::caller(),
                old,
                None,
                &Origin::Thread { tree: 1 },
            );
            let r = reg.clone();
            let spawner = thread::spawn(move || {
                let new = r.runtimes().intern(new_rt);
                let (key, _) = r.insert(
                    1,
                    Location::caller(),
                    new,
                    None,
                    &Origin::Thread { tree: 2 },
                );
                r.retire(key);
            });
            let snap = snapshot_of(&reg);
            for t in snap.iter() {
                match t.tree_mark() {
                    1 => assert_eq!(t.runtime(), old_rt),
                    2 => assert_eq!(t.runtime(), new_rt),
                    other => panic!("unexpected entry {other}"),
                }
            }
            assert!(snap.iter().any(|t| t.tree_mark() == 1), "alive throughout");
            spawner.join().unwrap();
        });
    }
}
