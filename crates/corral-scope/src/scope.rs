//! `scope()` and the owner's future, `ScopeFuture`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Sleep;

use crate::child::drop_future;
use crate::config::ScopeConfig;
use crate::context::enter;
use crate::core::Core;
use crate::error::ScopeError;
use crate::group::Reason;
use crate::handle::Scope;

/// Runs `body` as the owner of a new task group and completes once every child it
/// spawned (directly or through clones of the handle) has finished.
///
/// - The body and the children return `Result<_, E>`. The first `Err` cancels the
///   group: the body is dropped, every child is aborted, their `token` is cancelled,
///   and the scope yields [`ScopeError::Failed`] once they are all down.
/// - A panic (of a child's poll or destructor, or of the body's poll or destructor)
///   cancels the group the same way, then resumes in the owner
///   (`std::panic::resume_unwind`) once the children are down. A panic wins over an
///   error.
/// - [`Scope::cancel`] stops the group by hand; the scope then yields
///   [`ScopeError::Cancelled`].
/// - Dropping the returned future aborts every child at once (nothing spawned in the
///   scope outlives it) and cancels the token.
/// - A scope created inside another scope's body or child is nested: its deadline is
///   the minimum of its own and its parent's, and its token is a child of the parent's.
///   The parent is found through a task-local that the body and every child run in.
///   A nested scope counts as one of its parent's live children from its creation
///   until it is down (finished, or dropped and its own children gone), so a parent
///   never returns while a nested scope's children run; one created while its parent
///   is cancelled is born cancelled (its body never runs; it yields
///   [`ScopeError::Cancelled`]). Await or drop a nested scope inside the parent: one
///   handed out of it (say, returned unpolled as the body's value) keeps the parent
///   waiting.
///
/// For a deadline or a concurrency limit, use [`ScopeConfig`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let total = corral_scope::scope(|s| async move {
///     let a = s.go(async { Ok::<_, std::io::Error>(1) });
///     let b = s.go(async { Ok(2) });
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
/// Resumes a panic of a child or of the body once the children are down, as above. A
/// panic in `body` itself (the closure, before it returns the future) cannot wait, as
/// there is no future yet: the children it started are aborted and the panic
/// propagates from this call at once. Polling the scope outside a tokio runtime
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
        // The deadline's timer, pinned in place; created at the first poll of a scope
        // with a deadline.
        #[pin]
        sleep: Option<Sleep>,
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
        // A panic here comes before there is a future to wait in: the group is
        // abandoned (children the closure started are stopped, not awaited) and the
        // panic goes on at once.
        let scope = Scope::new(core.clone());
        let body = match catch_unwind(AssertUnwindSafe(|| body(scope))) {
            Ok(body) => body,
            Err(payload) => {
                core.abandon();
                resume_unwind(payload);
            }
        };
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

        // Whether the deadline has passed. It is applied only below, to a body still
        // running after this poll or a group not finished: work that is done counts as
        // done in time, however late the owner is polled to see it (as with
        // `tokio::time::timeout`, whose ready value wins over an elapsed deadline).
        let mut expired = false;
        if let Some(deadline) = core.deadline {
            if this.sleep.is_none() {
                this.sleep.set(Some(tokio::time::sleep_until(deadline)));
            }
            let sleep = this.sleep.as_mut().as_pin_mut().expect("set above");
            expired = sleep.poll(cx).is_ready();
        }

        // The waker is stored before the state is read: a cancel or a last completion
        // after this point finds it.
        core.group.set_owner(cx.waker());

        if let Some(body) = this.body.as_mut().as_pin_mut() {
            if !core.group.is_cancelled() {
                // A panic in the body is caught here, like a child's: it cancels the
                // group and resumes once the children are down. The body is never
                // polled again after it panicked (it is dropped below), so a broken
                // invariant inside it cannot be observed.
                let polled = enter(this.current, || {
                    catch_unwind(AssertUnwindSafe(|| body.poll(cx)))
                });
                match polled {
                    Ok(Poll::Pending) => {}
                    Ok(Poll::Ready(Ok(value))) => {
                        *this.output = Some(value);
                        drop_body(core, this.body.as_mut());
                    }
                    Ok(Poll::Ready(Err(error))) => {
                        drop_body(core, this.body.as_mut());
                        core.cancel(Reason::Failed, Some(Box::new(error)));
                    }
                    Err(payload) => core.panicked(payload),
                }
            }
            if expired && this.body.is_some() {
                expire(core);
            }
            if core.group.is_cancelled() {
                core.cancel_token_before_stopping();
                drop_body(core, this.body.as_mut());
            }
            if this.body.is_some() {
                return Poll::Pending;
            }
        }

        // The body is over: background children are stopped from here on.
        core.group.wait();
        let Some(outcome) = core.group.try_finish() else {
            // Background children are being stopped, not awaited: the body's value
            // does not wait on them, so they cannot make it late.
            if expired && core.group.foreground_live() > 0 {
                expire(core);
            }
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
            (Some(Reason::Cancelled), _) => Err(ScopeError::Cancelled),
            (Some(Reason::Failed), _) => {
                // Only `Scope<E>` handles and the body (both typed by `E`) record
                // errors in this group, and a `Failed` reason always comes with one.
                let mut errors =
                    outcome
                        .errors
                        .into_iter()
                        .map(|error| match error.downcast::<E>() {
                            Ok(error) => *error,
                            Err(_) => unreachable!("scope failed with an error not of its type"),
                        });
                if core.group.collects() {
                    Err(ScopeError::Errors(errors.collect()))
                } else {
                    Err(ScopeError::Failed(
                        errors
                            .next()
                            .expect("a `Failed` reason comes with its error"),
                    ))
                }
            }
            // A panic payload was resumed above; only `Drop` abandons the group; the
            // body's value is stored whenever no reason was recorded.
            (reason, _) => unreachable!("scope finished in an impossible state: {reason:?}"),
        })
    }
}

/// The deadline has passed with the body or a child still running: cancels the group
/// for it, once. Not again at later polls: a cancel wakes the owner, and the owner
/// would wake itself at every poll until its children were down.
fn expire(core: &Core) {
    if !core.group.is_cancelled() {
        core.cancel(Reason::Deadline, None);
    }
}

/// Drops the body in place; a panic from its destructors cancels the group and resumes
/// in the owner once the children are down, like a panic from its poll.
fn drop_body<Fut>(core: &Core, body: Pin<&mut Option<Fut>>) {
    if let Some(payload) = drop_future(body) {
        core.panicked(payload);
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
