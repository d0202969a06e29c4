//! The state every service built from one `LimitLayer` shares.
//!
//! # Invariants
//!
//! - `sem`'s capacity is the current limit: fixed, or the adaptive algorithm's last
//!   answer, set only under the `adaptive` lock.
//! - `last_empty` (nanoseconds after `base`) is when the queue's current busy period
//!   began: marked when a request joins an empty queue, and when the last waiter
//!   leaves (admitted or withdrawn). It only grows.
//! - `inflight` counts admitted weight not yet released, kept only with an adaptive
//!   limit (the algorithms' "is the limit in use" check needs it).

use std::sync::Arc;
use std::time::Duration;

use corral_semaphore::Semaphore;
use corral_shared::sync::Ordering::Relaxed;
use corral_shared::sync::{AtomicU64, Mutex};
use tokio::time::Instant;

use crate::adaptive::{Algorithm, Sample};

pub(crate) struct Shared {
    pub(crate) sem: Arc<Semaphore>,
    pub(crate) max_queue: usize,
    pub(crate) max_wait: Option<Duration>,
    pub(crate) sojourn: Option<(Duration, Duration)>,
    pub(crate) retry_after: Duration,
    pub(crate) adaptive: Option<Mutex<Box<dyn Algorithm>>>,
    pub(crate) inflight: AtomicU64,
    base: Instant,
    last_empty: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        limit: u64,
        max_queue: usize,
        max_wait: Option<Duration>,
        sojourn: Option<(Duration, Duration)>,
        retry_after: Duration,
        adaptive: Option<Box<dyn Algorithm>>,
    ) -> Self {
        Shared {
            sem: Arc::new(Semaphore::new(limit)),
            max_queue,
            max_wait,
            sojourn,
            retry_after,
            adaptive: adaptive.map(Mutex::new),
            inflight: AtomicU64::new(0),
            base: Instant::now(),
            last_empty: AtomicU64::new(0),
        }
    }

    /// Records that the queue was empty at `now`.
    pub(crate) fn mark_empty(&self, now: Instant) {
        let nanos = now.saturating_duration_since(self.base).as_nanos() as u64;
        // Relaxed: a timestamp read only to decide shedding; fetch_max keeps it monotonic.
        self.last_empty.fetch_max(nanos, Relaxed);
    }

    /// When the queue was last seen empty.
    pub(crate) fn last_empty(&self) -> Instant {
        // Relaxed: see mark_empty.
        self.base + Duration::from_nanos(self.last_empty.load(Relaxed))
    }

    /// Whether sojourn shedding tracks queue-empty times at all.
    pub(crate) fn tracks_empty(&self) -> bool {
        self.sojourn.is_some()
    }

    /// Feeds one completed request to the adaptive algorithm and applies its answer.
    pub(crate) fn record(&self, sample: Sample) {
        if let Some(adaptive) = &self.adaptive {
            let mut algorithm = adaptive.lock();
            let limit = algorithm.update(&sample).max(1);
            if limit != self.sem.capacity() {
                self.sem.set_capacity(limit);
            }
        }
    }

    /// The current limit.
    pub(crate) fn limit(&self) -> u64 {
        self.sem.capacity()
    }
}
