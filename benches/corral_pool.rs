//! corral-pool next to the peers it replaces, same workload, same run.
//!
//! Workload: a 2-thread runtime; one driver task submits `JOBS` no-op jobs to 8
//! workers with a queue of 1024 (waiting for room when it is full), then awaits every
//! job's handle. Reported per job (criterion's throughput is in jobs).
//!
//! - `corral_pool`: `Pool::submit(job).await`, then `handle.await`.
//! - `corral_pool_boxed`: the same with `Pool<BoxJob<()>>` (one extra allocation).
//! - `mpmc_channel_oneshot` (peer): a hand-rolled bounded MPMC channel, tokio's bounded
//!   `mpsc` shared by 8 worker tasks through an `Arc<tokio::sync::Mutex<Receiver>>`,
//!   each job carrying a `oneshot::Sender` for its result.
//! - `spawn_semaphore` (peer): `tokio::spawn` per job, gated by `Semaphore::new(8)`.

use std::future::Future;
use std::sync::Arc;

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

fn contention(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("contention");
    group.throughput(Throughput::Elements(JOBS));
    group.sample_size(10);

    let pool = rt.block_on(async {
        Builder::new()
            .workers(WORKERS)
            .queue_capacity(QUEUE)
            .name("bench")
            .build()
            .expect("pool")
    });
    group.bench_function("corral_pool", |b| {
        b.to_async(&rt).iter(|| async {
            let mut handles = Vec::with_capacity(JOBS as usize);
            for _ in 0..JOBS {
                handles.push(pool.submit(noop()).await.expect("open"));
            }
            for h in handles {
                h.await.expect("job ran");
            }
        })
    });

    let boxed: Pool<BoxJob<()>> = rt.block_on(async {
        Builder::new()
            .workers(WORKERS)
            .queue_capacity(QUEUE)
            .name("bench-boxed")
            .build()
            .expect("pool")
    });
    group.bench_function("corral_pool_boxed", |b| {
        b.to_async(&rt).iter(|| async {
            let mut handles = Vec::with_capacity(JOBS as usize);
            for _ in 0..JOBS {
                handles.push(boxed.submit(Box::pin(noop())).await.expect("open"));
            }
            for h in handles {
                h.await.expect("job ran");
            }
        })
    });

    let peer = rt.block_on(async { MpmcPool::new(WORKERS, QUEUE) });
    group.bench_function("mpmc_channel_oneshot", |b| {
        b.to_async(&rt).iter(|| async {
            let mut results = Vec::with_capacity(JOBS as usize);
            for _ in 0..JOBS {
                results.push(peer.submit(noop()).await);
            }
            for r in results {
                r.await.expect("job ran");
            }
        })
    });

    let semaphore = Arc::new(Semaphore::new(WORKERS));
    group.bench_function("spawn_semaphore", |b| {
        b.to_async(&rt).iter(|| async {
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
    });
    group.finish();
    drop(pool);
    drop(boxed);
    drop(peer);
}

criterion_group!(benches, contention);
criterion_main!(benches);
