//! The group engine: who is live, who to abort, who to wake, and why the group stopped.
//!
//! # Invariants
//!
//! - Every child admitted by [`Group::try_admit`] is either in `handles` (and aborted by
//!   the first cancel), or registered after the cancel and aborted by
//!   [`Group::register`] itself: `CANCELLED` is set and read under the lock, so no
//!   admitted child escapes the abort.
//! - `handles` holds at most about twice the live children plus a small floor: finished
//!   entries are pruned whenever the list doubles.
//! - The first cause of cancellation is kept in `reason`; the first error and the first
//!   panic payload are kept, later ones are dropped.
//!
//! # Lock order
//!
//! One lock (`inner`). Nothing is aborted or woken while it is held: handles and wakers
//! are taken out first, so an abort or wake that runs code cannot re-enter it.

mod state;

use std::any::Any;
use std::mem;
use std::task::Waker;

use self::state::State;
use crate::sync::Mutex;

/// A type-erased error or panic payload.
pub(crate) type Payload = Box<dyn Any + Send>;

/// Entries below this are never pruned.
const PRUNE_FLOOR: usize = 64;

/// What the group can do with a child task: tokio's `AbortHandle`, or a fake in models.
pub(crate) trait Abort {
    fn abort(&self);
    fn is_finished(&self) -> bool;
}

impl Abort for tokio::task::AbortHandle {
    fn abort(&self) {
        tokio::task::AbortHandle::abort(self);
    }

    fn is_finished(&self) -> bool {
        tokio::task::AbortHandle::is_finished(self)
    }
}

/// Why a group stopped before its body and children finished on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// A child (or the body) returned an error.
    Failed,
    /// A child panicked.
    Panicked,
    /// The deadline passed.
    Deadline,
    /// The owner dropped the scope.
    Dropped,
}

/// What the owner learns when the group is over.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) reason: Option<Reason>,
    pub(crate) error: Option<Payload>,
    pub(crate) panic: Option<Payload>,
}

#[derive(Debug)]
struct Inner<H> {
    handles: Vec<H>,
    prune_at: usize,
    owner: Option<Waker>,
    outcome: Outcome,
}

/// A task group's join and cancel state.
#[derive(Debug)]
pub(crate) struct Group<H> {
    state: State,
    inner: Mutex<Inner<H>>,
}

impl<H: Abort> Group<H> {
    pub(crate) fn new() -> Self {
        Self {
            state: State::new(),
            inner: Mutex::new(Inner {
                handles: Vec::new(),
                prune_at: PRUNE_FLOOR,
                owner: None,
                outcome: Outcome::default(),
            }),
        }
    }

    /// Admits one child; `false` if the group is closed or cancelled. An admitted child
    /// must be followed by exactly one [`Group::complete`] (when its future is dropped)
    /// and, once spawned, one [`Group::register`].
    pub(crate) fn try_admit(&self) -> bool {
        self.state.try_admit()
    }

    /// Records an admitted child's abort handle; aborts it at once if the group was
    /// cancelled in the meantime.
    pub(crate) fn register(&self, handle: H) {
        let mut inner = self.inner.lock();
        if self.state.is_cancelled() {
            drop(inner);
            handle.abort();
            return;
        }
        if inner.handles.len() >= inner.prune_at {
            inner.handles.retain(|h| !h.is_finished());
            inner.prune_at = PRUNE_FLOOR.max(inner.handles.len() * 2);
        }
        inner.handles.push(handle);
    }

    /// An admitted child's future was dropped (finished, aborted, or never polled).
    pub(crate) fn complete(&self) {
        if self.state.complete() {
            let waker = self.inner.lock().owner.clone();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Cancels the group for `reason`, keeping `payload` if it is the first of its kind.
    /// Aborts every registered child and wakes the owner. Returns `true` for the call
    /// that cancelled the group.
    pub(crate) fn cancel(&self, reason: Reason, payload: Option<Payload>) -> bool {
        let mut inner = self.inner.lock();
        let outcome = &mut inner.outcome;
        match reason {
            Reason::Panicked if outcome.panic.is_none() => outcome.panic = payload,
            Reason::Failed if outcome.reason.is_none() => outcome.error = payload,
            _ => {}
        }
        outcome.reason.get_or_insert(reason);
        let first = self.state.cancel();
        let handles = if first {
            mem::take(&mut inner.handles)
        } else {
            Vec::new()
        };
        let owner = inner.owner.clone();
        drop(inner);
        for handle in &handles {
            handle.abort();
        }
        if let Some(owner) = owner {
            owner.wake();
        }
        first
    }

    /// The owner is gone: no more children, and every live one is aborted now.
    /// Returns `true` if this call cancelled the group.
    pub(crate) fn abandon(&self) -> bool {
        let mut inner = self.inner.lock();
        inner.outcome.reason.get_or_insert(Reason::Dropped);
        let first = self.state.abandon();
        let handles = mem::take(&mut inner.handles);
        inner.owner = None;
        drop(inner);
        for handle in &handles {
            handle.abort();
        }
        first
    }

    /// Stores the owner's waker for the next cancel or last completion.
    pub(crate) fn set_owner(&self, waker: &Waker) {
        let mut inner = self.inner.lock();
        match &inner.owner {
            Some(old) if old.will_wake(waker) => {}
            _ => inner.owner = Some(waker.clone()),
        }
    }

    /// The owner's body is over; call after [`Group::set_owner`].
    pub(crate) fn wait(&self) {
        self.state.wait();
    }

    /// Closes the group if no child is live. On success, returns the outcome and drops
    /// the (finished) handles.
    pub(crate) fn try_finish(&self) -> Option<Outcome> {
        if !self.state.try_close() {
            return None;
        }
        let mut inner = self.inner.lock();
        let handles = mem::take(&mut inner.handles);
        inner.owner = None;
        let outcome = mem::take(&mut inner.outcome);
        drop(inner);
        drop(handles);
        Some(outcome)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.is_cancelled()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.is_closed()
    }

    pub(crate) fn live(&self) -> usize {
        self.state.live()
    }
}
