//! A child task: the wrapper future the group spawns, and the handle the spawner gets.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use corral_semaphore::OwnedPermit;
use tokio::task::{Id, JoinHandle};

use crate::context::Core;
use crate::error::ChildError;
use crate::group::Reason;

pin_project_lite::pin_project! {
    /// The spawned future: runs the child, records an error or panic with the group,
    /// and on drop gives back the admission slot and counts the child as gone.
    pub(crate) struct Child<F, E> {
        // Declared first so it is dropped first: the child's own destructors have run
        // before the group counts it gone.
        #[pin]
        future: F,
        guard: Guard,
        _error: PhantomData<fn() -> E>,
    }
}

/// Dropped with the child's future, after it: releases the slot, then completes.
struct Guard {
    core: Arc<Core>,
    permit: Option<OwnedPermit>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.core.group.complete();
    }
}

impl<F, E> Child<F, E> {
    pub(crate) fn new(future: F, core: Arc<Core>, permit: Option<OwnedPermit>) -> Self {
        Child {
            future,
            guard: Guard { core, permit },
            _error: PhantomData,
        }
    }
}

impl<F, T, E> Future for Child<F, E>
where
    F: Future<Output = Result<T, E>>,
    E: Send + 'static,
{
    type Output = Result<T, ChildError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = this.future;
        // The future is never polled again after a panic (we return Ready), so a
        // broken invariant inside it cannot be observed: unwind safety holds.
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(value))) => Poll::Ready(Ok(value)),
            Ok(Poll::Ready(Err(error))) => {
                this.guard
                    .core
                    .cancel(Reason::Failed, Some(Box::new(error)));
                Poll::Ready(Err(ChildError::Failed))
            }
            Err(payload) => {
                this.guard.core.cancel(Reason::Panicked, Some(payload));
                Poll::Ready(Err(ChildError::Panicked))
            }
        }
    }
}

/// An awaitable handle to one child's output.
///
/// Dropping it does nothing to the child: the child stays in its group, which still
/// joins it, cancels it, and fails with its error. Await it for the child's output:
/// `Ok(value)`, or a [`ChildError`] saying why there is none.
///
/// # Cancel safety
///
/// Awaiting a `ChildHandle` is cancel safe: dropping the await (or the handle) leaves
/// the child running in its group; the output is then simply not read.
pub struct ChildHandle<T> {
    join: JoinHandle<Result<T, ChildError>>,
}

impl<T> ChildHandle<T> {
    pub(crate) fn new(join: JoinHandle<Result<T, ChildError>>) -> Self {
        Self { join }
    }

    /// Aborts this child only. Its handle then yields [`ChildError::Cancelled`]
    /// (unless it had already finished); the group is not cancelled and the siblings run on.
    pub fn abort(&self) {
        self.join.abort();
    }

    /// Whether the child has finished (completed, failed, panicked or been aborted).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// The tokio task id of the child.
    pub fn id(&self) -> Id {
        self.join.id()
    }
}

impl<T> Future for ChildHandle<T> {
    type Output = Result<T, ChildError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(Pin::new(&mut self.join).poll(cx)) {
            Ok(output) => output,
            // Our wrapper catches panics of the child's poll; a panic tokio reports
            // came from a destructor run while the child was aborted.
            Err(join) if join.is_panic() => Err(ChildError::Panicked),
            Err(_) => Err(ChildError::Cancelled),
        })
    }
}

impl<T> std::fmt::Debug for ChildHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildHandle")
            .field("id", &self.join.id())
            .field("finished", &self.join.is_finished())
            .finish()
    }
}
