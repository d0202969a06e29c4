//! corral-pool next to the peers it replaces, same workload, same run.
//!
//! Workload: a 2-thread runtime; one driver submits `JOBS` no-op jobs to 8 workers with
//! a queue of 1024 (waiting for room when it is full), then awaits every job's handle.
//! Reported per round of `JOBS`; criterion's throughput line gives jobs/s. Group
//! `contention` drives from the bench thread (`block_on`, the workload: every
//! hand-off is a cross-thread wake); group `driver_task` drives from a task on the
//! runtime.
//!
//! - `corral_pool`: `Pool::submit(job).await`, then `handle.await`.
//! - `corral_pool_boxed`: the same with `Pool<BoxJob<()>>` (one extra allocation).
//! - `mpmc_channel_oneshot` (peer): a hand-rolled bounded MPMC channel, tokio's bounded
//!   `mpsc` shared by 8 worker tasks through an `Arc<tokio::sync::Mutex<Receiver>>`,
//!   each job carrying a `oneshot::Sender` for its result.
//! - `spawn_semaphore` (peer): `tokio::spawn` per job, gated by `Semaphore::new(8)`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_pool::{BoxJob, Builder, Pool};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};

const JOBS: u64 = 20_000;
const WORKERS: usize = 8;
const QUEUE: usize = 1024;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn noop() {}

/// The hand-rolled peer: a bounded channel drained by `WORKERS` tasks.
struct MpmcPool<F: Future> {
    tx: mpsc::Sender<(F, oneshot::Sender<F::Output>)>,
}

impl<F> MpmcPool<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn new(workers: usize, queue: usize) -> Self {
        let (tx, rx) = mpsc::channel::<(F, oneshot::Sender<F::Output>)>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers {
            let rx = Arc::clone(&rx);
            tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some((job, result)) = next else { break };
                    let _ = result.send(job.await);
                }
            });
        }
        MpmcPool { tx }
    }

    async fn submit(&self, job: F) -> oneshot::Receiver<F::Output> {
        let (result, rx) = oneshot::channel();
        if self.tx.send((job, result)).await.is_err() {
            panic!("peer pool closed");
        }
        rx
    }
}

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

async fn corral_round<F: Future<Output = ()> + Send + 'static>(
    pool: &Pool<F>,
    job: impl Fn() -> F,
) {
    let mut handles = Vec::with_capacity(JOBS as usize);
    for _ in 0..JOBS {
        handles.push(pool.submit(job()).await.expect("open"));
    }
    for h in handles {
        h.await.expect("job ran");
    }
}

/// The four cases, each a round of `JOBS` jobs, on pools built on `rt`.
fn cases(rt: &Runtime) -> Vec<(&'static str, Round)> {
    let pool = Arc::new(rt.block_on(async {
        Builder::new()
            .workers(WORKERS)
            .queue_capacity(QUEUE)
            .name("bench")
            .build()
            .expect("pool")
    }));
    let boxed: Arc<Pool<BoxJob<()>>> = Arc::new(rt.block_on(async {
        Builder::new()
            .workers(WORKERS)
            .queue_capacity(QUEUE)
            .name("bench-boxed")
            .build()
            .expect("pool")
    }));
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
                Box::pin(async move {
                    let mut results = Vec::with_capacity(JOBS as usize);
                    for _ in 0..JOBS {
                        results.push(peer.submit(noop()).await);
                    }
                    for r in results {
                        r.await.expect("job ran");
                    }
                })
            }),
        ),
        (
            "spawn_semaphore",
            Box::new(move || -> RoundFut {
                let semaphore = Arc::clone(&semaphore);
                Box::pin(async move {
                    let mut handles = Vec::with_capacity(JOBS as usize);
                    for _ in 0..JOBS {
                        let permit = Arc::clone(&semaphore).acquire_owned().await.expect("open");
                        handles.push(tokio::spawn(async move {
                            noop().await;
                            drop(permit);
                        }));
                    }
                    for h in handles {
                        h.await.expect("job ran");
                    }
                })
            }),
        ),
    ]
}

/// The workload: the driver is the future criterion `block_on`s on the bench
/// thread, so every hand-off to and from the 2 runtime threads is a cross-thread wake.
fn contention(c: &mut Criterion) {
    let rt = runtime();
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
    let rt = runtime();
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
