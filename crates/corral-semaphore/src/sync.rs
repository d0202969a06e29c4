//! The one place atomics and locks come from, so `--cfg corral_loom` can swap them for
//! loom's model-checked versions. The rest of the crate sees a single API.

#[cfg(corral_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(corral_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(corral_loom)]
use loom::sync::Mutex as Inner;
#[cfg(corral_loom)]
pub(crate) use loom::sync::MutexGuard;
#[cfg(not(corral_loom))]
use std::sync::Mutex as Inner;
#[cfg(not(corral_loom))]
pub(crate) use std::sync::MutexGuard;

/// A mutex whose `lock` never reports poisoning: no code in this crate panics while
/// holding it (wakers are woken after it is released), so a poisoned lock still guards
/// consistent data.
#[derive(Debug)]
pub(crate) struct Mutex<T>(Inner<T>);

impl<T> Mutex<T> {
    #[cfg(not(corral_loom))]
    pub(crate) const fn new(value: T) -> Self {
        Mutex(Inner::new(value))
    }

    #[cfg(corral_loom)]
    pub(crate) fn new(value: T) -> Self {
        Mutex(Inner::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
