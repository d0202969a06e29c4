//! Per-thread state: which tracked task is being polled here, and which registry shard
//! this thread inserts into.
//!
//! # Invariants
//!
//! - [`CURRENT`] holds the context of the tracked task whose `poll` is on this thread's
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

thread_local! {
    static CURRENT: Cell<Ctx> = const { Cell::new(Ctx::NONE) };
    static SHARD: Cell<usize> = const { Cell::new(UNASSIGNED) };
}

/// Hands shard indices to threads round-robin.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// The context of whatever is running on this thread.
pub(crate) fn current() -> Ctx {
    CURRENT.with(Cell::get)
}

/// Replaces this thread's tree mark, returning the previous one.
pub(crate) fn set_tree(tree: u32) -> u32 {
    CURRENT.with(|c| {
        let mut ctx = c.get();
        let prev = ctx.tree;
        ctx.tree = tree;
        c.set(ctx);
        prev
    })
}

/// This thread's shard index (unbounded; the registry reduces it modulo its shard count).
pub(crate) fn shard() -> usize {
    SHARD.with(|s| {
        let shard = s.get();
        if shard != UNASSIGNED {
            return shard;
        }
        // Relaxed: the counter only spreads threads over shards; no data is published
        // through it, and any value is correct.
        let shard = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % (UNASSIGNED - 1);
        s.set(shard);
        shard
    })
}

/// Sets [`CURRENT`] to a task's context for the length of one poll (or drop), then
/// restores the previous value and writes a changed tree mark back to the task.
#[derive(Debug)]
pub(crate) struct Enter<'a> {
    prev: Ctx,
    tree: &'a mut u32,
}

impl<'a> Enter<'a> {
    pub(crate) fn new(task: NonZeroU64, tree: &'a mut u32) -> Self {
        let ctx = Ctx {
            task: Some(task),
            tree: *tree,
        };
        let prev = CURRENT.with(|c| c.replace(ctx));
        Self { prev, tree }
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        let now = CURRENT.with(|c| c.replace(self.prev));
        // A leak guard created inside this poll marks the task's tree from now on.
        *self.tree = now.tree;
    }
}
