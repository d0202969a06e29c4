//! Shared test support: a latch to hold jobs on their threads, a condition waiter, and
//! (in `dns.rs`) the slow loopback DNS server.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

pub mod dns;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

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
