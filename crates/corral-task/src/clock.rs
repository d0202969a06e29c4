//! Spawn times: a coarse monotonic clock read once per spawn, stored as nanoseconds
//! from an epoch.
//!
//! A precise clock read (`Instant::now()`, `CLOCK_MONOTONIC` through the vDSO) costs
//! 25-40 ns on the machines we measured, as much as the whole tracking budget of a
//! spawn (`benches/corral_task.rs`). On Linux, spawn times come instead from
//! `CLOCK_MONOTONIC_COARSE`: the same timeline as `Instant`, read from the time the
//! kernel stored at its last tick, for about 5 ns.
//!
//! # Invariants
//!
//! - A stamp is never later than the moment it was taken, and earlier by less than
//!   one kernel tick (`clock_getres(CLOCK_MONOTONIC_COARSE)` reports it: 1-10 ms
//!   depending on the kernel's `HZ`; 4 ms on the bench machine). Task ages are
//!   therefore never under-reported, and over-reported by less than one tick.
//! - `instant(stamp)` is never later than the `Instant` at which the stamp was taken:
//!   the epoch's `Instant` is read before its raw clock value.
//! - Elsewhere (no coarse clock), stamps are exact `Instant::now()` reads.

use std::time::{Duration, Instant};

/// The registry's time base: an `Instant` and the raw clock reading taken just after it.
#[derive(Debug)]
pub(crate) struct Clock {
    epoch: Instant,
    /// `CLOCK_MONOTONIC` nanoseconds read right after `epoch` (Linux only).
    #[cfg(target_os = "linux")]
    epoch_raw: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let epoch = Instant::now();
        Self {
            epoch,
            #[cfg(target_os = "linux")]
            epoch_raw: linux::read(libc::CLOCK_MONOTONIC),
        }
    }

    /// Nanoseconds from the epoch to now, up to one kernel tick early.
    #[inline]
    pub(crate) fn stamp(&self) -> u64 {
        #[cfg(target_os = "linux")]
        {
            linux::read(libc::CLOCK_MONOTONIC_COARSE).saturating_sub(self.epoch_raw)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let d = Instant::now().saturating_duration_since(self.epoch);
            d.as_secs()
                .saturating_mul(1_000_000_000)
                .saturating_add(u64::from(d.subsec_nanos()))
        }
    }

    /// The instant a stamp stands for.
    pub(crate) fn instant(&self, stamp: u64) -> Instant {
        self.epoch + Duration::from_nanos(stamp)
    }
}

/// The crate's only `unsafe`: one libc call, handed a valid, exclusive pointer.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod linux {
    /// Reads `clock` as nanoseconds.
    #[inline]
    pub(super) fn read(clock: libc::clockid_t) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY:
        // - `ts` is a live, writable, properly aligned `timespec` owned by this frame;
        //   the call writes only through that pointer and keeps no copy of it.
        // - `clock` is one of the two clock ids this module is called with, both
        //   supported by every Linux kernel since 2.6.32 (an error would leave `ts`
        //   zeroed, which only yields a stamp of 0: early, never unsafe).
        unsafe { libc::clock_gettime(clock, &mut ts) };
        // A monotonic clock never reads negative; the casts are lossless.
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_never_later_than_its_read() {
        let clock = Clock::new();
        for _ in 0..1000 {
            let at = clock.instant(clock.stamp());
            assert!(at <= Instant::now());
        }
    }
}
