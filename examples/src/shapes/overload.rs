//! Overload at the door: a brownout of the downstream, simulated under
//! `tokio::time::pause` (deterministic, no timing on the machine).
//!
//! A downstream serves `C` requests at once in 20 ms each and queues the rest (FIFO;
//! requests already in service when `C` drops finish their 20 ms, new ones start only
//! as the busy count falls under the new `C`). The offered load is twice its nominal
//! capacity (at `C = 200`: 20,000 requests per second, whatever `C` is now: the
//! callers do not know about the brownout). `C` drops at t = 10 s and comes back at
//! t = 20 s; the SLO is 100 ms. Each system under test is a tower stack in front of the
//! downstream. Per second we count goodput (answers within the SLO of the request's
//! arrival, booked to its arrival second), the p99 latency of admitted requests (from
//! arrival, so time queued at the door counts), and the limit.
//!
//! Two workloads ([`WORKLOADS`]):
//!
//! - the issue's, `C` 200 -> 50: a fixed limit of 200 is 80 ms at `C = 50`, inside the
//!   SLO, so a fixed limit is already at the oracle and no adaptive limit can beat it;
//! - a deep brownout, `C` 200 -> 25: 200 in flight is 160 ms, past the SLO, so a fixed
//!   limit answers nothing in time during the brownout. This is the run that separates
//!   an adaptive limit from a fixed one.

mod acc;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral::semaphore::Semaphore;
use corral::tower::{Aimd, BoxError, Gradient2, LimitLayer, Vegas};

use self::acc::AccLimit;
use crate::shapes::{Bounds, Brownout, Cell, Side};
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

/// The workload's size.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// `C` before and after the brownout.
    pub high: u64,
    /// `C` during it.
    pub low: u64,
    /// Requests arriving per millisecond (twice capacity at `high`).
    pub per_ms: u64,
    /// Seconds simulated; `C` steps at a third and two thirds.
    pub secs: u64,
}

/// A brownout workload, full size and quick.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Its name in tables.
    pub name: &'static str,
    /// The full run.
    pub full: Scale,
    /// The quick run (the tour's `--quick`, the tests): a fifth to a tenth of the load,
    /// same shape, over 15 s (5 s per phase).
    pub quick: Scale,
}

impl Workload {
    /// The scale to run.
    pub fn scale(&self, quick: bool) -> Scale {
        if quick {
            self.quick
        } else {
            self.full
        }
    }
}

/// The issue's run: `C` 200 -> 50 -> 200 over 30 s.
pub const ISSUE: Workload = Workload {
    name: "issue (C to a quarter)",
    full: Scale {
        high: 200,
        low: 50,
        per_ms: 20,
        secs: 30,
    },
    quick: Scale {
        high: 20,
        low: 5,
        per_ms: 2,
        secs: 15,
    },
};

/// The deep brownout: `C` 200 -> 25 -> 200 over 30 s, where a fixed limit of 200
/// (160 ms at `C = 25`) breaks the SLO.
pub const DEEP: Workload = Workload {
    name: "deep (C to an eighth)",
    full: Scale {
        high: 200,
        low: 25,
        per_ms: 20,
        secs: 30,
    },
    quick: Scale {
        high: 40,
        low: 5,
        per_ms: 4,
        secs: 15,
    },
};

/// Both workloads, the issue's first.
pub const WORKLOADS: [Workload; 2] = [ISSUE, DEEP];

/// The downstream's service time.
pub const SERVICE: Duration = Duration::from_millis(20);
/// The SLO.
pub const SLO: Duration = Duration::from_millis(100);

/// A system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// tower `ConcurrencyLimit(C_high)` + `LoadShed`.
    TowerFixed,
    /// tower-acc's Gradient2 + `LoadShed`, on tokio's clock (see the `acc` module).
    TowerAccGradient2,
    /// tower-acc's Vegas + `LoadShed`, on tokio's clock.
    TowerAccVegas,
    /// corral `LimitLayer`, fixed at `C_high`, default queue rules.
    CorralFixed,
    /// corral `LimitLayer`, AIMD with half the SLO as its timeout.
    CorralAimd,
    /// corral `LimitLayer`, Gradient2 with half the SLO as its timeout: the adaptive
    /// row the targets are judged on.
    CorralGradient2,
    /// corral `LimitLayer`, Vegas (smoothing 0.1) with half the SLO as its timeout.
    CorralVegas,
    /// Knows `C`: admits exactly `C` at once, refuses the rest.
    Oracle,
}

impl System {
    /// The peers: tower's fixed limit and tower-acc's adaptive ones.
    pub const PEERS: [System; 3] = [
        System::TowerFixed,
        System::TowerAccGradient2,
        System::TowerAccVegas,
    ];

    /// Every system, peers first.
    pub const ALL: [System; 8] = [
        System::TowerFixed,
        System::TowerAccGradient2,
        System::TowerAccVegas,
        System::CorralFixed,
        System::CorralAimd,
        System::CorralGradient2,
        System::CorralVegas,
        System::Oracle,
    ];

    /// The system's name in the table.
    pub fn name(self) -> &'static str {
        match self {
            System::TowerFixed => "tower ConcurrencyLimit+LoadShed",
            System::TowerAccGradient2 => "tower-acc Gradient2+LoadShed",
            System::TowerAccVegas => "tower-acc Vegas+LoadShed",
            System::CorralFixed => "corral fixed",
            System::CorralAimd => "corral AIMD",
            System::CorralGradient2 => "corral adaptive (Gradient2)",
            System::CorralVegas => "corral Vegas",
            System::Oracle => "oracle (knows C)",
        }
    }
}

/// One second of a run.
#[derive(Debug, Clone, Default)]
pub struct Second {
    /// Answers within the SLO, of requests that arrived in this second.
    pub goodput: u64,
    /// Admitted requests (answered, in or out of the SLO).
    pub admitted: u64,
    /// p99 latency of admitted requests.
    pub p99: Duration,
    /// The limit at the start of the second (`None`: not observable).
    pub limit: Option<u64>,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The system.
    pub system: System,
    /// Per second.
    pub seconds: Vec<Second>,
}

impl Report {
    /// Goodput over the whole run.
    pub fn goodput(&self) -> u64 {
        self.seconds.iter().map(|s| s.goodput).sum()
    }

    /// Seconds after each step in `C` until p99 of admitted requests is back under the
    /// SLO (and stays there until the next step); `None` if it never is.
    pub fn recovery(&self, scale: Scale) -> [Option<u64>; 2] {
        let third = scale.secs / 3;
        [(third, 2 * third), (2 * third, scale.secs)].map(|(from, to)| {
            (from..to)
                .find(|&s| (s..to).all(|t| self.seconds[t as usize].p99 <= SLO))
                .map(|s| s - from)
        })
    }
}

struct Stats {
    start: Instant,
    latencies: Vec<Vec<u32>>,
    good: Vec<u64>,
}

/// Runs `system` through the brownout at `scale`, on its own paused runtime.
pub fn run(system: System, scale: Scale) -> Report {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a paused runtime");
    rt.block_on(simulate(system, scale))
}

/// Runs every system in `systems` at `scale`, each on its own thread and paused
/// runtime (the runs share nothing, so the results are those of [`run`]), in order.
pub fn run_all(systems: &[System], scale: Scale) -> Vec<Report> {
    std::thread::scope(|s| {
        let runs: Vec<_> = systems
            .iter()
            .map(|&system| s.spawn(move || run(system, scale)))
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("a brownout run panicked"))
            .collect()
    })
}

type Probe = Box<dyn Fn() -> Option<u64>>;

async fn simulate(system: System, scale: Scale) -> Report {
    let downstream = Arc::new(Semaphore::new(scale.high));
    let oracle = Arc::new(Semaphore::new(scale.high));
    let down = {
        let downstream = downstream.clone();
        service_fn(move |()| {
            let downstream = downstream.clone();
            async move {
                let _slot = downstream.acquire(1).await?;
                tokio::time::sleep(SERVICE).await;
                Ok::<_, BoxError>(())
            }
        })
    };
    let high = scale.high;
    let timeout = SLO / 2;
    // Every adaptive row starts at a tenth of C and may go from 1 to 5 C.
    let (initial, max) = (high / 10 + 1, high * 5);
    match system {
        System::TowerFixed => {
            let svc = ServiceBuilder::new()
                .load_shed()
                .concurrency_limit(high as usize)
                .service(down);
            drive(
                svc,
                scale,
                &downstream,
                &oracle,
                Box::new(move || Some(high)),
            )
            .await
        }
        System::TowerAccGradient2 => {
            // The same guardrails as corral's rows (tower-acc's defaults cap Gradient2
            // at 200, which is C itself here).
            let algorithm = tower_acc::Gradient2::builder()
                .initial_limit(initial as usize)
                .min_limit(1)
                .max_limit(max as usize)
                .build();
            let (svc, probe) = tower_acc(algorithm, down);
            drive(svc, scale, &downstream, &oracle, probe).await
        }
        System::TowerAccVegas => {
            let algorithm = tower_acc::Vegas::builder()
                .initial_limit(initial as usize)
                .max_limit(max as usize)
                .build();
            let (svc, probe) = tower_acc(algorithm, down);
            drive(svc, scale, &downstream, &oracle, probe).await
        }
        System::CorralFixed => {
            let layer = LimitLayer::builder(high).build().expect("valid");
            corral_limit(layer, down, scale, &downstream, &oracle).await
        }
        System::CorralAimd => {
            let algorithm = Aimd::new(initial).guardrails(1, max).timeout(timeout);
            let layer = LimitLayer::adaptive(algorithm).build().expect("valid");
            corral_limit(layer, down, scale, &downstream, &oracle).await
        }
        System::CorralGradient2 => {
            let algorithm = Gradient2::new(initial).guardrails(1, max).timeout(timeout);
            let layer = LimitLayer::adaptive(algorithm).build().expect("valid");
            corral_limit(layer, down, scale, &downstream, &oracle).await
        }
        System::CorralVegas => {
            let algorithm = Vegas::new(initial)
                .guardrails(1, max)
                .smoothing(0.1)
                .timeout(timeout);
            let layer = LimitLayer::adaptive(algorithm).build().expect("valid");
            corral_limit(layer, down, scale, &downstream, &oracle).await
        }
        System::Oracle => {
            let gate = oracle.clone();
            let svc = service_fn(move |()| {
                let permit = gate.try_acquire_owned(1);
                let mut down = down.clone();
                async move {
                    let _permit = permit.map_err(|_| "oracle: at C")?;
                    down.ready().await?.call(()).await
                }
            });
            let gate = oracle.clone();
            drive(
                svc,
                scale,
                &downstream,
                &oracle,
                Box::new(move || Some(gate.capacity())),
            )
            .await
        }
    }
    .with_system(system)
}

async fn corral_limit<S>(
    layer: LimitLayer,
    down: S,
    scale: Scale,
    downstream: &Arc<Semaphore>,
    oracle: &Arc<Semaphore>,
) -> Report
where
    S: Service<(), Response = (), Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let probe = layer.clone();
    let svc = layer.layer(down);
    drive(
        svc,
        scale,
        downstream,
        oracle,
        Box::new(move || Some(probe.limit())),
    )
    .await
}

/// tower-acc's limit (on tokio's clock, see the `acc` module) + `LoadShed`, and a probe
/// of its limit.
fn tower_acc<A: tower_acc::Algorithm + Send + 'static, S>(
    algorithm: A,
    down: S,
) -> (tower::load_shed::LoadShed<AccLimit<S, A>>, Probe) {
    let limit = AccLimit::new(down, algorithm);
    let probe = limit.probe();
    let svc = ServiceBuilder::new().load_shed().service(limit);
    (svc, Box::new(move || Some(probe())))
}

impl Report {
    fn with_system(mut self, system: System) -> Self {
        self.system = system;
        self
    }
}

/// Offers the load to `svc`, steps `C` on schedule, and collects the statistics.
async fn drive<S>(
    svc: S,
    scale: Scale,
    downstream: &Arc<Semaphore>,
    oracle: &Arc<Semaphore>,
    limit: Probe,
) -> Report
where
    S: Service<(), Response = ()> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    let start = Instant::now();
    let secs = scale.secs as usize;
    let stats = Arc::new(Mutex::new(Stats {
        start,
        latencies: vec![Vec::new(); secs],
        good: vec![0; secs],
    }));
    let mut limits = Vec::with_capacity(secs);
    let outstanding = Arc::new(tokio::sync::Semaphore::new(0));
    let mut spawned = 0u32;
    for ms in 0..scale.secs * 1000 {
        tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
        if ms % 1000 == 0 {
            let sec = ms / 1000;
            let c = if sec >= scale.secs / 3 && sec < 2 * scale.secs / 3 {
                scale.low
            } else {
                scale.high
            };
            downstream.set_capacity(c);
            oracle.set_capacity(c);
            limits.push(limit());
        }
        for _ in 0..scale.per_ms {
            let svc = svc.clone();
            let stats = stats.clone();
            let outstanding = outstanding.clone();
            spawned += 1;
            tokio::spawn(async move {
                let arrived = Instant::now();
                let result = svc.oneshot(()).await;
                let latency = arrived.elapsed();
                if result.is_ok() {
                    let mut stats = stats.lock().unwrap();
                    let sec = arrived.duration_since(stats.start).as_secs() as usize;
                    stats.latencies[sec].push(latency.as_micros() as u32);
                    if latency <= SLO {
                        stats.good[sec] += 1;
                    }
                }
                outstanding.add_permits(1);
            });
        }
    }
    // Every request is answered or refused before the report is read.
    let _all = outstanding.acquire_many(spawned).await.expect("open");
    let mut stats = stats.lock().unwrap();
    let good = stats.good.clone();
    let seconds = (0..secs)
        .map(|s| {
            let lat = &mut stats.latencies[s];
            lat.sort_unstable();
            let p99 = if lat.is_empty() {
                Duration::ZERO
            } else {
                Duration::from_micros(u64::from(lat[(lat.len() - 1) * 99 / 100]))
            };
            Second {
                goodput: good[s],
                admitted: lat.len() as u64,
                p99,
                limit: limits[s],
            }
        })
        .collect();
    Report {
        system: System::Oracle,
        seconds,
    }
}

/// The summary table: goodput (and its share of the oracle's), recovery after each
/// step, p99 range during the brownout.
pub fn summary(reports: &[Report], scale: Scale) -> String {
    use std::fmt::Write as _;
    let oracle = reports
        .iter()
        .find(|r| r.system == System::Oracle)
        .map_or(1, Report::goodput)
        .max(1);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| system | goodput (answers within {} ms) | vs oracle | p99 back under SLO after drop / recovery | worst p99 |",
        SLO.as_millis()
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for r in reports {
        let [down, up] = r.recovery(scale);
        let show = |s: Option<u64>| s.map_or("never".to_owned(), |s| format!("{s} s"));
        let worst = r.seconds.iter().map(|s| s.p99).max().unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {:.1}% | {} / {} | {} ms |",
            r.system.name(),
            r.goodput(),
            100.0 * r.goodput() as f64 / oracle as f64,
            show(down),
            show(up),
            worst.as_millis()
        );
    }
    out
}

/// Per-second detail of one report: goodput, p99, limit.
pub fn per_second(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{}\n| s | goodput | p99 ms | limit |\n|---|---|---|---|\n",
        report.system.name()
    );
    for (s, sec) in report.seconds.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {s} | {} | {} | {} |",
            sec.goodput,
            sec.p99.as_millis(),
            sec.limit.map_or("-".to_owned(), |l| l.to_string())
        );
    }
    out
}

/// What the tour's overload cell reports for one workload.
fn brownout(workload: &Workload, system: System, quick: bool, peers: &[System]) -> Brownout {
    let scale = workload.scale(quick);
    let systems: Vec<System> = [system, System::Oracle]
        .into_iter()
        .chain(peers.iter().copied())
        .collect();
    let reports = run_all(&systems, scale);
    let report = &reports[0];
    let [down, up] = report.recovery(scale);
    Brownout {
        goodput: report.goodput(),
        oracle: reports[1].goodput(),
        best_peer: reports[2..].iter().map(Report::goodput).max(),
        recovery_s: down.zip(up).map(|(down, up)| down.max(up)),
        admitted: report.seconds.iter().map(|s| s.admitted).sum(),
        offered: scale.per_ms * 1000 * scale.secs,
    }
}

/// The tour's cell, on both workloads: tokio's side is tower `ConcurrencyLimit` +
/// `LoadShed`; corral's is the adaptive `LimitLayer` (Gradient2), with the oracle's
/// goodput for the ratio and, on the deep brownout, the best peer's (tower's and
/// tower-acc's rows).
pub fn cell(side: Side, quick: bool) -> Cell {
    let (system, peers): (System, &[System]) = match side {
        Side::Tokio => (System::TowerFixed, &[]),
        Side::Corral => (System::CorralGradient2, &System::PEERS),
    };
    let issue = brownout(&ISSUE, system, quick, &[]);
    let deep = brownout(&DEEP, system, quick, peers);
    let show = |s: Option<u64>| s.map_or("never".to_owned(), |s| format!("{s} s"));
    let pct = |b: &Brownout| 100.0 * b.goodput as f64 / b.oracle.max(1) as f64;
    let mut outcome = format!(
        "C/4: {:.1}% of the oracle's goodput, p99 under the SLO {} after the steps; \
         C/8: {:.1}%, {}",
        pct(&issue),
        show(issue.recovery_s),
        pct(&deep),
        show(deep.recovery_s),
    );
    if let Some(peer) = deep.best_peer {
        outcome.push_str(&format!(
            " (best peer {:.1}%)",
            100.0 * peer as f64 / deep.oracle.max(1) as f64
        ));
    }
    outcome.push_str(" (simulated)");
    Cell {
        rejected: Some(issue.offered - issue.admitted + deep.offered - deep.admitted),
        brownouts: vec![issue, deep],
        outcome,
        ..Cell::default()
    }
}

/// How long a side may take: the runs always finish (simulated time), but their wall time
/// is the CPU they get, several seconds per run in a debug build on a busy machine.
pub fn limit(_side: Side, _quick: bool) -> Duration {
    Duration::from_secs(60)
}

/// The targets for the adaptive limit. On both workloads: goodput at least 90% of the
/// oracle's, p99 of admitted requests back under the SLO within 2 s of each step. On
/// the deep brownout also: goodput above every peer's. (On the issue's workload a
/// fixed limit of 200 is 80 ms at `C = 50`, inside the SLO, so it already matches the
/// oracle and no adaptive limit can beat it; that is not judged.)
pub fn judge(corral: &Cell, _tokio: &Cell, _quick: bool) -> Result<String, String> {
    let mut b = Bounds::default();
    let [issue, deep] = corral.brownouts.as_slice() else {
        b.check(false, "the two brownouts were not measured".into());
        return b.verdict();
    };
    for (name, w) in [("C/4", issue), ("C/8", deep)] {
        b.check(
            w.goodput * 10 >= w.oracle * 9,
            format!(
                "{name}: goodput {} = {:.1}% of the oracle's {} (bound: >= 90%)",
                w.goodput,
                100.0 * w.goodput as f64 / w.oracle.max(1) as f64,
                w.oracle
            ),
        );
        b.check_value(
            &format!("{name} recovery"),
            Some(w.recovery_s),
            |s| s.is_some_and(|s| s <= 2),
            |s| {
                format!(
                    "{name}: p99 back under the SLO within {} of each step (bound: 2 s)",
                    s.map_or("never".into(), |s| format!("{s} s"))
                )
            },
        );
    }
    b.check_value(
        "best peer",
        deep.best_peer,
        |peer| deep.goodput > peer,
        |peer| {
            format!(
                "C/8: goodput {} above every peer's (best {peer})",
                deep.goodput
            )
        },
    );
    b.verdict()
}
