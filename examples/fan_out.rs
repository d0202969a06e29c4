//! fan_out: a burst of requests, each fanning out to a slow downstream.
//!
//! With `tokio::spawn` per request nothing ever says no: every request of the burst
//! becomes a live task holding its buffers, the task count and memory climb with the
//! burst, and an unrelated endpoint on the same runtime slows down when the downstream
//! replies all arrive at once. With a `corral::pool::Pool` the task count stays at the
//! bound, the excess is refused at the door (and counted), and the unrelated endpoint
//! stays fast. The workload lives in `src/shapes/fan_out.rs`, shared with the tour.
//!
//! Run: `cargo run --release -p corral-examples --example fan_out` (a few seconds).

use corral_examples::shapes::fan_out::{self, Burst, BUFFER, FAN_OUT, SLICE_GAP};
use corral_examples::shapes::Side;
use corral_examples::shapes::RUNTIME_WORKERS;
use corral_examples::{mib, percentile};

fn main() {
    let burst = Burst::new(false);
    println!(
        "burst: {} requests over ~{:?}, each fanning out {FAN_OUT} calls of {:?} and holding \
         {BUFFER} bytes; {RUNTIME_WORKERS} runtime threads",
        burst.requests,
        SLICE_GAP * burst.slices as u32,
        burst.downstream
    );
    // The pool runs first so the plain run's allocations do not inflate its baseline.
    let mut pool = fan_out::run(Side::Corral, burst);
    let mut plain = fan_out::run(Side::Tokio, burst);
    if let Some(m) = &pool.pool {
        println!(
            "pool metrics: submitted {} completed {} rejected {} queue wait mean {:?} max {:?}",
            m.submitted,
            m.completed,
            m.rejected,
            m.queue_wait.mean(),
            m.queue_wait.max
        );
    }

    let row = |label: &str, a: String, b: String| println!("{label:<28} {a:>20} {b:>26}");
    row(
        "",
        "tokio::spawn".into(),
        format!("Pool({} workers, q {})", burst.workers, burst.queue),
    );
    row(
        "requests served",
        plain.served.to_string(),
        pool.served.to_string(),
    );
    let refused = |r: &fan_out::Report| r.cell.rejected.unwrap_or(0).to_string();
    row(
        "requests refused (counted)",
        refused(&plain),
        refused(&pool),
    );
    let tasks = |r: &fan_out::Report| r.cell.peak_tasks.unwrap_or(0).to_string();
    row("peak live tasks", tasks(&plain), tasks(&pool));
    let growth =
        |r: &fan_out::Report| mib(r.cell.peak_rss.unwrap_or(0).saturating_sub(r.rss_before));
    row("peak RSS growth", growth(&plain), growth(&pool));
    for (label, p) in [
        ("unrelated endpoint p50", 0.50),
        ("unrelated endpoint p99", 0.99),
        ("unrelated endpoint max", 1.0),
    ] {
        row(
            label,
            format!("{:?}", percentile(&mut plain.round_trips, p)),
            format!("{:?}", percentile(&mut pool.round_trips, p)),
        );
    }
    let wall = |r: &fan_out::Report| format!("{:.2?}", r.cell.wall.unwrap_or_default());
    row("wall time", wall(&plain), wall(&pool));
}
