//! Shared test support: the pool helpers below, and (from corral-test-support) the latch
//! that holds jobs on their threads, the condition waiters and the slow DNS server.
#![allow(dead_code, unreachable_pub, unused_imports)] // each test binary uses a different subset

use std::future::Future;
use std::time::Duration;

pub use corral_test_support::{
    dns, eventually, eventually_blocking, multi_thread, Latch, OpenOnDrop,
};

use corral_blocking::{AcceptedJob, BlockingPool};
use tokio_test::task::Spawn;

/// Occupies a one-thread `pool`: runs a job that blocks until the returned latch opens,
/// and waits until that job is running.
pub async fn occupy(pool: &BlockingPool) -> (Latch, AcceptedJob<()>) {
    let gate = Latch::new();
    let job = pool
        .try_run({
            let gate = gate.clone();
            move || gate.wait()
        })
        .unwrap();
    eventually("pool busy", || pool.metrics().running == 1).await;
    (gate, job)
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
