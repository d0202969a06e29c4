//! The futures returned by `Pool::submit`, `Pool::submit_until` / `submit_timeout` and
//! `Pool::drain`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

use crate::error::{DrainError, SubmitError, SubmitTimeoutError};
use crate::handle::JobHandle;
use crate::pool::slot::Slot;
use crate::pool::state::{Admit, Queued, Wakeups};
use crate::pool::worker::Shared;
use crate::sync::Arc;

/// Future of [`Pool::submit`](crate::Pool::submit): resolves once the job is accepted
/// (to its [`JobHandle`]) or the pool is closed (to the job, handed back).
///
/// # Cancel safety
///
/// Dropping it before it resolves drops the job unsubmitted and gives up its place in
/// line; a slot that was already granted to it passes to the next blocked submitter.
#[must_use = "futures do nothing unless polled; dropping it drops the job unsubmitted"]
pub struct Submit<'a, F: Future> {
    shared: SharedRef<'a, F>,
    job: Option<F>,
    slot: Option<Arc<Slot<F::Output>>>,
    waiter: Option<u64>,
}

/// The pool a submit future talks to: borrowed (`submit`) or shared (`submit_owned`).
enum SharedRef<'a, F: Future> {
    Borrowed(&'a Shared<F>),
    Owned(Arc<Shared<F>>),
}

impl<F: Future> std::ops::Deref for SharedRef<'_, F> {
    type Target = Shared<F>;

    fn deref(&self) -> &Shared<F> {
        match self {
            SharedRef::Borrowed(shared) => shared,
            SharedRef::Owned(shared) => shared,
        }
    }
}

// The job is stored here but never polled (or pinned) by this future, so moving the
// future never moves a pinned value.
impl<F: Future> Unpin for Submit<'_, F> {}

impl<'a, F: Future> Submit<'a, F> {
    pub(crate) fn new(shared: &'a Shared<F>, job: F) -> Self {
        Self::with(SharedRef::Borrowed(shared), job)
    }

    fn with(shared: SharedRef<'a, F>, job: F) -> Self {
        Submit {
            shared,
            job: Some(job),
            slot: None,
            waiter: None,
        }
    }

    /// Gives up: leaves the line and returns the job.
    fn give_up(&mut self) -> F {
        let mut wake = Wakeups::default();
        {
            let mut state = self.shared.state.lock();
            state.forget_waiter(&mut self.waiter, &mut wake);
            state.reject();
        }
        wake.wake();
        self.job.take().expect("Submit polled after completion")
    }
}

impl<F: Future> Submit<'static, F> {
    pub(crate) fn owned(shared: Arc<Shared<F>>, job: F) -> Self {
        Self::with(SharedRef::Owned(shared), job)
    }
}

impl<F: Future> Future for Submit<'_, F> {
    type Output = Result<JobHandle<F::Output>, SubmitError<F>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(this.job.is_some(), "Submit polled after completion");
        let slot = this.slot.get_or_insert_with(|| Arc::new(Slot::new()));
        let mut wake = Wakeups::default();
        let result = {
            let mut state = this.shared.state.lock();
            match state.admit(&mut this.waiter, cx.waker()) {
                Admit::Accept => {
                    let fut = this.job.take().expect("checked above");
                    state.push(Queued::new(fut, Arc::clone(slot)), &mut wake);
                    Poll::Ready(Ok(()))
                }
                Admit::Wait => Poll::Pending,
                Admit::Closed => Poll::Ready(Err(())),
            }
        };
        wake.wake();
        result.map(|r| match r {
            Ok(()) => Ok(JobHandle::new(this.slot.take().expect("allocated above"))),
            Err(()) => Err(SubmitError::Closed(this.job.take().expect("not pushed"))),
        })
    }
}

impl<F: Future> Drop for Submit<'_, F> {
    fn drop(&mut self) {
        if self.waiter.is_some() {
            let mut wake = Wakeups::default();
            self.shared
                .state
                .lock()
                .forget_waiter(&mut self.waiter, &mut wake);
            wake.wake();
        }
    }
}

impl<F: Future> fmt::Debug for Submit<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submit")
            .field("pool", &self.shared.name)
            .field("done", &self.job.is_none())
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
/// As for [`Submit`]: dropping it drops the job unsubmitted and passes on any granted
/// slot.
#[must_use = "futures do nothing unless polled; dropping it drops the job unsubmitted"]
pub struct SubmitUntil<'a, F: Future> {
    inner: Submit<'a, F>,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<'a, F: Future> SubmitUntil<'a, F> {
    pub(crate) fn new(shared: &'a Shared<F>, job: F, deadline: Instant) -> Self {
        SubmitUntil {
            inner: Submit::new(shared, job),
            deadline,
            sleep: None,
        }
    }
}

impl<F: Future> Future for SubmitUntil<'_, F> {
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
            return Poll::Ready(Err(SubmitTimeoutError::Timeout(this.inner.give_up())));
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
/// ended and every worker has left, or with a [`DrainError`] at the deadline.
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
