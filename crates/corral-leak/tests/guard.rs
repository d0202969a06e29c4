//! The guard judged on the leaks it exists for, and on the clean cases it must pass.
//!
//! Every test here runs in parallel with the others (cargo's default), each on its own
//! runtime, so each one also checks that a guard does not see its neighbours' tasks.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use corral_leak::{LeakGuard, Report};
use corral_task::Builder;
use corral_test_support::multi_thread;

mod support;
use support::{after_first_poll, assert_clean_message, until_changed};

fn leaked_names(report: &Report) -> Vec<&str> {
    report
        .leaked()
        .iter()
        .map(|l| l.task().name().unwrap_or("-"))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn fails_on_a_worker_parked_on_a_channel_nobody_closes() {
    let guard = LeakGuard::new();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
    Builder::new()
        .name("parked-worker")
        .spawn(async move { while let Some(_job) = rx.recv().await {} });
    tx.send(1).await.unwrap();
    let _kept_open = tx; // the sender outlives the check: the worker never ends

    let report = guard.check().await;
    assert!(!report.is_clean());
    assert_eq!(leaked_names(&report), ["parked-worker"]);
    assert_eq!(report.untracked(), 0);
    assert!(report.attempts() > 1, "it retried before giving up");
    assert!(report.waited() >= corral_leak::DEFAULT_BUDGET);
}

#[tokio::test]
async fn the_failure_message_names_spawn_file_and_line_and_parent_chain() {
    let guard = LeakGuard::builder()
        .budget(Duration::from_millis(20))
        .build();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let line = line!() + 2;
    let parent = Builder::new().name("acceptor").spawn(async move {
        Builder::new().name("conn-worker").spawn(async move {
            let _ = rx.await;
        });
        pending::<()>().await
    });
    let message = assert_clean_message(guard).await.expect("the guard panics");
    assert!(message.contains("leak check failed"), "{message}");
    assert!(message.contains("\"conn-worker\""), "{message}");
    assert!(
        message.contains(&format!("{}:{}", file!(), line)),
        "{message}"
    );
    assert!(message.contains("spawned by task"), "{message}");
    assert!(message.contains("\"acceptor\""), "{message}");
    assert!(message.contains("alive for"), "{message}");
    parent.abort();
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn fails_on_a_task_that_outlives_its_aborted_parent() {
    let guard = LeakGuard::new();
    let (spawned_tx, spawned_rx) = tokio::sync::oneshot::channel();
    let parent = Builder::new().name("parent").spawn(async move {
        Builder::new().name("orphan").spawn(pending::<()>());
        spawned_tx.send(corral_task::current().unwrap()).unwrap();
        pending::<()>().await
    });
    let parent_id = spawned_rx.await.unwrap();
    parent.abort();
    assert!(parent.await.unwrap_err().is_cancelled());

    let report = guard.check().await;
    assert_eq!(leaked_names(&report), ["orphan"]);
    let leak = &report.leaked()[0];
    assert_eq!(leak.task().parent(), Some(parent_id));
    assert!(leak.ancestors().is_empty());
    assert_eq!(leak.finished_ancestor(), Some(parent_id));
    assert!(report.to_string().contains("finished or aborted"));
}

#[tokio::test(start_paused = true)]
async fn fails_on_an_untracked_tokio_spawn() {
    let guard = LeakGuard::new();
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = rx.await;
    });
    let report = guard.check().await;
    assert!(report.leaked().is_empty());
    assert!(report.untracked_checked());
    assert_eq!(report.untracked(), 1);
    assert!(report.to_string().contains("1 untracked task"), "{report}");
    // What is known about it: its runtime, that a tracked spawn would name it, and
    // where the clippy recipe that bans plain spawns is.
    let here = tokio::runtime::Handle::current().id();
    assert_eq!(report.runtime(), here);
    let text = report.to_string();
    assert!(
        text.contains(&format!("1 untracked task on runtime {here} ")),
        "{text}"
    );
    assert!(text.contains("corral::spawn"), "{text}");
    assert!(text.contains("disallowed-methods"), "{text}");
    assert!(text.contains("Adopting corral across a codebase"), "{text}");
}

#[tokio::test]
async fn passes_for_a_clean_test() {
    let guard = LeakGuard::new();
    let handles: Vec<_> = (0..10u32)
        .map(|i| corral_task::spawn(async move { i * 2 }))
        .collect();
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap();
    }
    assert_eq!(sum, 90);
    tokio::spawn(async {}).await.unwrap();
    let report = guard.check().await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.attempts(), 1, "nothing to wait for");
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn passes_for_tasks_that_finish_within_the_grace_period() {
    let guard = LeakGuard::new();
    // A tracked task and an untracked one, both still sleeping when the check starts.
    corral_task::spawn(tokio::time::sleep(Duration::from_millis(100)));
    tokio::spawn(tokio::time::sleep(Duration::from_millis(150)));
    // An aborted task is dropped only when the runtime next gets to it.
    corral_task::spawn(pending::<()>()).abort();
    let report = guard.check().await;
    assert!(report.is_clean(), "{report}");
    assert!(report.attempts() > 1);
    assert!(report.waited() >= Duration::from_millis(150));
}

#[tokio::test]
async fn passes_for_a_task_that_ends_while_the_check_waits() {
    let guard = LeakGuard::new();
    let (latch, opened) = tokio::sync::oneshot::channel::<()>();
    corral_task::spawn(async move {
        let _ = opened.await;
    });
    let report = after_first_poll(guard.check(), || latch.send(()).unwrap()).await;
    assert!(report.is_clean(), "{report}");
    assert!(report.attempts() > 1, "it waited for the task: {report}");
}

#[tokio::test]
async fn tasks_alive_before_the_guard_are_baseline() {
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (_tx2, rx2) = tokio::sync::oneshot::channel::<()>();
    let before = Builder::new().name("server").spawn(async move {
        let _ = rx.await;
    });
    let untracked_before = tokio::spawn(async move {
        let _ = rx2.await;
    });
    let guard = LeakGuard::builder().budget(Duration::ZERO).build();
    let report = guard.check().await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.attempts(), 1);
    before.abort();
    untracked_before.abort();
}

/// The documented limit of the untracked baseline: plain tokio tasks are counted, not
/// identified, so a new untracked leak hides behind as many baseline tasks that
/// ended. Tracked tasks are compared by identity and never hide.
#[tokio::test(start_paused = true)]
async fn the_untracked_baseline_is_a_count_and_the_tracked_one_is_by_identity() {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let before: Vec<_> = (0..5)
        .map(|_| tokio::spawn(until_changed(&stop_rx)))
        .collect();
    let tracked_before = corral_task::spawn(until_changed(&stop_rx));
    let guard = LeakGuard::builder().budget(Duration::ZERO).build();
    stop_tx.send(()).unwrap();
    for h in before {
        h.await.unwrap();
    }
    tracked_before.await.unwrap();
    let (_keep, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = rx.await;
    });
    let (_keep2, rx2) = tokio::sync::oneshot::channel::<()>();
    Builder::new().name("new-tracked").spawn(async move {
        let _ = rx2.await;
    });
    let report = guard.check().await;
    assert_eq!(
        report.untracked(),
        0,
        "hidden by the five that ended: {report}"
    );
    assert_eq!(leaked_names(&report), ["new-tracked"], "{report}");
}

/// The line of the spawn in [`spawn_at_known_line`].
const KNOWN_LINE: u32 = line!() + 3;

fn spawn_at_known_line() {
    corral_task::spawn(pending::<()>());
}

#[tokio::test(start_paused = true)]
async fn ignore_rules_by_name_and_location() {
    let guard = LeakGuard::builder()
        .ignore_name("ignored-by-name")
        .ignore_location(&format!("{}:{}", file!(), KNOWN_LINE))
        .build();
    Builder::new()
        .name("ignored-by-name")
        .spawn(pending::<()>());
    spawn_at_known_line(); // ignored by location
    corral_task::spawn(pending::<()>()); // not ignored
    let report = guard.check().await;
    assert_eq!(report.ignored(), 2);
    assert_eq!(report.leaked().len(), 1);
    assert_ne!(report.leaked()[0].task().location().line(), KNOWN_LINE);

    let whole_file = LeakGuard::builder()
        .ignore_location("tests/guard.rs")
        .budget(Duration::ZERO)
        .build();
    corral_task::spawn(pending::<()>());
    let report = whole_file.check().await;
    assert!(report.leaked().is_empty(), "{report}");
}

/// A site copied from a report ("spawned at file:line:col") is a rule that matches
/// it; a rule matches whole path components only.
#[tokio::test(start_paused = true)]
async fn an_ignore_rule_copied_from_a_report_matches_and_partial_names_do_not() {
    let probe = LeakGuard::builder().budget(Duration::ZERO).build();
    spawn_at_known_line();
    let report = probe.check().await;
    let text = report.to_string();
    let site = text
        .split("spawned at ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("the report names the site")
        .to_owned();
    assert!(site.ends_with(&format!(":{KNOWN_LINE}:5")), "{site}");
    drop(probe);

    for (rule, ignored) in [
        (site.as_str(), true),
        ("guard.rs", true),
        ("tests/guard.rs", true),
        ("uard.rs", false),
        ("s/guard.rs", false),
        (&format!("tests/guard.rs:{KNOWN_LINE}:6"), false),
    ] {
        let guard = LeakGuard::builder()
            .budget(Duration::ZERO)
            .ignore_location(rule)
            .build();
        spawn_at_known_line();
        let report = guard.check().await;
        assert_eq!(report.ignored() == 1, ignored, "rule {rule:?}: {report}");
        assert_eq!(
            report.leaked().is_empty(),
            ignored,
            "rule {rule:?}: {report}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_busy_leak_with_a_paused_clock_still_ends() {
    let guard = LeakGuard::builder()
        .budget(Duration::from_millis(50))
        .build();
    // Always ready: a paused clock never auto-advances while this runs.
    Builder::new().name("spinner").spawn(async {
        loop {
            tokio::task::yield_now().await;
        }
    });
    let report = guard.check().await;
    assert_eq!(leaked_names(&report), ["spinner"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_from_a_spawned_task_does_not_count_that_task() {
    let guard = LeakGuard::new();
    let report = tokio::spawn(async move { guard.check().await })
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
    let guard = LeakGuard::new();
    let report = corral_task::spawn(async move { guard.check().await })
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn leaky_and_clean_tests_on_their_own_runtimes_in_parallel() {
    let run = |leak: bool| {
        std::thread::spawn(move || {
            let rt = multi_thread(2);
            rt.block_on(async move {
                let guard = LeakGuard::builder()
                    .budget(Duration::from_millis(50))
                    .build();
                for _ in 0..20 {
                    if leak {
                        Builder::new().name("leaky").spawn(pending::<()>());
                    } else {
                        corral_task::spawn(tokio::task::yield_now()).await.unwrap();
                    }
                }
                guard.check().await
            })
        })
    };
    let (a, b, c) = (run(true), run(false), run(true));
    let (a, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
    assert_eq!(a.leaked().len(), 20);
    assert!(b.is_clean(), "{b}");
    assert_eq!(c.leaked().len(), 20);
}

#[test]
fn leaky_and_clean_tests_sharing_one_runtime_see_their_own_trees() {
    let rt = Arc::new(multi_thread(2));
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let run = |leak: bool| {
        let (rt, barrier) = (rt.clone(), barrier.clone());
        std::thread::spawn(move || {
            rt.block_on(async move {
                let guard = LeakGuard::builder()
                    .budget(Duration::from_millis(50))
                    .build();
                barrier.wait(); // both guards exist before either spawns
                let parent = Builder::new().name("parent").spawn(async move {
                    if leak {
                        Builder::new().name("shared-leak").spawn(pending::<()>());
                    }
                });
                parent.await.unwrap();
                let report = guard.check().await;
                barrier.wait(); // both checks done while both guards are alive
                report
            })
        })
    };
    let (leaky, clean) = (run(true), run(false));
    let (leaky, clean) = (leaky.join().unwrap(), clean.join().unwrap());
    assert_eq!(leaked_names(&leaky), ["shared-leak"]);
    assert!(
        !leaky.untracked_checked(),
        "runtime-wide count cannot be split"
    );
    assert!(clean.is_clean(), "{clean}");
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<LeakGuard>();
    send_sync::<Report>();
    send_sync::<corral_leak::Leak>();
    send_sync::<corral_leak::Builder>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let guard = rt.block_on(async { LeakGuard::new() });
    send(&guard.check());
    send(&guard.assert_clean());
}

#[tokio::test(start_paused = true)]
async fn check_waits_while_a_task_is_alive_and_ends_when_it_finishes() {
    use tokio_test::assert_pending;

    let guard = LeakGuard::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let worker = corral_task::spawn(async move {
        let _ = rx.await;
    });
    let mut check = tokio_test::task::spawn(guard.check());
    // Scans, yields, scans: the worker is alive, so the check waits.
    for _ in 0..5 {
        assert_pending!(check.poll());
    }
    tx.send(()).unwrap();
    worker.await.unwrap();
    // The next backoff sleep ends; the rescan finds nothing.
    tokio::time::advance(Duration::from_millis(10)).await;
    assert!(check.is_woken(), "the backoff timer wakes the check");
    let mut report = None;
    for _ in 0..100 {
        if let std::task::Poll::Ready(r) = check.poll() {
            report = Some(r);
            break;
        }
        // A sleep, not `advance`: each wait also spends real time in a blocking
        // sleep, and tokio holds a paused clock while that runs.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let report = report.expect("the check ends once the worker is gone");
    assert!(report.is_clean(), "{report}");
    assert!(report.waited() < corral_leak::DEFAULT_BUDGET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_made_inside_tracked_tasks_on_one_runtime_see_their_own_trees() {
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let test = |leak: bool| {
        let barrier = barrier.clone();
        Builder::new().name("test-body").spawn(async move {
            let guard = LeakGuard::builder()
                .budget(Duration::from_millis(30))
                .build();
            barrier.wait().await; // both guards exist before either spawns
            let parent = Builder::new().name("parent").spawn(async move {
                if leak {
                    Builder::new().name("nested-leak").spawn(pending::<()>());
                }
            });
            parent.await.unwrap();
            let report = guard.check().await;
            barrier.wait().await; // both checks done while both guards are alive
            report
        })
    };
    let (leaky, clean) = (test(true), test(false));
    let (leaky, clean) = (leaky.await.unwrap(), clean.await.unwrap());
    assert_eq!(leaked_names(&leaky), ["nested-leak"]);
    assert!(clean.is_clean(), "{clean}");
}

#[tokio::test(start_paused = true)]
async fn two_guards_in_one_test_are_one_tree_not_a_shared_runtime() {
    // A guard per phase inside a test-wide guard (or a hand-made guard inside
    // `#[corral::test]`): same test, same tree, so neither narrows itself.
    let whole = LeakGuard::builder()
        .budget(Duration::from_millis(20))
        .build();
    let phase = LeakGuard::builder()
        .budget(Duration::from_millis(20))
        .build();
    let untracked = tokio::spawn(pending::<()>());
    let report = phase.check().await;
    assert!(report.untracked_checked(), "{report}");
    assert_eq!(report.untracked(), 1, "{report}");
    untracked.abort();
    let _ = untracked.await;

    let tracked = Builder::new().name("after-phase").spawn(pending::<()>());
    let report = whole.check().await;
    assert_eq!(leaked_names(&report), ["after-phase"], "{report}");
    tracked.abort();
    let _ = tracked.await;
    drop(phase);
    whole.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sibling_guards_inside_a_guarded_test_still_see_their_own_trees() {
    // Two sub-tests inside one guarded test share its runtime: each is part of the
    // outer guard's tree, but not of the other's.
    let outer = LeakGuard::builder()
        .budget(Duration::from_millis(30))
        .build();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let test = |leak: bool| {
        let barrier = barrier.clone();
        Builder::new().name("sub-test").spawn(async move {
            let guard = LeakGuard::builder()
                .budget(Duration::from_millis(30))
                .build();
            barrier.wait().await;
            let leaked = leak.then(|| Builder::new().name("sub-leak").spawn(pending::<()>()));
            let report = guard.check().await;
            barrier.wait().await;
            (report, leaked)
        })
    };
    let (leaky, clean) = (test(true), test(false));
    let ((leaky, leaked), (clean, _)) = (leaky.await.unwrap(), clean.await.unwrap());
    assert_eq!(leaked_names(&leaky), ["sub-leak"]);
    assert!(clean.is_clean(), "{clean}");
    let report = outer.check().await;
    assert_eq!(leaked_names(&report), ["sub-leak"], "{report}");
    let leaked = leaked.unwrap();
    leaked.abort();
    let _ = leaked.await;
    outer.assert_clean().await;
}

#[test]
fn a_guard_made_in_a_plain_task_on_a_shared_runtime_says_it_could_not_narrow() {
    // Tests whose bodies run as plain tokio tasks on one runtime: such a guard has no
    // task tree of its own, so it cannot tell its tasks from the other test's. The
    // report must say so, not claim it checked only its own tree.
    let rt = multi_thread(2);
    let message = rt.block_on(async {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let b = barrier.clone();
        let other_test = tokio::spawn(async move {
            let _guard = LeakGuard::new();
            b.wait().await; // both guards exist
            let leak = Builder::new().name("other-test").spawn(pending::<()>());
            b.wait().await; // spawned before the check
            b.wait().await; // checked
            leak.abort();
        });
        let this_test = tokio::spawn(async move {
            let guard = LeakGuard::builder().budget(Duration::ZERO).build();
            barrier.wait().await;
            barrier.wait().await;
            let report = guard.check().await;
            barrier.wait().await;
            report
        });
        let report = this_test.await.unwrap();
        other_test.await.unwrap();
        report.to_string()
    });
    assert!(message.contains("other-test"), "{message}");
    assert!(
        !message.contains("only this guard's task tree was checked"),
        "{message}"
    );
    assert!(message.contains("plain tokio task"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn with_paused_time_a_task_waiting_on_a_real_thread_gets_its_grace_period() {
    // The task waits on work done in real time (a corral blocking job): a paused
    // clock must not spend the whole grace period before that work can finish.
    let guard = LeakGuard::builder().blocking_threads(false).build();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let (latch, opened) = std::sync::mpsc::channel::<()>();
    // A tracked task awaiting a blocking job: both alive until the job, on a real
    // thread, ends (the job is in the registry too while the guard lives).
    let _waiter = corral_task::spawn(corral_blocking::spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let _ = opened.recv();
    }));
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    // Opened only once the check is waiting: the job then ends on the real clock.
    let report = after_first_poll(guard.check(), || latch.send(()).unwrap()).await;
    assert!(report.is_clean(), "{report}");
}

/// A `corral_blocking::spawn_blocking` job still running at the check is a leak, with
/// its name and the line that spawned it, on a multi-thread runtime; once it returns
/// the guard is clean again. (A job that found a free slot used to be a bare tokio
/// blocking task, which no guard counts.) Its registry entry is not a tokio task, so
/// it does not hide a plain task leaking next to it from the untracked count.
#[test]
fn a_spawn_blocking_job_still_running_is_reported() {
    let rt = multi_thread(2);
    rt.block_on(async {
        let guard = LeakGuard::builder().budget(Duration::ZERO).build();
        let latch = corral_test_support::Latch::new();
        let _open = corral_test_support::OpenOnDrop(latch.clone());
        let job = corral_blocking::spawn_blocking({
            let latch = latch.clone();
            move || latch.wait()
        });
        let plain = tokio::spawn(pending::<()>());
        let report = guard.check().await;
        assert_eq!(
            leaked_names(&report),
            [corral_blocking::SPAWN_BLOCKING_NAME],
            "{report}"
        );
        assert!(
            report.leaked()[0]
                .task()
                .location()
                .file()
                .ends_with("guard.rs"),
            "{report}"
        );
        assert_eq!(report.untracked(), 1, "{report}");
        plain.abort();
        let _ = plain.await;
        latch.open();
        job.await.unwrap();
        guard.assert_clean().await;
    });
}
