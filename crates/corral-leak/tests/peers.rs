//! goleak's own tests (github.com/uber-go/goleak: `leaks_test.go`, `options_test.go`,
//! `signal_test.go`, `internal/stack/stacks_test.go`), ported to the guard and the
//! registry it reads.
//!
//! The mapping: goleak's `Find(opts)` is [`LeakGuard::check`] (a [`Report`] instead of
//! an error), `VerifyNone(t)` is [`LeakGuard::assert_clean`] (a panic instead of
//! `t.Error`), the short `maxSleep` of goleak's `testOptions()` is a budget of zero,
//! `IgnoreCurrent()` is the guard's baseline (what was alive when it was built), and
//! goleak's `startBlockedG` helper is [`start_blocked`]: a task named `"blocked"`,
//! spawned by a task named `"start-blocked"` that has returned by the time anyone
//! looks, parked until the test releases it.
//!
//! Most cases run on a current-thread and on a multi-thread runtime (`both_flavors!`
//! at the end); the one that can race runs in seeded rounds on a multi-thread runtime.
//! Every test runs beside the others in one process (cargo's default), each on its
//! own runtime, so none may see another's tasks.
//!
//! Deliberate differences from goleak, asserted as corral documents them:
//! - corral has no stacks: a rule sees a task's name, its spawn site and its
//!   creators, never the function it is running now, so goleak's
//!   `IgnoreAnyFunction("...(*blockedG).run")` has no equivalent, and
//!   `IgnoreTopFunction` maps to a rule on the name or the spawn site.
//! - `ignore_created_by_*` hides the named task itself too, and its descendants at
//!   any depth, where goleak's `IgnoreCreatedBy` hides direct children only.
//! - The baseline of plain `tokio::spawn` tasks is a count, not identities: goleak's
//!   "Should not ignore false positive" holds for tracked tasks only (see
//!   `LeakGuard`, "Untracked tasks are a count").
//! - There is no `VerifyTestMain` (a check after the whole test binary) and no
//!   `Cleanup` option: a guard is per test (`#[corral::test]`).

use std::sync::{Arc, Barrier};
use std::time::Duration;

use corral_leak::{LeakGuard, Report};
use corral_task::Builder;
use corral_test_support::{multi_thread, Latch, OpenOnDrop, Rng};
use tokio::sync::oneshot;

mod support;
use support::{after_first_poll, assert_clean_message, until_changed};

/// goleak's `startBlockedG`: spawns `"start-blocked"`, which spawns `"blocked"` and
/// returns; waits until `"blocked"` runs. `"blocked"` stays parked until the
/// returned latch opens (on drop, too, so a failing test releases it). Returns the
/// latch and the lines of the two spawns.
async fn start_blocked() -> (OpenOnDrop, u32, u32) {
    let release = Latch::new();
    let (started_tx, started_rx) = oneshot::channel();
    let r = release.clone();
    let starter = Builder::new().name("start-blocked");
    let parent_line = line!() + 1;
    let child_line = starter.spawn(async move {
        let blocked = Builder::new().name("blocked");
        let line = line!() + 1;
        blocked.spawn(async move {
            let _ = started_tx.send(());
            r.opened().await;
        });
        line
    });
    let child_line = child_line.await.unwrap();
    started_rx.await.unwrap();
    (OpenOnDrop(release), parent_line, child_line)
}

fn names(report: &Report) -> Vec<&str> {
    let mut names: Vec<_> = report
        .leaked()
        .iter()
        .map(|l| l.task().name().unwrap_or("-"))
        .collect();
    names.sort_unstable();
    names
}

fn immediate() -> LeakGuard {
    LeakGuard::builder().budget(Duration::ZERO).build()
}

/// Two guards with one baseline, as goleak calls `Find` with and without its short
/// `testOptions()`: one that scans once, one that waits. (The second is made inside
/// the first's tree, so they are one test, not two sharing a runtime.)
fn now_and_patient() -> (LeakGuard, LeakGuard) {
    let now = immediate();
    let patient = LeakGuard::builder().budget(GENEROUS).build();
    (now, patient)
}

/// A budget no check here comes near unless it is broken: a clean check returns at
/// its first clean scan, so this only bounds a hang.
const GENEROUS: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------
// leaks_test.go

/// Port of `TestFind` "Should find no leaks by default" and `TestVerifyNone`'s first
/// check: a test that spawned nothing, and one whose tasks (tracked and plain) all
/// ended, are clean; the first at the first scan.
async fn find_no_leaks_by_default() {
    let guard = immediate();
    let report = guard.check().await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.attempts(), 1);
    guard.assert_clean().await;

    let guard = LeakGuard::new();
    corral_task::spawn(async {}).await.unwrap();
    tokio::spawn(async {}).await.unwrap();
    Builder::new()
        .name("parent")
        .spawn(async { corral_task::spawn(async {}).await.unwrap() })
        .await
        .unwrap();
    guard.assert_clean().await;
}

/// Port of `TestFind` "Find leaks with leaked goroutine": the report names the
/// blocked task and its creator (goleak: "blockedG", "created by
/// ...startBlockedG"), with the spawn sites; once released, the same guard is clean.
async fn find_leaks_with_a_leaked_blocked_task() {
    let (guard, patient) = now_and_patient();
    let (release, parent_line, child_line) = start_blocked().await;
    let report = guard.check().await;
    assert!(!report.is_clean());
    assert_eq!(names(&report), ["blocked"]);
    let leak = &report.leaked()[0];
    assert_eq!(leak.task().location().file(), file!());
    assert_eq!(leak.task().location().line(), child_line);
    let creator = leak.task().creator().expect("its creator");
    assert_eq!(creator.name(), Some("start-blocked"));
    assert_eq!(creator.location().line(), parent_line);
    let text = report.to_string();
    for needle in [
        "1 leaked task".to_owned(),
        "\"blocked\"".to_owned(),
        format!("spawned at {}:{child_line}:", file!()),
        format!("\"start-blocked\" at {}:{parent_line}:", file!()),
        "finished or aborted".to_owned(),
    ] {
        assert!(text.contains(&needle), "{needle:?} not in {text}");
    }

    drop(release);
    patient.assert_clean().await;
    drop((patient, guard));
}

/// Port of `TestFindRetry`: a check with no budget finds the blocked task; a check
/// with a budget, during which the task is released (after the check's first scan
/// saw it), retries and comes back clean.
async fn find_retries_while_a_task_ends() {
    let (now, guard) = now_and_patient();
    let (release, ..) = start_blocked().await;
    let report = now.check().await;
    assert_eq!(names(&report), ["blocked"]);
    let report = after_first_poll(guard.check(), move || drop(release)).await;
    assert!(report.is_clean(), "{report}");
    assert!(report.attempts() > 1, "it retried: {report}");
}

/// Port of `TestVerifyNone` "VerifyNone finds leaks" (goleak's fake `t` collects the
/// errors; here `assert_clean` panics and the test reads the panic): clean first,
/// then a failure naming the blocked task.
async fn verify_none_fails_on_a_leak() {
    let guard = immediate();
    assert_eq!(assert_clean_message(guard).await, None);
    let guard = immediate();
    let (_release, _, child_line) = start_blocked().await;
    let message = assert_clean_message(guard).await.expect("it fails");
    assert!(
        message.starts_with("leak check failed: 1 leaked task"),
        "{message}"
    );
    assert!(
        message.contains(&format!("\"blocked\" spawned at {}:{child_line}:", file!())),
        "{message}"
    );
    assert!(
        message.contains("(leak check by assert_clean at"),
        "{message}"
    );
}

/// Port of `TestIgnoreCurrent` "Should ignore current": a task alive before the guard
/// (goleak: before `IgnoreCurrent()`) is not a leak, tracked or plain.
async fn ignore_current_ignores_what_was_alive() {
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let tracked = corral_task::spawn(until_changed(&done_rx));
    let plain = tokio::spawn(until_changed(&done_rx));
    let guard = immediate();
    let report = guard.check().await;
    assert!(report.is_clean(), "{report}");
    done_tx.send(()).unwrap();
    tracked.await.unwrap();
    plain.await.unwrap();
}

/// Port of `TestIgnoreCurrent` "Should detect new leaks": a guard made before a task
/// reports it; one made after it (IgnoreCurrent) does not, but reports the next one.
async fn ignore_current_still_detects_new_leaks() {
    let (before, patient) = now_and_patient();
    assert!(before.check().await.is_clean());
    let (done1, rx1) = oneshot::channel::<()>();
    Builder::new().name("first").spawn(async move {
        let _ = rx1.await;
    });
    assert_eq!(names(&before.check().await), ["first"]);

    let after = immediate();
    assert!(after.check().await.is_clean());
    let (done2, rx2) = oneshot::channel::<()>();
    Builder::new().name("second").spawn(async move {
        let _ = rx2.await;
    });
    assert_eq!(names(&after.check().await), ["second"]);
    assert_eq!(names(&before.check().await), ["first", "second"]);
    drop((done1, done2));
    patient.assert_clean().await;
    drop((after, patient, before));
}

/// Port of `TestIgnoreCurrent` "Should not ignore false positive": five tasks alive
/// at the guard's creation end; each new task after that is still a leak (the
/// baseline holds identities, so the ended five hide nothing). Tracked tasks only: the
/// untracked baseline is a documented count.
async fn ignore_current_is_by_identity_not_count() {
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let before: Vec<_> = (0..5)
        .map(|_| corral_task::spawn(until_changed(&done_rx)))
        .collect();
    let (guard, patient) = now_and_patient();
    done_tx.send(()).unwrap();
    for h in before {
        h.await.unwrap();
    }
    for i in 0..5 {
        let (ch, rx) = oneshot::channel::<()>();
        let name = format!("new-{i}");
        Builder::new().name(name.clone()).spawn(async move {
            let _ = rx.await;
        });
        assert_eq!(names(&guard.check().await), [name.as_str()], "round {i}");
        drop(ch);
        patient.assert_clean().await;
    }
    drop((patient, guard));
}

/// The same goleak case for plain `tokio::spawn` tasks, as corral documents it
/// (`LeakGuard`, "Untracked tasks are a count"): on a runtime of its own (what
/// `#[corral::test]` gives a test) a new plain task is reported; where plain tasks
/// alive at the guard's creation ended, a new one hides behind them, and so it does
/// behind a live tracked future of the baseline that a `LocalSet` runs.
async fn ignore_current_for_plain_tasks_is_a_count() {
    let guard = immediate();
    let (_keep, rx) = oneshot::channel::<()>();
    let leak = tokio::spawn(async move {
        let _ = rx.await;
    });
    assert_eq!(guard.check().await.untracked(), 1);
    leak.abort();
    let _ = leak.await;

    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let before: Vec<_> = (0..5)
        .map(|_| tokio::spawn(until_changed(&done_rx)))
        .collect();
    let guard = LeakGuard::builder().budget(GENEROUS).build();
    done_tx.send(()).unwrap();
    for h in before {
        h.await.unwrap();
    }
    let (_keep, rx) = oneshot::channel::<()>();
    let leak = tokio::spawn(async move {
        let _ = rx.await;
    });
    let report = guard.check().await;
    assert!(report.is_clean(), "hidden by the five that ended: {report}");
    leak.abort();
    let _ = leak.await;

    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let (_keep, rx) = oneshot::channel::<()>();
            let served = Builder::new().name("local").track(async move {
                let _ = rx.await;
            });
            tokio::task::spawn_local(served);
            tokio::task::yield_now().await;
            let guard = immediate();
            let (_keep2, rx2) = oneshot::channel::<()>();
            let leak = tokio::spawn(async move {
                let _ = rx2.await;
            });
            let report = guard.check().await;
            assert!(report.is_clean(), "hidden by the local one: {report}");
            leak.abort();
            let _ = leak.await;
        })
        .await;
}

// ---------------------------------------------------------------------------------
// options_test.go

/// Port of `TestOptionsFilters`: with no rule the blocked task is the one leak; a
/// rule on its own name or spawn site (goleak: `IgnoreTopFunction` of its function)
/// hides it; a rule on its creator's name (goleak: `IgnoreAnyFunction` of
/// `startBlockedG`, which is the "created by" and not in the stack) does not.
async fn options_filters() {
    // Each rule judges a blocked task started after its guard; the lines are the same
    // for every one.
    let (release, parent_line, child_line) = start_blocked().await;
    drop(release);
    let site = format!("tests/peers.rs:{child_line}");
    let parent_site = format!("tests/peers.rs:{parent_line}");
    let cases: [(&str, Rule, &str, usize); 7] = [
        ("no rule", |b, _| b, "", 1),
        ("its name", |b, _| b.ignore_name("blocked"), "", 0),
        (
            "its spawn site",
            |b, site| b.ignore_location(site),
            &site,
            0,
        ),
        ("its file", |b, _| b.ignore_location("peers.rs"), "", 0),
        (
            "its creator's name",
            |b, _| b.ignore_name("start-blocked"),
            "",
            1,
        ),
        (
            "its creator's site",
            |b, site| b.ignore_location(site),
            &parent_site,
            1,
        ),
        (
            "another line of its file",
            |b, _| b.ignore_location("tests/peers.rs:1"),
            "",
            1,
        ),
    ];
    for (what, rule, site, leaks) in cases {
        let report = judge_blocked(rule, site).await;
        assert_eq!(report.leaked().len(), leaks, "rule on {what}: {report}");
        assert_eq!(report.ignored(), 1 - leaks, "rule on {what}: {report}");
    }
}

/// Adds one ignore rule (given the blocked task's spawn site) to a builder.
type Rule = fn(corral_leak::Builder, &str) -> corral_leak::Builder;

/// Builds a guard with `rule` (given `site`), starts a fresh blocked task, checks
/// once, releases.
async fn judge_blocked(rule: Rule, site: &str) -> Report {
    let guard = rule(LeakGuard::builder().budget(Duration::ZERO), site).build();
    let (release, ..) = start_blocked().await;
    let report = guard.check().await;
    drop(release);
    report
}

/// Port of `TestOptionsIgnoreCreatedBy`: a rule on the creator (by name or spawn
/// site) hides what it created, here after the creator itself has returned.
/// Difference: corral's rule also hides the creator and deeper descendants; a
/// task created elsewhere stays a leak.
async fn options_ignore_created_by() {
    let (release, parent_line, _) = start_blocked().await;
    drop(release);
    let parent_site = format!("{}:{parent_line}", file!());
    let cases: [(&str, Rule, &str, usize); 4] = [
        (
            "creator's name",
            |b, _| b.ignore_created_by_name("start-blocked"),
            "",
            0,
        ),
        (
            "creator's site",
            |b, site| b.ignore_created_by_location(site),
            &parent_site,
            0,
        ),
        (
            "its own name",
            |b, _| b.ignore_created_by_name("blocked"),
            "",
            0,
        ),
        (
            "an unrelated creator",
            |b, _| b.ignore_created_by_name("acceptor"),
            "",
            1,
        ),
    ];
    for (what, rule, site, leaks) in cases {
        let report = judge_blocked(rule, site).await;
        assert_eq!(report.leaked().len(), leaks, "rule on {what}: {report}");
    }
    // A task the rule's creator did not create is still reported beside an ignored one.
    let guard = LeakGuard::builder()
        .budget(Duration::ZERO)
        .ignore_created_by_name("start-blocked")
        .build();
    let (_release2, ..) = start_blocked().await;
    let (_stop, rx) = oneshot::channel::<()>();
    Builder::new().name("bystander").spawn(async move {
        let _ = rx.await;
    });
    let report = guard.check().await;
    assert_eq!(names(&report), ["bystander"], "{report}");
    assert_eq!(report.ignored(), 1, "{report}");
}

/// Port of `TestOptionsRetry`: the retries are bounded by the budget. A leak is
/// reported after the budget has passed (goleak: after its retries), having scanned
/// more than once; with no budget, after exactly one scan.
async fn options_retry_is_bounded_by_the_budget() {
    let guard = immediate();
    let (_release, ..) = start_blocked().await;
    let report = guard.check().await;
    assert_eq!(names(&report), ["blocked"]);
    assert_eq!(report.attempts(), 1);
    let budget = Duration::from_millis(20);
    let guard = LeakGuard::builder().budget(budget).build();
    let (_release, ..) = start_blocked().await;
    let report = guard.check().await;
    assert_eq!(names(&report), ["blocked"]);
    assert!(report.attempts() > 1, "{report}");
    assert!(report.waited() >= budget, "{report}");
}

/// The same with paused time (current-thread only): the wait is exactly the budget
/// on the runtime's clock, never more ("a leaked timer is not skipped past").
#[tokio::test(start_paused = true)]
async fn options_retry_is_bounded_by_the_budget_in_paused_time() {
    let budget = Duration::from_millis(20);
    let guard = LeakGuard::builder().budget(budget).build();
    let (_release, ..) = start_blocked().await;
    let start = tokio::time::Instant::now();
    let report = guard.check().await;
    assert_eq!(names(&report), ["blocked"]);
    assert!(report.attempts() > 1, "{report}");
    assert!(report.waited() <= budget, "{report}");
    assert!(start.elapsed() <= budget, "{report}");
}

// ---------------------------------------------------------------------------------
// signal_test.go

/// Port of `TestNoLeaks` (signal_test.go): the runtime's own machinery (a signal
/// listener, the blocking pool, timers, a socket) is not a leak.
async fn runtime_machinery_is_not_a_leak() {
    let guard = immediate();
    let signals =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined2()).unwrap();
    tokio::task::spawn_blocking(|| ()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let report = guard.check().await;
    assert!(report.is_clean(), "{report}");
    drop((signals, listener));
    let report = guard.check().await;
    assert!(report.is_clean(), "{report}");
}

// ---------------------------------------------------------------------------------
// internal/stack/stacks_test.go: the registry the guard reads

/// Port of `TestAll`: five tasks waiting on one signal are all listed, each with
/// its spawn site; the test body itself is not a task.
async fn all_lists_every_waiting_task() {
    let done = OpenOnDrop(Latch::new());
    let waiter = Builder::new().name("wait-for-done");
    let line = line!() + 4;
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let done = done.0.clone();
            waiter.clone().spawn(async move { done.opened().await })
        })
        .collect();
    assert_eq!(corral_task::current(), None);
    let snap = corral_task::snapshot().for_current_runtime();
    let waiting: Vec<_> = snap
        .iter()
        .filter(|t| t.name() == Some("wait-for-done"))
        .collect();
    assert_eq!(waiting.len(), 5);
    for t in waiting {
        assert_eq!((t.location().file(), t.location().line()), (file!(), line));
        assert_eq!(t.parent(), None);
        assert!(t.creator().is_none());
    }
    assert_eq!(snap.len(), 5, "nothing else on this runtime");
    drop(done);
    for h in handles {
        h.await.unwrap();
    }
}

/// Port of `TestCurrent`: inside a task, `current()` names it, and its entry has
/// the spawn site in this file.
async fn current_names_the_running_task() {
    let me = Builder::new().name("me");
    let line = line!() + 1;
    let handle = me.spawn(async {
        let me = corral_task::current().expect("inside a tracked task");
        let snap = corral_task::snapshot();
        let entry = snap
            .get(me)
            .map(|t| (t.name().map(str::to_owned), t.location().line()));
        (me, entry)
    });
    let (id, entry) = handle.await.unwrap();
    assert_eq!(entry, Some((Some("me".to_owned()), line)));
    assert!(
        corral_task::snapshot().get(id).is_none(),
        "gone after the join"
    );
}

/// Port of `TestCurrentCreatedBy`: a task spawned by the test body has no creator
/// (goleak: the test function is not in the goroutine's stack), and one spawned
/// inside a task has that task as its creator (goleak: `TestCurrentCreatedBy.func1`
/// is).
async fn current_created_by() {
    let (direct, nested) = Builder::new()
        .name("func1")
        .spawn(async {
            let nested = corral_task::spawn(async {
                let snap = corral_task::snapshot();
                let me = snap.get(corral_task::current().unwrap()).unwrap();
                me.creator().map(|c| c.name().map(str::to_owned))
            })
            .await
            .unwrap();
            let snap = corral_task::snapshot();
            let me = snap.get(corral_task::current().unwrap()).unwrap();
            (me.creator().is_some(), nested)
        })
        .await
        .unwrap();
    assert!(!direct, "spawned by the test body, not a task");
    assert_eq!(nested, Some(Some("func1".to_owned())));
}

/// Port of `TestAllLargeStack`: 101 tasks parked 101 calls deep are all listed (a
/// task's depth costs a snapshot nothing: entries are per task, not per frame).
async fn all_with_deep_tasks() {
    fn deep(
        n: u32,
        done: Latch,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            if n == 0 {
                done.opened().await
            } else {
                deep(n - 1, done).await
            }
        })
    }
    let done = OpenOnDrop(Latch::new());
    let guard = immediate();
    let handles: Vec<_> = (0..101)
        .map(|_| Builder::new().name("deep").spawn(deep(101, done.0.clone())))
        .collect();
    let report = guard.check().await;
    assert_eq!(report.leaked().len(), 101);
    drop(done);
    for h in handles {
        h.await.unwrap();
    }
}

// ---------------------------------------------------------------------------------
// TestVerifyParallel, and the same under load: guards of tests running at once.

/// Port of `TestVerifyParallel`, in seeded rounds: "tests" run at once on their own
/// threads and runtimes (both flavors), some leaking a blocked task, some not; a
/// leaky one reports exactly its own task, a clean one is clean.
#[test]
fn verify_parallel_on_own_runtimes() {
    let mut rng = Rng(0x90_1ea5);
    for round in 0..40 {
        let plan: Vec<(bool, bool)> = (0..4)
            .map(|_| (rng.below(2) == 0, rng.below(2) == 0))
            .collect();
        let barrier = Arc::new(Barrier::new(plan.len()));
        let threads: Vec<_> = plan
            .iter()
            .map(|&(leak, mt)| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let rt = if mt {
                        multi_thread(2)
                    } else {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .unwrap()
                    };
                    rt.block_on(async move {
                        let guard = LeakGuard::builder()
                            .budget(if leak { Duration::ZERO } else { GENEROUS })
                            .build();
                        barrier.wait();
                        let (release, ..) = start_blocked().await;
                        if !leak {
                            drop(release);
                            corral_task::spawn(async {}).await.unwrap();
                            (guard.check().await, None)
                        } else {
                            (guard.check().await, Some(release))
                        }
                    })
                    .0
                })
            })
            .collect();
        for ((leak, mt), t) in plan.into_iter().zip(threads) {
            let report = t.join().unwrap();
            if leak {
                assert_eq!(
                    names(&report),
                    ["blocked"],
                    "round {round} (mt: {mt}): {report}"
                );
            } else {
                assert!(report.is_clean(), "round {round} (mt: {mt}): {report}");
            }
        }
    }
}

/// `TestFindRetry` in seeded rounds on a multi-thread runtime: the release races
/// the check's rescans from another worker, and the check is clean every time.
#[test]
fn find_retry_rounds_on_a_multi_thread_runtime() {
    let rt = multi_thread(2);
    rt.block_on(async {
        let mut rng = Rng(0xf1d);
        for round in 0..1_000 {
            let guard = LeakGuard::builder().budget(GENEROUS).build();
            let (release, ..) = start_blocked().await;
            let from_thread = rng.below(2) == 0;
            let report = after_first_poll(guard.check(), move || {
                if from_thread {
                    std::thread::spawn(move || drop(release));
                } else {
                    drop(release);
                }
            })
            .await;
            assert!(report.is_clean(), "round {round}: {report}");
        }
    });
}

macro_rules! both_flavors {
    ($($case:ident),* $(,)?) => {
        mod current_thread {
            $( #[tokio::test(flavor = "current_thread")] async fn $case() { crate::$case().await } )*
        }
        mod multi_thread {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() { crate::$case().await } )*
        }
    };
}

both_flavors!(
    find_no_leaks_by_default,
    find_leaks_with_a_leaked_blocked_task,
    find_retries_while_a_task_ends,
    verify_none_fails_on_a_leak,
    ignore_current_ignores_what_was_alive,
    ignore_current_still_detects_new_leaks,
    ignore_current_is_by_identity_not_count,
    ignore_current_for_plain_tasks_is_a_count,
    options_filters,
    options_ignore_created_by,
    options_retry_is_bounded_by_the_budget,
    runtime_machinery_is_not_a_leak,
    all_lists_every_waiting_task,
    current_names_the_running_task,
    current_created_by,
    all_with_deep_tasks,
);
