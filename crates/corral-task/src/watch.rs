//! [`watch`]: a leak watch over the live-task registry, what Uber's LeakProf does for
//! goroutines, for tracked tasks.

mod detector;

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use corral_shared::sync::Mutex;
use tokio::task::JoinHandle;

use crate::census::Age;
use detector::{Detector, Rule};

/// Default sampling interval: 10 s. A sample is a [`snapshot`](crate::snapshot) (about
/// 2.5 ms per 100k live tasks, `benches/corral_task.rs`, group `snapshot`), so one
/// every 10 s costs nothing a service notices, and leaks are slow: they pile up over
/// minutes, not milliseconds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Default window: 6 samples (one minute at the default interval). Long enough that
/// request churn and a burst do not look like sustained growth (the count must not go
/// down in any of the 6 steps and must rise in at least 3), short enough that a leak
/// is flagged within two minutes of starting.
pub const DEFAULT_WINDOW: usize = 6;

/// Default minimum growth over a window: 32 tasks. A site that grows by fewer is
/// cheap whatever it is (a pool warming up, a few slow connections); a leak of one
/// task a second passes it within a window.
pub const DEFAULT_MIN_GROWTH: usize = 32;

/// A spawn site the watch suspects of leaking tasks.
///
/// `Display` renders one line: site, name, count, growth and the oldest task's age.
/// With the `serde` feature it serializes with the fields of the watch's `tracing`
/// warning (the crate docs, "The census as data").
#[derive(Debug, Clone)]
pub struct Flag {
    location: &'static Location<'static>,
    name: Option<Arc<str>>,
    count: usize,
    growth: usize,
    oldest: Duration,
}

impl Flag {
    /// The spawn site.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The name the site's tasks share, if they all have the same one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// How many live tasks the site had at the last sample.
    pub fn count(&self) -> usize {
        self.count
    }

    /// How much the count grew over the last window.
    pub fn growth(&self) -> usize {
        self.growth
    }

    /// The age of the oldest of the site's tasks that has been alive through the
    /// window (a lower bound: the larger of the registry's age and the time the watch
    /// has seen it alive, on tokio's clock).
    pub fn oldest(&self) -> Duration {
        self.oldest
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "suspected task leak at {}", self.location)?;
        if let Some(name) = &self.name {
            write!(f, " \"{name}\"")?;
        }
        write!(
            f,
            ": {} live tasks, grew by {} over the window, oldest alive for {}",
            self.count,
            self.growth,
            Age(self.oldest)
        )
    }
}

/// What the watch reports to [`WatchConfigBuilder::on_event`]. With the `serde`
/// feature it serializes flat: `event` (`"flagged"` or `"cleared"`), then the
/// [`Flag`]'s fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WatchEvent {
    /// A site became a suspected leak.
    Flagged(Flag),
    /// A flagged site stopped growing (or has no live task left); the flag as it was
    /// last seen.
    Cleared(Flag),
}

type Callback = Arc<dyn Fn(&WatchEvent) + Send + Sync>;

/// The watch's settings, from [`WatchConfig::builder`] (or `default()`).
#[derive(Clone)]
pub struct WatchConfig {
    interval: Duration,
    rule: Rule,
    runtime_only: bool,
    on_event: Option<Callback>,
}

impl fmt::Debug for WatchConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchConfig")
            .field("interval", &self.interval)
            .field("window", &self.rule.window)
            .field("min_growth", &self.rule.min_growth)
            .field("runtime_only", &self.runtime_only)
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            rule: Rule {
                window: DEFAULT_WINDOW,
                min_growth: DEFAULT_MIN_GROWTH,
            },
            runtime_only: false,
            on_event: None,
        }
    }
}

impl WatchConfig {
    /// A builder starting from the defaults ([`DEFAULT_INTERVAL`], [`DEFAULT_WINDOW`],
    /// [`DEFAULT_MIN_GROWTH`], the whole process, no callback).
    pub fn builder() -> WatchConfigBuilder {
        WatchConfigBuilder(Self::default())
    }
}

/// Builds a [`WatchConfig`]; [`build`](Self::build) checks it.
#[derive(Debug, Clone)]
pub struct WatchConfigBuilder(WatchConfig);

impl WatchConfigBuilder {
    /// How often the watch samples the registry.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.0.interval = interval;
        self
    }

    /// How many sampling steps a site must keep growing through to be flagged.
    pub fn window(mut self, steps: usize) -> Self {
        self.0.rule.window = steps;
        self
    }

    /// How many tasks a site must grow by over a window to be flagged.
    pub fn min_growth(mut self, tasks: usize) -> Self {
        self.0.rule.min_growth = tasks;
        self
    }

    /// Whether to watch only the tasks of the runtime the watch runs on (default:
    /// `false`, every tracked task of the process). For a process with several
    /// runtimes that wants one watch each, and for tests running side by side.
    pub fn runtime_only(mut self, yes: bool) -> Self {
        self.0.runtime_only = yes;
        self
    }

    /// Called on the watch's task for each site flagged or cleared (without the
    /// `tracing` feature this is how a service hears of a flag; with it, the watch
    /// also logs each one). Keep it short: the next sample waits for it.
    pub fn on_event(mut self, f: impl Fn(&WatchEvent) + Send + Sync + 'static) -> Self {
        self.0.on_event = Some(Arc::new(f));
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`WatchConfigError`] when the interval is zero, the window is shorter than 2
    /// steps (one step cannot tell growth from a burst) or the minimum growth is 0.
    pub fn build(self) -> Result<WatchConfig, WatchConfigError> {
        let c = &self.0;
        if c.interval.is_zero() {
            return Err(WatchConfigError::ZeroInterval);
        }
        if c.rule.window < 2 {
            return Err(WatchConfigError::WindowTooShort(c.rule.window));
        }
        if c.rule.min_growth == 0 {
            return Err(WatchConfigError::ZeroGrowth);
        }
        Ok(self.0)
    }
}

/// Why [`WatchConfigBuilder::build`] refused the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchConfigError {
    /// The sampling interval was zero.
    ZeroInterval,
    /// The window was shorter than 2 steps.
    WindowTooShort(usize),
    /// The minimum growth was 0 (every site would grow "enough").
    ZeroGrowth,
}

impl fmt::Display for WatchConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroInterval => write!(f, "the watch's sampling interval is zero"),
            Self::WindowTooShort(n) => {
                write!(
                    f,
                    "the watch's window is {n} step(s) but must be at least 2"
                )
            }
            Self::ZeroGrowth => write!(f, "the watch's minimum growth is 0 tasks"),
        }
    }
}

impl std::error::Error for WatchConfigError {}

/// What the watch's task and its handle share.
#[derive(Debug, Default)]
struct Shared {
    flags: Mutex<Vec<Flag>>,
    suspected: AtomicUsize,
    samples: AtomicU64,
}

/// Starts a leak watch on the current runtime: one tracked task (named
/// `"corral::watch"`) that takes a [`snapshot`](crate::snapshot) every `interval`
/// and flags a spawn site as a suspected leak when, over the window, its live count
/// keeps growing (never down from one sample to the next, up in at least half of
/// the steps, by at least the minimum growth in all) **and** its oldest task keeps
/// ageing (the task that was its oldest at the window's start is still alive). A busy
/// but healthy site with churn fails one or the other: its count goes down between
/// some samples, or its oldest task ends. A flag clears when the site no longer grows
/// over a window.
///
/// Each flag goes to the config's [`on_event`](WatchConfigBuilder::on_event)
/// callback and [`Watch::flags`]; with the `tracing` feature it is also a `WARN`
/// event (target `corral_task::watch`, fields `site`, `name`, `count`, `growth`,
/// `oldest_secs`) and a clear an `INFO` one. [`Watch::suspected`] is the number of
/// sites flagged now.
///
/// With the `metrics` feature, each flagged site is also a gauge
/// `corral_task_suspected_leaks` with the labels `site` (`file:line:column`) and
/// `name` (the task name, or empty), as `corral_task_live_tasks` has them: 1 while
/// the site is flagged, back to 0 when its flag clears or the watch stops (a series
/// cannot be removed through the `metrics` facade). Two watches that flag the same
/// site add up, so for one watch the series sum to [`Watch::suspected`]. An alert on
/// `corral_task_suspected_leaks > 0` names the site in its labels. The series is
/// registered on the watch's task when a site is first flagged: install the recorder
/// as the global one (what exporters do).
///
/// Sampling uses tokio's clock (`tokio::time`), so it follows paused time in tests.
///
/// # Panics
///
/// Panics when called outside a tokio runtime, or on a runtime without the time
/// driver (`enable_time`).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
///
/// let watch = corral_task::watch(corral_task::WatchConfig::default());
/// // A request handler that leaks a worker parked on a channel nobody closes.
/// let mut senders = Vec::new();
/// let start = tokio::time::Instant::now();
/// while watch.suspected() == 0 {
///     let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
///     senders.push(tx);
///     corral_task::Builder::new().name("session-worker").spawn(async move {
///         while rx.recv().await.is_some() {}
///     });
///     tokio::time::sleep(Duration::from_millis(20)).await; // 50 requests/s
/// }
/// let flag = &watch.flags()[0];
/// assert_eq!(flag.name(), Some("session-worker"));
/// assert!(start.elapsed() <= Duration::from_secs(120));
/// println!("{flag}");
/// # }
/// ```
#[track_caller]
pub fn watch(config: WatchConfig) -> Watch {
    let shared = Arc::new(Shared::default());
    // Made here, not in the task, so a runtime without its timer panics at this call
    // (as `# Panics` says) rather than in a task nobody joins.
    let mut ticks = tokio::time::interval(config.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let task =
        crate::Builder::new()
            .name("corral::watch")
            .spawn(run(config, ticks, shared.clone()));
    Watch { shared, task }
}

async fn run(config: WatchConfig, mut ticks: tokio::time::Interval, shared: Arc<Shared>) {
    let mut detector = Detector::new(config.rule);
    // Dropped with this future (the watch aborted, its runtime shut down): its series
    // go back to 0.
    #[cfg(feature = "metrics")]
    let mut gauges = SuspectedGauges::default();
    loop {
        let now = ticks.tick().await;
        let snapshot = if config.runtime_only {
            crate::snapshot().for_current_runtime()
        } else {
            crate::snapshot()
        };
        let events = detector.observe(now, &snapshot);
        drop(snapshot);
        let flags = detector.flags();
        // Relaxed: plain counters read for display; they order nothing.
        shared.suspected.store(flags.len(), Relaxed);
        shared.samples.fetch_add(1, Relaxed);
        *shared.flags.lock() = flags;
        for event in &events {
            #[cfg(feature = "metrics")]
            gauges.update(event);
            #[cfg(feature = "tracing")]
            log(event);
            if let Some(f) = &config.on_event {
                f(event);
            }
        }
    }
}

/// The `corral_task_suspected_leaks` series this watch holds at 1, by site (the
/// detector keys a site by its location alone; the `name` label is the one the flag
/// had when raised, so the same series goes back down).
#[cfg(feature = "metrics")]
#[derive(Default)]
struct SuspectedGauges(std::collections::HashMap<&'static Location<'static>, metrics::Gauge>);

#[cfg(feature = "metrics")]
impl SuspectedGauges {
    fn update(&mut self, event: &WatchEvent) {
        match event {
            WatchEvent::Flagged(flag) => {
                let gauge = metrics::gauge!(
                    "corral_task_suspected_leaks",
                    "site" => flag.location.to_string(),
                    "name" => flag.name().unwrap_or_default().to_owned(),
                );
                gauge.increment(1.0);
                if let Some(stale) = self.0.insert(flag.location, gauge) {
                    stale.decrement(1.0);
                }
            }
            WatchEvent::Cleared(flag) => {
                if let Some(gauge) = self.0.remove(&flag.location) {
                    gauge.decrement(1.0);
                }
            }
        }
    }
}

#[cfg(feature = "metrics")]
impl Drop for SuspectedGauges {
    fn drop(&mut self) {
        for gauge in self.0.values() {
            gauge.decrement(1.0);
        }
    }
}

#[cfg(feature = "tracing")]
fn log(event: &WatchEvent) {
    match event {
        WatchEvent::Flagged(flag) => tracing::warn!(
            target: "corral_task::watch",
            site = %flag.location,
            name = flag.name(),
            count = flag.count,
            growth = flag.growth,
            oldest_secs = flag.oldest.as_secs_f64(),
            "{flag}"
        ),
        WatchEvent::Cleared(flag) => tracing::info!(
            target: "corral_task::watch",
            site = %flag.location,
            name = flag.name(),
            count = flag.count,
            "task leak suspicion cleared at {}: the site stopped growing",
            flag.location
        ),
    }
}

/// A running leak watch, from [`watch`]. Dropping it stops the watch's task.
#[must_use = "dropping the Watch stops the leak watch at once"]
#[derive(Debug)]
pub struct Watch {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Watch {
    /// The sites flagged at the last sample, largest count first.
    pub fn flags(&self) -> Vec<Flag> {
        self.shared.flags.lock().clone()
    }

    /// How many sites are flagged now (with the `metrics` feature, the sum of the
    /// `corral_task_suspected_leaks` series this watch sets; see [`watch`]).
    pub fn suspected(&self) -> usize {
        // Relaxed: a gauge; see `run`.
        self.shared.suspected.load(Relaxed)
    }

    /// How many samples the watch has taken.
    pub fn samples(&self) -> u64 {
        // Relaxed: a counter; see `run`.
        self.shared.samples.load(Relaxed)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
