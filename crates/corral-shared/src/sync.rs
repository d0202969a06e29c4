//! The one place corral's engines take their atomics, locks and threads from.
//!
//! Under `--cfg corral_loom` everything here comes from loom, so a model runs the
//! shipped engine on loom's scheduler; otherwise locks come from `parking_lot` and the
//! rest from `std`. Both sides expose one API: [`Mutex::lock`] returns the guard
//! directly (parking_lot does not poison; under loom a poisoned lock means a model
//! thread already panicked, which fails the model on its own, so the data is recovered),
//! and [`Condvar::wait_until`] takes the guard by value and says whether the deadline
//! passed.
//!
//! What loom cannot host stays on `std` in both builds and is imported from `std` by the
//! crate that needs it, with the reason next to the import: a `static` (loom's types are
//! not `const`-constructible), a `Weak<dyn _>` (loom's `Arc` has no unsized coercion),
//! and `OnceLock`.

#[cfg(corral_loom)]
use loom::sync as imp;
#[cfg(not(corral_loom))]
use std::sync as imp;

use std::time::Instant;

pub use imp::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
pub use imp::Arc;

/// The guard [`Mutex::lock`] returns.
#[cfg(corral_loom)]
pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;
/// The guard [`Mutex::lock`] returns.
#[cfg(not(corral_loom))]
pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

/// A mutex whose `lock` never reports poisoning: `parking_lot`'s, or loom's under the
/// model.
///
/// parking_lot rather than `std`: it spins briefly before parking, which suits the short
/// critical sections of corral's engines, and its `Condvar::notify_one` makes no syscall
/// when nobody sleeps (tokio's own blocking pool uses it for the same reason).
#[derive(Debug, Default)]
pub struct Mutex<T>(
    #[cfg(corral_loom)] loom::sync::Mutex<T>,
    #[cfg(not(corral_loom))] parking_lot::Mutex<T>,
);

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`. `const` outside loom, so engines that back a
    /// `static` (the semaphore's `const fn new`) can use it.
    #[cfg(not(corral_loom))]
    pub const fn new(value: T) -> Self {
        Mutex(parking_lot::Mutex::new(value))
    }

    /// A new unlocked mutex holding `value`.
    #[cfg(corral_loom)]
    pub fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    /// Locks the mutex, blocking the thread until it is free.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(corral_loom)]
        return self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        #[cfg(not(corral_loom))]
        return self.0.lock();
    }

    /// The value, with the mutex consumed.
    pub fn into_inner(self) -> T {
        #[cfg(corral_loom)]
        return self
            .0
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        #[cfg(not(corral_loom))]
        return self.0.into_inner();
    }
}

/// A condition variable paired with [`Mutex`].
#[derive(Debug, Default)]
pub struct Condvar(
    #[cfg(corral_loom)] loom::sync::Condvar,
    #[cfg(not(corral_loom))] parking_lot::Condvar,
);

impl Condvar {
    /// A new condition variable.
    pub fn new() -> Self {
        Condvar::default()
    }

    /// Waits for a notification; returns the guard (spurious wake-ups are possible).
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        #[cfg(corral_loom)]
        return self
            .0
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        #[cfg(not(corral_loom))]
        {
            let mut guard = guard;
            self.0.wait(&mut guard);
            guard
        }
    }

    /// Waits for a notification or the `deadline`; returns the guard and whether the
    /// deadline passed. Under loom a timed wait never times out (loom has no clock), so
    /// a model must end by notifying.
    pub fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Instant,
    ) -> (MutexGuard<'a, T>, bool) {
        #[cfg(corral_loom)]
        {
            let timeout = deadline.saturating_duration_since(Instant::now());
            match self.0.wait_timeout(guard, timeout) {
                Ok((guard, result)) => (guard, result.timed_out()),
                Err(poisoned) => {
                    let (guard, result) = poisoned.into_inner();
                    (guard, result.timed_out())
                }
            }
        }
        #[cfg(not(corral_loom))]
        {
            let mut guard = guard;
            let timed_out = self.0.wait_until(&mut guard, deadline).timed_out();
            (guard, timed_out)
        }
    }

    /// Wakes one waiting thread, if any.
    pub fn notify_one(&self) {
        self.0.notify_one();
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// Spawns a detached, named thread (loom's under the model, where the name and stack
/// size are ignored). The handle is dropped: callers observe the thread's exit through
/// their own shared state.
///
/// # Errors
///
/// The OS refused to create the thread.
pub fn spawn_thread(
    name: String,
    stack_size: Option<usize>,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    #[cfg(corral_loom)]
    let mut builder = loom::thread::Builder::new().name(name);
    #[cfg(not(corral_loom))]
    let mut builder = std::thread::Builder::new().name(name);
    if let Some(size) = stack_size {
        builder = builder.stack_size(size);
    }
    builder.spawn(body).map(drop)
}
