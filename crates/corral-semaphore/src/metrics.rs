//! The `metrics` feature (issue #15): what a named semaphore
//! ([`Semaphore::with_name`](crate::Semaphore::with_name)) reports, and how.
//!
//! - **Gauges are sampled, not pushed.** Capacity, available permits and waiters are
//!   read from the semaphore itself on each census tick (`corral_shared::metrics`,
//!   driven by `corral_task::export_metrics`, or by [`sample_metrics`] for a program
//!   without corral-task), through the weak reference `with_name` registers. No
//!   acquire or release does any metrics work: moving a gauge per operation is an
//!   atomic read-modify-write on the recorder's storage behind a vtable, which took
//!   the uncontended acquire + release from 15 to 62 ns (BENCHMARKS.md). Each
//!   semaphore publishes through gauge *shares* (its difference from what it
//!   published last), so same-named semaphores add up, and dropping one takes its
//!   share back out at once.
//! - **Rare events are counted when they happen**: timeouts, too-large and closed
//!   refusals (counters). The handles are registered once, in `with_name`, and held
//!   behind an `Option<Box<_>>`: an unnamed semaphore (and every `const` one) pays one
//!   `None` branch on those slow paths.
//! - **Waits are timed on a sample.** Timing every queued acquire (two clock reads and
//!   a histogram record) cost a contended semaphore 25-39% (BENCHMARKS.md), so the
//!   histogram times one queued acquire in `DEFAULT_WAIT_SAMPLING` (or as set with
//!   [`Semaphore::set_wait_sampling`](crate::Semaphore::set_wait_sampling)), each
//!   chosen by an independent random draw when it joins the queue
//!   (`corral_shared::sample::Sampler`, the pool's queue-wait sampler); an unchosen one
//!   reads no clock. Every queued acquire that is granted is still counted, exactly:
//!   the queue keeps that total under the lock it already holds, and the census tick
//!   publishes it as `corral_semaphore_acquire_waits_total`.
//! - **Without the feature** the field does not exist and [`Metrics`] is a never-built
//!   type whose closure is never called (its fields are zero-sized no-ops, there only
//!   so the call sites type-check), so the off build compiles to what it was before.

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
        pub(crate) fn record<T>(&self, _: T) {}
    }

    /// Never constructed without the feature.
    #[derive(Debug)]
    pub(crate) struct Metrics {
        pub(crate) wait: Noop,
        pub(crate) timeouts: Noop,
        pub(crate) too_large: Noop,
        pub(crate) closed: Noop,
    }
}

/// How many queued acquires a named semaphore's wait histogram gets one sample from,
/// until [`Semaphore::set_wait_sampling`](crate::Semaphore::set_wait_sampling) says
/// otherwise: 64, the pool's default queue-wait sampling too. At one in 8 the two clock
/// reads and the histogram record of the sampled waits cost a contended semaphore 5-8% on a
/// multi-thread runtime, against the 5% the feature may cost (BENCHMARKS.md, the
/// `metrics` section); one in 64 still gives a busy semaphore hundreds of samples a
/// minute, and [`Semaphore::set_wait_sampling`](crate::Semaphore::set_wait_sampling)
/// sets a denser rate for a quiet one.
#[cfg(feature = "metrics")]
pub const DEFAULT_WAIT_SAMPLING: u32 = 64;

/// Samples the gauges of every named semaphore now, as each census tick of
/// `corral_task::export_metrics` does. That tick samples every named corral primitive
/// in the process, and this is the same tick: it also publishes the sampled series of
/// any named pools, blocking pools and resolvers. Call it from a periodic task of your
/// own (or before each scrape) in a program that does not run `export_metrics`;
/// otherwise a named semaphore's gauges keep the values it had when it was made.
///
/// Cost: one lock of each named primitive's state.
#[cfg(feature = "metrics")]
pub fn sample_metrics() {
    corral_shared::metrics::tick();
}

#[cfg(feature = "metrics")]
mod on {
    use corral_shared::metrics::Series;
    use corral_shared::sync::Mutex;
    use metrics::{counter, histogram, Counter, Histogram};

    /// The handles of one named semaphore (label `semaphore`).
    #[derive(Debug)]
    pub(crate) struct Metrics {
        pub(crate) wait: Histogram,
        /// Only `acquire_timeout` (the `tokio` feature) times out.
        #[cfg(feature = "tokio")]
        pub(crate) timeouts: Counter,
        pub(crate) too_large: Counter,
        pub(crate) closed: Counter,
        /// This semaphore's shares of the gauges capacity, available, waiters and of
        /// the waits counter, written at creation and on census ticks only, which are
        /// serialised (so the lock is never contended); dropped with the semaphore,
        /// which takes the gauge shares back out.
        shares: Mutex<Series<3, 1>>,
    }

    impl Metrics {
        pub(crate) fn register(name: &str) -> Self {
            let label = [("semaphore", name.to_owned())];
            Metrics {
                wait: histogram!("corral_semaphore_acquire_wait_seconds", &label),
                #[cfg(feature = "tokio")]
                timeouts: counter!("corral_semaphore_acquire_timeouts_total", &label),
                too_large: counter!("corral_semaphore_acquire_too_large_total", &label),
                closed: counter!("corral_semaphore_acquire_closed_total", &label),
                shares: Mutex::new(Series::new(
                    "semaphore",
                    name,
                    [
                        "corral_semaphore_capacity_permits",
                        "corral_semaphore_available_permits",
                        "corral_semaphore_waiters",
                    ],
                    ["corral_semaphore_acquire_waits_total"],
                )),
            }
        }

        /// Makes this semaphore's shares of the gauges capacity, available, waiters
        /// `now`, and of the waits counter its total `waits`.
        pub(crate) fn publish(&self, now: [u64; 3], waits: u64) {
            self.shares.lock().publish(now, [waits]);
        }
    }
}
