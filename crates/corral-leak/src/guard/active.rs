//! The process-wide list of live guards, by runtime, and the tree marks' family tree:
//! how a guard learns that it shares its runtime with another test and must narrow
//! itself to its own task tree.

use std::collections::HashMap;
// Not `corral_shared::sync`: this state lives in `static`s, which loom's types cannot
// back (they are not `const`-constructible), and a guard has nothing here for a model to
// find, so both builds use `std` atomics and `parking_lot`'s const mutex.
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

/// Live guards: id, runtime, tree mark (0: none).
static ACTIVE: Mutex<Vec<(u64, tokio::runtime::Id, u32)>> = Mutex::new(Vec::new());
static NEXT_GUARD: AtomicU64 = AtomicU64::new(1);
static NEXT_MARK: AtomicU32 = AtomicU32::new(1);

/// Each mark made inside another's tree, to that (parent) mark. Entries are never
/// removed: tasks keep a mark after its guard is gone, and 8 bytes per guard made in a
/// process is nothing next to the tests that made them.
fn parents() -> &'static Mutex<HashMap<u32, u32>> {
    static PARENTS: OnceLock<Mutex<HashMap<u32, u32>>> = OnceLock::new();
    PARENTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Whether `mark` is `root` or was made, directly or not, inside `root`'s tree.
fn within(parents: &HashMap<u32, u32>, mut mark: u32, root: u32) -> bool {
    // Parents are always older marks, so the walk ends.
    while mark != 0 {
        if mark == root {
            return true;
        }
        mark = parents.get(&mark).copied().unwrap_or(0);
    }
    false
}

/// A guard's place in [`ACTIVE`]; leaves it on drop.
#[derive(Debug)]
pub(crate) struct Registration {
    id: u64,
    runtime: tokio::runtime::Id,
    mark: u32,
}

impl Registration {
    pub(crate) fn new(runtime: tokio::runtime::Id, mark: u32) -> Self {
        // Relaxed: the counter only has to hand out distinct values.
        let id = NEXT_GUARD.fetch_add(1, Ordering::Relaxed);
        ACTIVE.lock().push((id, runtime, mark));
        Self { id, runtime, mark }
    }

    /// Whether another live guard watches the same runtime from an unrelated task tree
    /// (another test). A guard made inside this one's tree, or this one inside its
    /// tree (a guard per phase inside a test-wide guard), is the same test; unmarked
    /// guards cannot be told apart and count as sharing.
    pub(crate) fn runtime_is_shared(&self) -> bool {
        let active = ACTIVE.lock();
        let parents = parents().lock();
        active.iter().any(|&(id, rt, mark)| {
            id != self.id
                && rt == self.runtime
                && (self.mark == 0
                    || mark == 0
                    || !(within(&parents, mark, self.mark) || within(&parents, self.mark, mark)))
        })
    }

    /// A filter over tree marks: whether a task with that mark belongs to `root`'s
    /// tree.
    pub(crate) fn tree(root: u32) -> impl Fn(u32) -> bool {
        let parents = parents().lock().clone();
        move |mark| within(&parents, mark, root)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        ACTIVE.lock().retain(|&(id, _, _)| id != self.id);
    }
}

/// A fresh, nonzero tree mark, made inside the tree of `parent` (0: none).
pub(crate) fn next_mark(parent: u32) -> u32 {
    // Relaxed: the counter only has to hand out distinct values.
    let mark = NEXT_MARK.fetch_add(1, Ordering::Relaxed).max(1);
    if parent != 0 && parent != mark {
        parents().lock().insert(mark, parent);
    }
    mark
}
