//! The tags of one shard's slots: one atomic word per slot, the only part of a slot
//! written without the shard lock (a task retiring it), so kept apart from the slab in
//! segments that never move.

use corral_shared::sync::AtomicU64;
// `std`'s in both builds: loom has no `OnceLock`. A segment is published once, under
// the shard lock, and the tags inside are loom's atomics, so the accesses that matter
// are still modelled.
use std::sync::OnceLock;

/// A slot's tag is the occupant's id, or has this bit set ([`DEAD`]). Ids stay below
/// it (`seq` would need 2^47 inserts in one shard to reach it).
pub(super) const VACANT: u64 = 1 << 63;

/// The tag of a slot with no task: retired and waiting to be reclaimed, or free.
pub(super) const DEAD: u64 = u64::MAX;

/// The first tag segment holds `1 << SEG0_BITS` slots, each later one twice as many.
const SEG0_BITS: u32 = 6;

/// Enough segments for 2^32 slots in one shard (slot indices are `u32`).
const SEGMENTS: usize = 27;

/// The tags of one shard's slots, in segments that never move once allocated, so a
/// task can retire its slot with one atomic store and no lock (the entries, in a
/// `Vec` behind the lock, may move when it grows).
#[derive(Debug)]
pub(super) struct Tags {
    segments: [OnceLock<Box<[AtomicU64]>>; SEGMENTS],
}

impl Tags {
    pub(super) fn new() -> Self {
        Self {
            segments: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The segment and offset of slot `i`.
    ///
    /// Within a segment, slots are spread so that the eight tags sharing a cache line
    /// belong to slots an eighth of the segment apart: consecutive slots are handed to
    /// tasks spawned one after another, which end on whichever worker ran them, and a
    /// task retiring its tag on one core must not pull away the line the spawning core
    /// is writing its neighbour's tag into.
    #[inline]
    fn locate(i: usize) -> (usize, usize) {
        let n = i + (1 << SEG0_BITS);
        let top = (usize::BITS - 1 - n.leading_zeros()) as usize;
        let offset = n - (1 << top);
        let stride = 1 << (top - 3);
        (
            top - SEG0_BITS as usize,
            (offset % stride) * 8 + offset / stride,
        )
    }

    /// The tag of slot `i`, whose segment exists (every slot below the slab's length).
    #[inline]
    pub(super) fn get(&self, i: usize) -> &AtomicU64 {
        let (segment, offset) = Self::locate(i);
        match self.segments[segment].get() {
            Some(tags) => &tags[offset],
            None => unreachable!("slot {i} is below the slab's length, so its segment exists"),
        }
    }

    /// Makes sure slot `i` has a tag (called under the shard lock, as the slab grows).
    pub(super) fn reserve(&self, i: usize) {
        let (segment, _) = Self::locate(i);
        self.segments[segment].get_or_init(|| {
            (0..1usize << (segment + SEG0_BITS as usize))
                .map(|_| AtomicU64::new(DEAD))
                .collect()
        });
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn tag_segments_tile_the_slot_indices() {
        let mut seen: Vec<Vec<bool>> = Vec::new();
        let mut count = 0;
        for i in 0..(64 << 11) - 64usize {
            let (segment, offset) = Tags::locate(i);
            if seen.len() <= segment {
                assert_eq!(segment, seen.len(), "segments fill in order");
                seen.push(vec![false; 1 << (segment + SEG0_BITS as usize)]);
            }
            assert!(!seen[segment][offset], "slot {i} shares a tag");
            seen[segment][offset] = true;
            count += 1;
            if i > 0 && Tags::locate(i - 1).0 == segment {
                let prev = Tags::locate(i - 1).1;
                assert_ne!(
                    prev / 8,
                    offset / 8,
                    "slots {} and {i} share a cache line",
                    i - 1
                );
            }
        }
        assert!(
            seen.iter().all(|s| s.iter().all(|&b| b)),
            "every tag is used"
        );
        assert_eq!(count, (64 << 11) - 64);
        let (last, _) = Tags::locate(u32::MAX as usize);
        assert!(last < SEGMENTS, "every u32 slot index has a segment");
    }
}
