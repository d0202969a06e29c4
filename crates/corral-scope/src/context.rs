//! A scope's shared core: the group engine plus what children inherit (token, deadline)
//! and the admission limit; and the task-local through which nested scopes find it.

use std::sync::Arc;

use corral_semaphore::{OwnedPermit, Semaphore};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::child::{Child, ChildHandle};
use crate::group::{Group, Payload, Reason};

tokio::task_local! {
    /// The scope whose body or child is running on this task.
    static CURRENT: Arc<Core>;
}

/// Shared by the owner, every `Scope` handle and every child.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) group: Group<AbortHandle>,
    pub(crate) token: CancellationToken,
    pub(crate) deadline: Option<Instant>,
    /// Admission slots; `None` means unlimited.
    pub(crate) limit: Option<Arc<Semaphore>>,
}

impl Core {
    /// A core for a new scope, nested under the current one if there is one.
    pub(crate) fn new(own_deadline: Option<Instant>, limit: Option<u64>) -> Arc<Self> {
        let parent = CURRENT
            .try_with(|p| (p.deadline, p.token.child_token()))
            .ok();
        let (deadline, token) = match parent {
            Some((parent_deadline, token)) => (min_deadline(parent_deadline, own_deadline), token),
            None => (own_deadline, CancellationToken::new()),
        };
        Arc::new(Core {
            group: Group::new(),
            token,
            deadline,
            limit: limit.map(|n| Arc::new(Semaphore::new(n))),
        })
    }

    /// Cancels the group: token, limit and every child.
    pub(crate) fn cancel(&self, reason: Reason, payload: Option<Payload>) {
        if self.group.cancel(reason, payload) {
            self.after_cancel();
        }
    }

    /// The owner is gone.
    pub(crate) fn abandon(&self) {
        self.group.abandon();
        self.after_cancel();
    }

    /// The scope is over: nothing may wait on it any more.
    pub(crate) fn after_cancel(&self) {
        self.token.cancel();
        if let Some(limit) = &self.limit {
            limit.close();
        }
    }

    /// Admits and spawns `future` as a child, or hands it back if the group is closed
    /// or cancelled.
    #[track_caller]
    pub(crate) fn spawn_child<F, T, E>(
        self: &Arc<Self>,
        future: F,
        permit: Option<OwnedPermit>,
    ) -> Result<ChildHandle<T>, F>
    where
        F: std::future::Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        if !self.group.try_admit() {
            return Err(future);
        }
        let child = Child::new(CURRENT.scope(self.clone(), future), self.clone(), permit);
        let join = corral_task::spawn(child);
        self.group.register(join.abort_handle());
        Ok(ChildHandle::new(join))
    }

    /// Runs `body` with this core as the current scope.
    pub(crate) fn enter<F: std::future::Future>(
        self: &Arc<Self>,
        body: F,
    ) -> tokio::task::futures::TaskLocalFuture<Arc<Core>, F> {
        CURRENT.scope(self.clone(), body)
    }
}

fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The deadline of the scope this code runs in (its body or one of its children),
/// already the minimum of every enclosing scope's deadline; `None` outside any scope
/// or when no enclosing scope has one.
///
/// Use it to hand the deadline to code that takes one (a client timeout, a lock wait).
/// Only tasks a scope spawned see it: a plain `tokio::spawn` or `spawn_blocking` from
/// inside a scope starts outside it.
pub fn current_deadline() -> Option<Instant> {
    CURRENT.try_with(|c| c.deadline).ok().flatten()
}

/// The cancellation token of the scope this code runs in (its body or one of its
/// children); `None` outside any scope. Same token as [`Scope::token`](crate::Scope::token).
pub fn current_token() -> Option<CancellationToken> {
    CURRENT.try_with(|c| c.token.clone()).ok()
}
