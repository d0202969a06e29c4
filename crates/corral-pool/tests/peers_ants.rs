//! ants' own tests (github.com/panjf2000/ants: `ants_test.go`), ported to corral's API
//! as an ants user would map them: the blocking `Submit` is `submit`, `Nonblocking` is
//! `try_submit` (`ErrPoolOverload` is `Full` with the task handed back),
//! `ReleaseTimeout` is `drain`, `Release` is `shutdown_now` (or dropping the pool),
//! `Tune` is `resize`, `PanicHandler` is `on_panic`, and `Cap` / `Running` / `Free` /
//! `Waiting` are `target_workers` / `running` / `workers - running` /
//! `blocked_submitters`.
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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{gated, pool, ready, TestPool};
use corral_pool::{BoxJob, Builder, JobError, Pool, ResizeError, SubmitError, TrySubmitError};
use corral_test_support::{eventually, Latch, Rng};
use harness::{
    already_passed, assert_accounted, hang_guard, held, job, quiet_peer_panics, seeded, within,
    Started,
};

harness::on_both_runtimes!(
    ants_wait_to_get_worker,
    ants_panic_handler,
    ants_panic_without_handler,
    ants_nonblocking_submit,
    ants_max_blocking_submit,
    ants_reboot,
    ants_release_timeout,
    ants_release_when_running,
    ants_tune_scale_up,
    ants_running_free_waiting,
    ants_tune_grants_blocked_submitters_at_once,
    ants_panic_handler_that_panics,
    ants_pool_dropped_by_its_own_task,
    ants_tune_down_takes_the_idle_room_away_at_once,
);

// ---------------------------------------------------------------------------------
// ants: ants_test.go
// ---------------------------------------------------------------------------------

/// ants `TestAntsPoolWaitToGetWorker` (and `TestAntsPool`): 1,000 tasks through a
/// blocking submit on a pool of 10 with no queue; never more than 10 run at once.
async fn ants_wait_to_get_worker() {
    let pool = pool(10, 0);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for n in 0..1_000 {
        let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
        handles.push(
            pool.submit(job(async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                n
            }))
            .await
            .expect("open"),
        );
        assert!(pool.metrics().running <= 10);
    }
    for (n, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.expect("ran"), n as u32);
    }
    assert!(peak.load(Ordering::SeqCst) <= 10);
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.running), (1_000, 1_000, 0));
    assert_accounted(&m);
}

/// ants `TestPanicHandler`: the panic handler gets the payload of a task that panics
/// and the pool is empty afterwards. corral hands the payload to `on_panic` when
/// nobody holds the job's handle (a held handle gets it as its outcome instead).
async fn ants_panic_handler() {
    quiet_peer_panics();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    let pool: TestPool = Builder::new()
        .workers(10)
        .on_panic(move |payload| {
            let msg = payload.downcast_ref::<&str>().copied().unwrap_or("?");
            sink.lock().expect("sink").push(msg.to_owned());
        })
        .build()
        .expect("valid");
    drop(
        pool.submit(job(async { std::panic::panic_any("peer: Oops!") }))
            .await
            .expect("open"),
    );
    eventually("the handler ran", || seen.lock().expect("seen").len() == 1).await;
    assert_eq!(*seen.lock().expect("seen"), ["peer: Oops!"]);
    // A panic whose handle is held is the handle's, not the handler's.
    let held = pool
        .submit(job(async { std::panic::panic_any("peer: held") }))
        .await
        .expect("open");
    assert!(held.await.expect_err("panicked").is_panic());
    assert_eq!(seen.lock().expect("seen").len(), 1);
    let m = pool.metrics();
    assert_eq!((m.running, m.failed, m.workers), (0, 2, 10));
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// ants `TestPoolPanicWithoutHandler`: without a handler a panicking task does not take
/// the pool down (corral's default reports the panic on standard error) and the next
/// task runs on the same worker.
async fn ants_panic_without_handler() {
    quiet_peer_panics();
    let pool = pool(1, 1);
    drop(
        pool.submit(job(async { std::panic::panic_any("peer: Oops!") }))
            .await
            .expect("open"),
    );
    assert_eq!(
        pool.submit(ready(3))
            .await
            .expect("open")
            .await
            .expect("ran"),
        3
    );
    let m = pool.metrics();
    assert_eq!((m.failed, m.completed, m.workers), (1, 1, 1));
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// ants `TestNonblockingSubmit`: with every worker busy a non-blocking submit is
/// refused (ants: `ErrPoolOverload`; here `Full` with the task back); once a task
/// ends, the same task is accepted.
async fn ants_nonblocking_submit() {
    let pool = pool(10, 0);
    let long = Latch::new();
    let started = Started::default();
    let mut handles = Vec::new();
    for n in 0..9 {
        handles.push(pool.try_submit(held(&started, &long, n)).expect("not full"));
    }
    let (release, f) = gated(9);
    let f = pool.try_submit(f).expect("not full");
    let mut refused = match pool.try_submit(ready(10)) {
        Err(TrySubmitError::Full(job)) => job,
        other => panic!("expected Full, got {other:?}"),
    };
    release.send(()).expect("f waits");
    assert_eq!(f.await.expect("ran"), 9);
    // The freed worker takes the refused task back (it reads as idle at its next visit).
    let h = loop {
        match pool.try_submit(refused) {
            Ok(h) => break h,
            Err(TrySubmitError::Full(job)) => {
                refused = job;
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(h.await.expect("ran"), 10);
    long.open();
    for h in handles {
        h.await.expect("ran");
    }
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// ants `TestMaxBlockingSubmit`: with every worker busy, one submitter blocks, a
/// non-blocking submit is refused, and the blocked one gets in once a task ends.
/// Deliberate difference: ants caps the number of blocked submitters
/// (`MaxBlockingTasks`) and refuses the next blocking submit; corral lets any number
/// wait in line (bound the wait with `submit_timeout`), and `try_submit` refuses
/// whenever anyone waits ahead of it.
async fn ants_max_blocking_submit() {
    let pool: Arc<TestPool> = Arc::new(pool(10, 0));
    let long = Latch::new();
    let mut handles = Vec::new();
    for n in 0..9 {
        let long = long.clone();
        handles.push(
            pool.try_submit(job(async move {
                long.opened().await;
                n
            }))
            .expect("not full"),
        );
    }
    let (release, f) = gated(9);
    handles.push(pool.try_submit(f).expect("not full"));
    let blocked = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.submit(ready(10)).await.expect("open") }
    });
    eventually("one submitter blocks", || {
        pool.metrics().blocked_submitters == 1
    })
    .await;
    assert!(matches!(
        pool.try_submit(ready(11)),
        Err(TrySubmitError::Full(_))
    ));
    assert!(matches!(
        pool.submit_timeout(ready(12), std::time::Duration::ZERO)
            .await,
        Err(corral_pool::SubmitTimeoutError::Timeout(_))
    ));
    release.send(()).expect("f waits");
    let h = blocked.await.expect("submitter");
    assert_eq!(h.await.expect("ran"), 10);
    long.open();
    for h in handles {
        h.await.expect("ran");
    }
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.rejected), (11, 11, 2));
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// ants `TestRebootNewPool`, `TestRebootDefaultPool` and `TestRebootNewPoolCalc`: 1,000
/// tasks sum to 499,500, a released pool refuses tasks (ants: `ErrPoolClosed`), and
/// work goes on after a reboot. Deliberate difference: a closed corral pool stays
/// closed (`resize` says `Closed`); the reboot is building a new pool.
async fn ants_reboot() {
    for _incarnation in 0..2 {
        let pool: Pool<BoxJob<u64>> = Builder::new()
            .workers(10)
            .queue_capacity(10)
            .build()
            .expect("valid");
        let sum = Arc::new(std::sync::atomic::AtomicU64::new(0));
        for j in 0..1_000u64 {
            let sum = Arc::clone(&sum);
            drop(
                pool.submit(job(async move { sum.fetch_add(j, Ordering::SeqCst) }))
                    .await
                    .expect("open"),
            );
        }
        pool.drain(hang_guard()).await.expect("drained");
        assert_eq!(sum.load(Ordering::SeqCst), 499_500);
        assert!(matches!(
            pool.try_submit(job(async { 0 })),
            Err(TrySubmitError::Closed(_))
        ));
        assert_eq!(pool.resize(10), Err(ResizeError::Closed));
        let m = pool.metrics();
        assert_eq!((m.submitted, m.completed, m.workers), (1_000, 1_000, 0));
        assert_accounted(&m);
    }
}

/// ants `TestReleaseTimeout` and `TestDefaultPoolReleaseTimeout`: releasing with a
/// timeout while tasks run waits for them. Here the running tasks are held until the
/// first `drain` has reported them at its deadline; the second one returns `Ok`.
async fn ants_release_timeout() {
    let pool = pool(10, 0);
    let gate = Latch::new();
    let started = Started::default();
    let handles: Vec<_> = (0..5)
        .map(|n| pool.try_submit(held(&started, &gate, n)).expect("room"))
        .collect();
    started.at_least(5).await;
    assert_eq!(pool.metrics().running, 5);
    let left = pool
        .drain(already_passed())
        .await
        .expect_err("still running");
    assert_eq!((left.queued, left.running), (0, 5));
    gate.open();
    pool.drain(hang_guard()).await.expect("drained");
    for h in handles {
        assert!(h.is_finished());
        h.await.expect("ran");
    }
    assert_accounted(&pool.metrics());
}

/// ants `TestReleaseWhenRunningPool`: two goroutines keep submitting to a pool of one
/// while it is released. Seeded rounds: every submitter returns (none hangs), every
/// accepted task's handle resolves (ran, cancelled or handed back), and
/// submitted = completed + cancelled + handed back.
async fn ants_release_when_running() {
    seeded(5_000, |seed| async move {
        let mut rng = Rng(seed);
        let pool: Arc<TestPool> = Arc::new(pool(1, rng.index(3)));
        let submitters: Vec<_> = (0..2u32)
            .map(|s| {
                let pool = Arc::clone(&pool);
                tokio::spawn(async move {
                    let mut handles = Vec::new();
                    let mut refused = 0u64;
                    for n in 0..6 {
                        let j = job(async move {
                            tokio::task::yield_now().await;
                            s * 10 + n
                        });
                        match pool.submit(j).await {
                            Ok(h) => handles.push(h),
                            Err(SubmitError::Closed(_)) => refused += 1,
                        }
                    }
                    (handles, refused)
                })
            })
            .collect();
        for _ in 0..rng.below(6) {
            tokio::task::yield_now().await;
        }
        let back = pool.shutdown_now();
        let (mut ran, mut cancelled, mut handed_back, mut refused) = (0u64, 0, 0, 0);
        for s in submitters {
            let (handles, r) = s.await.expect("submitter returned");
            refused += r;
            for h in handles {
                match h.await {
                    Ok(_) => ran += 1,
                    Err(JobError::Cancelled) => cancelled += 1,
                    Err(JobError::HandedBack) => handed_back += 1,
                    Err(e) => panic!("seed {seed}: {e}"),
                }
            }
        }
        assert_eq!(back.len() as u64, handed_back, "seed {seed}");
        pool.drain(hang_guard()).await.expect("drained");
        let m = pool.metrics();
        assert_eq!(ran + cancelled + handed_back + refused, 12, "seed {seed}");
        assert_eq!(
            (m.completed, m.cancelled, m.handed_back, m.rejected),
            (ran, cancelled, handed_back, refused),
            "seed {seed}"
        );
        assert_accounted(&m);
    })
    .await;
}

/// ants `TestPoolTuneScaleUp`: a pool of 2 with both busy; tuned to 3 it takes a third
/// task at once; with 5 submitters blocked, tuned to 8 all 5 get in and 8 run.
async fn ants_tune_scale_up() {
    let pool: Arc<TestPool> = Arc::new(pool(2, 0));
    let c = Latch::new();
    let started = Started::default();
    let blocking = |n: u32| held(&started, &c, n);
    let mut handles = vec![
        pool.try_submit(blocking(0)).expect("room"),
        pool.try_submit(blocking(1)).expect("room"),
    ];
    started.at_least(2).await;
    assert_eq!(pool.metrics().running, 2);
    pool.resize(3).expect("valid");
    handles.push(pool.try_submit(blocking(2)).expect("room after growing"));
    started.at_least(3).await;
    assert_eq!(pool.metrics().running, 3);
    let submitters: Vec<_> = (3..8)
        .map(|n| {
            let (pool, j) = (Arc::clone(&pool), blocking(n));
            tokio::spawn(async move { pool.submit(j).await.expect("open") })
        })
        .collect();
    eventually("5 submitters block", || {
        pool.metrics().blocked_submitters == 5
    })
    .await;
    pool.resize(8).expect("valid");
    for s in submitters {
        handles.push(s.await.expect("submitter"));
    }
    started.at_least(8).await;
    let m = pool.metrics();
    assert_eq!((m.running, m.workers, m.target_workers), (8, 8, 8));
    c.open();
    for h in handles {
        h.await.expect("ran");
    }
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// ants `TestRestCodeCoverage`'s `Cap` / `Running` / `Free` / `Waiting`: capacity is
/// `target_workers`, running is `running`, free is `workers - running`, waiting is
/// `blocked_submitters`.
async fn ants_running_free_waiting() {
    let pool: Arc<TestPool> = Arc::new(pool(4, 0));
    let gate = Latch::new();
    let started = Started::default();
    let blocking = |n: u32| held(&started, &gate, n);
    let mut handles: Vec<_> = (0..3)
        .map(|n| pool.try_submit(blocking(n)).expect("room"))
        .collect();
    started.at_least(3).await;
    let m = pool.metrics();
    assert_eq!(
        (m.target_workers, m.running, m.workers - m.running),
        (4, 3, 1)
    );
    handles.push(pool.try_submit(blocking(3)).expect("room"));
    started.at_least(4).await;
    let waiting: Vec<_> = (4..6)
        .map(|n| {
            let (pool, j) = (Arc::clone(&pool), blocking(n));
            tokio::spawn(async move { pool.submit(j).await.expect("open") })
        })
        .collect();
    eventually("2 waiting", || pool.metrics().blocked_submitters == 2).await;
    let m = pool.metrics();
    assert_eq!(
        (m.running, m.workers - m.running, m.blocked_submitters),
        (4, 0, 2)
    );
    gate.open();
    for w in waiting {
        handles.push(w.await.expect("submitter"));
    }
    for h in handles {
        h.await.expect("ran");
    }
    pool.drain(hang_guard()).await.expect("drained");
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed, m.blocked_submitters), (6, 6, 0));
    assert_accounted(&m);
}

/// ants `TestPoolTuneScaleUp`, the blocked submitters' side: growing the pool grants
/// the room it adds to the submitters in line at once (as ants' `Tune` wakes its
/// blocked submitters), before the new workers have run, so none waits next to room
/// and a newcomer is admitted into what is left. `State`'s invariants say so ("after
/// every change that can raise `free()`, `State::grant` runs"); a new worker raises it.
async fn ants_tune_grants_blocked_submitters_at_once() {
    let pool: Arc<TestPool> = Arc::new(pool(1, 0));
    let gate = Latch::new();
    let started = Started::default();
    let busy = { pool.try_submit(held(&started, &gate, 0)).expect("room") };
    started.at_least(1).await;
    // Held jobs: on the multi-thread runtime the new workers may run the granted jobs
    // at once, and a held job keeps its room until the gate opens on either runtime.
    let submitters: Vec<_> = (1..3)
        .map(|n| {
            let (pool, job) = (Arc::clone(&pool), held(&started, &gate, n));
            tokio::spawn(async move { pool.submit(job).await.expect("open") })
        })
        .collect();
    eventually("2 submitters block", || {
        pool.metrics().blocked_submitters == 2
    })
    .await;
    pool.resize(4).expect("valid");
    let m = pool.metrics();
    assert_eq!(m.blocked_submitters, 0, "granted at the resize: {m:?}");
    assert_eq!(m.queued + m.running, 3, "{m:?}");
    if tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::CurrentThread
    {
        // No yield since: the new workers have not run.
        assert_eq!(m.queued, 2, "{m:?}");
    }
    let newcomer = pool
        .try_submit(held(&started, &gate, 3))
        .expect("room left for a newcomer");
    assert!(matches!(
        pool.try_submit(ready(4)),
        Err(TrySubmitError::Full(_))
    ));
    gate.open();
    for (n, s) in (1..).zip(submitters) {
        assert_eq!(s.await.expect("submitter").await.expect("ran"), n);
    }
    assert_eq!(newcomer.await.expect("ran"), 3);
    busy.await.expect("ran");
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// ants `TestPanicHandler`, with a handler that panics itself: the handler's panic is
/// caught like the job's, the worker that ran the job lives on, and the pool keeps
/// its workers and its queue.
async fn ants_panic_handler_that_panics() {
    quiet_peer_panics();
    let pool: TestPool = Builder::new()
        .workers(1)
        .queue_capacity(2)
        .on_panic(|_| std::panic::panic_any("peer: the handler panics too"))
        .build()
        .expect("valid");
    let (release, first) = gated(1);
    let first = pool.try_submit(first).expect("room");
    drop(
        pool.try_submit(job(async { std::panic::panic_any("peer: Oops!") }))
            .expect("room"),
    );
    let after = pool.try_submit(ready(2)).expect("room");
    release.send(()).expect("waits");
    assert_eq!(within("first", first).await.expect("ran"), 1);
    let after = within("the job after the panic", after).await;
    assert_eq!(after.expect("the worker lived on"), 2);
    // The hook also runs where a handle whose job panicked is dropped unobserved.
    let late = pool
        .try_submit(job(async { std::panic::panic_any("peer: late") }))
        .expect("room");
    eventually("the late job panicked", || late.is_finished()).await;
    drop(late); // the hook panics on this task: caught here too
    let m = pool.metrics();
    assert_eq!(
        (m.workers, m.completed, m.failed, m.closed),
        (1, 2, 2, false)
    );
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}

/// ants `TestReleaseWhenRunningPool`, released from inside: a task holds the last
/// reference to its pool and ends, so the pool is dropped on its own worker. The queued
/// task is cancelled, the worker leaves, and nothing hangs.
async fn ants_pool_dropped_by_its_own_task() {
    let pool: Arc<TestPool> = Arc::new(pool(1, 1));
    let gate = Latch::new();
    let last = {
        let (me, gate) = (Arc::clone(&pool), gate.clone());
        pool.try_submit(job(async move {
            gate.opened().await;
            assert!(me.is_current_worker());
            drop(me);
            1
        }))
        .expect("room")
    };
    let queued = pool.try_submit(ready(2)).expect("room");
    drop(pool);
    gate.open();
    assert_eq!(last.await.expect("ran"), 1);
    assert!(queued
        .await
        .expect_err("dropped with the pool")
        .is_cancelled());
}

/// ants `TestPoolTuneScaleUp`'s converse (and pond `TestPoolResize`'s shrink, the JDK's
/// `setMaximumPoolSize`): once a pool is tuned down, the idle workers it no longer
/// needs leave now, so the room they stood for is gone at once: a hand-off pool of 3
/// idle workers tuned to 1 accepts one job, not three, and never runs more than one.
async fn ants_tune_down_takes_the_idle_room_away_at_once() {
    let pool = pool(3, 0);
    eventually("3 idle workers", || pool.metrics().workers == 3).await;
    for _ in 0..64 {
        tokio::task::yield_now().await; // let them reach the idle list
    }
    pool.resize(1).expect("valid");
    let gate = Latch::new();
    let started = Started::default();
    let held = |n: u32| held(&started, &gate, n);
    let first = pool.try_submit(held(0)).expect("one worker left");
    let refused = pool.try_submit(held(1));
    assert!(
        matches!(refused, Err(TrySubmitError::Full(_))),
        "a second job was accepted for a worker that is leaving: {:?}",
        pool.metrics()
    );
    started.at_least(1).await;
    eventually("the surplus workers left", || pool.metrics().workers == 1).await;
    assert_eq!(pool.metrics().running, 1);
    gate.open();
    first.await.expect("ran");
    pool.drain(hang_guard()).await.expect("drained");
    assert_accounted(&pool.metrics());
}
