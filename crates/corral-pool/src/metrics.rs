//! A point-in-time view of a pool's bounds and counters.

use std::time::Duration;

/// A snapshot from [`Pool::metrics`](crate::Pool::metrics), taken under the pool's
/// lock, so its fields agree with each other.
///
/// Counters only grow. A job is counted before its handle resolves. Once a pool is
/// quiet (nothing queued or running),
/// `submitted == completed + failed + cancelled + handed_back` exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Worker tasks alive now (can exceed `target_workers` briefly after a shrink).
    pub workers: usize,
    /// The configured worker count.
    pub target_workers: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs accepted and waiting for a worker.
    pub queued: usize,
    /// Submitters blocked in `submit` waiting for room (not those granted room whose
    /// job is already queued).
    pub blocked_submitters: usize,
    /// The queue bound (0 = hand-off).
    pub queue_capacity: usize,
    /// Jobs accepted.
    pub submitted: u64,
    /// Jobs that returned their output.
    pub completed: u64,
    /// Jobs that panicked.
    pub failed: u64,
    /// Jobs refused: `try_submit` full or closed, `submit` closed, enqueue deadline hit.
    pub rejected: u64,
    /// Accepted jobs that were cancelled: aborted through their handle (or by dropping
    /// a submit future after room was granted to it), stopped by `shutdown_now`, or
    /// dropped with the pool or its runtime.
    pub cancelled: u64,
    /// Queued jobs that `shutdown_now` handed back unstarted.
    pub handed_back: u64,
    /// Time accepted jobs spent queued before a worker took them (sampled: see
    /// [`Builder::queue_wait_sampling`](crate::Builder::queue_wait_sampling)).
    pub queue_wait: QueueWait,
    /// Whether intake is closed.
    pub closed: bool,
}

/// Queue-wait time of the sampled jobs that reached a worker: count, sum and maximum
/// (see [`Builder::queue_wait_sampling`](crate::Builder::queue_wait_sampling)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueWait {
    /// Jobs measured (sampled).
    pub count: u64,
    /// Sum of their waits.
    pub total: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl QueueWait {
    /// The mean wait (zero when nothing was measured).
    pub fn mean(&self) -> Duration {
        match u32::try_from(self.count) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.total / n,
            Err(_) => Duration::from_secs_f64(self.total.as_secs_f64() / self.count as f64),
        }
    }
}
