//! The group's packed state word: live-children count plus three flags.
//!
//! # Invariants
//!
//! - `live` counts children that were admitted and whose future has not been dropped yet,
//!   plus nested scopes holding an admission. It is raised by [`State::try_admit`], which
//!   refuses once `CLOSED` or `CANCELLED` is set (and, for a background child, once
//!   `WAITING` is set), and by [`State::admit_nested`], which refuses only a drained
//!   group (`CLOSED` with `live == 0`); it is lowered once per admission by
//!   [`State::complete`].
//! - `CLOSED` is set only while `live == 0` ([`State::try_close`]) or by the owner's drop
//!   ([`State::abandon`], which also sets `CANCELLED`); once set it never clears, so no
//!   child can be admitted after the group has finished, and no nested scope after the
//!   group is drained.
//! - `CANCELLED` never clears.
//! - `WAITING` is set by the owner once its body is over, after it stored its waker; a
//!   `complete` that takes `live` from 1 to 0 while `WAITING` is set must wake the owner.
//!   It never clears; background children stop once it is set.
//! - The group is *drained* exactly once after its owner is gone: by [`State::abandon`]
//!   if it finds `live == 0`, else by the `complete` that takes `live` from 1 to 0 with
//!   `CLOSED` set (no child is admitted after `CLOSED`, so no later one can).

use corral_shared::sync::{AtomicUsize, Ordering};

/// No child may be admitted any more: the scope has finished or its owner is gone.
const CLOSED: usize = 0b001;
/// The group is cancelled (a child failed or panicked, the deadline passed, the owner
/// was dropped); spawning is refused and the owner is winding down.
const CANCELLED: usize = 0b010;
/// The owner's body is over and its waker is stored: it waits for `live` to reach 0.
const WAITING: usize = 0b100;
/// One live child.
const ONE: usize = 0b1000;
const FLAGS: usize = ONE - 1;

/// What a child's [`State::complete`] asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Completed {
    /// It was the last child and the owner is waiting for it.
    pub(crate) wake_owner: bool,
    /// It was the last child of an abandoned group: the group is drained.
    pub(crate) drained: bool,
}

/// The packed state word.
///
/// | bits      | meaning                                   |
/// |-----------|-------------------------------------------|
/// | 0         | `CLOSED`                                  |
/// | 1         | `CANCELLED`                               |
/// | 2         | `WAITING`                                 |
/// | 3..       | `live`: admitted children not yet dropped |
///
/// # Memory ordering
///
/// Every read-modify-write is `AcqRel` and every load `Acquire`: the word is touched
/// once per spawn and once per child completion, so the stronger orderings cost nothing
/// measurable, and they give the edges the owner relies on: a child's writes (its
/// output, a recorded error or panic) happen before its `complete`, which happens before
/// the owner's `try_close` that observes `live == 0`.
#[derive(Debug)]
pub(crate) struct State(AtomicUsize);

impl State {
    pub(crate) fn new() -> Self {
        Self(AtomicUsize::new(0))
    }

    /// Admits one child, unless the group is closed or cancelled, or, for a background
    /// child, the owner's body is over.
    #[inline]
    pub(crate) fn try_admit(&self, background: bool) -> bool {
        let refuse = if background {
            CLOSED | CANCELLED | WAITING
        } else {
            CLOSED | CANCELLED
        };
        self.admit_if(|cur| cur & refuse == 0)
    }

    /// Admits a nested scope created by the body or a child of this group, cancelled or
    /// not: the parent must wait for it whatever happens. Refuses only a drained group
    /// (closed with nothing live), where no body or child can be running.
    pub(crate) fn admit_nested(&self) -> bool {
        self.admit_if(|cur| cur & CLOSED == 0 || cur & !FLAGS != 0)
    }

    /// Adds one to `live` if `open` holds for the current word.
    #[inline]
    fn admit_if(&self, open: impl Fn(usize) -> bool) -> bool {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            if !open(cur) {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(cur, cur + ONE, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// One admitted child is gone. Returns what the caller must do about it.
    pub(crate) fn complete(&self) -> Completed {
        let prev = self.0.fetch_sub(ONE, Ordering::AcqRel);
        debug_assert!(prev >= ONE, "live-children count underflow");
        let last = prev & !FLAGS == ONE;
        Completed {
            wake_owner: last && prev & WAITING != 0,
            // `CLOSED` with children still live is only ever set by `abandon`.
            drained: last && prev & CLOSED != 0,
        }
    }

    /// Sets `CANCELLED`; returns `true` for the call that set it.
    pub(crate) fn cancel(&self) -> bool {
        self.0.fetch_or(CANCELLED, Ordering::AcqRel) & CANCELLED == 0
    }

    /// The owner's body is over: sets `WAITING`. Returns `true` for the call that set it.
    pub(crate) fn wait(&self) -> bool {
        self.0.fetch_or(WAITING, Ordering::AcqRel) & WAITING == 0
    }

    /// Whether a child must stop: the group is cancelled, or the child runs in the
    /// background and the owner's body is over.
    pub(crate) fn must_stop(&self, background: bool) -> bool {
        let cur = self.0.load(Ordering::Acquire);
        cur & CANCELLED != 0 || (background && cur & WAITING != 0)
    }

    /// Closes the group if no child is live; returns whether it is closed now.
    pub(crate) fn try_close(&self) -> bool {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return true;
            }
            if cur & !FLAGS != 0 {
                return false;
            }
            match self.0.compare_exchange_weak(
                cur,
                cur | CLOSED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The owner is gone: closes and cancels at once, whatever is live.
    /// Returns `true` if no child was live (the group is drained now); otherwise the
    /// last child's [`State::complete`] reports the drain.
    pub(crate) fn abandon(&self) -> bool {
        self.0.fetch_or(CLOSED | CANCELLED, Ordering::AcqRel) & !FLAGS == 0
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire) & CANCELLED != 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.0.load(Ordering::Acquire) & CLOSED != 0
    }

    pub(crate) fn live(&self) -> usize {
        self.0.load(Ordering::Acquire) / ONE
    }
}
