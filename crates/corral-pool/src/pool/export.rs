//! The `metrics` feature (issue #15): a named pool's handles, registered once when it is
//! built, and the publishing of its state through them.
//!
//! The pool already keeps every number under its lock ([`State::metrics`]), so nothing
//! is counted twice: a publish compares the state with what was last published and
//! moves each counter and gauge by the difference, under the lock, so publishes are
//! serialised; gauges move by deltas, so pools given the same name add up into one
//! series. Publishing on every release of the lock cost a third of a no-op job's
//! time (BENCHMARKS.md), so it is batched: at once when the pool is idle or closed
//! (quiet and stopped pools are exact), otherwise every `PUBLISH_EVERY` releases and
//! on each census tick of `corral_task::export_metrics` (a busy pool's series are at
//! most that many operations, or one tick, old).
//! The `metrics` facade has no callback gauges (a recorder reads the value stored in
//! the handle at scrape time), so sampling on scrape is not possible. Queue wait goes
//! straight into a histogram from the existing queue-wait sampling. Without the feature
//! none of this is compiled and [`Locked`] is the plain mutex guard.

#[cfg(feature = "metrics")]
pub(crate) use self::on::{Locked, PoolMetrics};

#[cfg(not(feature = "metrics"))]
pub(crate) type Locked<'a, F> = corral_shared::sync::MutexGuard<'a, super::state::State<F>>;

#[cfg(feature = "metrics")]
mod on {
    use std::future::Future;
    use std::ops::{Deref, DerefMut};
    use std::time::Duration;

    use corral_shared::sync::MutexGuard;
    use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

    use super::super::state::State;
    use crate::metrics::Metrics;

    /// The handles of one named pool (label `pool`) and the state last published.
    #[derive(Debug)]
    pub(crate) struct PoolMetrics {
        running: Gauge,
        queued: Gauge,
        workers: Gauge,
        submitted: Counter,
        completed: Counter,
        failed: Counter,
        cancelled: Counter,
        rejected: Counter,
        handed_back: Counter,
        queue_wait: Histogram,
        last: Option<Metrics>,
        /// Lock releases since the last publish.
        pending: u32,
    }

    /// A busy pool publishes once every this many lock releases (see
    /// `State::publish_batched`): each publish is a handful of atomic read-modify-writes
    /// on the recorder's shared storage, too many to pay on every job at a few hundred
    /// nanoseconds per job.
    pub(crate) const PUBLISH_EVERY: u32 = 64;

    impl PoolMetrics {
        pub(crate) fn register(name: &str) -> Self {
            let label = [("pool", name.to_owned())];
            PoolMetrics {
                running: gauge!("corral_pool_running_jobs", &label),
                queued: gauge!("corral_pool_queued_jobs", &label),
                workers: gauge!("corral_pool_workers", &label),
                submitted: counter!("corral_pool_jobs_submitted_total", &label),
                completed: counter!("corral_pool_jobs_completed_total", &label),
                failed: counter!("corral_pool_jobs_failed_total", &label),
                cancelled: counter!("corral_pool_jobs_cancelled_total", &label),
                rejected: counter!("corral_pool_jobs_rejected_total", &label),
                handed_back: counter!("corral_pool_jobs_handed_back_total", &label),
                queue_wait: histogram!("corral_pool_queue_wait_seconds", &label),
                last: None,
                pending: 0,
            }
        }

        pub(crate) fn queue_wait(&self, waited: Duration) {
            self.queue_wait.record(waited);
        }

        /// Counts one lock release; true once every [`PUBLISH_EVERY`].
        #[inline]
        pub(crate) fn due(&mut self) -> bool {
            self.pending += 1;
            self.pending >= PUBLISH_EVERY
        }

        /// Moves every series by the difference between `now` and what was published.
        pub(crate) fn publish(&mut self, now: Metrics) {
            self.pending = 0;
            fn gauge(g: &Gauge, old: usize, new: usize) {
                if new > old {
                    g.increment((new - old) as f64);
                } else if old > new {
                    g.decrement((old - new) as f64);
                }
            }
            fn count(c: &Counter, old: u64, new: u64) {
                if new > old {
                    c.increment(new - old);
                }
            }
            let last = self.last.unwrap_or(Metrics {
                workers: 0,
                running: 0,
                queued: 0,
                submitted: 0,
                completed: 0,
                failed: 0,
                cancelled: 0,
                rejected: 0,
                handed_back: 0,
                ..now
            });
            gauge(&self.running, last.running, now.running);
            gauge(&self.queued, last.queued, now.queued);
            gauge(&self.workers, last.workers, now.workers);
            count(&self.submitted, last.submitted, now.submitted);
            count(&self.completed, last.completed, now.completed);
            count(&self.failed, last.failed, now.failed);
            count(&self.cancelled, last.cancelled, now.cancelled);
            count(&self.rejected, last.rejected, now.rejected);
            count(&self.handed_back, last.handed_back, now.handed_back);
            self.last = Some(now);
        }
    }

    /// The pool's lock, held: on release it publishes what changed (named pools only).
    pub(crate) struct Locked<'a, F: Future>(pub(crate) MutexGuard<'a, State<F>>);

    impl<F: Future> Deref for Locked<'_, F> {
        type Target = State<F>;
        fn deref(&self) -> &State<F> {
            &self.0
        }
    }

    impl<F: Future> DerefMut for Locked<'_, F> {
        fn deref_mut(&mut self) -> &mut State<F> {
            &mut self.0
        }
    }

    impl<F: Future> Drop for Locked<'_, F> {
        fn drop(&mut self) {
            self.0.publish_batched();
        }
    }
}
