//! `#[corral::test(flavor = "multi_thread", leak_budget_ms = 0)]` passes a clean test
//! every time, though tokio wakes a `JoinHandle` before it takes the joined task out
//! of its alive-task count (corral-leak lets that count settle).

#[corral::test(flavor = "multi_thread", worker_threads = 2, leak_budget_ms = 0)]
async fn a_clean_multi_thread_body() {
    corral::spawn(async {}).await.unwrap();
    tokio::spawn(async {}).await.unwrap();
}

#[test]
fn a_clean_multi_thread_test_with_budget_zero_passes_every_time() {
    // Each call is a whole test: a fresh runtime, the body, the leak check.
    for _ in 0..300 {
        a_clean_multi_thread_body();
    }
}
