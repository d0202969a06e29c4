//! Loom models of corral-blocking's pool: the slot/queue handshake between a caller
//! that may leave and the thread that may take its job.
#![cfg(corral_loom)]

use std::sync::atomic::Ordering;

use corral_blocking::{BlockingPool, RunError};
use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;

fn pool(queue: usize) -> BlockingPool {
    BlockingPool::builder()
        .name("loom")
        .max_threads(1)
        .queue_capacity(queue)
        .build()
        .unwrap()
}

/// Stops the pool and waits until its thread has exited.
fn stop(pool: &BlockingPool) {
    pool.shutdown();
    block_on(pool.stopped());
    let m = pool.metrics();
    assert_eq!((m.threads_alive, m.running, m.queued), (0, 0, 0));
    assert_eq!(
        m.abandoned_running, 0,
        "an abandoned job was never accounted back"
    );
}

/// The caller drops its handle while the thread may be taking the job: the job runs
/// exactly when the thread took it first, and runs at most once; the abandoned count
/// always returns to zero.
#[test]
fn drop_races_with_the_thread_taking_the_job() {
    loom::model(|| {
        let pool = pool(1);
        let runs = Arc::new(AtomicUsize::new(0));
        let job = pool
            .try_run({
                let runs = runs.clone();
                move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                }
            })
            .unwrap();
        drop(job);
        stop(&pool);
        let runs = runs.load(Ordering::SeqCst);
        assert!(runs <= 1);
        assert_eq!(runs as u64, pool.metrics().completed);
    });
}

/// The result crosses from the pool thread to a waiting caller: the waker is never
/// lost, whichever of "register waker" and "write result" comes first.
#[test]
fn the_result_reaches_a_waiting_caller() {
    loom::model(|| {
        let pool = pool(1);
        let job = pool.try_run(|| 7u32).unwrap();
        assert_eq!(block_on(job).unwrap(), 7);
        stop(&pool);
        assert_eq!(pool.metrics().completed, 1);
    });
}

/// Shutdown races with a queued job: either the thread ran it, or its caller is told
/// `Closed` (and it never runs). Never both, never neither.
#[test]
fn shutdown_races_with_a_queued_job() {
    loom::model(|| {
        let pool = pool(1);
        let runs = Arc::new(AtomicUsize::new(0));
        let job = pool
            .try_run({
                let runs = runs.clone();
                move || runs.fetch_add(1, Ordering::SeqCst)
            })
            .unwrap();
        let closer = {
            let pool = pool.clone();
            loom::thread::spawn(move || pool.shutdown())
        };
        let outcome = block_on(job);
        closer.join().unwrap();
        stop(&pool);
        match outcome {
            Ok(_) => assert_eq!(runs.load(Ordering::SeqCst), 1),
            Err(RunError::Closed) => assert_eq!(runs.load(Ordering::SeqCst), 0),
            Err(other) => panic!("unexpected {other:?}"),
        }
    });
}

/// Two callers of `run` compete for one thread and no queue: the one that finds no room
/// waits for space and is woken when the thread frees up. No wakeup is lost.
#[test]
fn a_caller_waiting_for_space_is_woken() {
    loom::model(|| {
        let pool = pool(0);
        let other = {
            let pool = pool.clone();
            loom::thread::spawn(move || block_on(pool.run(|| 1u32)).unwrap())
        };
        let mine = block_on(pool.run(|| 2u32)).unwrap();
        assert_eq!((mine, other.join().unwrap()), (2, 1));
        stop(&pool);
        assert_eq!(pool.metrics().completed, 2);
    });
}

/// A `stopped()` future that gives up (is dropped after waiting, as under an expired
/// timeout) while the pool stops takes its waker registration with it, and a waiter on
/// another thread is still woken: no wake-up lost, no deadlock between the drop and
/// the last thread's exit.
#[test]
fn a_dropped_stopped_future_races_with_the_pool_stopping() {
    loom::model(|| {
        let pool = pool(1);
        assert_eq!(block_on(pool.run(|| 3u32)).unwrap(), 3);
        let waiter = {
            let pool = pool.clone();
            loom::thread::spawn(move || block_on(pool.stopped()))
        };
        let stopper = {
            let pool = pool.clone();
            loom::thread::spawn(move || pool.shutdown())
        };
        let counted = std::sync::Arc::new(Counted);
        let waker = std::task::Waker::from(counted.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut gave_up = pool.stopped();
        let _ = std::future::Future::poll(std::pin::Pin::new(&mut gave_up), &mut cx);
        drop(gave_up);
        drop(waker);
        assert_eq!(
            std::sync::Arc::strong_count(&counted),
            1,
            "the pool kept a dropped `stopped()` future's waker"
        );
        stopper.join().unwrap();
        waiter.join().unwrap();
        stop(&pool);
    });
}

/// A waker whose clones are counted by its `Arc` (a std one: the count is only read
/// after the code under test is done with it).
struct Counted;

impl std::task::Wake for Counted {
    fn wake(self: std::sync::Arc<Self>) {}
}
