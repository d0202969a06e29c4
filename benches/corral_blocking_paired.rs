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
//! `spawn_blocking`.
//!
//! Optional arguments: `--rounds N` (default 41); `--profile tokio|pool|spawn` runs
//! only that side's rounds (for `perf`), printing µs per trip.

use std::hint::black_box;
use std::time::{Duration, Instant};

use corral_blocking::BlockingPool;
use tokio::runtime::Runtime;

#[path = "support/paired.rs"]
mod paired;
use paired::{flag, quartiles, rounds_arg, Pairs, Report, US};

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

/// The report line of both cases.
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
