//! A blocking pool dropped at the end of a paused-time test is not a leak. In a test
//! binary of its own: the stray list is process-wide.

use corral_blocking::BlockingPool;
use corral_leak::LeakGuard;

/// With paused time the runtime's grace budget passes at once, but the dropped pool's
/// idle thread exits on the wall clock; the guard must give it that time rather than
/// report it as a stray (this failed `#[corral::test(start_paused = true)]` tests that
/// used a pool).
#[tokio::test(start_paused = true)]
async fn a_pool_dropped_at_the_end_of_a_paused_test_is_clean() {
    for round in 0..20 {
        let guard = LeakGuard::new();
        let pool = BlockingPool::builder()
            .name("paused-pool")
            .max_threads(2)
            .build()
            .unwrap();
        assert_eq!(pool.run(move || round).await.unwrap(), round);
        drop(pool);
        let report = guard.check().await;
        assert!(report.is_clean(), "round {round}: {report}");
    }
}
