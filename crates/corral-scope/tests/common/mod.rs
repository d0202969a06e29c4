//! Helpers shared by the scope tests (included with `mod common;`).
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The error type of the test scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boom(pub u32);

/// Counts futures that started and futures that were dropped.
#[derive(Debug, Default, Clone)]
pub struct Probe {
    started: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

struct OnDrop(Arc<AtomicUsize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Probe {
    /// A probe with both counts at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps `fut`: counts the start when first polled and the drop, however it ends.
    pub fn watch<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> {
        let started = self.started.clone();
        let on_drop = OnDrop(self.dropped.clone());
        async move {
            let _on_drop = on_drop;
            started.fetch_add(1, Ordering::SeqCst);
            fut.await
        }
    }

    /// A future that never completes, watched.
    pub fn forever<T>(&self) -> impl Future<Output = Result<T, Boom>> {
        self.watch(std::future::pending())
    }

    /// Futures that started.
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Futures that were dropped.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

/// Tracked tasks (corral-task registry) alive on the current runtime.
pub fn tracked_tasks_here() -> usize {
    let here = tokio::runtime::Handle::current().id();
    corral_task::snapshot()
        .iter()
        .filter(|t| t.runtime() == here)
        .count()
}

/// Yields until the runtime has no alive task (stopped tasks need a turn to be
/// dropped, and a finished task leaves the runtime's count just after its
/// `JoinHandle` resolves, on a worker thread the OS may have preempted), then asserts
/// there is none, neither counted by the runtime nor in the tracked-task registry.
pub async fn assert_no_alive_tasks() {
    let handle = tokio::runtime::Handle::current();
    for turn in 0..10_000 {
        if handle.metrics().num_alive_tasks() == 0 && tracked_tasks_here() == 0 {
            return;
        }
        if turn % 100 == 99 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(
        handle.metrics().num_alive_tasks(),
        0,
        "runtime tasks still alive after the scope"
    );
    assert_eq!(
        tracked_tasks_here(),
        0,
        "tracked tasks still alive after the scope"
    );
}

/// Lets spawned tasks run for a few turns.
pub async fn turns(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}
