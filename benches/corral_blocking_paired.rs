//! One blocking round trip next to `tokio::task::spawn_blocking`, in paired rounds:
//! `cargo bench -p corral-benches --bench corral_blocking_paired`.
//!
//! A round is 2,000 sequential round trips (submit a no-op job, await its value) from
//! one task on a 2-worker multi-thread runtime. Every tokio round is followed at once
//! by a corral round on the same runtime; each pair gives one ratio, and the median of
//! the pairs is reported with its quartiles (see `corral_task_paired.rs` for why
//! criterion's separate windows mislead on this machine).
//!
//! Cases: `BlockingPool::run` (a pool of the default size) and
//! `corral_blocking::spawn_blocking` (the drop-in), each against tokio's
//! `spawn_blocking`; and tokio's against itself (an A/A control: the ratio the
//! second round of a pair gets from its position alone).
//!
//! Optional arguments: `--rounds N` (default 41); `--profile tokio|pool|spawn` runs
//! only that side's rounds (for `perf`), printing µs per trip; `--interleave` runs the
//! attribution below instead of the paired rounds.
//!
//! # `--interleave`: where `corral::spawn_blocking`'s extra time goes
//!
//! `corral::spawn_blocking` is tokio's `spawn_blocking` plus a slot of a cap, so its
//! cost over tokio is a few tens of nanoseconds in a 7 µs round trip: below what paired
//! rounds resolve on a loaded 2-core machine (one round in tokio's slow mode moves a
//! ratio by 10%). This mode takes turns *trip by trip* between tokio's function,
//! corral's, and hand-built steps in between (the same wrapper closure with a no-op
//! guard; plus a permit of a `static` semaphore; plus the permit of an `Arc`'d one, as
//! corral had before; plus the two metric counters on one cache line with the
//! semaphore's pointer, as before), all on the same runtime and the same tokio blocking
//! threads, timing each trip. Per round it takes each variant's median trip; it prints,
//! per variant, the median over rounds of (variant median - tokio median) in ns.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use corral_blocking::BlockingPool;
use corral_semaphore::{Permit, Semaphore};
use tokio::runtime::Runtime;

#[path = "support/paired.rs"]
mod paired;
use paired::{flag, quartiles, rounds_arg, switch, Pairs, Report, US};

/// Round trips per round.
const TRIPS: usize = 2_000;

#[derive(Clone, Copy)]
enum Case {
    Tokio,
    PoolRun,
    SpawnBlocking,
}

fn round(rt: &Runtime, pool: &BlockingPool, case: Case) -> Duration {
    let pool = pool.clone();
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..TRIPS {
                let v = match case {
                    Case::Tokio => tokio::task::spawn_blocking(move || i).await.unwrap(),
                    Case::PoolRun => pool.run(move || i).await.unwrap(),
                    Case::SpawnBlocking => {
                        corral_blocking::spawn_blocking(move || i).await.unwrap()
                    }
                };
                black_box(v);
            }
            start.elapsed()
        })
        .await
        .unwrap()
    })
}

/// Steps between tokio's `spawn_blocking` and corral's, for `--interleave`.
const STEPS: [&str; 7] = [
    "tokio::task::spawn_blocking",
    "+ wrapper closure, no-op guard",
    "+ permit of a static semaphore",
    "+ permit of an Arc'd semaphore (before)",
    "+ Arc'd permit, counters sharing a line (before)",
    "+ static permit, completed count on the job's thread",
    "corral_blocking::spawn_blocking (now)",
];

/// A guard like corral's `Slot`, minus the permit.
struct Guard<P> {
    _permit: P,
    ran: bool,
}

impl<P> Drop for Guard<P> {
    fn drop(&mut self) {
        black_box(self.ran);
    }
}

/// The cap as corral built it before: an `Arc`'d semaphore, and the two metric counters
/// in one struct with it (one cache line).
struct OldGate {
    slots: Arc<Semaphore>,
    high_water: AtomicUsize,
    completed: AtomicU64,
}

fn old_gate() -> &'static OldGate {
    static GATE: OnceLock<OldGate> = OnceLock::new();
    GATE.get_or_init(|| OldGate {
        slots: Arc::new(Semaphore::new(64)),
        high_water: AtomicUsize::new(0),
        completed: AtomicU64::new(0),
    })
}

/// A permit that counts the job as completed when dropped (before the permit goes back,
/// as corral's `Slot` does).
struct Counted<P>(#[allow(dead_code)] P, &'static AtomicU64);

impl<P> Drop for Counted<P> {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

/// A completed count on its own cache line.
#[repr(align(128))]
struct PaddedCount(AtomicU64);

static COMPLETED: PaddedCount = PaddedCount(AtomicU64::new(0));
static STATIC_SLOTS: Semaphore = Semaphore::new(64);
static ARC_SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();

async fn step(variant: usize, i: usize) -> usize {
    fn guarded<P: Send + 'static>(permit: P, i: usize) -> tokio::task::JoinHandle<usize> {
        let guard = Guard {
            _permit: permit,
            ran: false,
        };
        tokio::task::spawn_blocking(move || {
            let mut guard = guard;
            guard.ran = true;
            let v = black_box(i);
            drop(guard);
            v
        })
    }
    let handle = match variant {
        0 => tokio::task::spawn_blocking(move || i),
        1 => guarded((), i),
        2 => guarded::<Permit<'static>>(STATIC_SLOTS.try_acquire(1).unwrap(), i),
        3 => guarded(
            ARC_SLOTS
                .get_or_init(|| Arc::new(Semaphore::new(64)))
                .try_acquire_owned(1)
                .unwrap(),
            i,
        ),
        4 => {
            // The old `Slot`: the high-water mark read on hand-over, the completed count
            // on the job's thread, both on the line that holds the semaphore's pointer.
            let gate = old_gate();
            let permit = gate.slots.try_acquire_owned(1).unwrap();
            let running = (64 - gate.slots.available()) as usize;
            if running > gate.high_water.load(Ordering::Relaxed) {
                gate.high_water.fetch_max(running, Ordering::Relaxed);
            }
            guarded(Counted(permit, &gate.completed), i)
        }
        5 => guarded(
            Counted(STATIC_SLOTS.try_acquire(1).unwrap(), &COMPLETED.0),
            i,
        ),
        _ => corral_blocking::spawn_blocking(move || i),
    };
    handle.await.unwrap()
}

/// `--interleave`: see the module docs.
fn interleave(rt: &Runtime, rounds: usize) {
    const PER_ROUND: usize = 600;
    let mut extra: Vec<Vec<f64>> = vec![Vec::new(); STEPS.len()];
    let mut tokio_ns = Vec::new();
    for round in 0..rounds + 2 {
        let samples = rt.block_on(async {
            tokio::spawn(async {
                let mut samples: Vec<Vec<f64>> = vec![Vec::new(); STEPS.len()];
                for i in 0..PER_ROUND {
                    for k in 0..STEPS.len() {
                        // Rotate the order so no variant always follows the same one.
                        let variant = (k + i) % STEPS.len();
                        let start = Instant::now();
                        black_box(step(variant, i).await);
                        samples[variant].push(start.elapsed().as_nanos() as f64);
                    }
                }
                samples
            })
            .await
            .unwrap()
        });
        if round < 2 {
            continue; // warm-up
        }
        let medians: Vec<f64> = samples.into_iter().map(|v| quartiles(v).1).collect();
        tokio_ns.push(medians[0]);
        for (variant, median) in medians.iter().enumerate() {
            extra[variant].push(median - medians[0]);
        }
    }
    let (t25, t50, t75) = quartiles(tokio_ns);
    println!(
        "{rounds} rounds of {PER_ROUND} trips per variant, taken in turns, mt2; tokio's median trip {:.2} µs [{:.2}-{:.2}]",
        t50 / 1e3,
        t25 / 1e3,
        t75 / 1e3
    );
    for (name, extra) in STEPS.iter().zip(extra).skip(1) {
        let (e25, e50, e75) = quartiles(extra);
        println!(
            "{name:<50} {e50:+7.0} ns over tokio [{e25:+.0} to {e75:+.0}] = {:.3}x",
            1.0 + e50 / t50
        );
    }
}

/// The report line of every case.
const REPORT: Report = Report {
    peer: "tokio",
    corral: "corral",
    ratio: "corral/tokio",
    unit: US,
    width: 15,
};

fn main() {
    let rounds = rounds_arg(41);
    let profile = flag("--profile");
    let rt = corral_test_support::multi_thread(2);
    let pool = BlockingPool::builder()
        .name("paired")
        .build()
        .expect("pool");
    if switch("--interleave") {
        interleave(&rt, rounds);
        return;
    }
    if let Some(side) = profile {
        let case = match side.as_str() {
            "tokio" => Case::Tokio,
            "pool" => Case::PoolRun,
            _ => Case::SpawnBlocking,
        };
        let times: Vec<f64> = (0..rounds)
            .map(|_| US.per(round(&rt, &pool, case), TRIPS as u64))
            .collect();
        let (q25, q50, q75) = quartiles(times);
        println!("{side}: {q50:.2} µs per trip [{q25:.2}-{q75:.2}]");
        return;
    }
    println!(
        "{rounds} paired rounds of {TRIPS} sequential round trips, mt2 (µs per trip: median [quartiles])"
    );
    for (name, case) in [
        ("pool.run", Case::PoolRun),
        ("spawn_blocking", Case::SpawnBlocking),
        // A/A control: tokio against itself, in the second slot of each pair. Its ratio
        // is what the pairing alone gives the second round (see BENCHMARKS.md).
        ("tokio (A/A)", Case::Tokio),
    ] {
        let pairs = Pairs::run(
            3,
            rounds,
            || US.per(round(&rt, &pool, Case::Tokio), TRIPS as u64),
            || US.per(round(&rt, &pool, case), TRIPS as u64),
        );
        REPORT.print(name, &pairs);
    }
}
