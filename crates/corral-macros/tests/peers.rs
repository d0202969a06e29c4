//! goleak's `VerifyNone(t)` tests (github.com/uber-go/goleak `leaks_test.go`:
//! `TestVerifyNone`, `TestFind`, `TestFindRetry`, `TestVerifyParallel`) ported to
//! `#[corral::test]`, which checks at the end of each test as `defer
//! goleak.VerifyNone(t)` does, on both runtime flavors.
//!
//! goleak's `VerifyTestMain` (one check after the whole test binary) and its
//! `Cleanup` option have no corral equivalent: the check is per test.

use std::future::pending;
use std::time::Duration;

use corral::task::Builder;

/// goleak's `startBlockedG`: `"blocked"`, spawned by `"start-blocked"` (which
/// returns), parked until the returned sender is dropped.
async fn start_blocked() -> tokio::sync::oneshot::Sender<()> {
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    Builder::new()
        .name("start-blocked")
        .spawn(async move {
            Builder::new().name("blocked").spawn(async move {
                let _ = started_tx.send(());
                let _ = released.await;
            });
        })
        .await
        .unwrap();
    started_rx.await.unwrap();
    release
}

/// The panic message of `f`, if it panicked.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> Option<String> {
    let payload = std::panic::catch_unwind(f).err()?;
    Some(match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast::<&str>()
            .map_or_else(|_| String::new(), |m| (*m).to_owned()),
    })
}

/// Port of `TestVerifyNone`'s clean check and `TestFind` "Should find no leaks by
/// default": tasks (tracked, plain, nested) that all ended pass.
#[corral::test]
async fn verify_none_passes_a_clean_test_current_thread() {
    clean_body().await;
}

/// The same on a multi-thread runtime.
#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_none_passes_a_clean_test_multi_thread() {
    clean_body().await;
}

async fn clean_body() {
    corral::spawn(async {}).await.unwrap();
    tokio::spawn(async {}).await.unwrap();
    let release = start_blocked().await;
    drop(release);
}

/// Port of `TestFind` "Find leaks with leaked goroutine" and `TestVerifyNone` "finds
/// leaks": a test that leaves the blocked task fails, naming it, its creator and
/// the test; once the task is released (`TestFind`'s second half) the test passes.
#[test]
#[allow(unnameable_test_items)]
fn verify_none_fails_a_test_that_leaks_the_blocked_task() {
    #[corral::test(leak_budget_ms = 0)]
    async fn leaks_current_thread() {
        std::mem::forget(start_blocked().await);
    }
    #[corral::test(flavor = "multi_thread", worker_threads = 2, leak_budget_ms = 0)]
    async fn leaks_multi_thread() {
        std::mem::forget(start_blocked().await);
    }
    #[corral::test(flavor = "multi_thread", worker_threads = 2)]
    async fn released_multi_thread() {
        drop(start_blocked().await);
    }
    for leaks in [leaks_current_thread as fn(), leaks_multi_thread] {
        let message = panic_message(leaks).expect("the test fails");
        for needle in [
            "leak check failed: 1 leaked task",
            "\"blocked\" spawned at crates/corral-macros/tests/peers.rs:",
            "\"start-blocked\" at crates/corral-macros/tests/peers.rs:",
            "(leak check of the test at crates/corral-macros/tests/peers.rs:",
        ] {
            assert!(message.contains(needle), "{needle:?} not in {message}");
        }
    }
    released_multi_thread();
}

/// Port of `TestFindRetry`: a task still finishing when the body returns (here,
/// released by a timer after it) gets the grace period, and the test passes. The
/// budget only bounds a hang: the check returns at its first clean scan.
#[corral::test(flavor = "multi_thread", worker_threads = 2, leak_budget_ms = 10_000)]
async fn verify_none_retries_while_a_task_ends_multi_thread() {
    let release = start_blocked().await;
    corral::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        drop(release);
    });
}

/// The same with paused time: the release is a virtual millisecond away.
#[corral::test(start_paused = true)]
async fn verify_none_retries_while_a_task_ends_paused() {
    let release = start_blocked().await;
    corral::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        drop(release);
    });
}

/// Port of `TestVerifyParallel`: checked tests running at once in one process,
/// leaky and clean, each sees only its own tasks.
#[test]
#[allow(unnameable_test_items)]
fn verify_parallel() {
    #[corral::test(flavor = "multi_thread", worker_threads = 2, leak_budget_ms = 0)]
    async fn leaky() {
        Builder::new().name("parallel-leak").spawn(pending::<()>());
    }
    #[corral::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clean() {
        for _ in 0..50 {
            corral::spawn(tokio::task::yield_now()).await.unwrap();
        }
    }
    for _ in 0..10 {
        let threads: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    (i, panic_message(if i % 2 == 0 { leaky } else { clean }))
                })
            })
            .collect();
        for t in threads {
            let (i, failed) = t.join().unwrap();
            if i % 2 == 0 {
                let message = failed.expect("the leaky test fails");
                assert!(message.contains("1 leaked task"), "{message}");
            } else {
                assert_eq!(failed, None, "the clean test passes");
            }
        }
    }
}
