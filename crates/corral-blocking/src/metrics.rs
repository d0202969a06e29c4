//! The `metrics` feature (issue #15) for blocking pools and resolvers: pull, not push.
//! Both already keep their counters (`BlockingPool::metrics`, `Resolver::metrics`), so
//! a built pool or resolver registers a weak reference as a census-tick source
//! (`corral_shared::metrics`, ticked by `corral_task::export_metrics`), which hands
//! each snapshot to the pool's or resolver's shares of its series: no cost on any job
//! or lookup, values as old as one tick at most. A dropped pool or resolver is
//! forgotten at the next tick, and its gauge shares are taken back out then. The one
//! series recorded as it happens is the resolver's lookup time (a histogram), once per
//! lookup function call, on the pool thread that ran it (see `Inner::start`).

use corral_shared::metrics::{register, CounterShare, GaugeShare};
use metrics::{counter, gauge, histogram, Histogram};

use crate::pool::{BlockingPool, PoolMetrics};
use crate::resolver::{Resolver, ResolverMetrics};

/// A blocking pool's shares of its series (label `pool`).
struct PoolSeries {
    /// Threads, running, queued, abandoned running.
    gauges: [GaugeShare; 4],
    /// Completed, rejected.
    counters: [CounterShare; 2],
}

impl PoolSeries {
    fn new(name: &str) -> Self {
        let l = [("pool", name.to_owned())];
        let g = |name| GaugeShare::new(gauge!(name, &l));
        let c = |name| CounterShare::new(counter!(name, &l));
        PoolSeries {
            gauges: [
                g("corral_blocking_threads"),
                g("corral_blocking_running_jobs"),
                g("corral_blocking_queued_jobs"),
                g("corral_blocking_abandoned_running_jobs"),
            ],
            counters: [
                c("corral_blocking_jobs_completed_total"),
                c("corral_blocking_jobs_rejected_total"),
            ],
        }
    }

    fn publish(&mut self, m: &PoolMetrics) {
        let gauges = [m.threads_alive, m.running, m.queued, m.abandoned_running];
        for (share, value) in self.gauges.iter_mut().zip(gauges) {
            share.publish(value as u64);
        }
        for (share, total) in self.counters.iter_mut().zip([m.completed, m.rejected]) {
            share.publish(total);
        }
    }
}

/// Publishes `pool` on every census tick while it lives.
pub(crate) fn register_pool(pool: &BlockingPool) {
    let mut series = PoolSeries::new(pool.name());
    register(pool.downgrade(), move |handle| {
        series.publish(&BlockingPool::from_handle(handle).metrics());
    });
}

/// The histogram of a resolver's lookup time (label `resolver`, its pool's name),
/// registered when the resolver is built.
pub(crate) fn lookup_seconds(resolver: &str) -> Histogram {
    histogram!("corral_resolver_lookup_seconds", "resolver" => resolver.to_owned())
}

/// Publishes `resolver` (label `resolver`, its pool's name) on every census tick
/// while it lives.
pub(crate) fn register_resolver(resolver: &Resolver) {
    let l = [("resolver", resolver.pool().name().to_owned())];
    let mut series = [
        "corral_resolver_lookups_total",
        "corral_resolver_coalesced_total",
        "corral_resolver_cache_hits_total",
        "corral_resolver_cache_misses_total",
        "corral_resolver_timeouts_total",
        "corral_resolver_errors_total",
    ]
    .map(|name| CounterShare::new(counter!(name, &l)));
    register(resolver.downgrade(), move |inner| {
        let m: ResolverMetrics = Resolver::from_inner(inner).metrics();
        let now = [
            m.lookups,
            m.coalesced,
            m.cache_hits,
            m.cache_misses,
            m.timeouts,
            m.errors,
        ];
        for (share, total) in series.iter_mut().zip(now) {
            share.publish(total);
        }
    });
}
