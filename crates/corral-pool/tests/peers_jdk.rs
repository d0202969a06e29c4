//! The JDK's `ThreadPoolExecutor` tests (JSR-166 TCK `ThreadPoolExecutorTest` and
//! `ExecutorsTest`), ported to corral's API as a JDK user would map them: `execute` /
//! `submit` is `try_submit` (the executor's bounded queue refuses) or `submit`,
//! `shutdown` is `close`, `awaitTermination` is `drain` (which closes too),
//! `shutdownNow` is `shutdown_now` (the never-started tasks come back as futures and
//! running ones are cancelled, as an interrupt would), `Future.cancel` / `remove` is
//! `JobHandle::abort`, `setCorePoolSize` / `setMaximumPoolSize` is `resize`, the
//! `RejectedExecutionHandler` gets the job back from `Full` / `Closed`, and
//! `getActiveCount` / `getPoolSize` / `getTaskCount` / `getCompletedTaskCount` are
//! `running` / `workers` / `submitted` / `completed` (+ `failed` + `cancelled`).
//!
//! Every case runs on a current-thread and a multi-thread runtime; the race-prone ones
//! run seeded rounds on the multi-thread one. Where corral's documented contract
//! differs from the JDK's on purpose, the test asserts corral's and says so.

mod common;
#[path = "common/harness.rs"]
mod harness;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{pool, ready, BoxJobU32, Probe, TestPool};
use corral_pool::{
    BuildError, Builder, JobError, JobHandle, ResizeError, SubmitError, SubmitTimeoutError,
    TrySubmitError, MAX_QUEUE_CAPACITY, MAX_WORKERS,
};
use corral_test_support::{eventually, Latch, Rng};
use harness::{
    already_passed, assert_accounted, assert_consistent, hang_guard, held, job, quiet_peer_panics,
    seeded, Started,
};

harness::on_both_runtimes!(
    jdk_execute,
    jdk_active_and_completed_counts,
    jdk_pool_size_and_task_count,
    jdk_shutdown_transitions,
    jdk_await_termination_times_out,
    jdk_shutdown_lets_queued_tasks_finish,
    jdk_shutdown_rejects_new_tasks,
    jdk_shutdown_now,
    jdk_remove_and_purge,
    jdk_saturated_execute,
    jdk_constructor_and_setter_validation,
    jdk_invoke_all,
    jdk_timed_invoke_all,
    jdk_single_thread_executor_runs_in_order,
    jdk_shutdown_now_races_running_tasks,
    jdk_counts_stay_consistent_under_load,
    jdk_interrupted_submit,
    jdk_rejection_handler_offers_with_a_timeout,
);

/// `ThreadPoolExecutorTest.testExecute` and `ExecutorsTest.testNewFixedThreadPool`: an
/// executed task runs.
async fn jdk_execute() {
    let pool = pool(2, 2);
    let ran = Arc::new(AtomicU32::new(0));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let ran = Arc::clone(&ran);
            pool.try_submit(job(async move { ran.fetch_add(1, Ordering::SeqCst) }))
                .expect("room")
        })
        .collect();
    for h in handles {
        h.await.expect("ran");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    pool.drain(hang_guard()).await.expect("terminated");
    assert_accounted(&pool.metrics());
}

/// `testGetActiveCount` and `testGetCompletedTaskCount`: the active count is 1 while
/// a task runs; once its future is done the task is counted completed and no longer
/// active. Stronger than the JDK (whose completed count may lag the future): corral
/// counts a job before its handle resolves, so the check needs no waiting.
async fn jdk_active_and_completed_counts() {
    let pool = pool(2, 2);
    let m = pool.metrics();
    assert_eq!((m.running, m.completed), (0, 0));
    let (started, gate) = (Started::default(), Latch::new());
    let h = pool.try_submit(held(&started, &gate, 1)).expect("room");
    started.at_least(1).await;
    let m = pool.metrics();
    assert_eq!((m.running, m.completed, m.submitted), (1, 0, 1));
    gate.open();
    h.await.expect("ran");
    let m = pool.metrics();
    assert_eq!((m.running, m.completed, m.submitted), (0, 1, 1));
    assert_accounted(&m);
}

/// `testGetPoolSize`, `testPrestartAllCoreThreads`, `testGetTaskCount` and
/// `testGetLargestPoolSize`: the task count covers running and queued tasks, the
/// completed count catches up as they end. Deliberate difference: a JDK pool starts
/// its core threads lazily (`getPoolSize` is 0 until the first task); corral spawns
/// every worker at `build()` (as after `prestartAllCoreThreads`).
async fn jdk_pool_size_and_task_count() {
    let pool = pool(1, 5);
    assert_eq!(pool.metrics().workers, 1);
    let (started, gate) = (Started::default(), Latch::new());
    let handles: Vec<_> = (0..6)
        .map(|n| pool.try_submit(held(&started, &gate, n)).expect("room"))
        .collect();
    started.at_least(1).await;
    let m = pool.metrics();
    assert_eq!(
        (m.submitted, m.running, m.queued, m.completed),
        (6, 1, 5, 0)
    );
    assert_eq!((m.workers, m.target_workers), (1, 1));
    assert_consistent(&m);
    gate.open();
    for h in handles {
        h.await.expect("ran");
    }
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed), (6, 6));
    assert_accounted(&m);
}

/// `testIsShutdown`, `testIsTerminated` and `testIsTerminating`: not shut down at
/// first; after `shutdown` with a task running the pool is shut down and terminating
/// (closed, workers alive); once the task ends it terminates (no worker left).
async fn jdk_shutdown_transitions() {
    let pool = pool(1, 1);
    assert!(!pool.is_closed());
    assert!(!pool.metrics().closed);
    let (started, gate) = (Started::default(), Latch::new());
    let h = pool.try_submit(held(&started, &gate, 1)).expect("room");
    started.at_least(1).await;
    pool.close();
    assert!(pool.is_closed());
    let m = pool.metrics();
    assert!(
        m.closed && m.workers == 1 && m.running == 1,
        "terminating: {m:?}"
    );
    pool.close(); // idempotent
    gate.open();
    assert_eq!(h.await.expect("ran"), 1);
    pool.drain(hang_guard()).await.expect("terminated");
    let m = pool.metrics();
    assert!(m.closed && m.workers == 0, "terminated: {m:?}");
    assert_accounted(&m);
}

/// `testAwaitTermination_timesOut`: with a task still running, awaiting termination
/// reports the timeout (`DrainError` names what is left) and the pool stays shut down;
/// once the task ends, it terminates.
async fn jdk_await_termination_times_out() {
    let pool = pool(1, 1);
    let (started, gate) = (Started::default(), Latch::new());
    let running = pool.try_submit(held(&started, &gate, 1)).expect("room");
    let queued = pool.try_submit(ready(2)).expect("room");
    started.at_least(1).await;
    let left = pool.drain(already_passed()).await.expect_err("times out");
    assert_eq!((left.queued, left.running), (1, 1));
    assert_eq!(
        left.to_string(),
        "drain deadline elapsed with 1 jobs queued and 1 running"
    );
    assert!(pool.is_closed());
    assert!(!running.is_finished());
    gate.open();
    pool.drain(hang_guard()).await.expect("terminated");
    assert!(running.is_finished() && queued.is_finished());
    assert_eq!(
        (running.await.expect("ran"), queued.await.expect("ran")),
        (1, 2)
    );
    assert_accounted(&pool.metrics());
}

/// `testShutdown`-style: tasks accepted before `shutdown` still run, queued ones
/// included, and in order; the workers leave afterwards.
async fn jdk_shutdown_lets_queued_tasks_finish() {
    let pool = pool(1, 3);
    let order = Arc::new(Mutex::new(Vec::new()));
    let (started, gate) = (Started::default(), Latch::new());
    let mut handles = vec![pool.try_submit(held(&started, &gate, 0)).expect("room")];
    for n in 1..4 {
        let order = Arc::clone(&order);
        handles.push(
            pool.try_submit(job(async move {
                order.lock().expect("order").push(n);
                n
            }))
            .expect("room"),
        );
    }
    started.at_least(1).await;
    pool.close();
    gate.open();
    pool.drain(hang_guard()).await.expect("terminated");
    for (n, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.expect("ran"), n as u32);
    }
    assert_eq!(*order.lock().expect("order"), [1, 2, 3]);
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.workers), (4, 4, 0));
    assert_accounted(&m);
}

/// `testRejectedExecutionExceptionOnShutdown`, `testCallerRunsOnShutdown`,
/// `testDiscardOnShutdown` and `testDiscardOldestOnShutdown`: after `shutdown` every
/// submission is rejected, the rejected task is handed to the caller unrun (the
/// handler's decision; here the error carries it), and it never runs on the pool.
async fn jdk_shutdown_rejects_new_tasks() {
    let pool = pool(2, 2);
    pool.close();
    let probe = Probe::default();
    let (_g1, j1) = probe.gated(1);
    let (_g2, j2) = probe.gated(2);
    let (_g3, j3) = probe.gated(3);
    match pool.try_submit(j1) {
        Err(TrySubmitError::Closed(job)) => drop(job),
        other => panic!("expected Closed, got {other:?}"),
    }
    match pool.submit(j2).await {
        Err(SubmitError::Closed(job)) => drop(job),
        other => panic!("expected Closed, got {other:?}"),
    }
    match pool.submit_timeout(j3, Duration::from_secs(1)).await {
        Err(SubmitTimeoutError::Closed(job)) => drop(job),
        other => panic!("expected Closed, got {other:?}"),
    }
    // The caller-runs policy: the caller runs the job it got back, on its own task.
    match pool.try_submit(ready(4)) {
        Err(TrySubmitError::Closed(job)) => assert_eq!(job.await, 4),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(
        (probe.polled(), probe.dropped()),
        (0, 3),
        "never ran on the pool"
    );
    let m = pool.metrics();
    assert_eq!((m.submitted, m.rejected), (0, 4));
    pool.drain(hang_guard()).await.expect("terminated");
    assert_accounted(&pool.metrics());
}

/// `testShutdownNow` and `testShutdownNow_interrupts` (with `ExecutorsTest`'s
/// `testInterruptedShutdownNow`-style checks): `shutdownNow` returns exactly the tasks
/// that never started, in queue order, and interrupts the running ones (here: their
/// futures are dropped and their handles resolve `Cancelled`); the pool then
/// terminates, and running + returned = everything accepted.
async fn jdk_shutdown_now() {
    let pool = pool(2, 4);
    let probe = Probe::default();
    let mut gates = Vec::new();
    let mut handles = Vec::new();
    for n in 0..6 {
        let (gate, j) = probe.gated(n);
        gates.push(gate);
        handles.push(pool.try_submit(j).expect("room"));
    }
    eventually("two tasks started", || probe.polled() == 2).await;
    let back = pool.shutdown_now();
    assert_eq!(back.len(), 4);
    assert!(pool.is_closed());
    pool.drain(hang_guard()).await.expect("terminated");
    assert_eq!(probe.dropped(), 2, "the running tasks were dropped");
    let mut outcomes = Vec::new();
    for h in handles {
        outcomes.push(h.await.expect_err("stopped"));
    }
    assert!(
        outcomes[..2].iter().all(JobError::is_cancelled),
        "{outcomes:?}"
    );
    assert!(
        outcomes[2..].iter().all(JobError::is_handed_back),
        "{outcomes:?}"
    );
    // The returned tasks are the queued ones, in order, never started.
    assert_eq!(probe.polled(), 2);
    for ((n, gate), j) in (2..).zip(gates.drain(2..)).zip(back) {
        gate.send(()).expect("the returned task holds its gate");
        assert_eq!(j.await, n);
    }
    let m = pool.metrics();
    assert_eq!((m.submitted, m.cancelled, m.handed_back), (6, 2, 4));
    assert_eq!(m.workers, 0);
    assert_accounted(&m);
    assert!(
        pool.shutdown_now().is_empty(),
        "a second shutdownNow returns nothing"
    );
}

/// `testRemove` and `testPurge`: removing a queued task (here: aborting it) takes it
/// out of the queue at once, unrun, and a second removal does nothing; the others run.
async fn jdk_remove_and_purge() {
    let pool = pool(1, 3);
    let (started, gate) = (Started::default(), Latch::new());
    let first = pool.try_submit(held(&started, &gate, 0)).expect("room");
    started.at_least(1).await;
    let probe = Probe::default();
    let mut queued = Vec::new();
    for n in 1..4 {
        let (g, j) = probe.gated(n);
        drop(g); // opened (dropped) gate: runs through
        queued.push(pool.try_submit(j).expect("room"));
    }
    assert_eq!(pool.metrics().queued, 3);
    queued[1].abort();
    assert!(queued[1].is_finished(), "resolved before abort returns");
    assert_eq!(pool.metrics().queued, 2);
    assert_eq!(probe.dropped(), 1, "the removed task is dropped at once");
    queued[1].abort(); // a second removal: nothing
                       // The freed room takes a new task at once.
    let extra = pool.try_submit(ready(9)).expect("room freed");
    gate.open();
    assert_eq!(first.await.expect("ran"), 0);
    let mut outcomes = Vec::new();
    for h in queued {
        outcomes.push(h.await.map_err(|e| e.is_cancelled()));
    }
    assert_eq!(outcomes, [Ok(1), Err(true), Ok(3)]);
    assert_eq!(extra.await.expect("ran"), 9);
    assert_eq!(probe.polled(), 2);
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.cancelled), (5, 4, 1));
    pool.drain(hang_guard()).await.expect("terminated");
    assert_accounted(&pool.metrics());
}

/// `testSaturatedExecute` (AbortPolicy), `testSaturatedExecute2` (CallerRunsPolicy),
/// `testSaturatedExecute3` (DiscardPolicy) and `testSaturatedExecute4`
/// (DiscardOldestPolicy): on a saturated pool the new task is rejected and handed back
/// unrun; the caller may run it itself, drop it, or discard the oldest queued task
/// (abort it) to make room for it.
async fn jdk_saturated_execute() {
    let pool = pool(1, 1);
    let (started, gate) = (Started::default(), Latch::new());
    let running = pool.try_submit(held(&started, &gate, 0)).expect("room");
    let oldest = pool.try_submit(ready(1)).expect("room");
    let probe = Probe::default();
    let (_g, rejected) = probe.gated(2);
    // AbortPolicy / DiscardPolicy: refused, unrun, and dropping it discards it.
    match pool.try_submit(rejected) {
        Err(TrySubmitError::Full(job)) => drop(job),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!((probe.polled(), probe.dropped()), (0, 1));
    // CallerRunsPolicy: the caller runs it.
    match pool.try_submit(ready(3)) {
        Err(TrySubmitError::Full(job)) => assert_eq!(job.await, 3),
        other => panic!("expected Full, got {other:?}"),
    }
    // DiscardOldestPolicy: the oldest queued task goes, the new one takes its place.
    let newest = match pool.try_submit(ready(4)) {
        Err(TrySubmitError::Full(job)) => {
            oldest.abort();
            pool.try_submit(job).expect("the oldest made room")
        }
        other => panic!("expected Full, got {other:?}"),
    };
    gate.open();
    assert_eq!(running.await.expect("ran"), 0);
    assert!(oldest.await.expect_err("discarded").is_cancelled());
    assert_eq!(newest.await.expect("ran"), 4);
    let m = pool.metrics();
    assert_eq!(
        (m.submitted, m.completed, m.cancelled, m.rejected),
        (3, 2, 1, 3)
    );
    pool.drain(hang_guard()).await.expect("terminated");
    assert_accounted(&pool.metrics());
}

/// `testConstructor1`..`testConstructor20`-style argument checks and
/// `testSetCorePoolSizeIllegalArgumentException`,
/// `testSetMaximumPoolSizeIllegalArgumentException`(`2`): nonsense sizes are refused
/// with a typed error naming them, and a refused setter leaves the pool as it was.
/// Deliberate difference: a JDK executor accepts `setCorePoolSize` after `shutdown`;
/// a closed corral pool refuses `resize` (`ResizeError::Closed`), its workers leaving.
async fn jdk_constructor_and_setter_validation() {
    let too_many = Builder::new()
        .workers(MAX_WORKERS + 1)
        .build::<BoxJobU32>()
        .unwrap_err();
    assert_eq!(
        too_many,
        BuildError::TooManyWorkers {
            requested: MAX_WORKERS + 1,
            max: MAX_WORKERS
        }
    );
    let queue = Builder::new()
        .workers(1)
        .queue_capacity(MAX_QUEUE_CAPACITY + 1)
        .build::<BoxJobU32>()
        .unwrap_err();
    assert_eq!(
        queue,
        BuildError::QueueTooLarge {
            requested: MAX_QUEUE_CAPACITY + 1,
            max: MAX_QUEUE_CAPACITY
        }
    );
    assert!(queue.to_string().starts_with("queue capacity"));
    assert_eq!(
        Builder::new().workers(0).build::<BoxJobU32>().unwrap_err(),
        BuildError::ZeroWorkers
    );
    let outside = std::thread::spawn(|| Builder::new().workers(1).build::<BoxJobU32>().err())
        .join()
        .expect("thread");
    assert_eq!(outside, Some(BuildError::NoRuntime));

    let pool = pool(2, 2);
    assert_eq!(pool.resize(0), Err(ResizeError::ZeroWorkers));
    assert!(pool.resize(MAX_WORKERS + 1).is_err());
    assert_eq!((pool.workers(), pool.metrics().workers), (2, 2));
    pool.resize(3).expect("valid");
    assert_eq!((pool.workers(), pool.metrics().workers), (3, 3));
    pool.close();
    assert_eq!(pool.resize(4), Err(ResizeError::Closed));
    assert_eq!(ResizeError::Closed.to_string(), "pool is closed");
    pool.drain(hang_guard()).await.expect("terminated");
}

/// `testInvokeAll3`/`4`/`5` and `ExecutorsTest`'s invoke-all checks: every task's
/// future is done once all are awaited, results in submission order, and a task that
/// throws shows up as an error of its own future only (`ExecutionException`; here
/// `JobError::Panicked`).
async fn jdk_invoke_all() {
    quiet_peer_panics();
    let pool = pool(2, 8);
    let handles: Vec<JobHandle<u32>> = (0..8)
        .map(|n| {
            pool.try_submit(job(async move {
                tokio::task::yield_now().await;
                if n == 5 {
                    std::panic::panic_any("peer: task 5 throws");
                }
                n * 10
            }))
            .expect("room")
        })
        .collect();
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.map_err(|e| e.is_panic()));
    }
    let want: Vec<_> = (0..8)
        .map(|n| if n == 5 { Err(true) } else { Ok(n * 10) })
        .collect();
    assert_eq!(results, want);
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.failed), (8, 7, 1));
    pool.drain(hang_guard()).await.expect("terminated");
    assert_accounted(&pool.metrics());
}

/// `testTimedInvokeAll6`/`7`-style: the tasks not done when the timeout expires are
/// cancelled (here: aborted; running or queued, each resolves `Cancelled`), the done
/// ones keep their results, and everything is accounted for.
async fn jdk_timed_invoke_all() {
    let pool = pool(2, 4);
    let quick: Vec<_> = (0..2)
        .map(|n| pool.try_submit(ready(n)).expect("room"))
        .collect();
    let mut results = Vec::new();
    for h in quick {
        results.push(h.await.expect("ran"));
    }
    let (started, gate) = (Started::default(), Latch::new());
    let slow: Vec<_> = (2..6)
        .map(|n| pool.try_submit(held(&started, &gate, n)).expect("room"))
        .collect();
    started.at_least(2).await;
    // The timeout expires: cancel whatever is not done, the queued ones first (a
    // running one cancelled first frees its worker for the next queued one).
    for h in slow.iter().rev() {
        if !h.is_finished() {
            h.abort();
        }
    }
    for h in slow {
        assert!(h.await.expect_err("timed out").is_cancelled());
    }
    assert_eq!(results, [0, 1]);
    assert_eq!(started.count(), 2, "the queued ones never started");
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.cancelled), (6, 2, 4));
    pool.drain(hang_guard()).await.expect("terminated");
    assert_accounted(&pool.metrics());
    drop(gate);
}

/// `ExecutorsTest.testNewSingleThreadExecutor`: a single-worker executor runs its
/// tasks one at a time, in submission order.
async fn jdk_single_thread_executor_runs_in_order() {
    let pool = pool(1, 0);
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for n in 0..50 {
        let order = Arc::clone(&order);
        handles.push(
            pool.submit(job(async move {
                tokio::task::yield_now().await;
                order.lock().expect("order").push(n);
                n
            }))
            .await
            .expect("open"),
        );
    }
    for h in handles {
        h.await.expect("ran");
    }
    assert_eq!(*order.lock().expect("order"), (0..50).collect::<Vec<_>>());
    assert!(pool.metrics().queue_wait.count > 0);
    pool.drain(hang_guard()).await.expect("terminated");
    assert_accounted(&pool.metrics());
}

/// `testShutdownNow` under a race: tasks finishing, running and queued while
/// `shutdownNow` lands at a seeded moment. Every accepted task is exactly one of
/// completed, cancelled (running when stopped) or handed back (returned unrun), the
/// returned list is exactly the handed-back ones, and the pool terminates.
async fn jdk_shutdown_now_races_running_tasks() {
    seeded(5_000, |seed| async move {
        let mut rng = Rng(seed);
        let pool: TestPool = pool(1 + rng.index(2), rng.index(4));
        let mut handles = Vec::new();
        for n in 0..6u32 {
            let yields = rng.below(3);
            match pool.try_submit(job(async move {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                n
            })) {
                Ok(h) => handles.push(h),
                Err(TrySubmitError::Full(_)) => {}
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
        for _ in 0..rng.below(4) {
            tokio::task::yield_now().await;
        }
        let back = pool.shutdown_now();
        pool.drain(hang_guard()).await.expect("terminated");
        let (mut completed, mut cancelled, mut handed_back) = (0u64, 0u64, 0u64);
        for h in handles {
            assert!(
                h.is_finished(),
                "seed {seed}: drained with a handle unresolved"
            );
            match h.await {
                Ok(_) => completed += 1,
                Err(JobError::Cancelled) => cancelled += 1,
                Err(JobError::HandedBack) => handed_back += 1,
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
        assert_eq!(back.len() as u64, handed_back, "seed {seed}");
        let m = pool.metrics();
        assert_eq!(
            (m.completed, m.cancelled, m.handed_back),
            (completed, cancelled, handed_back),
            "seed {seed}"
        );
        assert_accounted(&m);
    })
    .await;
}

/// The TCK's counter consistency (`getCompletedTaskCount() <= getTaskCount()`,
/// `getActiveCount() <= getPoolSize()`), checked on every snapshot an observer takes
/// while submitters, aborts, resizes and a stop race on a multi-thread runtime: every
/// accepted job is queued, running or ended one way, counters never go back, and once
/// drained the identity holds exactly.
async fn jdk_counts_stay_consistent_under_load() {
    quiet_peer_panics();
    seeded(1_000, |seed| async move {
        let mut rng = Rng(seed);
        let pool: Arc<TestPool> = Arc::new(
            Builder::new()
                .workers(1 + rng.index(3))
                .queue_capacity(rng.index(4))
                .on_panic(|_| {})
                .build()
                .expect("valid"),
        );
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let observer = tokio::spawn({
            let (pool, done) = (Arc::clone(&pool), Arc::clone(&done));
            async move {
                let mut last = pool.metrics();
                while !done.load(Ordering::SeqCst) {
                    let m = pool.metrics();
                    assert_consistent(&m);
                    assert!(m.submitted >= last.submitted && m.completed >= last.completed);
                    assert!(m.cancelled >= last.cancelled && m.failed >= last.failed);
                    last = m;
                    tokio::task::yield_now().await;
                }
            }
        });
        let submitters: Vec<_> = (0..2)
            .map(|s| {
                let pool = Arc::clone(&pool);
                let mut rng = Rng(seed * 7 + s);
                tokio::spawn(async move {
                    let mut handles = Vec::new();
                    for n in 0..8u32 {
                        let kind = rng.below(8);
                        let j = job(async move {
                            tokio::task::yield_now().await;
                            if kind == 0 {
                                std::panic::panic_any("peer: load");
                            }
                            n
                        });
                        let h = match rng.below(3) {
                            0 => pool.try_submit(j).ok(),
                            _ => pool.submit(j).await.ok(),
                        };
                        if let Some(h) = h {
                            if rng.below(5) == 0 {
                                h.abort();
                            }
                            handles.push(h);
                        }
                        if rng.below(6) == 0 {
                            let _ = pool.resize(1 + rng.index(3));
                        }
                    }
                    for h in handles {
                        let _ = h.await;
                    }
                })
            })
            .collect();
        for _ in 0..rng.below(8) {
            tokio::task::yield_now().await;
        }
        if rng.below(2) == 0 {
            drop(pool.shutdown_now());
        } else {
            pool.close();
        }
        for s in submitters {
            s.await.expect("submitter");
        }
        pool.drain(hang_guard()).await.expect("terminated");
        done.store(true, Ordering::SeqCst);
        observer.await.expect("every snapshot consistent");
        assert_accounted(&pool.metrics());
    })
    .await;
}

/// `testInterruptedSubmit`: a submitter blocked on a full executor is interrupted
/// (here: its submit future is dropped by a racing `select!`, at a seeded moment).
/// Whatever the moment, the job is dropped exactly once, never leaks or runs to
/// completion unseen: either the submitter got the handle (the job ran), or it was
/// still waiting (the job is dropped unsubmitted, counted nowhere), or room had just
/// been granted (the job is aborted and counted cancelled); and the counters add up.
async fn jdk_interrupted_submit() {
    seeded(5_000, |seed| async move {
        let mut rng = Rng(seed);
        let pool: Arc<TestPool> = Arc::new(pool(1, rng.index(2)));
        let yields = rng.below(3);
        let blocker = pool
            .try_submit(job(async move {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                0
            }))
            .expect("room");
        let probe = Probe::default();
        let (gate, probed) = probe.gated(1);
        drop(gate); // runs straight through once polled
        let (interrupt, interrupted) = tokio::sync::oneshot::channel::<()>();
        let submitter = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move {
                tokio::select! {
                    submitted = pool.submit(probed) => Some(submitted.expect("open")),
                    _ = interrupted => None,
                }
            }
        });
        for _ in 0..rng.below(4) {
            tokio::task::yield_now().await;
        }
        let _ = interrupt.send(());
        let handle = submitter.await.expect("submitter");
        blocker.await.expect("ran");
        if let Some(h) = handle {
            match h.await {
                Ok(1) => {}
                Err(JobError::Cancelled) => {}
                other => panic!("seed {seed}: {other:?}"),
            }
        }
        pool.drain(hang_guard()).await.expect("terminated");
        assert_eq!(
            probe.dropped(),
            1,
            "seed {seed}: the job dropped exactly once"
        );
        let m = pool.metrics();
        assert_eq!(
            m.failed + m.handed_back + m.rejected,
            0,
            "seed {seed}: {m:?}"
        );
        assert_accounted(&m);
    })
    .await;
}

/// The JDK idiom of a rejection handler that blocks with a timeout
/// (`getQueue().offer(task, timeout)` in `rejectedExecution`), here `submit_timeout`,
/// racing workers that free room, at seeded moments on short deadlines: each offer is
/// either accepted (its handle resolves to its output) or times out with the job handed
/// back unpolled, never both and never neither, and the counters add up.
async fn jdk_rejection_handler_offers_with_a_timeout() {
    seeded(3_000, |seed| async move {
        let mut rng = Rng(seed);
        let pool: Arc<TestPool> = Arc::new(pool(1 + rng.index(2), rng.index(2)));
        let mut handles = Vec::new();
        let mut refused = 0u64;
        for n in 0..3u32 {
            let yields = rng.below(3);
            match pool.try_submit(job(async move {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                n
            })) {
                Ok(h) => handles.push(h),
                Err(_) => refused += 1,
            }
        }
        let probe = Probe::default();
        let (mut accepted, mut timed_out) = (Vec::new(), 0u64);
        for n in 10..13u32 {
            let (gate, probed) = probe.gated(n);
            drop(gate);
            let wait = Duration::from_micros(rng.below(200));
            match pool.submit_timeout(probed, wait).await {
                Ok(h) => accepted.push((n, h)),
                Err(SubmitTimeoutError::Timeout(job)) => {
                    drop(job);
                    timed_out += 1;
                }
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
        for h in handles {
            h.await.expect("ran");
        }
        let ran = accepted.len();
        for (n, h) in accepted {
            assert_eq!(h.await.expect("ran"), n, "seed {seed}");
        }
        pool.drain(hang_guard()).await.expect("terminated");
        assert_eq!(
            probe.polled(),
            ran,
            "seed {seed}: a timed-out job never runs"
        );
        assert_eq!(probe.dropped(), 3, "seed {seed}");
        let m = pool.metrics();
        assert_eq!(m.rejected, refused + timed_out, "seed {seed}: {m:?}");
        assert_eq!(
            m.cancelled + m.failed + m.handed_back,
            0,
            "seed {seed}: {m:?}"
        );
        assert_accounted(&m);
    })
    .await;
}
