//! Loom models of the pool, running the code that ships: the real worker loop (the
//! same future `Pool` spawns as a task, handed out unspawned by
//! `Pool::start_unspawned`), the real submit, drain and handle futures and the real
//! `Pool` methods, over the engine's real state machine and locks (from
//! `corral_shared::sync`, loom's under the model). Only the spawning differs: each
//! worker is a loom thread driving its worker future with loom's `block_on`, whose
//! wakers unpark the blocked thread, so a lost wake-up shows up as a deadlock.
//!
//! The pool's core carries a tokio `Handle` (used only to spawn workers and to arm the
//! drain/enqueue timers); the models take it from one current-thread runtime built
//! outside the model and never driven. Its internals are not loom-aware, which is
//! fine: nothing in them is shared between the model's threads.

use std::future::{poll_fn, Ready};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use loom::future::block_on;
use loom::thread;
use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::builder::Builder;
use crate::error::JobError;
use crate::handle::{JobHandle, Resolved, Slot};
use crate::pool::Pool;

type Job = Ready<u32>;

/// A runtime handle for the pool's core; built once per test, never driven.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// A pool with `workers` worker threads running the shipped worker loop. Join the
/// threads after the pool is closed; each returns when its worker leaves.
fn pool(
    handle: &Handle,
    workers: usize,
    capacity: usize,
) -> (Pool<Job>, Vec<thread::JoinHandle<()>>) {
    let config = Builder::new()
        .workers(workers)
        .queue_capacity(capacity)
        .queue_wait_sampling(0)
        .name("loom")
        .config()
        .expect("valid configuration");
    // The workers are registered before the pool is used, as `build()` does.
    let (pool, runs) = Pool::start_unspawned(config, handle.clone());
    let threads = runs
        .into_iter()
        .map(|run| thread::spawn(move || block_on(run)))
        .collect();
    (pool, threads)
}

fn submit(pool: &Pool<Job>, value: u32) -> Option<JobHandle<u32>> {
    block_on(pool.submit(std::future::ready(value))).ok()
}

fn join(threads: Vec<thread::JoinHandle<()>>) {
    for t in threads {
        t.join().expect("worker");
    }
}

/// Hand-off mode: the job is accepted for the worker before it has even started; the
/// worker takes it, parks, and close lets it leave. The counters include the job
/// before its handle resolves.
#[test]
fn hand_off_submit_and_park() {
    let rt = runtime();
    loom::model(move || {
        let (pool, workers) = pool(rt.handle(), 1, 0);
        let h = submit(&pool, 7).expect("pool is open");
        assert_eq!(block_on(h).expect("job ran"), 7);
        assert_eq!(pool.metrics().completed, 1);
        pool.close();
        join(workers);
        let m = pool.metrics();
        assert_eq!((m.submitted, m.completed, m.workers), (1, 1, 0));
    });
}

/// Two submitters race a worker through a one-slot queue, then close races the second:
/// accepted = completed, and a refused submitter was counted as rejected.
#[test]
fn submitters_race_close() {
    let rt = runtime();
    loom::model(move || {
        let (pool, workers) = pool(rt.handle(), 1, 1);
        let pool = Arc::new(pool);
        let s = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || submit(&pool, 1).map(|h| block_on(h).expect("ran")))
        };
        let mine = submit(&pool, 2);
        pool.close();
        let theirs = s.join().expect("submitter");
        let mine = mine.map(|h| block_on(h).expect("ran"));
        join(workers);
        let accepted = u64::from(mine.is_some()) + u64::from(theirs.is_some());
        let m = pool.metrics();
        assert_eq!((m.submitted, m.completed), (accepted, accepted));
        assert_eq!(m.rejected, 2 - accepted);
    });
}

/// Two workers, two hand-off jobs: only one idle worker is woken per push while
/// another is on its way, and the woken one chains the next wake-up; no job is
/// stranded.
#[test]
fn chained_worker_wake_ups() {
    let rt = runtime();
    loom::model(move || {
        let (pool, workers) = pool(rt.handle(), 2, 0);
        let a = submit(&pool, 1).expect("pool is open");
        let b = submit(&pool, 2).expect("pool is open");
        // Closing leaves accepted jobs to run; workers leave once the queue is empty.
        pool.close();
        join(workers);
        assert!(a.is_finished() && b.is_finished());
        assert_eq!(pool.metrics().completed, 2);
    });
}

/// Promise 1: a drain that returns `Ok` finds every handle resolved, whichever way the
/// worker's last visit and the drain's polls interleave.
#[test]
fn drain_ok_means_every_handle_is_resolved() {
    let rt = runtime();
    loom::model(move || {
        let (pool, workers) = pool(rt.handle(), 1, 1);
        let h = submit(&pool, 3).expect("pool is open");
        block_on(pool.drain(Instant::now() + Duration::from_secs(3600))).expect("drains");
        assert!(
            h.is_finished(),
            "drain returned Ok with a handle unresolved"
        );
        join(workers);
    });
}

/// Promise 2: an abort races the worker taking the job. The job is either taken out
/// of the queue (cancelled, never run) or cancelled or finished by the worker; never
/// handed back, and the accounting is exact.
#[test]
fn abort_races_the_worker() {
    let rt = runtime();
    loom::model(move || {
        let (pool, workers) = pool(rt.handle(), 1, 1);
        let h = submit(&pool, 5).expect("pool is open");
        h.abort();
        let back = pool.shutdown_now();
        assert!(back.is_empty(), "an aborted job was handed back");
        match block_on(h) {
            Ok(5) | Err(JobError::Cancelled) => {}
            other => panic!("aborted job ended {other:?}"),
        }
        join(workers);
        let m = pool.metrics();
        assert_eq!(m.handed_back, 0);
        assert_eq!(m.submitted, m.completed + m.cancelled);
    });
}

/// Promise 3: a blocked submitter hands its job to the pool, which queues it when room
/// is granted (here, when the worker finishes the first job), whenever the submitter
/// is polled again; the job runs exactly once and no wake-up is lost.
#[test]
fn a_blocked_submitter_is_granted_room() {
    let rt = runtime();
    loom::model(move || {
        let (pool, workers) = pool(rt.handle(), 1, 0);
        let first = submit(&pool, 1).expect("pool is open");
        let second = submit(&pool, 2).expect("granted");
        assert_eq!(block_on(first).expect("ran"), 1);
        assert_eq!(block_on(second).expect("ran"), 2);
        pool.close();
        join(workers);
        let m = pool.metrics();
        assert_eq!((m.submitted, m.completed, m.blocked_submitters), (2, 2, 0));
    });
}

/// A runner parked inside a job is always woken by an abort (no lost wake-up), and an
/// outcome stored first wins over the abort.
#[test]
fn slot_abort_wakes_runner() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new(crate::handle::no_pool()));
        let aborter = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || slot.interrupt())
        };
        block_on(poll_fn(|cx| {
            if slot.is_aborted() || slot.register_runner(cx.waker()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        let _ = slot.complete(Err(JobError::Cancelled));
        aborter.join().expect("aborter");
        let outcome = block_on(poll_fn(|cx| slot.poll_take(cx)));
        assert!(outcome.expect_err("aborted").is_cancelled());
    });
}

/// The handle's waiter is woken by a completion on another thread.
#[test]
fn slot_complete_wakes_handle() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new(crate::handle::no_pool()));
        let runner = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                if let Resolved::Wake(waker) = slot.complete(Ok(5)) {
                    waker.wake();
                }
            })
        };
        let outcome = block_on(poll_fn(|cx| slot.poll_take(cx)));
        assert_eq!(outcome.expect("completed"), 5);
        runner.join().expect("runner");
    });
}

/// A blocked submitter is dropped while the worker frees room and may grant it
/// (`Shared::abandon`, the code `Submit`'s drop runs, against the worker's visit): in
/// every interleaving the accounting stays exact, no submitter is left counted as
/// blocked, and the worker and `close` still finish (no lost wake-up). That a granted
/// job leaves the queue unrun is checked deterministically in `tests/` (and by the
/// seeded stress), where the job can be observed.
#[test]
fn dropped_submitter_races_its_grant() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Waker};

    let rt = runtime();
    loom::model(move || {
        let (pool, workers) = pool(rt.handle(), 1, 0);
        let first = submit(&pool, 1).expect("pool is open");
        let mut second = pool.submit(std::future::ready(2));
        let polled = Pin::new(&mut second).poll(&mut Context::from_waker(Waker::noop()));
        drop(second);
        assert_eq!(block_on(first).expect("ran"), 1);
        if let Poll::Ready(accepted) = polled {
            let _ = block_on(accepted.expect("pool is open"));
        }
        pool.close();
        join(workers);
        let m = pool.metrics();
        assert_eq!(m.blocked_submitters, 0);
        assert_eq!(m.submitted, m.completed + m.cancelled);
        assert_eq!((m.queued, m.running), (0, 0));
    });
}
