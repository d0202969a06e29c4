//! Per-thread state: which tracked task is being polled here, and which registry shard
//! this thread inserts into.
//!
//! # Invariants
//!
//! - `task` holds the key of the tracked task whose `poll` is on this thread's stack,
//!   or `None` outside any tracked poll. [`Enter`] sets it for one poll and restores
//!   the previous value on drop, panics included, so a tracked poll never leaks into
//!   whatever runs next on the thread. That is all a poll pays: one word swapped.
//! - `seen`, when its key equals `task`, holds that task's lineage as in its slot
//!   (it is cleared at every [`Enter`], since a key names another task once its slot
//!   is reused): a task's id never changes, and its tree mark changes only through [`set_tree`],
//!   which updates both. A lookup takes a shard lock, so it is made at most once a
//!   poll, and only when something asks (a spawn, [`current_task`]).
//! - `tree` is the mark spawns outside any tracked task inherit (normally 0; a leak
//!   guard may mark its tree there, see [`set_tree`]).

use std::cell::Cell;
// `std`'s in both builds: the shard counter is a `static`, which loom cannot construct;
// it only spreads threads over shards (any value is correct), so no model needs it.
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::registry::{registry, Key, Lineage, Origin};
use crate::runtimes;

/// Marks no shard assigned yet.
const UNASSIGNED: usize = usize::MAX;

/// Everything a spawn, a poll and a task's end read or write per thread, in one
/// `thread_local` ([`LOCAL`]) so each reaches it with one access (an access is a TLS
/// address computation plus a state check).
///
/// The crate has two other thread-locals, both off that path: [`RECLAIM_AT_EXIT`]
/// (no data: its destructor reclaims the thread's retired slots when the thread exits;
/// touched once per thread), and `runtimes::LAST`, the runtime a thread last interned
/// (read by `Builder::spawn_on` and by a spawn whose runtime is not cached here).
struct Local {
    /// The tracked task being polled here (see the module docs).
    task: Cell<Option<Key>>,
    /// The lineage of the task with that key, once looked up.
    seen: Cell<Option<(Key, Lineage)>>,
    /// The tree mark of spawns from outside any tracked task.
    tree: Cell<u32>,
    /// This thread's registry shard, or [`UNASSIGNED`].
    shard: Cell<usize>,
    /// The tokio task last seen spawning here and its runtime's index (see
    /// [`spawner`]).
    runtime: Cell<Option<(tokio::task::Id, u32)>>,
    /// Slots retired here and not reclaimed yet: the first `retired_len` (see
    /// [`retire`]).
    retired: [Cell<Key>; RECLAIM_BATCH],
    retired_len: Cell<usize>,
    /// Whether [`ReclaimAtExit`] is registered for this thread.
    reclaim_at_exit: Cell<bool>,
}

impl Local {
    /// Where a spawn from here gets its parent and tree mark.
    #[inline]
    fn origin(&self) -> Origin {
        match self.task.get() {
            None => Origin::Thread {
                tree: self.tree.get(),
            },
            Some(key) => match self.seen.get() {
                Some((seen, lineage)) if seen == key => Origin::Known(lineage),
                _ => Origin::Task(key),
            },
        }
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            task: Cell::new(None),
            seen: Cell::new(None),
            tree: Cell::new(0),
            shard: Cell::new(UNASSIGNED),
            runtime: Cell::new(None),
            retired: [const { Cell::new(Key::UNUSED) }; RECLAIM_BATCH],
            retired_len: Cell::new(0),
            reclaim_at_exit: Cell::new(false),
        }
    };
}

/// How many retired slots a thread collects before it puts them back on their free
/// lists in one pass (one lock per shard for the lot).
const RECLAIM_BATCH: usize = 64;

/// Reclaims this thread's retired slots when the thread exits. Registered at the
/// thread's first retirement; the slots themselves are kept in [`LOCAL`], which has
/// no destructor and so stays usable while thread-locals are torn down.
struct ReclaimAtExit;

impl Drop for ReclaimAtExit {
    fn drop(&mut self) {
        LOCAL.with(|l| {
            reclaim_retired(l);
            // Tasks dropped by later thread-local destructors reclaim at once.
            l.reclaim_at_exit.set(false);
        });
    }
}

thread_local! {
    static RECLAIM_AT_EXIT: ReclaimAtExit = const { ReclaimAtExit };
}

/// Puts the retired slots queued in `l` back on their free lists.
fn reclaim_retired(l: &Local) {
    let n = l.retired_len.replace(0);
    let mut keys = [Key::UNUSED; RECLAIM_BATCH];
    for (key, cell) in keys.iter_mut().zip(&l.retired[..n]) {
        *key = cell.get();
    }
    registry().reclaim(&mut keys[..n]);
}

/// Removes the task holding `key` from the registry: at once from snapshots and
/// counts (one atomic store, no lock), and from its slot a batch later, when this
/// thread puts [`RECLAIM_BATCH`] retired slots back at once (or exits).
///
/// Until then a retired slot only waits: it is not reused, and keeps the task's name
/// (if it had one) alive. A thread holds fewer than [`RECLAIM_BATCH`] such slots.
#[inline]
pub(crate) fn retire(key: Key) {
    registry().retire(key);
    LOCAL.with(|l| {
        if !l.reclaim_at_exit.get() && !register_reclaim_at_exit(l) {
            // This thread's locals are being torn down: nothing would reclaim a queued
            // slot, so reclaim it now.
            registry().reclaim(&mut [key]);
            return;
        }
        let n = l.retired_len.get();
        l.retired[n].set(key);
        l.retired_len.set(n + 1);
        if n + 1 == RECLAIM_BATCH {
            reclaim_retired(l);
        }
    });
}

/// Registers [`ReclaimAtExit`] for this thread; false if this thread's locals are
/// already being torn down.
#[cold]
fn register_reclaim_at_exit(l: &Local) -> bool {
    // Touching it registers its destructor.
    let registered = RECLAIM_AT_EXIT.try_with(|_| ()).is_ok();
    l.reclaim_at_exit.set(registered);
    registered
}

/// Hands shard indices to threads round-robin.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// The lineage of the tracked task being polled here, looked up at most once a poll.
pub(crate) fn current_task() -> Option<Lineage> {
    resolve(LOCAL.with(Local::origin))
}

/// The tree mark spawns from here inherit.
pub(crate) fn tree() -> u32 {
    match LOCAL.with(Local::origin) {
        Origin::Thread { tree } => tree,
        origin => resolve(origin).map_or(0, |l| l.tree),
    }
}

/// The spawning task's lineage for `origin`, looked up (and remembered for the rest
/// of the poll) when not known yet.
fn resolve(origin: Origin) -> Option<Lineage> {
    match origin {
        Origin::Thread { .. } => None,
        Origin::Known(lineage) => Some(lineage),
        Origin::Task(key) => {
            let lineage = registry().lineage(key);
            remember(key, lineage);
            Some(lineage)
        }
    }
}

/// Records the lineage of the task holding `key`.
#[inline]
fn remember(key: Key, lineage: Lineage) {
    LOCAL.with(|l| l.seen.set(Some((key, lineage))));
}

/// Replaces the tree mark of whatever runs here (the polled tracked task, for the
/// rest of its life, or else the thread), returning the previous one.
pub(crate) fn set_tree(tree: u32) -> u32 {
    match LOCAL.with(|l| l.task.get()) {
        None => LOCAL.with(|l| l.tree.replace(tree)),
        Some(key) => {
            let prev = registry().set_tree(key, tree);
            remember(key, registry().lineage(key));
            prev
        }
    }
}

/// What a spawn from this thread records: the context children inherit, the shard to
/// insert into, and the runtime.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spawner {
    pub(crate) origin: Origin,
    pub(crate) shard: usize,
    /// The runtime's index ([`crate::runtimes`]).
    pub(crate) runtime: u32,
}

/// The [`Spawner`] for a spawn from here; `runtime` is `None` for "the runtime
/// `tokio::spawn` would spawn on from here".
///
/// That runtime is not looked up per spawn: `Handle::current()` clones the runtime's
/// `Arc`, and two workers spawning at full speed make that one shared counter bounce
/// between their caches (it tripled the cost of a spawn in `benches/corral_task.rs`,
/// group `contention`). A tokio task never changes runtime, so the id is cached per
/// thread for the tokio task being polled, and looked up again only when another task
/// (or no task, as in `block_on`) spawns. (tokio hands out task ids from one
/// process-wide counter, so an id never names tasks of two runtimes.)
///
/// The one case this gets wrong: code inside a task that enters another runtime
/// (`Handle::enter`, or another runtime's `block_on` inside `spawn_blocking` or
/// `block_in_place`: tokio keeps the blocking task's id there) and spawns there is
/// recorded under the runtime cached for that task, whichever spawned first;
/// `Builder::spawn_on` records such spawns exactly.
///
/// # Panics
///
/// Outside a runtime when `runtime` is `None`, as `tokio::spawn` does.
#[track_caller]
#[inline]
pub(crate) fn spawner(runtime: Option<tokio::runtime::Id>) -> Spawner {
    let task = match runtime {
        Some(_) => None,
        None => tokio::task::try_id(),
    };
    let known = LOCAL.with(|l| {
        let runtime = match (runtime, task) {
            (Some(runtime), _) => runtimes::intern(runtime),
            (None, Some(task)) => match l.runtime.get() {
                Some((cached, runtime)) if cached == task => runtime,
                _ => return None,
            },
            (None, None) => return None,
        };
        Some(l.spawner(runtime))
    });
    match known {
        Some(spawner) => spawner,
        None => spawner_on_current(task),
    }
}

/// [`spawner`] when the current runtime must be looked up: `Handle::current()` is
/// called here, outside any `thread_local` closure, so its panic outside a runtime
/// points at the caller of `spawn` (a closure breaks the `#[track_caller]` chain).
#[cold]
#[track_caller]
fn spawner_on_current(task: Option<tokio::task::Id>) -> Spawner {
    let runtime = runtimes::intern(tokio::runtime::Handle::current().id());
    LOCAL.with(|l| {
        if let Some(task) = task {
            l.runtime.set(Some((task, runtime)));
        }
        l.spawner(runtime)
    })
}

impl Local {
    /// The [`Spawner`] for a spawn from here on the runtime with index `runtime`.
    #[inline]
    fn spawner(&self, runtime: u32) -> Spawner {
        let mut shard = self.shard.get();
        if shard == UNASSIGNED {
            shard = assign_shard();
            self.shard.set(shard);
        }
        Spawner {
            origin: self.origin(),
            shard,
            runtime,
        }
    }
}

/// A new shard index for a thread's first spawn (unbounded; the registry reduces it
/// modulo its shard count).
#[cold]
fn assign_shard() -> usize {
    // Relaxed: the counter only spreads threads over shards; no data is published
    // through it, and any value is correct.
    NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % (UNASSIGNED - 1)
}

/// Sets `task` to a tracked task's key for the length of one poll (not its drop:
/// tasks spawned from a future's `Drop` record no parent), then restores the previous
/// value.
#[derive(Debug)]
pub(crate) struct Enter {
    prev: Option<Key>,
}

impl Enter {
    #[inline]
    pub(crate) fn new(key: Key) -> Self {
        let prev = LOCAL.with(|l| {
            // A key is reused once its task is gone: a lineage remembered from an
            // earlier poll may belong to another task by now.
            l.seen.set(None);
            l.task.replace(Some(key))
        });
        Self { prev }
    }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        LOCAL.with(|l| l.task.set(self.prev));
    }
}

/// Called by the spawn path once it has looked up the spawning task's lineage, so the
/// rest of the poll does not look it up again.
#[inline]
pub(crate) fn spawned_from(origin: Origin, seen: Option<Lineage>) {
    if let (Origin::Task(key), Some(seen)) = (origin, seen) {
        remember(key, seen);
    }
}
