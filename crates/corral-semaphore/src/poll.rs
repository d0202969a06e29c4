//! [`PollSemaphore`]: a poll-style entry for `poll_ready` callers.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::AcquireError;
use crate::permit::OwnedPermit;
use crate::semaphore::{Semaphore, Waiter};

/// A reusable place in an `Arc<Semaphore>`'s queue, polled by hand: the building block
/// for tower-style `poll_ready`, which must reserve capacity without a future to hold
/// and without boxing one.
///
/// It owns one waiter node. [`poll_acquire`](Self::poll_acquire) queues it on first
/// use and the same node is polled until it is granted; then it is idle again and the
/// next call reuses it. The node's slot in the semaphore's slab is freed on grant and
/// reused by the next request, so a service that calls `poll_ready` in a loop allocates
/// nothing per call.
///
/// Dropping it (or calling [`poll_acquire`](Self::poll_acquire) with a different `n`
/// while queued) withdraws the queued request, losing no permit.
///
/// # Examples
///
/// A `poll_ready` that reserves one permit per request:
///
/// ```
/// use std::sync::Arc;
/// use std::task::{Context, Poll};
/// use corral_semaphore::{AcquireError, OwnedPermit, PollSemaphore, Semaphore};
///
/// struct Limited {
///     sem: PollSemaphore,
///     permit: Option<OwnedPermit>,
/// }
///
/// impl Limited {
///     fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
///         if self.permit.is_none() {
///             let permit = std::task::ready!(self.sem.poll_acquire(cx, 1))?;
///             self.permit = Some(permit);
///         }
///         Poll::Ready(Ok(()))
///     }
/// }
///
/// let mut svc = Limited { sem: PollSemaphore::new(Arc::new(Semaphore::new(1))), permit: None };
/// let mut cx = Context::from_waker(std::task::Waker::noop());
/// assert!(svc.poll_ready(&mut cx).is_ready());
/// assert_eq!(svc.sem.semaphore().available(), 0);
/// ```
#[must_use = "dropping a PollSemaphore withdraws its queued request"]
pub struct PollSemaphore {
    sem: Arc<Semaphore>,
    waiter: Waiter,
}

impl PollSemaphore {
    /// Wraps a semaphore. Nothing is queued until [`poll_acquire`](Self::poll_acquire).
    pub fn new(sem: Arc<Semaphore>) -> Self {
        PollSemaphore {
            sem,
            waiter: Waiter::new(0),
        }
    }

    /// Polls for `n` permits, queueing the request on the first `Pending`.
    ///
    /// Keep calling with the same `n` until it is `Ready`; the request keeps its place
    /// in line. Calling with a different `n` while queued withdraws the old request and
    /// queues the new one at the tail.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::acquire`].
    ///
    /// # Cancel safety
    ///
    /// This is not a future, but the same guarantee holds: if the caller stops polling
    /// and drops the `PollSemaphore`, the queued request is withdrawn and no permit is
    /// lost.
    pub fn poll_acquire(
        &mut self,
        cx: &mut Context<'_>,
        n: u64,
    ) -> Poll<Result<OwnedPermit, AcquireError>> {
        if self.waiter.n() != n {
            self.waiter.cancel(&self.sem);
            self.waiter.set_n(n);
        }
        let result = std::task::ready!(self.waiter.poll(&self.sem, cx));
        Poll::Ready(result.map(|()| OwnedPermit::new(Arc::clone(&self.sem), n)))
    }

    /// Whether a request is waiting in the queue.
    pub fn is_queued(&self) -> bool {
        self.waiter.is_queued()
    }

    /// The wrapped semaphore.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Withdraws any queued request and returns the semaphore.
    pub fn into_inner(mut self) -> Arc<Semaphore> {
        self.waiter.cancel(&self.sem);
        Arc::clone(&self.sem)
    }
}

impl Clone for PollSemaphore {
    /// A new, idle place in the same semaphore's queue.
    fn clone(&self) -> Self {
        PollSemaphore::new(Arc::clone(&self.sem))
    }
}

impl Drop for PollSemaphore {
    fn drop(&mut self) {
        self.waiter.cancel(&self.sem);
    }
}

impl fmt::Debug for PollSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollSemaphore")
            .field("semaphore", &self.sem)
            .field("requested", &self.waiter.n())
            .field("queued", &self.waiter.is_queued())
            .finish()
    }
}
