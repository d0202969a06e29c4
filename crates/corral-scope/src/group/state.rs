//! The group's packed state word: live-children counts plus three flags.
//!
//! # Invariants
//!
//! - `live` counts children that were admitted and whose future has not been dropped yet,
//!   plus nested scopes holding an admission. It is raised by [`State::try_admit`], which
//!   refuses once `CLOSED` or `CANCELLED` is set (and, for a background child, once
//!   `WAITING` is set), and by [`State::admit_nested`], which refuses only a drained
//!   group (`CLOSED` with `live == 0`); it is lowered once per admission by
//!   [`State::complete`]. `background` counts the background children among them:
//!   raised with `live` by the same read-modify-write, and lowered with it, so one
//!   load of the word tells how many foreground children are live.
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
//! - `stop` mirrors the word's `CANCELLED` and `WAITING` bits: each is set in `stop`
//!   right after it is set in the word, by the same call, and never clears. So once a
//!   cancel (or the owner's `wait`) has returned, or under a lock it was set under,
//!   [`State::must_stop`] sees it. `CANCELLED` may reach `stop` earlier, from
//!   [`State::cancelled_for_children`] seeing it in the word (a child or the owner
//!   about to stop something for the cancel), never before it is in the word.
//!
//! # Cache lines
//!
//! On a multi-thread runtime the spawner admits children on one worker while they
//! finish on the other, so every word a child touches can change cache owner per child
//! (BENCHMARKS.md, "Session 6: mt2"). The word, written by every admission and
//! completion, sits on a 128-byte block of its own; `stop`, which every child *reads*
//! at the top of each poll, sits on another that is written only when the group is
//! cancelled or its owner's body ends, so both workers keep a shared copy of it instead
//! of pulling the word's line over to read it.

use corral_shared::sync::{AtomicU64, AtomicUsize, Ordering};
use corral_shared::CachePadded;

/// No child may be admitted any more: the scope has finished or its owner is gone.
const CLOSED: u64 = 0b001;
/// The group is cancelled (a child failed or panicked, the deadline passed, the owner
/// was dropped); spawning is refused and the owner is winding down.
const CANCELLED: u64 = 0b010;
/// The owner's body is over and its waker is stored: it waits for `live` to reach 0.
const WAITING: u64 = 0b100;
/// One live child.
const ONE: u64 = 0b1000;
/// Where the count of live background children starts: `live` has bits 3..40.
const BACKGROUND_SHIFT: u32 = 40;
/// One live background child (counted in `live` too).
const BACKGROUND_ONE: u64 = 1 << BACKGROUND_SHIFT;
/// Every live child.
const LIVE: u64 = BACKGROUND_ONE - ONE;
/// The live background children.
const BACKGROUND: u64 = !(BACKGROUND_ONE - 1);

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
/// | bits      | meaning                                                    |
/// |-----------|------------------------------------------------------------|
/// | 0         | `CLOSED`                                                   |
/// | 1         | `CANCELLED`                                                |
/// | 2         | `WAITING`                                                  |
/// | 3..40     | `live`: admitted children not yet dropped                  |
/// | 40..64    | `background`: the background children among them           |
///
/// A `u64` on every target, so both counts fit: 2^37 live children (tasks of at
/// least 128 bytes each: 16 TiB), 2^24 live background children (a spawn past that
/// panics).
///
/// # Memory ordering
///
/// Every read-modify-write is `AcqRel` and every load `Acquire`: the word is touched
/// once per spawn and once per child completion, so the stronger orderings cost nothing
/// measurable, and they give the edges the owner relies on: a child's writes (its
/// output, a recorded error or panic) happen before its `complete`, which happens before
/// the owner's `try_close` that observes `live == 0`.
#[derive(Debug)]
pub(crate) struct State {
    /// The packed word above.
    word: CachePadded<AtomicU64>,
    /// `CANCELLED | WAITING` as far as they are set in `word`: what a child reads to
    /// decide whether to stop, on a line no child writes.
    stop: CachePadded<AtomicUsize>,
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            word: CachePadded(AtomicU64::new(0)),
            stop: CachePadded(AtomicUsize::new(0)),
        }
    }

    /// Sets `bits` in the word, then in `stop`; returns the word before.
    fn set(&self, bits: u64) -> u64 {
        let prev = self.word.fetch_or(bits, Ordering::AcqRel);
        // The flags are bits 0..3 of both words.
        self.stop
            .fetch_or((bits & (CANCELLED | WAITING)) as usize, Ordering::AcqRel);
        prev
    }

    /// Admits one child, unless the group is closed or cancelled, or, for a background
    /// child, the owner's body is over. Returns `live` with it counted.
    ///
    /// # Panics
    ///
    /// Admitting a background child while 2^24 - 1 of them are live.
    #[inline]
    pub(crate) fn try_admit(&self, background: bool) -> Option<usize> {
        if background {
            self.admit_if(ONE + BACKGROUND_ONE, |cur| {
                assert!(
                    cur & BACKGROUND != BACKGROUND,
                    "2^24 live background children in one scope"
                );
                cur & (CLOSED | CANCELLED | WAITING) == 0
            })
        } else {
            self.admit_if(ONE, |cur| cur & (CLOSED | CANCELLED) == 0)
        }
    }

    /// Admits a nested scope created by the body or a child of this group, cancelled or
    /// not: the parent must wait for it whatever happens. Refuses only a drained group
    /// (closed with nothing live), where no body or child can be running.
    pub(crate) fn admit_nested(&self) -> bool {
        self.admit_if(ONE, |cur| cur & CLOSED == 0 || cur & LIVE != 0)
            .is_some()
    }

    /// Adds `one` (one child, counted in `live` and, for a background child, in
    /// `background`) if `open` holds for the current word; returns the new `live`.
    #[inline]
    fn admit_if(&self, one: u64, open: impl Fn(u64) -> bool) -> Option<usize> {
        let mut cur = self.word.load(Ordering::Acquire);
        loop {
            if !open(cur) {
                return None;
            }
            match self.word.compare_exchange_weak(
                cur,
                cur + one,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(count(cur, LIVE, ONE) + 1),
                Err(actual) => cur = actual,
            }
        }
    }

    /// One admitted child is gone (a background child if `background`; a nested
    /// scope's admission is not one). Returns what the caller must do about it.
    pub(crate) fn complete(&self, background: bool) -> Completed {
        let one = if background {
            ONE + BACKGROUND_ONE
        } else {
            ONE
        };
        let prev = self.word.fetch_sub(one, Ordering::AcqRel);
        debug_assert!(prev & LIVE >= ONE, "live-children count underflow");
        let last = prev & LIVE == ONE;
        Completed {
            wake_owner: last && prev & WAITING != 0,
            // `CLOSED` with children still live is only ever set by `abandon`.
            drained: last && prev & CLOSED != 0,
        }
    }

    /// Sets `CANCELLED`; returns `true` for the call that set it.
    pub(crate) fn cancel(&self) -> bool {
        self.set(CANCELLED) & CANCELLED == 0
    }

    /// The owner's body is over: sets `WAITING`. Returns `true` for the call that set it.
    pub(crate) fn wait(&self) -> bool {
        self.set(WAITING) & WAITING == 0
    }

    /// Whether the group is cancelled, in the word; if so, makes sure `stop` says so
    /// too, so that every child polled from here on stops, even if the canceller has
    /// set the word and not yet `stop`. For whoever is about to stop something for the
    /// cancel and then wake others (the token's waiters), none of whom may run on.
    pub(crate) fn cancelled_for_children(&self) -> bool {
        // The flags are bits 0..3 of both words.
        if self.stop.load(Ordering::Acquire) as u64 & CANCELLED != 0 {
            return true;
        }
        if self.word.load(Ordering::Acquire) & CANCELLED == 0 {
            return false;
        }
        self.stop.fetch_or(CANCELLED as usize, Ordering::AcqRel);
        true
    }

    /// Whether a child must stop: the group is cancelled, or the child runs in the
    /// background and the owner's body is over.
    pub(crate) fn must_stop(&self, background: bool) -> bool {
        // The flags are bits 0..3 of both words.
        let cur = self.stop.load(Ordering::Acquire) as u64;
        cur & CANCELLED != 0 || (background && cur & WAITING != 0)
    }

    /// Closes the group if no child is live; returns whether it is closed now.
    pub(crate) fn try_close(&self) -> bool {
        let mut cur = self.word.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return true;
            }
            if cur & LIVE != 0 {
                return false;
            }
            match self.word.compare_exchange_weak(
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
        self.set(CLOSED | CANCELLED) & LIVE == 0
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.word.load(Ordering::Acquire) & CANCELLED != 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.word.load(Ordering::Acquire) & CLOSED != 0
    }

    pub(crate) fn live(&self) -> usize {
        count(self.word.load(Ordering::Acquire), LIVE, ONE)
    }

    /// Live children that do not run in the background (nested scopes included), read
    /// from one load of the word.
    pub(crate) fn foreground_live(&self) -> usize {
        let cur = self.word.load(Ordering::Acquire);
        count(cur, LIVE, ONE) - count(cur, BACKGROUND, BACKGROUND_ONE)
    }
}

/// The count in the field `mask` of `word`, whose unit is `one`.
fn count(word: u64, mask: u64, one: u64) -> usize {
    usize::try_from((word & mask) / one).expect("a live-children count fits a usize")
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::{Completed, State};

    /// A child's stop check reads the mirrored flags: every way the word gets
    /// `CANCELLED` or `WAITING` must reach it.
    #[test]
    fn the_stop_check_sees_every_cancel_and_the_body_end() {
        let cancelled = State::new();
        assert_eq!(cancelled.try_admit(false), Some(1));
        assert!(!cancelled.must_stop(false) && !cancelled.must_stop(true));
        assert!(cancelled.cancel());
        assert!(cancelled.must_stop(false) && cancelled.must_stop(true));

        let waiting = State::new();
        assert!(waiting.try_admit(true).is_some());
        assert!(waiting.wait());
        assert!(
            waiting.must_stop(true),
            "background child runs past the body"
        );
        assert!(
            !waiting.must_stop(false),
            "foreground child stopped by the body end"
        );

        let abandoned = State::new();
        assert!(abandoned.try_admit(false).is_some());
        assert!(!abandoned.abandon());
        assert!(abandoned.must_stop(false));
        assert!(abandoned.try_admit(false).is_none());
        let done = abandoned.complete(false);
        assert!(done.drained && !done.wake_owner);
    }

    /// Background children are counted in `live` and apart, in one word: the
    /// foreground count is exact at every step, and the fields do not bleed into each
    /// other or into the flags.
    #[test]
    fn background_children_are_counted_apart() {
        let state = State::new();
        assert_eq!(state.try_admit(true), Some(1));
        assert_eq!(state.try_admit(false), Some(2));
        assert!(state.admit_nested());
        assert_eq!(state.try_admit(true), Some(4));
        assert_eq!((state.live(), state.foreground_live()), (4, 2));
        assert!(state.wait());
        assert!(state.try_admit(true).is_none(), "background after the body");
        assert_eq!(
            state.complete(true),
            Completed {
                wake_owner: false,
                drained: false
            }
        );
        assert_eq!(
            state.complete(false),
            Completed {
                wake_owner: false,
                drained: false
            }
        );
        assert_eq!((state.live(), state.foreground_live()), (2, 1));
        assert_eq!(
            state.complete(false),
            Completed {
                wake_owner: false,
                drained: false
            }
        );
        assert_eq!((state.live(), state.foreground_live()), (1, 0));
        assert!(!state.try_close(), "a background child is still live");
        assert_eq!(
            state.complete(true),
            Completed {
                wake_owner: true,
                drained: false
            }
        );
        assert_eq!((state.live(), state.foreground_live()), (0, 0));
        assert!(state.try_close());
        assert!(!state.is_cancelled() && state.must_stop(true) && !state.must_stop(false));
    }

    /// The word and the stop flags are on cache lines of their own: a child's check
    /// never reads the line every admission and completion writes.
    #[test]
    fn the_word_and_the_stop_flags_do_not_share_a_line() {
        let state = State::new();
        let word = std::ptr::from_ref(&*state.word) as usize;
        let stop = std::ptr::from_ref(&*state.stop) as usize;
        assert_eq!(word % 128, 0);
        assert_eq!(stop % 128, 0);
        assert!(word.abs_diff(stop) >= 128);
    }
}
