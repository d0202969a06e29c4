//! The pool bench in paired rounds: `cargo bench -p corral-benches --bench
//! corral_pool_paired`.
//!
//! Same workload as the `contention` group of `corral_pool.rs` (a 2-thread runtime; the
//! bench thread submits 20k no-op jobs to 8 workers with a queue of 1024, then awaits
//! every handle), measured
//! like `corral_task_paired.rs`: on this small machine multi-thread round times are
//! bimodal, so each peer round is followed at once by a corral round on the same
//! runtime, each pair gives one ratio, and the median of the pairs is reported with
//! its quartiles. Three pairings: corral against the hand-rolled MPMC + oneshot pool,
//! corral against `tokio::spawn` + `Semaphore(8)`, and queue wait measured on every job
//! against the default sampling (the cost of the clock reads, per job).
//!
//! Optional arguments: `--rounds N` (default 41), `--only <peer case>` (one pairing, for
//! profiling).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_pool::{Pool, DEFAULT_QUEUE_WAIT_SAMPLING};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

#[path = "support/pool.rs"]
mod support;
use support::{
    corral_pool, corral_round, mpmc_round, spawn_semaphore_round, MpmcPool, JOBS, QUEUE, WORKERS,
};

#[path = "support/paired.rs"]
mod paired;
use paired::{flag, rounds_arg, Pairs, Report, NS};

/// Times one round, driven from this thread by `block_on` (the `contention` group of
/// `corral_pool.rs`, the workload: every hand-off to and from the runtime's two
/// threads is a cross-thread wake-up).
fn timed<Fut: Future<Output = ()>>(rt: &Runtime, round: Fut) -> Duration {
    let start = Instant::now();
    rt.block_on(round);
    start.elapsed()
}

/// A case: times one round on the runtime.
type TimedRound<'a> = dyn Fn(&Runtime) -> Duration + 'a;

/// The report line of every pairing; the case names the peer.
const REPORT: Report = Report {
    peer: "peer",
    corral: "corral_pool",
    ratio: "corral/peer",
    unit: NS,
    width: 27,
};

fn main() {
    let rounds = rounds_arg(41);
    // `--only <case>` runs one pairing (for profiling).
    let only = flag("--only");
    let rt = corral_test_support::multi_thread(2);
    // The no-op job, as a nameable type (the criterion bench uses an `async fn`).
    type NoopPool = Pool<std::future::Ready<()>>;
    let job = || std::future::ready(());
    let pool: Arc<NoopPool> =
        Arc::new(rt.block_on(async { corral_pool("paired", DEFAULT_QUEUE_WAIT_SAMPLING) }));
    let every: Arc<NoopPool> = Arc::new(rt.block_on(async { corral_pool("paired-every", 1) }));
    let peer = Arc::new(rt.block_on(async { MpmcPool::new(WORKERS, QUEUE) }));
    let semaphore = Arc::new(Semaphore::new(WORKERS));

    // `--fresh`: the corral pool and the MPMC peer are built afresh for every round
    // (outside the timed part) instead of living for the whole run, to tell the code's
    // cost from where one long-lived pool's allocations and worker tasks happened to land
    // (the per-process bimodality in BENCHMARKS.md).
    let fresh = std::env::args().any(|a| a == "--fresh");
    let corral = |rt: &Runtime| {
        if fresh {
            let pool: NoopPool =
                rt.block_on(async { corral_pool("paired", DEFAULT_QUEUE_WAIT_SAMPLING) });
            let d = timed(rt, corral_round(&pool, job));
            rt.block_on(async move { drop(pool) });
            return d;
        }
        let pool = Arc::clone(&pool);
        timed(rt, async move { corral_round(&pool, job).await })
    };
    let cases: [(&str, Box<TimedRound<'_>>); 3] = [
        (
            "mpmc_channel_oneshot",
            Box::new(|rt| {
                if fresh {
                    let peer = rt.block_on(async { MpmcPool::new(WORKERS, QUEUE) });
                    let d = timed(rt, mpmc_round(&peer, job));
                    rt.block_on(async move { drop(peer) });
                    return d;
                }
                let peer = Arc::clone(&peer);
                timed(rt, async move { mpmc_round(&peer, job).await })
            }),
        ),
        (
            "spawn_semaphore",
            Box::new(|rt| {
                let semaphore = Arc::clone(&semaphore);
                timed(rt, async move { spawn_semaphore_round(&semaphore).await })
            }),
        ),
        (
            "corral_pool_wait_every_job",
            Box::new(|rt| {
                let every = Arc::clone(&every);
                timed(rt, async move { corral_round(&every, job).await })
            }),
        ),
    ];
    println!(
        "{rounds} paired rounds of {JOBS} no-op jobs, {WORKERS} workers, queue {QUEUE}, mt2 \
         (ns per job, median [quartiles])"
    );
    for (name, other) in &cases {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let pairs = Pairs::run(
            3,
            rounds,
            || NS.per(other(&rt), JOBS),
            || NS.per(corral(&rt), JOBS),
        );
        let (d25, d50, d75) = pairs.difference();
        println!(
            "{}  difference {d50:+.1} ns [{d25:+.1}-{d75:+.1}]",
            REPORT.line(name, &pairs)
        );
    }
}
