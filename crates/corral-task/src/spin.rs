//! The registry shards' lock: a spin lock with one compare-and-swap to lock and a
//! plain release store to unlock.
//!
//! Why not parking_lot's `Mutex`: every spawn locks a shard, and a parking lock's
//! unlock is a second atomic read-modify-write (it must see whether anyone sleeps).
//! Here unlock is a store. When a task's end still took the lock as well, this was
//! 1.12x -> 1.08x `tokio::spawn` on the no-op spawn + join bench
//! (`benches/corral_task.rs`, current-thread runtime).
//!
//! Why spinning is bounded here: a shard lock is held for a few dozen instructions
//! (one slot written, or a batch of at most 64 retired slots freed), or by a snapshot
//! for at most [`BATCH`] slots at a time (`Registry::for_each`). A waiter spins a few rounds with exponential backoff and
//! then yields its thread to the scheduler between checks, so a preempted holder gets
//! the CPU back.
//!
//! # Invariants
//!
//! - The flag is `true` exactly while one [`RawSpin::lock`] or successful
//!   [`RawSpin::try_lock`] has not been matched by its `unlock`.
//! - Acquiring is a compare-and-swap with `Acquire` (a failed one writes nothing),
//!   releasing a store with `Release`: everything
//!   written under the lock happens-before whatever the next holder does.
//!
//! The algorithm lives in free functions over [`Flag`], so the loom model below runs
//! the very same code over loom's `AtomicBool`.

use std::sync::atomic::{AtomicBool, Ordering};

/// How many slots a snapshot copies under one hold of a shard lock.
pub(crate) const BATCH: usize = 256;

/// The atomic the lock is made of (std's, or loom's in the model).
pub(crate) trait Flag {
    /// Sets the flag with `Acquire` if it is clear; returns whether it was set (and
    /// then writes nothing).
    fn set_if_clear(&self) -> bool;
    /// Reads the flag without ordering.
    fn load_relaxed(&self) -> bool;
    /// Clears the flag with `Release`.
    fn clear_release(&self);
}

impl Flag for AtomicBool {
    #[inline]
    fn set_if_clear(&self) -> bool {
        self.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
    }

    #[inline]
    fn load_relaxed(&self) -> bool {
        self.load(Ordering::Relaxed)
    }

    #[inline]
    fn clear_release(&self) {
        self.store(false, Ordering::Release);
    }
}

/// Takes the lock if it is free.
#[inline]
pub(crate) fn try_lock(flag: &impl Flag) -> bool {
    !flag.set_if_clear()
}

/// Takes the lock, waiting for it if needed.
#[inline]
pub(crate) fn lock(flag: &impl Flag) {
    if !try_lock(flag) {
        lock_contended(flag);
    }
}

/// Waits on a read-only loop (no cache-line ping-pong) until the flag looks clear,
/// then tries again.
///
/// Under loom the read-only loop is left out: loom may hand a relaxed load the stale
/// `true` forever, so the model could never finish, and mutual exclusion rests on the
/// compare-and-swap alone (a read-modify-write always sees the latest value), which
/// the model keeps.
#[cold]
fn lock_contended(flag: &impl Flag) {
    let mut round = 0;
    loop {
        #[cfg(not(corral_loom))]
        while flag.load_relaxed() {
            backoff(&mut round);
        }
        #[cfg(corral_loom)]
        backoff(&mut round);
        if try_lock(flag) {
            return;
        }
    }
}

/// Spins 1, 2, 4 ... 32 times, then yields the thread on every later round.
#[inline]
fn backoff(round: &mut u32) {
    #[cfg(corral_loom)]
    {
        let _ = round;
        loom::thread::yield_now();
    }
    #[cfg(not(corral_loom))]
    {
        if *round < 6 {
            for _ in 0..1u32 << *round {
                std::hint::spin_loop();
            }
            *round += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// Releases the lock.
#[inline]
pub(crate) fn unlock(flag: &impl Flag) {
    flag.clear_release();
}

/// The raw lock behind [`SpinMutex`].
#[derive(Debug)]
pub(crate) struct RawSpin(AtomicBool);

// SAFETY: `lock` and a `try_lock` that returns true leave the flag set, and no other
// caller can then get past `try_lock` (a compare-and-swap from clear) until `unlock`
// clears it, so at most one guard exists at a time (lock_api's contract). Acquire on
// the compare-and-swap and Release on the clearing store order each holder's accesses after the
// previous holder's.
#[allow(unsafe_code)]
unsafe impl parking_lot::lock_api::RawMutex for RawSpin {
    const INIT: Self = RawSpin(AtomicBool::new(false));

    type GuardMarker = parking_lot::lock_api::GuardSend;

    #[inline]
    fn lock(&self) {
        lock(&self.0);
    }

    #[inline]
    fn try_lock(&self) -> bool {
        try_lock(&self.0)
    }

    /// # Safety
    ///
    /// Called only by lock_api with the lock held in this context (its guard's drop).
    #[inline]
    unsafe fn unlock(&self) {
        unlock(&self.0);
    }
}

/// A mutex over [`RawSpin`], with parking_lot's API.
pub(crate) type SpinMutex<T> = parking_lot::lock_api::Mutex<RawSpin, T>;

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn excludes_across_threads() {
        let m = std::sync::Arc::new(SpinMutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        // Read, yield now and then, write: a lost update shows as a
                        // short count.
                        let mut g = m.lock();
                        let v = *g;
                        if v % 1000 == 0 {
                            std::thread::yield_now();
                        }
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), 80_000);
    }

    #[test]
    fn try_lock_fails_while_held_and_succeeds_after() {
        let m = SpinMutex::new(());
        let g = m.lock();
        assert!(m.try_lock().is_none());
        drop(g);
        assert!(m.try_lock().is_some());
    }
}

#[cfg(all(test, corral_loom))]
mod loom_models {
    use super::*;
    use loom::sync::atomic::{AtomicBool as LoomBool, AtomicUsize};
    use loom::sync::Arc;
    use loom::thread;

    impl Flag for LoomBool {
        fn set_if_clear(&self) -> bool {
            self.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        }

        fn load_relaxed(&self) -> bool {
            self.load(Ordering::Relaxed)
        }

        fn clear_release(&self) {
            self.store(false, Ordering::Release);
        }
    }

    /// Three threads each try a few times to take the lock and, when they get it, do a
    /// non-atomic increment (a relaxed load, then a relaxed store) under it: any
    /// interleaving that let two holders in at once, or did not order one holder's
    /// store before the next holder's load, would lose an update; and the lock is free
    /// once all are done.
    ///
    /// The waiting loop of [`lock`] is not run here: loom explores a spinning waiter
    /// that is never descheduled as an endless path. It adds nothing to check: it only
    /// repeats [`try_lock`], whose compare-and-swap is what excludes and orders.
    #[test]
    fn the_lock_excludes_and_orders_holders() {
        loom::model(|| {
            let flag = Arc::new(LoomBool::new(false));
            let count = Arc::new(AtomicUsize::new(0));
            let bump = |flag: &LoomBool, count: &AtomicUsize| -> usize {
                for _ in 0..2 {
                    if try_lock(flag) {
                        let v = count.load(Ordering::Relaxed);
                        count.store(v + 1, Ordering::Relaxed);
                        unlock(flag);
                        return 1;
                    }
                    thread::yield_now();
                }
                0
            };
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (flag, count) = (flag.clone(), count.clone());
                    thread::spawn(move || bump(&flag, &count))
                })
                .collect();
            let mut held = bump(&flag, &count);
            for w in workers {
                held += w.join().unwrap();
            }
            assert!(held >= 1, "someone always gets a free lock");
            assert_eq!(count.load(Ordering::Relaxed), held);
            assert!(try_lock(&*flag), "released at the end");
        });
    }
}
