//! sourcegraph/conc's pool tests (`pool/pool_test.go`, `pool/result_pool_test.go`),
//! the cases that a long-lived `corral_pool::Pool` answers.
//!
//! conc's pools are goroutine groups: `Wait` joins them and re-panics, errors are
//! combined, a context cancels siblings. That is `corral-scope`, and those cases are
//! ported in `crates/corral-scope/tests/peers_conc.rs`. What a conc user would also
//! bring to a worker pool is here: `WithMaxGoroutines(n)` is `workers(n)`, `Go` is
//! `submit`, `Wait` is joining the batch's job handles (the pool stays open for the
//! next batch; `drain` is the last `Wait`, as it closes the pool), and a result pool's
//! ordered `[]T` is the handles awaited in submission order.
//!
//! Every case runs on a current-thread and a multi-thread runtime; the race-prone ones
//! run seeded rounds on the multi-thread one. Where corral's documented contract
//! differs from conc's on purpose, the test asserts corral's and says so.

// Submitter tasks return the job handle they got: a future resolving to a future is
// the point there.
#![allow(clippy::async_yields_async)]
mod common;
#[path = "common/harness.rs"]
mod harness;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use common::{pool, ready, TestPool};
use corral_pool::{Builder, JobError, TrySubmitError};
use corral_test_support::{eventually, Latch, Rng};
use harness::{assert_accounted, hang_guard, job, quiet_peer_panics, seeded};

harness::on_both_runtimes!(
    conc_limit_is_reached_and_never_exceeded,
    conc_panics_do_not_exhaust_the_workers,
    conc_pool_is_reusable_after_each_batch,
);

/// Counts what runs now and the most ever seen at once (conc's `currentConcurrent`).
#[derive(Clone, Default)]
struct InFlight {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

/// Leaves the in-flight count when dropped.
struct Leave(Arc<AtomicUsize>);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

impl InFlight {
    fn enter(&self) -> Leave {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(now, SeqCst);
        Leave(self.now.clone())
    }
}

/// conc `TestPool/limit` and `TestResultGroup/limit` (1, 10 and 100 goroutines, ten
/// times as many tasks, outputs in submission order), with `ExamplePool`: the first
/// `workers` jobs are held on a latch, so the test shows the bound reached (every
/// worker busy, the next job waits in the queue unstarted, and once the queue is full
/// too a `try_submit` is refused) as well as never exceeded over the whole run; the
/// handles, awaited in submission order, give the outputs in that order whatever order
/// the jobs finished in.
async fn conc_limit_is_reached_and_never_exceeded() {
    for workers in [1usize, 10, 100] {
        let pool = pool(workers, workers);
        let flight = InFlight::default();
        let gate = Latch::new();
        let mut handles = Vec::new();
        for n in 0..workers as u32 {
            let (flight, gate) = (flight.clone(), gate.clone());
            handles.push(
                pool.submit(job(async move {
                    let _in = flight.enter();
                    gate.opened().await;
                    n
                }))
                .await
                .expect("open"),
            );
        }
        eventually("every worker busy", || flight.now.load(SeqCst) == workers).await;
        // The next `workers` jobs wait in the queue; one more is refused.
        for n in workers as u32..2 * workers as u32 {
            let flight = flight.clone();
            handles.push(
                pool.submit(job(async move {
                    let _in = flight.enter();
                    n
                }))
                .await
                .expect("open"),
            );
        }
        assert!(matches!(
            pool.try_submit(ready(u32::MAX)),
            Err(TrySubmitError::Full(_))
        ));
        let m = pool.metrics();
        assert_eq!((m.running, m.queued), (workers, workers), "{m:?}");
        assert_eq!(flight.now.load(SeqCst), workers, "a queued job started");
        gate.open();
        for n in 2 * workers as u32..10 * workers as u32 {
            let flight = flight.clone();
            handles.push(
                pool.submit(job(async move {
                    let _in = flight.enter();
                    for _ in 0..n % 3 {
                        tokio::task::yield_now().await;
                    }
                    n
                }))
                .await
                .expect("open"),
            );
        }
        let mut outputs = Vec::new();
        for handle in handles {
            outputs.push(handle.await.expect("ran"));
        }
        assert_eq!(outputs, (0..10 * workers as u32).collect::<Vec<_>>());
        assert_eq!(flight.max.load(SeqCst), workers, "reached, never exceeded");
        pool.drain(hang_guard()).await.expect("drained");
        assert_accounted(&pool.metrics());
    }
}

/// conc `TestPool` "panics do not exhaust goroutines" (`WithMaxGoroutines(2)`, ten
/// tasks that all panic, and `Wait` must not hang) and "propagate panic".
///
/// Deliberate difference: nothing re-panics in a waiter; a panicking job is an error
/// for its own submitter (`JobError::Panicked` with the payload, ARCHITECTURE.md) and
/// the worker lives on (conc's re-panicking `Wait` is `corral-scope`). What conc
/// checks holds: ten panics on two workers, submitted through a blocking `submit` into
/// a queue of 0 to 2, never wedge the pool: every handle resolves with its payload,
/// both workers are still there and serve the next batch. Seeded rounds vary the queue
/// and how long each job runs before it panics.
async fn conc_panics_do_not_exhaust_the_workers() {
    quiet_peer_panics();
    seeded(300, |seed| async move {
        let mut rng = Rng(seed);
        let pool: TestPool = Builder::new()
            .workers(2)
            .queue_capacity(rng.index(3))
            .build()
            .expect("valid");
        let mut handles = Vec::new();
        for n in 0..10u32 {
            let yields = rng.below(3);
            handles.push(
                pool.submit(job(async move {
                    for _ in 0..yields {
                        tokio::task::yield_now().await;
                    }
                    std::panic::panic_any(format!("peer: {n}"))
                }))
                .await
                .expect("open"),
            );
        }
        for (n, handle) in handles.into_iter().enumerate() {
            let err: JobError = handle.await.expect_err("panicked");
            let payload = err.try_into_panic().expect("a panic");
            assert_eq!(
                payload.downcast_ref::<String>().map(String::as_str),
                Some(format!("peer: {n}").as_str()),
                "seed {seed}"
            );
        }
        let m = pool.metrics();
        assert_eq!((m.failed, m.workers), (10, 2), "seed {seed}: {m:?}");
        for n in 0..4 {
            let handle = pool.submit(ready(n)).await.expect("open");
            assert_eq!(handle.await.expect("ran"), n, "seed {seed}");
        }
        pool.drain(hang_guard()).await.expect("drained");
        let m = pool.metrics();
        assert_eq!((m.failed, m.completed), (10, 4), "seed {seed}: {m:?}");
        assert_accounted(&m);
    })
    .await;
}

/// conc `TestPool` "is reusable" (ten tasks, `Wait`, ten more, `Wait`: 20 ran),
/// `TestResultGroup` "reuse" (conc issue #128: the second `Wait` returns only the second
/// batch's results), "returns correct MaxGoroutines" and "panics on configuration
/// after init".
///
/// corral: a batch's `Wait` is joining its handles, which leaves the pool open, so the
/// second batch runs on the same workers and each batch's handles give only its own
/// outputs; `drain` ends the last batch and closes the pool for good. Deliberate
/// difference: conc panics when `WithMaxGoroutines` is called after the first `Go`;
/// corral's pool is configured by its builder, and changing the bound of a running
/// pool is the documented `resize`.
async fn conc_pool_is_reusable_after_each_batch() {
    let pool = pool(42, 16);
    assert_eq!(pool.workers(), 42);
    let count = Arc::new(AtomicUsize::new(0));
    for batch in 1..=2u32 {
        let mut handles = Vec::new();
        for _ in 0..10 {
            let count = count.clone();
            handles.push(
                pool.submit(job(async move {
                    count.fetch_add(1, SeqCst);
                    batch
                }))
                .await
                .expect("open"),
            );
        }
        let mut outputs = Vec::new();
        for handle in handles {
            outputs.push(handle.await.expect("ran"));
        }
        assert_eq!(outputs, [batch; 10], "batch {batch}");
        assert_eq!(count.load(SeqCst), 10 * batch as usize);
        assert!(!pool.is_closed());
    }
    pool.resize(4).expect("open");
    assert_eq!(pool.workers(), 4);
    pool.drain(hang_guard()).await.expect("drained");
    let m = pool.metrics();
    assert_eq!((m.submitted, m.completed), (20, 20));
    assert_accounted(&m);
    assert!(matches!(
        pool.try_submit(ready(0)),
        Err(TrySubmitError::Closed(_))
    ));
}
