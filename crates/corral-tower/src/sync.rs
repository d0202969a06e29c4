//! The one place this crate's atomics and lock come from, so `--cfg corral_loom` swaps
//! them for loom's model-checked versions.

#[cfg(corral_loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(corral_loom))]
pub(crate) use std::sync::atomic::AtomicU64;

#[cfg(not(corral_loom))]
pub(crate) use parking_lot::Mutex;

/// loom's mutex with parking_lot's `lock` (no poisoning): the one lock here guards the
/// adaptive algorithm, whose state stays usable if a user algorithm panicked.
#[cfg(corral_loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(corral_loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
