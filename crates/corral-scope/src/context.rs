//! The (hand-rolled) task-local through which a scope's body and children find their
//! scope: nested scopes nest under it, [`current_deadline`] and [`current_token`]
//! read it.

use std::cell::RefCell;
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::core::Core;

thread_local! {
    /// The scope whose body or child is being polled on this thread.
    ///
    /// A hand-rolled task-local: [`enter`] moves the poller's `Arc` in for the duration
    /// of one poll and back out after (also on unwind), so entering costs no reference
    /// count traffic, which matters once per child.
    static CURRENT: RefCell<Option<Arc<Core>>> = const { RefCell::new(None) };
}

/// Runs `poll` with the core in `slot` as the current scope; `slot` is empty during the
/// call and holds the core again when it returns or unwinds.
pub(crate) fn enter<R>(slot: &mut Option<Arc<Core>>, poll: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        slot: &'a mut Option<Arc<Core>>,
        prev: Option<Arc<Core>>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            *self.slot = CURRENT.with(|c| c.replace(self.prev.take()));
        }
    }
    let prev = CURRENT.with(|c| c.replace(slot.take()));
    let _restore = Restore { slot, prev };
    poll()
}

/// The current scope itself, if any.
pub(crate) fn current() -> Option<Arc<Core>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Reads the current scope, if any.
fn with_current<R>(read: impl FnOnce(&Core) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.borrow().as_deref().map(read))
        .ok()
        .flatten()
}

/// The deadline of the scope this code runs in (its body or one of its children),
/// already the minimum of every enclosing scope's deadline; `None` outside any scope
/// or when no enclosing scope has one.
///
/// Use it to hand the deadline to code that takes one (a client timeout, a lock wait).
/// Only tasks a scope spawned see it: a plain `tokio::spawn` or `spawn_blocking` from
/// inside a scope starts outside it.
pub fn current_deadline() -> Option<Instant> {
    with_current(|c| c.deadline).flatten()
}

/// The cancellation token of the scope this code runs in (its body or one of its
/// children); `None` outside any scope. Same token as [`Scope::token`](crate::Scope::token).
pub fn current_token() -> Option<CancellationToken> {
    with_current(|c| c.token.clone())
}
