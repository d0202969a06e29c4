//! The failure shapes, one module each. Every shape builds its own runtime, runs its
//! workload with plain tokio or with corral, and measures both the same way, as one
//! [`Cell`] per [`Side`] (its `cell` function) and a `judge` of the corral cell against
//! its bounds. The shapes know nothing of who runs them: the standalone examples
//! (`examples/<shape>.rs`) print a shape's richer report, and the tour lists the shapes
//! and prints their cells as one table.

use std::time::{Duration, Instant};

use tokio::runtime::{Runtime, RuntimeMetrics};

use crate::{Sampler, UnrelatedEndpoint};

mod cell;
pub use self::cell::{Brownout, Cell, Side};

pub mod cancel;
pub mod deadline;
pub mod dns;
pub mod fan_out;
pub mod fleet;
pub mod leak;
pub mod overload;

/// Worker threads of every runtime under test (the tour's machine has 2 cores).
pub const RUNTIME_WORKERS: usize = 2;

/// The runtime under test: multi-threaded, [`RUNTIME_WORKERS`] workers, IO and timers.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_WORKERS)
        .enable_all()
        .build()
        .expect("build the runtime under test")
}

/// Measures a workload on a runtime the same way for every shape and side: peak
/// threads, live tasks and RSS (a [`Sampler`]), the p99 of an [`UnrelatedEndpoint`]
/// on the same runtime, and wall time.
#[derive(Debug)]
#[must_use = "dropping a Measure loses what it measured"]
pub struct Measure {
    metrics: RuntimeMetrics,
    long_lived: u64,
    endpoint: UnrelatedEndpoint,
    sampler: Sampler,
    start: Instant,
}

impl Measure {
    /// Starts the endpoint and the sampler on `rt`. Tasks alive on `rt` now (besides
    /// the endpoint's) are counted too, so start before the workload spawns anything.
    pub fn start(rt: &Runtime) -> Self {
        Self::start_excluding(rt, 0)
    }

    /// Like [`Measure::start`], not counting `long_lived` tasks the workload keeps for
    /// its whole life (an accept loop, say).
    pub fn start_excluding(rt: &Runtime, long_lived: u64) -> Self {
        let metrics = rt.metrics();
        let endpoint = UnrelatedEndpoint::start(rt.handle());
        let sampler = {
            let metrics = metrics.clone();
            Sampler::with_probe(move || workload_tasks(&metrics, long_lived))
        };
        Measure {
            metrics,
            long_lived,
            endpoint,
            sampler,
            start: Instant::now(),
        }
    }

    /// Live tasks of the workload on the runtime right now.
    pub fn live_tasks(&self) -> u64 {
        workload_tasks(&self.metrics, self.long_lived)
    }

    /// Live tasks of the workload once the ones that just finished are released:
    /// waits up to [`SETTLE`] for the count to reach 0.
    pub fn settled_live_tasks(&self) -> u64 {
        let start = Instant::now();
        loop {
            let live = self.live_tasks();
            if live == 0 || start.elapsed() >= SETTLE {
                return live;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Time since [`Measure::start`].
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Peaks so far and the wall time, without stopping (for progress lines).
    pub fn peek(&self) -> Cell {
        let peaks = self.sampler.peek();
        Cell {
            peak_threads: Some(peaks.threads),
            peak_tasks: Some(peaks.probe),
            peak_rss: Some(peaks.rss_bytes),
            p99_unrelated: Some(self.endpoint.p99_so_far()),
            left_alive: Some(self.live_tasks()),
            wall: Some(self.elapsed()),
            ..Cell::default()
        }
    }

    /// Stops measuring. The cell has the peaks, the p99, the workload's live tasks
    /// ([`Measure::settled_live_tasks`]) as `left_alive`, and the wall time since
    /// [`Measure::start`] (taken before settling).
    pub fn finish(self) -> Cell {
        self.finish_detailed().0
    }

    /// Like [`Measure::finish`], also returning the endpoint's round trips.
    pub fn finish_detailed(self) -> (Cell, Vec<Duration>) {
        let wall = self.elapsed();
        let left = self.settled_live_tasks();
        let mut round_trips = self.endpoint.stop();
        let p99 = crate::percentile(&mut round_trips, 0.99);
        let peaks = self.sampler.stop();
        let cell = Cell {
            peak_threads: Some(peaks.threads),
            peak_tasks: Some(peaks.probe),
            peak_rss: Some(peaks.rss_bytes),
            p99_unrelated: Some(p99),
            left_alive: Some(left),
            wall: Some(wall),
            ..Cell::default()
        };
        (cell, round_trips)
    }
}

/// How long [`Measure::settled_live_tasks`] waits for finished tasks to be released.
pub const SETTLE: Duration = Duration::from_millis(100);

/// The runtime's alive tasks minus the unrelated endpoint's and the long-lived ones.
fn workload_tasks(metrics: &RuntimeMetrics, long_lived: u64) -> u64 {
    (metrics.num_alive_tasks() as u64).saturating_sub(1 + long_lived)
}

/// Collects the bound checks of one corral row.
#[derive(Debug, Default)]
pub(crate) struct Bounds {
    held: Vec<String>,
    broke: Vec<String>,
}

impl Bounds {
    /// Records one bound: `what` says the measured value and the bound.
    pub(crate) fn check(&mut self, held: bool, what: String) {
        if held {
            self.held.push(what);
        } else {
            self.broke.push(what);
        }
    }

    /// Records a bound on a value the cell may lack (a missing value breaks it).
    pub(crate) fn check_value<T: Copy>(
        &mut self,
        name: &str,
        value: Option<T>,
        holds: impl FnOnce(T) -> bool,
        what: impl FnOnce(T) -> String,
    ) {
        match value {
            Some(v) => self.check(holds(v), what(v)),
            None => self.check(false, format!("{name} was not measured")),
        }
    }

    /// `Ok(every bound)` if all held, else `Err(the broken ones)`.
    pub(crate) fn verdict(self) -> Result<String, String> {
        if self.broke.is_empty() {
            Ok(self.held.join("; "))
        } else {
            Err(self.broke.join("; "))
        }
    }
}

/// Milliseconds, for bound texts.
pub(crate) fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_judge_holds_the_thread_cap_and_the_wall_ratio() {
        let tokio = Cell {
            wall: Some(Duration::from_millis(2_000)),
            ..Cell::default()
        };
        let good = Cell {
            peak_threads: Some(38),
            wall: Some(Duration::from_millis(400)),
            accounted: Some(true),
            ..Cell::default()
        };
        let judge = dns::judge;
        assert!(judge(&good, &tokio, false).is_ok());
        let too_many = Cell {
            peak_threads: Some(100),
            ..good.clone()
        };
        let broke = judge(&too_many, &tokio, false).unwrap_err();
        assert!(broke.contains("threads 100"), "{broke}");
        let too_slow = Cell {
            wall: Some(Duration::from_millis(1_500)),
            ..good.clone()
        };
        assert!(judge(&too_slow, &tokio, false).is_err());
        // Without tokio's wall time there is nothing to compare with.
        assert!(judge(&good, &Cell::default(), false).is_err());
    }

    #[test]
    fn deadline_judge_wants_every_caller_failed_fast_and_nothing_left() {
        let judge = deadline::judge;
        let good = Cell {
            accounted: Some(true),
            wall: Some(Duration::from_millis(520)),
            left_alive: Some(0),
            ..Cell::default()
        };
        assert!(judge(&good, &Cell::default(), false).is_ok());
        let late = Cell {
            wall: Some(Duration::from_secs(3)),
            ..good.clone()
        };
        assert!(judge(&late, &Cell::default(), false).is_err());
        let leftovers = Cell {
            left_alive: Some(1),
            ..good.clone()
        };
        assert!(judge(&leftovers, &Cell::default(), false).is_err());
        assert!(judge(&Cell::default(), &Cell::default(), false).is_err());
    }

    #[test]
    fn leak_judge_wants_the_site_named_in_the_shape() {
        let judge = leak::judge;
        let good = Cell {
            left_alive: Some(20_001),
            accounted: Some(true),
            caught: Some(format!("{}:65:52", "examples/src/shapes/leak.rs")),
            watch_flag: Some((
                format!("{}:65:52", "examples/src/shapes/leak.rs"),
                Duration::from_secs(70),
            )),
            ..Cell::default()
        };
        assert!(judge(&good, &Cell::default(), false).is_ok());
        let slow_watch = Cell {
            watch_flag: Some((
                format!("{}:65:52", "examples/src/shapes/leak.rs"),
                Duration::from_secs(121),
            )),
            ..good.clone()
        };
        assert!(judge(&slow_watch, &Cell::default(), false).is_err());
        let blind_watch = Cell {
            watch_flag: None,
            ..good.clone()
        };
        assert!(judge(&blind_watch, &Cell::default(), false).is_err());
        let elsewhere = Cell {
            caught: Some("src/main.rs:1:1".into()),
            ..good.clone()
        };
        assert!(judge(&elsewhere, &Cell::default(), false).is_err());
        let missed = Cell {
            caught: None,
            ..good
        };
        assert!(judge(&missed, &Cell::default(), false).is_err());
    }

    #[test]
    fn fan_out_and_cancel_judges_hold_their_bounds() {
        let fan_out = fan_out::judge;
        let good = Cell {
            peak_tasks: Some(256),
            accounted: Some(true),
            ..Cell::default()
        };
        assert!(fan_out(&good, &Cell::default(), true).is_ok());
        let unbounded = Cell {
            peak_tasks: Some(9_000),
            ..good.clone()
        };
        assert!(fan_out(&unbounded, &Cell::default(), true).is_err());
        let lost = Cell {
            accounted: Some(false),
            ..good
        };
        assert!(fan_out(&lost, &Cell::default(), true).is_err());

        let cancel = cancel::judge;
        let clean = Cell {
            left_alive: Some(0),
            ..Cell::default()
        };
        assert!(cancel(&clean, &Cell::default(), false).is_ok());
        let detached = Cell {
            left_alive: Some(900),
            ..Cell::default()
        };
        assert!(cancel(&detached, &Cell::default(), false).is_err());
    }
}
