//! A child task: the wrapper future the group spawns, and the handle the spawner gets.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::task::{Id, JoinHandle};

use crate::context::enter;
use crate::core::Core;
use crate::error::ChildError;
use crate::group::{Key, Payload};

pin_project_lite::pin_project! {
    /// The spawned future: runs the child, stops it when the group is cancelled (or,
    /// for a background child, when the owner's body is over), records an error or a
    /// panic (from its poll or its drop) with the group, and on drop gives back the
    /// admission slot and counts the child as gone.
    ///
    /// Kept small on purpose: with a small future, `Tracked<Child<..>>` fits in 24
    /// bytes, so the child's whole tokio task is one 128-byte cell (two cache lines)
    /// like a plain tracked task's, not 256 bytes. So the fields are flat (the
    /// future's state byte shares the padding), the key is 4 bytes, and a scope
    /// without a limit spawns `P = ()`: its permit field is one byte.
    pub(crate) struct Child<F, P, E> {
        // Dropped first (in `drop` below, under `catch_unwind`): the child's own
        // destructors have run, and a panic in them is recorded with the group, before
        // the group counts it gone. `None` once dropped.
        #[pin]
        future: Option<F>,
        // `None` only while the child is being polled: the core is then the current
        // scope.
        core: Option<Arc<Core>>,
        // The admission slot of a limited scope (`P` = `OwnedPermit`), or nothing
        // (`P` = `()`, one byte); released before the child is counted gone.
        permit: Option<P>,
        // The child's registration for the cancel, once it has returned `Pending`.
        key: Option<Key>,
        // Stopped when the owner's body is over, not only when the group is cancelled.
        background: bool,
        _error: PhantomData<fn() -> E>,
    }

    impl<F, P, E> PinnedDrop for Child<F, P, E> {
        fn drop(this: Pin<&mut Self>) {
            // Aborted through its handle, shut down with the runtime, or finished.
            let this = this.project();
            let Some(core) = this.core.take() else {
                return;
            };
            if let Some(payload) = drop_future(this.future) {
                core.panicked(payload);
            }
            drop(this.permit.take());
            if let Some(key) = this.key.take() {
                core.group.deregister(key);
            }
            if core.group.complete(*this.background) {
                // The last child of an abandoned nested scope: that scope is down.
                core.release_parent();
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

/// The core in a child's slot, outside its poll.
fn core_of(core: &Option<Arc<Core>>) -> &Core {
    core.as_deref()
        .expect("the core is back in its slot after every poll")
}

/// Stops the child: drops its future now. A panic from its destructors cancels the
/// group and resumes in the owner like a panic from its poll.
fn stop<F, T>(core: &Core, slot: Pin<&mut Option<F>>) -> Result<T, ChildError> {
    core.cancel_token_before_stopping();
    match drop_future(slot) {
        None => Err(ChildError::Cancelled),
        Some(payload) => {
            core.panicked(payload);
            Err(ChildError::Panicked)
        }
    }
}

impl<F, P, E> Child<F, P, E> {
    pub(crate) fn new(future: F, core: Arc<Core>, permit: Option<P>, background: bool) -> Self {
        Child {
            future: Some(future),
            core: Some(core),
            permit,
            key: None,
            background,
            _error: PhantomData,
        }
    }
}

impl<F, P, T, E> Future for Child<F, P, E>
where
    F: Future<Output = Result<T, E>>,
    E: Send + 'static,
{
    type Output = Result<T, ChildError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut slot = this.future;
        let background = *this.background;
        if core_of(this.core).group.must_stop(background) {
            // Woken by the cancel (or polled after it): stop here, as an abort would.
            return Poll::Ready(stop(core_of(this.core), slot));
        }
        let Some(future) = slot.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(ChildError::Cancelled));
        };
        // The future is never polled again after a panic (we return Ready), so a
        // broken invariant inside it cannot be observed: unwind safety holds.
        let polled = enter(this.core, || {
            catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
        });
        let core = core_of(this.core);
        match polled {
            Ok(Poll::Pending) => {
                // First time pending: register for the cancel. The task's waker stays
                // the same for its whole life (this future is the task's root), so
                // once is enough.
                if this.key.is_none() {
                    match core.group.register(cx.waker().clone(), background) {
                        Some(key) => *this.key = Some(key),
                        None => return Poll::Ready(stop(core, slot)),
                    }
                }
                Poll::Pending
            }
            Ok(Poll::Ready(Ok(value))) => Poll::Ready(Ok(value)),
            Ok(Poll::Ready(Err(error))) => {
                core.fail(Box::new(error));
                Poll::Ready(Err(ChildError::Failed))
            }
            Err(payload) => {
                core.panicked(payload);
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

    /// A reference to the child's task that keeps its memory allocated (see
    /// `parked`); `None` for a refused child.
    pub(crate) fn task(&self) -> Option<tokio::task::AbortHandle> {
        self.join.as_ref().map(JoinHandle::abort_handle)
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

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use std::future::Future;

    use corral_semaphore::OwnedPermit;

    use super::Child;

    fn spawned_size<F: Future, P>(_: &F) -> usize {
        std::mem::size_of::<corral_task::Tracked<Child<F, P, ()>>>()
    }

    /// What tokio allocates per task is a 128-byte-aligned cell: header, scheduler,
    /// id, the future (or its output) and trailer. A spawned future of up to 24 bytes
    /// with a small output keeps it at 128 bytes (measured with tokio 1.54 on x86_64);
    /// one byte more makes it 256: 100k such children gave 4.7x the simulated
    /// last-level cache misses of one-cell children (BENCHMARKS.md). A small child of
    /// a scope without a limit must stay inside that budget.
    #[test]
    fn a_small_child_of_an_unlimited_scope_fits_a_one_cell_task() {
        let child = async { Ok::<(), ()>(()) };
        assert!(
            spawned_size::<_, ()>(&child) <= 24,
            "{} bytes",
            spawned_size::<_, ()>(&child)
        );
        // A limited scope's child also carries its permit (16 bytes).
        assert!(spawned_size::<_, OwnedPermit>(&child) > 24);
    }
}
