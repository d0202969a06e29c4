//! Named futures for the async methods of [`Semaphore`]. None of them allocates.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
#[cfg(feature = "tokio")]
use std::time::Duration;

use crate::error::AcquireError;
#[cfg(feature = "tokio")]
use crate::error::AcquireTimeoutError;
use crate::permit::{OwnedPermit, Permit};
use crate::semaphore::{Semaphore, Waiter};

/// Future of [`Semaphore::acquire`]: resolves to a [`Permit`] for the requested weight.
///
/// Dropping it gives up its place in the queue and loses no permit (see the method's
/// `# Cancel safety`).
#[must_use = "futures do nothing unless polled; dropping this one withdraws the request"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    waiter: Waiter,
    done: bool,
}

impl<'a> Acquire<'a> {
    pub(crate) fn new(sem: &'a Semaphore, n: u64) -> Self {
        Acquire {
            sem,
            waiter: Waiter::new(n),
            done: false,
        }
    }

    /// Whether the request is waiting in the semaphore's queue.
    pub fn is_queued(&self) -> bool {
        self.waiter.is_queued()
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<Permit<'a>, AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "Acquire polled after completion");
        let result = std::task::ready!(this.waiter.poll(this.sem, cx));
        this.done = true;
        Poll::Ready(result.map(|()| Permit::new(this.sem, this.waiter.n())))
    }
}

impl Drop for Acquire<'_> {
    #[inline]
    fn drop(&mut self) {
        self.waiter.cancel(self.sem);
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("requested", &self.waiter.n())
            .field("queued", &self.waiter.is_queued())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Future of [`Semaphore::acquire_owned`]: resolves to an [`OwnedPermit`].
///
/// Dropping it gives up its place in the queue and loses no permit.
#[must_use = "futures do nothing unless polled; dropping this one withdraws the request"]
pub struct AcquireOwned {
    /// `None` once the future has completed (the `Arc` moved into the permit).
    sem: Option<Arc<Semaphore>>,
    waiter: Waiter,
}

impl AcquireOwned {
    pub(crate) fn new(sem: Arc<Semaphore>, n: u64) -> Self {
        AcquireOwned {
            sem: Some(sem),
            waiter: Waiter::new(n),
        }
    }

    /// Whether the request is waiting in the semaphore's queue.
    pub fn is_queued(&self) -> bool {
        self.waiter.is_queued()
    }
}

impl Future for AcquireOwned {
    type Output = Result<OwnedPermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let sem = this
            .sem
            .as_ref()
            .expect("AcquireOwned polled after completion");
        let result = std::task::ready!(this.waiter.poll(sem, cx));
        let sem = this.sem.take().expect("checked above");
        Poll::Ready(result.map(|()| OwnedPermit::new(sem, this.waiter.n())))
    }
}

impl Drop for AcquireOwned {
    fn drop(&mut self) {
        if let Some(sem) = &self.sem {
            self.waiter.cancel(sem);
        }
    }
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("requested", &self.waiter.n())
            .field("queued", &self.waiter.is_queued())
            .field("done", &self.sem.is_none())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tokio")]
pin_project_lite::pin_project! {
    /// Future of [`Semaphore::acquire_timeout`]: resolves to a [`Permit`], or to
    /// [`AcquireTimeoutError::Timeout`] once the timeout has passed.
    ///
    /// Dropping it gives up its place in the queue and loses no permit.
    #[must_use = "futures do nothing unless polled; dropping this one withdraws the request"]
    pub struct AcquireTimeout<'a> {
        acquire: Acquire<'a>,
        timeout: Duration,
        #[pin]
        sleep: tokio::time::Sleep,
    }
}

#[cfg(feature = "tokio")]
impl<'a> AcquireTimeout<'a> {
    pub(crate) fn new(acquire: Acquire<'a>, timeout: Duration) -> Self {
        AcquireTimeout {
            acquire,
            timeout,
            sleep: tokio::time::sleep(timeout),
        }
    }

    /// Whether the request is waiting in the semaphore's queue.
    pub fn is_queued(&self) -> bool {
        self.acquire.is_queued()
    }
}

#[cfg(feature = "tokio")]
impl<'a> Future for AcquireTimeout<'a> {
    type Output = Result<Permit<'a>, AcquireTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // Permits first: a grant that arrived together with the deadline is kept.
        if let Poll::Ready(result) = Pin::new(&mut *this.acquire).poll(cx) {
            return Poll::Ready(result.map_err(AcquireTimeoutError::from));
        }
        std::task::ready!(this.sleep.poll(cx));
        // Leave the queue now, not when the future is dropped, so the waiters behind
        // are not held up by a request that has given up.
        let acquire = &mut *this.acquire;
        acquire.waiter.cancel(acquire.sem);
        acquire.done = true;
        Poll::Ready(Err(AcquireTimeoutError::Timeout {
            requested: acquire.waiter.n(),
            timeout: *this.timeout,
        }))
    }
}

#[cfg(feature = "tokio")]
impl fmt::Debug for AcquireTimeout<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireTimeout")
            .field("acquire", &self.acquire)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
