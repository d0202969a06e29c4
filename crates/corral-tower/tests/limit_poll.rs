//! Deterministic poll tests of `LimitLayer`: reservation in poll_ready, FIFO queue,
//! max_queue, max_wait, sojourn shedding, weights, close. Time is paused.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use corral_tower::{BoxError, LimitLayer, LimitService, OverloadReason, Overloaded};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};
use tower::{service_fn, Layer, Service};

type Inner =
    tower::util::ServiceFn<Box<dyn FnMut(u32) -> std::future::Ready<Result<u32, BoxError>> + Send>>;

/// An inner service that answers at once and counts its calls.
fn inner(calls: &Arc<AtomicUsize>) -> Inner {
    let calls = calls.clone();
    service_fn(Box::new(move |n: u32| {
        calls.fetch_add(1, SeqCst);
        std::future::ready(Ok(n))
    }))
}

fn reason(err: BoxError) -> OverloadReason {
    err.downcast::<Overloaded>().expect("an Overloaded").reason
}

/// Polls `svc` ready once in its own mock task.
fn ready(
    t: &mut task::Spawn<()>,
    svc: &mut LimitService<Inner>,
) -> std::task::Poll<Result<(), BoxError>> {
    t.enter(|cx, _| svc.poll_ready(cx))
}

#[tokio::test(start_paused = true)]
async fn reserves_in_poll_ready_and_releases_when_the_response_is_done() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = LimitLayer::builder(2).build().unwrap();
    let mut svc = layer.layer(inner(&calls));
    let mut t = task::spawn(());
    assert_ready_ok!(ready(&mut t, &mut svc));
    assert_eq!(layer.in_flight(), 1, "reserved by poll_ready");
    let fut = svc.call(7);
    assert_eq!(layer.in_flight(), 1, "held by the response future");
    assert_eq!(fut.await.unwrap(), 7);
    assert_eq!(layer.in_flight(), 0);
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_ready_service_that_is_dropped_gives_its_reservation_back() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = LimitLayer::builder(1).build().unwrap();
    let mut a = layer.layer(inner(&calls));
    let mut b = layer.layer(inner(&calls));
    let (mut ta, mut tb) = (task::spawn(()), task::spawn(()));
    assert_ready_ok!(ready(&mut ta, &mut a));
    assert_pending!(ready(&mut tb, &mut b));
    assert_eq!(layer.queued(), 1);
    drop(a);
    assert!(
        tb.is_woken(),
        "the waiter is woken by the returned reservation"
    );
    assert_ready_ok!(ready(&mut tb, &mut b));
    assert_eq!((layer.in_flight(), layer.queued()), (1, 0));
    drop(b);
    assert_eq!(layer.in_flight(), 0);
    assert_eq!(calls.load(SeqCst), 0, "nothing was called");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_gives_its_permit_back() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = LimitLayer::builder(1).build().unwrap();
    let mut a = layer.layer(inner(&calls));
    let mut t = task::spawn(());
    assert_ready_ok!(ready(&mut t, &mut a));
    let fut = a.call(1);
    drop(fut);
    assert_eq!(layer.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_admitted_in_fifo_order() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = LimitLayer::builder(1)
        .max_queue(8)
        .no_sojourn_shedding()
        .build()
        .unwrap();
    let mut holder = layer.layer(inner(&calls));
    let mut t0 = task::spawn(());
    assert_ready_ok!(ready(&mut t0, &mut holder));
    let mut svcs: Vec<_> = (0..3).map(|_| layer.layer(inner(&calls))).collect();
    let mut tasks: Vec<_> = (0..3).map(|_| task::spawn(())).collect();
    for (svc, t) in svcs.iter_mut().zip(&mut tasks) {
        assert_pending!(ready(t, svc));
    }
    assert_eq!(layer.queued(), 3);
    // Poll the later ones first: order of arrival, not of polling, decides.
    drop(holder);
    assert_pending!(ready(&mut tasks[2], &mut svcs[2]));
    assert_pending!(ready(&mut tasks[1], &mut svcs[1]));
    assert!(tasks[0].is_woken());
    assert_ready_ok!(ready(&mut tasks[0], &mut svcs[0]));
    let first = svcs[0].call(0);
    assert_pending!(ready(&mut tasks[1], &mut svcs[1]));
    first.await.unwrap();
    assert!(tasks[1].is_woken());
    assert_ready_ok!(ready(&mut tasks[1], &mut svcs[1]));
    assert_pending!(ready(&mut tasks[2], &mut svcs[2]));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_at_once_without_calling_the_inner_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = LimitLayer::builder(1).max_queue(1).build().unwrap();
    let mut holder = layer.layer(inner(&calls));
    let mut waiter = layer.layer(inner(&calls));
    let mut refused = layer.layer(inner(&calls));
    let (mut t0, mut t1, mut t2) = (task::spawn(()), task::spawn(()), task::spawn(()));
    assert_ready_ok!(ready(&mut t0, &mut holder));
    assert_pending!(ready(&mut t1, &mut waiter));
    // Ready (not an error): the refusal comes out of call, as tower's LoadShed does.
    assert_ready_ok!(ready(&mut t2, &mut refused));
    assert_eq!(layer.queued(), 1, "the refused request left the queue");
    let err = refused.call(3).await.unwrap_err();
    assert_eq!(reason(err), OverloadReason::QueueFull { max_queue: 1 });
    assert_eq!(calls.load(SeqCst), 0);
    // The refusal was one request's: the same service can be used again.
    drop(holder);
    assert_pending!(ready(&mut t2, &mut refused), "queued behind the waiter");
    assert_ready_ok!(ready(&mut t1, &mut waiter));
}

#[tokio::test(start_paused = true)]
async fn max_queue_zero_is_load_shed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = LimitLayer::builder(1).max_queue(0).build().unwrap();
    let mut holder = layer.layer(inner(&calls));
    let mut t = task::spawn(());
    assert_ready_ok!(ready(&mut t, &mut holder));
    let mut other = layer.layer(inner(&calls));
    assert_ready_ok!(ready(&mut t, &mut other));
    let err = other.call(1).await.unwrap_err();
    assert_eq!(reason(err), OverloadReason::QueueFull { max_queue: 0 });
}

#[tokio::test(start_paused = true)]
async fn max_wait_refuses_a_request_that_waited_too_long() {
    let calls = Arc::new(AtomicUsize::new(0));
    let max_wait = Duration::from_millis(50);
    let layer = LimitLayer::builder(1)
        .max_wait(max_wait)
        .no_sojourn_shedding()
        .build()
        .unwrap();
    let mut holder = layer.layer(inner(&calls));
    let mut waiter = layer.layer(inner(&calls));
    let (mut t0, mut t1) = (task::spawn(()), task::spawn(()));
    assert_ready_ok!(ready(&mut t0, &mut holder));
    assert_pending!(ready(&mut t1, &mut waiter));
    tokio::time::sleep(Duration::from_millis(49)).await;
    assert!(!t1.is_woken());
    assert_pending!(ready(&mut t1, &mut waiter));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(t1.is_woken(), "the wait limit wakes the waiter");
    assert_ready_ok!(ready(&mut t1, &mut waiter));
    assert_eq!(layer.queued(), 0);
    let err = waiter.call(1).await.unwrap_err();
    assert_eq!(reason(err), OverloadReason::MaxWait { max_wait });
    assert_eq!(layer.in_flight(), 1, "only the holder");
}

#[tokio::test(start_paused = true)]
async fn sojourn_sheds_stale_waiters_from_a_standing_queue_only() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (target, interval) = (Duration::from_millis(5), Duration::from_millis(100));
    let layer = LimitLayer::builder(1)
        .max_queue(8)
        .sojourn(target, interval)
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    // A short burst that drains within the interval is not shed, however long past
    // the target each request waited.
    let mut holder = layer.layer(inner(&calls));
    let mut th = task::spawn(());
    assert_ready_ok!(ready(&mut th, &mut holder));
    let mut b = layer.layer(inner(&calls));
    let mut tb = task::spawn(());
    assert_pending!(ready(&mut tb, &mut b));
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_pending!(
        ready(&mut tb, &mut b),
        "stale, but the queue is not standing yet"
    );
    drop(holder);
    assert_ready_ok!(ready(&mut tb, &mut b));
    drop(b); // queue empty again at t = 60 ms

    // Now a queue that stands: the holder never leaves.
    let mut holder = layer.layer(inner(&calls));
    assert_ready_ok!(ready(&mut th, &mut holder));
    let mut c = layer.layer(inner(&calls));
    let mut tc = task::spawn(());
    assert_pending!(ready(&mut tc, &mut c)); // the queue became non-empty at t = 60 ms
    tokio::time::sleep(Duration::from_millis(95)).await; // t = 155 ms
    let mut d = layer.layer(inner(&calls));
    let mut td = task::spawn(());
    assert_pending!(ready(&mut td, &mut d));
    tokio::time::sleep(Duration::from_millis(5)).await; // t = 160 ms: standing for 100 ms
    assert!(tc.is_woken());
    assert_ready_ok!(ready(&mut tc, &mut c));
    let err = c.call(1).await.unwrap_err();
    assert_eq!(
        reason(err),
        OverloadReason::Sojourn {
            waited: Duration::from_millis(100),
            target
        }
    );
    assert_eq!(start.elapsed(), Duration::from_millis(160));
    // d has waited exactly the target in a standing queue: shed too.
    assert_ready_ok!(ready(&mut td, &mut d));
    let err = d.call(1).await.unwrap_err();
    assert!(matches!(reason(err), OverloadReason::Sojourn { .. }));
    // Shedding emptied the queue, so it stands no more: a fresh request is not shed
    // at its target, only once the queue has stood a whole interval again.
    let mut e = layer.layer(inner(&calls));
    let mut te = task::spawn(());
    assert_pending!(ready(&mut te, &mut e));
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_pending!(ready(&mut te, &mut e));
    tokio::time::sleep(Duration::from_millis(94)).await; // t = 259 ms
    assert_pending!(ready(&mut te, &mut e));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(te.is_woken());
    assert_ready_ok!(ready(&mut te, &mut e));
    assert!(matches!(
        reason(e.call(1).await.unwrap_err()),
        OverloadReason::Sojourn { .. }
    ));
    assert_eq!(calls.load(SeqCst), 0);
    assert_eq!(layer.in_flight(), 1);
}

#[tokio::test(start_paused = true)]
async fn weighted_requests_are_admitted_in_the_response_future() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = LimitLayer::builder(10)
        .no_sojourn_shedding()
        .build()
        .unwrap()
        .weight(|n: &u32| u64::from(*n));
    let counted = calls.clone();
    let mut svc = layer.layer(service_fn(move |n: u32| {
        counted.fetch_add(1, SeqCst);
        std::future::ready(Ok::<_, BoxError>(n))
    }));
    let mut t = task::spawn(());
    assert_ready_ok!(t.enter(|cx, _| svc.poll_ready(cx)));
    assert_eq!(
        layer.in_flight(),
        0,
        "weighted: nothing reserved before the request"
    );
    let mut big = task::spawn(svc.call(8));
    assert_eq!(layer.in_flight(), 0, "nor at call: the future admits it");
    assert_eq!(assert_ready!(big.poll()).unwrap(), 8);
    assert_eq!(layer.in_flight(), 0);

    let err = svc.call(11).await.unwrap_err();
    assert_eq!(
        reason(err),
        OverloadReason::TooHeavy {
            weight: 11,
            limit: 10
        }
    );
    assert_eq!(
        calls.load(SeqCst),
        1,
        "the heavy request never reached the inner service"
    );
}

#[tokio::test(start_paused = true)]
async fn a_heavy_request_waits_for_room_and_is_not_overtaken() {
    let layer = LimitLayer::builder(10)
        .no_sojourn_shedding()
        .build()
        .unwrap()
        .weight(|n: &u32| u64::from(*n));
    // Inner futures that finish only when released, to hold permits.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let svc = layer.layer(service_fn(move |n: u32| {
        let mut rx = rx.clone();
        async move {
            rx.wait_for(|go| *go).await.unwrap();
            Ok::<_, BoxError>(n)
        }
    }));
    let mut a = task::spawn(svc.clone().call(6));
    assert_pending!(a.poll());
    assert_eq!(layer.in_flight(), 6);
    let mut heavy = task::spawn(svc.clone().call(5));
    assert_pending!(heavy.poll());
    assert_eq!(layer.queued(), 1);
    let mut light = task::spawn(svc.clone().call(1));
    assert_pending!(
        light.poll(),
        "FIFO: 4 are free but the heavy request is first"
    );
    tx.send(true).unwrap();
    assert_eq!(assert_ready!(a.poll()).unwrap(), 6);
    assert!(heavy.is_woken());
    assert_eq!(assert_ready!(heavy.poll()).unwrap(), 5);
    assert_eq!(assert_ready!(light.poll()).unwrap(), 1);
    assert_eq!(layer.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn close_refuses_waiting_and_later_requests() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = LimitLayer::builder(1).build().unwrap();
    let mut holder = layer.layer(inner(&calls));
    let mut waiter = layer.layer(inner(&calls));
    let (mut t0, mut t1) = (task::spawn(()), task::spawn(()));
    assert_ready_ok!(ready(&mut t0, &mut holder));
    assert_pending!(ready(&mut t1, &mut waiter));
    layer.close();
    assert!(t1.is_woken());
    assert_ready_ok!(ready(&mut t1, &mut waiter));
    assert_eq!(
        reason(waiter.call(1).await.unwrap_err()),
        OverloadReason::Closed
    );
    assert_eq!(holder.call(2).await.unwrap(), 2, "admitted requests run on");
}

#[test]
fn build_rejects_nonsense() {
    use corral_tower::BuildError;
    assert_eq!(
        LimitLayer::builder(0).build().unwrap_err(),
        BuildError::ZeroLimit
    );
    assert!(matches!(
        LimitLayer::builder(u64::MAX).build().unwrap_err(),
        BuildError::LimitTooLarge { .. }
    ));
    assert!(matches!(
        LimitLayer::builder(1)
            .max_wait(Duration::ZERO)
            .build()
            .unwrap_err(),
        BuildError::ZeroDuration(_)
    ));
    assert!(matches!(
        LimitLayer::builder(1)
            .sojourn(Duration::ZERO, Duration::from_millis(1))
            .build()
            .unwrap_err(),
        BuildError::ZeroDuration(_)
    ));
}

#[test]
fn types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<LimitLayer>();
    send::<LimitService<Inner>>();
    send::<corral_tower::ResponseFuture<Inner, u32, corral_tower::ErrorsAreDrops>>();
    send_sync::<Overloaded>();
}
