//! The `metrics` feature (issue #15): a named pool's handles, registered once when it is
//! built, and the publishing of its state through them.
//!
//! The pool already keeps every number under its lock ([`State::metrics`]), so nothing
//! is counted twice: a publish hands the state to this pool's shares of the series
//! (`corral_shared::metrics`: each moves its series by the difference from what this
//! pool published last), under the lock, so publishes are serialised, and pools given
//! the same name add up into one series; a dropped pool's state takes its gauge shares
//! back out. Publishing on every release of the lock cost a third of a no-op job's
//! time (BENCHMARKS.md), so it is batched: at once when the pool is closed or goes
//! idle (quiet and stopped pools are exact; a worker's own visit publishes an idle
//! pool only when its worker parks), otherwise every `PUBLISH_EVERY` submissions and
//! every `PUBLISH_EVERY` completions, and on each census tick
//! (`corral_task::export_metrics`; the pool registers as a tick source when built), so
//! a busy pool's series are at most that many operations, or one tick, old. The `metrics` facade has no callback gauges (a recorder reads the
//! value stored in the handle at scrape time), so sampling on scrape is not possible.
//! Queue waits come from the existing queue-wait sampling and are recorded into their
//! histogram in batches, with the rest of a publish (or once `WAIT_BATCH` are
//! pending): recording each one under the lock as it was measured cost the reporting
//! pool 1-3% (BENCHMARKS.md, the pool's "Session 6").
//! Without the feature none of this is compiled and [`Locked`] is the plain mutex
//! guard.

#[cfg(feature = "metrics")]
pub(crate) use self::on::{Locked, PoolMetrics, PUBLISH_EVERY};

#[cfg(not(feature = "metrics"))]
pub(crate) type Locked<'a, F> = corral_shared::sync::MutexGuard<'a, super::state::State<F>>;

#[cfg(feature = "metrics")]
mod on {
    use std::future::Future;
    use std::ops::{Deref, DerefMut};
    use std::time::Duration;

    use corral_shared::metrics::Series;
    use corral_shared::sync::MutexGuard;
    use metrics::{histogram, Histogram};

    use super::super::state::State;
    use crate::metrics::Metrics;

    /// The handles of one named pool (label `pool`), as this pool's shares of the
    /// series (see `corral_shared::metrics`): dropped with the pool's state, they take
    /// its gauges back out.
    #[derive(Debug)]
    pub(crate) struct PoolMetrics {
        /// Gauges running, queued, workers; counters submitted, completed, failed,
        /// cancelled, rejected, handed back.
        series: Series<3, 6>,
        queue_wait: Histogram,
        /// Sampled queue waits (seconds) not yet recorded into `queue_wait`.
        waits: Vec<f64>,
    }

    /// Sampled queue waits recorded at once when this many are pending, so a busy pool's
    /// histogram is never more than this many samples behind (a publish records them
    /// all earlier).
    const WAIT_BATCH: usize = 64;

    /// A busy pool publishes once every this many submissions and once every this many
    /// completions (see `State::publish_batched`), besides each census tick: a publish
    /// is a handful of atomic read-modify-writes on the recorder's shared storage, whose
    /// lines move between cores when the submitter and the workers take turns, about
    /// 1.5% of a no-op job's time at 64 (BENCHMARKS.md). Counted by the counters the
    /// submitter and the workers already keep on their own cache lines: a count of lock
    /// releases kept for this (before session 6) was one more line written by both sides
    /// at every visit, and cost the reporting pool 15-20%.
    pub(crate) const PUBLISH_EVERY: u64 = 1024;

    impl PoolMetrics {
        pub(crate) fn register(name: &str) -> Self {
            PoolMetrics {
                series: Series::new(
                    "pool",
                    name,
                    [
                        "corral_pool_running_jobs",
                        "corral_pool_queued_jobs",
                        "corral_pool_workers",
                    ],
                    [
                        "corral_pool_jobs_submitted_total",
                        "corral_pool_jobs_completed_total",
                        "corral_pool_jobs_failed_total",
                        "corral_pool_jobs_cancelled_total",
                        "corral_pool_jobs_rejected_total",
                        "corral_pool_jobs_handed_back_total",
                    ],
                ),
                queue_wait: histogram!("corral_pool_queue_wait_seconds", "pool" => name.to_owned()),
                waits: Vec::with_capacity(WAIT_BATCH),
            }
        }

        /// Takes one sampled queue wait, recorded with the next publish.
        pub(crate) fn queue_wait(&mut self, waited: Duration) {
            self.waits.push(waited.as_secs_f64());
            if self.waits.len() >= WAIT_BATCH {
                self.record_waits();
            }
        }

        fn record_waits(&mut self) {
            for waited in self.waits.drain(..) {
                self.queue_wait.record(waited);
            }
        }

        /// Moves every series by the difference between `now` and what was published.
        pub(crate) fn publish(&mut self, now: Metrics) {
            let gauges = [now.running, now.queued, now.workers].map(|n| n as u64);
            let counters = [
                now.submitted,
                now.completed,
                now.failed,
                now.cancelled,
                now.rejected,
                now.handed_back,
            ];
            self.series.publish(gauges, counters);
            self.record_waits();
        }
    }

    /// The pool's lock, held: on release it publishes what changed (named pools only).
    pub(crate) struct Locked<'a, F: Future> {
        state: MutexGuard<'a, State<F>>,
        /// Whether releasing publishes an idle pool (`false` for a worker's visit,
        /// which publishes one when its worker parks).
        idle: bool,
    }

    impl<'a, F: Future> Locked<'a, F> {
        pub(crate) fn new(state: MutexGuard<'a, State<F>>, idle: bool) -> Self {
            Locked { state, idle }
        }
    }

    impl<F: Future> Deref for Locked<'_, F> {
        type Target = State<F>;
        fn deref(&self) -> &State<F> {
            &self.state
        }
    }

    impl<F: Future> DerefMut for Locked<'_, F> {
        fn deref_mut(&mut self) -> &mut State<F> {
            &mut self.state
        }
    }

    impl<F: Future> Drop for Locked<'_, F> {
        fn drop(&mut self) {
            self.state.publish_batched(self.idle);
        }
    }
}
