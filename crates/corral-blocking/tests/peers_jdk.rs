//! The JDK's `ThreadPoolExecutor` TCK cases (openjdk
//! `test/jdk/java/util/concurrent/tck/ThreadPoolExecutorTest.java`) that apply to a
//! bounded thread pool, ported to [`BlockingPool`] as a Java user would map them:
//!
//! - `new ThreadPoolExecutor(n, n, keepAlive, unit, new ArrayBlockingQueue(q))` is
//!   `BlockingPool::builder().max_threads(n).queue_capacity(q).keep_alive(..)`; a
//!   `SynchronousQueue` is `queue_capacity(0)`. There is no core size: threads are
//!   spawned on demand up to `max_threads` and each exits after the keep-alive (Java's
//!   `allowCoreThreadTimeOut(true)`), so the `prestart*` cases become "threads appear as
//!   jobs need them, never above the cap".
//! - `execute`/`submit` is [`BlockingPool::try_run`] (refuses when saturated, like the
//!   default `AbortPolicy`, but hands the closure back) or [`BlockingPool::run`]
//!   (waits for queue space instead of refusing: no Java analog).
//! - `getActiveCount`, `getPoolSize`, `getLargestPoolSize`, `getCompletedTaskCount`,
//!   `getQueue().size()`, `isShutdown` are [`BlockingPool::metrics`]'s `running`,
//!   `threads_alive`, `threads_high_water`, `completed`, `queued`, `closed`.
//! - `shutdown()` is [`BlockingPool::close`] (queued jobs still run); `shutdownNow()` is
//!   [`BlockingPool::shutdown`], with one deliberate difference: the queued jobs are not
//!   returned as a list, each caller gets [`RunError::Closed`] and the closure is dropped
//!   unrun. Running jobs are not interrupted (Rust has no interrupt); they run to the
//!   end. `awaitTermination` is awaiting [`BlockingPool::stopped`], bounded by
//!   `tokio::time::timeout`.
//! - `Future.cancel` / `remove` / `purge` is dropping the [`AcceptedJob`]: a job that has
//!   not started is removed at once and never runs; one that has started runs on.
//!
//! Not ported, no corral counterpart: the setters (`setCorePoolSize`,
//! `setMaximumPoolSize`, `setKeepAliveTime`, `setThreadFactory`,
//! `setRejectedExecutionHandler` and their illegal-argument cases), `beforeExecute` /
//! `afterExecute` / `terminated` hooks, `DiscardOldestPolicy`, `invokeAny`, and the
//! null-argument cases (Rust has no null). No test asserts on wall-clock time: jobs are
//! held on latches, state that settles on a pool thread is polled with `eventually`.
//! Every case runs on a current-thread and a two-worker multi-thread runtime.

#[macro_use]
mod support;

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use corral_blocking::{AcceptedJob, BlockingPool, BuildError, RunError, TryRunError};
use corral_test_support::Rng;
use support::{eventually, occupy_n, ready, Latch, OpenOnDrop};
use tokio_test::{assert_pending, assert_ready, task};

on_both_runtimes!(
    jdk_test_execute_and_submit,
    jdk_test_get_active_count,
    jdk_test_prestart_core_thread,
    jdk_test_get_completed_task_count,
    jdk_test_get_largest_pool_size,
    jdk_test_get_pool_size,
    jdk_test_get_task_count,
    jdk_test_is_shutdown,
    jdk_test_await_termination_times_out,
    jdk_test_await_termination_in_a_loop_leaves_nothing_behind,
    jdk_test_is_terminated,
    jdk_test_terminated,
    jdk_test_get_queue,
    jdk_test_remove_and_purge,
    jdk_test_shutdown_now,
    jdk_test_submitted_tasks_rejected_when_saturated_or_shutdown,
    jdk_test_standard_rejected_execution_handlers,
    jdk_saturated_size,
    jdk_test_discard_oldest_on_shutdown,
    jdk_test_invoke_all,
    jdk_test_interrupted_submit,
    jdk_test_timed_invoke_all_cancels_tasks_not_completed,
    jdk_test_failing_thread_factory,
    jdk_test_allow_core_thread_timeout,
    jdk_test_allow_core_thread_timeout_false,
    jdk_test_rejected_recycled_task,
    jdk_worker_death_after_a_throwing_task,
    jdk_shutdown_racing_submissions_seeded,
    jdk_one_thread_runs_jobs_in_arrival_order_seeded,
);

fn pool(name: &str, max_threads: usize, queue: usize) -> BlockingPool {
    BlockingPool::builder()
        .name(name)
        .max_threads(max_threads)
        .queue_capacity(queue)
        .build()
        .unwrap()
}

/// `testExecute`, `testSubmitCallable`, `testSubmitRunnable`, `testSubmitRunnable2`:
/// a submitted job runs and its caller gets its value (a `Callable`'s result, a
/// `Runnable`'s `()`), through `run` and through `try_run`'s handle.
async fn jdk_test_execute_and_submit() {
    let pool = pool("jdk-execute", 2, 10);
    assert_eq!(
        pool.run(|| String::from("a test string")).await.unwrap(),
        "a test string"
    );
    pool.run(|| ()).await.unwrap();
    let accepted = pool.try_run(|| 42).unwrap();
    assert_eq!(accepted.await.unwrap(), 42);
}

/// `testGetActiveCount`: `running` is 0, then 1 while a job runs (seen from inside the
/// job too), never more.
async fn jdk_test_get_active_count() {
    let pool = pool("jdk-active", 2, 10);
    assert_eq!(pool.metrics().running, 0);
    let gate = Latch::new();
    let _open = OpenOnDrop(gate.clone());
    let started = Latch::new();
    let job = pool
        .try_run({
            let (pool, gate, started) = (pool.clone(), gate.clone(), started.clone());
            move || {
                started.open();
                let inside = pool.metrics().running;
                gate.wait();
                inside
            }
        })
        .unwrap();
    started.opened().await;
    assert_eq!(pool.metrics().running, 1);
    gate.open();
    assert_eq!(job.await.unwrap(), 1);
}

/// `testPrestartCoreThread` / `testPrestartAllCoreThreads`: there is no prestart, so
/// the thread counts: none before the first job, one more per concurrent job, never
/// more than `max_threads` (a third job waits in the queue), and the threads stay,
/// idle, within the keep-alive.
async fn jdk_test_prestart_core_thread() {
    let pool = BlockingPool::builder()
        .name("jdk-prestart")
        .max_threads(2)
        .queue_capacity(10)
        .keep_alive(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert_eq!(pool.metrics().threads_alive, 0);
    let (gate, mut jobs) = occupy_n(&pool, 1).await;
    assert_eq!(pool.metrics().threads_alive, 1);
    let second = {
        let gate = gate.clone();
        pool.try_run(move || gate.wait()).unwrap()
    };
    eventually("two running", || pool.metrics().running == 2).await;
    assert_eq!(pool.metrics().threads_alive, 2);
    let third = {
        let gate = gate.clone();
        pool.try_run(move || gate.wait()).unwrap()
    };
    let m = pool.metrics();
    assert_eq!((m.threads_alive, m.running, m.queued), (2, 2, 1), "{m:?}");
    jobs.extend([second, third]);
    gate.open();
    for job in jobs {
        job.await.unwrap();
    }
    eventually("both idle", || pool.metrics().threads_idle == 2).await;
    let m = pool.metrics();
    assert_eq!((m.threads_alive, m.threads_high_water), (2, 2), "{m:?}");
}

/// `testGetCompletedTaskCount`: 0 while the job runs (inside it too); corral is
/// stronger than the JDK's eventual 1: the job is booked as completed before its caller
/// gets the result.
async fn jdk_test_get_completed_task_count() {
    let pool = pool("jdk-completed", 2, 10);
    assert_eq!(pool.metrics().completed, 0);
    let (started, proceed) = (Latch::new(), Latch::new());
    let _open = OpenOnDrop(proceed.clone());
    let job = pool
        .try_run({
            let (pool, started, proceed) = (pool.clone(), started.clone(), proceed.clone());
            move || {
                started.open();
                let inside = pool.metrics().completed;
                proceed.wait();
                inside
            }
        })
        .unwrap();
    started.opened().await;
    assert_eq!(pool.metrics().completed, 0);
    proceed.open();
    assert_eq!(job.await.unwrap(), 0);
    assert_eq!(pool.metrics().completed, 1);
}

/// `testGetLargestPoolSize`: the high-water mark of threads reaches the number of
/// concurrent jobs, does not overestimate, and stays after they are done.
async fn jdk_test_get_largest_pool_size() {
    const THREADS: usize = 3;
    let pool = pool("jdk-largest", THREADS, 10);
    assert_eq!(pool.metrics().threads_high_water, 0);
    let (gate, jobs) = occupy_n(&pool, THREADS).await;
    assert_eq!(pool.metrics().threads_high_water, THREADS);
    gate.open();
    for job in jobs {
        job.await.unwrap();
    }
    assert_eq!(pool.metrics().threads_high_water, THREADS);
    pool.shutdown();
    pool.stopped().await;
    assert_eq!(pool.metrics().threads_high_water, THREADS);
}

/// `testGetPoolSize`: 0 threads, then 1 while a job runs (seen from inside the job).
async fn jdk_test_get_pool_size() {
    let pool = pool("jdk-pool-size", 1, 10);
    assert_eq!(pool.metrics().threads_alive, 0);
    let inside = pool
        .run({
            let pool = pool.clone();
            move || pool.metrics().threads_alive
        })
        .await
        .unwrap();
    assert_eq!(inside, 1);
    assert_eq!(pool.metrics().threads_alive, 1);
}

/// `testGetTaskCount`: corral has no task count; `running + queued + completed` is the
/// number of accepted jobs still counted, and grows by one per submission.
async fn jdk_test_get_task_count() {
    const TASKS: usize = 3;
    let pool = pool("jdk-task-count", 1, 10);
    let accounted = |pool: &BlockingPool| {
        let m = pool.metrics();
        m.running + m.queued + m.completed as usize
    };
    assert_eq!(accounted(&pool), 0);
    let (gate, mut jobs) = occupy_n(&pool, 1).await;
    assert_eq!(accounted(&pool), 1);
    for i in 0..TASKS {
        assert_eq!(accounted(&pool), 1 + i);
        let gate = gate.clone();
        jobs.push(pool.try_run(move || gate.wait()).unwrap());
    }
    let m = pool.metrics();
    assert_eq!((m.running, m.queued, m.completed), (1, TASKS, 0), "{m:?}");
    gate.open();
    for job in jobs {
        job.await.unwrap();
    }
    assert_eq!(pool.metrics().completed, 1 + TASKS as u64);
    assert_eq!(accounted(&pool), 1 + TASKS);
}

/// `testIsShutdown`: `closed` is false before `shutdown`, true after (and after
/// `close`).
async fn jdk_test_is_shutdown() {
    let pool = pool("jdk-is-shutdown", 1, 10);
    assert!(!pool.metrics().closed);
    pool.shutdown();
    assert!(pool.metrics().closed);
    let other = pool_named("jdk-is-closed");
    assert!(!other.metrics().closed);
    other.close();
    assert!(other.metrics().closed);
}

fn pool_named(name: &str) -> BlockingPool {
    pool(name, 1, 10)
}

/// `testAwaitTermination_timesOut`: waiting for a pool that was never shut down does
/// not finish (an expired timeout reports it: `timeout(ZERO, stopped())` is
/// `Elapsed`, the JDK's `awaitTermination(-1) == false`); after shutdown it does.
async fn jdk_test_await_termination_times_out() {
    let pool = pool("jdk-await", 1, 10);
    pool.run(|| ()).await.unwrap();
    let mut stopped = task::spawn(pool.stopped());
    assert_pending!(stopped.poll());
    assert!(tokio::time::timeout(Duration::ZERO, pool.stopped())
        .await
        .is_err());
    assert!(!pool.metrics().closed);
    pool.shutdown();
    tokio::time::timeout(Duration::from_secs(60), pool.stopped())
        .await
        .expect("a shut-down pool with no job stops");
    assert!(stopped.is_woken());
    assert_ready!(stopped.poll());
    assert_eq!(pool.metrics().threads_alive, 0);
}

/// `testAwaitTermination_timesOut` as a service writes it: a timed wait for
/// termination, again and again, each time from a fresh task (a health check, a
/// shutdown poller). Each wait that times out is a dropped `Stopped` future; the pool
/// must not keep its waker. Before the fix every such wait left its task's waker in the
/// pool until shutdown: unbounded growth on a long-lived pool, and each waker keeps its
/// task's allocation alive.
async fn jdk_test_await_termination_in_a_loop_leaves_nothing_behind() {
    struct Counted;
    impl std::task::Wake for Counted {
        fn wake(self: Arc<Self>) {}
    }
    let pool = pool("jdk-await-loop", 1, 10);
    pool.run(|| ()).await.unwrap();
    let tasks: Vec<Arc<Counted>> = (0..100).map(|_| Arc::new(Counted)).collect();
    for task in &tasks {
        let waker = std::task::Waker::from(task.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut stopped = pool.stopped();
        assert!(std::pin::Pin::new(&mut stopped).poll(&mut cx).is_pending());
        // Polled again by the same task, then timed out: dropped.
        assert!(std::pin::Pin::new(&mut stopped).poll(&mut cx).is_pending());
    }
    let kept = tasks.iter().filter(|t| Arc::strong_count(t) > 1).count();
    assert_eq!(
        kept, 0,
        "the pool still holds the wakers of dropped `stopped()` futures"
    );
    // A waiter that stays is still woken.
    let mut kept = task::spawn(pool.stopped());
    assert_pending!(kept.poll());
    pool.shutdown();
    no_hang("stopped", async {
        while !kept.is_woken() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_ready!(kept.poll());
}

/// `testIsTerminated` / `testIsTerminating`: a pool shut down while a job runs is
/// closed but not stopped until that job returns; then it is stopped.
async fn jdk_test_is_terminated() {
    let pool = pool("jdk-terminated", 1, 10);
    let (gate, mut jobs) = occupy_n(&pool, 1).await;
    let _open = OpenOnDrop(gate.clone());
    pool.shutdown();
    let mut stopped = task::spawn(pool.stopped());
    assert_pending!(stopped.poll());
    let m = pool.metrics();
    assert!(m.closed);
    assert_eq!((m.running, m.threads_alive), (1, 1), "{m:?}");
    gate.open();
    jobs.pop().unwrap().await.unwrap();
    ready(&mut stopped).await;
    assert_eq!(pool.metrics().threads_alive, 0);
}

/// `testTerminated`: shutting down a pool that never ran anything stops it at once.
async fn jdk_test_terminated() {
    let pool = pool("jdk-terminated-empty", 1, 0);
    let mut stopped = task::spawn(pool.stopped());
    assert_pending!(stopped.poll());
    pool.shutdown();
    assert!(stopped.is_woken());
    assert_ready!(stopped.poll());
    assert!(pool.metrics().closed);
}

/// `testGetQueue`: with one thread busy, the other four of five jobs are queued.
async fn jdk_test_get_queue() {
    let pool = pool("jdk-queue", 1, 10);
    let (gate, mut jobs) = occupy_n(&pool, 1).await;
    for _ in 0..4 {
        let gate = gate.clone();
        jobs.push(pool.try_run(move || gate.wait()).unwrap());
    }
    let m = pool.metrics();
    assert_eq!((m.running, m.queued), (1, 4), "{m:?}");
    gate.open();
    for job in jobs {
        job.await.unwrap();
    }
    assert_eq!(pool.metrics().queued, 0);
}

/// `testRemove`, `testPurge`, `testGet_cancelled`: dropping the handle of a queued job
/// removes it at once (no `purge` needed) and it never runs; dropping the running
/// job's handle does not remove it: it runs on, counted as `abandoned_running`.
async fn jdk_test_remove_and_purge() {
    let pool = pool("jdk-remove", 1, 10);
    let ran = Arc::new(AtomicUsize::new(0));
    let (gate, mut running) = occupy_n(&pool, 1).await;
    let mut queued: Vec<AcceptedJob<()>> = (0..5)
        .map(|_| {
            let ran = ran.clone();
            pool.try_run(move || {
                ran.fetch_add(1, SeqCst);
            })
            .unwrap()
        })
        .collect();
    assert_eq!(pool.metrics().queued, 5);
    drop(queued.remove(4));
    assert_eq!(pool.metrics().queued, 4);
    drop(queued.remove(3));
    assert_eq!(pool.metrics().queued, 3);
    drop(running.pop());
    let m = pool.metrics();
    assert_eq!(
        (m.running, m.abandoned_running, m.queued),
        (1, 1, 3),
        "{m:?}"
    );
    gate.open();
    for job in queued {
        job.await.unwrap();
    }
    assert_eq!(ran.load(SeqCst), 3);
    eventually("abandoned job returned", || {
        let m = pool.metrics();
        (m.running, m.abandoned_running, m.completed) == (0, 0, 4)
    })
    .await;
}

/// `testShutdownNow`: two jobs running, three queued; `shutdown()` fails the three
/// queued ones at once with `Closed` (the JDK returns them in a list: the documented
/// difference) and empties the queue; the running two finish (they are not
/// interrupted), the pool stops, and exactly those two ran and are counted completed.
async fn jdk_test_shutdown_now() {
    const POOL: usize = 2;
    const COUNT: usize = 5;
    let pool = pool("jdk-shutdown-now", POOL, 10);
    let ran = Arc::new(AtomicUsize::new(0));
    let gate = Latch::new();
    let _open = OpenOnDrop(gate.clone());
    let jobs: Vec<_> = (0..COUNT)
        .map(|_| {
            let (ran, gate) = (ran.clone(), gate.clone());
            pool.try_run(move || {
                gate.wait();
                ran.fetch_add(1, SeqCst);
            })
            .unwrap()
        })
        .collect();
    eventually("pool busy", || pool.metrics().running == POOL).await;
    assert_eq!(pool.metrics().completed, 0);
    pool.shutdown();
    let m = pool.metrics();
    assert!(m.closed);
    assert_eq!(m.queued, 0);
    // The queued three are failed before anything is released.
    let mut running = Vec::new();
    let mut closed = 0;
    for job in jobs {
        let mut job = task::spawn(job);
        match job.poll() {
            std::task::Poll::Ready(Err(RunError::Closed)) => closed += 1,
            std::task::Poll::Ready(other) => panic!("unexpected {other:?}"),
            std::task::Poll::Pending => running.push(job),
        }
    }
    assert_eq!((closed, running.len()), (COUNT - POOL, POOL));
    gate.open();
    for mut job in running {
        ready(&mut job).await.unwrap();
    }
    pool.stopped().await;
    assert_eq!(ran.load(SeqCst), POOL);
    assert_eq!(pool.metrics().completed, POOL as u64);
}

/// `testSubmittedTasksRejectedWhenSaturatedOrShutdown`, in seeded rounds (its random
/// mix of `execute`/`submit` and of `shutdown`/`shutdownNow`): a one-thread,
/// one-slot pool takes exactly two jobs; then `try_run` is refused with the closure
/// handed back and `run` waits (corral's difference: it does not refuse); after
/// `close` or `shutdown` both are refused with `Closed` (the waiting `run` too), the
/// pool is not stopped while its job is held, and once released it stops with
/// `completed == 2 - (queued jobs dropped by shutdown)`.
async fn jdk_test_submitted_tasks_rejected_when_saturated_or_shutdown() {
    for seed in 0..200u64 {
        let mut rng = Rng(seed);
        let pool = pool("jdk-saturated", 1, 1);
        let gate = Latch::new();
        let _open = OpenOnDrop(gate.clone());
        let mut saturating = Vec::new();
        for _ in 0..2 {
            let gate = gate.clone();
            let job = move || {
                gate.wait();
                true
            };
            let job: BoxedJob = if rng.below(2) == 0 {
                let pool = pool.clone();
                Box::pin(async move { pool.run(job).await })
            } else {
                let accepted = pool.try_run(job).unwrap();
                Box::pin(accepted)
            };
            saturating.push(task::spawn(job));
        }
        let saturating: Vec<_> = saturating
            .into_iter()
            .map(|mut job| {
                // `run` is admitted on its first poll.
                assert_pending!(job.poll());
                job
            })
            .collect();
        eventually("thread busy", || pool.metrics().running == 1).await;
        let refused = pool.try_run(|| false).unwrap_err();
        assert!(matches!(refused, TryRunError::Full(_)), "seed {seed}");
        assert!(!refused.into_inner()(), "handed back intact");
        let mut waiting = task::spawn(pool.run(|| false));
        assert_pending!(waiting.poll());
        assert_eq!(pool.metrics().waiting_for_space, 1, "seed {seed}");

        let now = rng.below(2) == 0;
        if now {
            pool.shutdown();
        } else {
            pool.close();
        }
        assert!(matches!(
            pool.try_run(|| false),
            Err(TryRunError::Closed(_))
        ));
        assert!(waiting.is_woken());
        assert!(matches!(
            assert_ready!(waiting.poll()),
            Err(RunError::Closed)
        ));
        assert!(matches!(pool.run(|| false).await, Err(RunError::Closed)));
        let mut stopped = task::spawn(pool.stopped());
        assert_pending!(stopped.poll());

        gate.open();
        let mut outcomes = Vec::new();
        for mut job in saturating {
            outcomes.push(ready(&mut job).await);
        }
        ready(&mut stopped).await;
        let ok = outcomes.iter().filter(|o| matches!(o, Ok(true))).count();
        let closed = outcomes
            .iter()
            .filter(|o| matches!(o, Err(RunError::Closed)))
            .count();
        assert_eq!(
            (ok, closed),
            if now { (1, 1) } else { (2, 0) },
            "seed {seed}"
        );
        assert_eq!(pool.metrics().completed, ok as u64, "seed {seed}");
        assert!(matches!(
            pool.try_run(|| false),
            Err(TryRunError::Closed(_))
        ));
    }
}

/// The TCK's `saturatedSize(p)` (`getMaximumPoolSize() + queue capacity`), which its
/// rejection tests rely on: from the moment the pool is built, exactly
/// `max_threads + queue_capacity` held jobs are accepted at once, before any thread
/// has started (threads being spawned count as taking one job each), and the next is
/// refused; `queue_capacity(0)` is the `SynchronousQueue` case. Every shape from 1 to
/// 3 threads and 0 to 2 queue slots.
async fn jdk_saturated_size() {
    for max_threads in 1..=3 {
        for queue in 0..=2 {
            let pool = pool("jdk-saturated-size", max_threads, queue);
            let gate = Latch::new();
            let _open = OpenOnDrop(gate.clone());
            let accepted: Vec<_> = (0..max_threads + queue)
                .map(|i| {
                    let gate = gate.clone();
                    pool.try_run(move || gate.wait())
                        .unwrap_or_else(|e| panic!("{max_threads}+{queue}: job {i}: {e}"))
                })
                .collect();
            assert!(
                matches!(pool.try_run(|| ()), Err(TryRunError::Full(_))),
                "{max_threads}+{queue}"
            );
            eventually("threads busy", || pool.metrics().running == max_threads).await;
            let m = pool.metrics();
            assert_eq!((m.queued, m.threads_alive), (queue, max_threads), "{m:?}");
            assert!(matches!(pool.try_run(|| ()), Err(TryRunError::Full(_))));
            gate.open();
            for job in accepted {
                job.await.unwrap();
            }
        }
    }
}

type BoxedJob = std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, RunError>> + Send>>;

/// `testStandardRejectedExecutionHandlers` (with the default `AbortPolicy`): a refused
/// closure comes back untouched, so the caller can run it itself (`CallerRunsPolicy`:
/// on the caller's thread) or drop it (`DiscardPolicy`); the pool is not perturbed
/// (nothing queued or run, only `rejected` counts the refusal).
async fn jdk_test_standard_rejected_execution_handlers() {
    let pool = pool("jdk-handlers", 1, 1);
    let (gate, mut jobs) = occupy_n(&pool, 1).await;
    let filler = {
        let gate = gate.clone();
        pool.try_run(move || gate.wait()).unwrap()
    };
    jobs.push(filler);
    let before = pool.metrics();
    let refused = pool
        .try_run(|| std::thread::current().id())
        .expect_err("saturated");
    let TryRunError::Full(caller_runs) = refused else {
        panic!("expected Full");
    };
    assert_eq!(caller_runs(), std::thread::current().id());
    let discarded = pool.try_run(|| ()).expect_err("saturated");
    drop(discarded);
    let after = pool.metrics();
    assert_eq!(
        (after.queued, after.running, after.completed),
        (before.queued, before.running, before.completed)
    );
    assert_eq!(after.rejected, before.rejected + 2);
    gate.open();
    for job in jobs {
        job.await.unwrap();
    }
}

/// `testDiscardOldestOnShutdown` (what any policy does after shutdown): a job submitted
/// to a shut-down pool never runs; corral hands it back as `Closed`.
async fn jdk_test_discard_oldest_on_shutdown() {
    let pool = pool("jdk-after-shutdown", 1, 1);
    pool.shutdown();
    let ran = Arc::new(AtomicUsize::new(0));
    let refused = pool
        .try_run({
            let ran = ran.clone();
            move || ran.fetch_add(1, SeqCst)
        })
        .unwrap_err();
    assert!(matches!(refused, TryRunError::Closed(_)));
    drop(refused);
    assert_eq!(ran.load(SeqCst), 0);
    assert_eq!(pool.metrics().completed, 0);
}

/// `testInvokeAll4` / `testInvokeAll5`: all results of a batch, in order; a failing
/// task's failure is its own (a panic comes back as `Panicked` with its payload), the
/// others' values are unaffected.
async fn jdk_test_invoke_all() {
    let pool = pool("jdk-invoke-all", 2, 10);
    let batch: Vec<_> = (0..4)
        .map(|i| {
            pool.try_run(move || {
                if i == 2 {
                    panic!("task {i} failed");
                }
                format!("task {i}")
            })
            .unwrap()
        })
        .collect();
    let mut results = Vec::new();
    for job in batch {
        results.push(job.await);
    }
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(value) => assert_eq!(value, format!("task {i}")),
            Err(err) => {
                assert_eq!(i, 2);
                assert_eq!(err.to_string(), "blocking job panicked: task 2 failed");
            }
        }
    }
}

/// `testInterruptedSubmit`: the thread waiting in `submit(task).get()` is
/// interrupted. The corral analog is the task awaiting `run` being aborted: its caller
/// is gone, the job (already running) runs on to its end, counted as
/// `abandoned_running` meanwhile, and the pool is unaffected.
async fn jdk_test_interrupted_submit() {
    let pool = pool("jdk-interrupted", 1, 10);
    let (started, done) = (Latch::new(), Latch::new());
    let _open = OpenOnDrop(done.clone());
    let returned = Arc::new(AtomicUsize::new(0));
    let caller = tokio::spawn({
        let (pool, started, done, returned) = (
            pool.clone(),
            started.clone(),
            done.clone(),
            returned.clone(),
        );
        async move {
            pool.run(move || {
                started.open();
                done.wait();
                returned.fetch_add(1, SeqCst);
                true
            })
            .await
        }
    });
    started.opened().await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    let m = pool.metrics();
    assert_eq!((m.running, m.abandoned_running), (1, 1), "{m:?}");
    done.open();
    eventually("the job returned", || {
        let m = pool.metrics();
        (m.running, m.abandoned_running, m.completed) == (0, 0, 1)
    })
    .await;
    assert_eq!(returned.load(SeqCst), 1);
    assert_eq!(pool.run(|| 2).await.unwrap(), 2);
}

/// `testTimedInvokeAll6`: a caller whose time runs out cancels what has not completed.
/// corral's difference (Rust has no interrupt): a job that had started runs to its
/// end, counted as `abandoned_running` until it returns; one still queued is removed
/// and never runs. The other jobs' values arrive. The timeouts here can only expire
/// (their jobs are held on a latch), so nothing depends on how fast the clock runs.
async fn jdk_test_timed_invoke_all_cancels_tasks_not_completed() {
    let pool = pool("jdk-timed-invoke", 1, 10);
    let gate = Latch::new();
    let _open = OpenOnDrop(gate.clone());
    let (started, ran_queued) = (Latch::new(), Arc::new(AtomicUsize::new(0)));
    let mut waiter = pool.run({
        let (gate, started) = (gate.clone(), started.clone());
        move || {
            started.open();
            gate.wait();
            "1"
        }
    });
    assert_pending!(task::spawn(&mut waiter).poll());
    started.opened().await;
    let queued = pool.run({
        let ran_queued = ran_queued.clone();
        move || ran_queued.fetch_add(1, SeqCst)
    });
    assert!(tokio::time::timeout(Duration::from_millis(1), queued)
        .await
        .is_err());
    assert!(tokio::time::timeout(Duration::ZERO, waiter).await.is_err());
    let m = pool.metrics();
    assert_eq!(
        (m.running, m.abandoned_running, m.queued),
        (1, 1, 0),
        "{m:?}"
    );
    gate.open();
    let (zero, two) = (pool.run(|| "0").await, pool.run(|| "2").await);
    assert_eq!((zero.unwrap(), two.unwrap()), ("0", "2"));
    assert_eq!(ran_queued.load(SeqCst), 0);
    eventually("abandoned job returned", || {
        pool.metrics().abandoned_running == 0
    })
    .await;
    assert_eq!(pool.metrics().completed, 3);
}

/// `testFailingThreadFactory`: the JDK keeps executing on the threads it has when the
/// factory fails. corral cannot inject a failing factory, but a stack no OS can map
/// makes every spawn fail: with no thread alive, `try_run` hands the closure back with
/// the OS error (`Spawn`) and `run` fails with `RunError::Spawn`; nothing is left
/// queued or counted as a thread.
async fn jdk_test_failing_thread_factory() {
    let pool = BlockingPool::builder()
        .name("jdk-no-threads")
        .max_threads(4)
        .stack_size(1 << 62)
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let refused = pool
        .try_run({
            let ran = ran.clone();
            move || ran.fetch_add(1, SeqCst)
        })
        .unwrap_err();
    let TryRunError::Spawn(f, err) = refused else {
        panic!("expected Spawn, got {refused:?}");
    };
    assert!(!err.to_string().is_empty());
    assert_eq!(f(), 0, "handed back intact, runs on the caller");
    assert!(matches!(pool.run(|| ()).await, Err(RunError::Spawn(_))));
    let m = pool.metrics();
    assert_eq!((m.threads_alive, m.queued, m.running), (0, 0, 0), "{m:?}");
    assert_eq!(m.threads_high_water, 0);
    // Both refusals are counted as rejected, as `PoolMetrics::rejected` documents.
    assert_eq!(m.rejected, 2, "{m:?}");
}

/// `testAllowCoreThreadTimeOut_true` (corral's only mode): an idle thread exits after
/// the keep-alive, and the pool spawns again on demand.
async fn jdk_test_allow_core_thread_timeout() {
    let pool = BlockingPool::builder()
        .name("jdk-timeout")
        .max_threads(2)
        .keep_alive(Duration::ZERO)
        .build()
        .unwrap();
    let inside = pool
        .run({
            let pool = pool.clone();
            move || pool.metrics().threads_alive
        })
        .await
        .unwrap();
    assert_eq!(inside, 1);
    eventually("idle thread reaped", || pool.metrics().threads_alive == 0).await;
    assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    eventually("reaped again", || pool.metrics().threads_alive == 0).await;
}

/// `testAllowCoreThreadTimeOut_false`: idle threads that must not time out. A Java
/// user writes a keep-alive of `Long.MAX_VALUE`; the corral spelling is
/// `keep_alive(Duration::MAX)`, documented as "idle threads never exit on their own".
/// The thread goes idle, takes the next job (it is the same thread), and still exits at
/// shutdown. Before the fix, the idle thread computed `now + Duration::MAX`, panicked
/// on the overflow and died while the pool counted it alive and idle: the next job was
/// handed to it and never ran (the `no_hang` bounds turn that hang into a failure).
async fn jdk_test_allow_core_thread_timeout_false() {
    let pool = BlockingPool::builder()
        .name("jdk-forever")
        .max_threads(1)
        .keep_alive(Duration::MAX)
        .build()
        .unwrap();
    let name = || std::thread::current().name().map(str::to_owned);
    let first = no_hang("first job", pool.run(name)).await.unwrap();
    eventually("thread idle", || pool.metrics().threads_idle == 1).await;
    let second = no_hang("a job for the idle thread", pool.run(name))
        .await
        .unwrap();
    assert_eq!(first, second);
    let m = pool.metrics();
    assert_eq!(
        (m.threads_alive, m.threads_high_water, m.completed),
        (1, 1, 2),
        "{m:?}"
    );
    pool.shutdown();
    no_hang("stopped", pool.stopped()).await;
}

/// Bounds a wait that should end, so a hang fails the test instead of hanging it (a
/// hang bound, not a timing assertion).
async fn no_hang<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

/// `testRejectedRecycledTask`: the same task, refused and submitted again until
/// accepted, 1,000 times: the handed-back closure is the one resubmitted, and every
/// task runs exactly once.
async fn jdk_test_rejected_recycled_task() {
    const TASKS: usize = 1_000;
    let pool = pool("jdk-recycled", 4, 4);
    let done = Arc::new(AtomicUsize::new(0));
    let mut accepted = Vec::new();
    let mut refusals = 0u64;
    for _ in 0..TASKS {
        let mut task = {
            let done = done.clone();
            move || {
                done.fetch_add(1, SeqCst);
            }
        };
        loop {
            match pool.try_run(task) {
                Ok(job) => {
                    accepted.push(job);
                    break;
                }
                Err(refused) => {
                    assert!(matches!(refused, TryRunError::Full(_)));
                    refusals += 1;
                    task = refused.into_inner();
                    tokio::task::yield_now().await;
                }
            }
        }
    }
    for job in accepted {
        job.await.unwrap();
    }
    assert_eq!(done.load(SeqCst), TASKS);
    let m = pool.metrics();
    assert_eq!((m.completed, m.rejected), (TASKS as u64, refusals), "{m:?}");
}

/// The JDK replaces a worker whose task threw (`processWorkerExit`, checked across the
/// TCK by the pool size staying at its core size); corral's thread does not die at all:
/// the panic is caught and reported to the caller, and the same thread takes the next
/// job.
async fn jdk_worker_death_after_a_throwing_task() {
    let pool = pool("jdk-throwing", 1, 10);
    let name = || std::thread::current().name().map(str::to_owned);
    let first = pool.run(name).await.unwrap();
    let err = pool.run(|| panic!("thrown")).await.unwrap_err();
    assert_eq!(err.to_string(), "blocking job panicked: thrown");
    let after = pool.run(name).await.unwrap();
    assert_eq!(first, after);
    let m = pool.metrics();
    assert_eq!(
        (m.threads_alive, m.threads_high_water, m.completed),
        (1, 1, 3)
    );
}

/// What a job's caller saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The job's value.
    Value,
    /// The job's own panic.
    Panicked,
    /// `RunError::Closed` from `run` or from an accepted job's handle.
    Closed,
    /// `try_run` refused it as closed (closure handed back).
    Refused,
    /// The handle was dropped; the job ran at most once.
    Dropped,
}

/// `testShutdownNow` / `testSubmittedTasksRejectedWhenSaturatedOrShutdown`'s
/// accounting, with `shutdown` or `close` racing submissions, in 1,000 seeded rounds:
/// every job submitted either ran exactly once (its caller got its value or its
/// panic), or never ran and its caller was told (`Closed`, or the closure handed back);
/// a job whose handle was dropped ran at most once. After `close` (queue kept) every
/// job accepted through `try_run` ran. Half the rounds use a zero keep-alive, so
/// threads exit and respawn under the race. Once stopped, `completed` is the number of jobs
/// that ran, and nothing is left running, queued, waiting or alive.
async fn jdk_shutdown_racing_submissions_seeded() {
    silence_panics_of("race-");
    for seed in 0..1_000u64 {
        let mut rng = Rng(seed);
        let pool = BlockingPool::builder()
            .name("race-shutdown")
            .max_threads(1 + rng.index(3))
            .queue_capacity(rng.index(4))
            // Half the rounds reap a thread the moment it is idle, so threads exit and
            // are spawned again while jobs are being queued and the pool closed.
            .keep_alive(if rng.below(2) == 0 {
                Duration::ZERO
            } else {
                Duration::from_secs(60)
            })
            .build()
            .unwrap();
        let jobs = 4 + rng.index(8);
        let runs: Arc<Vec<AtomicU8>> = Arc::new((0..jobs).map(|_| AtomicU8::new(0)).collect());
        let now = rng.below(2) == 0;
        let mut submitters = Vec::new();
        for part in 0..2 {
            let (pool, runs, mut rng) = (pool.clone(), runs.clone(), Rng(rng.next()));
            submitters.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                for i in (part..jobs).step_by(2) {
                    let panics = rng.below(4) == 0;
                    let job = {
                        let runs = runs.clone();
                        move || {
                            runs[i].fetch_add(1, SeqCst);
                            if panics {
                                panic!("job {i}");
                            }
                            i
                        }
                    };
                    let outcome = if rng.below(2) == 0 {
                        pool.run(job).await
                    } else {
                        match pool.try_run(job) {
                            Ok(accepted) if rng.below(6) == 0 => {
                                for _ in 0..rng.below(3) {
                                    tokio::task::yield_now().await;
                                }
                                drop(accepted);
                                seen.push((i, Seen::Dropped, true));
                                continue;
                            }
                            Ok(accepted) => {
                                let out = accepted.await;
                                seen.push((i, classify(i, &out), true));
                                continue;
                            }
                            Err(TryRunError::Full(job)) => pool.run(job).await,
                            Err(TryRunError::Closed(_)) => {
                                seen.push((i, Seen::Refused, false));
                                continue;
                            }
                            Err(err) => panic!("{err}"),
                        }
                    };
                    seen.push((i, classify(i, &outcome), false));
                    if rng.below(3) == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                seen
            }));
        }
        let stopper = {
            let (pool, yields) = (pool.clone(), rng.below(jobs as u64));
            tokio::spawn(async move {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                if now {
                    pool.shutdown();
                } else {
                    pool.close();
                }
            })
        };
        let mut seen = Vec::new();
        for submitter in submitters {
            seen.extend(submitter.await.unwrap());
        }
        stopper.await.unwrap();
        pool.stopped().await;
        let mut total_runs = 0u64;
        for &(i, outcome, accepted_by_try_run) in &seen {
            let ran = runs[i].load(SeqCst);
            total_runs += u64::from(ran);
            let case = format!("seed {seed}, job {i}: {outcome:?}, ran {ran} times");
            match outcome {
                Seen::Value | Seen::Panicked => assert_eq!(ran, 1, "{case}"),
                Seen::Closed | Seen::Refused => assert_eq!(ran, 0, "{case}"),
                Seen::Dropped => assert!(ran <= 1, "{case}"),
            }
            if !now && accepted_by_try_run && outcome != Seen::Dropped {
                assert_ne!(outcome, Seen::Closed, "close keeps accepted jobs: {case}");
            }
        }
        assert_eq!(seen.len(), jobs, "seed {seed}: every job accounted for");
        let m = pool.metrics();
        assert_eq!(m.completed, total_runs, "seed {seed}: {m:?}");
        assert_eq!(
            (m.running, m.queued, m.threads_alive, m.waiting_for_space),
            (0, 0, 0, 0),
            "seed {seed}: {m:?}"
        );
        eventually("no abandoned job left", || {
            pool.metrics().abandoned_running == 0
        })
        .await;
    }
}

/// Not a TCK test but what every TCK case with one thread and an `ArrayBlockingQueue`
/// relies on (and rust-threadpool's channel gives): one thread runs the accepted jobs
/// in the order they were submitted. corral's `run` waits for queue space "in arrival
/// order, whatever order the runtime polls the callers in"; here each caller records
/// its arrival (its first poll) under a lock, callers race on both runtimes, a seeded
/// few leave while waiting, and the jobs that run must run in arrival order, the
/// others not at all. 300 seeded rounds.
async fn jdk_one_thread_runs_jobs_in_arrival_order_seeded() {
    for seed in 0..300u64 {
        let mut rng = Rng(seed);
        let pool = pool("jdk-fifo", 1, rng.index(3));
        let (gate, mut first) = occupy_n(&pool, 1).await;
        let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
        let callers: Vec<_> = (0..12usize)
            .map(|i| {
                let (pool, arrivals, ran) = (pool.clone(), arrivals.clone(), ran.clone());
                let leaves = rng.below(5) == 0;
                tokio::spawn(async move {
                    let mut run = pool.run(move || ran.lock().unwrap().push(i));
                    std::future::poll_fn(|cx| {
                        let mut arrivals = arrivals.lock().unwrap();
                        let first_poll = std::pin::Pin::new(&mut run).poll(cx);
                        arrivals.push(i);
                        assert!(first_poll.is_pending(), "the thread is held");
                        Poll::Ready(())
                    })
                    .await;
                    if leaves {
                        drop(run);
                        false
                    } else {
                        run.await.unwrap();
                        true
                    }
                })
            })
            .collect();
        eventually("all arrived", || arrivals.lock().unwrap().len() == 12).await;
        gate.open();
        first.pop().unwrap().await.unwrap();
        let mut stayed = Vec::new();
        for (i, caller) in callers.into_iter().enumerate() {
            if caller.await.unwrap() {
                stayed.push(i);
            }
        }
        let arrivals = arrivals.lock().unwrap().clone();
        let ran = ran.lock().unwrap().clone();
        // Every caller that stayed ran; a caller that left may have been admitted (to
        // the queue) and run before it left, or never: either way in its place.
        let expected: Vec<usize> = arrivals
            .iter()
            .copied()
            .filter(|i| ran.contains(i))
            .collect();
        assert_eq!(ran, expected, "seed {seed}: arrivals {arrivals:?}");
        assert!(stayed.iter().all(|i| ran.contains(i)), "seed {seed}");
    }
}

fn classify(i: usize, outcome: &Result<usize, RunError>) -> Seen {
    match outcome {
        Ok(value) => {
            assert_eq!(*value, i, "a job's value goes to its own caller");
            Seen::Value
        }
        Err(RunError::Panicked(payload)) => {
            assert_eq!(
                corral_shared_panic_text(payload.as_ref()),
                format!("job {i}"),
                "a job's panic goes to its own caller"
            );
            Seen::Panicked
        }
        Err(RunError::Closed) => Seen::Closed,
        Err(err) => panic!("job {i}: {err}"),
    }
}

fn corral_shared_panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Keeps the panics the seeded rounds provoke on the named pools' threads out of the
/// test output; every other panic still goes to the default hook.
fn silence_panics_of(prefix: &'static str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = std::thread::current()
                .name()
                .is_some_and(|name| name.starts_with(prefix));
            if !ours {
                default(info);
            }
        }));
    });
}

#[test]
fn jdk_test_constructor_rejects_nonsense() {
    // testConstructor3 (`maximumPoolSize` 0): a typed error instead of an exception.
    assert_eq!(
        BlockingPool::builder().max_threads(0).build().unwrap_err(),
        BuildError::ZeroThreads
    );
    // testConstructor1/2/4 (negative sizes, keep-alive) cannot be written: `usize` and
    // `Duration` are never negative. A zero-capacity queue is the `SynchronousQueue`
    // case, accepted; so is a zero keep-alive.
    assert!(BlockingPool::builder()
        .queue_capacity(0)
        .keep_alive(Duration::ZERO)
        .build()
        .is_ok());
}
