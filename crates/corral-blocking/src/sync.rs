//! The one place this crate takes its locks, atomics, `Arc` and threads from.
//!
//! Under `--cfg corral_loom` they come from loom, so the pool's slot/queue handshake can
//! be model-checked; otherwise locks from `parking_lot` and the rest from `std`. Both
//! sides expose the same small API: `lock()` returns the guard directly (under loom a
//! poisoned lock is recovered, since no invariant is held across user code while a pool
//! lock is held; parking_lot does not poison), and `Condvar::wait_until` takes the
//! guard by value and says whether the deadline passed.
//!
//! The resolver's in-flight map and waiters use this shim too (their loom models are in
//! `resolver/flight.rs`). The resolver's cache and the process-wide stray-thread
//! registry are deliberately not switched: no model exercises them, and loom cannot
//! host a `static`.

#[cfg(corral_loom)]
use loom::sync as imp;
#[cfg(not(corral_loom))]
use std::sync as imp;

use std::time::Instant;

pub(crate) use imp::atomic::{AtomicUsize, Ordering};
pub(crate) use imp::Arc;
#[cfg(corral_loom)]
pub(crate) use loom::sync::MutexGuard;
// parking_lot outside loom, as tokio's own blocking pool uses with its `parking_lot`
// feature (on in this workspace): its condvar's `notify_one` makes no syscall when
// nobody sleeps, and its mutex spins briefly before parking, which is what a pool
// thread handing results back and forth with one caller needs.
#[cfg(not(corral_loom))]
pub(crate) use parking_lot::MutexGuard;

/// A mutex whose `lock` never reports poisoning.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(
    #[cfg(corral_loom)] loom::sync::Mutex<T>,
    #[cfg(not(corral_loom))] parking_lot::Mutex<T>,
);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(corral_loom)]
        return Mutex(loom::sync::Mutex::new(value));
        #[cfg(not(corral_loom))]
        return Mutex(parking_lot::Mutex::new(value));
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(corral_loom)]
        return self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        #[cfg(not(corral_loom))]
        return self.0.lock();
    }
}

/// A condition variable paired with [`Mutex`].
#[derive(Debug, Default)]
pub(crate) struct Condvar(
    #[cfg(corral_loom)] loom::sync::Condvar,
    #[cfg(not(corral_loom))] parking_lot::Condvar,
);

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar::default()
    }

    /// Waits for a notification or the `deadline`; returns the guard and whether the
    /// deadline passed. (Under loom a timed wait never times out: models end by
    /// shutting down.)
    #[cfg(corral_loom)]
    pub(crate) fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Instant,
    ) -> (MutexGuard<'a, T>, bool) {
        let timeout = deadline.saturating_duration_since(Instant::now());
        match self.0.wait_timeout(guard, timeout) {
            Ok((guard, result)) => (guard, result.timed_out()),
            Err(poisoned) => {
                let (guard, result) = poisoned.into_inner();
                (guard, result.timed_out())
            }
        }
    }

    /// Waits for a notification or the `deadline`; returns the guard and whether the
    /// deadline passed.
    #[cfg(not(corral_loom))]
    pub(crate) fn wait_until<'a, T>(
        &self,
        mut guard: MutexGuard<'a, T>,
        deadline: Instant,
    ) -> (MutexGuard<'a, T>, bool) {
        let timed_out = self.0.wait_until(&mut guard, deadline).timed_out();
        (guard, timed_out)
    }

    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// Spawns a named pool thread (name and stack size are ignored under loom).
pub(crate) fn spawn_thread(
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
    // The handle is dropped on purpose: pool threads are detached (see the
    // `BlockingPool` docs, "Shutdown"); their exit is observed through the pool state.
    builder.spawn(body).map(drop)
}
