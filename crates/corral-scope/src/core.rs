//! A scope's shared core: the group engine plus what children inherit (token, deadline),
//! the admission limit and the parent it is nested in; and spawning a child into it.

// std: `Weak` stays on std (see CONTRIBUTING.md, "The sync shim"), so `Arc` does too.
use std::sync::{Arc, Weak};

use corral_semaphore::Semaphore;
use corral_shared::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::child::{Child, ChildHandle};
use crate::context::current;
use crate::group::{Group, Payload, Reason};

/// Shared by the owner, every `Scope` handle and every child.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) group: Group,
    pub(crate) token: CancellationToken,
    pub(crate) deadline: Option<Instant>,
    /// Admission slots; `None` means unlimited.
    pub(crate) limit: Option<Arc<Semaphore>>,
    /// Spawns named children; `None` spawns them unnamed.
    pub(crate) named: Option<corral_task::Builder>,
    /// For a nested scope, the parent it holds one admission in (counted as one of the
    /// parent's live children) until this group is down: its owner finished or was
    /// dropped, and every child of its own is gone. So a parent never finishes while a
    /// nested scope's children are still running. Taken once, by [`Core::release_parent`].
    hold: Mutex<Option<Arc<Core>>>,
    /// The nested scopes holding an admission here, cancelled with this group before
    /// its token is (see [`Core::after_cancel`]). Entries whose core is gone are pruned
    /// as the list grows.
    nested: Mutex<Vec<Weak<Core>>>,
}

impl Core {
    /// A core for a new scope, nested under the current one if there is one.
    ///
    /// A nested scope always holds an admission in its parent, even in a cancelled
    /// parent (whose body or child creating it is being stopped), so the parent waits
    /// for it at any depth; one created in a cancelled parent is born cancelled, so its
    /// body never runs and it spawns nothing.
    pub(crate) fn new(
        own_deadline: Option<Instant>,
        limit: Option<u64>,
        named: Option<corral_task::Builder>,
        collect: bool,
    ) -> Arc<Self> {
        let parent = current();
        let (deadline, token, hold) = match parent {
            Some(parent) => (
                min_deadline(parent.deadline, own_deadline),
                parent.token.child_token(),
                // Refused only by a drained parent, which has no body or child left
                // to be the current scope: then there is nobody to wait for us.
                parent.group.admit_nested().then_some(parent),
            ),
            None => (own_deadline, CancellationToken::new(), None),
        };
        let parent = hold.clone();
        let core = Arc::new(Core {
            group: Group::new(collect),
            token,
            deadline,
            limit: limit.map(|n| Arc::new(Semaphore::new(n))),
            named,
            hold: Mutex::new(hold),
            nested: Mutex::new(Vec::new()),
        });
        if let Some(parent) = parent {
            // Listed before the parent's state is read, under the list's lock: either
            // the parent's cancel finds this scope in its list, or this read sees the
            // parent cancelled (its state is set before its list is taken).
            {
                let mut nested = parent.nested.lock();
                if nested.len() == nested.capacity() {
                    nested.retain(|core| core.strong_count() > 0);
                }
                nested.push(Arc::downgrade(&core));
            }
            if parent.group.is_cancelled() {
                core.cancel(Reason::Cancelled, None);
            }
        }
        core
    }

    /// This group is down (owner finished or dropped, no child live): gives back the
    /// admission held in the parent, if any, and so on up while that leaves an
    /// abandoned parent drained too. Idempotent.
    ///
    /// A loop, not a recursion: a chain of nested scopes whose owners were all dropped
    /// (cancelling the outermost of scopes each opened by a child of the one above)
    /// drains from the innermost up in one call, and one stack frame per level
    /// overflowed a worker's stack at a depth of ~18,000 (debug build, 2 MiB).
    pub(crate) fn release_parent(&self) {
        let mut parent = self.hold.lock().take();
        while let Some(core) = parent {
            parent = if core.group.complete(false) {
                core.hold.lock().take()
            } else {
                None
            };
        }
    }

    /// Cancels the group: token, limit and every child.
    pub(crate) fn cancel(&self, reason: Reason, payload: Option<Payload>) {
        if self.group.cancel(reason, payload) {
            self.after_cancel();
        }
    }

    /// A child returned an error: cancels the group, or only records the error in a
    /// group that collects every error.
    pub(crate) fn fail(&self, error: Payload) {
        if self.group.collects() {
            self.group.record_error(error);
        } else {
            self.cancel(Reason::Failed, Some(error));
        }
    }

    /// A child or the body panicked: cancels the group, whose owner resumes the panic
    /// once the children are down. If the owner is gone (a nested scope dropped by its
    /// parent's body or child), the panic goes to the enclosing group instead, whose
    /// owner waits for this one; with no enclosing group (a top-level scope whose
    /// owner was dropped), there is nobody to resume it and it is dropped.
    pub(crate) fn panicked(&self, payload: Payload) {
        match self.group.panicked(payload) {
            Ok(first) => {
                if first {
                    self.after_cancel();
                }
            }
            Err(payload) => self.forward_panic(payload),
        }
    }

    /// Passes a panic up to the nearest enclosing group whose owner is still there to
    /// resume it; a loop over the abandoned levels in between, like
    /// [`Core::release_parent`], so a deep chain needs no deep stack.
    fn forward_panic(&self, mut payload: Payload) {
        let mut parent = self.hold.lock().clone();
        while let Some(core) = parent {
            match core.group.panicked(payload) {
                Ok(first) => {
                    if first {
                        core.after_cancel();
                    }
                    return;
                }
                Err(unclaimed) => {
                    payload = unclaimed;
                    parent = core.hold.lock().clone();
                }
            }
        }
    }

    /// The owner is gone.
    pub(crate) fn abandon(&self) {
        let (drained, panic) = self.group.abandon();
        self.after_cancel();
        if let Some(payload) = panic {
            self.forward_panic(payload);
        }
        if drained {
            self.release_parent();
        }
    }

    /// Called before anything (a child's future, the body) is dropped because the group
    /// is cancelled: makes sure the token says so first, so a destructor or a thread
    /// watching the token never sees it live for a child already being stopped.
    ///
    /// Needed because the canceller sets the group's `CANCELLED` flag and wakes the
    /// children before it cancels the token ([`Core::cancel`]), and a child on another
    /// worker may be stopped in between. The flag must come first, as the children see
    /// it, so that a child woken by the token is stopped rather than run on past its
    /// await: hence `cancelled_for_children`, which makes sure of that before the token
    /// is cancelled here. A background child stopped because the body is over does not
    /// cancel the token.
    pub(crate) fn cancel_token_before_stopping(&self) {
        if !self.token.is_cancelled() && self.group.cancelled_for_children() {
            self.after_cancel();
        }
    }

    /// The scope is over: nothing may wait on it any more.
    ///
    /// First cancels every nested scope under this group, at any depth, so that by the
    /// time their tokens (child tokens of this one) are cancelled, their children stop
    /// at their next poll like this group's own, rather than run on past an await of
    /// the token until the owner holding the nested scope is dropped.
    pub(crate) fn after_cancel(&self) {
        self.cancel_nested();
        self.token.cancel();
        if let Some(limit) = &self.limit {
            limit.close();
        }
    }

    /// Admits and spawns `future` as a child, or hands it back if the group is closed
    /// or cancelled (or, for a background child, its owner's body is over). Returns the
    /// child's handle and how many children were live with it, as admitted.
    ///
    /// `permit` is the child's admission slot in a limited scope (`Some` of an `OwnedPermit`),
    /// or `None::<()>` in a scope without a limit, which keeps the child's task small
    /// (see [`Child`]).
    #[track_caller]
    pub(crate) fn spawn_child<F, T, E, P>(
        self: &Arc<Self>,
        future: F,
        permit: Option<P>,
        options: &ChildOptions,
    ) -> Result<(ChildHandle<T>, usize), F>
    where
        F: std::future::Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        P: Send + 'static,
    {
        let Some(live) = self.group.try_admit(options.background) else {
            return Err(future);
        };
        let child = Child::new(future, self.clone(), permit, options.background);
        let join = match options.named.as_ref().or(self.named.as_ref()) {
            None => corral_task::spawn(child),
            Some(builder) => builder.clone().spawn(child),
        };
        Ok((ChildHandle::new(join), live))
    }
}

impl Core {
    /// Cancels the nested scopes under this group (with [`Reason::Cancelled`], the
    /// reason of a scope born in a cancelled group), their own nested scopes, and so
    /// on: a loop over a work list, not a recursion, for chains thousands deep (see
    /// [`Core::release_parent`]). Their tokens are left to this group's token, whose
    /// cancel reaches them as child tokens.
    ///
    /// The walk goes on below a group it finds cancelled already (whoever cancelled
    /// that one may not have reached its own nested scopes yet, and this caller is
    /// about to cancel a token above theirs), and stops at a group whose token is
    /// cancelled: every token is cancelled by a caller that walked the subtree below
    /// it first (or, for a nested scope's, by its parent's), and one created under
    /// it since is born cancelled. It stops at a finished group too, which has no live
    /// child or nested scope left. So a walk that finds its nested scopes' tokens
    /// cancelled (the owners of a cancelled chain dropped one after the other) costs
    /// one step each, not the depth below.
    fn cancel_nested(&self) {
        let mut work = live(&self.nested);
        while let Some(core) = work.pop() {
            if core.group.is_closed() || core.token.is_cancelled() {
                continue;
            }
            if core.group.cancel(Reason::Cancelled, None) {
                if let Some(limit) = &core.limit {
                    limit.close();
                }
            }
            work.extend(live(&core.nested));
        }
    }
}

/// The nested scopes of a list that are still alive.
fn live(nested: &Mutex<Vec<Weak<Core>>>) -> Vec<Arc<Core>> {
    nested.lock().iter().filter_map(Weak::upgrade).collect()
}

/// How one child is spawned: its own name, whether it runs in the background.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChildOptions {
    /// Names this child in the tracked-task registry, over the scope's name.
    pub(crate) named: Option<corral_task::Builder>,
    /// Stopped when the owner's body returns, instead of awaited.
    pub(crate) background: bool,
}

impl ChildOptions {
    /// A plain child: the scope's name, awaited by the owner.
    pub(crate) const PLAIN: ChildOptions = ChildOptions {
        named: None,
        background: false,
    };
}

fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
