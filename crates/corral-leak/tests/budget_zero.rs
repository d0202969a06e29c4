//! Budget 0 ("one immediate scan") on a multi-thread runtime: a task joined before the
//! check is never reported. tokio wakes a `JoinHandle` before it takes the task out
//! of its alive-task count, so right after the join the runtime may still count a
//! task that is gone.

use std::time::Duration;

use corral_leak::LeakGuard;
use corral_test_support::multi_thread;

const ROUNDS: u32 = 2_000;

/// Round after round: a guard with budget 0, a tracked and a plain task joined, a
/// check that must be clean.
async fn join_then_check_rounds() {
    for round in 0..ROUNDS {
        let guard = LeakGuard::builder().budget(Duration::ZERO).build();
        corral_task::spawn(async {}).await.unwrap();
        tokio::spawn(async {}).await.unwrap();
        let report = guard.check().await;
        assert!(report.is_clean(), "round {round}: {report}");
    }
}

#[test]
fn budget_zero_never_reports_a_joined_task() {
    multi_thread(2).block_on(join_then_check_rounds());
}

/// The same from inside a task (as `#[corral::test(flavor = "multi_thread")]` bodies
/// run on a worker).
#[test]
fn budget_zero_never_reports_a_joined_task_when_checked_from_a_worker() {
    let rt = multi_thread(2);
    rt.block_on(async {
        corral_task::spawn(join_then_check_rounds()).await.unwrap();
    });
}

/// A real untracked leak is still reported with budget 0: the settle waits only for
/// tokio's count to catch up, never hides what stays alive.
#[test]
fn budget_zero_still_reports_a_live_untracked_task() {
    multi_thread(2).block_on(async {
        let guard = LeakGuard::builder().budget(Duration::ZERO).build();
        let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = rx.await;
        });
        let report = guard.check().await;
        assert_eq!(report.untracked(), 1, "{report}");
        assert_eq!(report.attempts(), 1, "{report}");
    });
}
