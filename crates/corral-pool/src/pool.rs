//! [`Pool`]: a fixed set of worker tasks fed by a bounded queue.

//!
//! This file is the engine's face: the rest of the crate reaches the engine (the state
//! machine in `state.rs`, the core in `shared.rs`, the worker loop in `worker.rs`) only
//! through `Pool` and the futures of `submit.rs`, which talk to the core through its
//! methods. Nothing here is visible outside this folder but what `lib.rs` re-exports.

#[cfg_attr(not(feature = "metrics"), allow(unused_imports))]
mod export;
mod shared;
mod state;
mod submit;
mod worker;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
// std: the core lives in a std `Arc` (see `shared.rs`).
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::builder::{Builder, Config, Workers};
use crate::error::{ResizeError, TrySubmitError};
use crate::handle::JobHandle;
use crate::metrics::Metrics;
use shared::Shared;
pub use submit::{Drain, Submit, SubmitUntil};

/// A boxed job, for pools that run futures of different types:
/// `Pool<BoxJob<T>>` takes `Box::pin(async { .. })`.
pub type BoxJob<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A bounded async worker pool: `workers` jobs run at once, at most `queue_capacity`
/// more wait, and a submitter is told (in the type system) when both are full.
///
/// The pool is typed by its job future `F`, so every refusal hands back the very job
/// that was refused, and [`Pool::shutdown_now`] hands back the queued futures
/// themselves. For jobs of different types use [`BoxJob`].
///
/// Jobs run inline in the pool's worker tasks (tracked tasks named
/// `<name>-worker-<n>`, visible to the census and the leak guard); a job costs one
/// small allocation (its result slot) and no task of its own.
///
/// Share a pool between tasks with an `Arc<Pool<F>>`, or use [`Pool::submit_owned`]
/// for a submit future that borrows nothing.
///
/// Workers are async tasks: a job that blocks its thread blocks a runtime thread (use
/// `corral-blocking` for that). A worker runs at most 128 ready jobs back to back
/// before it yields to the runtime.
///
/// # Dropping
///
/// Dropping the pool stops it like [`Pool::shutdown_now`], except that queued jobs are
/// dropped (their handles resolve to [`JobError::Cancelled`](crate::JobError::Cancelled))
/// instead of returned. No worker outlives it. For a graceful stop, call
/// [`Pool::drain`] first.
///
/// If the pool's runtime shuts down first, its workers go with it: running and queued
/// jobs are cancelled and the pool closes (later submits get their job back as
/// `Closed`).
///
/// # Memory ordering
///
/// All pool state sits under one mutex; a job's outcome is published through its result
/// slot's mutex, after the job was counted under the pool's mutex. So everything the
/// job did happens-before its handle resolves, and the job is in [`Pool::metrics`] by
/// then. A worker stays counted as alive until after it resolved its last handle, so a
/// [`Pool::drain`] that returns `Ok` happens-after every handle's resolution.
#[must_use = "dropping the pool cancels its queued and running jobs"]
pub struct Pool<F: Future> {
    shared: Arc<Shared<F>>,
}

impl Pool<BoxJob<()>> {
    /// A [`Builder`]; the job type is chosen by `build::<F>()` or inferred from use.
    pub fn builder() -> Builder {
        Builder::new()
    }
}

impl<F> Pool<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    pub(crate) fn start(config: Config, handle: Handle) -> Self {
        let workers = config.workers.get();
        let shared = Shared::new(config, handle);
        shared.register_flush();
        worker::spawn_workers(&shared, workers);
        Pool { shared }
    }

    /// A pool whose workers the caller runs: the loom models drive the shipped worker
    /// loop (the futures returned, one per worker) on loom threads.
    #[cfg(all(test, corral_loom))]
    pub(crate) fn start_unspawned(
        config: Config,
        handle: Handle,
    ) -> (Self, Vec<impl Future<Output = ()> + Send>) {
        let workers = config.workers.get();
        let shared = Shared::new(config, handle);
        let runs = worker::unspawned_workers(&shared, workers);
        (Pool { shared }, runs)
    }

    /// Submits `job`, waiting for room (a free worker or queue slot) if the pool is
    /// full. Blocked submitters are served in FIFO order, and [`Pool::try_submit`] never
    /// jumps ahead of them: a blocked job enters the queue the moment room is granted to
    /// it, in the order its submitter began waiting, whatever order the runtime polls
    /// the submitters in. While workers run ready jobs back to back, blocked
    /// submitters are woken in batches, once more than `min(queue_capacity / 2, 128)`
    /// slots are free (at least one), which saves a wake-up per job; as soon as a job
    /// waits, a worker parks or leaves, or a queued job is aborted, every free slot goes
    /// to the submitters in line, so none waits next to room for longer than a few
    /// ready jobs take.
    ///
    /// Resolves to the job's [`JobHandle`], or to [`SubmitError::Closed`] with the job
    /// handed back if the pool is closed before the job is accepted.
    ///
    /// # Deadlocks
    ///
    /// A job of this pool that submits to this same pool waits for room its own
    /// worker may be the only one to free: with every worker running such a job and
    /// the queue full, they wait for each other forever. Likewise a job that awaits the
    /// handle of a job queued behind it, on a pool whose workers are all busy doing the
    /// same, waits for a worker that never comes (only [`Pool::shutdown_now`] or
    /// dropping the pool ends it). From inside a job use [`Pool::try_submit`] (and run
    /// the work inline when it says `Full`) or [`Pool::submit_timeout`], and do not
    /// await jobs of the same pool; [`Pool::is_current_worker`] tells a job that it
    /// runs in this pool.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits drops `job` unsubmitted and gives up its
    /// place in line. If room was granted meanwhile, the job was accepted then (it
    /// entered the queue in line order and counts as submitted): dropping the future
    /// aborts it as [`JobHandle::abort`] does, so it leaves the queue at once, unrun,
    /// counted as cancelled, and its room passes on.
    ///
    /// [`SubmitError::Closed`]: crate::SubmitError::Closed
    pub fn submit(&self, job: F) -> Submit<'_, F> {
        Submit::new(&self.shared, job)
    }

    /// Whether the caller is running inside one of this pool's jobs (polled or dropped
    /// by one of its workers): a thread-local read, for code that must not wait on its
    /// own pool (see `# Deadlocks` on [`Pool::submit`]).
    pub fn is_current_worker(&self) -> bool {
        worker::is_current(self.shared.id())
    }

    /// [`Pool::submit`] returning a future that does not borrow the pool (it shares the
    /// pool's core), for code that must store it: a tower-style service future, a
    /// struct field, a `'static` task. If the pool is dropped or stopped while it
    /// waits, it resolves to `Closed` with the job (a job granted room before that was
    /// accepted: its handle resolves as the stop decides, `HandedBack` or `Cancelled`).
    ///
    /// # Cancel safety
    ///
    /// As for [`Pool::submit`].
    pub fn submit_owned(&self, job: F) -> Submit<'static, F> {
        Submit::owned(Arc::clone(&self.shared), job)
    }

    /// Like [`Pool::submit`], but gives up waiting for room at `deadline` and hands the
    /// job back as [`SubmitTimeoutError::Timeout`]. The deadline bounds only the
    /// enqueue; the job's own run time is its own business.
    ///
    /// # Panics
    ///
    /// When it has to wait, if the pool's runtime was built without the time driver.
    ///
    /// # Cancel safety
    ///
    /// As for [`Pool::submit`].
    ///
    /// [`SubmitTimeoutError::Timeout`]: crate::SubmitTimeoutError::Timeout
    pub fn submit_until(&self, job: F, deadline: Instant) -> SubmitUntil<'_, F> {
        SubmitUntil::new(&self.shared, job, deadline)
    }

    /// [`Pool::submit_until`] with a deadline `timeout` from now.
    ///
    /// # Panics
    ///
    /// As for [`Pool::submit_until`].
    ///
    /// # Cancel safety
    ///
    /// As for [`Pool::submit`].
    pub fn submit_timeout(&self, job: F, timeout: Duration) -> SubmitUntil<'_, F> {
        self.submit_until(job, Instant::now() + timeout)
    }

    /// Submits `job` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError::Full`] (also when blocked submitters are waiting ahead) or
    /// [`TrySubmitError::Closed`], each with the job handed back unpolled.
    ///
    /// # Cancel safety
    ///
    /// Not async itself; the [`JobHandle`] it returns is cancel safe (dropping it
    /// leaves the job running).
    pub fn try_submit(&self, job: F) -> Result<JobHandle<F::Output>, TrySubmitError<F>> {
        self.shared.try_submit(job)
    }

    /// Sets the number of workers. Growing spawns workers at once, and the room they
    /// add is granted to blocked submitters at once (before the new workers first
    /// run). Shrinking is lazy: idle workers leave now, busy ones after their current
    /// job; from the moment this returns, jobs are admitted as for `workers` workers
    /// (a surplus idle worker is no room), so once the busy surplus has finished, no
    /// more than `workers` jobs run at once. A surplus worker whose room was already
    /// promised before the shrink (a job accepted for it in hand-off mode, or granted
    /// to a blocked submitter) stays for that job first, unless the job is aborted.
    ///
    /// # Errors
    ///
    /// [`ResizeError::ZeroWorkers`], [`ResizeError::TooManyWorkers`] (the bounds
    /// `build()` checks), or [`ResizeError::Closed`] once the pool is closed.
    pub fn resize(&self, workers: usize) -> Result<(), ResizeError> {
        self.shared.resize(Workers::resize(workers)?)
    }

    /// Stops intake: later submits fail with `Closed` (job handed back) and blocked
    /// submitters are woken to get their job back. Accepted jobs still run; workers
    /// leave once the queue is empty. Idempotent.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Whether intake is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Closes the pool (see [`Pool::close`]) and waits until every accepted job has ended
    /// and its handle is resolved, and every worker has left, or until `deadline`.
    ///
    /// Called from one of this pool's own jobs, it waits for that job too, so it can
    /// only end at its deadline (see `# Deadlocks` on [`Pool::submit`]); a job that
    /// wants its pool stopped calls [`Pool::close`] and returns.
    ///
    /// # Errors
    ///
    /// [`DrainError`](crate::DrainError) at the deadline, with what is still queued and
    /// running. The pool stays closed; follow with [`Pool::shutdown_now`] to stop the
    /// rest.
    ///
    /// # Panics
    ///
    /// When it has to wait, if the pool's runtime was built without the time driver.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future stops only the waiting.
    pub fn drain(&self, deadline: Instant) -> Drain<'_, F> {
        self.close();
        Drain::new(&self.shared, deadline)
    }

    /// Stops now: closes intake, takes every queued job out unstarted and returns the
    /// futures in queue order (their handles resolve to [`JobError::HandedBack`] before
    /// this returns), and cancels running jobs (their handles resolve to
    /// [`JobError::Cancelled`]) by aborting the workers. A job aborted through its
    /// handle has already left the queue, so it is never handed back.
    ///
    /// Running jobs are dropped when their workers are next scheduled, so they may still
    /// be settling when this returns; [`Pool::drain`] waits for that.
    ///
    /// [`JobError::HandedBack`]: crate::JobError::HandedBack
    /// [`JobError::Cancelled`]: crate::JobError::Cancelled
    #[must_use = "the queued jobs are handed back; dropping them drops them unrun"]
    pub fn shutdown_now(&self) -> Vec<F> {
        self.shared.stop(true)
    }

    /// A consistent snapshot of the pool's bounds and counters.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        self.shared.name()
    }

    /// The configured number of workers.
    pub fn workers(&self) -> usize {
        self.shared.target()
    }
}

impl<F: Future> Drop for Pool<F> {
    fn drop(&mut self) {
        drop(self.shared.stop(false));
    }
}

impl<F: Future> fmt::Debug for Pool<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.name())
            .finish_non_exhaustive()
    }
}
