//! Shared test support: the pool helpers below, and (from corral-test-support) the latch
//! that holds jobs on their threads, the condition waiters and the slow DNS server.
#![allow(dead_code, unreachable_pub, unused_imports, unused_macros)] // each test binary uses a different subset

use std::future::Future;
use std::time::Duration;

pub use corral_test_support::{
    dns, eventually, eventually_blocking, multi_thread, Latch, OpenOnDrop,
};

use corral_blocking::{AcceptedJob, BlockingPool};
use tokio::task::JoinHandle;
use tokio_test::task::Spawn;

/// The two `spawn_blocking`s a drop-in test runs its assertions against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Tokio,
    Corral,
}

/// tokio's function, then corral's.
pub const BOTH: [Which; 2] = [Which::Tokio, Which::Corral];

impl Which {
    /// Calls this `spawn_blocking` (on the current runtime, as both do).
    #[track_caller]
    pub fn spawn<R: Send + 'static>(self, f: impl FnOnce() -> R + Send + 'static) -> JoinHandle<R> {
        match self {
            Which::Tokio => tokio::task::spawn_blocking(f),
            Which::Corral => corral_blocking::spawn_blocking(f),
        }
    }
}

/// Occupies a one-thread `pool`: runs a job that blocks until the returned latch opens,
/// and waits until that job is running.
pub async fn occupy(pool: &BlockingPool) -> (Latch, AcceptedJob<()>) {
    let (gate, mut jobs) = occupy_n(pool, 1).await;
    (gate, jobs.pop().expect("one job"))
}

/// Occupies `n` threads of `pool`: runs `n` jobs that block until the returned latch
/// opens, and waits until all of them are running.
pub async fn occupy_n(pool: &BlockingPool, n: usize) -> (Latch, Vec<AcceptedJob<()>>) {
    let gate = Latch::new();
    let jobs = (0..n)
        .map(|_| {
            let gate = gate.clone();
            pool.try_run(move || gate.wait()).unwrap()
        })
        .collect();
    eventually("pool busy", || pool.metrics().running == n).await;
    (gate, jobs)
}

/// Polls a tokio-test task until it is ready (its result arrives from a pool thread,
/// not from a wake the test controls), checking every millisecond.
pub async fn ready<F: Future>(task: &mut Spawn<F>) -> F::Output {
    loop {
        if let std::task::Poll::Ready(out) = task.poll() {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Each async case as a test on a current-thread runtime and one on a 2-worker
/// multi-thread runtime (`mod support;` must be at the test file's root).
macro_rules! on_both_runtimes {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[test]
            fn current_thread() {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(super::$case());
            }

            #[test]
            fn multi_thread() {
                super::support::multi_thread(2).block_on(super::$case());
            }
        }
    )*};
}
