//! `#[corral::test]` through the facade, as users write it.

use std::future::pending;
use std::time::Duration;

#[corral::test]
async fn a_clean_test_passes() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
    let worker = corral::spawn(async move {
        let mut seen = 0;
        while rx.recv().await.is_some() {
            seen += 1;
        }
        seen
    });
    tx.send(1).await.unwrap();
    drop(tx);
    assert_eq!(worker.await.unwrap(), 1);
}

#[corral::test]
#[should_panic(expected = "leak check failed")]
async fn a_leaked_worker_fails_the_test() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
    corral::task::Builder::new()
        .name("leaked")
        .spawn(async move { while rx.recv().await.is_some() {} });
    tx.send(1).await.unwrap();
    std::mem::forget(tx);
}

#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn takes_tokio_arguments() {
    let handles: Vec<_> = (0..100u64)
        .map(|i| corral::spawn(async move { i }))
        .collect();
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap();
    }
    assert_eq!(sum, 4950);
    assert_eq!(
        tokio::runtime::Handle::current().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread
    );
}

#[corral::test(start_paused = true)]
async fn tasks_finishing_in_the_grace_period_pass_with_paused_time() {
    corral::spawn(tokio::time::sleep(Duration::from_millis(100)));
}

#[corral::test(start_paused = true, leak_budget_ms = 10)]
#[should_panic(expected = "leak check failed")]
async fn the_budget_can_be_set_in_the_attribute() {
    corral::spawn(tokio::time::sleep(Duration::from_millis(100)));
}

#[corral::test]
#[should_panic(expected = "1 untracked task")]
async fn untracked_leaks_fail_too() {
    tokio::spawn(pending::<()>());
}

#[corral::test]
async fn a_result_test_returns_its_result() -> Result<(), String> {
    let value: u32 = "7".parse().map_err(|e| format!("{e}"))?;
    if value == 7 {
        return Ok(());
    }
    Err("unreachable".into())
}

#[corral::test]
#[should_panic(expected = "leak check failed")]
async fn an_early_return_is_still_checked() {
    corral::spawn(pending::<()>());
    #[allow(clippy::needless_return)]
    return;
}

/// The panic message of `f`, if it panicked.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> Option<String> {
    let payload = std::panic::catch_unwind(f).err()?;
    Some(
        corral_shared::panic_message(&*payload)
            .unwrap_or_default()
            .to_owned(),
    )
}

#[test]
#[allow(unnameable_test_items)]
fn an_error_that_also_leaks_keeps_the_error_in_the_failure() {
    // An early `?` is exactly how a test leaves its workers behind: the failure must
    // still show the error, next to the leak report.
    #[corral::test(leak_budget_ms = 0)]
    async fn errs_and_leaks() -> Result<(), String> {
        corral::task::Builder::new()
            .name("left-behind")
            .spawn(pending::<()>());
        Err("the real failure".to_string())
    }
    let message = panic_message(|| drop(errs_and_leaks())).expect("the test fails");
    assert!(message.contains("the real failure"), "{message}");
    assert!(message.contains("left-behind"), "{message}");
}

#[test]
#[allow(unnameable_test_items)]
fn an_error_without_a_leak_is_the_result() {
    #[corral::test]
    async fn errs_cleanly() -> Result<(), String> {
        Err("plain failure".to_string())
    }
    assert_eq!(errs_cleanly(), Err("plain failure".to_string()));
}
