//! The process-wide list of live guards, by runtime: how a guard learns that it shares
//! its runtime with another test and must narrow itself to its own task tree.

use crate::sync::{AtomicU32, AtomicU64, Mutex, Ordering};

static ACTIVE: Mutex<Vec<(u64, tokio::runtime::Id)>> = Mutex::new(Vec::new());
static NEXT_GUARD: AtomicU64 = AtomicU64::new(1);
static NEXT_MARK: AtomicU32 = AtomicU32::new(1);

/// A guard's place in [`ACTIVE`]; leaves it on drop.
#[derive(Debug)]
pub(crate) struct Registration {
    id: u64,
    runtime: tokio::runtime::Id,
}

impl Registration {
    pub(crate) fn new(runtime: tokio::runtime::Id) -> Self {
        // Relaxed: the counter only has to hand out distinct values.
        let id = NEXT_GUARD.fetch_add(1, Ordering::Relaxed);
        ACTIVE.lock().push((id, runtime));
        Self { id, runtime }
    }

    /// Whether another live guard watches the same runtime.
    pub(crate) fn runtime_is_shared(&self) -> bool {
        ACTIVE
            .lock()
            .iter()
            .any(|&(id, rt)| id != self.id && rt == self.runtime)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        ACTIVE.lock().retain(|&(id, _)| id != self.id);
    }
}

/// A fresh, nonzero tree mark.
pub(crate) fn next_mark() -> u32 {
    // Relaxed: the counter only has to hand out distinct values.
    NEXT_MARK.fetch_add(1, Ordering::Relaxed).max(1)
}
