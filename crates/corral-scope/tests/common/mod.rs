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

/// Runs a test body on a current-thread runtime, then on a multi-thread runtime with 2
/// workers (the owner polled on the test's thread, the children on the workers).
pub fn on_both<Fut: Future<Output = ()>>(test: impl Fn() -> Fut) {
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a current-thread runtime");
    current.block_on(test());
    drop(current);
    corral_test_support::multi_thread(2).block_on(test());
}

/// Runs `round` once per seed in `0..rounds` on one 2-worker multi-thread runtime:
/// enough rounds of a race-prone test to catch a 1-in-1,000 interleaving. Even seeds
/// run the round (the scope's owner) on the test's thread, odd seeds on a worker, where
/// the children it spawns start in the worker's LIFO slot.
pub fn seeded_multi_thread<Fut>(rounds: u64, round: impl Fn(corral_test_support::Rng) -> Fut)
where
    Fut: Future<Output = ()> + Send + 'static,
{
    corral_test_support::multi_thread(2).block_on(async {
        for seed in 0..rounds {
            let round = round(corral_test_support::Rng(seed));
            if seed % 2 == 0 {
                round.await;
            } else if let Err(failed) = tokio::spawn(round).await {
                std::panic::resume_unwind(failed.into_panic());
            }
        }
    });
}

/// Yields a seeded number of times (0 to 2), to vary interleavings between rounds.
pub async fn seeded_yields(rng: &mut corral_test_support::Rng) {
    for _ in 0..rng.below(3) {
        tokio::task::yield_now().await;
    }
}

/// Awaits `fut` on its own task and returns the payload it panicked with.
///
/// # Panics
///
/// If `fut` completes without panicking.
pub async fn panic_of<F>(fut: F) -> Box<dyn std::any::Any + Send>
where
    F: Future + Send + 'static,
    F::Output: Send + std::fmt::Debug + 'static,
{
    quiet_boom_panics();
    tokio::spawn(fut)
        .await
        .expect_err("the future panics")
        .into_panic()
}

/// Keeps the panics the tests raise on purpose (payload `Boom` or `u64`) out of the
/// test output; every other panic still reaches the default hook.
pub fn quiet_boom_panics() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            if !(payload.is::<Boom>() || payload.is::<u64>()) {
                default(info);
            }
        }));
    });
}

/// A child that panics with `payload` (raised with `std::panic::panic_any`).
pub async fn panics_with<P: std::any::Any + Send + 'static>(payload: P) -> Result<(), Boom> {
    quiet_boom_panics();
    std::panic::panic_any(payload)
}
