//! `Spawn`: the future returned by `Scope::spawn`, which waits for an admission slot.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use corral_semaphore::{AcquireOwned, TryAcquireError};

use crate::child::ChildHandle;
use crate::core::ChildOptions;
use crate::error::SpawnError;
use crate::handle::Scope;

/// Future returned by [`Scope::spawn`]: resolves to the child's handle once the child is
/// admitted and running, or hands the future back if the scope is closed.
///
/// If a slot was free when `spawn` was called (always, in a scope without a limit), the
/// child is already running and this future is ready at once. Otherwise it waits in
/// FIFO order for a slot when awaited.
///
/// It resolves to [`SpawnError::Closed`] with the future handed back as soon as the
/// group is cancelled or finished, whoever calls it: the body, a child, or a handle
/// that escaped the scope. A spawner waiting for a slot is woken with `Closed` by the
/// cancel.
///
/// # Cancel safety
///
/// Cancel safe: dropping it while it waits drops the unstarted future and its place in
/// line; no slot is taken. Dropping it once the child is running drops only the handle
/// (the child stays in its group).
#[must_use = "a child that had to wait for a slot is spawned only when this future is awaited"]
pub struct Spawn<'a, F, T, E> {
    scope: &'a Scope<E>,
    state: State<F, T>,
}

enum State<F, T> {
    /// Admitted (or refused) at the call.
    Done(Option<Result<ChildHandle<T>, SpawnError<F>>>),
    /// Waiting for a slot.
    Waiting {
        future: F,
        acquire: AcquireOwned,
        options: ChildOptions,
    },
}

// `F` is only moved, never pinned: `Spawn` is `Unpin` whatever `F` is.
impl<F, T, E> Unpin for Spawn<'_, F, T, E> {}

impl<'a, F, T, E> Spawn<'a, F, T, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    /// Admits `future` now if a slot is free, else prepares to wait for one.
    #[track_caller]
    pub(crate) fn new(scope: &'a Scope<E>, future: F, options: ChildOptions) -> Self {
        let core = &scope.core;
        let done = |result: Result<ChildHandle<T>, F>| Spawn {
            scope,
            state: State::Done(Some(result.map_err(SpawnError::Closed))),
        };
        let Some(limit) = &core.limit else {
            return done(scope.spawn_child(future, None::<()>, &options));
        };
        if core.group.must_stop(options.background) {
            return done(Err(future));
        }
        match limit.try_acquire_owned(1) {
            Ok(permit) => done(scope.spawn_child(future, Some(permit), &options)),
            Err(TryAcquireError::NoPermits { .. }) => Spawn {
                scope,
                state: State::Waiting {
                    future,
                    acquire: limit.acquire_owned(1),
                    options,
                },
            },
            // A limit is at least 1, so one permit is never too large.
            Err(TryAcquireError::Closed | TryAcquireError::TooLarge { .. }) => done(Err(future)),
        }
    }
}

impl<F, T, E> Future for Spawn<'_, F, T, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = Result<ChildHandle<T>, SpawnError<F>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let permit = match &mut this.state {
            State::Done(result) => {
                return Poll::Ready(result.take().expect("`Spawn` polled after completion"))
            }
            State::Waiting { acquire, .. } => match Pin::new(acquire).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(permit) => permit.ok(),
            },
        };
        let State::Waiting {
            future, options, ..
        } = std::mem::replace(&mut this.state, State::Done(None))
        else {
            unreachable!("state checked above");
        };
        Poll::Ready(
            match permit {
                // The semaphore is closed only when the group is cancelled or over.
                None => Err(future),
                Some(permit) => this.scope.spawn_child(future, Some(permit), &options),
            }
            .map_err(SpawnError::Closed),
        )
    }
}

impl<F, T, E> fmt::Debug for Spawn<'_, F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawn")
            .field("scope", &self.scope)
            .field(
                "waiting_for_slot",
                &matches!(self.state, State::Waiting { .. }),
            )
            .finish()
    }
}
