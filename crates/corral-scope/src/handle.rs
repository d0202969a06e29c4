//! `Scope`: the handle through which a scope's body and children spawn into the group.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use corral_semaphore::TryAcquireError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::builder::ChildBuilder;
use crate::child::ChildHandle;
use crate::core::{ChildOptions, Core};
use crate::error::TrySpawnError;
use crate::group::Reason;
use crate::parked::Parked;
use crate::spawn::Spawn;

/// A handle to a running scope: spawn children into its group, watch its token.
///
/// The body of [`scope`](crate::scope) receives one; clone it freely (it is an `Arc`)
/// and move clones into children so they can spawn siblings: everything spawned through
/// any clone belongs to the same group, is joined by the same owner, and is aborted with
/// it. A clone that outlives the scope can no longer spawn: it is refused with the
/// future handed back.
///
/// `E` is the group's error type: every child returns `Result<T, E>`.
///
/// On a multi-thread runtime a handle keeps a reference to the task of each of the last
/// 1,024 children it spawned, so that a finished child's task memory is freed by the
/// spawning thread rather than the worker that ran it (which contended with the
/// spawner's allocations); see BENCHMARKS.md, "Session 6: mt2". This holds the memory
/// block only (not the child's output, its future or its place in the group), for at
/// most 1,024 spawns through the same handle or until the handle is dropped, and no
/// more children than were live at its latest spawn. A clone starts with none; a scope
/// with a concurrency limit keeps none.
pub struct Scope<E> {
    pub(crate) core: Arc<Core>,
    /// The latest children spawned through this handle, on a multi-thread runtime.
    pub(crate) parked: Parked,
    _error: PhantomData<fn(E) -> E>,
}

impl<E> Clone for Scope<E> {
    fn clone(&self) -> Self {
        Self::new(self.core.clone())
    }
}

impl<E> std::fmt::Debug for Scope<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("live_children", &self.core.group.live())
            .field("cancelled", &self.core.group.is_cancelled())
            .field("closed", &self.core.group.is_closed())
            .field("deadline", &self.core.deadline)
            .finish()
    }
}

impl<E> Scope<E> {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            parked: Parked::default(),
            _error: PhantomData,
        }
    }

    /// Spawns an admitted child through [`Core::spawn_child`] and keeps its task (see
    /// [`Parked`]); hands the future back if the group refuses it.
    #[track_caller]
    pub(crate) fn spawn_child<F, T, P>(
        &self,
        future: F,
        permit: Option<P>,
        options: &ChildOptions,
    ) -> Result<ChildHandle<T>, F>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        P: Send + 'static,
    {
        let (child, live) = self.core.spawn_child(future, permit, options)?;
        // Not in a limited scope: its spawner waits for slots, so it never runs ahead
        // of the workers, and the frees kept for it only lengthened its path (a
        // `limit(64)` scope on `mt2` went from 0.70-0.73x to 0.86x `JoinSet` +
        // `Semaphore(64)` with them).
        if self.core.limit.is_none() {
            self.parked.park(&child, live);
        }
        Ok(child)
    }

    /// A token cancelled when the group is cancelled (a child fails or panics, the
    /// deadline passes, [`Scope::cancel`], the owner is dropped) and when the scope is
    /// over, however it ended. Not when only background children are stopped. It is
    /// cancelled before any child or the body is dropped for the group's cancel, so a
    /// destructor that checks it sees it cancelled.
    ///
    /// Children are aborted at their next await anyway; the token is for code between
    /// awaits, for `spawn_blocking` sections, and for threads that must stop too. A
    /// nested scope's token is a child token of its parent's.
    pub fn token(&self) -> CancellationToken {
        self.core.token.clone()
    }

    /// The group's deadline: the minimum of its own and every enclosing scope's.
    pub fn deadline(&self) -> Option<Instant> {
        self.core.deadline
    }

    /// Whether the group is cancelled (spawning is refused from then on).
    pub fn is_cancelled(&self) -> bool {
        self.core.group.is_cancelled()
    }

    /// Stops the group by hand (Trio's `nursery.cancel_scope.cancel()`): the body is
    /// dropped at the end of its current poll, every child is cancelled at its next
    /// await, the token is cancelled, spawning is refused from now on, and once
    /// everything is down the scope yields [`ScopeError::Cancelled`](crate::ScopeError::Cancelled),
    /// distinct from a child's error and from the deadline.
    ///
    /// If the group was already cancelled for another reason (a child failed or
    /// panicked, the deadline passed), that first reason stays the scope's result.
    /// Calling it again, or on a finished scope, does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral_scope::{scope, ScopeError};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = scope(|s| async move {
    ///     // A child that would run forever, stopped with the rest of the group.
    ///     s.go(std::future::pending::<Result<(), std::io::Error>>());
    ///     s.cancel();
    ///     Ok(())
    /// })
    /// .await;
    /// assert!(matches!(out, Err(ScopeError::Cancelled)));
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.core.cancel(Reason::Cancelled, None);
    }

    /// Whether the scope is closed: it finished or its owner was dropped.
    pub fn is_closed(&self) -> bool {
        self.core.group.is_closed()
    }

    /// Children admitted and not yet gone (finished, failed or aborted, with their
    /// future dropped), plus nested scopes created in the group that are not down yet.
    pub fn live_children(&self) -> usize {
        self.core.group.live()
    }
}

impl<E: Send + 'static> Scope<E> {
    /// Spawns `future` as a child of this scope, first waiting for a free slot if the
    /// scope is at its concurrency limit.
    ///
    /// If a slot is free now (always, without a limit), the child starts at this call
    /// and the returned future is ready at once; otherwise it waits for a slot when
    /// awaited. The child is registered with its spawn location (this call) when it
    /// starts at once; a child that had to wait is registered with `corral-scope`'s own
    /// location, since tracked spawn takes no explicit location.
    ///
    /// The child is a tracked task (`corral_task::spawn`) that runs in parallel on the
    /// runtime. If it returns `Err(e)`, the group is cancelled and `e` becomes the
    /// scope's error (if it is the first); if it panics, the group is cancelled and the
    /// panic resumes in the owner once every child is down.
    ///
    /// Waiters are admitted in FIFO order; there is no hidden queue: a child not yet
    /// admitted is this future, held by its spawner.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Closed`](crate::SpawnError::Closed) with the future handed back if
    /// the scope is closed or cancelled, before or while waiting, whoever calls it (the
    /// body, a child, or a handle that escaped the scope). So `.expect(..)` on it can
    /// panic inside a scope whose sibling just failed; in a scope without a limit,
    /// [`Scope::go`] needs no unwrapping at all.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the returned future while it waits drops `future`
    /// unstarted and gives up its place in line; no slot is taken. A child that started
    /// at the call keeps running in its group (only the handle is dropped).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    #[track_caller]
    pub fn spawn<F, T>(&self, future: F) -> Spawn<'_, F, T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        Spawn::new(self, future, ChildOptions::PLAIN)
    }

    /// Spawns `future` as a child, at once and without ceremony: the spawn for a scope
    /// without a concurrency limit (errgroup's `Go`, Trio's `start_soon`).
    ///
    /// The child starts at this call, with the same rules as [`Scope::spawn`]: its
    /// error cancels the group and becomes the scope's result, its panic resumes in the
    /// owner. If the group is cancelled or finished, the child is cancelled before it
    /// starts: `future` is dropped here, unpolled, and the handle yields
    /// [`ChildError::Cancelled`](crate::ChildError::Cancelled), as for a child the
    /// cancel reached before its first poll. Use [`Scope::spawn`] or
    /// [`Scope::try_spawn`] to get the future back instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let sum = corral_scope::scope(|s| async move {
    ///     let a = s.go(async { Ok::<_, std::io::Error>(1) });
    ///     let b = s.go(async { Ok(2) });
    ///     // A handle yields `ChildError`; map it into the scope's error type.
    ///     let (a, b) = (a.await.unwrap_or(0), b.await.unwrap_or(0));
    ///     Ok(a + b)
    /// })
    /// .await;
    /// assert_eq!(sum.unwrap(), 3);
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If the scope has a concurrency limit (a child cannot start at once there: use
    /// [`Scope::spawn`], which waits for a slot, or [`Scope::try_spawn`]); outside a
    /// tokio runtime, as `tokio::spawn` does.
    #[track_caller]
    pub fn go<F, T>(&self, future: F) -> ChildHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.go_with(future, &ChildOptions::PLAIN)
    }

    /// A builder for one child: a name of its own, or running in the background.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = corral_scope::scope(|s| async move {
    ///     s.child().name("cache-refresh").go(async { Ok::<_, std::io::Error>(()) });
    ///     Ok(())
    /// })
    /// .await;
    /// assert!(out.is_ok());
    /// # }
    /// ```
    pub fn child(&self) -> ChildBuilder<'_, E> {
        ChildBuilder::new(self)
    }

    #[track_caller]
    pub(crate) fn go_with<F, T>(&self, future: F, options: &ChildOptions) -> ChildHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        assert!(
            self.core.limit.is_none(),
            "`Scope::go` on a scope with a concurrency limit: use `spawn(..).await` or `try_spawn`"
        );
        match self.spawn_child(future, None::<()>, options) {
            Ok(child) => child,
            Err(future) => {
                drop(future);
                ChildHandle::refused()
            }
        }
    }

    /// Spawns `future` as a child if a slot is free right now.
    ///
    /// Never waits and never queues; does not jump ahead of spawners already waiting
    /// in [`Scope::spawn`].
    ///
    /// # Errors
    ///
    /// [`TrySpawnError::Full`] at the limit, [`TrySpawnError::Closed`] if the scope is
    /// closed or cancelled; both hand the future back.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    #[track_caller]
    pub fn try_spawn<F, T>(&self, future: F) -> Result<ChildHandle<T>, TrySpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.try_spawn_with(future, &ChildOptions::PLAIN)
    }

    #[track_caller]
    pub(crate) fn try_spawn_with<F, T>(
        &self,
        future: F,
        options: &ChildOptions,
    ) -> Result<ChildHandle<T>, TrySpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let permit = match &self.core.limit {
            None => {
                return self
                    .spawn_child(future, None::<()>, options)
                    .map_err(TrySpawnError::Closed)
            }
            Some(_) if self.core.group.must_stop(options.background) => {
                return Err(TrySpawnError::Closed(future))
            }
            Some(limit) => match limit.try_acquire_owned(1) {
                Ok(permit) => permit,
                Err(TryAcquireError::NoPermits { .. }) => return Err(TrySpawnError::Full(future)),
                // A limit is at least 1, so one permit is never too large: closed.
                Err(TryAcquireError::Closed | TryAcquireError::TooLarge { .. }) => {
                    return Err(TrySpawnError::Closed(future))
                }
            },
        };
        self.spawn_child(future, Some(permit), options)
            .map_err(TrySpawnError::Closed)
    }
}
