//! A stray blocking thread under a paused clock. In a test binary of its own, like
//! `strays.rs`: the stray list is process-wide.

use corral_blocking::BlockingPool;
use corral_leak::LeakGuard;

mod support;
use support::{after_first_poll, stray_thread};

#[tokio::test(start_paused = true)]
async fn with_paused_time_a_stray_gets_its_grace_period_in_real_time() {
    // A pool thread finishes in real time; a paused clock skips the grace period in
    // virtual time at once, so the check must wait in real time too.
    let guard = LeakGuard::new();
    let (release, job) = stray_thread("paused-pool").await;
    drop(job);

    // Opened only once the check is waiting: the job then ends on the real clock.
    let report = after_first_poll(guard.check(), || release.open()).await;
    assert!(
        !report
            .stray_threads()
            .iter()
            .any(|s| s.pool == "paused-pool"),
        "{report}"
    );
}

/// A pool dropped at the end of a paused-time test, round after round, is never
/// reported: its idle thread exits on the wall clock, within the grace budget (this
/// failed `#[corral::test(start_paused = true)]` tests that used a pool).
#[tokio::test(start_paused = true)]
async fn a_pool_dropped_at_the_end_of_a_paused_test_is_clean() {
    for round in 0..20 {
        let guard = LeakGuard::new();
        let pool = BlockingPool::builder()
            .name("paused-pool-rounds")
            .max_threads(2)
            .build()
            .unwrap();
        assert_eq!(pool.run(move || round).await.unwrap(), round);
        drop(pool);
        let report = guard.check().await;
        assert!(report.is_clean(), "round {round}: {report}");
    }
}
