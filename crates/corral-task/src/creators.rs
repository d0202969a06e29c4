//! Creator records: the name and spawn site of every tracked task that spawned
//! another, with its own creator, interned as small numbers so a child keeps its
//! parent's identity in 4 bytes and the chain survives the parents' ends.
//!
//! A record is `(spawn site, name, creator's record)`: one per distinct spawn path,
//! not per task, so a server whose connection handlers all spawn from one site holds
//! one record for them all. A task's record is made the first time its lineage is
//! looked up: at its first child, or when it asks [`crate::current`] (never for a
//! task that does neither), and a child stores its parent's record index beside its
//! registry entry (`Crumb` in the engine), so spawns from outside any tracked task
//! pay nothing for it.
//!
//! # Invariants
//!
//! - The table only grows, and index `i` names the same record for the life of the
//!   process; index 0 is "none". A record's creator is an older record, so every
//!   chain ends.
//! - At most [`MAX_RECORDS`] records: a table that full records nothing more (a
//!   task's creator is then unknown past its parent's id), which bounds the memory
//!   that distinct dynamic names (`format!("conn-{i}")`) or deep recursive spawns
//!   could otherwise take.
//! - A child's record index is written (under its shard's lock) after the record was
//!   made, so a table read after a snapshot's scan holds every index the scan saw (as
//!   for [`crate::runtimes`]).
//!
//! # Lock order
//!
//! The table's lock is taken inside a shard lock (a parent's record is made while its
//! slot is locked) and never takes another lock itself.

use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use corral_shared::sync::Mutex;

/// The most records a process keeps (about 80 bytes each, plus names).
pub(crate) const MAX_RECORDS: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Record {
    location: &'static Location<'static>,
    name: Option<Arc<str>>,
    creator: u32,
}

#[derive(Debug, Default)]
struct Table {
    /// `records[i - 1]` is record `i`.
    records: Vec<Record>,
    index: HashMap<Record, u32>,
}

/// The creator records of one registry.
#[derive(Debug)]
pub(crate) struct Creators {
    table: Mutex<Table>,
}

impl Creators {
    pub(crate) fn new() -> Self {
        Self {
            table: Mutex::new(Table::default()),
        }
    }

    /// The record of a task spawned at `location` with `name` by the task whose
    /// record is `creator` (0: none); 0 if the table is full.
    pub(crate) fn intern(
        &self,
        location: &'static Location<'static>,
        name: Option<Arc<str>>,
        creator: u32,
    ) -> u32 {
        let record = Record {
            location,
            name,
            creator,
        };
        let mut table = self.table.lock();
        if let Some(&i) = table.index.get(&record) {
            return i;
        }
        if table.records.len() >= MAX_RECORDS {
            return 0;
        }
        table.records.push(record.clone());
        let i = table.records.len() as u32;
        table.index.insert(record, i);
        i
    }

    /// Resolves record indices into [`Creator`] chains, memoised: call after the scan
    /// that read the indices (see the module's invariants). The table is copied at
    /// the first index to resolve, so a snapshot of tasks with no creator copies
    /// nothing.
    pub(crate) fn resolver(&self) -> Resolver<'_> {
        Resolver {
            creators: self,
            records: Vec::new(),
            memo: Vec::new(),
        }
    }
}

/// Turns record indices into shared [`Creator`] chains.
pub(crate) struct Resolver<'a> {
    creators: &'a Creators,
    records: Vec<Record>,
    memo: Vec<Option<Arc<Creator>>>,
}

impl Resolver<'_> {
    /// The chain of record `i` (0 or unknown: none).
    pub(crate) fn get(&mut self, i: u32) -> Option<Arc<Creator>> {
        let slot = (i as usize).checked_sub(1)?;
        if slot >= self.records.len() {
            self.records = self.creators.table.lock().records.clone();
            self.memo.resize(self.records.len(), None);
        }
        if let Some(done) = self.memo.get(slot)? {
            return Some(done.clone());
        }
        // Walk up to the first resolved (or root) record, then build down: no
        // recursion, however deep the chain.
        let mut path = vec![slot];
        let mut above = None;
        while let Some(&top) = path.last() {
            match (self.records[top].creator as usize).checked_sub(1) {
                Some(up) if up < self.records.len() => match &self.memo[up] {
                    Some(done) => {
                        above = Some(done.clone());
                        break;
                    }
                    None => path.push(up),
                },
                _ => break,
            }
        }
        for &at in path.iter().rev() {
            let record = &self.records[at];
            let creator = Arc::new(Creator {
                name: record.name.clone(),
                location: record.location,
                creator: above.take(),
            });
            self.memo[at] = Some(creator.clone());
            above = Some(creator);
        }
        above
    }
}

/// The tracked task that spawned a task, as recorded at the spawn: its name, its
/// spawn site and its own creator. A task keeps it for life, so the chain survives
/// its creators' ends (see [`TaskInfo::creator`](crate::TaskInfo::creator)).
///
/// `Display` renders `"name" at file:line:col` (or `task at file:line:col`).
#[derive(Clone)]
pub struct Creator {
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
    creator: Option<Arc<Creator>>,
}

impl Creator {
    /// The creator's name, if it had one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the creator itself was spawned.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The tracked task that spawned the creator, if any (and if recorded).
    pub fn creator(&self) -> Option<&Creator> {
        self.creator.as_deref()
    }
}

impl fmt::Debug for Creator {
    /// One level: a chain can be deep, and a derived `Debug` would recurse through it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Creator")
            .field("name", &self.name)
            .field("location", &self.location)
            .field("creator", &self.creator.as_ref().map(|c| c.to_string()))
            .finish()
    }
}

impl Drop for Creator {
    /// Unlinks the chain one record at a time: a derived drop would recurse once per
    /// level, and a chain can be thousands deep.
    fn drop(&mut self) {
        let mut next = self.creator.take();
        while let Some(up) = next {
            next = match Arc::try_unwrap(up) {
                Ok(mut up) => up.creator.take(),
                Err(_) => None,
            };
        }
    }
}

impl fmt::Display for Creator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "\"{name}\" at {}", self.location),
            None => write!(f, "task at {}", self.location),
        }
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn records_are_shared_per_path_and_resolve_to_chains() {
        let creators = Creators::new();
        let here = Location::caller();
        let root = creators.intern(here, Some(Arc::from("acceptor")), 0);
        let a = creators.intern(here, Some(Arc::from("conn")), root);
        let b = creators.intern(here, Some(Arc::from("conn")), root);
        assert_eq!(a, b, "one record per path");
        assert_ne!(a, root);
        let mut resolver = creators.resolver();
        let chain = resolver.get(a).unwrap();
        assert_eq!(chain.name(), Some("conn"));
        assert_eq!(chain.creator().unwrap().name(), Some("acceptor"));
        assert!(chain.creator().unwrap().creator().is_none());
        assert!(resolver.get(0).is_none());
        assert!(resolver.get(999).is_none(), "unknown index: none");
        assert_eq!(chain.to_string(), format!("\"conn\" at {here}"));
    }

    #[test]
    fn a_full_table_records_nothing_more() {
        let creators = Creators::new();
        let here = Location::caller();
        let mut last = 0;
        for i in 0..MAX_RECORDS {
            last = creators.intern(here, Some(Arc::from(i.to_string())), 0);
        }
        assert_eq!(last as usize, MAX_RECORDS);
        assert_eq!(creators.intern(here, Some(Arc::from("one more")), 0), 0);
        assert_eq!(
            creators.intern(here, Some(Arc::from("0")), 0),
            1,
            "old ones still resolve"
        );
    }

    #[test]
    fn a_deep_chain_resolves_without_recursion() {
        let creators = Creators::new();
        let here = Location::caller();
        let mut i = 0;
        for _ in 0..10_000 {
            i = creators.intern(here, None, i);
        }
        let chain = creators.resolver().get(i).unwrap();
        let mut depth = 1;
        let mut at = chain.creator();
        while let Some(c) = at {
            depth += 1;
            at = c.creator();
        }
        assert_eq!(depth, 10_000);
    }
}
