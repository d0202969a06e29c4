//! The futures returned by `Pool::submit`, `Pool::submit_until` / `submit_timeout` and
//! `Pool::drain`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

use crate::error::{DrainError, SubmitError, SubmitTimeoutError};
use crate::handle::JobHandle;
use crate::pool::slot::Slot;
use crate::pool::state::{Admit, Queued, Wakeups, Withdrawn};
use crate::pool::worker::Shared;

/// Future of [`Pool::submit`](crate::Pool::submit): resolves once the job is accepted
/// (to its [`JobHandle`]) or the pool is closed (to the job, handed back).
///
/// While it waits, the pool holds the job, and puts it in the queue the moment room is
/// granted to it (in line order); the next poll only collects the handle.
///
/// # Cancel safety
///
/// Dropping it while it waits drops the job unsubmitted and gives up its place in
/// line. If room was granted meanwhile the job was accepted: dropping the future
/// aborts it (see [`JobHandle::abort`]), so it leaves the queue unrun, counted as
/// cancelled, and the room passes to the next blocked submitter.
#[must_use = "futures do nothing unless polled; dropping it drops the job unsubmitted"]
pub struct Submit<'a, F: Future> {
    shared: SharedRef<'a, F>,
    /// The job, until the pool takes it (accepted, or held while waiting).
    job: Option<Queued<F>>,
    /// The job's result slot, until the handle is made.
    slot: Option<Arc<Slot<F::Output>>>,
    waiter: Option<u64>,
}

/// The pool a submit future talks to: borrowed (`submit`) or shared (`submit_owned`).
enum SharedRef<'a, F: Future> {
    Borrowed(&'a Arc<Shared<F>>),
    Owned(Arc<Shared<F>>),
}

impl<F: Future> std::ops::Deref for SharedRef<'_, F> {
    type Target = Arc<Shared<F>>;

    fn deref(&self) -> &Arc<Shared<F>> {
        match self {
            SharedRef::Borrowed(shared) => shared,
            SharedRef::Owned(shared) => shared,
        }
    }
}

// The job is stored here but never polled (or pinned) by this future, so moving the
// future never moves a pinned value.
impl<F: Future> Unpin for Submit<'_, F> {}

impl<'a, F> Submit<'a, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    pub(crate) fn new(shared: &'a Arc<Shared<F>>, job: F) -> Self {
        Self::with(SharedRef::Borrowed(shared), job)
    }

    fn with(shared: SharedRef<'a, F>, job: F) -> Self {
        let slot = shared.slot();
        Submit {
            shared,
            job: Some(Queued::new(job, Arc::clone(&slot))),
            slot: Some(slot),
            waiter: None,
        }
    }
}

impl<F> Submit<'_, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// The handle of the accepted job.
    fn accepted(&mut self) -> JobHandle<F::Output> {
        JobHandle::new(self.slot.take().expect("Submit polled after completion"))
    }

    /// Gives up at the deadline: leaves the line and returns the job, unless room was
    /// granted meanwhile (then the job is accepted and its handle returned).
    fn give_up(&mut self) -> Result<JobHandle<F::Output>, F> {
        let withdrawn = {
            let mut state = self.shared.state.lock();
            let withdrawn = state.withdraw(&mut self.waiter);
            if !matches!(withdrawn, Withdrawn::Granted(_)) {
                state.reject();
            }
            withdrawn
        };
        match withdrawn {
            Withdrawn::Granted(_) => Ok(self.accepted()),
            Withdrawn::Job(job) => {
                self.slot = None;
                Err(job)
            }
            Withdrawn::Nothing => {
                self.slot = None;
                Err(self.job.take().expect("Submit polled after completion").fut)
            }
        }
    }
}

impl<F> Submit<'static, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    pub(crate) fn owned(shared: Arc<Shared<F>>, job: F) -> Self {
        Self::with(SharedRef::Owned(shared), job)
    }
}

impl<F> Future for Submit<'_, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = Result<JobHandle<F::Output>, SubmitError<F>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(this.slot.is_some(), "Submit polled after completion");
        let mut wake = Wakeups::default();
        let admit =
            this.shared
                .state
                .lock()
                .admit(&mut this.waiter, &mut this.job, cx.waker(), &mut wake);
        wake.wake();
        match admit {
            Admit::Accepted => Poll::Ready(Ok(this.accepted())),
            Admit::Wait => Poll::Pending,
            Admit::Closed(job) => {
                this.slot = None;
                Poll::Ready(Err(SubmitError::Closed(job)))
            }
        }
    }
}

impl<F: Future> Drop for Submit<'_, F> {
    fn drop(&mut self) {
        if self.waiter.is_none() {
            return;
        }
        let mut wake = Wakeups::default();
        let (job, granted) = {
            let mut state = self.shared.state.lock();
            match state.withdraw(&mut self.waiter) {
                Withdrawn::Job(job) => (Some(job), false),
                // Accepted, but nobody will see the handle: abort the job.
                Withdrawn::Granted(seq) => {
                    let job = state.cancel_queued(seq, &mut wake);
                    let running = job.is_none();
                    (job, running)
                }
                Withdrawn::Nothing => (None, false),
            }
        };
        // Jobs are dropped, and a running one aborted, outside the lock.
        drop(job);
        if granted {
            if let Some(slot) = &self.slot {
                slot.interrupt();
            }
        }
        wake.wake();
    }
}

impl<F: Future> fmt::Debug for Submit<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submit")
            .field("pool", &self.shared.name)
            .field("done", &self.slot.is_none())
            .field("waiting", &self.waiter.is_some())
            .finish()
    }
}

/// Future of [`Pool::submit_until`](crate::Pool::submit_until) and
/// [`Pool::submit_timeout`](crate::Pool::submit_timeout): like [`Submit`], but gives the
/// job back once the enqueue deadline passes. The deadline bounds only the wait for a
/// slot; once accepted, the job runs as long as it runs.
///
/// # Cancel safety
///
/// As for [`Submit`]: dropping it while it waits drops the job unsubmitted; a job
/// granted room meanwhile is aborted. At the deadline, a job granted room in the
/// meantime is accepted (`Ok`) rather than handed back.
#[must_use = "futures do nothing unless polled; dropping it drops the job unsubmitted"]
pub struct SubmitUntil<'a, F: Future> {
    inner: Submit<'a, F>,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<'a, F> SubmitUntil<'a, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    pub(crate) fn new(shared: &'a Arc<Shared<F>>, job: F, deadline: Instant) -> Self {
        SubmitUntil {
            inner: Submit::new(shared, job),
            deadline,
            sleep: None,
        }
    }
}

impl<F> Future for SubmitUntil<'_, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = Result<JobHandle<F::Output>, SubmitTimeoutError<F>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll(cx) {
            Poll::Ready(Ok(handle)) => return Poll::Ready(Ok(handle)),
            Poll::Ready(Err(SubmitError::Closed(job))) => {
                return Poll::Ready(Err(SubmitTimeoutError::Closed(job)))
            }
            Poll::Pending => {}
        }
        // The timer is armed only once the submitter actually has to wait.
        let deadline = this.deadline;
        let shared = &this.inner.shared;
        let sleep = this.sleep.get_or_insert_with(|| {
            let _enter = shared.handle.enter();
            Box::pin(tokio::time::sleep_until(deadline))
        });
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(this.inner.give_up().map_err(SubmitTimeoutError::Timeout));
        }
        Poll::Pending
    }
}

impl<F: Future> fmt::Debug for SubmitUntil<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitUntil")
            .field("inner", &self.inner)
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// Future of [`Pool::drain`](crate::Pool::drain): resolves once every accepted job has
/// ended and its handle is resolved and every worker has left, or with a
/// [`DrainError`] at the deadline.
///
/// # Cancel safety
///
/// Cancel safe: dropping it stops only the waiting. The pool stays closed and its
/// workers keep finishing the accepted jobs.
#[must_use = "futures do nothing unless polled"]
pub struct Drain<'a, F: Future> {
    shared: &'a Shared<F>,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<'a, F: Future> Drain<'a, F> {
    pub(crate) fn new(shared: &'a Shared<F>, deadline: Instant) -> Self {
        Drain {
            shared,
            deadline,
            sleep: None,
        }
    }
}

impl<F: Future> Future for Drain<'_, F> {
    type Output = Result<(), DrainError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let left = this.shared.state.lock().poll_drained(cx.waker());
        let Err((queued, running)) = left else {
            return Poll::Ready(Ok(()));
        };
        let deadline = this.deadline;
        let shared = this.shared;
        let sleep = this.sleep.get_or_insert_with(|| {
            let _enter = shared.handle.enter();
            Box::pin(tokio::time::sleep_until(deadline))
        });
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(DrainError { queued, running }));
        }
        Poll::Pending
    }
}

impl<F: Future> fmt::Debug for Drain<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("pool", &self.shared.name)
            .field("deadline", &self.deadline)
            .finish()
    }
}
