//! The futures returned by the pool: [`Run`], [`AcceptedJob`] and [`Stopped`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::engine::{Admit, Shared, Task};
use super::job::{Cell, Completer, Outcome};
use crate::error::RunError;
use corral_shared::sync::Arc;

/// Packages `f` as a queued task and the cell its caller reads.
pub(super) fn package<F, R>(shared: &Shared, f: F) -> (Task, Arc<Cell<R>>)
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let cell = Cell::new();
    let completer = Completer::new(Arc::clone(&cell), Arc::clone(&shared.abandoned));
    let task: Task = Box::new(move |returned: &mut dyn FnMut()| completer.run(f, returned));
    (task, cell)
}

/// Future of [`BlockingPool::run`](crate::BlockingPool::run): waits for queue space,
/// then for the job's result.
///
/// Dropping it before the job started means the job never runs; dropping it after only
/// stops waiting (the job runs to completion and is counted as abandoned meanwhile).
#[must_use = "the job is not submitted until the future is polled; dropping it cancels the job if it has not started"]
pub struct Run<F, R> {
    shared: Arc<Shared>,
    f: Option<F>,
    waiter: Option<u64>,
    job: Option<AcceptedJob<R>>,
}

// `F` is never pinned: it is moved out by value when the job is admitted, and `R` only
// lives in the heap-allocated cell. So `Run` can be `Unpin` whatever `F` and `R` are.
impl<F, R> Unpin for Run<F, R> {}

impl<F, R> Run<F, R> {
    pub(crate) fn new(shared: Arc<Shared>, f: F) -> Self {
        Run {
            shared,
            f: Some(f),
            waiter: None,
            job: None,
        }
    }
}

impl<F, R> Run<F, R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    /// One admission attempt. On `Queued`, `job` is set; otherwise `f` is kept.
    fn admit(&mut self) -> Admit {
        let Some(f) = self.f.take() else {
            panic!("`Run` polled after completion");
        };
        let shared = &self.shared;
        let mut f = Some(f);
        let mut cell = None;
        let admit = Shared::admit(shared, self.waiter, &mut || {
            let (task, c) = package(shared, f.take().expect("admission builds the task once"));
            cell = Some(c);
            task
        });
        match admit {
            Admit::Queued(id) => {
                self.waiter = None;
                let cell = cell.expect("an admitted job has a cell");
                self.job = Some(AcceptedJob::new(Arc::clone(shared), id, cell));
            }
            _ => self.f = f,
        }
        admit
    }
}

impl<F, R> Future for Run<F, R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    type Output = Result<R, RunError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(job) = this.job.as_mut() {
            return Pin::new(job).poll(cx);
        }
        match this.admit() {
            Admit::Queued(_) => {
                let job = this.job.as_mut().expect("an admitted job has a handle");
                Pin::new(job).poll(cx)
            }
            Admit::Full => match this.shared.wait_for_space(this.waiter, cx.waker()) {
                Some(id) => {
                    this.waiter = Some(id);
                    Poll::Pending
                }
                None => {
                    this.waiter = None;
                    Poll::Ready(Err(RunError::Closed))
                }
            },
            Admit::Closed => {
                this.waiter = None;
                Poll::Ready(Err(RunError::Closed))
            }
            Admit::Spawn(err) => {
                if let Some(waiter) = this.waiter.take() {
                    this.shared.leave_space_queue(waiter);
                }
                Poll::Ready(Err(RunError::Spawn(err)))
            }
        }
    }
}

impl<F, R> Drop for Run<F, R> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            self.shared.leave_space_queue(waiter);
        }
    }
}

impl<F, R> fmt::Debug for Run<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("pool", &self.shared.config.name)
            .field("waiting_for_space", &self.waiter.is_some())
            .field("job", &self.job)
            .finish()
    }
}

/// A job the pool accepted: await it for the closure's result.
///
/// Returned by [`BlockingPool::try_run`](crate::BlockingPool::try_run) (and used inside
/// [`Run`]). Dropping it before a thread took the job removes the job from the queue,
/// so it never runs; dropping it later only stops waiting.
///
/// Not a join handle: tokio's `JoinHandle` (and corral-pool's `JobHandle`) *detach* on
/// drop, and the job runs anyway. This one *cancels* a job that has not started, hence
/// its own name.
#[must_use = "dropping an AcceptedJob cancels the job if it has not started"]
pub struct AcceptedJob<R> {
    shared: Arc<Shared>,
    id: u64,
    cell: Arc<Cell<R>>,
    done: bool,
}

impl<R> AcceptedJob<R> {
    pub(crate) fn new(shared: Arc<Shared>, id: u64, cell: Arc<Cell<R>>) -> Self {
        AcceptedJob {
            shared,
            id,
            cell,
            done: false,
        }
    }
}

impl<R> Future for AcceptedJob<R> {
    type Output = Result<R, RunError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`AcceptedJob` polled after completion");
        let outcome = std::task::ready!(this.cell.poll_take(cx));
        this.done = true;
        Poll::Ready(match outcome {
            Outcome::Value(value) => Ok(value),
            Outcome::Panicked(payload) => Err(RunError::Panicked(payload)),
            Outcome::Closed => Err(RunError::Closed),
        })
    }
}

impl<R> Drop for AcceptedJob<R> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match self.shared.cancel(self.id) {
            // Still queued: it never runs. Dropped here, outside the pool lock, since
            // dropping the closure runs user code.
            Some(task) => drop(task),
            None => self.cell.abandon(&self.shared.abandoned),
        }
    }
}

impl<R> fmt::Debug for AcceptedJob<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptedJob")
            .field("pool", &self.shared.config.name)
            .field("id", &self.id)
            .field("done", &self.done)
            .finish()
    }
}

/// Future of [`BlockingPool::stopped`](crate::BlockingPool::stopped): resolves once the
/// pool is closed and every one of its threads has exited.
#[must_use = "futures do nothing unless polled"]
pub struct Stopped {
    shared: Arc<Shared>,
    /// This future's waker registration, once it has waited.
    slot: Option<u64>,
}

impl Stopped {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Stopped { shared, slot: None }
    }
}

impl Future for Stopped {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.shared.poll_stopped(&mut this.slot, cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(id) = self.slot.take() {
            self.shared.leave_stop_waiters(id);
        }
    }
}

impl fmt::Debug for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stopped")
            .field("pool", &self.shared.config.name)
            .finish()
    }
}
