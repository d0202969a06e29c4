//! The one place this crate takes its atomics and locks from: `std`/`parking_lot`
//! normally, loom under `--cfg corral_loom` (CONTRIBUTING.md, "The sync shim").

#[cfg(corral_loom)]
pub(crate) use loom::sync::atomic::AtomicUsize;
#[cfg(not(corral_loom))]
pub(crate) use std::sync::atomic::AtomicUsize;

pub(crate) use std::sync::atomic::Ordering;

/// A mutex with one API under both backends: `lock()` returns the guard directly.
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
        Self {
            #[cfg(not(corral_loom))]
            inner: parking_lot::Mutex::new(value),
            #[cfg(corral_loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(corral_loom))]
        {
            self.inner.lock()
        }
        #[cfg(corral_loom)]
        {
            // A poisoned lock means a model thread panicked: the model has failed already.
            self.inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}
