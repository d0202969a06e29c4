//! Per-thread state: which tracked task is being polled here, and which registry shard
//! this thread inserts into.
//!
//! # Invariants
//!
//! - `CURRENT` (the `current` field of this thread's `Local`) holds the context of the tracked task whose `poll` is on this thread's
//!   stack, or whatever the thread had outside any tracked poll (normally
//!   [`Ctx::NONE`]; a leak guard may mark a tree there, see [`set_tree`]).
//! - [`Enter`] restores the previous value on drop, panics included, so a tracked poll
//!   never leaks its context into whatever runs next on the thread.

use std::cell::Cell;
use std::num::NonZeroU64;

use crate::sync::{AtomicUsize, Ordering};

/// The context children inherit: the parent task and the tree mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ctx {
    pub(crate) task: Option<NonZeroU64>,
    pub(crate) tree: u32,
}

impl Ctx {
    pub(crate) const NONE: Ctx = Ctx {
        task: None,
        tree: 0,
    };
}

/// Marks no shard assigned yet.
const UNASSIGNED: usize = usize::MAX;

/// Everything this crate keeps per thread, in one `thread_local` so a spawn reaches it
/// with one access (each access is a TLS address computation plus a state check).
struct Local {
    /// See [`CURRENT`](self) in the module docs: the running tracked task's context.
    current: Cell<Ctx>,
    /// This thread's registry shard, or [`UNASSIGNED`].
    shard: Cell<usize>,
    /// The tokio task last seen spawning here and its runtime (see [`spawner`]).
    runtime: Cell<Option<(tokio::task::Id, tokio::runtime::Id)>>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            current: Cell::new(Ctx::NONE),
            shard: Cell::new(UNASSIGNED),
            runtime: Cell::new(None),
        }
    };
}

/// Hands shard indices to threads round-robin.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// The context of whatever is running on this thread.
#[inline]
pub(crate) fn current() -> Ctx {
    LOCAL.with(|l| l.current.get())
}

/// Replaces this thread's tree mark, returning the previous one.
pub(crate) fn set_tree(tree: u32) -> u32 {
    LOCAL.with(|l| {
        let mut ctx = l.current.get();
        let prev = ctx.tree;
        ctx.tree = tree;
        l.current.set(ctx);
        prev
    })
}

/// What a spawn from this thread records: the context children inherit, the shard to
/// insert into, and the runtime.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spawner {
    pub(crate) ctx: Ctx,
    pub(crate) shard: usize,
    pub(crate) runtime: tokio::runtime::Id,
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
    LOCAL.with(|l| {
        let runtime = match (runtime, task) {
            (Some(runtime), _) => runtime,
            (None, Some(task)) => match l.runtime.get() {
                Some((cached, runtime)) if cached == task => runtime,
                _ => {
                    let runtime = tokio::runtime::Handle::current().id();
                    l.runtime.set(Some((task, runtime)));
                    runtime
                }
            },
            (None, None) => tokio::runtime::Handle::current().id(),
        };
        let mut shard = l.shard.get();
        if shard == UNASSIGNED {
            shard = assign_shard();
            l.shard.set(shard);
        }
        Spawner {
            ctx: l.current.get(),
            shard,
            runtime,
        }
    })
}

/// A new shard index for a thread's first spawn (unbounded; the registry reduces it
/// modulo its shard count).
#[cold]
fn assign_shard() -> usize {
    // Relaxed: the counter only spreads threads over shards; no data is published
    // through it, and any value is correct.
    NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % (UNASSIGNED - 1)
}

/// Sets `CURRENT` to a task's context for the length of one poll (not its drop:
/// tasks spawned from a future's `Drop` record no parent), then
/// restores the previous value and writes a changed tree mark back to the task.
#[derive(Debug)]
pub(crate) struct Enter<'a> {
    prev: Ctx,
    tree: &'a mut u32,
}

impl<'a> Enter<'a> {
    #[inline]
    pub(crate) fn new(task: NonZeroU64, tree: &'a mut u32) -> Self {
        let ctx = Ctx {
            task: Some(task),
            tree: *tree,
        };
        let prev = LOCAL.with(|l| l.current.replace(ctx));
        Self { prev, tree }
    }
}

impl Drop for Enter<'_> {
    #[inline]
    fn drop(&mut self) {
        let now = LOCAL.with(|l| l.current.replace(self.prev));
        // A leak guard created inside this poll marks the task's tree from now on.
        *self.tree = now.tree;
    }
}
