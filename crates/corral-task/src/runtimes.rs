//! Runtime ids as small numbers: a registry entry stores a `u32` index instead of
//! tokio's 8-byte `runtime::Id`, which (with the name kept outside the entry) makes an
//! entry 32 bytes, two to a cache line. Each 16 bytes less per entry measured ~1.5% on
//! the no-op spawn + join bench.
//!
//! # Invariants
//!
//! - The table only grows: index `i` names the same runtime for the life of the
//!   process (12 bytes per runtime ever seen spawning a tracked task).
//! - A spawn interns its runtime before it inserts its entry, so a table read (under
//!   its lock) after an entry was seen (under its shard's lock) holds the entry's
//!   runtime. A table read *before* the scan may not: a runtime first seen during the
//!   scan is past its end. That is why a snapshot reads the table after its scan
//!   ([`Runtimes::ids`], `registry::snapshot_of`).
//! - Each thread remembers the last runtime it interned, so a thread that keeps to one
//!   runtime takes the table's lock once.

use std::cell::Cell;
use std::collections::HashMap;

use crate::registry::registry;
use corral_shared::sync::Mutex;

/// The interning table of one registry.
#[derive(Debug)]
pub(crate) struct Runtimes {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    ids: Vec<tokio::runtime::Id>,
    index: HashMap<tokio::runtime::Id, u32>,
}

impl Runtimes {
    pub(crate) fn new() -> Self {
        Self {
            table: Mutex::new(Table::default()),
        }
    }

    /// The index of runtime `id`, adding it to the table if it is new.
    pub(crate) fn intern(&self, id: tokio::runtime::Id) -> u32 {
        let mut table = self.table.lock();
        let Table { ids, index } = &mut *table;
        *index.entry(id).or_insert_with(|| {
            ids.push(id);
            // More than 2^32 runtimes in one process would wrap; they are named by
            // the last one's index then (a census mislabel, nothing unsafe).
            (ids.len() - 1) as u32
        })
    }

    /// Every runtime interned so far, by index: every entry inserted before this call
    /// has its runtime in it (see the module's invariants).
    pub(crate) fn ids(&self) -> Vec<tokio::runtime::Id> {
        self.table.lock().ids.clone()
    }
}

thread_local! {
    static LAST: Cell<Option<(tokio::runtime::Id, u32)>> = const { Cell::new(None) };
}

/// The index of runtime `id` in the process-wide registry's table.
#[inline]
pub(crate) fn intern(id: tokio::runtime::Id) -> u32 {
    match LAST.with(Cell::get) {
        Some((last, index)) if last == id => index,
        _ => intern_slow(id),
    }
}

#[cold]
fn intern_slow(id: tokio::runtime::Id) -> u32 {
    let index = registry().runtimes().intern(id);
    LAST.with(|l| l.set(Some((id, index))));
    index
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_id_keeps_its_index() {
        let a = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let b = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (ia, ib) = (intern(a.handle().id()), intern(b.handle().id()));
        assert_ne!(ia, ib);
        assert_eq!(intern(a.handle().id()), ia);
        let other = std::thread::spawn({
            let id = b.handle().id();
            move || intern(id)
        });
        assert_eq!(other.join().unwrap(), ib, "one table for every thread");
        let ids = registry().runtimes().ids();
        assert_eq!(ids[ia as usize], a.handle().id());
        assert_eq!(ids[ib as usize], b.handle().id());
    }
}
