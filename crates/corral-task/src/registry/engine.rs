//! The sharded slab that holds one entry per live tracked task.
//!
//! # Invariants
//!
//! - Each shard is a slab behind its own lock (`entries`, the free list, the id counter)
//!   plus two atomic words per slot, kept in segments that never move ([`Tags`]): the
//!   slot's *tag*, `0` until its first occupant and then the last occupant's id with
//!   that occupant's generation bit ([`GEN`]), and its *ended* mark, the generation
//!   bit of the last occupant that retired (`0` at first). A slot is live exactly when
//!   its tag is non-zero and its ended mark differs from the tag's generation bit
//!   ([`Shard::live`]); otherwise it has no task (retired and not reclaimed yet, or
//!   free, when the slot is on the shard's `free` list). Snapshots and counts show only
//!   live slots; an entry is read only while its slot is live.
//! - Each insert flips the slot's generation bit, so consecutive occupants of a slot
//!   differ in it: the retirement of one occupant never hides the next, and a slot is
//!   reused only after its retirement (reclaiming follows it), so one bit suffices.
//! - A [`Key`] (shard, slot index and generation bit) names one live slot from
//!   [`Registry::insert`] until its owner (the task's wrapper) calls
//!   [`Registry::retire`], exactly once, and then hands the key to
//!   [`Registry::reclaim`], exactly once. Retiring is one `Release` store to the ended
//!   mark, with no lock: that is what lets a task end without touching its spawning
//!   thread's lock. Only reclaiming (under the lock) makes a slot free, so a retired
//!   slot is never reused early, and nobody else frees a slot.
//! - Tags are written only by inserts (under the shard lock) and ended marks only by
//!   retirements, so the two never share a writer: a task that ends on another worker
//!   than the one that spawned it writes a line of ended marks and never the spawning
//!   worker's tag line, which stays in the spawner's cache for its next insert (when a
//!   retirement wrote the tag itself, that line crossed cores twice per migrated task,
//!   and the spawner's next insert waited for it: a third of `insert` on `mt2`).
//! - The shard count is a power of two, `1 << shard_bits`. Task ids are
//!   `seq << shard_bits | shard` with `seq` counting the shard's inserts from 1:
//!   unique across shards without any shared counter, and never zero.
//! - A task's parent and tree mark are copied into its entry at insert, from the
//!   spawning task's slot ([`Origin::Task`]); the tree mark in a slot changes only
//!   through [`Registry::set_tree`], called by the task that holds the key.
//! - `crumbs[i]` (a [`Crumb`]) belongs to slot `i`'s occupant only while its `id`
//!   is the slot's tag; otherwise it is stale and means "no creator record yet".
//!   So an insert from outside any tracked task never touches it, and a reused slot
//!   needs no reset. A child of a tracked task gets a crumb with its parent's
//!   creator record; a task's own record is made at its first lineage lookup (its
//!   first child) and kept in its crumb.
//! - A thread inserts into the shard it was assigned (round-robin at first use), so
//!   spawns on different worker threads take different locks. A task may end on any
//!   thread (tasks migrate); its retirement touches only its tag, and reclaiming takes
//!   the lock of the shard the key names once per batch of keys.
//!
//! # Lock order
//!
//! At most one shard lock is held at a time; snapshots lock the shards one after
//! another, a batch of slots at a time, so a snapshot is a union of moments, not one
//! global instant. The locks are `corral_shared`'s `Mutex` (parking_lot's outside
//! loom, loom's in the models, so the models run this code): every hold is short (one
//! slot written, a batch of at most 64 reclaimed slots, or [`BATCH`] slots copied by a
//! snapshot). The creator records' lock nests inside a shard lock (a task's record is
//! made while its slot is locked, [`crate::creators`]) and takes nothing else; the
//! runtime table's lock is never taken under a shard lock (interned before the insert,
//! read after a snapshot's scan).

use std::num::NonZeroU64;
use std::panic::Location;
// `std`'s in both builds: a name is an `Arc<str>`, and loom's `Arc` has no unsized
// coercion.
use std::sync::Arc;
use std::time::Instant;

use corral_shared::sync::{Mutex, Ordering};

use crate::clock::Clock;
use crate::creators::Creators;
use crate::runtimes::Runtimes;
use tags::Tags;

mod tags;

/// How many slots a snapshot copies under one hold of a shard lock.
const BATCH: usize = 256;

/// What the registry stores for one live task: 32 bytes, two to a cache line (a
/// name, when there is one, is kept beside the entries; the runtime is an index into
/// [`crate::runtimes`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) location: &'static Location<'static>,
    pub(crate) parent: Option<NonZeroU64>,
    /// The spawn time as a [`Clock`] stamp.
    pub(crate) spawned_at: u64,
    /// The runtime, as interned by [`crate::runtimes::intern`].
    pub(crate) runtime: u32,
    pub(crate) tree: u32,
}

/// The generation bit of a tag (and of an ended mark): flipped by each insert into a
/// slot. Ids stay below it (`seq` would need 2^46 inserts in one shard to reach it).
const GEN: u64 = 1 << 62;

/// Names one occupied slot: a marker bit (so a key is never zero and `Option<Key>` is
/// one word too), whether the entry has a name, the occupant's generation bit (bit
/// 61), the shard index (bits 32-47), and the slot index in the low half.
///
/// Eight bytes, and no more: every tracked task carries its key, and tokio allocates a
/// task in multiples of 128 bytes, so for a no-op future a second word tips the task
/// from 128 bytes to 256 (and spawn + join becomes 1.2x slower from that alone). The
/// task's id and tree mark live in its slot instead ([`Registry::lineage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(NonZeroU64);

impl Key {
    /// A key that names no slot, to fill buffers with (never handed to the registry).
    pub(crate) const UNUSED: Key = Key(NonZeroU64::MAX);

    const MARK: u64 = 1 << 63;
    /// The entry owns a name, which reclaiming the slot must drop.
    const NAMED: u64 = 1 << 62;
    /// The occupant's generation bit is set ([`GEN`] in its tag).
    const GEN: u64 = 1 << 61;

    #[inline]
    fn new(shard: usize, slot: u32, named: bool, gen: u64) -> Self {
        // Shards are fewer than 2^16, so the shard stays below the flag bits.
        let flags =
            Self::MARK | if named { Self::NAMED } else { 0 } | if gen != 0 { Self::GEN } else { 0 };
        let raw = flags | ((shard as u64) << 32) | u64::from(slot);
        Self(NonZeroU64::new(raw).unwrap_or(NonZeroU64::MAX))
    }

    #[inline]
    fn shard(self) -> usize {
        ((self.0.get() >> 32) & 0xffff) as usize
    }

    #[inline]
    fn named(self) -> bool {
        self.0.get() & Self::NAMED != 0
    }

    /// The occupant's generation bit, as stored in a tag and an ended mark.
    #[inline]
    fn gen(self) -> u64 {
        if self.0.get() & Self::GEN != 0 {
            GEN
        } else {
            0
        }
    }

    #[inline]
    fn slot(self) -> usize {
        (self.0.get() as u32) as usize
    }
}

/// Who a task is, as its children inherit it: its id, its tree mark and its creator
/// record ([`crate::creators`]; 0 if the table was full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lineage {
    pub(crate) id: NonZeroU64,
    pub(crate) tree: u32,
    pub(crate) record: u32,
}

/// Creator records of a slot's occupant, valid while `id` is the slot's tag (see the
/// module's invariants).
#[derive(Debug, Clone, Copy, Default)]
struct Crumb {
    id: u64,
    /// The record of the task that spawned the occupant (0: none).
    creator: u32,
    /// The occupant's own record, once made (0: not yet).
    record: u32,
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

/// What the lock guards: the entries, the names, the free list and the id counter.
#[derive(Debug)]
struct Slab {
    /// `entries[i]` belongs to slot `i`; it is read only while the slot's tag is an id.
    entries: Vec<Entry>,
    /// `names[i]` is the name of slot `i` while it is live or retired and named. Grown
    /// only when a named task takes a slot past its end, so a shard that never sees a
    /// named task never allocates it, and an unnamed spawn never touches it.
    names: Vec<Option<Arc<str>>>,
    /// `crumbs[i]` is slot `i`'s [`Crumb`]; grown only when a child of a tracked task
    /// takes a slot past its end.
    crumbs: Vec<Crumb>,
    /// The free slots, taken from the end. A separate stack rather than a list linked
    /// through the tags: a slot reclaimed on another worker (where its task ended) has
    /// its tag's cache line there, and reading a next link from it made every spawn
    /// wait for that line once to read it and again to write the new id (a third of
    /// `insert`'s samples on `mt2`); here one line brings 16 free slots.
    free: Vec<u32>,
    seq: u64,
}

/// One shard, padded to its own cache lines so neighbouring locks do not false-share.
#[derive(Debug)]
#[repr(align(128))]
struct Shard {
    slab: Mutex<Slab>,
    /// Per slot: the last occupant's id and generation bit (see the invariants).
    tags: Tags,
    /// Per slot: the generation bit of the last occupant that retired.
    ended: Tags,
}

impl Slab {
    /// The creator record of the occupant of `slot`, whose id is `id` (0: none).
    #[inline]
    fn creator(&self, slot: usize, id: u64) -> u32 {
        self.crumbs
            .get(slot)
            .filter(|c| c.id == id)
            .map_or(0, |c| c.creator)
    }

    /// Writes the crumb of slot `slot`.
    fn set_crumb(&mut self, slot: usize, crumb: Crumb) {
        if self.crumbs.len() <= slot {
            self.crumbs.resize(slot + 1, Crumb::default());
        }
        self.crumbs[slot] = crumb;
    }
}

impl Shard {
    /// The id of the occupant of `slot` if the slot is live (see the invariants).
    ///
    /// Under the shard lock the answer is exact (the slot cannot be reclaimed and
    /// reused meanwhile). Without it (`len`, which holds the lock only to read the
    /// length, and uses only whether there is an id), a slot reported live had a live
    /// occupant at some moment during the call, though not necessarily the one whose
    /// id is returned: the tag's Acquire load makes the retirement of every earlier
    /// occupant but the last visible (they happened before this occupant's insert),
    /// so the ended mark read next is the previous occupant's (this one is live), this
    /// occupant's own (it is gone) or a later occupant's, which was inserted, so live,
    /// during the call.
    #[inline]
    fn live(&self, slot: usize) -> Option<NonZeroU64> {
        // Acquire: pairs with the insert's Release store of the tag.
        let tag = self.tags.get(slot).load(Ordering::Acquire);
        // Acquire: pairs with the retirement's Release store (see `retire`).
        let ended = self.ended.get(slot).load(Ordering::Acquire);
        NonZeroU64::new(tag & !GEN).filter(|_| ended != tag & GEN)
    }

    /// The id, tree mark and creator record of the occupant of `slot`, making the
    /// record if it has none yet.
    #[inline]
    fn lineage(&self, slab: &mut Slab, slot: usize, creators: &Creators) -> Lineage {
        // Relaxed: written under the lock, which the caller holds.
        let id = self.tags.get(slot).load(Ordering::Relaxed) & !GEN;
        debug_assert!(self.live(slot).is_some(), "a key names an occupied slot");
        let record = match slab.crumbs.get(slot) {
            Some(c) if c.id == id && c.record != 0 => c.record,
            _ => make_record(slab, slot, id, creators),
        };
        Lineage {
            // An occupied slot's tag holds an id, never zero.
            id: NonZeroU64::new(id).unwrap_or(NonZeroU64::MAX),
            tree: slab.entries[slot].tree,
            record,
        }
    }
}

/// Makes (or finds) the creator record of the occupant of `slot`, id `id`, and keeps
/// it in its crumb; 0 if the table is full (tried again at the next lookup).
#[cold]
fn make_record(slab: &mut Slab, slot: usize, id: u64, creators: &Creators) -> u32 {
    let creator = slab.creator(slot, id);
    let name = slab.names.get(slot).cloned().flatten();
    let record = creators.intern(slab.entries[slot].location, name, creator);
    slab.set_crumb(
        slot,
        Crumb {
            id,
            creator,
            record,
        },
    );
    record
}

/// The live-task table: a fixed number of independently locked slabs.
#[derive(Debug)]
pub(crate) struct Registry {
    shards: Box<[Shard]>,
    shard_bits: u32,
    clock: Clock,
    runtimes: Runtimes,
    creators: Creators,
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
                    entries: Vec::new(),
                    names: Vec::new(),
                    crumbs: Vec::new(),
                    free: Vec::new(),
                    seq: 0,
                }),
                tags: Tags::new(),
                ended: Tags::new(),
            })
            .collect();
        Self {
            shards,
            shard_bits,
            clock: Clock::new(),
            runtimes: Runtimes::new(),
            creators: Creators::new(),
        }
    }

    /// The table the crumbs' creator records point into.
    #[inline]
    pub(crate) fn creators(&self) -> &Creators {
        &self.creators
    }

    /// The table the entries' [`Entry::runtime`] indices point into.
    #[inline]
    pub(crate) fn runtimes(&self) -> &Runtimes {
        &self.runtimes
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

    /// Stores an entry for a task spawned now at `location` on the runtime with index
    /// `runtime` in shard `shard % shard_count`, with its parent and tree mark taken
    /// from `origin`, and returns its key and the parent's lineage (for the caller to
    /// remember for the rest of the parent's poll).
    ///
    /// The parent of a [`Origin::Task`] is read under the same lock when it lives in
    /// the same shard, and under its own shard's lock (taken and released first) when
    /// not.
    ///
    /// The entry is built here from scalar arguments and `origin` is taken by
    /// reference: the spawn path builds its values with one store per field, and a
    /// by-value `Entry` or `Origin` was copied with 16-byte loads spanning two of those
    /// stores, which the CPU cannot forward (two store-forwarding stalls on every
    /// spawn: in the `ct` profile, half the samples of the spawn loop outside the
    /// registry and a sixth of `insert`'s).
    #[inline]
    pub(crate) fn insert(
        &self,
        shard: usize,
        location: &'static Location<'static>,
        runtime: u32,
        name: Option<Arc<str>>,
        origin: &Origin,
    ) -> (Key, Option<Lineage>) {
        let mut entry = Entry {
            location,
            parent: None,
            spawned_at: self.stamp(),
            runtime,
            tree: 0,
        };
        let index = shard & (self.shards.len() - 1);
        let mut parent = match *origin {
            Origin::Thread { tree } => {
                entry.tree = tree;
                None
            }
            Origin::Known(lineage) => Some(lineage),
            Origin::Task(key) if key.shard() != index => Some(self.lineage(key)),
            Origin::Task(_) => None,
        };
        let shard = &self.shards[index];
        let mut slab = shard.slab.lock();
        if let Origin::Task(key) = *origin {
            if key.shard() == index {
                parent = Some(shard.lineage(&mut slab, key.slot(), &self.creators));
            }
        }
        if let Some(parent) = parent {
            entry.parent = Some(parent.id);
            entry.tree = parent.tree;
        }
        slab.seq += 1;
        let raw = (slab.seq << self.shard_bits) | index as u64;
        // `seq >= 1`, so `raw >= 1 << shard_bits > 0`.
        let id = NonZeroU64::new(raw).unwrap_or(NonZeroU64::MAX);
        let named = name.is_some();
        let (slot, tag) = match slab.free.pop() {
            None => {
                let slot = slab.entries.len();
                shard.tags.reserve(slot);
                shard.ended.reserve(slot);
                slab.entries.push(entry);
                (slot, shard.tags.get(slot))
            }
            Some(slot) => {
                let slot = slot as usize;
                debug_assert!(shard.live(slot).is_none(), "the free list holds free slots");
                slab.entries[slot] = entry;
                (slot, shard.tags.get(slot))
            }
        };
        // Flipping the generation bit makes the slot live whatever its ended mark says
        // about the previous occupant (Relaxed load: tags are written only under this
        // lock). Release: a reader that sees the new tag (`live`, with or without the
        // lock) sees the entry and the previous occupant's retirement.
        let gen = (tag.load(Ordering::Relaxed) & GEN) ^ GEN;
        tag.store(id.get() | gen, Ordering::Release);
        if let Some(name) = name {
            if slab.names.len() <= slot {
                slab.names.resize(slot + 1, None);
            }
            slab.names[slot] = Some(name);
        }
        if let Some(parent) = parent {
            // Only children of tracked tasks leave a crumb (see the invariants).
            slab.set_crumb(
                slot,
                Crumb {
                    id: id.get(),
                    creator: parent.record,
                    record: 0,
                },
            );
        }
        (Key::new(index, slot as u32, named, gen), parent)
    }

    /// The id, tree mark and creator record of the task holding `key` (making the
    /// record at the first call).
    pub(crate) fn lineage(&self, key: Key) -> Lineage {
        let shard = &self.shards[key.shard()];
        let mut slab = shard.slab.lock();
        shard.lineage(&mut slab, key.slot(), &self.creators)
    }

    /// Replaces the tree mark of the task holding `key`, returning the previous one.
    pub(crate) fn set_tree(&self, key: Key, tree: u32) -> u32 {
        let mut slab = self.shards[key.shard()].slab.lock();
        std::mem::replace(&mut slab.entries[key.slot()].tree, tree)
    }

    /// Takes the task holding `key` out of every later snapshot and count, with one
    /// atomic store to the slot's ended mark and no lock (and nothing the spawning
    /// thread writes: see the invariants). Called exactly once per key, by its owner,
    /// which must then hand the key to [`reclaim`](Self::reclaim) (soon, or in a
    /// batch).
    #[inline]
    pub(crate) fn retire(&self, key: Key) {
        // Release: whoever sees the slot retired (a snapshot, through the lock or not)
        // also sees everything the task did before it was dropped.
        self.shards[key.shard()]
            .ended
            .get(key.slot())
            .store(key.gen(), Ordering::Release);
    }

    /// Puts retired slots back on their shards' free lists, dropping their names
    /// after each shard's lock is released.
    ///
    /// A batch from one shard (a current-thread runtime, or tasks that stayed on their
    /// worker) is taken as it is. A mixed batch is sorted by shard and slot first, so
    /// each shard's lock is taken once, not once per alternation (tasks of two
    /// spawners finishing on one worker alternate), and the free list hands slots out
    /// in address order again (a shuffled free list made every later spawn a cache
    /// miss: two spawners drifted from 1.12x to 1.2x over a hundred rounds).
    pub(crate) fn reclaim(&self, keys: &mut [Key]) {
        if let Some(first) = keys.first() {
            if keys.iter().any(|k| k.shard() != first.shard()) {
                keys.sort_unstable_by_key(|k| (k.shard(), k.slot()));
            }
        }
        let mut names = Vec::new();
        for group in keys.chunk_by(|a, b| a.shard() == b.shard()) {
            let shard = &self.shards[group[0].shard()];
            let mut slab = shard.slab.lock();
            for key in group {
                debug_assert!(shard.live(key.slot()).is_none(), "only retired slots");
                // Only a named slot looks at the names: for the rest, reclaiming
                // touches the free list alone (tag and ended mark stay as they are).
                if key.named() {
                    if let Some(name) = slab.names.get_mut(key.slot()).and_then(Option::take) {
                        names.push(name);
                    }
                }
                slab.free.push(key.slot() as u32);
            }
            drop(slab);
            names.clear();
        }
    }

    /// Retires and reclaims at once (tests; the wrapper batches its reclaims).
    #[cfg(test)]
    pub(crate) fn remove(&self, key: Key) {
        self.retire(key);
        self.reclaim(&mut [key]);
    }

    /// Calls `f` for every live entry, shard by shard, holding a shard's lock for at
    /// most [`BATCH`] slots at a time (spawners on that shard wait for it).
    ///
    /// Slots do not move between batches (a growing slab only appends), so every entry
    /// live throughout the call is seen once, and every entry seen was live at some
    /// point during it.
    ///
    /// `f` gets each entry's id, the entry, its name and the creator record of the
    /// task that spawned it (0: none).
    pub(crate) fn for_each(&self, mut f: impl FnMut(NonZeroU64, &Entry, Option<&Arc<str>>, u32)) {
        for shard in self.shards.iter() {
            let mut start = 0;
            loop {
                let slab = shard.slab.lock();
                let end = slab.entries.len().min(start + BATCH);
                for slot in start.min(end)..end {
                    if let Some(id) = shard.live(slot) {
                        let name = slab.names.get(slot).and_then(Option::as_ref);
                        f(id, &slab.entries[slot], name, slab.creator(slot, id.get()));
                    }
                }
                if end == slab.entries.len() {
                    break;
                }
                start = end;
            }
        }
    }

    /// How many tasks were ever inserted and how many are live, per shard under its
    /// lock (so no insert lands between the two reads; an end may, which only makes the
    /// ended count `inserted - live` later, never earlier). The inserted count is the
    /// shard's id counter, so spawning pays nothing for it.
    #[cfg(feature = "metrics")]
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(inserted, live), shard| {
            let slab = shard.slab.lock();
            let here = (0..slab.entries.len())
                .filter(|&slot| shard.live(slot).is_some())
                .count() as u64;
            (inserted + slab.seq, live + here)
        })
    }

    /// How many entries are live: one pass over every shard's tags (each shard's
    /// length read under its lock), nothing copied.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let slots = shard.slab.lock().entries.len();
                (0..slots)
                    .filter(|&slot| shard.live(slot).is_some())
                    .count()
            })
            .sum()
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_half_a_cache_line() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    #[test]
    fn a_retired_slot_leaves_counts_at_once_and_is_reused_only_once_reclaimed() {
        let reg = Registry::new(1);
        let a = insert(&reg, 0, 1);
        let b = insert(&reg, 0, 2);
        reg.retire(a);
        assert_eq!(reg.len(), 1, "gone from counts and snapshots at once");
        let mut trees = Vec::new();
        reg.for_each(|_, e, _, _| trees.push(e.tree));
        assert_eq!(trees, [2]);
        let c = insert(&reg, 0, 3);
        assert_ne!(
            c.slot(),
            a.slot(),
            "a retired slot is not reused before it is reclaimed"
        );
        reg.reclaim(&mut [a]);
        let d = insert(&reg, 0, 4);
        assert_eq!(d.slot(), a.slot(), "but is once it is");
        assert_ne!(d, a, "under the other generation");
        for k in [b, c, d] {
            reg.remove(k);
        }
        assert_eq!(reg.len(), 0);
    }

    #[test]
    fn a_slot_reused_over_and_over_is_live_exactly_while_occupied() {
        let reg = Registry::new(1);
        let mut ids = Vec::new();
        let mut slot = None;
        for round in 0..5u32 {
            let k = insert(&reg, 0, round);
            assert_eq!(
                *slot.get_or_insert(k.slot()),
                k.slot(),
                "the one slot is reused"
            );
            let id = reg.lineage(k).id;
            let mut seen = Vec::new();
            reg.for_each(|id, e, _, _| seen.push((id, e.tree)));
            assert_eq!(seen, [(id, round)], "live under its own id, round {round}");
            assert_eq!(reg.len(), 1);
            reg.retire(k);
            assert_eq!(reg.len(), 0, "gone once retired, round {round}");
            reg.for_each(|_, _, _, _| panic!("a retired slot in a snapshot"));
            reg.reclaim(&mut [k]);
            assert_eq!(reg.len(), 0, "and once reclaimed");
            ids.push(id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 5, "every occupant has its own id");
    }

    #[test]
    fn reclaiming_drops_a_named_entrys_name() {
        let reg = Registry::new(2);
        let name: Arc<str> = Arc::from("worker");
        let (named, _) = reg.insert(
            0,
            Location::caller(),
            0,
            Some(name.clone()),
            &Origin::Thread { tree: 0 },
        );
        let plain = insert(&reg, 1, 0);
        assert_eq!(Arc::strong_count(&name), 2);
        reg.retire(named);
        reg.retire(plain);
        assert_eq!(Arc::strong_count(&name), 2, "kept until reclaimed");
        reg.reclaim(&mut [plain, named]);
        assert_eq!(Arc::strong_count(&name), 1, "dropped by the reclaim");
        assert_eq!(reg.len(), 0);
    }

    #[test]
    fn stamps_are_never_later_than_now() {
        let reg = Registry::new(1);
        assert!(reg.instant(reg.stamp()) <= Instant::now());
    }

    fn insert(reg: &Registry, shard: usize, tree: u32) -> Key {
        reg.insert(shard, Location::caller(), 0, None, &Origin::Thread { tree })
            .0
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
        assert_eq!(
            (d.shard(), d.slot()),
            (a.shard(), a.slot()),
            "the freed slot is reused"
        );
        assert_ne!(reg.lineage(d).id, a_id, "but the id is new");
        let mut trees = Vec::new();
        reg.for_each(|_, e, _, _| trees.push(e.tree));
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
            let (child, seen) =
                reg.insert(shard, Location::caller(), 0, None, &Origin::Task(parent));
            assert_eq!(seen, Some(lineage), "shard {shard}");
            assert_eq!(reg.lineage(child).tree, 9, "the tree mark is inherited");
            let child_id = reg.lineage(child).id;
            let mut parents = Vec::new();
            reg.for_each(|id, e, _, _| {
                if id == child_id {
                    parents.push(e.parent);
                }
            });
            assert_eq!(parents, [Some(lineage.id)]);
            reg.remove(child);
        }
        let (known, seen) = reg.insert(3, Location::caller(), 0, None, &Origin::Known(lineage));
        assert_eq!(seen, Some(lineage));
        assert_eq!(reg.lineage(known).tree, 9);
        assert_eq!(reg.set_tree(parent, 4), 9);
        assert_eq!(
            reg.lineage(parent),
            Lineage {
                id: lineage.id,
                tree: 4,
                record: lineage.record,
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

    fn insert(reg: &Registry, shard: usize, tree: u32) -> Key {
        reg.insert(shard, Location::caller(), 0, None, &Origin::Thread { tree })
            .0
    }

    /// A task retires its slot (one store, no lock) on one thread while another thread
    /// inserts into the same shard and the main thread takes a snapshot; the slot is
    /// reclaimed afterwards. The snapshot never shows the retired entry once the
    /// retirement is known to have happened, never shows a torn or foreign entry, and
    /// the new entry never lands in the retired slot before it is reclaimed.
    #[test]
    fn lock_free_retire_races_insert_and_snapshot() {
        loom::model(|| {
            let reg = LArc::new(Registry::new(1));
            let old = insert(&reg, 0, 1);
            let old_id = reg.lineage(old).id;
            let r1 = reg.clone();
            let retirer = thread::spawn(move || r1.retire(old));
            let r2 = reg.clone();
            let inserter = thread::spawn(move || insert(&r2, 0, 2));
            let mut seen = Vec::new();
            reg.for_each(|id, e, _, _| seen.push((id, e.tree)));
            for (id, tree) in &seen {
                assert!(
                    (*tree == 1 && *id == old_id) || *tree == 2,
                    "unexpected entry {tree}"
                );
            }
            retirer.join().unwrap();
            let new = inserter.join().unwrap();
            assert_ne!(
                new.slot(),
                old.slot(),
                "a retired slot waits for its reclaim"
            );
            let mut live = Vec::new();
            reg.for_each(|_, e, _, _| live.push(e.tree));
            assert_eq!(live, [2], "retired before the join: gone");
            reg.reclaim(&mut [old]);
            reg.remove(new);
            assert_eq!(reg.len(), 0);
        });
    }

    /// A child spawned on another shard reads its parent's lineage under the parent's
    /// lock while the parent's own thread moves its tree mark and a third thread
    /// inserts into and removes from the parent's shard: the child gets the parent's
    /// id and one of the two marks, never a torn or foreign one.
    #[test]
    fn cross_shard_lineage_races_set_tree_and_churn() {
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
            let (child, seen) = reg.insert(1, Location::caller(), 0, None, &Origin::Task(parent));
            let seen = seen.unwrap();
            assert_eq!(seen.id, parent_id);
            assert!(seen.tree == 1 || seen.tree == 2);
            assert_ne!(seen.record, 0, "the parent's creator record is made");
            let child_lineage = reg.lineage(child);
            assert_eq!(child_lineage.tree, seen.tree);
            let mut creators = Vec::new();
            reg.for_each(|id, _, _, creator| {
                if id == child_lineage.id {
                    creators.push(creator);
                }
            });
            assert_eq!(creators, [seen.record], "the child keeps its creator");
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
        loom::model(|| {
            let reg = LArc::new(Registry::new(1));
            let workers: Vec<_> = (0..2u32)
                .map(|t| {
                    let reg = reg.clone();
                    thread::spawn(move || {
                        let (key, _) = reg.insert(
                            0,
                            Location::caller(),
                            0,
                            None,
                            &Origin::Thread { tree: t + 1 },
                        );
                        let id = reg.lineage(key).id;
                        reg.remove(key);
                        id
                    })
                })
                .collect();
            let mut seen = 0;
            reg.for_each(|_, e, _, _| {
                assert!(e.tree == 1 || e.tree == 2);
                seen += 1;
            });
            assert!(seen <= 2);
            let ids: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
            assert_ne!(ids[0], ids[1]);
            assert_eq!(reg.len(), 0);
        });
    }

    /// A slot's third occupant (its generation bit back where the first left it)
    /// arrives on one thread, after the second retired and was reclaimed there, while
    /// the main thread takes a snapshot: the snapshot shows the second or the third
    /// under its own id (or neither), never the first, never both, and the table ends
    /// with the third alone.
    #[test]
    fn generation_bit_flips_back_while_a_snapshot_runs() {
        loom::model(|| {
            let reg = LArc::new(Registry::new(1));
            let first = insert(&reg, 0, 1);
            reg.remove(first);
            let second = insert(&reg, 0, 2);
            assert_eq!(second.slot(), first.slot());
            let second_id = reg.lineage(second).id;
            let r = reg.clone();
            let churn = thread::spawn(move || {
                r.remove(second);
                let third = insert(&r, 0, 3);
                (third, r.lineage(third).id)
            });
            let mut seen = Vec::new();
            reg.for_each(|id, e, _, _| seen.push((id, e.tree)));
            let (third, third_id) = churn.join().unwrap();
            assert_eq!(third.slot(), first.slot());
            assert!(seen.len() <= 1, "one slot, one occupant: {seen:?}");
            for (id, tree) in seen {
                match tree {
                    2 => assert_eq!(id, second_id),
                    3 => assert_eq!(id, third_id),
                    other => panic!("unexpected entry {other}"),
                }
            }
            let mut live = Vec::new();
            reg.for_each(|id, e, _, _| live.push((id, e.tree)));
            assert_eq!(live, [(third_id, 3)]);
            assert_eq!(reg.len(), 1);
        });
    }

    /// Inserts on two shards race with a removal that frees a slot another insert
    /// reuses: the free list never hands one slot to two entries.
    #[test]
    fn reuse_races_with_insert_on_other_shard() {
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
            assert_ne!((ka.shard(), ka.slot()), (kb.shard(), kb.slot()));
            assert_ne!(reg.lineage(ka).id, reg.lineage(kb).id);
            assert_eq!(reg.len(), 2);
            let mut trees = Vec::new();
            reg.for_each(|_, e, _, _| trees.push(e.tree));
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
        loom::model(|| {
            let reg = LArc::new(Registry::new(2));
            let old = insert(&reg, 0, 1);
            let old_id = reg.lineage(old).id;
            let r1 = reg.clone();
            let remover = thread::spawn(move || r1.remove(old));
            let r2 = reg.clone();
            let inserter = thread::spawn(move || insert(&r2, 0, 2));
            let mut seen = Vec::new();
            reg.for_each(|id, e, _, _| seen.push((id, e.tree)));
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
            reg.for_each(|id, e, _, _| live.push((id, e.tree)));
            assert_eq!(live, [(new_id, 2)]);
            assert_eq!(reg.len(), 1);
        });
    }
}
