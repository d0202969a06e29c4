//! The sharded slab that holds one entry per live tracked task.
//!
//! # Invariants
//!
//! - Each shard is a slab behind its own lock: `slots[i]` is either occupied (its
//!   `tag` is the id) or a vacant link in the shard's free list (`free_head`, then each
//!   vacant slot's `tag & !VACANT`); a vacant slot's `entry` is stale and never read,
//!   and holds no name. `len` counts the occupied slots.
//! - A [`Key`] names one occupied slot from [`Registry::insert`] until the single
//!   [`Registry::remove`] that its owner (the task's wrapper) makes when it drops.
//!   Nobody else frees a slot, so a key is never stale while its owner holds it.
//! - The shard count is a power of two, `1 << shard_bits`. Task ids are
//!   `seq << shard_bits | shard` with `seq` counting the shard's inserts from 1:
//!   unique across shards without any shared counter, never zero, and the shard is
//!   recovered from the id, so a [`Key`] is just the id plus the slot index.
//! - A thread inserts into the shard it was assigned (round-robin at first use), so
//!   spawns on different worker threads take different locks. Removal may happen on any
//!   thread (tasks migrate) and takes the lock of the shard the key names.
//!
//! # Lock order
//!
//! At most one shard lock is held at a time; snapshots lock the shards one after
//! another, so a snapshot is a union of per-shard moments, not one global instant.

use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

use crate::clock::Clock;
use crate::sync::Mutex;

/// What the registry stores for one live task.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) location: &'static Location<'static>,
    pub(crate) parent: Option<NonZeroU64>,
    pub(crate) runtime: tokio::runtime::Id,
    /// The spawn time as a [`Clock`] stamp (8 bytes instead of an `Instant`'s 16, so
    /// a slot fits one cache line).
    pub(crate) spawned_at: u64,
    pub(crate) tree: u32,
}

/// Names one occupied slot: the task id (which carries the shard) and the slot index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) id: NonZeroU64,
    pub(crate) slot: u32,
}

/// One entry's place in a shard: `tag` is the occupant's id, or [`VACANT`] plus the
/// next free slot; a vacant slot's `entry` holds the last occupant's plain fields (its
/// name taken out). A struct rather than an enum, so insert and remove write only the
/// words that change (not a whole 64-byte variant, with drop glue for the old one),
/// and 64 bytes, one cache line.
#[derive(Debug)]
struct Slot {
    tag: u64,
    entry: Entry,
}

/// Marks a vacant [`Slot::tag`]; ids stay below it (`seq` would need 2^47 inserts in
/// one shard to reach it).
const VACANT: u64 = 1 << 63;

/// End of a shard's free list.
const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Slab {
    slots: Vec<Slot>,
    free_head: u32,
    len: usize,
    seq: u64,
}

/// One shard, padded to its own cache lines so neighbouring locks do not false-share.
#[derive(Debug)]
#[repr(align(128))]
struct Shard {
    slab: Mutex<Slab>,
}

/// The live-task table: a fixed number of independently locked slabs.
#[derive(Debug)]
pub(crate) struct Registry {
    shards: Box<[Shard]>,
    shard_bits: u32,
    clock: Clock,
}

impl Registry {
    /// A registry with `shard_count` shards, rounded up to a power of two (at most
    /// 2^16).
    pub(crate) fn new(shard_count: usize) -> Self {
        let shard_count = shard_count.clamp(1, 1 << 16).next_power_of_two();
        let shard_bits = shard_count.trailing_zeros();
        let shards = (0..shard_count)
            .map(|_| Shard {
                slab: Mutex::new(Slab {
                    slots: Vec::new(),
                    free_head: NIL,
                    len: 0,
                    seq: 0,
                }),
            })
            .collect();
        Self {
            shards,
            shard_bits,
            clock: Clock::new(),
        }
    }

    /// Now, as stored in [`Entry::spawned_at`] (up to one kernel tick early: see
    /// [`Clock`]).
    #[inline]
    pub(crate) fn stamp(&self) -> u64 {
        self.clock.stamp()
    }

    /// The instant a stamp stands for.
    pub(crate) fn instant(&self, stamp: u64) -> Instant {
        self.clock.instant(stamp)
    }

    /// Stores `entry` in shard `shard % shard_count` and returns its key.
    #[inline]
    pub(crate) fn insert(&self, shard: usize, entry: Entry) -> Key {
        let shard = shard & (self.shards.len() - 1);
        let mut slab = self.shards[shard].slab.lock();
        slab.seq += 1;
        let raw = (slab.seq << self.shard_bits) | shard as u64;
        // `seq >= 1`, so `raw >= 1 << shard_bits > 0`.
        let id = NonZeroU64::new(raw).unwrap_or(NonZeroU64::MAX);
        let slot = if slab.free_head == NIL {
            let slot = slab.slots.len();
            slab.slots.push(Slot {
                tag: id.get(),
                entry,
            });
            slot as u32
        } else {
            let slot = slab.free_head;
            let vacant = &mut slab.slots[slot as usize];
            debug_assert!(vacant.tag & VACANT != 0, "the free list holds vacant slots");
            let next = vacant.tag as u32;
            vacant.tag = id.get();
            vacant.entry = entry;
            slab.free_head = next;
            slot
        };
        slab.len += 1;
        Key { id, slot }
    }

    /// Frees the slot `key` names. Called exactly once per key, by its owner.
    #[inline]
    pub(crate) fn remove(&self, key: Key) {
        let shard = (key.id.get() & ((1 << self.shard_bits) - 1)) as usize;
        let mut slab = self.shards[shard].slab.lock();
        let next = slab.free_head;
        let slot = &mut slab.slots[key.slot as usize];
        debug_assert_eq!(slot.tag, key.id.get(), "a key names its own occupied slot");
        // Take the name out: it is the only thing an entry owns, and it is dropped
        // after the lock is released.
        let name = slot.entry.name.take();
        slot.tag = VACANT | u64::from(next);
        slab.free_head = key.slot;
        slab.len -= 1;
        drop(slab);
        drop(name);
    }

    /// Calls `f` for every live entry, shard by shard.
    pub(crate) fn for_each(&self, mut f: impl FnMut(NonZeroU64, &Entry)) {
        for shard in self.shards.iter() {
            let slab = shard.slab.lock();
            for slot in &slab.slots {
                if let Some(id) = NonZeroU64::new(slot.tag).filter(|_| slot.tag & VACANT == 0) {
                    f(id, &slot.entry);
                }
            }
        }
    }

    /// How many entries are live, summed shard by shard.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.slab.lock().len).sum()
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    fn entry(tree: u32) -> Entry {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        Entry {
            name: None,
            location: Location::caller(),
            parent: None,
            runtime: rt.handle().id(),
            spawned_at: 0,
            tree,
        }
    }

    #[test]
    fn a_slot_fits_one_cache_line() {
        assert!(std::mem::size_of::<Slot>() <= 64);
    }

    #[test]
    fn stamps_are_never_later_than_now() {
        let reg = Registry::new(1);
        assert!(reg.instant(reg.stamp()) <= Instant::now());
    }

    #[test]
    fn slots_are_reused_and_ids_stay_unique() {
        let reg = Registry::new(4);
        let a = reg.insert(1, entry(1));
        let b = reg.insert(1, entry(2));
        let c = reg.insert(6, entry(3));
        assert_eq!(reg.len(), 3);
        assert_ne!(a.id, b.id);
        assert_ne!(b.id, c.id);
        reg.remove(a);
        let d = reg.insert(1, entry(4));
        assert_eq!(d.slot, a.slot, "the freed slot is reused");
        assert_ne!(d.id, a.id, "but the id is new");
        let mut trees = Vec::new();
        reg.for_each(|_, e| trees.push(e.tree));
        trees.sort_unstable();
        assert_eq!(trees, [2, 3, 4]);
        reg.remove(b);
        reg.remove(c);
        reg.remove(d);
        assert_eq!(reg.len(), 0);
    }
}

#[cfg(all(test, corral_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc as LArc;
    use loom::thread;

    /// A runtime id made outside the model (tokio is not loom-aware); only its value
    /// is stored.
    fn runtime_id() -> tokio::runtime::Id {
        static ID: std::sync::OnceLock<tokio::runtime::Id> = std::sync::OnceLock::new();
        *ID.get_or_init(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.handle().id()
        })
    }

    fn entry(tree: u32) -> Entry {
        Entry {
            name: None,
            location: Location::caller(),
            parent: None,
            runtime: runtime_id(),
            spawned_at: 0,
            tree,
        }
    }

    /// Two threads insert into the same shard and remove their own entry while a third
    /// takes snapshots: every snapshot sees only entries that are live, never a torn
    /// slot, and the table ends empty with distinct ids.
    #[test]
    fn concurrent_insert_remove_snapshot() {
        runtime_id();
        loom::model(|| {
            let reg = LArc::new(Registry::new(1));
            let workers: Vec<_> = (0..2u32)
                .map(|t| {
                    let reg = reg.clone();
                    thread::spawn(move || {
                        let key = reg.insert(0, entry(t + 1));
                        reg.remove(key);
                        key.id
                    })
                })
                .collect();
            let mut seen = 0;
            reg.for_each(|_, e| {
                assert!(e.tree == 1 || e.tree == 2);
                seen += 1;
            });
            assert!(seen <= 2);
            let ids: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
            assert_ne!(ids[0], ids[1]);
            assert_eq!(reg.len(), 0);
        });
    }

    /// Inserts on two shards race with a removal that frees a slot another insert
    /// reuses: the free list never hands one slot to two entries.
    #[test]
    fn reuse_races_with_insert_on_other_shard() {
        runtime_id();
        loom::model(|| {
            let reg = LArc::new(Registry::new(2));
            let first = reg.insert(0, entry(1));
            let r1 = reg.clone();
            let a = thread::spawn(move || {
                r1.remove(first);
                r1.insert(0, entry(2))
            });
            let r2 = reg.clone();
            let b = thread::spawn(move || r2.insert(1, entry(3)));
            let ka = a.join().unwrap();
            let kb = b.join().unwrap();
            assert_ne!(ka, kb);
            assert_ne!(ka.id, kb.id);
            assert_eq!(reg.len(), 2);
            let mut trees = Vec::new();
            reg.for_each(|_, e| trees.push(e.tree));
            trees.sort_unstable();
            assert_eq!(trees, [2, 3]);
        });
    }
    /// A key inserted on one thread is removed on another (a task dropped on a worker
    /// it migrated to) while a third inserts into the same shard, possibly into the
    /// freed slot, and the main thread takes a snapshot: the snapshot never shows the
    /// new entry under the old id or the old entry under the new one, and the table
    /// ends with exactly the new entry.
    #[test]
    fn cross_thread_remove_races_insert_and_snapshot() {
        runtime_id();
        loom::model(|| {
            let reg = LArc::new(Registry::new(2));
            let old = reg.insert(0, entry(1));
            let r1 = reg.clone();
            let remover = thread::spawn(move || r1.remove(old));
            let r2 = reg.clone();
            let inserter = thread::spawn(move || r2.insert(0, entry(2)));
            let mut seen = Vec::new();
            reg.for_each(|id, e| seen.push((id, e.tree)));
            remover.join().unwrap();
            let new = inserter.join().unwrap();
            assert_ne!(new.id, old.id);
            assert!(seen.len() <= 2);
            for (id, tree) in seen {
                match tree {
                    1 => assert_eq!(id, old.id),
                    2 => assert_eq!(id, new.id),
                    other => panic!("unexpected entry {other}"),
                }
            }
            let mut live = Vec::new();
            reg.for_each(|id, e| live.push((id, e.tree)));
            assert_eq!(live, [(new.id, 2)]);
            assert_eq!(reg.len(), 1);
        });
    }
}
