//! The sharded slab that holds one entry per live tracked task.
//!
//! # Invariants
//!
//! - Each shard is a slab behind its own lock: `slots[i]` is either occupied (its
//!   `tag` is the id) or a vacant link in the shard's free list (`free_head`, then each
//!   vacant slot's `tag & !VACANT`); a vacant slot's `entry` is stale and never read,
//!   and holds no name. `len` counts the occupied slots.
//! - A [`Key`] (shard and slot index) names one occupied slot from [`Registry::insert`] until the single
//!   [`Registry::remove`] that its owner (the task's wrapper) makes when it drops.
//!   Nobody else frees a slot, so a key is never stale while its owner holds it.
//! - The shard count is a power of two, `1 << shard_bits`. Task ids are
//!   `seq << shard_bits | shard` with `seq` counting the shard's inserts from 1:
//!   unique across shards without any shared counter, and never zero.
//! - A task's parent and tree mark are copied into its entry at insert, from the
//!   spawning task's slot ([`Origin::Task`]); the tree mark in a slot changes only
//!   through [`Registry::set_tree`], called by the task that holds the key.
//! - A thread inserts into the shard it was assigned (round-robin at first use), so
//!   spawns on different worker threads take different locks. Removal may happen on any
//!   thread (tasks migrate) and takes the lock of the shard the key names.
//!
//! # Lock order
//!
//! At most one shard lock is held at a time; snapshots lock the shards one after
//! another, a batch of slots at a time, so a snapshot is a union of moments, not one
//! global instant. The locks spin ([`crate::spin`]): every hold is short.

use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

use crate::clock::Clock;
use crate::spin::BATCH;
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

/// Names one occupied slot: a marker bit (so a key is never zero and `Option<Key>` is
/// one word too), the shard index, and the slot index in the low half.
///
/// Eight bytes, and no more: every tracked task carries its key, and tokio allocates a
/// task in multiples of 128 bytes, so for a no-op future a second word tips the task
/// from 128 bytes to 256 (and spawn + join becomes 1.2x slower from that alone). The
/// task's id and tree mark live in its slot instead ([`Registry::lineage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(NonZeroU64);

impl Key {
    const MARK: u64 = 1 << 63;

    #[inline]
    fn new(shard: usize, slot: u32) -> Self {
        // Shards are fewer than 2^16, so the shard never reaches the marker bit.
        let raw = Self::MARK | ((shard as u64) << 32) | u64::from(slot);
        Self(NonZeroU64::new(raw).unwrap_or(NonZeroU64::MAX))
    }

    #[inline]
    fn shard(self) -> usize {
        ((self.0.get() & !Self::MARK) >> 32) as usize
    }

    #[inline]
    fn slot(self) -> usize {
        (self.0.get() as u32) as usize
    }
}

/// Who a task is, as its children inherit it: its id and its tree mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lineage {
    pub(crate) id: NonZeroU64,
    pub(crate) tree: u32,
}

/// Where a new entry's parent and tree mark come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin {
    /// Spawned outside a tracked task: no parent, this tree mark.
    Thread { tree: u32 },
    /// Spawned by a tracked task whose lineage is already known.
    Known(Lineage),
    /// Spawned by the tracked task holding this key; its lineage is read from its slot.
    Task(Key),
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

impl Slab {
    /// The id and tree mark of the occupant of `slot`.
    #[inline]
    fn lineage(&self, slot: usize) -> Lineage {
        let slot = &self.slots[slot];
        debug_assert!(slot.tag & VACANT == 0, "a key names an occupied slot");
        Lineage {
            // An occupied tag is an id, never zero.
            id: NonZeroU64::new(slot.tag).unwrap_or(NonZeroU64::MAX),
            tree: slot.entry.tree,
        }
    }
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

    /// Stores `entry` in shard `shard % shard_count`, with its parent and tree mark
    /// taken from `origin`, and returns its key and the parent's lineage (for the
    /// caller to remember for the rest of the parent's poll).
    ///
    /// The parent of a [`Origin::Task`] is read under the same lock when it lives in
    /// the same shard, and under its own shard's lock (taken and released first) when
    /// not.
    #[inline]
    pub(crate) fn insert(
        &self,
        shard: usize,
        mut entry: Entry,
        origin: Origin,
    ) -> (Key, Option<Lineage>) {
        let shard = shard & (self.shards.len() - 1);
        let mut parent = match origin {
            Origin::Thread { tree } => {
                entry.tree = tree;
                None
            }
            Origin::Known(lineage) => Some(lineage),
            Origin::Task(key) if key.shard() != shard => Some(self.lineage(key)),
            Origin::Task(_) => None,
        };
        let mut slab = self.shards[shard].slab.lock();
        if let Origin::Task(key) = origin {
            if key.shard() == shard {
                parent = Some(slab.lineage(key.slot()));
            }
        }
        if let Some(parent) = parent {
            entry.parent = Some(parent.id);
            entry.tree = parent.tree;
        }
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
        (Key::new(shard, slot), parent)
    }

    /// The id and tree mark of the task holding `key`.
    pub(crate) fn lineage(&self, key: Key) -> Lineage {
        self.shards[key.shard()].slab.lock().lineage(key.slot())
    }

    /// Replaces the tree mark of the task holding `key`, returning the previous one.
    pub(crate) fn set_tree(&self, key: Key, tree: u32) -> u32 {
        let mut slab = self.shards[key.shard()].slab.lock();
        let slot = &mut slab.slots[key.slot()];
        debug_assert!(slot.tag & VACANT == 0, "a key names an occupied slot");
        std::mem::replace(&mut slot.entry.tree, tree)
    }

    /// Frees the slot `key` names. Called exactly once per key, by its owner.
    #[inline]
    pub(crate) fn remove(&self, key: Key) {
        let mut slab = self.shards[key.shard()].slab.lock();
        let next = slab.free_head;
        let slot = &mut slab.slots[key.slot()];
        debug_assert!(slot.tag & VACANT == 0, "a key names an occupied slot");
        // Take the name out: it is the only thing an entry owns, and it is dropped
        // after the lock is released.
        let name = slot.entry.name.take();
        slot.tag = VACANT | u64::from(next);
        slab.free_head = key.slot() as u32;
        slab.len -= 1;
        drop(slab);
        drop(name);
    }

    /// Calls `f` for every live entry, shard by shard, holding a shard's lock for at
    /// most [`BATCH`] slots at a time (spawners on that shard wait for it).
    ///
    /// Slots do not move between batches (a growing slab only appends), so every entry
    /// live throughout the call is seen once, and every entry seen was live at some
    /// point during it.
    pub(crate) fn for_each(&self, mut f: impl FnMut(NonZeroU64, &Entry)) {
        for shard in self.shards.iter() {
            let mut start = 0;
            loop {
                let slab = shard.slab.lock();
                let end = slab.slots.len().min(start + BATCH);
                for slot in &slab.slots[start.min(end)..end] {
                    if let Some(id) = NonZeroU64::new(slot.tag).filter(|_| slot.tag & VACANT == 0) {
                        f(id, &slot.entry);
                    }
                }
                if end == slab.slots.len() {
                    break;
                }
                start = end;
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

    fn insert(reg: &Registry, shard: usize, tree: u32) -> Key {
        reg.insert(shard, entry(0), Origin::Thread { tree }).0
    }

    #[test]
    fn slots_are_reused_and_ids_stay_unique() {
        let reg = Registry::new(4);
        let a = insert(&reg, 1, 1);
        let b = insert(&reg, 1, 2);
        let c = insert(&reg, 6, 3);
        assert_eq!(reg.len(), 3);
        let a_id = reg.lineage(a).id;
        assert_ne!(a_id, reg.lineage(b).id);
        assert_ne!(reg.lineage(b).id, reg.lineage(c).id);
        assert_eq!(c.shard(), 2, "shard indices wrap");
        reg.remove(a);
        let d = insert(&reg, 1, 4);
        assert_eq!(d, a, "the freed slot is reused");
        assert_ne!(reg.lineage(d).id, a_id, "but the id is new");
        let mut trees = Vec::new();
        reg.for_each(|_, e| trees.push(e.tree));
        trees.sort_unstable();
        assert_eq!(trees, [2, 3, 4]);
        reg.remove(b);
        reg.remove(c);
        reg.remove(d);
        assert_eq!(reg.len(), 0);
    }

    #[test]
    fn children_copy_the_parent_lineage_from_any_shard() {
        let reg = Registry::new(4);
        let parent = insert(&reg, 1, 9);
        let lineage = reg.lineage(parent);
        assert_eq!(lineage.tree, 9);
        for shard in [1, 2] {
            let (child, seen) = reg.insert(shard, entry(0), Origin::Task(parent));
            assert_eq!(seen, Some(lineage), "shard {shard}");
            assert_eq!(reg.lineage(child).tree, 9, "the tree mark is inherited");
            let child_id = reg.lineage(child).id;
            let mut parents = Vec::new();
            reg.for_each(|id, e| {
                if id == child_id {
                    parents.push(e.parent);
                }
            });
            assert_eq!(parents, [Some(lineage.id)]);
            reg.remove(child);
        }
        let (known, seen) = reg.insert(3, entry(0), Origin::Known(lineage));
        assert_eq!(seen, Some(lineage));
        assert_eq!(reg.lineage(known).tree, 9);
        assert_eq!(reg.set_tree(parent, 4), 9);
        assert_eq!(
            reg.lineage(parent),
            Lineage {
                id: lineage.id,
                tree: 4
            }
        );
        reg.remove(known);
        reg.remove(parent);
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

    fn entry() -> Entry {
        Entry {
            name: None,
            location: Location::caller(),
            parent: None,
            runtime: runtime_id(),
            spawned_at: 0,
            tree: 0,
        }
    }

    fn insert(reg: &Registry, shard: usize, tree: u32) -> Key {
        reg.insert(shard, entry(), Origin::Thread { tree }).0
    }

    /// A child spawned on another shard reads its parent's lineage under the parent's
    /// lock while the parent's own thread moves its tree mark and a third thread
    /// inserts into and removes from the parent's shard: the child gets the parent's
    /// id and one of the two marks, never a torn or foreign one.
    #[test]
    fn cross_shard_lineage_races_set_tree_and_churn() {
        runtime_id();
        loom::model(|| {
            let reg = LArc::new(Registry::new(2));
            let parent = insert(&reg, 0, 1);
            let parent_id = reg.lineage(parent).id;
            let r1 = reg.clone();
            let marker = thread::spawn(move || r1.set_tree(parent, 2));
            let r2 = reg.clone();
            let churn = thread::spawn(move || {
                let k = insert(&r2, 0, 7);
                r2.remove(k);
            });
            let (child, seen) = reg.insert(1, entry(), Origin::Task(parent));
            let seen = seen.unwrap();
            assert_eq!(seen.id, parent_id);
            assert!(seen.tree == 1 || seen.tree == 2);
            assert_eq!(reg.lineage(child).tree, seen.tree);
            assert_eq!(marker.join().unwrap(), 1);
            churn.join().unwrap();
            reg.remove(child);
            reg.remove(parent);
            assert_eq!(reg.len(), 0);
        });
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
                        let (key, _) = reg.insert(0, entry(), Origin::Thread { tree: t + 1 });
                        let id = reg.lineage(key).id;
                        reg.remove(key);
                        id
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
            let first = insert(&reg, 0, 1);
            let r1 = reg.clone();
            let a = thread::spawn(move || {
                r1.remove(first);
                insert(&r1, 0, 2)
            });
            let r2 = reg.clone();
            let b = thread::spawn(move || insert(&r2, 1, 3));
            let ka = a.join().unwrap();
            let kb = b.join().unwrap();
            assert_ne!(ka, kb);
            assert_ne!(reg.lineage(ka).id, reg.lineage(kb).id);
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
            let old = insert(&reg, 0, 1);
            let old_id = reg.lineage(old).id;
            let r1 = reg.clone();
            let remover = thread::spawn(move || r1.remove(old));
            let r2 = reg.clone();
            let inserter = thread::spawn(move || insert(&r2, 0, 2));
            let mut seen = Vec::new();
            reg.for_each(|id, e| seen.push((id, e.tree)));
            remover.join().unwrap();
            let new = inserter.join().unwrap();
            let new_id = reg.lineage(new).id;
            assert_ne!(new_id, old_id);
            assert!(seen.len() <= 2);
            for (id, tree) in seen {
                match tree {
                    1 => assert_eq!(id, old_id),
                    2 => assert_eq!(id, new_id),
                    other => panic!("unexpected entry {other}"),
                }
            }
            let mut live = Vec::new();
            reg.for_each(|id, e| live.push((id, e.tree)));
            assert_eq!(live, [(new_id, 2)]);
            assert_eq!(reg.len(), 1);
        });
    }
}
