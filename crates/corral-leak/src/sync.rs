//! The one place this crate's locks and atomics come from.
//!
//! The guard's only shared state is process-wide (`static`s: the list of active guards
//! and the tree-mark counter), touched once per guard creation, check and drop. Loom
//! cannot host a `static`, and there is nothing here for a model to find, so both
//! builds use `parking_lot` and `std` atomics.

pub(crate) use parking_lot::Mutex;
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
