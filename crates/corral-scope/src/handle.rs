//! `Scope`: the handle through which a scope's body and children spawn into the group.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use corral_semaphore::TryAcquireError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::child::ChildHandle;
use crate::context::Core;
use crate::error::TrySpawnError;
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
pub struct Scope<E> {
    pub(crate) core: Arc<Core>,
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
            _error: PhantomData,
        }
    }

    /// A token cancelled when the group is cancelled (a child fails or panics, the
    /// deadline passes, the owner is dropped) and when the scope is over, however it
    /// ended.
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
    /// the scope is closed or cancelled, before or while waiting, when called from
    /// outside the group (a handle that escaped the scope). Called from the scope's own
    /// body or children it never fails: once the group is cancelled they are being
    /// stopped, and the spawn stays pending until its caller is dropped (see
    /// [`Spawn`](crate::Spawn)). So `.expect(..)` on it inside the scope cannot panic,
    /// but a blocking `block_on` of it there never returns once the group is cancelled.
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
        Spawn::new(self, future)
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
        let permit = match &self.core.limit {
            None => None,
            Some(_) if self.core.group.is_cancelled() => return Err(TrySpawnError::Closed(future)),
            Some(limit) => match limit.try_acquire_owned(1) {
                Ok(permit) => Some(permit),
                Err(TryAcquireError::NoPermits { .. }) => return Err(TrySpawnError::Full(future)),
                // A limit is at least 1, so one permit is never too large: closed.
                Err(TryAcquireError::Closed | TryAcquireError::TooLarge { .. }) => {
                    return Err(TrySpawnError::Closed(future))
                }
            },
        };
        self.core
            .spawn_child(future, permit)
            .map_err(TrySpawnError::Closed)
    }
}
