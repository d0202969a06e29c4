//! Deterministic tests of admission, rejection, hand-off, blocked submitters, panics,
//! aborts and resize. Current-thread runtime: workers run only when the test yields.

mod common;

use std::time::Duration;

use common::{gated, pool, ready, settle, Probe};
use corral_pool::{
    BuildError, Builder, JobError, Pool, ResizeError, SubmitError, SubmitTimeoutError,
    TrySubmitError, MAX_QUEUE_CAPACITY, MAX_WORKERS,
};
use tokio_test::{assert_pending, assert_ready, task};

#[test]
fn build_rejects_nonsense() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let h = rt.handle();
    let err = |b: Builder| b.build_on::<common::BoxJobU32>(h).expect_err("nonsense");
    assert_eq!(err(Builder::new()), BuildError::WorkersNotSet);
    assert_eq!(err(Builder::new().workers(0)), BuildError::ZeroWorkers);
    assert_eq!(
        err(Builder::new().workers(MAX_WORKERS + 1)),
        BuildError::TooManyWorkers {
            requested: MAX_WORKERS + 1,
            max: MAX_WORKERS
        }
    );
    assert_eq!(
        err(Builder::new()
            .workers(1)
            .queue_capacity(MAX_QUEUE_CAPACITY + 1)),
        BuildError::QueueTooLarge {
            requested: MAX_QUEUE_CAPACITY + 1,
            max: MAX_QUEUE_CAPACITY
        }
    );
    assert_eq!(
        BuildError::ZeroWorkers.to_string(),
        "a pool needs at least one worker"
    );
}

#[test]
fn build_outside_runtime_is_a_typed_error_and_build_on_works() {
    let outside = Builder::new().workers(1).build::<common::BoxJobU32>();
    assert_eq!(outside.expect_err("no runtime"), BuildError::NoRuntime);

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    // Built from a plain thread, workers live on `rt`.
    let pool = Builder::new()
        .workers(1)
        .queue_capacity(1)
        .build_on::<common::BoxJobU32>(rt.handle())
        .expect("valid");
    let handle = pool.try_submit(ready(3)).expect("queue has room");
    assert_eq!(rt.block_on(handle).expect("ran"), 3);
    drop(pool);
}

#[tokio::test]
async fn admission_and_rejection_hand_the_job_back() {
    let pool = pool(2, 1);
    settle().await;
    let (g1, j1) = gated(1);
    let (g2, j2) = gated(2);
    let h1 = pool.try_submit(j1).expect("room");
    let h2 = pool.try_submit(j2).expect("room");
    settle().await;
    assert_eq!(pool.metrics().running, 2);
    let h3 = pool.try_submit(ready(3)).expect("queue slot");
    assert_eq!(pool.metrics().queued, 1);

    // Full: the very job comes back, unpolled.
    let probe = Probe::default();
    let (_g, rejected) = probe.gated(42);
    let back = match pool.try_submit(rejected) {
        Err(TrySubmitError::Full(job)) => job,
        other => panic!("expected Full, got {other:?}"),
    };
    assert_eq!(probe.polled(), 0);
    drop(back);
    assert_eq!(probe.dropped(), 1);
    let m = pool.metrics();
    assert_eq!((m.submitted, m.rejected), (3, 1));

    g1.send(()).expect("job waits");
    g2.send(()).expect("job waits");
    assert_eq!(h1.await.expect("ran"), 1);
    assert_eq!(h2.await.expect("ran"), 2);
    assert_eq!(h3.await.expect("ran"), 3);
    let m = pool.metrics();
    assert_eq!((m.completed, m.queue_wait.count), (3, 3));
    assert_eq!(
        TrySubmitError::Full(()).to_string(),
        "pool is full",
        "lowercase, no period"
    );
}

#[tokio::test]
async fn hand_off_accepts_only_when_a_worker_is_free() {
    let pool = pool(1, 0);
    // The worker has not started yet, but it will take the job when it does.
    let (gate, job) = gated(1);
    let h = pool.try_submit(job).expect("the starting worker takes it");
    // Promised to the worker even before it runs.
    let back = pool.try_submit(ready(2)).expect_err("no free worker");
    assert_eq!(back.into_inner().await, 2);
    settle().await;
    assert_eq!(pool.metrics().running, 1);
    assert!(pool.try_submit(ready(3)).is_err());
    gate.send(()).expect("waiting");
    assert_eq!(h.await.expect("ran"), 1);
    settle().await;
    let h = pool.try_submit(ready(4)).expect("idle again");
    assert_eq!(h.await.expect("ran"), 4);
}

#[tokio::test]
async fn blocked_submitters_wake_in_fifo_order() {
    let pool = pool(1, 1);
    let (g1, j1) = gated(1);
    let h1 = pool.try_submit(j1).expect("room");
    settle().await;
    let (g2, j2) = gated(2);
    let h2 = pool.try_submit(j2).expect("queue slot");

    let mut s1 = task::spawn(pool.submit(ready(10)));
    let mut s2 = task::spawn(pool.submit(ready(20)));
    let mut s3 = task::spawn(pool.submit(ready(30)));
    assert_pending!(s1.poll());
    assert_pending!(s2.poll());
    assert_pending!(s3.poll());
    assert_eq!(pool.metrics().blocked_submitters, 3);
    assert_full(&pool);

    // Job 1 ends; the worker takes job 2 and the queue slot goes to s1 only.
    g1.send(()).expect("waiting");
    assert_eq!(h1.await.expect("ran"), 1);
    settle().await;
    assert!(s1.is_woken());
    assert!(!s2.is_woken());
    assert!(!s3.is_woken());
    // A newcomer does not take the slot granted to s1.
    assert_full(&pool);
    let h10 = assert_ready!(s1.poll()).expect("accepted");
    assert_pending!(s2.poll());

    g2.send(()).expect("waiting");
    assert_eq!(h2.await.expect("ran"), 2);
    assert_eq!(h10.await.expect("ran"), 10);
    settle().await;
    assert!(s2.is_woken());
    let h20 = assert_ready!(s2.poll()).expect("accepted");
    assert_eq!(h20.await.expect("ran"), 20);
    settle().await;
    assert!(s3.is_woken());
    let h30 = assert_ready!(s3.poll()).expect("accepted");
    assert_eq!(h30.await.expect("ran"), 30);
    assert_eq!(pool.metrics().rejected, 2);
}

#[tokio::test]
async fn a_granted_job_enters_the_queue_at_once_and_the_rest_is_open_to_anyone() {
    let pool = pool(1, 3);
    let (g1, j1) = gated(1);
    let h1 = pool.try_submit(j1).expect("room");
    settle().await;
    let h2 = pool.try_submit(ready(2)).expect("queue");
    let h3 = pool.try_submit(ready(3)).expect("queue");
    let h4 = pool.try_submit(ready(4)).expect("queue");
    let mut s = task::spawn(pool.submit(ready(10)));
    assert_pending!(s.poll());
    assert_full(&pool);

    // The queue runs dry: the waiter is granted a slot and its job enters the queue
    // then (the worker runs it without the submitter being polled); the rest (three in
    // the queue, one for the idle worker) is open to anyone.
    g1.send(()).expect("waiting");
    assert_eq!(h1.await.expect("ran"), 1);
    settle().await;
    assert!(s.is_woken());
    assert_eq!(
        pool.metrics().completed,
        5,
        "jobs 1-4 and the granted job 10"
    );
    let more: Vec<_> = (5..9)
        .map(|n| pool.try_submit(ready(n)).expect("free slot"))
        .collect();
    assert_full(&pool);
    let h10 = assert_ready!(s.poll()).expect("granted");
    assert!(h10.is_finished());
    for (h, n) in [(h2, 2), (h3, 3), (h4, 4), (h10, 10)] {
        assert_eq!(h.await.expect("ran"), n);
    }
    for (h, n) in more.into_iter().zip(5..) {
        assert_eq!(h.await.expect("ran"), n);
    }
}

#[tokio::test]
async fn dropping_a_granted_submitter_passes_the_slot_on() {
    let pool = pool(1, 1);
    let (g1, j1) = gated(1);
    let h1 = pool.try_submit(j1).expect("room");
    settle().await;
    let (g2, j2) = gated(2);
    let h2 = pool.try_submit(j2).expect("queue");
    let probe = Probe::default();
    let (_g, dropped_job) = probe.gated(0);
    let mut s1 = task::spawn(pool.submit(dropped_job));
    let mut s2 = task::spawn(pool.submit(ready(20)));
    assert_pending!(s1.poll());
    assert_pending!(s2.poll());

    // Job 1 ends, the worker takes job 2: one slot, granted to s1.
    g1.send(()).expect("waiting");
    assert_eq!(h1.await.expect("ran"), 1);
    settle().await;
    assert!(s1.is_woken());
    assert!(!s2.is_woken());
    drop(s1);
    // The job had entered the queue at the grant: it is aborted there (dropped unrun,
    // counted cancelled), and s2 got the slot.
    assert_eq!((probe.polled(), probe.dropped()), (0, 1));
    assert_eq!(pool.metrics().cancelled, 1);
    assert!(s2.is_woken());
    let h20 = assert_ready!(s2.poll()).expect("accepted");
    assert_eq!(pool.metrics().blocked_submitters, 0);
    g2.send(()).expect("waiting");
    assert_eq!(h2.await.expect("ran"), 2);
    assert_eq!(h20.await.expect("ran"), 20);
}

#[tokio::test]
async fn dropping_a_waiting_submitter_leaves_the_line() {
    let pool = pool(1, 0);
    settle().await;
    let (g, j) = gated(1);
    let h = pool.try_submit(j).expect("idle worker");
    let mut s1 = task::spawn(pool.submit(ready(10)));
    let mut s2 = task::spawn(pool.submit(ready(20)));
    assert_pending!(s1.poll());
    assert_pending!(s2.poll());
    drop(s1);
    assert_eq!(pool.metrics().blocked_submitters, 1);
    g.send(()).expect("waiting");
    assert_eq!(h.await.expect("ran"), 1);
    settle().await;
    assert!(s2.is_woken());
    let h20 = assert_ready!(s2.poll()).expect("accepted");
    assert_eq!(h20.await.expect("ran"), 20);
}

#[tokio::test]
async fn close_wakes_waiting_submitters_with_their_job() {
    let pool = pool(1, 0);
    settle().await;
    let (g, j) = gated(1);
    let h = pool.try_submit(j).expect("idle worker");
    let mut s = task::spawn(pool.submit(ready(10)));
    assert_pending!(s.poll());
    pool.close();
    assert!(pool.is_closed());
    assert!(s.is_woken());
    match assert_ready!(s.poll()) {
        Err(SubmitError::Closed(job)) => assert_eq!(job.await, 10),
        Ok(_) => panic!("accepted after close"),
    }
    assert!(matches!(
        pool.try_submit(ready(0)),
        Err(TrySubmitError::Closed(_))
    ));
    // Accepted work still runs.
    g.send(()).expect("waiting");
    assert_eq!(h.await.expect("ran"), 1);
    assert_eq!(pool.metrics().rejected, 2);
}

#[tokio::test(start_paused = true)]
async fn enqueue_deadline_hands_the_job_back() {
    let pool = pool(1, 0);
    settle().await;
    let (g, j) = gated(1);
    let h = pool.try_submit(j).expect("idle worker");
    let mut s = task::spawn(pool.submit_timeout(ready(10), Duration::from_secs(1)));
    assert_pending!(s.poll());
    tokio::time::advance(Duration::from_millis(999)).await;
    assert_pending!(s.poll());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(s.is_woken());
    match assert_ready!(s.poll()) {
        Err(SubmitTimeoutError::Timeout(job)) => assert_eq!(job.await, 10),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(pool.metrics().blocked_submitters, 0);
    // The deadline bounds only the enqueue: an accepted job runs past it.
    g.send(()).expect("waiting");
    assert_eq!(h.await.expect("ran"), 1);
    settle().await;
    let accepted = pool
        .submit_timeout(ready(5), Duration::from_secs(1))
        .await
        .expect("room");
    assert_eq!(accepted.await.expect("ran"), 5);
    assert_eq!(pool.metrics().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn queue_wait_is_measured() {
    let pool = pool(1, 4);
    let (g, j) = gated(1);
    let h1 = pool.try_submit(j).expect("room");
    settle().await;
    let h2 = pool.try_submit(ready(2)).expect("queue");
    tokio::time::advance(Duration::from_millis(250)).await;
    g.send(()).expect("waiting");
    assert_eq!(h1.await.expect("ran"), 1);
    assert_eq!(h2.await.expect("ran"), 2);
    let wait = pool.metrics().queue_wait;
    assert_eq!(wait.count, 2);
    assert_eq!(wait.max, Duration::from_millis(250));
    assert_eq!(wait.total, Duration::from_millis(250));
    assert_eq!(wait.mean(), Duration::from_millis(125));
}

#[tokio::test]
async fn a_panic_is_an_error_for_its_submitter_and_the_worker_lives_on() {
    let pool: Pool<common::BoxJobU32> = pool(1, 4);
    let h = pool
        .try_submit(Box::pin(async { panic!("boom") }))
        .expect("room");
    let h2 = pool.try_submit(ready(2)).expect("room");
    let err = h.await.expect_err("panicked");
    assert!(err.is_panic());
    assert_eq!(err.to_string(), "job panicked: boom");
    assert_eq!(h2.await.expect("same worker still serves"), 2);
    let m = pool.metrics();
    assert_eq!((m.failed, m.completed, m.workers), (1, 1, 1));
    let payload = err.try_into_panic().expect("a panic");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
}

#[tokio::test]
async fn abort_cancels_queued_and_running_jobs() {
    let pool = pool(1, 4);
    let probe = Probe::default();
    let (_g1, j1) = probe.gated(1);
    let (_g2, j2) = probe.gated(2);
    let running = pool.try_submit(j1).expect("room");
    let queued = pool.try_submit(j2).expect("room");
    settle().await;
    assert_eq!(probe.polled(), 1);
    queued.abort();
    running.abort();
    assert!(running.await.expect_err("aborted").is_cancelled());
    assert!(queued.await.expect_err("aborted").is_cancelled());
    // The queued job was dropped without ever being polled.
    assert_eq!((probe.polled(), probe.dropped()), (1, 2));
    let h = pool.try_submit(ready(3)).expect("room");
    assert_eq!(h.await.expect("worker still serves"), 3);
    let m = pool.metrics();
    assert_eq!((m.submitted, m.cancelled, m.completed), (3, 2, 1));
}

#[tokio::test]
async fn dropping_the_handle_does_not_cancel_but_abort_on_drop_does() {
    let pool = pool(2, 4);
    let probe = Probe::default();
    let (g1, j1) = probe.gated(1);
    let (_g2, j2) = probe.gated(2);
    drop(pool.try_submit(j1).expect("room"));
    let guarded = pool.try_submit(j2).expect("room").abort_on_drop();
    settle().await;
    assert_eq!(probe.polled(), 2);
    drop(guarded);
    g1.send(()).expect("detached job still waits for its gate");
    settle().await;
    assert_eq!(probe.dropped(), 2);
    let m = pool.metrics();
    assert_eq!((m.completed, m.cancelled), (1, 1));

    let (g3, j3) = probe.gated(3);
    let detached = pool.try_submit(j3).expect("room").abort_on_drop().detach();
    g3.send(()).expect("waiting");
    assert_eq!(detached.await.expect("not cancelled"), 3);
}

#[tokio::test]
async fn resize_up_is_immediate_and_down_is_lazy() {
    let pool = pool(1, 8);
    let mut gates = Vec::new();
    let mut handles = Vec::new();
    for n in 0..3 {
        let (g, j) = gated(n);
        gates.push(g);
        handles.push(pool.try_submit(j).expect("room"));
    }
    settle().await;
    assert_eq!(pool.metrics().running, 1);
    pool.resize(3).expect("valid");
    settle().await;
    let m = pool.metrics();
    assert_eq!((m.running, m.workers, m.target_workers), (3, 3, 3));

    pool.resize(1).expect("valid");
    settle().await;
    // Busy workers finish their job first.
    assert_eq!(pool.metrics().workers, 3);
    gates.remove(0).send(()).expect("waiting");
    settle().await;
    assert_eq!(pool.metrics().workers, 2);
    for g in gates.drain(..) {
        g.send(()).expect("waiting");
    }
    for (n, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.expect("ran"), n as u32);
    }
    settle().await;
    assert_eq!(pool.metrics().workers, 1);
    assert_eq!(pool.resize(0), Err(ResizeError::ZeroWorkers));
    // The same bound `build()` checks, and a refused resize changes nothing.
    assert_eq!(
        pool.resize(MAX_WORKERS + 1),
        Err(ResizeError::TooManyWorkers {
            requested: MAX_WORKERS + 1,
            max: MAX_WORKERS
        })
    );
    assert_eq!(pool.workers(), 1);
    pool.close();
    assert_eq!(pool.resize(2), Err(ResizeError::Closed));
}

#[tokio::test]
async fn shrinking_idle_workers_leave_at_once() {
    let pool = pool(4, 0);
    settle().await;
    pool.resize(2).expect("valid");
    settle().await;
    assert_eq!(pool.metrics().workers, 2);
    // Hand-off room follows the idle workers.
    let (g1, j1) = gated(1);
    let (g2, j2) = gated(2);
    let h1 = pool.try_submit(j1).expect("idle worker");
    let h2 = pool.try_submit(j2).expect("idle worker");
    assert!(pool.try_submit(ready(0)).is_err());
    g1.send(()).expect("waiting");
    g2.send(()).expect("waiting");
    assert_eq!(h1.await.expect("ran") + h2.await.expect("ran"), 3);
}

#[test]
fn error_types_display_lowercase_without_period() {
    let msgs = [
        JobError::Cancelled.to_string(),
        JobError::HandedBack.to_string(),
        SubmitError::Closed(()).to_string(),
        SubmitTimeoutError::Timeout(()).to_string(),
        ResizeError::Closed.to_string(),
        BuildError::NoRuntime.to_string(),
    ];
    for m in msgs {
        assert!(!m.ends_with('.'), "{m}");
        assert!(m.starts_with(char::is_lowercase), "{m}");
    }
}

#[tokio::test]
async fn submit_owned_is_static_and_sees_the_pool_go_away() {
    let pool = pool(1, 0);
    settle().await;
    let (gate, job) = gated(1);
    let h = pool.try_submit(job).expect("idle worker");
    // A 'static future: it can be spawned, or stored in a service's future.
    let waiting = tokio::spawn(pool.submit_owned(ready(10)));
    settle().await;
    assert_eq!(pool.metrics().blocked_submitters, 1);
    gate.send(()).expect("waiting");
    assert_eq!(h.await.expect("ran"), 1);
    let h10 = waiting.await.expect("task").expect("accepted");
    assert_eq!(h10.await.expect("ran"), 10);

    let (_gate, job) = gated(2);
    let running = pool.try_submit(job).expect("idle worker");
    let waiting = tokio::spawn(pool.submit_owned(ready(20)));
    settle().await;
    drop(pool);
    match waiting.await.expect("task") {
        Err(SubmitError::Closed(job)) => assert_eq!(job.await, 20),
        Ok(_) => panic!("accepted by a dropped pool"),
    }
    assert!(running.await.expect_err("dropped").is_cancelled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_include_a_job_before_its_handle_resolves() {
    let pool: Pool<common::BoxJobU32> = Builder::new()
        .workers(4)
        .queue_capacity(8)
        .build()
        .expect("valid");
    for n in 0..200u32 {
        let h = pool.submit(ready(n)).await.expect("room");
        assert_eq!(h.await.expect("ran"), n);
        let m = pool.metrics();
        assert_eq!(m.completed, u64::from(n) + 1);
        assert_eq!(m.running, 0);
    }
}

#[tokio::test]
async fn a_dropped_granted_submitter_passes_its_slot_on_below_the_batch_threshold() {
    // Queue 4: grants come once more than 2 slots are free.
    let pool = pool(1, 4);
    let (g0, j0) = gated(0);
    let h0 = pool.try_submit(j0).expect("room");
    settle().await;
    let (_long_gate, long) = gated(3);
    let _h1 = pool.try_submit(ready(1)).expect("queue");
    let _h2 = pool.try_submit(ready(2)).expect("queue");
    let _h3 = pool.try_submit(long).expect("queue");
    let _h4 = pool.try_submit(ready(4)).expect("queue");
    let mut s = [10, 20, 30, 40].map(|n| task::spawn(pool.submit(ready(n))));
    for s in &mut s {
        assert_pending!(s.poll());
    }
    let [s1, mut s2, mut s3, mut s4] = s;

    // Jobs 0, 1, 2 end and the worker parks inside the long job: 3 slots free, granted
    // to s1, s2, s3.
    g0.send(()).expect("waiting");
    assert_eq!(h0.await.expect("ran"), 0);
    settle().await;
    assert_eq!(pool.metrics().running, 1);
    assert!(!s4.is_woken());

    // s1 gives up its slot: it passes to s4, the next in line, though only one is free.
    drop(s1);
    assert!(s4.is_woken(), "the slot s1 gave up must pass on to s4");
    let _h20 = assert_ready!(s2.poll()).expect("granted");
    let _h30 = assert_ready!(s3.poll()).expect("granted");
    let _h40 = assert_ready!(s4.poll()).expect("passed on");
    assert_eq!(pool.metrics().queued, 4);
}

#[tokio::test]
async fn a_waiter_is_not_held_back_behind_a_long_job_while_a_slot_is_free() {
    let pool = pool(1, 2);
    let (g1, j1) = gated(1);
    let h1 = pool.try_submit(j1).expect("room");
    settle().await;
    let (_g2, j2) = gated(2);
    let _h2 = pool.try_submit(j2).expect("queue");
    let _h3 = pool.try_submit(ready(3)).expect("queue");
    let mut s = task::spawn(pool.submit(ready(10)));
    assert_pending!(s.poll());

    // Job 1 ends and the worker parks inside job 2, which may take forever: one slot is
    // free and nothing else will free one, so the waiter must get it now.
    g1.send(()).expect("waiting");
    assert_eq!(h1.await.expect("ran"), 1);
    settle().await;
    // Job 3 and the granted job 10.
    assert_eq!(pool.metrics().queued, 2);
    assert!(
        s.is_woken(),
        "a free slot must not sit next to a blocked submitter"
    );
    let _h10 = assert_ready!(s.poll()).expect("granted");
    assert_full(&pool);
}

#[tokio::test(start_paused = true)]
async fn an_enqueue_deadline_does_not_expire_while_a_slot_is_free() {
    let pool = pool(1, 2);
    let (g1, j1) = gated(1);
    let h1 = pool.try_submit(j1).expect("room");
    settle().await;
    let (_g2, j2) = gated(2);
    let _h2 = pool.try_submit(j2).expect("queue");
    let _h3 = pool.try_submit(ready(3)).expect("queue");
    let mut s = task::spawn(pool.submit_timeout(ready(10), Duration::from_secs(1)));
    assert_pending!(s.poll());
    g1.send(()).expect("waiting");
    assert_eq!(h1.await.expect("ran"), 1);
    settle().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    match assert_ready!(s.poll()) {
        Ok(h) => drop(h),
        Err(e) => panic!("a slot was free before the deadline, got {e:?}"),
    }
    assert_eq!(pool.metrics().rejected, 0);
}

#[tokio::test]
async fn hand_off_shrink_keeps_the_idle_worker_a_waiter_was_granted() {
    let pool = pool(2, 0);
    settle().await;
    let (g1, j1) = gated(1);
    let (_g2, j2) = gated(2);
    let h1 = pool.try_submit(j1).expect("idle worker");
    let _h2 = pool.try_submit(j2).expect("idle worker");
    settle().await;
    let mut s = task::spawn(pool.submit(ready(10)));
    assert_pending!(s.poll());

    // Job 1 ends: its worker goes idle and is granted to the waiter.
    g1.send(()).expect("waiting");
    assert_eq!(h1.await.expect("ran"), 1);
    settle().await;
    assert!(s.is_woken());

    // Shrinking now must not take away the worker promised to the waiter: the other
    // one (busy with job 2, which may take forever) leaves after its job instead.
    pool.resize(1).expect("valid");
    settle().await;
    let h10 = assert_ready!(s.poll()).expect("granted");
    settle().await;
    assert!(
        h10.is_finished(),
        "a hand-off job must find a worker: {:?}",
        pool.metrics()
    );
    assert_eq!(h10.await.expect("ran"), 10);
    assert_eq!(pool.metrics().queued, 0);
}

#[tokio::test]
async fn a_job_that_panics_when_dropped_fails_and_the_worker_lives_on() {
    /// Ready at once with its value, panics when dropped (after the worker has it).
    struct Bomb(Option<u32>);
    impl std::future::Future for Bomb {
        type Output = u32;
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<u32> {
            std::task::Poll::Ready(self.0.take().expect("polled once"))
        }
    }
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    let pool: Pool<common::BoxJobU32> = pool(1, 4);
    let h1 = pool.try_submit(Box::pin(Bomb(Some(1)))).expect("room");
    let h2 = pool.try_submit(ready(2)).expect("room");
    let (_g3, parked) = gated(3);
    let h3 = pool
        .try_submit(Box::pin(async move {
            let bomb = Bomb(Some(0));
            let n = parked.await;
            drop(bomb);
            n
        }))
        .expect("room");
    let h4 = pool.try_submit(ready(4)).expect("room");
    settle().await;
    assert!(
        h2.is_finished(),
        "the worker must survive: {:?}",
        pool.metrics()
    );
    let err = h1.await.expect_err("its drop panicked");
    assert!(err.is_panic());
    assert_eq!(h2.await.expect("ran"), 2);
    // Aborted while parked: dropping it panics too; it still counts as cancelled.
    h3.abort();
    settle().await;
    assert!(
        h4.is_finished(),
        "the worker must survive: {:?}",
        pool.metrics()
    );
    assert!(h3.await.expect_err("aborted").is_cancelled());
    assert_eq!(h4.await.expect("ran"), 4);
    let m = pool.metrics();
    assert_eq!(
        (m.failed, m.completed, m.cancelled, m.workers),
        (1, 2, 1, 1)
    );
}

#[tokio::test]
async fn a_worker_kept_for_a_queued_job_leaves_once_the_job_is_aborted() {
    let pool = pool(2, 0);
    settle().await;
    let (_g1, j1) = gated(1);
    let _h1 = pool.try_submit(j1).expect("idle worker");
    settle().await;
    // Hand-off to the other idle worker, then a shrink before that worker runs: it
    // stays for the job it was promised...
    let probe = Probe::default();
    let (_g2, j2) = probe.gated(2);
    let h2 = pool.try_submit(j2).expect("idle worker");
    pool.resize(1).expect("valid");
    // ...until the job is aborted: then the shrink goes on, and the job never ran.
    h2.abort();
    settle().await;
    let m = pool.metrics();
    assert_eq!((m.workers, m.running, m.cancelled), (1, 1, 1));
    assert_eq!((probe.polled(), probe.dropped()), (0, 1));
}

/// `try_submit` refuses a newcomer with `Full` (and hands it back).
#[track_caller]
fn assert_full(pool: &Pool<common::BoxJobU32>) {
    assert!(matches!(
        pool.try_submit(ready(0)),
        Err(TrySubmitError::Full(_))
    ));
}
