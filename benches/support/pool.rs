//! Shared by the two pool benches (included with `#[path]`): the workload, the corral
//! pools and the two peers, so both measure exactly the same thing.
//!
//! Workload: one driver submits `JOBS` no-op jobs to `WORKERS` workers with a queue of
//! `QUEUE` (waiting for room when it is full), then awaits every job's handle.

use std::future::Future;
use std::sync::Arc;

use corral_pool::{Builder, Pool};
use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};

/// Jobs per round.
pub(crate) const JOBS: u64 = 20_000;
pub(crate) const WORKERS: usize = 8;
pub(crate) const QUEUE: usize = 1024;

pub(crate) async fn noop() {}

/// A corral pool for the workload; `sampling` is its queue-wait sampling (see
/// `Builder::queue_wait_sampling`).
pub(crate) fn corral_pool<F>(name: &str, sampling: u32) -> Pool<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Builder::new()
        .workers(WORKERS)
        .queue_capacity(QUEUE)
        .queue_wait_sampling(sampling)
        .name(name)
        .build()
        .expect("pool")
}

/// One round through a corral pool: submit every job, then await every handle.
pub(crate) async fn corral_round<F: Future<Output = ()> + Send + 'static>(
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

/// The hand-rolled peer: a bounded channel drained by `WORKERS` tasks, each job
/// carrying a `oneshot::Sender` for its result.
pub(crate) struct MpmcPool<F: Future> {
    tx: mpsc::Sender<(F, oneshot::Sender<F::Output>)>,
}

impl<F> MpmcPool<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    pub(crate) fn new(workers: usize, queue: usize) -> Self {
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

    pub(crate) async fn submit(&self, job: F) -> oneshot::Receiver<F::Output> {
        let (result, rx) = oneshot::channel();
        if self.tx.send((job, result)).await.is_err() {
            panic!("peer pool closed");
        }
        rx
    }
}

/// One round through the channel peer.
pub(crate) async fn mpmc_round<F: Future<Output = ()> + Send + 'static>(
    peer: &MpmcPool<F>,
    job: impl Fn() -> F,
) {
    let mut results = Vec::with_capacity(JOBS as usize);
    for _ in 0..JOBS {
        results.push(peer.submit(job()).await);
    }
    for r in results {
        r.await.expect("job ran");
    }
}

/// One round of the spawn peer: `tokio::spawn` per job, gated by `semaphore`.
pub(crate) async fn spawn_semaphore_round(semaphore: &Arc<Semaphore>) {
    let mut handles = Vec::with_capacity(JOBS as usize);
    for _ in 0..JOBS {
        let permit = Arc::clone(semaphore).acquire_owned().await.expect("open");
        handles.push(tokio::spawn(async move {
            noop().await;
            drop(permit);
        }));
    }
    for h in handles {
        h.await.expect("job ran");
    }
}
