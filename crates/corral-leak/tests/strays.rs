//! Blocking threads that outlive their pool. In a test binary of its own: the stray
//! list is process-wide, so a stray made here would show in parallel tests' reports.

use std::sync::mpsc;
use std::time::Duration;

use corral_blocking::BlockingPool;
use corral_leak::LeakGuard;

#[tokio::test]
async fn reports_a_thread_still_running_after_its_pool_shut_down() {
    let guard = LeakGuard::builder()
        .budget(Duration::from_millis(20))
        .build();
    let pool = BlockingPool::builder()
        .name("leak-test-pool")
        .max_threads(1)
        .build()
        .unwrap();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let job = pool
        .try_run(move || {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv();
        })
        .unwrap();
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    pool.shutdown();

    let report = guard.check().await;
    let strays = report.stray_threads();
    assert_eq!(strays.len(), 1, "{report}");
    assert_eq!(strays[0].pool, "leak-test-pool");
    assert!(report.to_string().contains("leak-test-pool"), "{report}");

    release_tx.send(()).unwrap();
    job.await.unwrap();
    guard.assert_clean().await;
}
