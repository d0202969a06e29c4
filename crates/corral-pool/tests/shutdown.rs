//! Each shutdown mode, dropping the pool, and the accounting invariant under random
//! interleavings of submit and shutdown.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{gated, multi_thread, pool, ready, settle, BoxJobU32, Probe};
use corral_pool::{
    BoxJob, Builder, DrainError, JobError, Pool, SubmitTimeoutError, TrySubmitError,
    DEFAULT_QUEUE_WAIT_SAMPLING,
};
use corral_test_support::Rng;
use tokio::time::Instant;

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test]
async fn shutdown_now_hands_back_queued_and_cancels_running() {
    let pool = pool(1, 4);
    let probe = Probe::default();
    let (_g1, j1) = probe.gated(1);
    let running = pool.try_submit(j1).expect("room");
    settle().await;
    let (g2, j2) = gated(2);
    let q2 = pool.try_submit(j2).expect("queue");
    let q3 = pool.try_submit(ready(3)).expect("queue");

    let back = pool.shutdown_now();
    assert_eq!(back.len(), 2);
    // The futures themselves come back, typed, unpolled: run them here.
    g2.send(()).expect("waiting");
    let mut values = Vec::new();
    for job in back {
        values.push(job.await);
    }
    assert_eq!(values, vec![2, 3]);
    assert!(q2.await.expect_err("handed back").is_handed_back());
    assert!(q3.await.expect_err("handed back").is_handed_back());
    assert!(running.await.expect_err("stopped").is_cancelled());
    assert_eq!(probe.dropped(), 1);

    pool.drain(Instant::now() + Duration::from_secs(1))
        .await
        .expect("workers gone");
    let m = pool.metrics();
    assert_eq!(
        (m.submitted, m.handed_back, m.cancelled, m.workers),
        (3, 2, 1, 0)
    );
    assert!(matches!(
        pool.try_submit(ready(0)),
        Err(TrySubmitError::Closed(_))
    ));
    assert_eq!(alive_tasks(), 0);
}

#[tokio::test(start_paused = true)]
async fn drain_runs_what_was_accepted_then_workers_leave() {
    let pool: Pool<BoxJobU32> = pool(2, 8);
    let mut handles = Vec::new();
    for n in 0..6 {
        let job: BoxJob<u32> = Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            n
        });
        handles.push(pool.submit(job).await.expect("room"));
    }
    let start = Instant::now();
    pool.drain(start + Duration::from_secs(10))
        .await
        .expect("drained in time");
    // 6 jobs of 100 ms on 2 workers (paused clock, so exact).
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    for (n, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.expect("ran"), n as u32);
    }
    let m = pool.metrics();
    assert_eq!((m.completed, m.workers, m.closed), (6, 0, true));
    assert_eq!(alive_tasks(), 0);
}

#[tokio::test(start_paused = true)]
async fn drain_reports_what_is_left_at_its_deadline() {
    let pool = pool(1, 4);
    let (_g1, j1) = gated(1);
    let (_g2, j2) = gated(2);
    let h1 = pool.try_submit(j1).expect("room");
    let _h2 = pool.try_submit(j2).expect("room");
    settle().await;
    let err = pool
        .drain(Instant::now() + Duration::from_secs(1))
        .await
        .expect_err("jobs never end");
    assert_eq!(
        err,
        DrainError {
            queued: 1,
            running: 1
        }
    );
    assert_eq!(
        err.to_string(),
        "drain deadline elapsed with 1 jobs queued and 1 running"
    );
    // Then stop the rest.
    assert_eq!(pool.shutdown_now().len(), 1);
    assert!(h1.await.expect_err("stopped").is_cancelled());
}

#[tokio::test]
async fn dropping_the_pool_cancels_everything_and_leaks_no_worker() {
    let probe = Probe::default();
    let pool = pool(2, 4);
    let (_g1, j1) = probe.gated(1);
    let (_g2, j2) = probe.gated(2);
    let (_g3, j3) = probe.gated(3);
    let running = pool.try_submit(j1).expect("room");
    let running2 = pool.try_submit(j2).expect("room");
    settle().await;
    let queued = pool.try_submit(j3).expect("queue");
    assert_eq!(alive_tasks(), 2);
    drop(pool);
    assert!(queued.await.expect_err("dropped").is_cancelled());
    assert!(running.await.expect_err("dropped").is_cancelled());
    assert!(running2.await.expect_err("dropped").is_cancelled());
    settle().await;
    assert_eq!(alive_tasks(), 0);
    assert_eq!((probe.polled(), probe.dropped()), (2, 3));
}

#[tokio::test]
async fn dropping_an_idle_pool_stops_its_workers() {
    let pool = pool(3, 0);
    settle().await;
    assert_eq!(alive_tasks(), 3);
    drop(pool);
    settle().await;
    assert_eq!(alive_tasks(), 0);
}

#[test]
fn runtime_shutdown_settles_running_jobs() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let pool: Pool<BoxJobU32> = Builder::new()
        .workers(1)
        .queue_capacity(1)
        .build_on(rt.handle())
        .expect("valid");
    let (_g, j) = gated(1);
    let h = pool.try_submit(j).expect("room");
    rt.block_on(settle());
    drop(rt);
    let out = futures_lite_block_on(h);
    assert!(out.expect_err("runtime gone").is_cancelled());
    assert_eq!(pool.metrics().workers, 0);
}

#[test]
fn runtime_shutdown_settles_queued_jobs_and_closes_the_pool() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let pool: Pool<BoxJobU32> = Builder::new()
        .workers(1)
        .queue_capacity(2)
        .build_on(rt.handle())
        .expect("valid");
    let (_g, j) = gated(1);
    let h1 = pool.try_submit(j).expect("room");
    rt.block_on(settle());
    let h2 = pool.try_submit(ready(2)).expect("queue");
    drop(rt);
    // Nobody is left to run the queued job: it must not hang, nor may new work be
    // accepted into a pool that can never run it.
    assert!(
        h2.is_finished(),
        "queued job left hanging: {:?}",
        pool.metrics()
    );
    assert!(futures_lite_block_on(h2)
        .expect_err("runtime gone")
        .is_cancelled());
    assert!(futures_lite_block_on(h1)
        .expect_err("runtime gone")
        .is_cancelled());
    match pool.try_submit(ready(3)) {
        Err(TrySubmitError::Closed(_)) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
    let m = pool.metrics();
    assert_eq!(
        (m.submitted, m.cancelled, m.queued, m.workers),
        (2, 2, 0, 0)
    );
}

#[test]
fn building_on_a_runtime_that_is_gone_gives_a_closed_pool() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let handle = rt.handle().clone();
    drop(rt);
    // The workers are dropped as they are spawned (this used to deadlock on the pool's
    // lock): the pool comes up stopped and refuses work with the job handed back.
    let pool: Pool<BoxJobU32> = Builder::new()
        .workers(2)
        .queue_capacity(4)
        .build_on(&handle)
        .expect("valid");
    match pool.try_submit(ready(1)) {
        Err(TrySubmitError::Closed(_)) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
    let m = pool.metrics();
    assert_eq!((m.workers, m.submitted, m.rejected), (0, 0, 1));
}

/// Polls a future to completion on this thread (it must not need a runtime).
fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    rejected: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    handed_back: AtomicU64,
    /// Submit futures dropped while they waited: each job was dropped unsubmitted, or
    /// (granted meanwhile) accepted and aborted, unseen by the tally.
    abandoned: AtomicU64,
}

impl Tally {
    fn count(&self, outcome: &Result<u32, JobError>) {
        let counter = match outcome {
            Ok(_) => &self.completed,
            Err(JobError::Panicked(_)) => &self.failed,
            Err(JobError::Cancelled) => &self.cancelled,
            Err(JobError::HandedBack) => &self.handed_back,
            Err(other) => panic!("unexpected outcome {other:?}"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

fn random_job(rng: &mut Rng) -> BoxJob<u32> {
    let kind = rng.below(10);
    let yields = rng.below(4);
    Box::pin(async move {
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        if kind == 0 {
            std::panic::panic_any("stress panic");
        }
        kind as u32
    })
}

async fn stress_round(seed: u64) -> (corral_pool::Metrics, u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let pool: Arc<Pool<BoxJob<u32>>> = Arc::new(
        Builder::new()
            .workers(1 + rng.below(4) as usize)
            .queue_capacity(rng.below(6) as usize)
            .name("stress")
            // Abandoned jobs that panic are nobody's; keep them out of the output.
            .on_panic(|_| {})
            .build()
            .expect("valid"),
    );
    let tally = Arc::new(Tally::default());
    let mut submitters = Vec::new();
    for s in 0..3 {
        let pool = Arc::clone(&pool);
        let tally = Arc::clone(&tally);
        let mut rng = Rng(rng.next() | 1);
        submitters.push(tokio::spawn(async move {
            let mut handles = Vec::new();
            for _ in 0..(20 + s * 5) {
                let job = random_job(&mut rng);
                let handle = match rng.below(4) {
                    0 => pool.submit(job).await.map_err(|e| e.into_inner()),
                    1 => pool.try_submit(job).map_err(|e| e.into_inner()),
                    2 => {
                        // Polled once, then dropped if it has to wait.
                        let mut submit = pool.submit(job);
                        let polled = std::future::poll_fn(|cx| {
                            std::task::Poll::Ready(std::future::Future::poll(
                                std::pin::Pin::new(&mut submit),
                                cx,
                            ))
                        })
                        .await;
                        match polled {
                            std::task::Poll::Ready(r) => r.map_err(|e| e.into_inner()),
                            std::task::Poll::Pending => {
                                for _ in 0..rng.below(3) {
                                    tokio::task::yield_now().await;
                                }
                                drop(submit);
                                tally.abandoned.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        }
                    }
                    _ => match pool.submit_timeout(job, Duration::from_micros(50)).await {
                        Ok(h) => Ok(h),
                        Err(SubmitTimeoutError::Timeout(j) | SubmitTimeoutError::Closed(j)) => {
                            Err(j)
                        }
                    },
                };
                match handle {
                    Ok(h) => {
                        tally.accepted.fetch_add(1, Ordering::Relaxed);
                        if rng.below(8) == 0 {
                            h.abort();
                        }
                        handles.push(h);
                    }
                    Err(_) => {
                        tally.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if rng.below(4) == 0 {
                    tokio::task::yield_now().await;
                }
            }
            for h in handles {
                tally.count(&h.await);
            }
        }));
    }
    // Resize at random meanwhile (growing spawns, shrinking retires workers lazily).
    let resizer = {
        let pool = Arc::clone(&pool);
        let mut rng = Rng(rng.next() | 1);
        tokio::spawn(async move {
            for _ in 0..rng.below(6) {
                for _ in 0..rng.below(10) {
                    tokio::task::yield_now().await;
                }
                match pool.resize(1 + rng.below(5) as usize) {
                    Ok(()) | Err(corral_pool::ResizeError::Closed) => {}
                    Err(other) => panic!("resize: {other}"),
                }
            }
        })
    };
    // Shut down after a random amount of progress (or when the submitters are done).
    let progress = rng.below(70);
    let extra_yields = rng.below(20);
    while Tally::get(&tally.accepted) + Tally::get(&tally.rejected) < progress
        && !submitters.iter().all(|s| s.is_finished())
    {
        tokio::task::yield_now().await;
    }
    for _ in 0..extra_yields {
        tokio::task::yield_now().await;
    }
    let mode = rng.below(3);
    let returned = match mode {
        0 => {
            pool.close();
            0
        }
        1 => pool
            .drain(Instant::now() + Duration::from_secs(30))
            .await
            .map(|()| 0)
            .expect("drains"),
        _ => pool.shutdown_now().len() as u64,
    };
    for s in submitters {
        s.await.expect("submitter");
    }
    resizer.await.expect("resizer");
    pool.drain(Instant::now() + Duration::from_secs(30))
        .await
        .expect("settles");
    let m = pool.metrics();
    let t = &tally;
    // Abandoned submits that were granted before the drop: accepted, then aborted (or,
    // if a worker or `shutdown_now` got there first, finished or handed back), unseen
    // by the tally.
    let unseen = m.submitted - Tally::get(&t.accepted);
    assert!(unseen <= Tally::get(&t.abandoned), "seed {seed}");
    assert_eq!(m.rejected, Tally::get(&t.rejected), "seed {seed}");
    assert_eq!(m.handed_back, returned, "seed {seed}");
    let extra = [
        (m.handed_back, Tally::get(&t.handed_back)),
        (m.completed, Tally::get(&t.completed)),
        (m.failed, Tally::get(&t.failed)),
        (m.cancelled, Tally::get(&t.cancelled)),
    ];
    assert!(extra.iter().all(|(m, t)| m >= t), "seed {seed}: {extra:?}");
    assert_eq!(
        extra.iter().map(|(m, t)| m - t).sum::<u64>(),
        unseen,
        "seed {seed}: every unseen job ended exactly once"
    );
    assert_eq!(
        m.submitted,
        m.completed + m.failed + m.cancelled + m.handed_back,
        "seed {seed}: accepted = completed + failed + cancelled + handed back"
    );
    assert_eq!((m.queued, m.running, m.workers), (0, 0, 0), "seed {seed}");
    (m, unseen)
}

#[test]
fn accounting_is_exact_under_random_shutdown() {
    // Keep the panic messages of the deliberately panicking jobs out of the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if info.payload().downcast_ref::<&str>() != Some(&"stress panic") {
            eprintln!("{info}");
        }
    }));
    let rt = multi_thread();
    let mut seen = [0u64; 7];
    for seed in 0..1000 {
        let (m, granted_then_abandoned) = rt.block_on(stress_round(seed));
        for (s, v) in seen.iter_mut().zip([
            m.completed,
            m.failed,
            m.cancelled,
            m.handed_back,
            m.rejected,
            m.queue_wait.count,
            granted_then_abandoned,
        ]) {
            *s += v;
        }
    }
    drop(rt);
    std::panic::set_hook(hook);
    // Every path was exercised somewhere in the run.
    assert!(seen.iter().all(|&n| n > 0), "outcomes seen: {seen:?}");
    eprintln!("outcomes seen: {seen:?}");
}

fn tracked_workers(pool_name: &str) -> usize {
    let prefix = format!("{pool_name}-worker-");
    corral_task::snapshot()
        .iter()
        .filter(|t| t.name().is_some_and(|n| n.starts_with(&prefix)))
        .count()
}

#[tokio::test]
async fn workers_are_tracked_tasks_and_none_survive_drop_or_drain() {
    let dropped: Pool<BoxJobU32> = Builder::new()
        .workers(3)
        .name("census-drop")
        .build()
        .expect("valid");
    settle().await;
    assert_eq!(tracked_workers("census-drop"), 3);
    drop(dropped);
    settle().await;
    assert_eq!(tracked_workers("census-drop"), 0);

    let drained: Pool<BoxJobU32> = Builder::new()
        .workers(2)
        .queue_capacity(2)
        .name("census-drain")
        .build()
        .expect("valid");
    let h = drained.submit(ready(1)).await.expect("room");
    drained
        .drain(Instant::now() + Duration::from_secs(5))
        .await
        .expect("drained");
    assert_eq!(h.await.expect("ran"), 1);
    assert_eq!(tracked_workers("census-drain"), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_drain_future_only_stops_the_waiting() {
    let pool = pool(1, 2);
    let (gate, job) = gated(1);
    let h = pool.try_submit(job).expect("room");
    settle().await;
    let mut drain = tokio_test::task::spawn(pool.drain(Instant::now() + Duration::from_secs(1)));
    tokio_test::assert_pending!(drain.poll());
    drop(drain);
    assert!(pool.is_closed());
    gate.send(()).expect("waiting");
    assert_eq!(h.await.expect("accepted work still runs"), 1);
    settle().await;
    assert_eq!(pool.metrics().workers, 0);
}

/// Bursts of 1 running + 3 queued jobs. Sampling every 8th (or 64th) job by submission
/// index measured only the first job of a burst (the one that never waits) and
/// reported a mean wait of 0; a random draw per job sees the queued ones too.
#[tokio::test(start_paused = true)]
async fn default_queue_wait_sampling_is_unbiased_for_bursts() {
    let pool: Pool<BoxJobU32> = Builder::new()
        .workers(1)
        .queue_capacity(3)
        .build()
        .expect("valid");
    assert_eq!(DEFAULT_QUEUE_WAIT_SAMPLING, 64);
    for _ in 0..1_600 {
        let (gate, first) = gated(0);
        let first = pool.try_submit(first).expect("room");
        settle().await;
        let queued: Vec<_> = (1..4)
            .map(|n| pool.try_submit(ready(n)).expect("queue slot"))
            .collect();
        tokio::time::advance(Duration::from_millis(10)).await;
        gate.send(()).expect("waiting");
        first.await.expect("ran");
        for h in queued {
            h.await.expect("ran");
        }
    }
    let wait = pool.metrics().queue_wait;
    // 6,400 jobs, one in 64 measured on average (100, standard deviation 9.9); 3 in 4
    // of them waited 10 ms.
    assert!((50..150).contains(&wait.count), "{wait:?}");
    let mean = wait.mean();
    assert!(
        (Duration::from_millis(5)..=Duration::from_millis(10)).contains(&mean),
        "true mean 7.5 ms, measured {mean:?} over {} jobs",
        wait.count
    );
    assert_eq!(wait.max, Duration::from_millis(10));
}

#[tokio::test]
async fn stopping_a_worker_between_jobs_loses_no_count() {
    // A worker yields after a run of ready jobs; stopping it there must still report the
    // job it finished last.
    let pool = pool(1, 300);
    let mut handles = Vec::new();
    for n in 0..260 {
        handles.push(pool.try_submit(ready(n)).expect("room"));
    }
    tokio::task::yield_now().await;
    let back = pool.shutdown_now();
    pool.drain(Instant::now() + Duration::from_secs(1))
        .await
        .expect("workers gone");
    let m = pool.metrics();
    assert_eq!(m.handed_back, back.len() as u64);
    assert_eq!(
        m.submitted,
        m.completed + m.failed + m.cancelled + m.handed_back
    );
    let mut resolved = 0;
    for h in handles {
        match h.await {
            Ok(_) => resolved += 1,
            Err(e) => assert!(e.is_handed_back() || e.is_cancelled(), "{e}"),
        }
    }
    assert_eq!(resolved, m.completed);
}
