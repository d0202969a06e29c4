//! [`Report`]: what a leak check found.

use std::fmt;
use std::time::Duration;

use corral_blocking::StrayThread;
use corral_task::{Creator, TaskId, TaskInfo};

/// The result of [`LeakGuard::check`](crate::LeakGuard::check): the tracked tasks, the
/// untracked tasks and the stray blocking threads that were still alive when the grace
/// period ran out (or none, if everything finished in time).
///
/// `Display` renders the message [`LeakGuard::assert_clean`](crate::LeakGuard::assert_clean)
/// panics with: each leaked task with its name, spawn file and line, age and parent
/// chain.
#[derive(Debug, Clone)]
pub struct Report {
    pub(crate) leaked: Vec<Leak>,
    pub(crate) ignored: usize,
    pub(crate) untracked: usize,
    pub(crate) untracked_checked: bool,
    /// The runtime the guard checked.
    pub(crate) runtime: tokio::runtime::Id,
    pub(crate) strays: Vec<StrayThread>,
    pub(crate) shared_runtime: bool,
    /// Whether the tracked tasks were narrowed to the guard's own tree (only when the
    /// runtime is shared and the guard has a tree).
    pub(crate) tree_checked: bool,
    pub(crate) attempts: u32,
    pub(crate) waited: Duration,
}

impl Report {
    /// Whether nothing leaked: no tracked task, no untracked task, no stray thread.
    pub fn is_clean(&self) -> bool {
        self.leaked.is_empty() && self.untracked == 0 && self.strays.is_empty()
    }

    /// The leaked tracked tasks, oldest spawn first.
    pub fn leaked(&self) -> &[Leak] {
        &self.leaked
    }

    /// How many tasks plain `tokio::spawn` (or `Handle::spawn`) started and left alive
    /// on the guard's runtime; they have no name or spawn site.
    ///
    /// Always 0 when the count could not be attributed (see [`Report::untracked_checked`]).
    pub fn untracked(&self) -> usize {
        self.untracked
    }

    /// The runtime the guard checked (its tracked tasks and its untracked count).
    pub fn runtime(&self) -> tokio::runtime::Id {
        self.runtime
    }

    /// Whether untracked tasks were counted: not when disabled, and not when another
    /// guard shares the runtime (the runtime-wide count cannot be split between tests).
    pub fn untracked_checked(&self) -> bool {
        self.untracked_checked
    }

    /// Threads of dropped or shut-down corral blocking pools still running a job.
    ///
    /// This list is process-wide: on a test binary running tests in parallel, a stray
    /// may come from another test.
    pub fn stray_threads(&self) -> &[StrayThread] {
        &self.strays
    }

    /// How many live tasks matched an ignore rule.
    pub fn ignored(&self) -> usize {
        self.ignored
    }

    /// How many times the registry was scanned before this report.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How long the check waited for tasks to finish (runtime clock: virtual when time
    /// is paused).
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

/// One leaked tracked task and its ancestry.
#[derive(Debug, Clone)]
pub struct Leak {
    pub(crate) task: TaskInfo,
    pub(crate) ancestors: Vec<TaskInfo>,
    pub(crate) finished_ancestor: Option<TaskId>,
    pub(crate) finished_chain: Option<Creator>,
}

impl Leak {
    /// The task: id, name, spawn location, parent, runtime and age.
    pub fn task(&self) -> &TaskInfo {
        &self.task
    }

    /// Its live ancestors, parent first.
    pub fn ancestors(&self) -> &[TaskInfo] {
        &self.ancestors
    }

    /// The first ancestor that had already finished (where the live chain stops), if
    /// the chain stops at a finished task rather than at an untracked spawner.
    pub fn finished_ancestor(&self) -> Option<TaskId> {
        self.finished_ancestor
    }

    /// That finished ancestor's name and spawn site, and its own creators up the
    /// chain, as recorded when its children were spawned
    /// ([`TaskInfo::creator`]); `None` when no ancestor has finished (or, past
    /// corral-task's record limit, when none was recorded).
    pub fn finished_chain(&self) -> Option<&Creator> {
        self.finished_chain.as_ref()
    }
}

/// How many ancestors a report lists at most, per leaked task.
pub(crate) const MAX_CHAIN: usize = 32;

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.task)?;
        for parent in &self.ancestors {
            write!(f, "\n      spawned by {parent}")?;
        }
        if let Some(id) = self.finished_ancestor {
            match &self.finished_chain {
                Some(c) => write!(f, "\n      spawned by task {id} {c} (finished or aborted)")?,
                None => write!(f, "\n      spawned by task {id} (finished or aborted)")?,
            }
            let mut next = self.finished_chain.as_ref().and_then(Creator::creator);
            let mut shown = self.ancestors.len() + 1;
            while let Some(c) = next {
                if shown >= MAX_CHAIN {
                    write!(f, "\n      ...")?;
                    break;
                }
                write!(f, "\n      spawned by {c}")?;
                shown += 1;
                next = c.creator();
            }
        }
        Ok(())
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let checks = format!(
            "{} over {:.0?}",
            plural(self.attempts as usize, "check", "checks"),
            self.waited
        );
        if self.is_clean() {
            return write!(f, "no leaked tasks ({checks})");
        }
        let mut parts = Vec::new();
        if !self.leaked.is_empty() {
            parts.push(plural(self.leaked.len(), "leaked task", "leaked tasks"));
        }
        if self.untracked > 0 {
            parts.push(plural(self.untracked, "untracked task", "untracked tasks"));
        }
        if !self.strays.is_empty() {
            parts.push(plural(
                self.strays.len(),
                "stray blocking thread",
                "stray blocking threads",
            ));
        }
        writeln!(
            f,
            "leak check failed: {} still alive after {checks}",
            parts.join(", ")
        )?;
        for leak in &self.leaked {
            writeln!(f, "  {leak}")?;
        }
        if self.untracked > 0 {
            writeln!(
                f,
                "  {} on runtime {} (started with plain tokio::spawn or Handle::spawn, so nothing records its name or spawn site; started with corral::spawn or corral::task::Builder, it would be named here with its site and parent. To find them, ban tokio::spawn with clippy's disallowed-methods: the recipe is in the corral crate docs, \"Adopting corral across a codebase\")",
                plural(self.untracked, "untracked task", "untracked tasks"),
                self.runtime
            )?;
        }
        for stray in &self.strays {
            writeln!(
                f,
                "  blocking thread \"{}\" of pool \"{}\" still running {:?} after its pool shut down (process-wide: it may belong to a test running in parallel)",
                stray.thread, stray.pool, stray.since_shutdown
            )?;
        }
        if self.shared_runtime && self.tree_checked {
            writeln!(
                f,
                "  (another guard shares this runtime: only this guard's task tree was checked, untracked tasks were not counted)"
            )?;
        } else if self.shared_runtime {
            writeln!(
                f,
                "  (another guard shares this runtime, and this guard was made in a plain tokio task, so it has no task tree of its own: every tracked task of the runtime was checked, other tests' included, and untracked tasks were not counted; make the guard in a corral task or outside any task to narrow it)"
            )?;
        }
        if self.ignored > 0 {
            writeln!(
                f,
                "  ({} matched an ignore rule)",
                plural(self.ignored, "live task", "live tasks")
            )?;
        }
        Ok(())
    }
}
