//! The `metrics` feature (issue #15) for blocking pools and resolvers: pull, not push.
//! Both already keep their counters (`BlockingPool::metrics`, `Resolver::metrics`), so
//! a built pool or resolver registers a weak reference as a census-tick source
//! (`corral_shared::metrics`, ticked by `corral_task::export_metrics`), which hands
//! each snapshot to the pool's or resolver's shares of its series: no cost on any job
//! or lookup, values as old as one tick at most. A dropped pool or resolver is
//! forgotten at the next tick, and its gauge shares are taken back out then. The one
//! series recorded as it happens is the resolver's lookup time (a histogram), once per
//! lookup function call, on the pool thread that ran it (see `Inner::start`).

use corral_shared::metrics::{register, Series};
use metrics::{histogram, Histogram};

use crate::pool::BlockingPool;
use crate::resolver::{Resolver, ResolverMetrics};

/// Publishes `pool` (label `pool`) on every census tick while it lives.
pub(crate) fn register_pool(pool: &BlockingPool) {
    let mut series = Series::new(
        "pool",
        pool.name(),
        [
            "corral_blocking_threads",
            "corral_blocking_running_jobs",
            "corral_blocking_queued_jobs",
            "corral_blocking_abandoned_running_jobs",
        ],
        [
            "corral_blocking_jobs_completed_total",
            "corral_blocking_jobs_rejected_total",
        ],
    );
    register(pool.downgrade(), move |handle| {
        let m = BlockingPool::from_handle(handle).metrics();
        let gauges = [m.threads_alive, m.running, m.queued, m.abandoned_running];
        series.publish(gauges.map(|n| n as u64), [m.completed, m.rejected]);
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
    let mut series = Series::new(
        "resolver",
        resolver.pool().name(),
        [],
        [
            "corral_resolver_lookups_total",
            "corral_resolver_coalesced_total",
            "corral_resolver_cache_hits_total",
            "corral_resolver_cache_misses_total",
            "corral_resolver_timeouts_total",
            "corral_resolver_errors_total",
        ],
    );
    register(resolver.downgrade(), move |inner| {
        let m: ResolverMetrics = Resolver::from_inner(inner).metrics();
        let totals = [
            m.lookups,
            m.coalesced,
            m.cache_hits,
            m.cache_misses,
            m.timeouts,
            m.errors,
        ];
        series.publish([], totals);
    });
}
