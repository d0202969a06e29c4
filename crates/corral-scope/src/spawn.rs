//! `Spawn`: the future returned by `Scope::spawn`, which waits for an admission slot.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use corral_semaphore::{AcquireOwned, TryAcquireError};

use crate::child::ChildHandle;
use crate::error::SpawnError;
use crate::handle::Scope;

/// Future returned by [`Scope::spawn`]: resolves to the child's handle once the child is
/// admitted and running, or hands the future back if the scope is closed.
///
/// # Cancel safety
///
/// Cancel safe: dropping it before it completes drops the unstarted future and its
/// place in line; no slot is taken.
#[must_use = "the child is spawned only when this future is awaited"]
pub struct Spawn<'a, F, E> {
    scope: &'a Scope<E>,
    future: Option<F>,
    /// The wait for a slot, once the fast path found none free.
    acquire: Option<AcquireOwned>,
}

// `F` is only moved, never pinned: `Spawn` is `Unpin` whatever `F` is.
impl<F, E> Unpin for Spawn<'_, F, E> {}

impl<'a, F, E> Spawn<'a, F, E> {
    pub(crate) fn new(scope: &'a Scope<E>, future: F) -> Self {
        Self {
            scope,
            future: Some(future),
            acquire: None,
        }
    }
}

impl<F, T, E> Future for Spawn<'_, F, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = Result<ChildHandle<T>, SpawnError<F>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let future = this.future.take().expect("`Spawn` polled after completion");
        let core = &this.scope.core;
        let permit = match &core.limit {
            None => None,
            Some(limit) => {
                if this.acquire.is_none() {
                    if core.group.is_cancelled() {
                        return Poll::Ready(Err(SpawnError::Closed(future)));
                    }
                    match limit.try_acquire_owned(1) {
                        Ok(permit) => Some(permit),
                        Err(TryAcquireError::NoPermits { .. }) => {
                            this.acquire = Some(limit.acquire_owned(1));
                            None
                        }
                        // A limit is at least 1, so one permit is never too large.
                        Err(TryAcquireError::Closed | TryAcquireError::TooLarge { .. }) => {
                            return Poll::Ready(Err(SpawnError::Closed(future)))
                        }
                    }
                } else {
                    None
                }
            }
        };
        let permit = match (permit, this.acquire.as_mut()) {
            (Some(permit), _) => Some(permit),
            (None, None) => None,
            (None, Some(acquire)) => match Pin::new(acquire).poll(cx) {
                Poll::Pending => {
                    this.future = Some(future);
                    return Poll::Pending;
                }
                Poll::Ready(Err(_closed)) => {
                    this.acquire = None;
                    return Poll::Ready(Err(SpawnError::Closed(future)));
                }
                Poll::Ready(Ok(permit)) => {
                    this.acquire = None;
                    Some(permit)
                }
            },
        };
        Poll::Ready(core.spawn_child(future, permit).map_err(SpawnError::Closed))
    }
}

impl<F, E> fmt::Debug for Spawn<'_, F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawn")
            .field("scope", &self.scope)
            .field("waiting_for_slot", &self.acquire.is_some())
            .field("done", &self.future.is_none())
            .finish()
    }
}
