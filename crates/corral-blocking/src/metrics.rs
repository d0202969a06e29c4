//! The `metrics` feature (issue #15) for blocking pools and resolvers: pull, not push.
//! Both already keep their counters (`BlockingPool::metrics`, `Resolver::metrics`), so
//! a built pool or resolver registers a weak reference with the census tick
//! (`corral_task::export_metrics`), which publishes each snapshot's difference from
//! the last one: no cost on any job or lookup, values as old as one tick at most.
//! A dropped pool or resolver is forgotten at the next tick.

use metrics::{counter, gauge, Counter, Gauge};

use crate::pool::{BlockingPool, PoolMetrics};
use crate::resolver::{Resolver, ResolverMetrics};

fn gauge_to(g: &Gauge, old: usize, new: usize) {
    if new > old {
        g.increment((new - old) as f64);
    } else if old > new {
        g.decrement((old - new) as f64);
    }
}

fn count_to(c: &Counter, old: u64, new: u64) {
    if new > old {
        c.increment(new - old);
    }
}

/// A blocking pool's series (label `pool`).
struct PoolSeries {
    threads: Gauge,
    running: Gauge,
    queued: Gauge,
    abandoned: Gauge,
    completed: Counter,
    rejected: Counter,
    last: (usize, usize, usize, usize, u64, u64),
}

impl PoolSeries {
    fn new(name: &str) -> Self {
        let l = [("pool", name.to_owned())];
        PoolSeries {
            threads: gauge!("corral_blocking_threads", &l),
            running: gauge!("corral_blocking_running_jobs", &l),
            queued: gauge!("corral_blocking_queued_jobs", &l),
            abandoned: gauge!("corral_blocking_abandoned_running_jobs", &l),
            completed: counter!("corral_blocking_jobs_completed_total", &l),
            rejected: counter!("corral_blocking_jobs_rejected_total", &l),
            last: (0, 0, 0, 0, 0, 0),
        }
    }

    fn publish(&mut self, m: &PoolMetrics) {
        let (t, r, q, a, c, j) = self.last;
        gauge_to(&self.threads, t, m.threads_alive);
        gauge_to(&self.running, r, m.running);
        gauge_to(&self.queued, q, m.queued);
        gauge_to(&self.abandoned, a, m.abandoned_running);
        count_to(&self.completed, c, m.completed);
        count_to(&self.rejected, j, m.rejected);
        self.last = (
            m.threads_alive,
            m.running,
            m.queued,
            m.abandoned_running,
            m.completed,
            m.rejected,
        );
    }

    /// Takes the pool's share back out of the gauges (it is gone).
    fn retire(&mut self) {
        let (t, r, q, a, c, j) = self.last;
        gauge_to(&self.threads, t, 0);
        gauge_to(&self.running, r, 0);
        gauge_to(&self.queued, q, 0);
        gauge_to(&self.abandoned, a, 0);
        self.last = (0, 0, 0, 0, c, j);
    }
}

/// Publishes `pool` on every census tick while it lives.
pub(crate) fn register_pool(pool: &BlockingPool) {
    let weak = pool.downgrade();
    let mut series = PoolSeries::new(pool.name());
    corral_task::__register_metrics_source(Box::new(move || match BlockingPool::upgrade(&weak) {
        Some(pool) => {
            series.publish(&pool.metrics());
            true
        }
        None => {
            series.retire();
            false
        }
    }));
}

/// Publishes `resolver` (label `resolver`, its pool's name) on every census tick
/// while it lives.
pub(crate) fn register_resolver(resolver: &Resolver) {
    let weak = resolver.downgrade();
    let l = [("resolver", resolver.pool().name().to_owned())];
    let series = [
        counter!("corral_resolver_lookups_total", &l),
        counter!("corral_resolver_coalesced_total", &l),
        counter!("corral_resolver_cache_hits_total", &l),
        counter!("corral_resolver_cache_misses_total", &l),
        counter!("corral_resolver_timeouts_total", &l),
        counter!("corral_resolver_errors_total", &l),
    ];
    let mut last = [0u64; 6];
    corral_task::__register_metrics_source(Box::new(move || {
        let Some(resolver) = Resolver::upgrade(&weak) else {
            return false;
        };
        let m: ResolverMetrics = resolver.metrics();
        let now = [
            m.lookups,
            m.coalesced,
            m.cache_hits,
            m.cache_misses,
            m.timeouts,
            m.errors,
        ];
        for ((c, old), new) in series.iter().zip(last).zip(now) {
            count_to(c, old, new);
        }
        last = now;
        true
    }));
}
