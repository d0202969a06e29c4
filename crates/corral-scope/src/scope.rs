//! `scope()` and the owner's future, `ScopeFuture`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Sleep;

use crate::config::ScopeConfig;
use crate::context::{enter, Core};
use crate::error::ScopeError;
use crate::group::Reason;
use crate::handle::Scope;

/// Runs `body` as the owner of a new task group and completes once every child it
/// spawned (directly or through clones of the handle) has finished.
///
/// - The body and the children return `Result<_, E>`. The first `Err` cancels the
///   group: the body is dropped, every child is aborted, their `token` is cancelled,
///   and the scope yields [`ScopeError::Failed`] once they are all down.
/// - A child's panic cancels the group the same way, then resumes in the owner
///   (`std::panic::resume_unwind`) once the others are down. A panic wins over an error.
/// - Dropping the returned future aborts every child at once (nothing spawned in the
///   scope outlives it) and cancels the token.
/// - A scope created inside another scope's body or child is nested: its deadline is
///   the minimum of its own and its parent's, and its token is a child of the parent's.
///   The parent is found through a task-local that the body and every child run in.
///   A nested scope counts as one of its parent's live children from its creation
///   until it is down (finished, or dropped and its own children gone), so a parent
///   never returns while a nested scope's children run. Await or drop a nested scope
///   inside the parent: one handed out of it (say, returned unpolled as the body's
///   value) keeps the parent waiting.
///
/// For a deadline or a concurrency limit, use [`ScopeConfig`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let total = corral_scope::scope(|s| async move {
///     let a = s.spawn(async { Ok::<_, std::io::Error>(1) }).await.expect("open");
///     let b = s.spawn(async { Ok(2) }).await.expect("open");
///     Ok(a.await.unwrap_or(0) + b.await.unwrap_or(0))
/// })
/// .await;
/// assert_eq!(total.unwrap(), 3);
/// # }
/// ```
///
/// # Cancel safety
///
/// Dropping the future cancels the whole group: the body is dropped and every child is
/// aborted (each stops at its next await, or before it starts). Nothing is detached;
/// outputs not yet read are lost.
///
/// # Panics
///
/// Resumes a child's panic, as above. Polling the scope outside a tokio runtime
/// panics if it has a deadline (it needs the runtime's timer).
pub fn scope<F, Fut, R, E>(body: F) -> ScopeFuture<Fut, R, E>
where
    F: FnOnce(Scope<E>) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    E: Send + 'static,
{
    ScopeConfig::default().scope(body)
}

pin_project_lite::pin_project! {
    /// The owner's future, returned by [`scope`] and [`ScopeConfig::scope`]: the body
    /// plus the join of every child. Yields the body's value, or a [`ScopeError`].
    ///
    /// # Cancel safety
    ///
    /// Dropping it aborts every child at once and cancels the scope's token.
    #[must_use = "dropping a scope aborts its children; the body runs only when it is awaited"]
    pub struct ScopeFuture<Fut, R, E> {
        #[pin]
        body: Option<Fut>,
        // The body's current scope, moved in while the body is polled.
        current: Option<Arc<Core>>,
        sleep: Option<Pin<Box<Sleep>>>,
        output: Option<R>,
        core: Arc<Core>,
        done: bool,
        _error: PhantomData<fn() -> E>,
    }

    impl<Fut, R, E> PinnedDrop for ScopeFuture<Fut, R, E> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.done {
                this.core.abandon();
            }
        }
    }
}

impl<Fut, R, E> ScopeFuture<Fut, R, E> {
    pub(crate) fn new<F>(core: Arc<Core>, body: F) -> Self
    where
        F: FnOnce(Scope<E>) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let body = body(Scope::new(core.clone()));
        ScopeFuture {
            body: Some(body),
            current: Some(core.clone()),
            sleep: None,
            output: None,
            core,
            done: false,
            _error: PhantomData,
        }
    }
}

impl<Fut, R, E> Future for ScopeFuture<Fut, R, E>
where
    Fut: Future<Output = Result<R, E>>,
    E: Send + 'static,
{
    type Output = Result<R, ScopeError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`ScopeFuture` polled after completion");
        let core = &**this.core;

        if let Some(deadline) = core.deadline {
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if sleep.as_mut().poll(cx).is_ready() {
                core.cancel(Reason::Deadline, None);
            }
        }

        // The waker is stored before the state is read: a cancel or a last completion
        // after this point finds it.
        core.group.set_owner(cx.waker());

        if let Some(body) = this.body.as_mut().as_pin_mut() {
            if !core.group.is_cancelled() {
                match enter(this.current, || body.poll(cx)) {
                    Poll::Pending => {}
                    Poll::Ready(Ok(value)) => {
                        *this.output = Some(value);
                        this.body.set(None);
                    }
                    Poll::Ready(Err(error)) => {
                        this.body.set(None);
                        core.cancel(Reason::Failed, Some(Box::new(error)));
                    }
                }
            }
            if core.group.is_cancelled() {
                this.body.set(None);
            }
            if this.body.is_some() {
                return Poll::Pending;
            }
        }

        core.group.wait();
        let Some(outcome) = core.group.try_finish() else {
            return Poll::Pending;
        };
        *this.done = true;
        core.after_cancel();
        core.release_parent();
        if let Some(payload) = outcome.panic {
            resume_unwind(payload);
        }
        Poll::Ready(match (outcome.reason, this.output.take()) {
            (None, Some(value)) => Ok(value),
            (Some(Reason::Deadline), _) => Err(ScopeError::DeadlineExceeded),
            (Some(Reason::Failed), _) => match outcome.error.map(|e| e.downcast::<E>()) {
                Some(Ok(error)) => Err(ScopeError::Failed(*error)),
                // Only `Scope<E>` handles and the body (both typed by `E`) record
                // errors in this group, and a `Failed` reason always comes with one.
                _ => unreachable!("scope failed without an error of its type"),
            },
            // A panic payload was resumed above; only `Drop` abandons the group; the
            // body's value is stored whenever no reason was recorded.
            (reason, _) => unreachable!("scope finished in an impossible state: {reason:?}"),
        })
    }
}

impl<Fut, R, E> fmt::Debug for ScopeFuture<Fut, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeFuture")
            .field("body_running", &self.body.is_some())
            .field("live_children", &self.core.group.live())
            .field("cancelled", &self.core.group.is_cancelled())
            .field("deadline", &self.core.deadline)
            .field("done", &self.done)
            .finish()
    }
}
