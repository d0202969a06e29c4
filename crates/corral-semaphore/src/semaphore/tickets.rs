//! Grant tickets: lock-free proof of a grant for the first waiter slots, so a granted
//! waiter completes (or, if dropped, hands its permits back) without taking the lock.
//!
//! Each of the first [`INLINE`] slots has a word `generation << 1 | granted`.
//!
//! # Invariants
//!
//! - Words are written only under the queue lock. Queueing a waiter in a slot bumps
//!   the word's generation (granted bit clear) and hands the generation to the waiter
//!   as its ticket.
//! - Granting a ticketed slot sets the granted bit *and frees the slot at once*: the
//!   slot is never touched on the waiter's behalf again. The waiter's permits are
//!   proven by its word: granted bit set with its generation, or a later generation
//!   (the slot was granted to it, freed and reused).
//! - A slot is freed only when it is granted, or by its owner (cancel, or collecting
//!   a failure). So while the word still shows the owner's generation with the bit
//!   clear, the slot and its queue entry are the owner's.
//! - Slots from [`INLINE`] on have no word and keep the `Granted` status in the queue
//!   until their owner collects it under the lock.

use std::sync::OnceLock;

use corral_shared::sync::AtomicU64;
use corral_shared::sync::Ordering::{Acquire, Relaxed, Release};

/// Slots with a ticket word. Small under loom, so the models cover both paths.
#[cfg(not(corral_loom))]
pub(crate) const INLINE: usize = 64;
#[cfg(corral_loom)]
pub(crate) const INLINE: usize = 2;

/// The words, allocated the first time anyone queues.
#[derive(Debug)]
pub(crate) struct Tickets {
    words: OnceLock<Box<[AtomicU64; INLINE]>>,
}

impl Tickets {
    pub(crate) const fn new() -> Self {
        Tickets {
            words: OnceLock::new(),
        }
    }

    fn word(&self, slot: usize) -> Option<&AtomicU64> {
        if slot < INLINE {
            self.words.get().map(|words| &words[slot])
        } else {
            None
        }
    }

    /// A fresh ticket for `slot`, just queued. Under the lock. `None` if the slot has
    /// no word.
    pub(crate) fn issue(&self, slot: usize) -> Option<u64> {
        if slot >= INLINE {
            return None;
        }
        let words = self
            .words
            .get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU64::new(0))));
        // Relaxed load: words are written only under the lock we hold. Release store:
        // the slot's previous owner may still be checking its ticket lock-free and see
        // this generation instead of the grant's; the release hands it the grant's
        // happens-before (granter's unlock -> our lock -> this store -> its `Acquire`).
        let generation = (words[slot].load(Relaxed) >> 1) + 1;
        words[slot].store(generation << 1, Release);
        Some(generation)
    }

    /// Marks ticketed `slot` granted. Under the lock. Returns `false` (changing
    /// nothing) if the slot has no word.
    pub(crate) fn grant(&self, slot: usize) -> bool {
        match self.word(slot) {
            Some(word) => {
                // Relaxed load: written only under the lock we hold. Release store:
                // pairs with `is_granted`, after this lock holder took the permits with
                // an acquiring CAS, so the releasers' writes happen-before the owner's
                // use of the permits.
                word.store(word.load(Relaxed) | 1, Release);
                true
            }
            None => false,
        }
    }

    /// Whether the owner of ticket `generation` in `slot` has been granted.
    #[inline]
    pub(crate) fn is_granted(&self, slot: usize, generation: u64) -> bool {
        match self.word(slot) {
            // Acquire: pairs with the `Release` store of `grant`, or of `issue` if the
            // slot was granted and has been reused since (see there).
            Some(word) => word.load(Acquire) != generation << 1,
            None => false,
        }
    }
}
