//! The one place atomics and locks come from, switched by `cfg(corral_loom)`.
//!
//! Outside loom, [`Mutex`] is the registry's spin lock ([`crate::spin`]); under loom it
//! is loom's `Mutex` (which returns a `LockResult`) wrapped so the rest of the crate
//! sees the same API. The spin algorithm has its own loom model in `spin.rs`.

#[cfg(corral_loom)]
mod imp {
    use loom::sync::MutexGuard;

    /// A mutex with parking_lot's API over loom's.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            // A poisoned lock only follows a panic that already failed the model.
            self.0.lock().unwrap_or_else(|poison| poison.into_inner())
        }
    }
}

#[cfg(not(corral_loom))]
mod imp {
    pub(crate) use crate::spin::SpinMutex as Mutex;
}

pub(crate) use imp::Mutex;

/// The shard-assignment counter is a `static`, which loom cannot construct; it only
/// spreads threads over shards (any value is correct), so it stays `std` in both builds.
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};

/// Slot tags are atomics loom checks.
#[cfg(corral_loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(corral_loom))]
pub(crate) use std::sync::atomic::AtomicU64;

/// Tag segments are published once, under the shard lock; loom has no `OnceLock`, and
/// the segment's atomics are loom's, so the accesses that matter are still modelled.
pub(crate) use std::sync::OnceLock;
