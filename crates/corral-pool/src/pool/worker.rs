//! The loop each worker task runs.
//!
//! A worker takes a job from the queue under the lock, releases the lock, and polls
//! the job's future inline in its own task (no task per job). The job's outcome goes
//! into its slot; the counters are updated at the worker's next visit to the lock, so
//! a job costs one lock round trip on the worker side.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
// std: the core lives in a std `Arc` (see `shared.rs`); a slot's count is std's too.
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::shared::Shared;
use super::state::{Next, Outcome, Queued, Wakeups, WorkerLocal};
use crate::error::JobError;
use crate::handle::{Resolved, Slot};

/// Jobs a worker runs back to back before it yields to its runtime.
const BUDGET: u32 = 128;

thread_local! {
    /// The pool whose job this thread is polling now (0: none).
    static CURRENT_POOL: Cell<usize> = const { Cell::new(0) };
}

/// Whether this thread is inside a job of the pool `id` (polling or dropping it).
pub(crate) fn is_current(id: usize) -> bool {
    CURRENT_POOL.with(Cell::get) == id
}

/// Marks this thread as inside a job of a pool until dropped (restores what was there,
/// so it nests).
struct InPool(usize);

impl InPool {
    fn enter(id: usize) -> Self {
        InPool(CURRENT_POOL.with(|c| c.replace(id)))
    }
}

impl Drop for InPool {
    fn drop(&mut self) {
        CURRENT_POOL.with(|c| c.set(self.0));
    }
}

/// Spawns `n` workers as tracked tasks named `<pool>-worker-<id>`.
pub(crate) fn spawn_workers<F>(shared: &Arc<Shared<F>>, n: usize)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let _enter = shared.handle().enter();
    // Registered first, spawned outside the lock: a runtime that is shutting down drops
    // a spawned future inline, and the worker's guard then takes the lock. A worker may
    // visit the state before its abort handle is recorded; `set_abort_handle` covers a
    // stop in between.
    let workers = shared.with_state(|state, wake| state.add_workers(n, wake));
    for me in workers {
        let id = me.id;
        let join = corral_task::Builder::new()
            .name(format!("{}-worker-{id}", shared.name()))
            .spawn(run(Arc::clone(shared), me));
        let stopped = shared.lock().set_abort_handle(id, join.abort_handle());
        if let Some(handle) = stopped {
            handle.abort();
        }
    }
}

/// Registers `n` workers and returns their futures unspawned, for the loom models to
/// drive on loom threads (the same future `spawn_workers` spawns).
#[cfg(all(test, corral_loom))]
pub(super) fn unspawned_workers<F>(
    shared: &Arc<Shared<F>>,
    n: usize,
) -> Vec<impl Future<Output = ()> + Send>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let workers = shared.with_state(|state, wake| state.add_workers(n, wake));
    workers
        .into_iter()
        .map(|me| run(Arc::clone(shared), me))
        .collect()
}

/// A job that ended, waiting for its worker's next visit to the lock, where it is
/// counted; its handle is resolved right after that visit.
type Ended<T> = (Arc<Slot<T>>, JobResult<T>);

type JobResult<T> = Result<T, JobError>;

/// Splits an ended job into the slot the worker keeps (dropped after the lock is
/// released) and the report the state takes.
fn split<T>(ended: Option<Ended<T>>) -> (Option<Arc<Slot<T>>>, Option<JobResult<T>>) {
    match ended {
        Some((slot, result)) => (Some(slot), Some(result)),
        None => (None, None),
    }
}

/// Owns what a worker holds between visits, and settles it if the worker is dropped
/// without leaving through the loop (aborted, or its runtime shut down).
struct Guard<F: Future> {
    shared: Arc<Shared<F>>,
    me: WorkerLocal,
    /// The job being run.
    job: Option<Arc<Slot<F::Output>>>,
    /// The job that ended, not yet reported.
    done: Option<Ended<F::Output>>,
    exited: bool,
}

impl<F: Future> Drop for Guard<F> {
    fn drop(&mut self) {
        if self.exited {
            return;
        }
        let (slot, result) = split(self.done.take());
        let running = self.job.take();
        let mut wake = Wakeups::default();
        let orphans = self.shared.lock().worker_dropped(
            &mut self.me,
            slot.as_deref().zip(result),
            running.as_deref(),
            &mut wake,
        );
        // The queued jobs orphaned by a runtime shutdown and this worker's own slots
        // are dropped outside the lock and before anyone (a drain) is woken.
        drop((orphans, slot, running));
        self.shared.deliver(&mut wake);
    }
}

/// The worker's future. The guard is built before the `async` block so that a worker
/// dropped before its first poll (aborted at once) is settled too.
fn run<F>(shared: Arc<Shared<F>>, me: WorkerLocal) -> impl Future<Output = ()> + Send
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let guard = Guard {
        shared,
        me,
        job: None,
        done: None,
        exited: false,
    };
    work(guard)
}

async fn work<F>(mut guard: Guard<F>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut budget = BUDGET;
    let mut spin = true;
    let pool = guard.shared.id();
    loop {
        let next = poll_fn(|cx| {
            let mut wake = Wakeups::default();
            let g = &mut guard;
            let done = g.done.take();
            let finished = done.as_ref().map(|(_, result)| Outcome::of(result));
            let next =
                g.shared
                    .lock_for_worker()
                    .next(&mut g.me, finished, spin, cx.waker(), &mut wake);
            // Counted above; resolved here, outside the pool's lock (where the job's last
            // reference, and its output, may go too).
            if let Some((slot, result)) = done {
                match slot.complete(result) {
                    // The handle first, as soon as the lock is released, and without
                    // growing the wake-up list.
                    Resolved::Wake(waker) => waker.wake(),
                    other => wake.resolved(other),
                }
            }
            if finished.is_some() && matches!(next, Next::Exit) {
                g.shared.lock().resolved(&mut wake);
            }
            g.shared.deliver(&mut wake);
            match next {
                Next::Park => Poll::Pending,
                other => Poll::Ready(other),
            }
        })
        .await;
        let (fut, slot, held_back) = match next {
            Next::Run { job, held_back } => {
                let Queued { fut, slot, .. } = job;
                (fut, slot, held_back)
            }
            Next::Spin => {
                spin = false;
                tokio::task::yield_now().await;
                continue;
            }
            Next::Park => unreachable!("park is pending"),
            Next::Exit => {
                guard.exited = true;
                return;
            }
        };
        spin = true;
        let outcome = RunJob {
            job: Job::Running { fut },
            slot: &**guard.job.insert(slot),
            pool,
            grant_on_wait: held_back.then_some(&*guard.shared),
        }
        .await;
        let slot = guard.job.take().expect("set above");
        guard.done = Some((slot, outcome));
        budget -= 1;
        if budget == 0 {
            budget = BUDGET;
            tokio::task::yield_now().await;
        }
    }
}

pin_project! {
    /// A job's future, dropped in place by [`RunJob`] as soon as the job ends.
    #[project = JobProj]
    enum Job<F> {
        Running { #[pin] fut: F },
        Done,
    }
}

pin_project! {
    /// Polls a job inline, turning a panic into an error and stopping at an abort. The
    /// job's future is dropped here too, so a panic in its destructor is caught like one
    /// in its body and the worker lives on.
    struct RunJob<'a, F: Future> {
        #[pin]
        job: Job<F>,
        slot: &'a Slot<F::Output>,
        // The pool's identity, for `Pool::is_current_worker` inside the job.
        pool: usize,
        // Set when taking this job held blocked submitters back to batch their
        // wake-up: if the job waits, they are granted the free slots at once.
        grant_on_wait: Option<&'a Shared<F>>,
    }
}

impl<F: Future> Future for RunJob<'_, F> {
    type Output = Result<F::Output, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _in_pool = InPool::enter(*this.pool);
        let outcome = if this.slot.is_aborted() {
            Err(JobError::Cancelled)
        } else {
            let JobProj::Running { fut } = this.job.as_mut().project() else {
                panic!("RunJob polled after it returned");
            };
            match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                Ok(Poll::Ready(output)) => Ok(output),
                Ok(Poll::Pending) if this.slot.register_runner(cx.waker()) => {
                    Err(JobError::Cancelled)
                }
                Ok(Poll::Pending) => {
                    if let Some(shared) = this.grant_on_wait.take() {
                        shared.grant();
                    }
                    return Poll::Pending;
                }
                Err(payload) => Err(JobError::Panicked(payload)),
            }
        };
        let mut job = this.job;
        match catch_unwind(AssertUnwindSafe(|| job.set(Job::Done))) {
            // A panic while dropping a finished job fails it; a cancelled or panicked
            // job keeps its first outcome.
            Err(payload) if outcome.is_ok() => Poll::Ready(Err(JobError::Panicked(payload))),
            _ => Poll::Ready(outcome),
        }
    }
}
