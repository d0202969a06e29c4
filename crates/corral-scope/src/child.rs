//! A child task: the wrapper future the group spawns, and the handle the spawner gets.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use corral_semaphore::OwnedPermit;
use tokio::task::{Id, JoinHandle};

use crate::context::enter;
use crate::core::Core;
use crate::error::ChildError;
use crate::group::Payload;

pin_project_lite::pin_project! {
    /// The spawned future: runs the child, stops it when the group is cancelled (or,
    /// for a background child, when the owner's body is over), records an error or a
    /// panic (from its poll or its drop) with the group, and on drop gives back the
    /// admission slot and counts the child as gone.
    pub(crate) struct Child<F, E> {
        // Dropped first (in `drop` below, under `catch_unwind`): the child's own
        // destructors have run, and a panic in them is recorded with the group, before
        // the group counts it gone. `None` once dropped.
        #[pin]
        future: Option<F>,
        guard: Guard,
        _error: PhantomData<fn() -> E>,
    }

    impl<F, E> PinnedDrop for Child<F, E> {
        fn drop(this: Pin<&mut Self>) {
            // Aborted through its handle, shut down with the runtime, or finished.
            let this = this.project();
            if let Some(payload) = drop_future(this.future) {
                this.guard.core().panicked(payload);
            }
        }
    }
}

/// Drops the child's future in place, catching a panic from its destructors. The slot
/// is `None` afterwards either way (an assignment whose drop unwinds still stores the
/// new value, and the drop glue of the rest of the future still runs).
pub(crate) fn drop_future<F>(mut slot: Pin<&mut Option<F>>) -> Option<Payload> {
    if slot.is_none() {
        return None;
    }
    // Nothing of the future is observed after its drop unwound: unwind safety holds.
    catch_unwind(AssertUnwindSafe(|| slot.set(None))).err()
}

/// Dropped with the child's future, after it: releases the slot, then completes.
struct Guard {
    /// `None` only while the child is being polled: the core is then the current scope.
    core: Option<Arc<Core>>,
    permit: Option<OwnedPermit>,
    /// The child's registration for the cancel, once it has returned `Pending`.
    key: Option<usize>,
    /// Stopped when the owner's body is over, not only when the group is cancelled.
    background: bool,
}

impl Guard {
    fn core(&self) -> &Core {
        self.core
            .as_deref()
            .expect("the core is back in its slot after every poll")
    }

    /// Stops the child: drops its future now. A panic from its destructors cancels
    /// the group and resumes in the owner like a panic from its poll.
    fn stop<F, T>(&self, slot: Pin<&mut Option<F>>) -> Result<T, ChildError> {
        match drop_future(slot) {
            None => Err(ChildError::Cancelled),
            Some(payload) => {
                self.core().panicked(payload);
                Err(ChildError::Panicked)
            }
        }
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
    pub(crate) fn new(
        future: F,
        core: Arc<Core>,
        permit: Option<OwnedPermit>,
        background: bool,
    ) -> Self {
        Child {
            future: Some(future),
            guard: Guard {
                core: Some(core),
                permit,
                key: None,
                background,
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
        if guard.core().group.must_stop(guard.background) {
            // Woken by the cancel (or polled after it): stop here, as an abort would.
            return Poll::Ready(guard.stop(slot));
        }
        let Some(future) = slot.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(ChildError::Cancelled));
        };
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
                    match guard
                        .core()
                        .group
                        .register(cx.waker().clone(), guard.background)
                    {
                        Some(key) => guard.key = Some(key),
                        None => return Poll::Ready(guard.stop(slot)),
                    }
                }
                Poll::Pending
            }
            Ok(Poll::Ready(Ok(value))) => Poll::Ready(Ok(value)),
            Ok(Poll::Ready(Err(error))) => {
                guard.core().fail(Box::new(error));
                Poll::Ready(Err(ChildError::Failed))
            }
            Err(payload) => {
                guard.core().panicked(payload);
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
    /// `None` for a child refused by [`Scope::go`](crate::Scope::go): never started.
    join: Option<JoinHandle<Result<T, ChildError>>>,
}

impl<T> ChildHandle<T> {
    pub(crate) fn new(join: JoinHandle<Result<T, ChildError>>) -> Self {
        Self { join: Some(join) }
    }

    /// The handle of a child that was refused and dropped unstarted: it yields
    /// [`ChildError::Cancelled`].
    pub(crate) fn refused() -> Self {
        Self { join: None }
    }

    /// Aborts this child only. Its handle then yields [`ChildError::Cancelled`]
    /// (unless it had already finished); the group is not cancelled and the siblings run on.
    pub fn abort(&self) {
        if let Some(join) = &self.join {
            join.abort();
        }
    }

    /// Whether the child has finished (completed, failed, panicked or been aborted).
    ///
    /// A scope completes once every child's future has been dropped; on a
    /// multi-thread runtime a child's task may still be storing its output at that
    /// moment, so this can be `false` for a short while after the scope returned
    /// (tokio's `num_alive_tasks` and the tracked-task registry lag just as long).
    /// Awaiting the handle returns the output regardless.
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// The tokio task id of the child; `None` for a child [`Scope::go`](crate::Scope::go)
    /// refused (it never became a task).
    pub fn id(&self) -> Option<Id> {
        self.join.as_ref().map(JoinHandle::id)
    }
}

impl<T> Future for ChildHandle<T> {
    type Output = Result<T, ChildError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(join) = self.join.as_mut() else {
            return Poll::Ready(Err(ChildError::Cancelled));
        };
        Poll::Ready(match ready!(Pin::new(join).poll(cx)) {
            Ok(output) => output,
            // Our wrapper catches panics of the child's poll and drop; tokio reports a
            // panic only from elsewhere in the task (a tracked-task hook), if ever.
            Err(join) if join.is_panic() => Err(ChildError::Panicked),
            Err(_) => Err(ChildError::Cancelled),
        })
    }
}

impl<T> std::fmt::Debug for ChildHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}
