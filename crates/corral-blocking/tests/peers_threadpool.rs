//! The tests of the thread pools a Rust user reaches for, ported to [`BlockingPool`]:
//! the `threadpool` crate's own tests (rust-threadpool `src/lib.rs`, `mod test`) and
//! smol-rs/blocking's `tests/unblock.rs`.
//!
//! A `threadpool` user maps `ThreadPool::new(n)` to
//! `BlockingPool::builder().max_threads(n)`, `execute(f)` to [`BlockingPool::try_run`]
//! or [`BlockingPool::run`], `active_count()` / `queued_count()` / `max_count()` to
//! [`BlockingPool::metrics`]'s `running` / `queued` and [`BlockingPool::max_threads`],
//! and `join()` to awaiting the jobs' handles (or `close()` then `stopped()`, which
//! waits for every accepted job but ends the pool). Two deliberate differences run
//! through the port:
//!
//! - `execute` is fire-and-forget; corral's [`AcceptedJob`] *cancels* a job that has
//!   not started when it is dropped, so the ported tests keep their handles.
//! - A panicking job does not kill its thread (threadpool spawns a replacement and
//!   counts `panic_count()`): corral catches the panic, hands it to the job's caller as
//!   [`RunError::Panicked`], and the same thread takes the next job.
//!
//! Not ported: `test_set_num_threads_increasing`, `test_set_num_threads_decreasing`
//! and `test_shrink` (corral cannot resize: `max_threads` is fixed at `build()`). From smol-rs/blocking, `read`, `write`, `seek` and
//! `panic_with_mut` test the `Unblock` I/O adapter, which corral does not have;
//! `sleep`, `chan` (its receiver moved through jobs, what a corral user writes without
//! the adapter) and `panic` are ported.
//!
//! No test asserts on wall-clock time: jobs are held on latches, and state that
//! settles on a pool thread is polled with `eventually`. Every case runs on a
//! current-thread and a two-worker multi-thread runtime; the races (panics against
//! callers leaving, the pool dropped under running jobs) run in seeded rounds.

#[macro_use]
mod support;

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};

use corral_blocking::{AcceptedJob, BlockingPool, BuildError, RunError};
use corral_test_support::Rng;
use support::{eventually, occupy_n, Latch, OpenOnDrop};
use tokio_test::{assert_pending, assert_ready, task};

on_both_runtimes!(
    threadpool_test_active_count,
    threadpool_test_works,
    threadpool_test_recovery_from_subtask_panic,
    threadpool_test_should_not_panic_on_drop_if_subtasks_panic_after_drop,
    threadpool_test_massive_task_creation,
    threadpool_test_name,
    threadpool_test_debug,
    threadpool_test_repeate_join,
    threadpool_test_empty_pool,
    threadpool_test_no_fun_or_joy,
    threadpool_test_multi_join,
    threadpool_test_clone,
    threadpool_test_join_wavesurfer,
    threadpool_test_cloned_eq,
    threadpool_panics_racing_joins_seeded,
    blocking_sleep,
    blocking_chan,
    blocking_panic,
);

/// threadpool's `TEST_TASKS`.
const TEST_TASKS: usize = 4;

fn pool(name: &str, max_threads: usize, queue: usize) -> BlockingPool {
    BlockingPool::builder()
        .name(name)
        .max_threads(max_threads)
        .queue_capacity(queue)
        .build()
        .unwrap()
}

/// threadpool `test_active_count`: twice as many blocked jobs as threads: `running` is
/// the thread count, the rest are `queued`, and `max_threads` is what was built.
async fn threadpool_test_active_count() {
    let pool = pool("tp-active", TEST_TASKS, 2 * TEST_TASKS);
    let (gate, mut jobs) = occupy_n(&pool, TEST_TASKS).await;
    for _ in 0..TEST_TASKS {
        let gate = gate.clone();
        jobs.push(pool.try_run(move || gate.wait()).unwrap());
    }
    let m = pool.metrics();
    assert_eq!(
        (m.running, m.queued, m.threads_alive),
        (TEST_TASKS, TEST_TASKS, TEST_TASKS)
    );
    assert_eq!(pool.max_threads(), TEST_TASKS);
    gate.open();
    for job in jobs {
        job.await.unwrap();
    }
}

/// threadpool `test_works`: every job runs and its message arrives.
async fn threadpool_test_works() {
    let pool = pool("tp-works", TEST_TASKS, 16);
    let (tx, rx) = mpsc::channel();
    let jobs: Vec<_> = (0..TEST_TASKS)
        .map(|_| {
            let tx = tx.clone();
            pool.try_run(move || tx.send(1).unwrap()).unwrap()
        })
        .collect();
    for job in jobs {
        job.await.unwrap();
    }
    assert_eq!(rx.try_iter().sum::<usize>(), TEST_TASKS);
}

/// threadpool `test_zero_tasks_panic`: a pool of zero threads is a typed build error,
/// not a panic.
#[test]
fn threadpool_test_zero_tasks_panic() {
    let err = BlockingPool::builder().max_threads(0).build().unwrap_err();
    assert_eq!(err, BuildError::ZeroThreads);
    assert_eq!(err.to_string(), "max_threads must be at least 1");
}

/// threadpool `test_recovery_from_subtask_panic`: a panic in every thread at once; each
/// caller gets its own panic (threadpool's `panic_count()` is the count of `Panicked`
/// results), every one is booked as completed, and the pool keeps working on the same
/// threads (no replacement spawned: the high-water mark stays at the thread count).
async fn threadpool_test_recovery_from_subtask_panic() {
    silence_panics_of("tp-");
    let pool = pool("tp-recovery", TEST_TASKS, 16);
    let gate = Latch::new();
    let _open = OpenOnDrop(gate.clone());
    let jobs: Vec<_> = (0..TEST_TASKS)
        .map(|i| {
            let gate = gate.clone();
            pool.try_run(move || {
                gate.wait();
                panic!("Ignore this panic, it must! ({i})")
            })
            .unwrap()
        })
        .collect();
    eventually("every thread in a job", || {
        pool.metrics().running == TEST_TASKS
    })
    .await;
    gate.open();
    let mut panics = 0;
    for (i, job) in jobs.into_iter().enumerate() {
        let err = job.await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("blocking job panicked: Ignore this panic, it must! ({i})")
        );
        panics += 1;
    }
    assert_eq!(panics, TEST_TASKS);
    assert_eq!(pool.metrics().completed, TEST_TASKS as u64);

    let (tx, rx) = mpsc::channel();
    let jobs: Vec<_> = (0..TEST_TASKS)
        .map(|_| {
            let tx = tx.clone();
            pool.try_run(move || tx.send(1).unwrap()).unwrap()
        })
        .collect();
    for job in jobs {
        job.await.unwrap();
    }
    assert_eq!(rx.try_iter().sum::<usize>(), TEST_TASKS);
    let m = pool.metrics();
    assert_eq!(
        (m.threads_high_water, m.completed),
        (TEST_TASKS, 2 * TEST_TASKS as u64)
    );
}

/// threadpool `test_should_not_panic_on_drop_if_subtasks_panic_after_drop`: dropping
/// the pool while its jobs are about to panic does not panic; the started jobs run on
/// and their callers get their panics, a queued job is dropped unrun (`Closed`), and
/// the threads exit once their jobs have returned.
async fn threadpool_test_should_not_panic_on_drop_if_subtasks_panic_after_drop() {
    silence_panics_of("tp-");
    let pool = pool("tp-drop-panics", TEST_TASKS, 4);
    let gate = Latch::new();
    let _open = OpenOnDrop(gate.clone());
    let ran = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..TEST_TASKS)
        .map(|_| {
            let gate = gate.clone();
            pool.try_run(move || {
                gate.wait();
                panic!("Ignore this panic, it should!");
            })
            .unwrap()
        })
        .collect::<Vec<AcceptedJob<()>>>();
    eventually("every thread in a job", || {
        pool.metrics().running == TEST_TASKS
    })
    .await;
    let queued = {
        let ran = ran.clone();
        pool.try_run(move || ran.fetch_add(1, SeqCst)).unwrap()
    };
    let stopped = pool.stopped();
    drop(pool);
    assert!(matches!(queued.await, Err(RunError::Closed)));
    gate.open();
    for job in jobs {
        assert!(job.await.unwrap_err().is_panic());
    }
    stopped.await;
    assert_eq!(ran.load(SeqCst), 0);
    eventually("no stray thread", || {
        corral_blocking::stray_threads()
            .iter()
            .all(|s| s.pool != "tp-drop-panics")
    })
    .await;
}

/// threadpool `test_massive_task_creation`: many jobs (100,000 here, 4,200,000 there)
/// through a bounded queue, so nearly all of their callers wait for space at once;
/// while the first wave holds every thread, `running` is the thread count; every job
/// runs once, and afterwards nothing is running.
///
/// All jobs must have run before `eventually`'s hang bound: with the waiting callers
/// kept in a list scanned from the front on every registration (O(n^2) in the number
/// of waiters), this took minutes, and failed; see the engine's `space_waiter_index`.
async fn threadpool_test_massive_task_creation() {
    const JOBS: usize = 100_000;
    let pool = pool("tp-massive", TEST_TASKS, 256);
    let (gate, first_wave) = occupy_n(&pool, TEST_TASKS).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..4)
        .map(|part| {
            let (pool, sent) = (pool.clone(), sent.clone());
            tokio::spawn(async move {
                let jobs: Vec<_> = (TEST_TASKS + part..JOBS)
                    .step_by(4)
                    .map(|_| {
                        let sent = sent.clone();
                        pool.run(move || {
                            sent.fetch_add(1, SeqCst);
                        })
                    })
                    .collect();
                let mut handles = tokio::task::JoinSet::new();
                for job in jobs {
                    handles.spawn(job);
                }
                while let Some(result) = handles.join_next().await {
                    result.unwrap().unwrap();
                }
            })
        })
        .collect();
    eventually("queue full", || pool.metrics().queued == 256).await;
    assert_eq!(pool.metrics().running, TEST_TASKS);
    gate.open();
    for job in first_wave {
        job.await.unwrap();
    }
    eventually("every job ran", || sent.load(SeqCst) == JOBS - TEST_TASKS).await;
    for submitter in submitters {
        submitter.await.unwrap();
    }
    assert_eq!(sent.load(SeqCst), JOBS - TEST_TASKS);
    let m = pool.metrics();
    assert_eq!(
        (m.running, m.queued, m.completed),
        (0, 0, JOBS as u64),
        "{m:?}"
    );
    assert_eq!(m.threads_high_water, TEST_TASKS);
}

/// threadpool `test_name`: every pool thread carries the pool's name, including the
/// thread that ran a panicking job and goes on. The difference: corral appends the
/// thread's index (`"<name>-<n>"`).
async fn threadpool_test_name() {
    silence_panics_of("tp-");
    let pool = pool("tp-name", 2, 4);
    let name = || std::thread::current().name().unwrap().to_owned();
    let (a, b) = tokio::join!(pool.run(name), pool.run(name));
    for thread in [a.unwrap(), b.unwrap()] {
        assert!(thread.starts_with("tp-name-"), "{thread}");
    }
    let single = self::pool("tp-name-one", 1, 4);
    let err = single
        .run(move || -> () { panic!("from {}", name()) })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "blocking job panicked: from tp-name-one-0");
    assert_eq!(single.run(name).await.unwrap(), "tp-name-one-0");
}

/// threadpool `test_debug`: the pool's `Debug` shows its name, its cap and its counts
/// (corral's carry more counters than threadpool's two), the running count included.
async fn threadpool_test_debug() {
    let pool = pool("hello", 4, 8);
    let debug = format!("{pool:?}");
    assert!(
        debug.starts_with(
            "BlockingPool { name: \"hello\", max_threads: 4, metrics: PoolMetrics { running: 0, queued: 0,"
        ),
        "{debug}"
    );
    let (gate, jobs) = occupy_n(&pool, 1).await;
    let debug = format!("{pool:?}");
    assert!(
        debug.contains("metrics: PoolMetrics { running: 1, queued: 0,"),
        "{debug}"
    );
    gate.open();
    for job in jobs {
        job.await.unwrap();
    }
}

/// threadpool `test_repeate_join`: two waves of 42 jobs on 8 threads; waiting for a
/// wave's handles (the join) sees all of that wave's effects.
async fn threadpool_test_repeate_join() {
    let pool = pool("tp-repeat-join", 8, 64);
    let count = Arc::new(AtomicUsize::new(0));
    for wave in 1..=2 {
        let jobs: Vec<_> = (0..42)
            .map(|_| {
                let count = count.clone();
                pool.try_run(move || {
                    count.fetch_add(1, SeqCst);
                })
                .unwrap()
            })
            .collect();
        for job in jobs {
            job.await.unwrap();
        }
        assert_eq!(count.load(SeqCst), 42 * wave);
    }
}

/// threadpool `test_empty_pool`: "joining" a pool with nothing to do returns at once:
/// closing a pool that never ran a job, it is stopped at the first poll.
async fn threadpool_test_empty_pool() {
    let pool = pool("tp-empty", 4, 4);
    pool.close();
    let mut stopped = task::spawn(pool.stopped());
    assert_ready!(stopped.poll());
}

/// threadpool `test_no_fun_or_joy`: jobs keep arriving from another thread while the
/// pool is being joined. Here the join is `close()` + `stopped()`: the submissions
/// after `close` are refused with their closures handed back (never run), the job
/// accepted before still runs, and the pool stops once it has returned.
async fn threadpool_test_no_fun_or_joy() {
    let pool = pool("tp-no-fun", 8, 8);
    let (gate, jobs) = occupy_n(&pool, 1).await;
    pool.close();
    let mut stopped = task::spawn(pool.stopped());
    assert_pending!(stopped.poll());
    let ran = Arc::new(AtomicUsize::new(0));
    let latecomer = std::thread::spawn({
        let (pool, ran) = (pool.clone(), ran.clone());
        move || {
            (0..23)
                .filter(|_| {
                    let ran = ran.clone();
                    let refused = pool.try_run(move || ran.fetch_add(1, SeqCst)).unwrap_err();
                    matches!(refused, corral_blocking::TryRunError::Closed(_))
                })
                .count()
        }
    });
    support::eventually("latecomer done", || latecomer.is_finished()).await;
    assert_eq!(latecomer.join().unwrap(), 23);
    gate.open();
    for job in jobs {
        job.await.unwrap();
    }
    support::ready(&mut stopped).await;
    assert_eq!(ran.load(SeqCst), 0);
    assert_eq!(pool.metrics().completed, 1);
}

/// threadpool `test_multi_join`: jobs of one pool submit jobs into a second pool
/// (from a pool thread: `try_run` needs no runtime) and hand their handles back, and
/// the second pool's jobs wait until the first pool's are all done. With two pools
/// nothing deadlocks (the crate docs warn that a job waiting for another job of the
/// *same* capped pool can: give such classes separate pools). Nothing arrives before
/// the first pool is done, then each value once: 0 + 1 + ... + 7.
async fn threadpool_test_multi_join() {
    let pool0 = pool("tp-multi-join0", 4, 8);
    let pool1 = pool("tp-multi-join1", 4, 8);
    let pool0_done = Latch::new();
    let _open = OpenOnDrop(pool0_done.clone());
    let (tx, rx) = mpsc::channel();
    let outer: Vec<_> = (0..8u32)
        .map(|i| {
            let (pool1, pool0_done, tx) = (pool1.clone(), pool0_done.clone(), tx.clone());
            pool0
                .try_run(move || {
                    pool1
                        .try_run(move || {
                            pool0_done.wait();
                            tx.send(i).unwrap();
                        })
                        .unwrap()
                })
                .unwrap()
        })
        .collect();
    drop(tx);
    let mut inner = Vec::new();
    for job in outer {
        inner.push(job.await.unwrap());
    }
    assert!(rx.try_recv().is_err());
    pool0_done.open();
    for job in inner {
        job.await.unwrap();
    }
    assert_eq!(rx.try_iter().sum::<u32>(), 28);
}

/// threadpool `test_clone`: two clones used from two tasks, each after the first batch
/// is done, each getting back exactly its own jobs' results (sum 861, product
/// 39,916,800). Then the last clone of the pool is dropped by a job on a pool thread:
/// the pool shuts itself down from there without deadlock.
async fn threadpool_test_clone() {
    let pool = pool("tp-clone", 2, 64);
    let (gate, first_batch) = occupy_n(&pool, 2).await;
    let batch_done = Latch::new();
    let adder = {
        let (pool, batch_done) = (pool.clone(), batch_done.clone());
        tokio::spawn(async move {
            batch_done.opened().await;
            let jobs: Vec<_> = (0..42u64)
                .map(|i| pool.try_run(move || i).unwrap())
                .collect();
            let mut sum = 0;
            for job in jobs {
                sum += job.await.unwrap();
            }
            sum
        })
    };
    let multiplier = {
        let (pool, batch_done) = (pool.clone(), batch_done.clone());
        tokio::spawn(async move {
            batch_done.opened().await;
            let jobs: Vec<_> = (1..12u64)
                .map(|i| pool.try_run(move || i).unwrap())
                .collect();
            let mut product = 1;
            for job in jobs {
                product *= job.await.unwrap();
            }
            product
        })
    };
    gate.open();
    for job in first_batch {
        job.await.unwrap();
    }
    batch_done.open();
    assert_eq!(adder.await.unwrap(), 861);
    assert_eq!(multiplier.await.unwrap(), 39_916_800);

    let stopped = pool.stopped();
    let last = pool.clone();
    drop(pool);
    let submit = last.clone();
    drop(last);
    let gate = Latch::new();
    let job = {
        let (last, gate) = (submit.clone(), gate.clone());
        submit
            .try_run(move || {
                gate.wait();
                drop(last);
            })
            .unwrap()
    };
    drop(submit);
    gate.open();
    job.await.unwrap();
    stopped.await;
}

/// threadpool `test_join_wavesurfer`: callers waiting for one wave of jobs get out as
/// soon as that wave is done, even while the pool is kept busy by the next wave (the
/// wait is per job, so a later wave cannot hold an earlier waiter). `close()` +
/// `stopped()`, the join of the whole pool, waits for the later wave too.
async fn threadpool_test_join_wavesurfer() {
    let pool = pool("tp-wavesurfer", 4, 16);
    let (first, second) = (Latch::new(), Latch::new());
    let _open = (OpenOnDrop(first.clone()), OpenOnDrop(second.clone()));
    let wave = |gate: &Latch| -> Vec<AcceptedJob<()>> {
        (0..4)
            .map(|_| {
                let gate = gate.clone();
                pool.try_run(move || gate.wait()).unwrap()
            })
            .collect()
    };
    let first_wave = wave(&first);
    let surfers: Vec<_> = first_wave
        .into_iter()
        .map(|job| tokio::spawn(async move { job.await.unwrap() }))
        .collect();
    let second_wave = wave(&second);
    eventually("first wave running", || pool.metrics().running == 4).await;
    first.open();
    for surfer in surfers {
        surfer.await.unwrap();
    }
    eventually("second wave running", || pool.metrics().running == 4).await;
    pool.close();
    let mut stopped = task::spawn(pool.stopped());
    assert_pending!(stopped.poll());
    second.open();
    support::ready(&mut stopped).await;
    for job in second_wave {
        job.await.unwrap();
    }
    assert_eq!(pool.metrics().completed, 8);
}

/// threadpool `test_cloned_eq`: corral's pool has no `PartialEq` (a deliberate
/// difference: nothing in the API needs it); what the test stands for holds: a clone
/// is the same pool, sharing its name, counters and shutdown.
async fn threadpool_test_cloned_eq() {
    let a = pool("tp-cloned", 2, 4);
    let b = a.clone();
    assert_eq!(a.name(), b.name());
    b.run(|| ()).await.unwrap();
    assert_eq!(a.metrics(), b.metrics());
    assert_eq!(a.metrics().completed, 1);
    b.close();
    assert!(a.metrics().closed);
    a.stopped().await;
}

/// threadpool `test_sync_shared_data`, `test_send_shared_data`, `test_send`: the pool
/// and everything it hands out can cross threads.
#[test]
fn threadpool_test_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<BlockingPool>();
    send_sync::<AcceptedJob<String>>();
    send_sync::<corral_blocking::Run<fn() -> String, String>>();
    send_sync::<corral_blocking::Stopped>();
    send_sync::<corral_blocking::PoolMetrics>();
}

/// threadpool `test_recovery_from_subtask_panic` and
/// `test_should_not_panic_on_drop_if_subtasks_panic_after_drop`, raced in 1,000 seeded
/// rounds: jobs that panic or return, callers that await or leave at a random point,
/// and the pool shut down or dropped while they run (half the rounds with a zero
/// keep-alive, so threads exit and respawn meanwhile). Each caller that stays gets its
/// own job's value or panic (never another job's), or `Closed` for a job that never
/// ran; no job runs twice; and once the pool has stopped, every job that ran is booked
/// as completed and nothing is running, abandoned or alive.
async fn threadpool_panics_racing_joins_seeded() {
    silence_panics_of("tp-");
    for seed in 0..1_000u64 {
        let mut rng = Rng(seed);
        let pool = BlockingPool::builder()
            .name("tp-race")
            .max_threads(1 + rng.index(3))
            .queue_capacity(1 + rng.index(4))
            .keep_alive(if rng.below(2) == 0 {
                std::time::Duration::ZERO
            } else {
                std::time::Duration::from_secs(60)
            })
            .build()
            .unwrap();
        let jobs = 2 + rng.index(6);
        let runs: Arc<Vec<AtomicU8>> = Arc::new((0..jobs).map(|_| AtomicU8::new(0)).collect());
        let mut callers = Vec::new();
        for i in 0..jobs {
            let panics = rng.below(2) == 0;
            let leave_after = (rng.below(3) == 0).then(|| rng.below(4));
            let runs = runs.clone();
            let job = move || {
                runs[i].fetch_add(1, SeqCst);
                if panics {
                    panic!("job {i}");
                }
                i
            };
            let run = pool.run(job);
            callers.push(tokio::spawn(async move {
                match leave_after {
                    Some(yields) => {
                        let mut run = run;
                        let _ = futures_poll_once(&mut run).await;
                        for _ in 0..yields {
                            tokio::task::yield_now().await;
                        }
                        None
                    }
                    None => Some((panics, run.await)),
                }
            }));
        }
        let stop = rng.below(3);
        // Dropping the pool shuts it down only if it is the last clone: no watcher then.
        let watcher = (stop != 0).then(|| pool.clone());
        let stopped = pool.stopped();
        let yields = rng.below(jobs as u64 + 1);
        let stopper = tokio::spawn(async move {
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            match stop {
                0 => drop(pool),
                1 => pool.shutdown(),
                _ => {
                    pool.close();
                    drop(pool);
                }
            }
        });
        let mut outcomes = Vec::new();
        for caller in callers {
            outcomes.push(caller.await.unwrap());
        }
        stopper.await.unwrap();
        stopped.await;
        let mut total = 0u64;
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let ran = runs[i].load(SeqCst);
            total += u64::from(ran);
            let case = format!("seed {seed}, job {i}: ran {ran} times");
            assert!(ran <= 1, "{case}");
            match outcome {
                None => {}
                Some((false, Ok(value))) => assert_eq!((value, ran), (i, 1), "{case}"),
                Some((true, Err(RunError::Panicked(payload)))) => {
                    assert_eq!(ran, 1, "{case}");
                    assert_eq!(
                        payload.downcast_ref::<String>().map(String::as_str),
                        Some(format!("job {i}").as_str()),
                        "{case}"
                    );
                }
                Some((_, Err(RunError::Closed))) => assert_eq!(ran, 0, "{case}"),
                Some((panics, other)) => panic!("{case}: panics {panics}, got {other:?}"),
            }
        }
        let Some(watcher) = watcher else { continue };
        let m = watcher.metrics();
        assert_eq!(m.completed, total, "seed {seed}: {m:?}");
        assert_eq!(
            (m.running, m.queued, m.threads_alive),
            (0, 0, 0),
            "seed {seed}: {m:?}"
        );
        eventually("no abandoned job left", || {
            watcher.metrics().abandoned_running == 0
        })
        .await;
    }
}

/// Polls `fut` once (with the caller's task), returning its output if it was ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *fut).poll(cx) {
        std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

/// smol-rs/blocking `unblock::sleep`: the blocking call is not done at the first poll,
/// and the future completes once it returns (a latch in place of the one-second
/// sleep, so nothing depends on the clock).
async fn blocking_sleep() {
    let pool = pool("blocking-sleep", 2, 4);
    let gate = Latch::new();
    let _open = OpenOnDrop(gate.clone());
    let mut sleeping = task::spawn(pool.run({
        let gate = gate.clone();
        move || gate.wait()
    }));
    assert_pending!(sleeping.poll());
    gate.open();
    support::ready(&mut sleeping).await.unwrap();
}

/// smol-rs/blocking runs its tests under `futures_lite::future::block_on`, with no
/// async runtime: corral's futures need none either (only a waker). `unblock::sleep`
/// and `unblock::panic` again, driven by a thread that parks between polls.
#[test]
fn blocking_sleep_and_panic_without_a_runtime() {
    silence_panics_of("blocking-no-rt");
    let pool = pool("blocking-no-rt", 1, 4);
    let gate = Latch::new();
    let _open = OpenOnDrop(gate.clone());
    let mut sleeping = pool.run({
        let gate = gate.clone();
        move || gate.wait()
    });
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut sleeping).poll(&mut cx).is_pending());
    gate.open();
    park_on(sleeping).unwrap();
    let err = park_on(pool.run(|| -> () { panic!("expected failure") })).unwrap_err();
    assert_eq!(err.to_string(), "blocking job panicked: expected failure");
    pool.shutdown();
    park_on(pool.stopped());
}

struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `fut` on this thread, parking between polls (what `block_on` does).
fn park_on<F: std::future::Future>(fut: F) -> F::Output {
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// smol-rs/blocking `unblock::chan`: items from a bounded channel fed by another
/// thread arrive in order, and the end of the channel is seen. Without an `Unblock`
/// adapter, the receiver is moved into each job and handed back with the item.
async fn blocking_chan() {
    const N: i32 = 10_000;
    let pool = pool("blocking-chan", 1, 4);
    let (s, r) = mpsc::sync_channel::<i32>(100);
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            s.send(i).unwrap();
        }
    });
    let mut r = r;
    for i in 0..N {
        let (back, item) = pool
            .run(move || {
                let item = r.recv().ok();
                (r, item)
            })
            .await
            .unwrap();
        assert_eq!(item, Some(i));
        r = back;
    }
    let (_, end) = pool
        .run(move || {
            let item = r.recv().ok();
            (r, item)
        })
        .await
        .unwrap();
    assert_eq!(end, None);
    support::eventually("sender done", || sender.is_finished()).await;
    sender.join().unwrap();
}

/// smol-rs/blocking `unblock::panic`: the job's panic reaches its caller with its
/// payload; resumed there, it is caught as the same panic.
async fn blocking_panic() {
    silence_panics_of("blocking-panic");
    let pool = pool("blocking-panic", 1, 4);
    let err = pool
        .run(|| -> () { panic!("expected failure") })
        .await
        .unwrap_err();
    let payload = err.into_panic().expect("a panic");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        std::panic::resume_unwind(payload)
    }))
    .expect_err("resumed");
    let msg = caught
        .downcast_ref::<&'static str>()
        .map(|s| (*s).to_owned())
        .or_else(|| caught.downcast_ref::<String>().cloned());
    assert_eq!(msg.as_deref(), Some("expected failure"));
}

/// Keeps the panics these tests provoke on the named pools' threads out of the test
/// output; every other panic still goes to the default hook.
fn silence_panics_of(prefix: &'static str) {
    static HOOK: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    static ONCE: std::sync::Once = std::sync::Once::new();
    HOOK.lock().unwrap().push(prefix);
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().map(str::to_owned);
            let ours = name.is_some_and(|name| {
                HOOK.lock()
                    .map(|prefixes| prefixes.iter().any(|p| name.starts_with(p)))
                    .unwrap_or(false)
            });
            if !ours {
                default(info);
            }
        }));
    });
}
