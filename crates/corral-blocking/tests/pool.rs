//! BlockingPool behaviour: cap, queue, cancellation, panics, keep-alive, shutdown.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral_blocking::{BlockingPool, BuildError, RunError, TryRunError};
use support::{eventually, occupy, occupy_n, ready, Latch};
use tokio_test::{assert_pending, assert_ready, task};

fn pool(name: &str, max_threads: usize, queue: usize) -> BlockingPool {
    BlockingPool::builder()
        .name(name)
        .max_threads(max_threads)
        .queue_capacity(queue)
        .build()
        .unwrap()
}

#[tokio::test]
async fn run_returns_the_value() {
    let pool = pool("value", 2, 4);
    assert_eq!(pool.run(|| 6 * 7).await.unwrap(), 42);
    let name = pool
        .run(|| std::thread::current().name().map(str::to_owned))
        .await
        .unwrap();
    // Threads are named `<pool>-<n>`. Which one runs the second job depends on whether
    // the first thread went idle before it was submitted, so the index is not asserted.
    let name = name.expect("pool threads are named");
    let index = name.strip_prefix("value-").expect("named after the pool");
    assert!(index.parse::<usize>().is_ok_and(|n| n < 2), "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_is_never_exceeded_under_a_storm() {
    const CAP: usize = 4;
    let pool = pool("storm", CAP, 16);
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..400)
        .map(|i| {
            let (pool, now, peak) = (pool.clone(), now.clone(), peak.clone());
            tokio::spawn(async move {
                pool.run(move || {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(running, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(200));
                    now.fetch_sub(1, Ordering::SeqCst);
                    i
                })
                .await
                .unwrap()
            })
        })
        .collect();
    for (i, job) in jobs.into_iter().enumerate() {
        assert_eq!(job.await.unwrap(), i);
    }
    // A caller gets its value just before the thread books the job as done.
    eventually("all jobs booked", || pool.metrics().completed == 400).await;
    let metrics = pool.metrics();
    assert!(peak.load(Ordering::SeqCst) <= CAP);
    assert!(metrics.threads_high_water <= CAP, "{metrics:?}");
    assert!(metrics.running_high_water <= CAP, "{metrics:?}");
    assert_eq!(metrics.running, 0);
    assert_eq!(metrics.queued, 0);
}

#[tokio::test]
async fn a_queued_job_whose_caller_left_never_runs() {
    let pool = pool("dropped", 1, 4);
    let gate = Latch::new();
    let blocker = pool.try_run({
        let gate = gate.clone();
        move || gate.wait()
    });
    let blocker = blocker.unwrap();
    eventually("blocker running", || pool.metrics().running == 1).await;

    let ran = Arc::new(AtomicBool::new(false));
    // Through try_run's handle...
    let queued = pool
        .try_run({
            let ran = ran.clone();
            move || ran.store(true, Ordering::SeqCst)
        })
        .unwrap();
    // ...and through a polled-then-dropped `run` future.
    let mut run = task::spawn(pool.run({
        let ran = ran.clone();
        move || ran.store(true, Ordering::SeqCst)
    }));
    assert_pending!(run.poll());
    assert_eq!(pool.metrics().queued, 2);
    drop(queued);
    drop(run);
    assert_eq!(pool.metrics().queued, 0);

    gate.open();
    blocker.await.unwrap();
    // A job queued after the dropped ones runs: the thread went past where they were.
    pool.run(|| ()).await.unwrap();
    assert!(!ran.load(Ordering::SeqCst));
    eventually("both jobs booked", || pool.metrics().completed == 2).await;
}

#[tokio::test]
async fn a_panic_is_reported_with_its_payload_and_the_thread_lives_on() {
    let pool = pool("panics", 1, 4);
    let err = pool.run(|| panic!("boom")).await.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.to_string(), "blocking job panicked: boom");
    let payload = err.into_panic().unwrap();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    assert_eq!(pool.run(|| 1).await.unwrap(), 1);
    assert_eq!(pool.metrics().threads_high_water, 1);
}

#[tokio::test]
async fn idle_threads_exit_after_the_keep_alive() {
    let pool = BlockingPool::builder()
        .name("reap")
        .max_threads(3)
        .keep_alive(Duration::from_millis(10))
        .build()
        .unwrap();
    let (gate, jobs) = occupy_n(&pool, 3).await;
    assert_eq!(pool.metrics().threads_alive, 3);
    gate.open();
    for job in jobs {
        job.await.unwrap();
    }
    eventually("idle threads reaped", || pool.metrics().threads_alive == 0).await;
    // The pool spawns again on demand.
    assert_eq!(pool.run(|| 5).await.unwrap(), 5);
    assert_eq!(pool.metrics().threads_high_water, 3);
}

#[tokio::test]
async fn idle_threads_are_reused_within_the_keep_alive() {
    let pool = BlockingPool::builder()
        .name("reuse")
        .max_threads(4)
        .keep_alive(Duration::from_secs(60))
        .build()
        .unwrap();
    for _ in 0..20 {
        pool.run(|| ()).await.unwrap();
        // The result reaches the caller just before its thread is idle again.
        eventually("thread idle", || pool.metrics().threads_idle == 1).await;
    }
    // Sequential jobs never need a second thread.
    assert_eq!(pool.metrics().threads_high_water, 1);
}

#[tokio::test]
async fn try_run_hands_the_closure_back_when_full_or_closed() {
    let pool = pool("full", 1, 1);
    let (gate, first) = occupy(&pool).await;
    let second = pool.try_run(|| 2).unwrap();
    let refused = pool.try_run(|| 3).unwrap_err();
    assert_eq!(refused.to_string(), "blocking pool queue is full");
    assert!(matches!(refused, TryRunError::Full(_)));
    assert_eq!(refused.into_inner()(), 3);
    assert_eq!(pool.metrics().rejected, 1);

    gate.open();
    first.await.unwrap();
    assert_eq!(second.await.unwrap(), 2);

    pool.shutdown();
    let closed = pool.try_run(|| 4).unwrap_err();
    assert!(matches!(closed, TryRunError::Closed(_)));
    assert_eq!(closed.into_inner()(), 4);
    assert!(matches!(pool.run(|| 5).await, Err(RunError::Closed)));
}

#[tokio::test]
async fn zero_capacity_queue_is_a_hand_off() {
    let pool = pool("handoff", 1, 0);
    let (gate, first) = occupy(&pool).await;
    assert!(matches!(pool.try_run(|| ()), Err(TryRunError::Full(_))));
    gate.open();
    first.await.unwrap();
    eventually("thread idle", || pool.metrics().threads_idle == 1).await;
    assert!(pool.try_run(|| ()).unwrap().await.is_ok());
}

#[tokio::test]
async fn run_waits_for_queue_space_in_order_and_is_woken() {
    let pool = pool("space", 1, 1);
    let (gate, first) = occupy(&pool).await;
    let queued = pool.try_run(|| 1).unwrap();

    let mut a = task::spawn(pool.run(|| 'a'));
    let mut b = task::spawn(pool.run(|| 'b'));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(pool.metrics().waiting_for_space, 2);
    // try_run does not jump the line of waiters.
    assert!(matches!(pool.try_run(|| 'c'), Err(TryRunError::Full(_))));

    gate.open();
    first.await.unwrap();
    assert_eq!(queued.await.unwrap(), 1);
    eventually("a woken", || a.is_woken()).await;
    let a_out = ready(&mut a).await;
    assert_eq!(a_out.unwrap(), 'a');
    eventually("b woken", || b.is_woken()).await;
    let b_out = ready(&mut b).await;
    assert_eq!(b_out.unwrap(), 'b');
    assert_eq!(pool.metrics().waiting_for_space, 0);
}

#[tokio::test]
async fn dropping_the_first_space_waiter_passes_its_turn_on() {
    let pool = pool("pass-on", 1, 0);
    let (gate, first) = occupy(&pool).await;
    let mut a = task::spawn(pool.run(|| 'a'));
    let mut b = task::spawn(pool.run(|| 'b'));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    gate.open();
    first.await.unwrap();
    eventually("a woken", || a.is_woken()).await;
    drop(a);
    assert!(b.is_woken());
    let out = ready(&mut b).await;
    assert_eq!(out.unwrap(), 'b');
}

#[tokio::test]
async fn close_while_waiting_for_space_fails_with_closed() {
    let pool = pool("close-wait", 1, 0);
    let (gate, first) = occupy(&pool).await;
    let mut waiting = task::spawn(pool.run(|| ()));
    assert_pending!(waiting.poll());
    pool.close();
    assert!(waiting.is_woken());
    assert!(matches!(
        assert_ready!(waiting.poll()),
        Err(RunError::Closed)
    ));
    gate.open();
    // Close keeps accepted work: the running job still completes.
    first.await.unwrap();
    pool.stopped().await;
    assert_eq!(pool.metrics().threads_alive, 0);
}

/// `close()` stops intake but keeps the queue: every job already queued still runs, and
/// the pool stops only once the queue has drained (`shutdown()` is the one that drops
/// queued jobs unrun; see below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_keeps_queued_jobs_and_runs_them_before_stopping() {
    let pool = pool("close-keeps", 1, 4);
    let (gate, first) = occupy(&pool).await;
    let queued: Vec<_> = (0..3)
        .map(|i| pool.try_run(move || i * 10).unwrap())
        .collect();
    pool.close();
    let m = pool.metrics();
    assert!(m.closed);
    assert_eq!((m.queued, m.running, m.threads_alive), (3, 1, 1));
    assert!(matches!(pool.try_run(|| 0), Err(TryRunError::Closed(_))));
    let mut stopped = task::spawn(pool.stopped());
    assert_pending!(stopped.poll());
    gate.open();
    first.await.unwrap();
    for (i, job) in queued.into_iter().enumerate() {
        assert_eq!(job.await.unwrap(), i * 10);
    }
    ready(&mut stopped).await;
    let m = pool.metrics();
    assert_eq!((m.queued, m.running, m.threads_alive), (0, 0, 0));
    assert_eq!(m.completed, 4);
}

#[test]
fn try_run_error_hands_the_closure_back_and_names_its_cause() {
    use std::error::Error as _;
    let full = TryRunError::Full(|| 1);
    assert_eq!(format!("{full:?}"), "TryRunError::Full(..)");
    assert_eq!(full.to_string(), "blocking pool queue is full");
    assert!(full.source().is_none());
    assert_eq!((full.into_inner())(), 1);
    let spawn = TryRunError::Spawn(|| 2, std::io::Error::other("no threads left"));
    assert_eq!(
        spawn.to_string(),
        "could not spawn a blocking pool thread: no threads left"
    );
    assert!(format!("{spawn:?}").starts_with("TryRunError::Spawn(.., "));
    assert_eq!(spawn.source().unwrap().to_string(), "no threads left");
    assert_eq!((spawn.into_inner())(), 2);
}

#[tokio::test]
async fn an_abandoned_job_keeps_its_slot_until_it_returns() {
    let pool = pool("abandon", 1, 4);
    let (gate, job) = occupy(&pool).await;
    drop(job);
    let m = pool.metrics();
    assert_eq!((m.abandoned_running, m.running, m.threads_alive), (1, 1, 1));
    // The slot is still taken: a new job waits in the queue.
    let next = pool.try_run(|| 9).unwrap();
    assert_eq!(pool.metrics().queued, 1);
    gate.open();
    assert_eq!(next.await.unwrap(), 9);
    eventually("slots given back", || {
        let m = pool.metrics();
        (m.abandoned_running, m.running) == (0, 0)
    })
    .await;
}

#[tokio::test]
async fn shutdown_drops_queued_jobs_and_lists_busy_threads_as_strays() {
    let pool = pool("shutdown-strays", 1, 4);
    let (gate, busy) = occupy(&pool).await;
    let ran = Arc::new(AtomicBool::new(false));
    let queued = pool
        .try_run({
            let ran = ran.clone();
            move || ran.store(true, Ordering::SeqCst)
        })
        .unwrap();
    pool.shutdown();
    assert!(matches!(queued.await, Err(RunError::Closed)));

    let strays: Vec<_> = corral_blocking::stray_threads()
        .into_iter()
        .filter(|s| s.pool == "shutdown-strays")
        .collect();
    assert_eq!(strays.len(), 1);
    assert_eq!(strays[0].thread, "shutdown-strays-0");

    gate.open();
    busy.await.unwrap(); // the running job finishes normally
    pool.stopped().await;
    eventually("stray gone", || {
        corral_blocking::stray_threads()
            .iter()
            .all(|s| s.pool != "shutdown-strays")
    })
    .await;
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn dropping_the_pool_stops_idle_threads() {
    let pool = pool("drop-idle", 2, 4);
    pool.run(|| ()).await.unwrap();
    let stopped = pool.stopped();
    let watcher = pool.clone();
    drop(pool);
    // A clone keeps the pool alive.
    assert!(!watcher.metrics().closed);
    drop(watcher);
    stopped.await;
    eventually("no strays", || {
        corral_blocking::stray_threads()
            .iter()
            .all(|s| s.pool != "drop-idle")
    })
    .await;
}

#[test]
fn builder_rejects_nonsense_with_typed_errors() {
    let err = BlockingPool::builder().max_threads(0).build().unwrap_err();
    assert_eq!(err, BuildError::ZeroThreads);
    assert_eq!(err.to_string(), "max_threads must be at least 1");
    assert!(matches!(
        BlockingPool::builder().name("").build(),
        Err(BuildError::InvalidName(_))
    ));
    assert_eq!(
        BlockingPool::builder()
            .stack_size(1024)
            .build()
            .unwrap_err(),
        BuildError::StackTooSmall {
            requested: 1024,
            minimum: corral_blocking::MIN_STACK_SIZE
        }
    );
    let pool = BlockingPool::builder()
        .name("sized")
        .stack_size(256 * 1024)
        .max_threads(3)
        .build()
        .unwrap();
    assert_eq!((pool.name(), pool.max_threads()), ("sized", 3));
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<BlockingPool>();
    send_sync::<corral_blocking::PoolMetrics>();
    send_sync::<corral_blocking::StrayThread>();
    send_sync::<BuildError>();
    send::<RunError>();
    send_sync::<TryRunError<fn()>>();
    send_sync::<corral_blocking::Stopped>();
    send_sync::<corral_blocking::AcceptedJob<u32>>();
    send_sync::<corral_blocking::Run<fn() -> u32, u32>>();
}

/// A job's thread-local destructors are user code that runs after the thread's last
/// job, as the OS thread exits: until they return, a shut-down pool's thread is alive
/// and must still be listed as a stray (a leak check that believed it gone would pass
/// while the thread still runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_running_thread_local_destructors_is_still_a_stray() {
    struct BlockOnDrop {
        entered: Arc<AtomicBool>,
        gate: Latch,
    }
    impl Drop for BlockOnDrop {
        fn drop(&mut self) {
            self.entered.store(true, Ordering::SeqCst);
            self.gate.wait();
        }
    }
    thread_local! {
        static HELD: std::cell::RefCell<Option<BlockOnDrop>> = const { std::cell::RefCell::new(None) };
    }
    let pool = pool("tls-dtor", 1, 4);
    let (entered, gate) = (Arc::new(AtomicBool::new(false)), Latch::new());
    let _open = support::OpenOnDrop(gate.clone());
    pool.run({
        let held = BlockOnDrop {
            entered: entered.clone(),
            gate: gate.clone(),
        };
        move || HELD.with(|slot| *slot.borrow_mut() = Some(held))
    })
    .await
    .unwrap();
    pool.shutdown(); // the idle thread exits, running the destructor, which blocks
    eventually("destructor running", || entered.load(Ordering::SeqCst)).await;
    let strays: Vec<_> = corral_blocking::stray_threads()
        .into_iter()
        .filter(|s| s.pool == "tls-dtor")
        .map(|s| s.thread)
        .collect();
    assert_eq!(strays, ["tls-dtor-0"]);
    gate.open();
    eventually("stray gone", || {
        corral_blocking::stray_threads()
            .iter()
            .all(|s| s.pool != "tls-dtor")
    })
    .await;
}

/// The metrics never lag the result: once a caller has its value (or the panic), the
/// job is booked as completed and no longer running. Many rounds on a multi-thread
/// runtime, since the old order (book after handing over) lost this race often.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_booked_as_completed_before_its_caller_gets_the_result() {
    let pool = BlockingPool::builder()
        .name("booked")
        .max_threads(2)
        .build()
        .unwrap();
    for round in 1..=2_000u64 {
        if round % 100 == 0 {
            assert!(pool.run(|| panic!("booked too")).await.is_err());
        } else {
            pool.run(|| ()).await.unwrap();
        }
        let metrics = pool.metrics();
        assert_eq!(metrics.completed, round, "{metrics:?}");
        assert_eq!(metrics.running, 0, "{metrics:?}");
    }
}
