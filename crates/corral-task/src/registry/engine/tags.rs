//! The per-slot words of one shard: one atomic word per slot, in segments that never
//! move (the entries, in a `Vec` behind the lock, may move when it grows), so a word
//! can be read or written without the shard lock. A shard keeps two such arrays (see
//! `engine.rs`): the tags, written only by inserts, and the ended marks, written only
//! by retiring tasks.

use corral_shared::sync::AtomicU64;
// `std`'s in both builds: loom has no `OnceLock`. A segment is published once, under
// the shard lock, and the words inside are loom's atomics, so the accesses that matter
// are still modelled.
use std::sync::OnceLock;

/// The first tag segment holds `1 << SEG0_BITS` slots, each later one twice as many.
const SEG0_BITS: u32 = 6;

/// Enough segments for 2^32 slots in one shard (slot indices are `u32`).
const SEGMENTS: usize = 27;

/// One atomic word per slot of a shard (every word starts at 0), in segments that
/// never move once allocated, so a task can retire its slot with one atomic store and
/// no lock.
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

    /// The segment and offset of slot `i`: slots in order, so a pass over consecutive
    /// slots touches each cache line once.
    ///
    /// (Until the tags were split from the ended marks, slots were spread so that the
    /// eight words of a line belonged to slots an eighth of a segment apart, against a
    /// retiring core pulling away the line the spawning core was writing its
    /// neighbour's tag into. Now nobody but the spawner writes a tag, and the spread
    /// cost a cache miss per slot in every pass over a segment larger than the cache,
    /// against one per eight slots in order.)
    #[inline]
    fn locate(i: usize) -> (usize, usize) {
        let n = i + (1 << SEG0_BITS);
        let top = (usize::BITS - 1 - n.leading_zeros()) as usize;
        (top - SEG0_BITS as usize, n - (1 << top))
    }

    /// The word of slot `i`, whose segment exists (every slot below the slab's length).
    #[inline]
    pub(super) fn get(&self, i: usize) -> &AtomicU64 {
        let (segment, offset) = Self::locate(i);
        match self.segments[segment].get() {
            Some(tags) => &tags[offset],
            None => unreachable!("slot {i} is below the slab's length, so its segment exists"),
        }
    }

    /// Makes sure slot `i` has a word (called under the shard lock, as the slab grows).
    pub(super) fn reserve(&self, i: usize) {
        let (segment, _) = Self::locate(i);
        self.segments[segment].get_or_init(|| {
            (0..1usize << (segment + SEG0_BITS as usize))
                .map(|_| AtomicU64::new(0))
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
                assert_eq!(Tags::locate(i - 1).1 + 1, offset, "slots in order");
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
