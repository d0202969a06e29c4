//! Futures of the `*_timeout` methods: an acquire future raced against a tokio timer
//! that is registered only if the request has to wait.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::error::{AcquireError, AcquireTimeoutError};
use crate::futures::{Acquire, AcquireOwned};
use crate::permit::{OwnedPermit, Permit};

pin_project_lite::pin_project! {
    /// A deadline fixed at creation, whose timer is created on first use.
    struct Deadline {
        timeout: Duration,
        at: Instant,
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl Deadline {
    fn new(timeout: Duration) -> Self {
        let now = Instant::now();
        Deadline {
            timeout,
            // A timeout too large to represent never fires: about 30 years, tokio's
            // own stand-in for "never".
            at: now
                .checked_add(timeout)
                .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30)),
            sleep: None,
        }
    }

    /// `Ready` once the deadline has passed.
    fn poll_expired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::time::sleep_until(*this.at)));
        }
        this.sleep.as_pin_mut().expect("set above").poll(cx)
    }
}

/// An acquire future a deadline can give up: [`Acquire`] and [`AcquireOwned`].
pub(crate) trait Withdraw {
    /// Leaves the queue (handing back a grant that raced) and marks the future done.
    fn withdraw(&mut self);

    /// The permits requested.
    fn requested(&self) -> u64;
}

/// The poll of both timeout futures. Permits first: a grant that arrived together with
/// the deadline is kept. On expiry the request leaves the queue now, not when the
/// future is dropped, so the waiters behind are not held up by a request that has
/// given up.
fn poll_timeout<A, P>(
    acquire: &mut A,
    deadline: Pin<&mut Deadline>,
    cx: &mut Context<'_>,
) -> Poll<Result<P, AcquireTimeoutError>>
where
    A: Future<Output = Result<P, AcquireError>> + Withdraw + Unpin,
{
    if let Poll::Ready(result) = Pin::new(&mut *acquire).poll(cx) {
        return Poll::Ready(result.map_err(AcquireTimeoutError::from));
    }
    let timeout = deadline.timeout;
    std::task::ready!(deadline.poll_expired(cx));
    // The request may have been granted (or failed) after it was polled above and
    // before the timer was found expired: by another thread's release, or by user code
    // run within this poll (a displaced waker whose drop releases permits). That
    // outcome landed together with the deadline: report it, rather than hand a grant
    // back and call it a timeout. Only the expiring poll pays for this second look.
    if let Poll::Ready(result) = Pin::new(&mut *acquire).poll(cx) {
        return Poll::Ready(result.map_err(AcquireTimeoutError::from));
    }
    let requested = acquire.requested();
    acquire.withdraw();
    Poll::Ready(Err(AcquireTimeoutError::Timeout { requested, timeout }))
}

pin_project_lite::pin_project! {
    /// Future of [`Semaphore::acquire_timeout`](crate::Semaphore::acquire_timeout):
    /// resolves to a [`Permit`], or to [`AcquireTimeoutError::Timeout`] once the
    /// timeout has passed.
    ///
    /// The deadline is fixed when the future is created; the timer is registered only
    /// if the request has to wait. Dropping it gives up its place in the queue and
    /// loses no permit.
    #[must_use = "futures do nothing unless polled; dropping this one withdraws the request"]
    pub struct AcquireTimeout<'a> {
        acquire: Acquire<'a>,
        #[pin]
        deadline: Deadline,
    }
}

impl<'a> AcquireTimeout<'a> {
    pub(crate) fn new(acquire: Acquire<'a>, timeout: Duration) -> Self {
        AcquireTimeout {
            acquire,
            deadline: Deadline::new(timeout),
        }
    }

    /// Whether the request is waiting in the semaphore's queue.
    pub fn is_queued(&self) -> bool {
        self.acquire.is_queued()
    }
}

impl<'a> Future for AcquireTimeout<'a> {
    type Output = Result<Permit<'a>, AcquireTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        poll_timeout(this.acquire, this.deadline, cx)
    }
}

impl fmt::Debug for AcquireTimeout<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireTimeout")
            .field("acquire", &self.acquire)
            .field("timeout", &self.deadline.timeout)
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// Future of
    /// [`Semaphore::acquire_owned_timeout`](crate::Semaphore::acquire_owned_timeout):
    /// resolves to an [`OwnedPermit`], or to [`AcquireTimeoutError::Timeout`] once the
    /// timeout has passed.
    ///
    /// The deadline is fixed when the future is created; the timer is registered only
    /// if the request has to wait. Dropping it gives up its place in the queue and
    /// loses no permit.
    #[must_use = "futures do nothing unless polled; dropping this one withdraws the request"]
    pub struct AcquireOwnedTimeout {
        acquire: AcquireOwned,
        #[pin]
        deadline: Deadline,
    }
}

impl AcquireOwnedTimeout {
    pub(crate) fn new(acquire: AcquireOwned, timeout: Duration) -> Self {
        AcquireOwnedTimeout {
            acquire,
            deadline: Deadline::new(timeout),
        }
    }

    /// Whether the request is waiting in the semaphore's queue.
    pub fn is_queued(&self) -> bool {
        self.acquire.is_queued()
    }
}

impl Future for AcquireOwnedTimeout {
    type Output = Result<OwnedPermit, AcquireTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        poll_timeout(this.acquire, this.deadline, cx)
    }
}

impl fmt::Debug for AcquireOwnedTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwnedTimeout")
            .field("acquire", &self.acquire)
            .field("timeout", &self.deadline.timeout)
            .finish_non_exhaustive()
    }
}
