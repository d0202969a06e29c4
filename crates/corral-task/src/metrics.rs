//! The `metrics` feature (issue #15): tracked tasks as metric series, from a periodic
//! census sample.
//!
//! Spawning records nothing extra: the spawned count is the registry shards' id
//! counters, the live count is the census, and both are read by a sampler, so the
//! feature adds no cost to `spawn`. Live tasks are published per spawn site with bounded
//! cardinality: the [`DEFAULT_TOP_SITES`] (or chosen) largest sites by count get their
//! own series, the rest are summed under `site="other"`.

use std::collections::HashMap;
use std::time::Duration;

use metrics::{counter, gauge, Counter, Gauge};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::registry::registry;

/// How many spawn sites [`export_metrics`] gives their own series; the rest are
/// summed as `site="other"`. 20 keeps a service's handful of long-lived sites and a
/// leak's site visible while bounding the series a scrape carries.
pub const DEFAULT_TOP_SITES: usize = 20;

/// Publishes the tracked-task census through the `metrics` facade each time
/// [`sample`](Self::sample) is called. Series (all gauges unless `_total`):
///
/// | name | labels | what |
/// |---|---|---|
/// | `corral_task_live_tasks` | `site`, `name` | live tracked tasks of one of the top sites (`site` is `file:line:column`, `name` the task name or empty); `site="other"`, `name=""`: the rest |
/// | `corral_task_spawned_total` | | tracked tasks ever spawned (counter) |
/// | `corral_task_ended_total` | | tracked tasks that ended (counter) |
/// | `corral_task_untracked_tasks` | `runtime` | tasks alive on the sampling runtime that are not tracked (tokio's `num_alive_tasks` minus the tracked tasks on it) |
///
/// A site that leaves the top N is set to 0, not removed (the `metrics` facade cannot
/// unregister a series), so the series count is bounded by the sites that were ever in
/// the top N, plus `other`. Handles are registered with the recorder current where a
/// series is first needed: use a global recorder (what exporters install).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut census = corral_task::TaskMetrics::new(5);
/// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
/// let worker = corral_task::spawn(async move { let _ = rx.await; });
/// census.sample(); // one `corral_task_live_tasks` series for the worker's site
/// # drop(tx); worker.await.unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct TaskMetrics {
    top: usize,
    spawned: Counter,
    ended: Counter,
    other: Gauge,
    /// Every site series published so far.
    sites: HashMap<(String, String), Gauge>,
    untracked: HashMap<tokio::runtime::Id, Gauge>,
}

impl TaskMetrics {
    /// A sampler that gives the `top_sites` largest spawn sites their own series.
    pub fn new(top_sites: usize) -> Self {
        TaskMetrics {
            top: top_sites,
            spawned: counter!("corral_task_spawned_total"),
            ended: counter!("corral_task_ended_total"),
            other: gauge!("corral_task_live_tasks", "site" => "other", "name" => ""),
            sites: HashMap::new(),
            untracked: HashMap::new(),
        }
    }

    /// Takes one census and publishes it, and samples every named corral primitive
    /// that reports through the tick: semaphores (capacity, available, waiters), pools
    /// (their batched series), blocking pools and resolvers. Cost: one registry snapshot
    /// (see [`snapshot`](crate::snapshot)), plus one pass over the shards' tags, plus
    /// one lock of each named primitive.
    pub fn sample(&mut self) {
        corral_shared::metrics::tick();
        let (spawned, live) = registry().counts();
        self.spawned.absolute(spawned);
        self.ended.absolute(spawned.saturating_sub(live));

        let snap = crate::snapshot();
        let census = snap.census();
        let mut shown: Vec<(String, String)> = Vec::with_capacity(self.top);
        let mut other = 0usize;
        for (i, site) in census.iter().enumerate() {
            if i >= self.top {
                other += site.count();
                continue;
            }
            let key = (
                site.location().to_string(),
                site.name().unwrap_or_default().to_owned(),
            );
            let g = self.sites.entry(key.clone()).or_insert_with(|| {
                gauge!("corral_task_live_tasks", "site" => key.0.clone(), "name" => key.1.clone())
            });
            g.set(site.count() as f64);
            shown.push(key);
        }
        for (key, g) in &self.sites {
            if !shown.contains(key) {
                g.set(0.0);
            }
        }
        self.other.set(other as f64);

        if let Ok(handle) = Handle::try_current() {
            let id = handle.id();
            let tracked_here = snap.iter().filter(|t| t.runtime() == id).count();
            let untracked = handle
                .metrics()
                .num_alive_tasks()
                .saturating_sub(tracked_here);
            self.untracked
                .entry(id)
                .or_insert_with(
                    || gauge!("corral_task_untracked_tasks", "runtime" => id.to_string()),
                )
                .set(untracked as f64);
        }
    }
}

/// Spawns a tracked task (named `corral-metrics`) that [samples](TaskMetrics::sample)
/// the census every `interval`, giving the [`DEFAULT_TOP_SITES`] largest sites their
/// own series. It runs until aborted (or its runtime shuts down); the untracked count
/// is for the runtime it runs on.
///
/// Each tick also samples every named corral primitive in the process (see
/// [`TaskMetrics::sample`]): the series of semaphores' gauges, blocking pools and
/// resolvers are published only on a tick, so they are as fresh as this `interval`
/// (and do not move while no tick runs); a pool also publishes on its own when idle or
/// every 64 operations. One exporter per process is enough.
///
/// # Panics
///
/// Outside a tokio runtime, or if `interval` is zero.
pub fn export_metrics(interval: Duration) -> JoinHandle<()> {
    assert!(
        !interval.is_zero(),
        "export_metrics: interval must be non-zero"
    );
    let mut sampler = TaskMetrics::new(DEFAULT_TOP_SITES);
    crate::Builder::new()
        .name("corral-metrics")
        .spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                sampler.sample();
            }
        })
}
