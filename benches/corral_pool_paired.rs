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
use paired::quartiles;

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

fn ns_per_job(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9 / JOBS as f64
}

fn main() {
    let mut rounds = 41;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--rounds" {
            rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(rounds);
        }
        // Anything else (cargo bench passes `--bench`) is ignored.
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // The no-op job, as a nameable type (the criterion bench uses an `async fn`).
    type NoopPool = Pool<std::future::Ready<()>>;
    let job = || std::future::ready(());
    let pool: Arc<NoopPool> =
        Arc::new(rt.block_on(async { corral_pool("paired", DEFAULT_QUEUE_WAIT_SAMPLING) }));
    let every: Arc<NoopPool> = Arc::new(rt.block_on(async { corral_pool("paired-every", 1) }));
    let peer = Arc::new(rt.block_on(async { MpmcPool::new(WORKERS, QUEUE) }));
    let semaphore = Arc::new(Semaphore::new(WORKERS));

    let corral = |rt: &Runtime| {
        let pool = Arc::clone(&pool);
        timed(rt, async move { corral_round(&pool, job).await })
    };
    let cases: [(&str, Box<TimedRound<'_>>); 3] = [
        (
            "mpmc_channel_oneshot",
            Box::new(|rt| {
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
    // `--only <case>` runs one pairing (for profiling).
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    for (name, other) in &cases {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        for _ in 0..3 {
            other(&rt);
            corral(&rt);
        }
        let (mut peer_ns, mut corral_ns, mut ratio, mut diff) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let p = ns_per_job(other(&rt));
            let c = ns_per_job(corral(&rt));
            peer_ns.push(p);
            corral_ns.push(c);
            ratio.push(c / p);
            diff.push(p - c);
        }
        let (p25, p50, p75) = quartiles(peer_ns);
        let (c25, c50, c75) = quartiles(corral_ns);
        let (r25, r50, r75) = quartiles(ratio);
        let (d25, d50, d75) = quartiles(diff);
        println!(
            "{name:<27} {p50:7.1} ns [{p25:.1}-{p75:.1}]  corral_pool {c50:6.1} ns [{c25:.1}-{c75:.1}]  \
             corral/{name} {r50:.3}x [{r25:.3}-{r75:.3}]  difference {d50:+.1} ns [{d25:+.1}-{d75:+.1}]"
        );
    }
}
