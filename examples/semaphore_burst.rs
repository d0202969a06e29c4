//! A burst of weighted work: 400 jobs, each buffering between 256 KiB and 1.75 MiB
//! for 20 ms (think uploads staged in memory).
//!
//! - plain tokio: `tokio::spawn` per job. Nothing says no, so every buffer is live
//!   at once and memory follows the burst.
//! - corral: a `Semaphore` holding a 32 MiB byte budget. Each job acquires its size in
//!   bytes *before* it is spawned, FIFO, so bytes in flight (and live tasks) never
//!   exceed the budget, and big jobs are not starved by small ones.
//!
//! Prints, for both, the peak bytes in flight, peak live tasks, peak RSS growth and
//! wall time. Run: `cargo run --release --example semaphore_burst`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral::semaphore::Semaphore;
use corral_examples::{mib, rss_bytes, Sampler};

const JOBS: u64 = 400;
const MIN_BYTES: u64 = 256 << 10;
const MAX_BYTES: u64 = 1792 << 10;
const HOLD: Duration = Duration::from_millis(20);
const BUDGET: u64 = 32 << 20;

/// What one run held at most.
struct Report {
    peak_bytes: u64,
    peak_tasks: u64,
    peak_rss_growth: u64,
    wall: Duration,
}

/// Counts what is in flight and keeps the peaks.
#[derive(Default)]
struct Gauges {
    bytes: AtomicU64,
    peak_bytes: AtomicU64,
    tasks: AtomicU64,
    peak_tasks: AtomicU64,
}

/// The job sizes: a fixed pseudo-random spread, the same for both runs.
fn sizes() -> Vec<u64> {
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    (0..JOBS)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            MIN_BYTES + seed % (MAX_BYTES - MIN_BYTES + 1)
        })
        .collect()
}

/// One job: stage `size` bytes in memory for `HOLD`, then let them go.
async fn job(size: u64, gauges: Arc<Gauges>) {
    let tasks = gauges.tasks.fetch_add(1, Ordering::Relaxed) + 1;
    gauges.peak_tasks.fetch_max(tasks, Ordering::Relaxed);
    let bytes = gauges.bytes.fetch_add(size, Ordering::Relaxed) + size;
    gauges.peak_bytes.fetch_max(bytes, Ordering::Relaxed);

    let buffer = vec![0xA5_u8; size as usize]; // touched, so it is resident
    tokio::time::sleep(HOLD).await;
    std::hint::black_box(&buffer);
    drop(buffer);

    gauges.bytes.fetch_sub(size, Ordering::Relaxed);
    gauges.tasks.fetch_sub(1, Ordering::Relaxed);
}

/// Runs the burst, bounded by `budget` or not, and measures it.
async fn run(budget: Option<Arc<Semaphore>>) -> Report {
    let gauges = Arc::new(Gauges::default());
    let rss_before = rss_bytes();
    let sampler = Sampler::start();
    let start = Instant::now();
    let mut handles = Vec::with_capacity(JOBS as usize);
    for size in sizes() {
        let gauges = Arc::clone(&gauges);
        match &budget {
            None => handles.push(tokio::spawn(job(size, gauges))),
            Some(budget) => {
                // Wait for `size` bytes of budget (FIFO) before spawning: the permit
                // travels with the job and returns its bytes when the job ends.
                let permit = budget.acquire_owned(size).await.expect("never closed");
                handles.push(tokio::spawn(async move {
                    job(size, gauges).await;
                    drop(permit);
                }));
            }
        }
    }
    for handle in handles {
        handle.await.expect("job panicked");
    }
    let wall = start.elapsed();
    let peaks = sampler.stop();
    Report {
        peak_bytes: gauges.peak_bytes.load(Ordering::Relaxed),
        peak_tasks: gauges.peak_tasks.load(Ordering::Relaxed),
        peak_rss_growth: peaks.rss_bytes.saturating_sub(rss_before),
        wall,
    }
}

fn row(name: &str, r: &Report) {
    println!(
        "{name:<28} {:>16} {:>11} {:>11} {:>8.0?}",
        mib(r.peak_bytes),
        r.peak_tasks,
        mib(r.peak_rss_growth),
        r.wall
    );
}

#[tokio::main]
async fn main() {
    let total: u64 = sizes().iter().sum();
    println!(
        "burst: {JOBS} jobs of {} KiB to {} KiB each ({} in all), each held for {HOLD:?}\n",
        MIN_BYTES >> 10,
        MAX_BYTES >> 10,
        mib(total)
    );

    // The bounded run goes first: freed memory is not always returned to the OS, so
    // a run after the unbounded one would start with its leftovers resident. Each RSS
    // figure is growth above the start of its own run.
    let budget = Arc::new(Semaphore::new(BUDGET));
    let bounded = run(Some(Arc::clone(&budget))).await;
    let unbounded = run(None).await;

    println!(
        "{:<28} {:>16} {:>11} {:>11} {:>8}",
        "", "bytes in flight", "live tasks", "RSS growth", "wall"
    );
    row("plain tokio::spawn", &unbounded);
    row(&format!("corral Semaphore({})", mib(BUDGET)), &bounded);

    assert!(bounded.peak_bytes <= BUDGET, "the budget was exceeded");
    assert_eq!(budget.available(), BUDGET, "every byte of budget came back");
    println!(
        "\nthe semaphore held bytes in flight to {:.0}% of the unbounded peak ({} budget never exceeded; all of it returned)",
        100.0 * bounded.peak_bytes as f64 / unbounded.peak_bytes.max(1) as f64,
        mib(BUDGET)
    );
}
