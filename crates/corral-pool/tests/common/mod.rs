//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use corral_pool::{BoxJob, Builder, Pool};
use tokio::sync::oneshot;

pub type TestPool = Pool<BoxJob<u32>>;

pub fn pool(workers: usize, queue: usize) -> TestPool {
    Builder::new()
        .workers(workers)
        .queue_capacity(queue)
        .queue_wait_sampling(1)
        .name("test")
        .build()
        .expect("valid pool")
}

/// Lets the pool's workers (on this current-thread runtime) run until they park.
pub async fn settle() {
    for _ in 0..32 {
        tokio::task::yield_now().await;
    }
}

/// A job that returns `n` at once.
pub fn ready(n: u32) -> BoxJob<u32> {
    Box::pin(async move { n })
}

/// A job that returns `n` once its gate is opened (or dropped).
pub fn gated(n: u32) -> (oneshot::Sender<()>, BoxJob<u32>) {
    let (tx, rx) = oneshot::channel::<()>();
    (
        tx,
        Box::pin(async move {
            let _ = rx.await;
            n
        }),
    )
}

/// Counts how many of the futures it is attached to were dropped and polled.
#[derive(Clone, Default)]
pub struct Probe {
    pub polled: Arc<AtomicUsize>,
    pub dropped: Arc<AtomicUsize>,
}

struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Probe {
    /// A gated job that records being polled and being dropped.
    pub fn gated(&self, n: u32) -> (oneshot::Sender<()>, BoxJob<u32>) {
        let (tx, rx) = oneshot::channel::<()>();
        let polled = Arc::clone(&self.polled);
        let flag = DropFlag(Arc::clone(&self.dropped));
        (
            tx,
            Box::pin(async move {
                let _flag = flag;
                polled.fetch_add(1, Ordering::SeqCst);
                let _ = rx.await;
                n
            }),
        )
    }

    pub fn polled(&self) -> usize {
        self.polled.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

pub type BoxJobU32 = BoxJob<u32>;

/// A multi-thread runtime with 2 workers and every driver, for races that need one.
pub fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
