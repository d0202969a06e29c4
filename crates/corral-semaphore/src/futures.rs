//! Named futures for the async methods of [`Semaphore`]. None of them allocates.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::AcquireError;
use crate::permit::{OwnedPermit, Permit};
use crate::semaphore::{Semaphore, Waiter};

/// Future of [`Semaphore::acquire`]: resolves to a [`Permit`] for the requested weight.
///
/// Dropping it gives up its place in the queue and loses no permit (see the method's
/// `# Cancel safety`). It is `Unpin` and allocates nothing.
///
/// # Panics
///
/// If polled again after it returned `Ready`.
#[must_use = "futures do nothing unless polled; dropping this one withdraws the request"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    waiter: Waiter,
    done: bool,
}

#[cfg(feature = "tokio")]
impl<'a> crate::timeout::Withdraw for Acquire<'a> {
    type Permit = Permit<'a>;

    fn withdraw(&mut self) -> Option<Result<Permit<'a>, AcquireError>> {
        let outcome = self.waiter.withdraw(self.sem);
        self.done = true;
        match outcome {
            Some(result) => Some(result.map(|()| Permit::new(self.sem, self.waiter.n()))),
            None => {
                self.sem.observe(|m| m.timeouts.increment(1));
                None
            }
        }
    }

    fn requested(&self) -> u64 {
        self.waiter.n()
    }
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
/// Dropping it gives up its place in the queue and loses no permit. It is `Unpin` and
/// allocates nothing.
///
/// # Panics
///
/// If polled again after it returned `Ready`.
#[must_use = "futures do nothing unless polled; dropping this one withdraws the request"]
pub struct AcquireOwned {
    /// `None` once the future has completed (the `Arc` moved into the permit).
    sem: Option<Arc<Semaphore>>,
    waiter: Waiter,
}

#[cfg(feature = "tokio")]
impl crate::timeout::Withdraw for AcquireOwned {
    type Permit = OwnedPermit;

    fn withdraw(&mut self) -> Option<Result<OwnedPermit, AcquireError>> {
        let sem = self.sem.take()?;
        match self.waiter.withdraw(&sem) {
            Some(result) => Some(result.map(|()| OwnedPermit::new(sem, self.waiter.n()))),
            None => {
                sem.observe(|m| m.timeouts.increment(1));
                None
            }
        }
    }

    fn requested(&self) -> u64 {
        self.waiter.n()
    }
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
