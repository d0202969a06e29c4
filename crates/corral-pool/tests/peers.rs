//! pond's own tests (github.com/alitto/pond v2: `pool_test.go`, `group_test.go`,
//! `result_test.go`), ported to corral's API as a pond user would map them: the
//! blocking `Submit` is `submit`, `TrySubmit` / `WithNonBlocking` is `try_submit`,
//! `StopAndWait` is `drain`, a cancelled pool context is `shutdown_now`, `Resize` is
//! `resize`, a task group is its members' job handles (a member that cancels the group
//! aborts the others' handles), and the metrics map as `SubmittedTasks` = `submitted`,
//! `WaitingTasks` = `queued`, `RunningWorkers` = `running`, `DroppedTasks` =
//! `rejected`. ants' tests are in `peers_ants.rs`, the JDK's in `peers_jdk.rs`.
//!
//! Every case runs on a current-thread and a multi-thread runtime; the race-prone ones
//! run seeded rounds on the multi-thread one. Where corral's documented contract
//! differs from the peer's on purpose, the test asserts corral's and says so.

// Submitter tasks return the job handle they got: a future resolving to a future is
// the point there.
#![allow(clippy::async_yields_async)]
mod common;
#[path = "common/harness.rs"]
mod harness;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use common::{gated, pool, ready, BoxJobU32, Probe, TestPool};
use corral_pool::{
    BoxJob, BuildError, Builder, JobHandle, Pool, ResizeError, SubmitError, TrySubmitError,
    MAX_WORKERS,
};
use corral_test_support::{eventually, Latch, Rng};
use harness::{
    already_passed, assert_accounted, assert_consistent, hang_guard, held, job, quiet_peer_panics,
    seeded, Started,
};

harness::on_both_runtimes!(
    pond_submit,
    pond_submit_and_wait,
    pond_submit_with_panic,
    pond_error_results_and_metrics,
    pond_pool_cancelled_with_queued_tasks,
    pond_submit_on_stopped_pool,
    pond_invalid_max_concurrency,
    pond_pool_stopped_from_inside_a_task,
    pond_queue_size,
    pond_queue_size_non_blocking,
    pond_queue_size_zero,
    pond_resize,
    pond_queue_size_one,
    pond_submit_while_stopping,
    pond_submit_while_stopping_has_no_race,
    pond_try_submit,
    pond_task_exits_abnormally,
    pond_group_wait,
    pond_group_member_error_skips_remaining,
    pond_group_cancelled_with_ongoing_tasks,
    pond_group_waiting_tasks,
    pond_group_context,
    pond_stop_and_wait_from_inside_a_task,
);

// ---------------------------------------------------------------------------------
// pond: pool_test.go and result_test.go
// ---------------------------------------------------------------------------------

/// pond `TestPoolSubmit`: 1,000 tasks through a blocking submit on a pool of 100 all
/// run before `StopAndWait` (here `drain`) returns.
async fn pond_submit() {
    let pool = pool(100, 100);
    let executed = Arc::new(AtomicU32::new(0));
    for _ in 0..1_000 {
        let executed = Arc::clone(&executed);
        let handle = pool
            .submit(job(async move {
                tokio::task::yield_now().await;
                executed.fetch_add(1, Ordering::SeqCst);
                0
            }))
            .await
            .expect("open");
        drop(handle); // detached: the job still runs
    }
    pool.drain(hang_guard()).await.expect("drained");
    assert_eq!(executed.load(Ordering::SeqCst), 1_000);
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.workers), (1_000, 1_000, 0));
    assert_accounted(&m);
}

/// pond `TestPoolSubmitAndWait` / `TestResultPoolSubmitAndWait`: the task's handle
/// resolves once it ran, to its output.
async fn pond_submit_and_wait() {
    let pool: Pool<BoxJob<u32>> = Builder::new().workers(100).build().expect("valid");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = pool
        .submit(job(async move {
            tx.send(10).expect("receiver alive");
            5
        }))
        .await
        .expect("open");
    assert_eq!(task.await.expect("ran"), 5);
    assert_eq!(rx.await.expect("sent"), 10);
}

/// pond `TestPoolSubmitWithPanic` / `TestResultPoolSubmitTaskWithPanic`: a panic is an
/// error for the task's waiter that carries the panic (pond wraps it in `ErrPanic`;
/// here `JobError::Panicked` with the payload), and the pool goes on.
async fn pond_submit_with_panic() {
    quiet_peer_panics();
    let pool = pool(1, 1);
    let task = pool
        .submit(job(async { std::panic::panic_any("peer: sample error") }))
        .await
        .expect("open");
    let err = task.await.expect_err("panicked");
    assert!(err.is_panic());
    assert_eq!(err.to_string(), "job panicked: peer: sample error");
    let payload = err.try_into_panic().expect("a panic");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"peer: sample error"));
    // The only worker lives on.
    assert_eq!(
        pool.submit(ready(7))
            .await
            .expect("open")
            .await
            .expect("ran"),
        7
    );
    let m = pool.metrics();
    assert_eq!(
        (m.submitted, m.completed, m.failed, m.workers),
        (2, 1, 1, 1)
    );
    assert_accounted(&m);
}

/// pond `TestPoolSubmitWithErr`, `TestPoolMetrics`, `TestResultPoolMetrics` and
/// `TestTaskGroupMetrics`: half of 2,000 tasks return an error, all of them run, and
/// the counters add up. Deliberate difference: pond counts a task that returns an
/// error as failed; corral's `failed` counts panics only (`Metrics::failed`: "jobs
/// that panicked"), and a job's `Result` output is its own business, so here all 2,000
/// are `completed` and the errors come back through the handles.
async fn pond_error_results_and_metrics() {
    let pool: Pool<BoxJob<Result<u32, String>>> = Builder::new()
        .workers(100)
        .queue_capacity(100)
        .build()
        .expect("valid");
    let m = pool.metrics();
    assert_eq!(
        (m.running, m.submitted, m.completed, m.failed),
        (0, 0, 0, 0)
    );
    assert_eq!((m.queued, m.rejected, m.workers), (0, 0, 100));
    let mut handles = Vec::new();
    for n in 0..2_000u32 {
        handles.push(
            pool.submit(job(async move {
                if n % 2 == 0 {
                    Ok(n)
                } else {
                    Err(format!("sample error {n}"))
                }
            }))
            .await
            .expect("open"),
        );
    }
    pool.drain(hang_guard()).await.expect("drained");
    let mut errors = 0;
    for (n, h) in handles.into_iter().enumerate() {
        match h.await.expect("ran") {
            Ok(out) => assert_eq!(out as usize, n),
            Err(e) => {
                assert_eq!(e, format!("sample error {n}"));
                errors += 1;
            }
        }
    }
    assert_eq!(errors, 1_000);
    let m = pool.metrics();
    assert_eq!(
        (m.submitted, m.completed, m.failed, m.rejected),
        (2_000, 2_000, 0, 0)
    );
    assert_accounted(&m);
}

/// pond `TestPoolStopAndWaitShouldNotDeadlockWhenContextCanceledWithQueuedTasks`,
/// `TestPoolWithContextCanceled` and
/// `TestTaskGroupWaitShouldNotDeadlockWhenPoolContextCanceledWithQueuedTasks`:
/// cancelling the pool (here `shutdown_now`) while one task runs and one waits does not
/// leave `StopAndWait` (`drain`) hanging, and nothing is lost. Deliberate difference:
/// pond lets the running task finish and counts the queued one cancelled; corral's
/// `shutdown_now` cancels the running job (dropped at its next wake-up) and hands the
/// queued one back to the caller, unrun.
async fn pond_pool_cancelled_with_queued_tasks() {
    let pool = pool(1, 1);
    let started = Started::default();
    let first = {
        let started = started.clone();
        pool.submit(job(async move {
            started.mark();
            std::future::pending::<u32>().await
        }))
        .await
        .expect("open")
    };
    let second = pool.submit(ready(2)).await.expect("open");
    started.at_least(1).await;
    let back = pool.shutdown_now();
    assert_eq!(back.len(), 1, "the queued task comes back");
    assert!(pool.is_closed());
    pool.drain(hang_guard()).await.expect("no deadlock");
    assert!(first.await.expect_err("stopped").is_cancelled());
    assert!(second.await.expect_err("stopped").is_handed_back());
    for job in back {
        assert_eq!(
            job.await,
            2,
            "the handed-back task is the queued one, unrun"
        );
    }
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.failed), (2, 0, 0));
    assert_eq!(
        (m.cancelled, m.handed_back, m.rejected, m.workers),
        (1, 1, 0, 0)
    );
    assert_accounted(&m);
}

/// pond `TestPoolSubmitOnStoppedPool` and `TestTaskGroupWithStoppedPool`: after
/// `StopAndWait`, every way of submitting is refused (pond: `ErrPoolStopped`), and here
/// the refused task comes back unpolled.
async fn pond_submit_on_stopped_pool() {
    let pool = pool(100, 0);
    pool.submit(ready(1))
        .await
        .expect("open")
        .await
        .expect("ran");
    pool.drain(hang_guard()).await.expect("drained");
    assert!(pool.is_closed());
    let probe = Probe::default();
    let (_gate, probed) = probe.gated(3);
    match pool.submit(probed).await {
        Err(SubmitError::Closed(job)) => drop(job),
        other => panic!("expected Closed, got {other:?}"),
    }
    match pool.try_submit(ready(4)) {
        Err(TrySubmitError::Closed(job)) => assert_eq!(job.await, 4),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(pool
        .submit_timeout(ready(5), std::time::Duration::from_secs(1))
        .await
        .is_err());
    assert_eq!(probe.polled(), 0, "a refused job is never run");
    assert_eq!(probe.dropped(), 1);
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.rejected), (1, 1, 3));
    assert_accounted(&m);
}

/// pond `TestNewPoolWithInvalidMaxConcurrency`, `TestPoolResizeWithZeroMaxConcurrency`
/// and `TestPoolResizeWithNegativeMaxConcurrency`: a nonsense concurrency is refused.
/// Deliberate difference: pond panics on a negative size and reads 0 as "unbounded";
/// corral has no unbounded pool, so 0 (and too many) is a typed error from `build()`
/// or `resize()`, and a refused resize leaves the pool as it was.
async fn pond_invalid_max_concurrency() {
    let err = Builder::new().workers(0).build::<BoxJobU32>().unwrap_err();
    assert_eq!(err, BuildError::ZeroWorkers);
    assert_eq!(err.to_string(), "a pool needs at least one worker");
    assert_eq!(
        Builder::new().build::<BoxJobU32>().unwrap_err(),
        BuildError::WorkersNotSet
    );
    let pool = pool(10, 0);
    assert_eq!(pool.resize(0), Err(ResizeError::ZeroWorkers));
    assert_eq!(
        pool.resize(MAX_WORKERS + 1),
        Err(ResizeError::TooManyWorkers {
            requested: MAX_WORKERS + 1,
            max: MAX_WORKERS
        })
    );
    assert_eq!(pool.workers(), 10);
    assert_eq!(pool.metrics().target_workers, 10);
}

/// pond `TestPoolStoppedAfterCancel`: a task that cancels its own pool gets the
/// cancellation as its outcome, and later submits are refused. Here the task calls
/// `shutdown_now` on its own pool and then waits: it is cancelled at that wait.
async fn pond_pool_stopped_from_inside_a_task() {
    let pool: Arc<TestPool> = Arc::new(pool(10, 0));
    let me = Arc::clone(&pool);
    let after = Arc::new(AtomicU32::new(0));
    let reached = Arc::clone(&after);
    let task = pool
        .submit(job(async move {
            assert!(me.is_current_worker());
            assert!(me.shutdown_now().is_empty());
            tokio::task::yield_now().await;
            reached.fetch_add(1, Ordering::SeqCst);
            1
        }))
        .await
        .expect("open");
    assert!(task.await.expect_err("stopped").is_cancelled());
    assert_eq!(
        after.load(Ordering::SeqCst),
        0,
        "cancelled at its next wait"
    );
    assert!(pool.is_closed());
    assert!(matches!(
        pool.submit(ready(2)).await,
        Err(SubmitError::Closed(_))
    ));
    pool.drain(hang_guard()).await.expect("drained");
    assert!(matches!(
        pool.try_submit(ready(3)),
        Err(TrySubmitError::Closed(_))
    ));
    let m = pool.metrics();
    assert_eq!(
        (m.submitted, m.cancelled, m.rejected, m.workers),
        (1, 1, 2, 0)
    );
    assert_accounted(&m);
}

/// pond `TestPoolWithQueueSize`: a pool of 1 with a queue of 10 takes 50 tasks through
/// a blocking submit and runs them all.
async fn pond_queue_size() {
    let pool = pool(1, 10);
    assert_eq!(pool.metrics().queue_capacity, 10);
    for n in 0..50 {
        drop(pool.submit(ready(n)).await.expect("open"));
        assert!(pool.metrics().queued <= 10 + 1);
    }
    pool.drain(hang_guard()).await.expect("drained");
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed), (50, 50));
    assert_accounted(&m);
}

/// pond `TestPoolWithQueueSizeAndNonBlocking`: 10 workers busy and 10 tasks queued, a
/// non-blocking submit is dropped (pond: `ErrQueueFull` and `DroppedTasks` = 1; here
/// `Full` with the task handed back and `rejected` = 1).
async fn pond_queue_size_non_blocking() {
    let pool = pool(10, 10);
    let gate = Latch::new();
    let started = Started::default();
    let mut handles = Vec::new();
    for n in 0..10 {
        handles.push(pool.try_submit(held(&started, &gate, n)).expect("room"));
    }
    started.at_least(10).await;
    let m = pool.metrics();
    assert_eq!((m.running, m.submitted, m.queued), (10, 10, 0));
    for n in 10..20 {
        handles.push(pool.try_submit(ready(n)).expect("queue has room"));
    }
    match pool.try_submit(ready(99)) {
        Err(TrySubmitError::Full(job)) => assert_eq!(job.await, 99),
        other => panic!("expected Full, got {other:?}"),
    }
    gate.open();
    for (n, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.expect("ran"), n as u32);
    }
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.rejected), (20, 20, 1));
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// pond `TestPoolWithQueueSizeZero`: with no queue and the worker busy, a blocking
/// submit waits (nothing is counted as waiting in the queue), a non-blocking one is
/// dropped, and the blocked one runs once the worker is free. Deliberate difference:
/// pond counts the dropped task in `SubmittedTasks` (3); corral's `submitted` counts
/// accepted jobs only (2) and the refusal in `rejected`.
async fn pond_queue_size_zero() {
    let pool: Arc<TestPool> = Arc::new(pool(1, 0));
    assert_eq!(pool.metrics().queue_capacity, 0);
    let started = Started::default();
    let (release, first) = gated(1);
    let first = {
        let started = started.clone();
        pool.submit(job(async move {
            started.mark();
            first.await
        }))
        .await
        .expect("open")
    };
    started.at_least(1).await;
    let ran = Arc::new(AtomicU32::new(0));
    let second = tokio::spawn({
        let (pool, ran) = (Arc::clone(&pool), Arc::clone(&ran));
        async move {
            pool.submit(job(async move {
                ran.fetch_add(1, Ordering::SeqCst);
                2
            }))
            .await
            .expect("open")
        }
    });
    eventually("the second submitter blocks", || {
        pool.metrics().blocked_submitters == 1
    })
    .await;
    assert!(
        !second.is_finished(),
        "a submit blocks with no queue and no free worker"
    );
    assert_eq!(pool.metrics().queued, 0);
    match pool.try_submit(ready(3)) {
        Err(TrySubmitError::Full(job)) => drop(job),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(pool.metrics().rejected, 1);
    release.send(()).expect("first waits");
    let second = second.await.expect("submitter task");
    assert_eq!(second.await.expect("ran"), 2);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(first.await.expect("ran"), 1);
    let m = pool.metrics();
    assert_eq!((m.queued, m.submitted, m.completed, m.failed), (0, 2, 2, 0));
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// pond `TestPoolResize`: growing the pool starts queued tasks at once, shrinking
/// lets the extra workers go after their current task: 1 running / 9 waiting, then 3 /
/// 7 after growing to 3, then 2 / 5 after shrinking to 2 and finishing three tasks.
async fn pond_resize() {
    let pool = pool(1, 10);
    assert_eq!(pool.workers(), 1);
    let finish = Arc::new(tokio::sync::Semaphore::new(0));
    let mut handles = Vec::new();
    for n in 0..10 {
        let finish = Arc::clone(&finish);
        handles.push(
            pool.try_submit(job(async move {
                finish.acquire().await.expect("open").forget();
                n
            }))
            .expect("room"),
        );
    }
    let at = |queued: usize, running: usize| {
        let pool = &pool;
        move || {
            let m = pool.metrics();
            m.queued == queued && m.running == running
        }
    };
    eventually("1 running, 9 waiting", at(9, 1)).await;
    pool.resize(3).expect("valid");
    assert_eq!(pool.workers(), 3);
    eventually("3 running, 7 waiting", at(7, 3)).await;
    pool.resize(2).expect("valid");
    assert_eq!(pool.workers(), 2);
    finish.add_permits(3);
    eventually("2 running, 5 waiting", at(5, 2)).await;
    eventually("the extra worker left", || pool.metrics().workers == 2).await;
    assert_eq!(pool.metrics().completed, 3);
    assert_consistent(&pool.metrics());
    finish.add_permits(7);
    for (n, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.expect("ran"), n as u32);
    }
    pool.drain(hang_guard()).await.expect("drained");
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed), (10, 10));
    assert_accounted(&m);
}

/// pond `TestPoolWithQueueSizeOne`: one running, one queued, two blocked submitters;
/// all four run. pond only checks that the blocked two ran after the first two;
/// corral documents FIFO for blocked submitters, so the order is exactly 1, 2, 3, 4.
async fn pond_queue_size_one() {
    let pool: Arc<TestPool> = Arc::new(pool(1, 1));
    let order = Arc::new(Mutex::new(Vec::new()));
    let logged = |n: u32, gate: Option<tokio::sync::oneshot::Receiver<()>>| {
        let order = Arc::clone(&order);
        job(async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            order.lock().expect("order").push(n);
            n
        })
    };
    let (open1, gate1) = tokio::sync::oneshot::channel();
    let (open2, gate2) = tokio::sync::oneshot::channel();
    let h1 = pool.submit(logged(1, Some(gate1))).await.expect("open");
    let h2 = pool.submit(logged(2, Some(gate2))).await.expect("open");
    let mut blocked = Vec::new();
    for n in [3, 4] {
        let (mine, j) = (Arc::clone(&pool), logged(n, None));
        blocked.push(tokio::spawn(
            async move { mine.submit(j).await.expect("open") },
        ));
        eventually("the submitter blocks", || {
            pool.metrics().blocked_submitters == (n - 2) as usize
        })
        .await;
    }
    open1.send(()).expect("waits");
    open2.send(()).expect("waits");
    for t in blocked {
        t.await.expect("submitter").await.expect("ran");
    }
    h1.await.expect("ran");
    h2.await.expect("ran");
    pool.drain(hang_guard()).await.expect("drained");
    assert_eq!(*order.lock().expect("order"), [1, 2, 3, 4]);
    assert_accounted(&pool.metrics());
}

/// pond `TestPoolSubmitWhileStopping`: a task that submits to its pool once the pool
/// is stopping is refused every way, and the stop still waits for that task.
async fn pond_submit_while_stopping() {
    let pool: Arc<TestPool> = Arc::new(pool(10, 0));
    let me = Arc::clone(&pool);
    let task = pool
        .submit(job(async move {
            while !me.is_closed() {
                tokio::task::yield_now().await;
            }
            assert!(matches!(
                me.submit(ready(1)).await,
                Err(SubmitError::Closed(_))
            ));
            assert!(matches!(
                me.try_submit(ready(2)),
                Err(TrySubmitError::Closed(_))
            ));
            7
        }))
        .await
        .expect("open");
    pool.drain(hang_guard()).await.expect("drained");
    assert!(task.is_finished(), "drain waited for the task");
    assert_eq!(task.await.expect("ran"), 7);
    assert!(matches!(
        pool.submit(ready(3)).await,
        Err(SubmitError::Closed(_))
    ));
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.rejected), (1, 1, 3));
    assert_accounted(&m);
}

/// pond `TestPoolSubmitWhileStoppingHasNoRace`: many submitters race a stop. Seeded
/// rounds: every submit is either accepted (its handle resolves to the output) or
/// refused with its job handed back; none hangs, and the counters add up.
async fn pond_submit_while_stopping_has_no_race() {
    seeded(5_000, |seed| async move {
        let mut rng = Rng(seed);
        let pool: Arc<TestPool> = Arc::new(pool(1 + rng.index(3), rng.index(3)));
        let submitters: Vec<_> = (0..4u32)
            .map(|s| {
                let pool = Arc::clone(&pool);
                tokio::spawn(async move {
                    let (mut accepted, mut refused) = (0u64, 0u64);
                    for n in 0..4 {
                        match pool.submit(ready(s * 10 + n)).await {
                            Ok(h) => {
                                assert_eq!(h.await.expect("drain runs it"), s * 10 + n);
                                accepted += 1;
                            }
                            Err(SubmitError::Closed(job)) => {
                                assert_eq!(job.await, s * 10 + n, "seed {seed}");
                                refused += 1;
                            }
                        }
                    }
                    (accepted, refused)
                })
            })
            .collect();
        for _ in 0..rng.below(4) {
            tokio::task::yield_now().await;
        }
        pool.drain(hang_guard()).await.expect("drained");
        let (mut accepted, mut refused) = (0, 0);
        for s in submitters {
            let (a, r) = s.await.expect("submitter");
            accepted += a;
            refused += r;
        }
        assert_eq!(accepted + refused, 16, "seed {seed}");
        let m = pool.metrics();
        assert_eq!(
            (m.submitted, m.rejected),
            (accepted, refused),
            "seed {seed}"
        );
        assert_eq!(m.completed, accepted, "seed {seed}");
        assert_accounted(&m);
    })
    .await;
}

/// pond `TestPoolTrySubmit`, `TestPoolTrySubmitErr` and `TestResultPoolTrySubmit`:
/// one running and one queued are accepted, the third is refused, and after the stop a
/// try-submit is refused too. Deliberate difference: pond counts the refused task in
/// `SubmittedTasks` and not the one refused after the stop; corral counts both
/// refusals in `rejected` and neither in `submitted`.
async fn pond_try_submit() {
    let pool: Pool<BoxJob<Result<u32, String>>> = Builder::new()
        .workers(1)
        .queue_capacity(1)
        .build()
        .expect("valid");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = pool
        .try_submit(job(async move {
            let _ = rx.await;
            Ok(42)
        }))
        .expect("a worker is free");
    let task2 = pool
        .try_submit(job(async { Err("sample error".to_owned()) }))
        .expect("the queue has room");
    match pool.try_submit(job(async { Ok(44) })) {
        Err(TrySubmitError::Full(job)) => assert_eq!(job.await, Ok(44)),
        other => panic!("expected Full, got {other:?}"),
    }
    tx.send(()).expect("waits");
    pool.drain(hang_guard()).await.expect("drained");
    match pool.try_submit(job(async { Ok(45) })) {
        Err(TrySubmitError::Closed(job)) => assert_eq!(job.await, Ok(45)),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(task.await.expect("ran"), Ok(42));
    assert_eq!(task2.await.expect("ran"), Err("sample error".to_owned()));
    let m = pool.metrics();
    assert_eq!(
        (m.submitted, m.completed, m.failed, m.rejected),
        (2, 2, 0, 2)
    );
    assert_accounted(&m);
}

/// pond `TestStopAndWaitWithGoexit` and `TestTaskInvokesGoexitAndPoolRecovers`: a task
/// that leaves abnormally without a regular panic (Go's `runtime.Goexit`; here an
/// unwind with a non-string payload through `resume_unwind`, which skips the panic
/// hook) fails, the worker serves the next task, and the stop does not hang.
async fn pond_task_exits_abnormally() {
    let pool = pool(1, 1);
    let exits = pool
        .submit(job(async { std::panic::resume_unwind(Box::new(42u64)) }))
        .await
        .expect("open");
    let normal = pool.submit(ready(1)).await.expect("open");
    pool.drain(hang_guard()).await.expect("no hang");
    let err = exits.await.expect_err("failed");
    assert_eq!(err.to_string(), "job panicked: non-string payload");
    let payload = err.try_into_panic().expect("a panic");
    assert_eq!(payload.downcast_ref::<u64>(), Some(&42));
    assert_eq!(normal.await.expect("ran"), 1);
    let m = pool.metrics();
    assert_eq!(
        (m.workers, m.submitted, m.completed, m.failed),
        (0, 2, 1, 1)
    );
    assert_accounted(&m);
}

// ---------------------------------------------------------------------------------
// pond: group_test.go. A group is its members' handles; a member that cancels or
// stops the group aborts the others' handles (`JobHandle::abort`), which takes a queued
// member out of the queue at once.
// ---------------------------------------------------------------------------------

/// A group's members, for a member to cancel the rest (and the test to await them).
type Group<T> = Arc<Mutex<Vec<JobHandle<T>>>>;

/// Cancels every member of `group`: aborts each handle (taking a queued member out of
/// the queue at once, interrupting a running one).
fn cancel<T>(group: &Group<T>) {
    for member in group.lock().expect("group").iter() {
        member.abort();
    }
}

/// The group's members, taken out to be awaited.
fn members<T>(group: &Group<T>) -> Vec<JobHandle<T>> {
    std::mem::take(&mut *group.lock().expect("group"))
}

/// pond `TestResultTaskGroupWait` and `TestTaskGroupDone`: the group's outputs come
/// back in submission order once all ran.
async fn pond_group_wait() {
    let pool = pool(10, 0);
    let mut group = Vec::new();
    for n in 0..5 {
        group.push(pool.submit(ready(n)).await.expect("open"));
    }
    let mut outputs = Vec::new();
    for h in group {
        outputs.push(h.await.expect("ran"));
    }
    assert_eq!(outputs, [0, 1, 2, 3, 4]);
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// pond `TestResultTaskGroupWaitWithError`, `TestTaskGroupCanceledShouldSkipRemainingTasks`,
/// `TestTaskGroupStop` and `TestTaskGroupMetricsWithCancelledContext`: on a pool of one,
/// the member that fails (or stops the group) cancels the rest; the members queued
/// behind it never run and count as cancelled.
async fn pond_group_member_error_skips_remaining() {
    let pool = pool(1, 10);
    let group: Group<u32> = Arc::default();
    let gate = Latch::new();
    let executed = Arc::new(AtomicU32::new(0));
    let mut first = Vec::new();
    for n in 0..10u32 {
        let (gate, executed, g) = (gate.clone(), Arc::clone(&executed), Arc::clone(&group));
        let h = pool
            .try_submit(job(async move {
                gate.opened().await;
                executed.fetch_add(1, Ordering::SeqCst);
                if n == 4 {
                    cancel(&g); // the failing member stops the group
                }
                n
            }))
            .expect("room");
        if n <= 4 {
            first.push(h);
        } else {
            group.lock().expect("group").push(h);
        }
    }
    gate.open();
    for (n, h) in first.into_iter().enumerate() {
        assert_eq!(h.await.expect("ran"), n as u32);
    }
    for h in members(&group) {
        assert!(h.await.expect_err("skipped").is_cancelled());
    }
    pool.drain(hang_guard()).await.expect("drained");
    assert_eq!(executed.load(Ordering::SeqCst), 5, "the rest were skipped");
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.cancelled), (10, 5, 5));
    assert_accounted(&m);
}

/// pond `TestTaskGroupWaitWithContextCanceledAndOngoingTasks`,
/// `TestResultTaskGroupWaitWithContextCanceledAndOngoingTasks` and
/// `TestTaskGroupWithCustomContext`: a member cancels the group (itself included)
/// while it runs, with a second member queued. Deliberate difference: a Go task cannot
/// be stopped, so pond's first member finishes its work; corral cancels a running job
/// at its next wait (as tokio's `JoinHandle::abort`), so neither member gets past it.
async fn pond_group_cancelled_with_ongoing_tasks() {
    let pool = pool(1, 1);
    let group: Group<u32> = Arc::default();
    let gate = Latch::new();
    let executed = Arc::new(AtomicU32::new(0));
    for _ in 0..2 {
        let (gate, executed, g) = (gate.clone(), Arc::clone(&executed), Arc::clone(&group));
        let h = pool
            .try_submit(job(async move {
                gate.opened().await;
                cancel(&g);
                tokio::task::yield_now().await;
                executed.fetch_add(1, Ordering::SeqCst);
                1
            }))
            .expect("room");
        group.lock().expect("group").push(h);
    }
    gate.open();
    // The members stay in the group (for the canceller) until the pool has drained.
    pool.drain(hang_guard()).await.expect("drained");
    for h in members(&group) {
        assert!(h.await.expect_err("cancelled").is_cancelled());
    }
    assert_eq!(executed.load(Ordering::SeqCst), 0);
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.cancelled), (2, 0, 2));
    assert_accounted(&m);
}

/// pond `TestTaskGroupWaitingTasks`: 20 members on 10 workers (and room for 10 to
/// wait): 10 run and 10 wait.
async fn pond_group_waiting_tasks() {
    let pool = pool(10, 10);
    let (start, end) = (Latch::new(), Latch::new());
    let started = Started::default();
    let group: Vec<_> = (0..20)
        .map(|n| {
            let (start, end, started) = (start.clone(), end.clone(), started.clone());
            pool.try_submit(job(async move {
                started.mark();
                start.opened().await;
                end.opened().await;
                n
            }))
            .expect("room")
        })
        .collect();
    started.at_least(10).await;
    let m = pool.metrics();
    assert_eq!((m.running, m.queued), (10, 10));
    assert_consistent(&m);
    start.open();
    end.open();
    for h in group {
        h.await.expect("ran");
    }
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// pond `TestTaskGroupContext`: two members run side by side; the first fails and
/// cancels the group, so the second (running, waiting on the group's context) and the
/// third (queued) are cancelled. Deliberate difference: pond counts the failing
/// member's error as failed; corral counts it completed (its output is the error).
async fn pond_group_context() {
    let pool: Pool<BoxJob<Result<u32, String>>> = Builder::new()
        .workers(2)
        .queue_capacity(1)
        .build()
        .expect("valid");
    let group: Group<Result<u32, String>> = Arc::default();
    let both = Arc::new(tokio::sync::Barrier::new(2));
    let first = {
        let (both, group) = (Arc::clone(&both), Arc::clone(&group));
        pool.try_submit(job(async move {
            both.wait().await;
            cancel(&group);
            Err("first task error".to_owned())
        }))
        .expect("room")
    };
    let second = {
        let both = Arc::clone(&both);
        pool.try_submit(job(async move {
            both.wait().await;
            std::future::pending().await
        }))
        .expect("room")
    };
    let third = pool.try_submit(job(async { Ok(3) })).expect("room");
    group.lock().expect("group").extend([second, third]);
    assert_eq!(
        first.await.expect("ran"),
        Err("first task error".to_owned())
    );
    pool.drain(hang_guard()).await.expect("drained");
    for member in members(&group) {
        assert!(member.await.expect_err("cancelled").is_cancelled());
    }
    let m = pool.metrics();
    assert_eq!(
        (m.submitted, m.completed, m.failed, m.cancelled),
        (3, 1, 0, 2)
    );
    assert_accounted(&m);
}

/// pond `TestPoolSubmitWhileStopping`, with the stop called from inside the task: as
/// `drain` documents, a job draining its own pool waits for itself, so it gets the
/// deadline's report (itself still running); closing and returning is the way out.
async fn pond_stop_and_wait_from_inside_a_task() {
    let pool: Arc<TestPool> = Arc::new(pool(2, 0));
    let me = Arc::clone(&pool);
    let task = pool
        .submit(job(async move {
            let left = me
                .drain(already_passed())
                .await
                .expect_err("waits for itself");
            assert_eq!((left.queued, left.running), (0, 1));
            assert!(me.is_closed());
            1
        }))
        .await
        .expect("open");
    assert_eq!(task.await.expect("ran"), 1);
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}
