//! What the peer ports (`peers.rs`, `peers_jdk.rs`) share: one case run on both
//! runtime flavours, seeded rounds on a multi-thread runtime, and the accounting checks
//! every case ends with.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral_pool::{BoxJob, Metrics};
use tokio::time::Instant;

/// Runs each listed `async fn` case as two tests, `<case>::current_thread` and
/// `<case>::multi_thread` (2 worker threads), each on a fresh runtime with every driver.
macro_rules! on_both_runtimes {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[test]
            fn current_thread() {
                super::harness::current_thread().block_on(super::$case());
            }

            #[test]
            fn multi_thread() {
                super::harness::multi_thread().block_on(super::$case());
            }
        }
    )*};
}
pub(crate) use on_both_runtimes;

pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn multi_thread() -> tokio::runtime::Runtime {
    corral_test_support::multi_thread(2)
}

/// Whether the case runs on the multi-thread runtime.
pub fn is_multi_thread() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
}

/// Seeded rounds of a race-prone case: `rounds` on the multi-thread runtime (enough to
/// catch a 1-in-1,000 race), a tenth of that on the current-thread one (its
/// interleavings are fixed by the seed). Each round gets its own seed, named on failure
/// by the case itself.
pub async fn seeded<F, Fut>(rounds: u64, mut round: F)
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = ()>,
{
    let rounds = if is_multi_thread() {
        rounds
    } else {
        rounds / 10
    };
    for seed in 0..rounds {
        round(seed).await;
    }
}

/// A deadline that only turns a hang into a failure (never reached by a passing run).
pub fn hang_guard() -> Instant {
    Instant::now() + corral_test_support::GIVE_UP
}

/// A deadline already passed: `drain` with it reports what is left without waiting.
pub fn already_passed() -> Instant {
    Instant::now() - Duration::from_millis(1)
}

/// The accounting identity of a quiet pool: nothing queued or running, and every
/// accepted job completed, failed, cancelled or handed back.
#[track_caller]
pub fn assert_accounted(m: &Metrics) {
    assert_eq!((m.running, m.queued), (0, 0), "not quiet: {m:?}");
    assert_eq!(
        m.submitted,
        m.completed + m.failed + m.cancelled + m.handed_back,
        "a job went missing: {m:?}"
    );
}

/// What holds in any snapshot, busy or not: every accepted job is queued, running or
/// ended one way, and no more jobs run than workers are alive.
#[track_caller]
pub fn assert_consistent(m: &Metrics) {
    assert_eq!(
        m.submitted,
        m.queued as u64 + m.running as u64 + m.completed + m.failed + m.cancelled + m.handed_back,
        "a job went missing: {m:?}"
    );
    assert!(m.running <= m.workers, "more running than workers: {m:?}");
}

/// Counts jobs as they start, so a test can wait until `n` are running.
#[derive(Clone, Default)]
pub struct Started(Arc<AtomicUsize>);

impl Started {
    pub fn mark(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits (bounded by a hang guard) until at least `n` jobs started.
    pub async fn at_least(&self, n: usize) {
        corral_test_support::eventually(&format!("{n} jobs started"), || self.count() >= n).await;
    }
}

/// A job that marks itself started, waits for `gate`, and returns `n`.
pub fn held(started: &Started, gate: &corral_test_support::Latch, n: u32) -> BoxJob<u32> {
    let (started, gate) = (started.clone(), gate.clone());
    job(async move {
        started.mark();
        gate.opened().await;
        n
    })
}

/// A boxed job from any `Send` future.
pub fn job<T, F>(fut: F) -> BoxJob<T>
where
    F: Future<Output = T> + Send + 'static,
{
    Box::pin(fut)
}

/// Keeps the deliberate panics of the peer ports (messages starting with `peer:`) out
/// of the output; any other panic is printed as usual.
pub fn quiet_peer_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            let msg = p
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str));
            if !msg.is_some_and(|s| s.starts_with("peer:")) {
                previous(info);
            }
        }));
    });
}

/// Awaits `fut`, failing the test (instead of hanging it) if it is not done within the
/// hang guard's bound.
#[track_caller]
pub fn within<F: Future>(what: &'static str, fut: F) -> impl Future<Output = F::Output> {
    let bound = corral_test_support::GIVE_UP;
    async move {
        tokio::time::timeout(bound, fut)
            .await
            .unwrap_or_else(|_| panic!("hung (a hang, not a slow run): {what}"))
    }
}
