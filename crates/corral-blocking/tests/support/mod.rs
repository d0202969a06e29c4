//! Shared test support: a latch to hold jobs on their threads, a condition waiter, and
//! (in `dns.rs`) the slow loopback DNS server.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

pub mod dns;

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use corral_blocking::{AcceptedJob, BlockingPool};
use tokio_test::task::Spawn;

/// A one-shot gate: jobs `wait()` on it until the test `open()`s it.
#[derive(Clone, Default)]
pub struct Latch(Arc<(Mutex<bool>, Condvar)>);

impl Latch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn wait(&self) {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
    }

    pub fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
}

/// Opens its latch when dropped, so a failing test never leaves jobs blocked forever
/// (which would hang the other tests sharing a pool).
pub struct OpenOnDrop(pub Latch);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Waits until `cond()` holds, checking every millisecond; panics after a generous
/// 20 s bound (a hang, not a timing assertion).
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "condition never held: {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Blocking flavour of [`eventually`], for code outside a runtime.
pub fn eventually_blocking(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "condition never held: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

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
