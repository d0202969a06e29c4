//! The one place this crate takes its atomics and locks from, so loom can replace them.
//!
//! Under `--cfg corral_loom` everything comes from loom; otherwise from `std` and
//! `parking_lot`. Reference counts are plain `std::sync::Arc` in both: the pool's
//! handles hold a `Weak<dyn _>` link to the pool, which loom's `Arc` cannot give. The rest of the crate sees one API: [`Mutex::lock`] returns the guard
//! directly (loom's poisoning `LockResult` is unwrapped here).

#[cfg(corral_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[cfg(not(corral_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A mutex with a non-poisoning `lock()`: `parking_lot` normally, loom's under the model.
#[derive(Debug)]
pub(crate) struct Mutex<T> {
    #[cfg(not(corral_loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(corral_loom)]
    inner: loom::sync::Mutex<T>,
}

#[cfg(not(corral_loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(corral_loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex {
            #[cfg(not(corral_loom))]
            inner: parking_lot::Mutex::new(value),
            #[cfg(corral_loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    #[cfg(not(corral_loom))]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.inner.lock()
    }

    #[cfg(corral_loom)]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        // A poisoned lock means a panic inside a critical section, which is a bug in
        // this crate; loom reports it on its own.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
