//! corral-pool next to the peers it replaces, same workload, same run. For ratios use
//! `corral_pool_paired` (paired rounds); criterion times each case in its own window.
//!
//! Workload: a 2-thread runtime; one driver submits `JOBS` no-op jobs to 8 workers with
//! a queue of 1024 (waiting for room when it is full), then awaits every job's handle.
//! Reported per round of `JOBS`; criterion's throughput line gives jobs/s. Group
//! `contention` drives from the bench thread (`block_on`, the workload: every
//! hand-off is a cross-thread wake); group `driver_task` drives from a task on the
//! runtime.
//!
//! - `corral_pool`: `Pool::submit(job).await`, then `handle.await`.
//! - `corral_pool_wait_every_job`: the same with queue wait measured on every job
//!   (`queue_wait_sampling(1)`; the default draws one job in 64), for the cost of the
//!   clock reads.
//! - `corral_pool_boxed`: the same with `Pool<BoxJob<()>>` (one extra allocation).
//! - `mpmc_channel_oneshot` (peer): a hand-rolled bounded MPMC channel, tokio's bounded
//!   `mpsc` shared by 8 worker tasks through an `Arc<tokio::sync::Mutex<Receiver>>`,
//!   each job carrying a `oneshot::Sender` for its result.
//! - `spawn_semaphore` (peer): `tokio::spawn` per job, gated by `Semaphore::new(8)`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_pool::{BoxJob, Pool, DEFAULT_QUEUE_WAIT_SAMPLING};
use corral_test_support::multi_thread;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

#[path = "support/pool.rs"]
mod support;
use support::{
    corral_pool, corral_round, mpmc_round, noop, spawn_semaphore_round, MpmcPool, JOBS, QUEUE,
    WORKERS,
};

type RoundFut = Pin<Box<dyn Future<Output = ()> + Send>>;
type Round = Box<dyn Fn() -> RoundFut>;

/// Runs `iters` rounds of `round` inside a task on the runtime, timing them there.
fn in_task(rt: &Runtime, iters: u64, round: &Round) -> Duration {
    let rounds: Vec<_> = (0..iters).map(|_| round()).collect();
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for r in rounds {
                r.await;
            }
            start.elapsed()
        })
        .await
        .expect("driver task")
    })
}

/// The cases, each a round of `JOBS` jobs, on pools built on `rt`.
fn cases(rt: &Runtime) -> Vec<(&'static str, Round)> {
    let pool: Arc<Pool<_>> =
        Arc::new(rt.block_on(async { corral_pool("bench", DEFAULT_QUEUE_WAIT_SAMPLING) }));
    let every: Arc<Pool<_>> = Arc::new(rt.block_on(async { corral_pool("bench-every", 1) }));
    let boxed: Arc<Pool<BoxJob<()>>> =
        Arc::new(rt.block_on(async { corral_pool("bench-boxed", DEFAULT_QUEUE_WAIT_SAMPLING) }));
    let peer = Arc::new(rt.block_on(async { MpmcPool::new(WORKERS, QUEUE) }));
    let semaphore = Arc::new(Semaphore::new(WORKERS));
    vec![
        (
            "corral_pool",
            Box::new(move || -> RoundFut {
                let pool = Arc::clone(&pool);
                Box::pin(async move { corral_round(&pool, noop).await })
            }) as Round,
        ),
        (
            "corral_pool_wait_every_job",
            Box::new(move || -> RoundFut {
                let pool = Arc::clone(&every);
                Box::pin(async move { corral_round(&pool, noop).await })
            }),
        ),
        (
            "corral_pool_boxed",
            Box::new(move || -> RoundFut {
                let pool = Arc::clone(&boxed);
                Box::pin(
                    async move { corral_round(&pool, || Box::pin(noop()) as BoxJob<()>).await },
                )
            }),
        ),
        (
            "mpmc_channel_oneshot",
            Box::new(move || -> RoundFut {
                let peer = Arc::clone(&peer);
                Box::pin(async move { mpmc_round(&peer, noop).await })
            }),
        ),
        (
            "spawn_semaphore",
            Box::new(move || -> RoundFut {
                let semaphore = Arc::clone(&semaphore);
                Box::pin(async move { spawn_semaphore_round(&semaphore).await })
            }),
        ),
    ]
}

/// The workload: the driver is the future criterion `block_on`s on the bench
/// thread, so every hand-off to and from the 2 runtime threads is a cross-thread wake.
fn contention(c: &mut Criterion) {
    let rt = multi_thread(2);
    let cases = cases(&rt);
    let mut group = c.benchmark_group("contention");
    group.throughput(Throughput::Elements(JOBS));
    group.sample_size(10);
    for (name, round) in &cases {
        group.bench_function(*name, |b| b.to_async(&rt).iter(round));
    }
    group.finish();
    drop(cases);
}

/// The same, with the driver a task on the runtime (how submitters run in a service).
fn driver_task(c: &mut Criterion) {
    let rt = multi_thread(2);
    let cases = cases(&rt);
    let mut group = c.benchmark_group("driver_task");
    group.throughput(Throughput::Elements(JOBS));
    group.sample_size(10);
    for (name, round) in &cases {
        group.bench_function(*name, |b| b.iter_custom(|iters| in_task(&rt, iters, round)));
    }
    group.finish();
    drop(cases);
}

criterion_group!(benches, contention, driver_task);
criterion_main!(benches);
