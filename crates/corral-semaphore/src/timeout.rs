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
    /// The permit the acquire future yields.
    type Permit;

    /// Gives up waiting and marks the future done, unless the request was granted or
    /// failed by now (decided under the queue lock): then that outcome is returned, a
    /// grant's permits kept. `None`: the request left the queue.
    fn withdraw(&mut self) -> Option<Result<Self::Permit, AcquireError>>;

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
    A: Future<Output = Result<P, AcquireError>> + Withdraw<Permit = P> + Unpin,
{
    if let Poll::Ready(result) = Pin::new(&mut *acquire).poll(cx) {
        return Poll::Ready(result.map_err(AcquireTimeoutError::from));
    }
    let timeout = deadline.timeout;
    std::task::ready!(deadline.poll_expired(cx));
    let requested = acquire.requested();
    // The request may have been granted (or failed) after it was polled above, before
    // or while the timer was found expired: by another thread's release, or by user
    // code run within this poll (a displaced waker whose drop releases permits). That
    // outcome landed together with the deadline: `withdraw` decides under the lock and
    // reports it, rather than hand a grant back and call it a timeout.
    match acquire.withdraw() {
        Some(outcome) => Poll::Ready(outcome.map_err(AcquireTimeoutError::from)),
        None => Poll::Ready(Err(AcquireTimeoutError::Timeout { requested, timeout })),
    }
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
