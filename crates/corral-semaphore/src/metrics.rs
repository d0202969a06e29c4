//! The `metrics` feature (issue #15): the handles a named semaphore registers once, in
//! [`Semaphore::with_name`](crate::Semaphore::with_name), and updates on state changes.
//!
//! Design, shared by every corral crate with the feature:
//! - Handles (`metrics::Counter`/`Gauge`/`Histogram`) are registered once at build time
//!   and stored in the primitive behind an `Option<Box<_>>`; no operation looks a metric
//!   up by name. An unnamed semaphore (and every `const` one) pays one `None` branch.
//! - Without the feature the field does not exist and [`Metrics`] is a never-built type whose
//!   closure is never called (its fields are zero-sized no-ops, there only so the call
//!   sites type-check), so the off build compiles to what it was before.
//! - Gauges are pushed, not sampled: the `metrics` facade has no callback gauges (a
//!   recorder reads the value stored in the handle at scrape time), so a gauge must be
//!   written when the state changes. Each gauge is moved by *deltas* at the point the
//!   state moves (a compare-exchange that took permits, a release that returned them, a
//!   push or unlink of the queue), never `set` from a value read earlier: deltas commute,
//!   so racing updates cannot leave a stale value behind, and two semaphores given the
//!   same name add up into one series. Dropping the semaphore takes its share back out.

#[cfg(feature = "metrics")]
pub(crate) use self::on::Metrics;

#[cfg(not(feature = "metrics"))]
pub(crate) use self::off::Metrics;

/// Without the feature: the same shape over zero-sized no-op handles, so the call sites
/// type-check; it is never constructed and `Semaphore::observe` never calls its closure.
#[cfg(not(feature = "metrics"))]
#[allow(dead_code)]
mod off {
    /// A handle that records nothing.
    #[derive(Debug)]
    pub(crate) struct Noop;

    impl Noop {
        pub(crate) fn increment<T>(&self, _: T) {}
        pub(crate) fn decrement<T>(&self, _: T) {}
        pub(crate) fn record<T>(&self, _: T) {}
    }

    /// Never constructed without the feature.
    #[derive(Debug)]
    pub(crate) struct Metrics {
        pub(crate) capacity: Noop,
        pub(crate) available: Noop,
        pub(crate) waiters: Noop,
        pub(crate) wait: Noop,
        pub(crate) timeouts: Noop,
        pub(crate) too_large: Noop,
        pub(crate) closed: Noop,
    }

    impl Metrics {
        pub(crate) fn moved(&self, _old: u64, _new: u64) {}
    }
}

#[cfg(feature = "metrics")]
mod on {
    use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

    /// The handles of one named semaphore (label `semaphore`).
    #[derive(Debug)]
    pub(crate) struct Metrics {
        pub(crate) capacity: Gauge,
        pub(crate) available: Gauge,
        pub(crate) waiters: Gauge,
        pub(crate) wait: Histogram,
        pub(crate) timeouts: Counter,
        pub(crate) too_large: Counter,
        pub(crate) closed: Counter,
    }

    impl Metrics {
        pub(crate) fn register(name: &str) -> Self {
            let label = [("semaphore", name.to_owned())];
            Metrics {
                capacity: gauge!("corral_semaphore_capacity_permits", &label),
                available: gauge!("corral_semaphore_available_permits", &label),
                waiters: gauge!("corral_semaphore_waiters", &label),
                wait: histogram!("corral_semaphore_acquire_wait_seconds", &label),
                timeouts: counter!("corral_semaphore_acquire_timeouts_total", &label),
                too_large: counter!("corral_semaphore_acquire_too_large_total", &label),
                closed: counter!("corral_semaphore_acquire_closed_total", &label),
            }
        }

        /// Moves the available gauge by `new - old` free permits.
        #[inline]
        pub(crate) fn moved(&self, old: u64, new: u64) {
            if new >= old {
                self.available.increment((new - old) as f64);
            } else {
                self.available.decrement((old - new) as f64);
            }
        }
    }
}
