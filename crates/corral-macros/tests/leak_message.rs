//! A leak found by `#[corral::test]` names the test's own file, not corral's.

#[corral::test(leak_budget_ms = 0)]
#[should_panic(expected = "(leak check of the test at crates/corral-macros/tests/leak_message.rs:")]
async fn a_leaky_test_fails_pointing_at_itself() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    corral::spawn(async move {
        let _ = rx.await;
    });
    std::mem::forget(tx);
}
