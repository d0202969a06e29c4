//! goleak's `TestAllLargeStack` (internal/stack/stacks_test.go) at scale, in a binary
//! of its own: its 100,001 live tasks are in the process-wide registry for the test's
//! span, and every check made in the same process meanwhile snapshots them too,
//! which would slow the many short checks of `tests/peers.rs` beside it.

use std::time::Duration;

use corral_leak::LeakGuard;
use corral_task::Builder;
use tokio::sync::oneshot;

/// `TestAllLargeStack` at scale: a load test's leak, an acceptor with 50,000 live
/// connection handlers each with a worker, 100,001 tasks, is reported, each worker
/// with its chain. A scan used to look each leak's parent up by a search of the
/// whole snapshot, quadratic in the leak: about 10 s a scan for this one, where a
/// check with the default budget scans 11 times (this one, with 30 ms, 4 times).
/// The bound here only catches that hang (a run takes about a second).
#[test]
fn a_large_leak_is_reported_from_one_scan_without_a_hang() {
    const N: usize = 50_000;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let summary = rt.block_on(async {
            let guard = LeakGuard::builder()
                .budget(Duration::from_millis(30))
                .build();
            let (spawned_tx, spawned_rx) = oneshot::channel();
            let acceptor = Builder::new().name("acceptor").spawn(async move {
                for _ in 0..N {
                    Builder::new().name("conn-handler").spawn(async {
                        Builder::new()
                            .name("request-worker")
                            .spawn(std::future::pending::<()>());
                        std::future::pending::<()>().await
                    });
                }
                // Every handler has spawned its worker once this task runs again.
                tokio::task::yield_now().await;
                let _ = spawned_tx.send(());
                std::future::pending::<()>().await
            });
            spawned_rx.await.unwrap();
            let report = guard.check().await;
            acceptor.abort();
            let workers = report
                .leaked()
                .iter()
                .filter(|l| {
                    l.task().name() == Some("request-worker")
                        && l.ancestors().len() == 2
                        && l.ancestors()[0].name() == Some("conn-handler")
                        && l.ancestors()[1].name() == Some("acceptor")
                })
                .count();
            (report.leaked().len(), workers, report.attempts() > 1)
        });
        let _ = tx.send(summary);
    });
    let (leaked, workers, retried) = rx
        .recv_timeout(corral_test_support::GIVE_UP)
        .expect("the check of a large leak hangs");
    assert_eq!((leaked, workers, retried), (2 * N + 1, N, true));
}
