//! The futures returned by `Pool::submit`, `Pool::submit_until` / `submit_timeout` and
//! `Pool::drain`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
// std: the pool's core lives in a std `Arc` (see `shared.rs`).
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::shared::{Request, Shared};
use crate::error::{DrainError, SubmitError, SubmitTimeoutError};
use crate::handle::JobHandle;

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
    /// The job until the pool takes it, its slot until the handle is made, and its
    /// place in line.
    request: Request<F>,
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
        let request = shared.request(job);
        Submit { shared, request }
    }
}

impl<F> Submit<'_, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// Gives up at the deadline: leaves the line and returns the job, unless room was
    /// granted meanwhile (then the job is accepted and its handle returned).
    fn give_up(&mut self) -> Result<JobHandle<F::Output>, F> {
        self.shared.give_up(&mut self.request)
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
        this.shared
            .poll_submit(&mut this.request, cx.waker())
            .map_err(SubmitError::Closed)
    }
}

impl<F: Future> Drop for Submit<'_, F> {
    fn drop(&mut self) {
        if self.request.is_waiting() {
            self.shared.abandon(&mut self.request);
        }
    }
}

impl<F: Future> fmt::Debug for Submit<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submit")
            .field("pool", &self.shared.name())
            .field("done", &self.request.is_done())
            .field("waiting", &self.request.is_waiting())
            .finish()
    }
}

pin_project! {
    /// Future of [`Pool::submit_until`](crate::Pool::submit_until) and
    /// [`Pool::submit_timeout`](crate::Pool::submit_timeout): like [`Submit`], but gives
    /// the job back once the enqueue deadline passes. The deadline bounds only the wait
    /// for a slot; once accepted, the job runs as long as it runs.
    ///
    /// The timer is armed only once the submitter has to wait, in place (no allocation).
    ///
    /// # Cancel safety
    ///
    /// As for [`Submit`]: dropping it while it waits drops the job unsubmitted; a job
    /// granted room meanwhile is aborted. At the deadline, a job granted room in the
    /// meantime is accepted (`Ok`) rather than handed back.
    #[must_use = "futures do nothing unless polled; dropping it drops the job unsubmitted"]
    pub struct SubmitUntil<'a, F: Future> {
        inner: Submit<'a, F>,
        #[pin]
        deadline: Deadline,
    }
}

pin_project! {
    /// A deadline whose timer, on the pool's runtime, is created on first use.
    struct Deadline {
        at: Instant,
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl Deadline {
    fn new(at: Instant) -> Self {
        Deadline { at, sleep: None }
    }

    /// `Ready` once the deadline has passed; the first call arms the timer on the
    /// pool's runtime.
    fn poll_expired<F: Future>(
        self: Pin<&mut Self>,
        shared: &Shared<F>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let mut this = self.project();
        if this.sleep.is_none() {
            this.sleep.set(Some(shared.sleep_until(*this.at)));
        }
        this.sleep.as_pin_mut().expect("set above").poll(cx)
    }
}

impl<'a, F> SubmitUntil<'a, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    pub(crate) fn new(shared: &'a Arc<Shared<F>>, job: F, deadline: Instant) -> Self {
        SubmitUntil {
            inner: Submit::new(shared, job),
            deadline: Deadline::new(deadline),
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
        let this = self.project();
        match Pin::new(&mut *this.inner).poll(cx) {
            Poll::Ready(Ok(handle)) => return Poll::Ready(Ok(handle)),
            Poll::Ready(Err(SubmitError::Closed(job))) => {
                return Poll::Ready(Err(SubmitTimeoutError::Closed(job)))
            }
            Poll::Pending => {}
        }
        // The timer is armed only once the submitter actually has to wait.
        std::task::ready!(this.deadline.poll_expired(&this.inner.shared, cx));
        Poll::Ready(this.inner.give_up().map_err(SubmitTimeoutError::Timeout))
    }
}

impl<F: Future> fmt::Debug for SubmitUntil<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitUntil")
            .field("inner", &self.inner)
            .field("deadline", &self.deadline.at)
            .finish()
    }
}

pin_project! {
    /// Future of [`Pool::drain`](crate::Pool::drain): resolves once every accepted job
    /// has ended and its handle is resolved and every worker has left, or with a
    /// [`DrainError`] at the deadline.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it stops only the waiting. The pool stays closed and its
    /// workers keep finishing the accepted jobs.
    #[must_use = "futures do nothing unless polled"]
    pub struct Drain<'a, F: Future> {
        shared: &'a Shared<F>,
        #[pin]
        deadline: Deadline,
    }
}

impl<'a, F: Future> Drain<'a, F> {
    pub(crate) fn new(shared: &'a Shared<F>, deadline: Instant) -> Self {
        Drain {
            shared,
            deadline: Deadline::new(deadline),
        }
    }
}

impl<F: Future> Future for Drain<'_, F> {
    type Output = Result<(), DrainError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Err(left) = this.shared.poll_drained(cx.waker()) else {
            return Poll::Ready(Ok(()));
        };
        std::task::ready!(this.deadline.poll_expired(this.shared, cx));
        Poll::Ready(Err(left))
    }
}

impl<F: Future> fmt::Debug for Drain<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("pool", &self.shared.name())
            .field("deadline", &self.deadline.at)
            .finish()
    }
}
