//! Blocking threads that outlive their pool. In a test binary of its own: the stray
//! list is process-wide, so a stray made here would show in parallel tests' reports.

use std::time::Duration;

use corral_leak::LeakGuard;

mod support;
use support::stray_thread;

#[tokio::test]
async fn reports_a_thread_still_running_after_its_pool_shut_down() {
    let guard = LeakGuard::builder()
        .budget(Duration::from_millis(20))
        .build();
    let (release, job) = stray_thread("leak-test-pool").await;

    let report = guard.check().await;
    let strays = report.stray_threads();
    assert_eq!(strays.len(), 1, "{report}");
    assert_eq!(strays[0].pool, "leak-test-pool");
    assert!(report.to_string().contains("leak-test-pool"), "{report}");

    release.open();
    job.await.unwrap();
    guard.assert_clean().await;
}
