//! A child task: the wrapper future the group spawns, and the handle the spawner gets.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use corral_semaphore::OwnedPermit;
use tokio::task::{Id, JoinHandle};

use crate::context::{enter, Core};
use crate::error::ChildError;
use crate::group::Reason;

pin_project_lite::pin_project! {
    /// The spawned future: runs the child, stops it when the group is cancelled,
    /// records an error or panic with the group, and on drop gives back the admission
    /// slot and counts the child as gone.
    pub(crate) struct Child<F, E> {
        // Declared first so it is dropped first: the child's own destructors have run
        // before the group counts it gone. `None` once the group cancelled it.
        #[pin]
        future: Option<F>,
        guard: Guard,
        _error: PhantomData<fn() -> E>,
    }
}

/// Dropped with the child's future, after it: releases the slot, then completes.
struct Guard {
    /// `None` only while the child is being polled: the core is then the current scope.
    core: Option<Arc<Core>>,
    permit: Option<OwnedPermit>,
    /// The child's registration for the cancel, once it has returned `Pending`.
    key: Option<usize>,
}

impl Guard {
    fn core(&self) -> &Core {
        self.core
            .as_deref()
            .expect("the core is back in its slot after every poll")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        drop(self.permit.take());
        if let Some(core) = self.core.take() {
            if let Some(key) = self.key {
                core.group.deregister(key);
            }
            if core.group.complete() {
                // The last child of an abandoned nested scope: that scope is down.
                core.release_parent();
            }
        }
    }
}

impl<F, E> Child<F, E> {
    pub(crate) fn new(future: F, core: Arc<Core>, permit: Option<OwnedPermit>) -> Self {
        Child {
            future: Some(future),
            guard: Guard {
                core: Some(core),
                permit,
                key: None,
            },
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
        let mut slot = this.future;
        let guard = this.guard;
        let Some(future) = slot.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(ChildError::Cancelled));
        };
        if guard.core().group.is_cancelled() {
            // Woken by the cancel (or polled after it): stop here, as an abort would.
            slot.set(None);
            return Poll::Ready(Err(ChildError::Cancelled));
        }
        // The future is never polled again after a panic (we return Ready), so a
        // broken invariant inside it cannot be observed: unwind safety holds.
        let polled = enter(&mut guard.core, || {
            catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
        });
        match polled {
            Ok(Poll::Pending) => {
                // First time pending: register for the cancel. The task's waker stays
                // the same for its whole life (this future is the task's root), so
                // once is enough.
                if guard.key.is_none() {
                    match guard.core().group.register(cx.waker().clone()) {
                        Some(key) => guard.key = Some(key),
                        None => {
                            slot.set(None);
                            return Poll::Ready(Err(ChildError::Cancelled));
                        }
                    }
                }
                Poll::Pending
            }
            Ok(Poll::Ready(Ok(value))) => Poll::Ready(Ok(value)),
            Ok(Poll::Ready(Err(error))) => {
                guard.core().cancel(Reason::Failed, Some(Box::new(error)));
                Poll::Ready(Err(ChildError::Failed))
            }
            Err(payload) => {
                guard.core().cancel(Reason::Panicked, Some(payload));
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
    ///
    /// A scope completes once every child's future has been dropped; on a
    /// multi-thread runtime a child's task may still be storing its output at that
    /// moment, so this can be `false` for a short while after the scope returned
    /// (tokio's `num_alive_tasks` and the tracked-task registry lag just as long).
    /// Awaiting the handle returns the output regardless.
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
