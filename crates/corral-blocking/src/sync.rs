//! The one place this crate takes its locks, atomics, `Arc` and threads from.
//!
//! Under `--cfg corral_loom` they come from loom, so the pool's slot/queue handshake can
//! be model-checked; otherwise from `std`. Both sides expose the same small API: `lock()`
//! returns the guard directly (a poisoned lock is recovered, since no invariant is held
//! across user code while a pool lock is held), and `Condvar::wait_timeout` takes the
//! guard by value and says whether the wait timed out.
//!
//! The resolver's maps and the process-wide stray-thread registry are deliberately not
//! switched: they are process-global or live outside the models, and loom cannot host a
//! `static`.

#[cfg(corral_loom)]
use loom::sync as imp;
#[cfg(not(corral_loom))]
use std::sync as imp;

use std::time::Duration;

pub(crate) use imp::atomic::{AtomicUsize, Ordering};
pub(crate) use imp::Arc;
pub(crate) use imp::MutexGuard;

/// A mutex whose `lock` never reports poisoning.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(imp::Mutex<T>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(imp::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A condition variable paired with [`Mutex`].
#[derive(Debug, Default)]
pub(crate) struct Condvar(imp::Condvar);

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(imp::Condvar::new())
    }

    /// Waits for a notification or `timeout`; returns the guard and whether it timed
    /// out. (Under loom a timed wait never times out: models end by shutting down.)
    pub(crate) fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        match self.0.wait_timeout(guard, timeout) {
            Ok((guard, result)) => (guard, result.timed_out()),
            Err(poisoned) => {
                let (guard, result) = poisoned.into_inner();
                (guard, result.timed_out())
            }
        }
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
