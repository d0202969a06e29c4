//! Threads that outlive their pool: the view the leak guard reads.
//!
//! Every pool owns a [`PoolRecord`] listing its live threads by name. When a pool is
//! shut down (explicitly or by dropping its last handle) while threads are still alive,
//! its record is added to a process-wide list; [`stray_threads`] reads that list. A
//! record leaves the list once its last thread has exited.
//!
//! This registry stays on `std::sync::Mutex` rather than `corral_shared::sync`: it is
//! process-global (loom cannot host a `static`) and no model exercises it. A poisoned
//! lock is recovered (`lock`): no invariant is held across user code under it.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering it if a panicking thread poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process-wide list of pools that went away with threads still alive.
static RETIRED: Mutex<Vec<Weak<PoolRecord>>> = Mutex::new(Vec::new());

/// A thread of a dropped or shut-down corral pool that is still alive.
///
/// Such a thread is finishing a job that was already running when its pool went away
/// (a blocking call cannot be interrupted from outside); it exits as soon as that job
/// returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StrayThread {
    /// The pool's name (see [`Builder::name`](crate::Builder::name)).
    pub pool: String,
    /// The thread's name, `"<pool>-<n>"`.
    pub thread: String,
    /// How long ago the pool was shut down or dropped.
    pub since_shutdown: Duration,
}

/// Lists the threads of dropped or shut-down corral pools that are still alive.
///
/// An empty list means every pool that went away has also stopped all of its threads.
/// The leak guard calls this to fail tests that leave blocking work running.
///
/// # Examples
///
/// ```
/// let pool = corral_blocking::BlockingPool::builder().name("fs").build().unwrap();
/// drop(pool);
/// // An idle pool's threads exit at once; none of them is reported as a stray for long.
/// for stray in corral_blocking::stray_threads() {
///     println!("{} ({}) still running {:?} after shutdown", stray.thread, stray.pool, stray.since_shutdown);
/// }
/// ```
pub fn stray_threads() -> Vec<StrayThread> {
    let now = Instant::now();
    let mut retired = lock(&RETIRED);
    retired.retain(|record| record.strong_count() > 0);
    let mut strays = Vec::new();
    for record in retired.iter().filter_map(Weak::upgrade) {
        let state = lock(&record.state);
        let Some(shut_down_at) = state.shut_down_at else {
            continue;
        };
        strays.extend(state.threads.iter().map(|thread| StrayThread {
            pool: record.pool.clone(),
            thread: thread.clone(),
            since_shutdown: now.saturating_duration_since(shut_down_at),
        }));
    }
    strays
}

/// One pool's live threads, by name.
#[derive(Debug)]
pub(crate) struct PoolRecord {
    pool: String,
    state: Mutex<RecordState>,
}

#[derive(Debug, Default)]
struct RecordState {
    threads: Vec<String>,
    shut_down_at: Option<Instant>,
}

impl PoolRecord {
    pub(crate) fn new(pool: String) -> Arc<Self> {
        Arc::new(PoolRecord {
            pool,
            state: Mutex::new(RecordState::default()),
        })
    }

    /// A thread named `thread` has started.
    pub(crate) fn thread_started(&self, thread: String) {
        lock(&self.state).threads.push(thread);
    }

    /// The thread named `thread` has exited.
    pub(crate) fn thread_exited(&self, thread: &str) {
        let mut state = lock(&self.state);
        if let Some(at) = state.threads.iter().position(|t| t == thread) {
            state.threads.swap_remove(at);
        }
    }

    /// Called first thing on a new pool thread: removes it from this record only when
    /// the OS thread tears down, after the thread-local destructors its jobs
    /// registered have run (user code: flushing a buffered writer, closing a
    /// connection). Thread-local destructors run in reverse order of registration
    /// (glibc's `__cxa_thread_atexit_impl`, macOS `_tlv_atexit`, and std's fallback
    /// list alike), and this one is registered before any job runs, so it runs last.
    ///
    /// Under loom, threads have no OS teardown: the worker reports its exit itself.
    #[cfg(not(corral_loom))]
    pub(crate) fn exit_at_thread_teardown(self: Arc<Self>, thread: String) {
        struct ExitAtTeardown(Option<(Arc<PoolRecord>, String)>);
        impl Drop for ExitAtTeardown {
            fn drop(&mut self) {
                if let Some((record, thread)) = self.0.take() {
                    record.thread_exited(&thread);
                }
            }
        }
        thread_local! {
            static EXIT: std::cell::RefCell<ExitAtTeardown> =
                const { std::cell::RefCell::new(ExitAtTeardown(None)) };
        }
        EXIT.with(|exit| exit.borrow_mut().0 = Some((self, thread)));
    }

    /// The pool went away: from now on its live threads are strays.
    pub(crate) fn retire(self: &Arc<Self>) {
        let mut state = lock(&self.state);
        if state.shut_down_at.is_some() {
            return;
        }
        state.shut_down_at = Some(Instant::now());
        let has_threads = !state.threads.is_empty();
        drop(state);
        if has_threads {
            let mut retired = lock(&RETIRED);
            retired.retain(|record| record.strong_count() > 0);
            retired.push(Arc::downgrade(self));
        }
    }
}
