//! tower's own tests for `ConcurrencyLimit` (tower/tests/limit/concurrency.rs) and
//! `LoadShed` (tower/tests/load_shed/main.rs), ported to `LimitLayer`, plus the
//! reservation ("disarm") cases a tower user relies on. tower-test is not a dependency
//! of the workspace, so `mock` below is a minimal stand-in for `tower_test::mock`.
//!
//! tower's `ConcurrencyLimitLayer::new(n)` is `LimitLayer::builder(n)` with an unbounded
//! queue and no shedding ([`concurrency_limit`]); `LoadShedLayer` over a concurrency
//! limit is `max_queue(0)`. Every deterministic test runs on both runtime flavours; the
//! race-prone ones run in seeded loops on a multi-thread runtime.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use corral_test_support::Rng;
use corral_tower::{BoxError, BuildError, LimitLayer, OverloadReason, Overloaded};
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok, task};
use tower::{service_fn, Layer, Service, ServiceExt};

/// A minimal `tower_test::mock`: the service hands each request to a [`Handle`] with a
/// one-shot responder; readiness is gated by `allow` like tower-test's.
mod mock {
    use super::*;
    use tokio::sync::{mpsc, oneshot};

    pub(crate) type Respond<Resp> = oneshot::Sender<Result<Resp, BoxError>>;

    struct Gate {
        allow: Option<usize>,
        waker: Option<Waker>,
    }

    pub(crate) struct Mock<Req, Resp> {
        tx: mpsc::UnboundedSender<(Req, Respond<Resp>)>,
        gate: Arc<Mutex<Gate>>,
    }

    impl<Req, Resp> Clone for Mock<Req, Resp> {
        fn clone(&self) -> Self {
            Mock {
                tx: self.tx.clone(),
                gate: self.gate.clone(),
            }
        }
    }

    pub(crate) struct Handle<Req, Resp> {
        rx: mpsc::UnboundedReceiver<(Req, Respond<Resp>)>,
        gate: Arc<Mutex<Gate>>,
    }

    pub(crate) fn pair<Req, Resp>() -> (Mock<Req, Resp>, Handle<Req, Resp>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let gate = Arc::new(Mutex::new(Gate {
            allow: None,
            waker: None,
        }));
        (
            Mock {
                tx,
                gate: gate.clone(),
            },
            Handle { rx, gate },
        )
    }

    impl<Req, Resp> Handle<Req, Resp> {
        /// Lets `n` more calls through `poll_ready` (tower-test's `allow`).
        pub(crate) fn allow(&self, n: usize) {
            let mut gate = self.gate.lock().unwrap();
            gate.allow = Some(n);
            if n > 0 {
                if let Some(waker) = gate.waker.take() {
                    waker.wake();
                }
            }
        }

        /// The next request the inner service received, if any (never waits).
        pub(crate) fn try_request(&mut self) -> Option<(Req, Respond<Resp>)> {
            self.rx.try_recv().ok()
        }
    }

    impl<Req: Send + 'static, Resp: Send + 'static> Service<Req> for Mock<Req, Resp> {
        type Response = Resp;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<Resp, BoxError>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            let mut gate = self.gate.lock().unwrap();
            match gate.allow {
                Some(0) => {
                    gate.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                _ => Poll::Ready(Ok(())),
            }
        }

        fn call(&mut self, req: Req) -> Self::Future {
            if let Some(n) = &mut self.gate.lock().unwrap().allow {
                *n = n.checked_sub(1).expect("mock called without poll_ready");
            }
            let (tx, rx) = oneshot::channel();
            self.tx.send((req, tx)).expect("mock handle dropped");
            Box::pin(async move { rx.await.map_err(|_| BoxError::from("response dropped"))? })
        }
    }
}

type Svc = corral_tower::LimitService<mock::Mock<&'static str, &'static str>>;

/// A service polled in its own mock task, as `tower_test::mock::Spawn`.
struct Spawned {
    svc: Svc,
    task: task::Spawn<()>,
}

impl Spawned {
    fn new(svc: Svc) -> Self {
        Spawned {
            svc,
            task: task::spawn(()),
        }
    }
    fn poll_ready(&mut self) -> Poll<Result<(), BoxError>> {
        let svc = &mut self.svc;
        self.task.enter(|cx, _| svc.poll_ready(cx))
    }
    fn is_woken(&self) -> bool {
        self.task.is_woken()
    }
    fn call(
        &mut self,
        req: &'static str,
    ) -> impl Future<Output = Result<&'static str, BoxError>> + Send + 'static {
        self.svc.call(req)
    }
    fn clone_service(&self) -> Spawned {
        Spawned::new(self.svc.clone())
    }
}

/// Takes the next request the inner service saw, checks it, answers it.
fn expect_request(
    handle: &mut mock::Handle<&'static str, &'static str>,
    want: &str,
) -> mock::Respond<&'static str> {
    let (req, respond) = handle
        .try_request()
        .expect("a request reached the inner service");
    assert_eq!(req, want);
    respond
}

/// tower's `ConcurrencyLimitLayer::new(n)`: waits without bound, never sheds.
fn concurrency_limit(n: u64) -> LimitLayer {
    LimitLayer::builder(n)
        .max_queue(usize::MAX)
        .no_sojourn_shedding()
        .build()
        .unwrap()
}

fn spawn_layer(layer: &LimitLayer) -> (Spawned, mock::Handle<&'static str, &'static str>) {
    let (inner, handle) = mock::pair();
    (Spawned::new(layer.layer(inner)), handle)
}

fn reason(err: BoxError) -> OverloadReason {
    err.downcast::<Overloaded>().expect("an Overloaded").reason
}

/// Asserts the layer's books: reserved or running weight, and waiters.
#[track_caller]
fn books(layer: &LimitLayer, in_flight: u64, queued: usize) {
    assert!(layer.in_flight() <= layer.limit(), "over the limit");
    assert_eq!((layer.in_flight(), layer.queued()), (in_flight, queued));
}

/// One test body run on a current-thread and on a multi-thread runtime.
macro_rules! both_flavours {
    ($(#[$doc:meta])* async fn $name:ident() $body:block) => {
        $(#[$doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "current_thread")]
            async fn current_thread() {
                body().await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn multi_thread() {
                body().await
            }
            async fn body() $body
        }
    };
}

// ---- tower/tests/limit/concurrency.rs ----------------------------------------------

both_flavours! {
    /// Port of tower's `basic_service_limit_functionality_with_poll_ready`: one service
    /// reserves twice, the third poll waits, and completing a response wakes it.
    async fn basic_service_limit_functionality_with_poll_ready() {
        let layer = concurrency_limit(2);
        let (mut service, mut handle) = spawn_layer(&layer);
        assert_ready_ok!(service.poll_ready());
        let r1 = service.call("hello 1");
        assert_ready_ok!(service.poll_ready());
        let r2 = service.call("hello 2");
        assert_pending!(service.poll_ready());
        assert!(!service.is_woken());
        books(&layer, 2, 1);
        expect_request(&mut handle, "hello 1").send(Ok("world 1")).unwrap();
        expect_request(&mut handle, "hello 2").send(Ok("world 2")).unwrap();
        assert!(handle.try_request().is_none());
        assert_eq!(r1.await.unwrap(), "world 1");
        assert!(service.is_woken());
        assert_ready_ok!(service.poll_ready());
        let r3 = service.call("hello 3");
        assert_pending!(service.poll_ready());
        assert_eq!(r2.await.unwrap(), "world 2");
        expect_request(&mut handle, "hello 3").send(Ok("world 3")).unwrap();
        assert_eq!(r3.await.unwrap(), "world 3");
        // The last poll_ready was granted by r2's completion and is still reserved.
        books(&layer, 1, 0);
        drop(service);
        books(&layer, 0, 0);
    }
}

both_flavours! {
    /// Port of tower's `basic_service_limit_functionality_without_poll_ready`: answers
    /// reaching the inner service do not wake the waiting caller; completed responses do.
    async fn basic_service_limit_functionality_without_poll_ready() {
        let layer = concurrency_limit(2);
        let (mut service, mut handle) = spawn_layer(&layer);
        assert_ready_ok!(service.poll_ready());
        let r1 = service.call("hello 1");
        assert_ready_ok!(service.poll_ready());
        let r2 = service.call("hello 2");
        assert_pending!(service.poll_ready());
        expect_request(&mut handle, "hello 1").send(Ok("world 1")).unwrap();
        assert!(!service.is_woken());
        expect_request(&mut handle, "hello 2").send(Ok("world 2")).unwrap();
        assert!(!service.is_woken());
        assert!(handle.try_request().is_none());
        assert_eq!(r1.await.unwrap(), "world 1");
        assert!(service.is_woken());
        assert_ready_ok!(service.poll_ready());
        let r4 = service.call("hello 4");
        assert_pending!(service.poll_ready());
        assert_eq!(r2.await.unwrap(), "world 2");
        assert!(service.is_woken());
        expect_request(&mut handle, "hello 4").send(Ok("world 4")).unwrap();
        assert_eq!(r4.await.unwrap(), "world 4");
        drop(service);
        books(&layer, 0, 0);
    }
}

/// Port of tower's `request_without_capacity`. Deliberate difference: tower's
/// `ConcurrencyLimit::new(0)` builds a service that is never ready; corral refuses the
/// configuration with a typed error instead of a service that hangs every caller.
#[test]
fn request_without_capacity() {
    let err = LimitLayer::builder(0).build().unwrap_err();
    assert_eq!(err, BuildError::ZeroLimit);
}

both_flavours! {
    /// Port of tower's `reserve_capacity_without_sending_request`: a reservation made in
    /// poll_ready holds until the response completes, not until the request reaches the
    /// inner service.
    async fn reserve_capacity_without_sending_request() {
        let layer = concurrency_limit(1);
        let (mut s1, mut handle) = spawn_layer(&layer);
        let mut s2 = s1.clone_service();
        assert_ready_ok!(s1.poll_ready());
        assert_pending!(s2.poll_ready());
        let r1 = s1.call("hello");
        expect_request(&mut handle, "hello").send(Ok("world")).unwrap();
        assert_pending!(s2.poll_ready());
        r1.await.unwrap();
        assert!(s2.is_woken());
        assert_ready_ok!(s2.poll_ready());
        books(&layer, 1, 0);
    }
}

both_flavours! {
    /// Port of tower's `service_drop_frees_capacity`.
    async fn service_drop_frees_capacity() {
        let layer = concurrency_limit(1);
        let (mut s1, _handle) = spawn_layer(&layer);
        let mut s2 = s1.clone_service();
        assert_ready_ok!(s1.poll_ready());
        assert_pending!(s2.poll_ready());
        drop(s1);
        assert!(s2.is_woken());
        assert_ready_ok!(s2.poll_ready());
        drop(s2);
        books(&layer, 0, 0);
    }
}

both_flavours! {
    /// Port of tower's `response_error_releases_capacity`.
    async fn response_error_releases_capacity() {
        let layer = concurrency_limit(1);
        let (mut s1, mut handle) = spawn_layer(&layer);
        let mut s2 = s1.clone_service();
        assert_ready_ok!(s1.poll_ready());
        let r1 = s1.call("hello");
        expect_request(&mut handle, "hello").send(Err("boom".into())).unwrap();
        let err = r1.await.unwrap_err();
        assert_eq!(err.to_string(), "boom", "the inner error, passed through");
        assert_ready_ok!(s2.poll_ready());
        books(&layer, 1, 0);
    }
}

both_flavours! {
    /// Port of tower's `response_future_drop_releases_capacity`.
    async fn response_future_drop_releases_capacity() {
        let layer = concurrency_limit(1);
        let (mut s1, _handle) = spawn_layer(&layer);
        let mut s2 = s1.clone_service();
        assert_ready_ok!(s1.poll_ready());
        let r1 = s1.call("hello");
        assert_pending!(s2.poll_ready());
        drop(r1);
        assert!(s2.is_woken());
        assert_ready_ok!(s2.poll_ready());
        books(&layer, 1, 0);
    }
}

both_flavours! {
    /// Port of tower's `multi_waiters`: a woken waiter that is dropped before it polls
    /// again hands the capacity on to the next one (nothing is lost in the hand-off).
    async fn multi_waiters() {
        let layer = concurrency_limit(1);
        let (mut s1, _handle) = spawn_layer(&layer);
        let mut s2 = s1.clone_service();
        let mut s3 = s1.clone_service();
        assert_ready_ok!(s1.poll_ready());
        assert_pending!(s2.poll_ready());
        assert_pending!(s3.poll_ready());
        drop(s1);
        assert!(s2.is_woken());
        assert!(!s3.is_woken());
        drop(s2);
        assert!(s3.is_woken());
        assert_ready_ok!(s3.poll_ready());
        drop(s3);
        books(&layer, 0, 0);
    }
}

// ---- reservation ("disarm") cases ---------------------------------------------------

both_flavours! {
    /// tower's poll_ready contract (tower#408, the `disarm` discussion): polling a ready
    /// service again reserves nothing more, and a clone of a ready service starts with
    /// no reservation (tower's `ConcurrencyLimit::clone` does not copy the permit).
    /// Fixed and adaptive limits alike (an adaptive layer counts a reservation in its
    /// `in_flight` from `poll_ready`).
    async fn repeated_poll_ready_and_clones_reserve_once() {
        let adaptive = LimitLayer::adaptive(corral_tower::Aimd::new(2).guardrails(2, 2))
            .max_queue(usize::MAX)
            .no_sojourn_shedding()
            .build()
            .unwrap();
        for layer in [concurrency_limit(2), adaptive] {
            let (mut s1, _handle) = spawn_layer(&layer);
            for _ in 0..3 {
                assert_ready_ok!(s1.poll_ready());
            }
            books(&layer, 1, 0);
            let clone = s1.clone_service();
            books(&layer, 1, 0);
            drop(clone);
            books(&layer, 1, 0);
            let mut s2 = s1.clone_service();
            assert_ready_ok!(s2.poll_ready());
            let mut s3 = s1.clone_service();
            assert_pending!(s3.poll_ready());
            drop(s1);
            assert!(s3.is_woken());
            assert_ready_ok!(s3.poll_ready());
            drop((s2, s3));
            books(&layer, 0, 0);
        }
    }
}

both_flavours! {
    /// A reservation held while the inner service is not ready (tower's
    /// `ConcurrencyLimit` polls the inner service under its permit, too) comes back when
    /// the service is dropped, and the inner service's wake-up reaches the caller.
    async fn reservation_held_across_inner_backpressure_comes_back_on_drop() {
        let layer = concurrency_limit(1);
        let (mut s1, handle) = spawn_layer(&layer);
        let mut s2 = s1.clone_service();
        handle.allow(0);
        assert_pending!(s1.poll_ready());
        books(&layer, 1, 0);
        handle.allow(1);
        assert!(s1.is_woken());
        assert_ready_ok!(s1.poll_ready());
        handle.allow(0);
        assert_pending!(s2.poll_ready());
        drop(s1);
        assert!(s2.is_woken());
        assert_pending!(s2.poll_ready(), "admitted, now waiting on the inner service");
        books(&layer, 1, 0);
        drop(s2);
        books(&layer, 0, 0);
    }
}

// ---- tower/tests/load_shed/main.rs --------------------------------------------------

fn load_shed(n: u64) -> LimitLayer {
    LimitLayer::builder(n).max_queue(0).build().unwrap()
}

both_flavours! {
    /// Port of tower's load_shed `when_ready`: with room, the request goes through.
    async fn load_shed_when_ready() {
        let layer = load_shed(1);
        let (mut service, mut handle) = spawn_layer(&layer);
        assert_ready_ok!(service.poll_ready(), "overload always reports ready");
        let mut response = task::spawn(service.call("hello"));
        expect_request(&mut handle, "hello").send(Ok("world")).unwrap();
        assert_eq!(assert_ready_ok!(response.poll()), "world");
        drop(service);
        books(&layer, 0, 0);
    }
}

both_flavours! {
    /// Port of tower's load_shed `when_not_ready`, where "not ready" is the limit: the
    /// service still reports ready and the call fails at once with the typed
    /// `Overloaded`, without reaching the inner service.
    async fn load_shed_when_at_the_limit() {
        let layer = load_shed(1);
        let (mut holder, mut handle) = spawn_layer(&layer);
        assert_ready_ok!(holder.poll_ready());
        let mut service = holder.clone_service();
        assert_ready_ok!(service.poll_ready(), "overload always reports ready");
        let mut fut = task::spawn(service.call("hello"));
        let err = assert_ready_err!(fut.poll());
        assert_eq!(reason(err), OverloadReason::QueueFull { max_queue: 0 });
        assert!(handle.try_request().is_none(), "the inner service never saw it");
        books(&layer, 1, 0);
    }
}

both_flavours! {
    /// Port of tower's load_shed `when_not_ready`, where "not ready" is the inner
    /// service. Deliberate difference (documented on `LimitService::poll_ready`):
    /// `LimitLayer` sheds on its own limit and queue only; the inner service's
    /// backpressure is waited for under the reservation, as `ConcurrencyLimit` does.
    /// tower's `LoadShed` would shed this request. Put tower's `LoadShedLayer` between
    /// `LimitLayer` and the inner service to shed on inner backpressure too.
    async fn load_shed_when_the_inner_service_is_not_ready() {
        let layer = load_shed(2);
        let (mut service, handle) = spawn_layer(&layer);
        handle.allow(0);
        assert_pending!(service.poll_ready());
        books(&layer, 1, 0);
        handle.allow(1);
        assert!(service.is_woken());
        assert_ready_ok!(service.poll_ready());

        // The recipe from the docs: tower's LoadShed under the limit sheds on inner
        // backpressure, and its refusal frees the reservation when the call completes.
        let (inner, handle) = mock::pair::<&'static str, &'static str>();
        handle.allow(0);
        let mut shed = layer.layer(tower::load_shed::LoadShedLayer::new().layer(inner));
        let err = (&mut shed).oneshot("hello").await.unwrap_err();
        assert!(err.is::<tower::load_shed::error::Overloaded>(), "{err}");
        drop(service);
        books(&layer, 0, 0);
    }
}

both_flavours! {
    /// tower's `LoadShed` re-polls the inner service on every `poll_ready`, so a caller
    /// that polled ready during an overload and polls again once it has passed gets the
    /// fresh answer. `LimitLayer` must not keep a stale refusal across `poll_ready`.
    async fn load_shed_refusal_is_reevaluated_by_the_next_poll_ready() {
        let layer = load_shed(1);
        let (mut holder, mut handle) = spawn_layer(&layer);
        assert_ready_ok!(holder.poll_ready());
        let mut service = holder.clone_service();
        assert_ready_ok!(service.poll_ready(), "refused, reported as ready");
        books(&layer, 1, 0);
        drop(holder);
        books(&layer, 0, 0);
        assert_ready_ok!(service.poll_ready());
        books(&layer, 1, 0);
        let r = service.call("hello");
        expect_request(&mut handle, "hello").send(Ok("world")).unwrap();
        assert_eq!(r.await.unwrap(), "world");
        drop(service);
        books(&layer, 0, 0);
    }
}

// ---- seeded stress: every permit comes back, whatever is dropped when ---------------

/// One round: tasks take a clone of the service (plain or weighted), poll it ready, call,
/// await the answer,
/// and are aborted (dropping whatever they hold: a queued clone, a reservation, a
/// response future mid-call) at a seeded point. The inner service checks the limit.
async fn drop_anywhere_round(seed: u64) -> (usize, usize) {
    let mut rng = Rng(seed);
    let limit = 1 + rng.below(4);
    // A third of the rounds are adaptive (AIMD within [1, limit], slow answers are
    // drops), so the limit moves while services are dropped.
    let builder = if rng.below(3) == 0 {
        LimitLayer::adaptive(
            corral_tower::Aimd::new(limit)
                .guardrails(1, limit)
                .timeout(std::time::Duration::from_micros(20)),
        )
    } else {
        LimitLayer::builder(limit)
    }
    .no_sojourn_shedding();
    let layer = match rng.below(3) {
        0 => builder.max_queue(usize::MAX),
        1 => builder.max_queue(0),
        _ => builder.max_queue(rng.index(4)),
    }
    .build()
    .unwrap();
    let running = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let inner = {
        let (running, peak) = (running.clone(), peak.clone());
        service_fn(move |spins: u64| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                // Decrements even when the call is dropped mid-way.
                struct Leave(Arc<AtomicU64>);
                impl Drop for Leave {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, SeqCst);
                    }
                }
                let _leave = Leave(running);
                for _ in 0..spins {
                    tokio::task::yield_now().await;
                }
                Ok::<_, BoxError>(())
            }
        })
    };
    // Half the rounds weigh requests (1 or 2): those wait in the response future.
    let weighted = rng.below(2) == 1;
    let svc = layer.layer(inner.clone());
    let heavy = layer
        .clone()
        .weight(|spins: &u64| 1 + spins % 2)
        .layer(inner);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let spins = rng.below(4);
        let task = if weighted {
            let mut svc = heavy.clone();
            tokio::spawn(async move {
                let call = svc.ready().await.unwrap().call(spins);
                tokio::task::yield_now().await;
                if let Err(err) = call.await {
                    assert!(err.is::<Overloaded>(), "{err}");
                }
            })
        } else {
            let mut svc = svc.clone();
            tokio::spawn(async move {
                let ready = svc.ready().await.unwrap();
                tokio::task::yield_now().await;
                if let Err(err) = ready.call(spins).await {
                    assert!(err.is::<Overloaded>(), "{err}");
                }
            })
        };
        let abort_after = rng.below(6);
        tasks.push((task, abort_after));
    }
    drop((svc, heavy));
    let (mut finished, mut cancelled) = (0, 0);
    for (task, abort_after) in tasks {
        for _ in 0..abort_after {
            tokio::task::yield_now().await;
        }
        task.abort();
        match task.await {
            Ok(()) => finished += 1,
            Err(err) => {
                assert!(err.is_cancelled(), "seed {seed}: {err}");
                cancelled += 1;
            }
        }
    }
    assert!(peak.load(SeqCst) <= limit, "seed {seed}: over the limit");
    assert_eq!(running.load(SeqCst), 0, "seed {seed}");
    assert_eq!(
        (layer.in_flight(), layer.queued()),
        (0, 0),
        "seed {seed}: a permit or a queue slot was lost"
    );
    // And the full limit can be reserved again.
    let mut probes: Vec<_> = (0..layer.limit())
        .map(|_| layer.layer(service_fn(|()| async { Ok::<_, BoxError>(()) })))
        .collect();
    for probe in &mut probes {
        let mut t = task::spawn(());
        assert_ready_ok!(t.enter(|cx, _| probe.poll_ready(cx)), "seed {seed}");
    }
    (finished, cancelled)
}

/// Every permit comes back when a queued service, a reserved service or a response
/// future is dropped at any point (tower's drop tests above, in a seeded loop on a
/// multi-thread runtime).
#[test]
fn every_permit_comes_back_whatever_is_dropped_when() {
    let rt = corral_test_support::multi_thread(4);
    rt.block_on(async {
        let (mut finished, mut cancelled) = (0, 0);
        for seed in 0..1_500 {
            let (f, c) = drop_anywhere_round(seed).await;
            finished += f;
            cancelled += c;
        }
        // Both ends happen: the loop is not all aborts, nor all completions.
        assert!(
            finished > 1_000 && cancelled > 1_000,
            "{finished} {cancelled}"
        );
    });
}
