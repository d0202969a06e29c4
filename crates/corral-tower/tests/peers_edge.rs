//! The peers' own tests for this edge, ported onto corral-tower: tower's `Timeout`
//! contract mapped onto [`ScopeLayer`]'s deadline, tower-http's `TimeoutLayer` tests
//! where corral maps the deadline to an HTTP response, and the hyper / hyper-util
//! behaviour corral relies on (a client hang-up drops the service future; hyper-util's
//! `GracefulShutdown` waits for in-flight connections, which [`TrackedExecutor`] keeps
//! visible in corral's registry until they end).
//!
//! tower 0.5 ships no test file for `timeout`; its cases here are the contract
//! `tower::timeout::Timeout` documents and its users rely on: a response in time passes
//! through, a late one is a typed `Elapsed` the caller downcasts, the inner error passes
//! through, `poll_ready` is the inner one's.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use corral_tower::{
    error_response, BoxError, DeadlineExceeded, RequestScope, ScopeLayer, TrackedExecutor,
};
use http::StatusCode;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use support::{named, until};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tower::{service_fn, Layer, Service, ServiceExt};

// ---------------------------------------------------------------------------------
// 1. tower's `timeout`, mapped onto ScopeLayer's deadline.
// ---------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
struct InnerFailed(&'static str);

impl std::fmt::Display for InnerFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "inner failed: {}", self.0)
    }
}

impl std::error::Error for InnerFailed {}

/// Sets its flag when dropped: whether a handler or a child was cancelled.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// tower `Timeout`: a response ready before the deadline is the response. Also with a
/// zero budget: as tower's `Timeout` polls the inner future before its sleep, a
/// handler that answers at its first poll wins over an already-elapsed deadline.
async fn completes_before_the_timeout() {
    for budget in [Duration::from_secs(1), Duration::ZERO] {
        let svc = ScopeLayer::new(budget).layer(service_fn(|_req: http::Request<()>| async {
            Ok::<_, InnerFailed>(http::Response::new("fast"))
        }));
        let response = svc.oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(*response.body(), "fast", "budget {budget:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn timeout_request_completes_before_the_timeout_current_thread() {
    completes_before_the_timeout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_request_completes_before_the_timeout_multi_thread() {
    completes_before_the_timeout().await;
}

/// tower `Timeout`: a handler still running at the deadline fails the call with a typed
/// error the caller downcasts (`tower::timeout::error::Elapsed` there,
/// [`DeadlineExceeded`] here, carrying the budget), and the handler and its children
/// are dropped. Unlike tower's `Timeout`, whose dropped handler's `tokio::spawn`s run
/// on, the request's scope children are down when the call returns.
async fn times_out_with_a_typed_error() {
    let handler_dropped = Arc::new(AtomicBool::new(false));
    let child_dropped = Arc::new(AtomicBool::new(false));
    let (h, c) = (handler_dropped.clone(), child_dropped.clone());
    let budget = Duration::from_millis(10);
    let svc = ScopeLayer::new(budget).layer(service_fn(move |req: http::Request<()>| {
        let (h, c) = (h.clone(), c.clone());
        async move {
            let _handler = SetOnDrop(h);
            let scope = req.extensions().get::<RequestScope>().unwrap().clone();
            let child = SetOnDrop(c);
            scope.go(async move {
                let _child = child;
                std::future::pending::<Result<(), BoxError>>().await
            });
            std::future::pending::<()>().await;
            Ok::<_, InnerFailed>(http::Response::new(()))
        }
    }));
    let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
    let elapsed = err
        .downcast_ref::<DeadlineExceeded>()
        .unwrap_or_else(|| panic!("a DeadlineExceeded, got {err}"));
    assert_eq!(elapsed.budget, budget);
    assert!(handler_dropped.load(SeqCst), "the handler was dropped");
    assert!(
        child_dropped.load(SeqCst),
        "its child is down before the call returns"
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_request_times_out_with_a_typed_error_current_thread() {
    times_out_with_a_typed_error().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_request_times_out_with_a_typed_error_multi_thread() {
    for _ in 0..50 {
        times_out_with_a_typed_error().await;
    }
}

/// tower `Timeout`: the inner service's error passes through unchanged (boxed), and is
/// not mistaken for the deadline.
async fn inner_error_passes_through() {
    let svc = ScopeLayer::new(Duration::from_secs(1)).layer(service_fn(
        |_req: http::Request<()>| async { Err::<http::Response<()>, _>(InnerFailed("upstream")) },
    ));
    let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<InnerFailed>(),
        Some(&InnerFailed("upstream"))
    );
    assert!(!err.is::<DeadlineExceeded>());
    assert_eq!(error_response::<()>(&err).status(), 500);
}

#[tokio::test(start_paused = true)]
async fn timeout_inner_error_passes_through_current_thread() {
    inner_error_passes_through().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_inner_error_passes_through_multi_thread() {
    inner_error_passes_through().await;
}

/// A service that is not ready until told, then fails its readiness.
#[derive(Clone, Default)]
struct Readiness {
    state: Arc<ReadinessState>,
}

#[derive(Default)]
struct ReadinessState {
    /// 0 pending, 1 ready, 2 failed.
    ready: std::sync::atomic::AtomicU8,
    waker: std::sync::Mutex<Option<std::task::Waker>>,
    calls: AtomicUsize,
}

impl Service<http::Request<()>> for Readiness {
    type Response = http::Response<()>;
    type Error = InnerFailed;
    type Future = std::future::Ready<Result<http::Response<()>, InnerFailed>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), InnerFailed>> {
        match self.state.ready.load(SeqCst) {
            0 => {
                *self.state.waker.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            }
            1 => Poll::Ready(Ok(())),
            _ => Poll::Ready(Err(InnerFailed("not ready"))),
        }
    }

    fn call(&mut self, _req: http::Request<()>) -> Self::Future {
        self.state.calls.fetch_add(1, SeqCst);
        std::future::ready(Ok(http::Response::new(())))
    }
}

impl Readiness {
    fn set(&self, value: u8) {
        self.state.ready.store(value, SeqCst);
        if let Some(waker) = self.state.waker.lock().unwrap().take() {
            waker.wake();
        }
    }
}

/// tower `Timeout`: `poll_ready` is the inner service's: pending while it is (with its
/// waker passed through), ready when it is, and its error passes through typed. No
/// deadline runs while waiting for readiness (as tower's, which starts its sleep in
/// `call`).
async fn poll_ready_passes_through() {
    let inner = Readiness::default();
    let mut svc = ScopeLayer::new(Duration::from_millis(1)).layer(inner.clone());
    let mut ready = tokio_test::task::spawn(std::future::poll_fn(|cx| {
        Service::<http::Request<()>>::poll_ready(&mut svc, cx)
    }));
    assert!(ready.poll().is_pending());
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(ready.poll().is_pending(), "no deadline while not ready");
    inner.set(1);
    assert!(ready.is_woken(), "the inner waker is the caller's");
    assert!(matches!(ready.poll(), Poll::Ready(Ok(()))));
    drop(ready);
    svc.call(http::Request::new(())).await.unwrap();
    assert_eq!(inner.state.calls.load(SeqCst), 1);

    inner.set(2);
    let err = std::future::poll_fn(|cx| Service::<http::Request<()>>::poll_ready(&mut svc, cx))
        .await
        .unwrap_err();
    assert_eq!(
        err.downcast_ref::<InnerFailed>(),
        Some(&InnerFailed("not ready"))
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_poll_ready_passes_through_current_thread() {
    poll_ready_passes_through().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_poll_ready_passes_through_multi_thread() {
    poll_ready_passes_through().await;
}

// ---------------------------------------------------------------------------------
// 2. tower-http's `TimeoutLayer` (src/timeout/service.rs tests): the deadline as an
//    HTTP response, through `HandleErrorLayer` and `error_response`.
// ---------------------------------------------------------------------------------

type AxumBody = axum::body::Body;

async fn slow_handler(_req: http::Request<AxumBody>) -> Result<http::Response<AxumBody>, BoxError> {
    tokio::time::sleep(Duration::from_secs(10)).await;
    Ok(http::Response::new(AxumBody::from("late")))
}

async fn fast_handler(_req: http::Request<AxumBody>) -> Result<http::Response<AxumBody>, BoxError> {
    Ok(http::Response::new(AxumBody::from("fast")))
}

/// corral's mapping: `error_response` (`DeadlineExceeded` -> 504).
fn mapped<S>(
    timeout: Duration,
    inner: S,
) -> impl Service<
    http::Request<AxumBody>,
    Response = http::Response<AxumBody>,
    Error = Infallible,
    Future: Send,
> + Clone
where
    S: Service<http::Request<AxumBody>, Response = http::Response<AxumBody>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    tower::ServiceBuilder::new()
        .layer(axum::error_handling::HandleErrorLayer::new(
            |err: BoxError| async move { error_response::<AxumBody>(&err) },
        ))
        .layer(ScopeLayer::new(timeout))
        .service(inner)
}

/// tower-http `request_completes_within_timeout`: a handler in time is its own 200.
async fn request_completes_within_timeout() {
    let svc = mapped(Duration::from_secs(1), service_fn(fast_handler));
    let response = svc
        .oneshot(http::Request::new(AxumBody::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"fast");
}

#[tokio::test(start_paused = true)]
async fn tower_http_request_completes_within_timeout_current_thread() {
    request_completes_within_timeout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_http_request_completes_within_timeout_multi_thread() {
    request_completes_within_timeout().await;
}

/// tower-http `timeout_response_has_empty_body` and
/// `deprecated_new_method_compatibility`. Deliberate difference: tower-http's default
/// status is `408 Request Timeout`; corral's `error_response` answers `504 Gateway
/// Timeout` (documented on `error_response` and `DeadlineExceeded`: the server, not the
/// client, ran out of time). The body is empty, as tower-http's.
#[tokio::test(start_paused = true)]
async fn tower_http_timeout_response_is_an_empty_504() {
    let svc = mapped(Duration::from_millis(10), service_fn(slow_handler));
    let response = svc
        .oneshot(http::Request::new(AxumBody::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty());
}

/// tower-http `timeout_middleware_with_custom_status_code` (408, or 503 as configured):
/// corral has no status setting; the typed error is the configuration point. A caller
/// who wants 408 (or 503) downcasts `DeadlineExceeded` in its own `HandleErrorLayer`.
async fn custom_status_code() {
    for wanted in [StatusCode::REQUEST_TIMEOUT, StatusCode::SERVICE_UNAVAILABLE] {
        let svc = tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(
                move |err: BoxError| async move {
                    if err.is::<DeadlineExceeded>() {
                        let mut response = http::Response::new(AxumBody::empty());
                        *response.status_mut() = wanted;
                        response
                    } else {
                        error_response::<AxumBody>(&err)
                    }
                },
            ))
            .layer(ScopeLayer::new(Duration::from_millis(10)))
            .service(service_fn(slow_handler));
        let response = svc
            .oneshot(http::Request::new(AxumBody::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), wanted);
    }
}

#[tokio::test(start_paused = true)]
async fn tower_http_custom_status_code_current_thread() {
    custom_status_code().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_http_custom_status_code_multi_thread() {
    custom_status_code().await;
}

// ---------------------------------------------------------------------------------
// 3. hyper / hyper-util behaviour corral relies on, on a real server on 127.0.0.1.
// ---------------------------------------------------------------------------------

/// The registry is per process and the tests of this file run at once: each test
/// names its connection tasks and request paths after itself.
fn conn_role(tag: &str) -> String {
    format!("edge-server-conn-{tag}")
}

/// What the handlers report: entered, and which of their parts were dropped; `open`
/// lets the handler and its child finish.
#[derive(Clone)]
struct Probe {
    entered: Arc<AtomicUsize>,
    handler_dropped: Arc<AtomicBool>,
    child_dropped: Arc<AtomicBool>,
    /// Counts for the stress rounds: handlers and children dropped, over all requests.
    handlers_down: Arc<AtomicUsize>,
    children_down: Arc<AtomicUsize>,
    open: tokio::sync::watch::Receiver<bool>,
}

/// Counts its drop.
struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

impl Probe {
    fn new() -> (Probe, tokio::sync::watch::Sender<bool>) {
        let (open, rx) = tokio::sync::watch::channel(false);
        let probe = Probe {
            entered: Arc::default(),
            handler_dropped: Arc::default(),
            child_dropped: Arc::default(),
            handlers_down: Arc::default(),
            children_down: Arc::default(),
            open: rx,
        };
        (probe, open)
    }
}

type Resp = http::Response<Full<Bytes>>;

/// A handler that spawns a child into its request's scope; both wait for `open`.
async fn gated(probe: Probe, req: http::Request<Incoming>) -> Result<Resp, BoxError> {
    let _handler = (
        SetOnDrop(probe.handler_dropped.clone()),
        CountOnDrop(probe.handlers_down.clone()),
    );
    let scope = req.extensions().get::<RequestScope>().unwrap().clone();
    let child = (
        SetOnDrop(probe.child_dropped.clone()),
        CountOnDrop(probe.children_down.clone()),
    );
    let mut child_open = probe.open.clone();
    scope.go(async move {
        let _child = child;
        let _ = child_open.wait_for(|o| *o).await;
        Ok::<_, BoxError>(())
    });
    probe.entered.fetch_add(1, SeqCst);
    let mut open = probe.open.clone();
    let _ = open.wait_for(|o| *o).await;
    Ok(http::Response::new(Full::new(Bytes::from("done"))))
}

struct Server {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    /// Set once the accept loop stopped and `GracefulShutdown::shutdown` is awaited.
    draining: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// hyper-util's `auto::Builder` with a `TrackedExecutor`, each connection watched by a
/// `GracefulShutdown` and spawned with `spawn_named`; the service is
/// `ScopeLayer(timeout)` over `gated`. Stopping ends the accept loop, then waits for
/// the watched connections.
async fn serve(tag: &str, timeout: Duration, probe: Probe) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let draining = Arc::new(AtomicBool::new(false));
    let draining_flag = draining.clone();
    let svc = ScopeLayer::new(timeout).layer(service_fn(move |req| gated(probe.clone(), req)));
    let role = conn_role(tag);
    let task = corral::spawn(async move {
        let exec = TrackedExecutor::new(role);
        let builder = auto::Builder::new(exec.clone());
        let graceful = GracefulShutdown::new();
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => accepted.unwrap(),
                _ = &mut stopped => break,
            };
            let svc = svc.clone();
            let service = hyper::service::service_fn(move |req| svc.clone().oneshot(req));
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            exec.spawn_named(graceful.watch(conn));
        }
        drop(listener);
        draining_flag.store(true, SeqCst);
        graceful.shutdown().await;
    });
    Server {
        addr,
        stop,
        draining,
        task,
    }
}

/// hyper (`server::conn::http1`, "disconnect" cases in hyper's tests/server.rs) drops
/// the service's response future when the client goes away mid-request; corral's
/// promise rides on it: the request's scope then cancels the handler and every child
/// it spawned, and the connection task leaves the registry. Latches only: the handler
/// is in, the client hangs up, the drops are observed.
async fn client_disconnect_cancels_the_scope(tag: &str) {
    let (probe, _open) = Probe::new();
    let server = serve(tag, Duration::from_secs(3600), probe.clone()).await;
    let path = format!("/work-{tag}");
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    until("the handler is in", || probe.entered.load(SeqCst) == 1).await;
    assert_eq!(
        named(&path),
        1,
        "the child is tracked under the request's scope"
    );
    assert_eq!(named(&conn_role(tag)), 1);
    assert!(!probe.child_dropped.load(SeqCst));
    drop(client); // the client hangs up
    until("the handler is dropped", || {
        probe.handler_dropped.load(SeqCst)
    })
    .await;
    until("the child is dropped", || probe.child_dropped.load(SeqCst)).await;
    until("no child task left", || named(&path) == 0).await;
    until("the connection task ended", || named(&conn_role(tag)) == 0).await;
    server.stop.send(()).unwrap();
    server.task.await.unwrap();
}

#[corral::test]
async fn hyper_client_disconnect_cancels_the_request_scope_current_thread() {
    client_disconnect_cancels_the_scope("disconnect-ct").await;
}

#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_client_disconnect_cancels_the_request_scope_multi_thread() {
    for _ in 0..20 {
        client_disconnect_cancels_the_scope("disconnect-mt").await;
    }
}

/// Seeded stress for the hang-up: the client leaves at a point the seed picks (before
/// sending anything, mid-request, right after the request races the handler's start,
/// or once the handler is in). Whatever the point, every handler that started and
/// every child it spawned is dropped, and no child or connection task is left.
async fn hang_up_anywhere(tag: &str, rounds: u64) {
    let (probe, _open) = Probe::new();
    let server = serve(tag, Duration::from_secs(3600), probe.clone()).await;
    let path = format!("/work-{tag}");
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    for seed in 0..rounds {
        let mut client = TcpStream::connect(server.addr).await.unwrap();
        match seed % 4 {
            0 => {}
            1 => {
                let cut = 1 + (seed as usize * 7) % (request.len() - 1);
                client.write_all(&request.as_bytes()[..cut]).await.unwrap();
            }
            2 => client.write_all(request.as_bytes()).await.unwrap(),
            _ => {
                let before = probe.entered.load(SeqCst);
                client.write_all(request.as_bytes()).await.unwrap();
                until("the handler is in", || probe.entered.load(SeqCst) > before).await;
            }
        }
        drop(client);
        until("every started handler is dropped", || {
            probe.handlers_down.load(SeqCst) == probe.entered.load(SeqCst)
        })
        .await;
        until("every child is dropped", || {
            probe.children_down.load(SeqCst) == probe.entered.load(SeqCst)
        })
        .await;
        until("no child task left", || named(&path) == 0).await;
        until("no connection task left", || named(&conn_role(tag)) == 0).await;
    }
    assert!(probe.entered.load(SeqCst) >= (rounds / 4) as usize);
    server.stop.send(()).unwrap();
    server.task.await.unwrap();
}

#[corral::test]
async fn hyper_hang_up_anywhere_stress_current_thread() {
    hang_up_anywhere("hang-up-ct", 400).await;
}

#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_hang_up_anywhere_stress_multi_thread() {
    hang_up_anywhere("hang-up-mt", 1000).await;
}

/// One GET on its own HTTP/1 connection (hyper's client, the connection spawned
/// tracked); returns the status and body, then waits for the server to close.
async fn get_until_closed(addr: SocketAddr) -> (StatusCode, Bytes) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = corral::spawn(conn);
    let req = http::Request::get("/drain")
        .header(http::header::HOST, "127.0.0.1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    // Keep the sender: the connection is kept alive until the server closes it.
    conn.await.unwrap().unwrap();
    drop(sender);
    (status, body)
}

/// hyper-util `test_graceful_shutdown_ok` / `test_graceful_shutdown_delayed_ok`: the
/// shutdown waits for every watched connection with a request in flight, which
/// finishes with its response; the connection is closed after it (HTTP/1 keep-alive
/// ends), and `TrackedExecutor` keeps each connection task in corral's registry until
/// then. Several connections, so the shutdown waits for all of them.
async fn graceful_shutdown_waits_for_in_flight(tag: &str) {
    const CONNS: usize = 3;
    let (probe, open) = Probe::new();
    let server = serve(tag, Duration::from_secs(3600), probe.clone()).await;
    let addr = server.addr;
    let clients: Vec<_> = (0..CONNS)
        .map(|_| corral::spawn(get_until_closed(addr)))
        .collect();
    until("every request is in", || {
        probe.entered.load(SeqCst) == CONNS
    })
    .await;
    assert_eq!(named(&conn_role(tag)), CONNS);

    server.stop.send(()).unwrap();
    until("the server drains", || server.draining.load(SeqCst)).await;
    // The requests cannot finish before `open`: the shutdown is still waiting, and
    // the connections are still in the registry.
    assert!(
        !server.task.is_finished(),
        "shutdown waits for in-flight requests"
    );
    assert_eq!(
        named(&conn_role(tag)),
        CONNS,
        "in-flight connections stay visible"
    );
    assert!(
        !probe.handler_dropped.load(SeqCst),
        "graceful: nothing cancelled"
    );

    open.send(true).unwrap();
    for client in clients {
        let (status, body) = client.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"done");
    }
    server.task.await.unwrap();
    until("the connection tasks ended", || named(&conn_role(tag)) == 0).await;
    assert!(probe.child_dropped.load(SeqCst));
}

#[corral::test]
async fn hyper_util_graceful_shutdown_waits_for_in_flight_current_thread() {
    graceful_shutdown_waits_for_in_flight("graceful-ct").await;
}

#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_util_graceful_shutdown_waits_for_in_flight_multi_thread() {
    for _ in 0..10 {
        graceful_shutdown_waits_for_in_flight("graceful-ct").await;
    }
}

/// hyper-util `test_graceful_shutdown_timeout`: a connection whose request never ends
/// keeps the shutdown waiting. hyper-util leaves the bound to the caller; with corral
/// the request's `ScopeLayer` deadline is that bound: it ends the request (and its
/// child), the connection closes, and the shutdown completes. Current thread in paused
/// time (the deadline is the only thing that moves); multi thread in real time with a
/// short deadline (only the outcome is asserted).
async fn graceful_shutdown_bounded_by_the_deadline(tag: &str, timeout: Duration) {
    let (probe, _open) = Probe::new(); // never opened
    let server = serve(tag, timeout, probe.clone()).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = corral::spawn(conn);
    let req = http::Request::get("/hang")
        .header(http::header::HOST, "127.0.0.1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = corral::spawn(sender.send_request(req));
    until("the request is in", || probe.entered.load(SeqCst) == 1).await;
    server.stop.send(()).unwrap();
    server.task.await.unwrap();
    assert!(probe.handler_dropped.load(SeqCst));
    assert!(probe.child_dropped.load(SeqCst));
    // hyper answers a service error by closing the connection without a response.
    assert!(response.await.unwrap().is_err());
    let _ = conn.await.unwrap();
    until("the connection task ended", || named(&conn_role(tag)) == 0).await;
}

#[corral::test(start_paused = true)]
async fn hyper_util_graceful_shutdown_is_bounded_by_the_request_deadline_current_thread() {
    graceful_shutdown_bounded_by_the_deadline("deadline-ct", Duration::from_secs(30)).await;
}

#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_util_graceful_shutdown_is_bounded_by_the_request_deadline_multi_thread() {
    graceful_shutdown_bounded_by_the_deadline("deadline-mt", Duration::from_millis(200)).await;
}

/// tower `Timeout` used as a client-side bound inside other work: the typed error says
/// how long the call had. Corral's request scope nests under an enclosing corral scope
/// (`ScopeConfig::scope`: the deadline is the minimum of the parent's and its own), so
/// the budget [`DeadlineExceeded`] reports is the one the call really had: the
/// enclosing scope's when that is tighter, not the layer's configured timeout (nor zero
/// for `without_timeout`).
async fn budget_an_enclosing_scope_left(exact: bool) {
    let parent = Duration::from_millis(20);
    for layer in [
        ScopeLayer::without_timeout(),
        ScopeLayer::new(Duration::from_secs(60)),
    ] {
        let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
            std::future::pending::<()>().await;
            Ok::<_, InnerFailed>(http::Response::new(()))
        }));
        let config = corral_scope::ScopeConfig::builder()
            .timeout(parent)
            .build()
            .unwrap();
        let err = config
            .scope(|_s: corral_scope::Scope<Infallible>| async move {
                Ok(svc.oneshot(http::Request::new(())).await.unwrap_err())
            })
            .await
            .expect("the call's own deadline answers first");
        let elapsed = err
            .downcast_ref::<DeadlineExceeded>()
            .unwrap_or_else(|| panic!("a DeadlineExceeded, got {err}"));
        if exact {
            assert_eq!(elapsed.budget, parent);
        } else {
            // Real time: what was left when the call was made, never more.
            assert!(elapsed.budget <= parent, "{:?}", elapsed.budget);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn timeout_typed_error_reports_the_budget_an_enclosing_scope_left_current_thread() {
    budget_an_enclosing_scope_left(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_typed_error_reports_the_budget_an_enclosing_scope_left_multi_thread() {
    budget_an_enclosing_scope_left(false).await;
}

/// hyper's HTTP/2 server (`proto::h2::server`, a stream whose client sent
/// `RST_STREAM`): the stream task stops polling and drops the service future, so the
/// request's scope cancels the handler and its child while the connection lives on.
/// The stream task runs on the `auto::Builder`'s `TrackedExecutor`, so it is in corral's
/// registry under the executor's role alongside the connection task, and leaves it
/// when the stream is reset.
async fn h2_reset_cancels_the_scope(tag: &str) {
    let (probe, _open) = Probe::new();
    let server = serve(tag, Duration::from_secs(3600), probe.clone()).await;
    let role = conn_role(tag);
    let client_role = format!("edge-client-h2-{tag}");
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        TrackedExecutor::new(client_role.clone()),
        TokioIo::new(stream),
    )
    .await
    .unwrap();
    let conn = corral::spawn(conn);
    let req = http::Request::get(format!("http://127.0.0.1/h2-{tag}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let request = corral::spawn(sender.send_request(req));
    until("the handler is in", || probe.entered.load(SeqCst) == 1).await;
    assert_eq!(named(&role), 2, "the connection task and the stream task");
    request.abort(); // drops the response future: hyper resets the stream
    assert!(request.await.unwrap_err().is_cancelled());
    until("the handler is dropped", || {
        probe.handler_dropped.load(SeqCst)
    })
    .await;
    until("the child is dropped", || probe.child_dropped.load(SeqCst)).await;
    until("the stream task ended", || named(&role) == 1).await;
    until("no child task left", || named(&format!("/h2-{tag}")) == 0).await;
    drop(sender); // the client closes the connection
    conn.await.unwrap().unwrap();
    until("the connection task ended", || named(&role) == 0).await;
    until("no client task left", || named(&client_role) == 0).await;
    server.stop.send(()).unwrap();
    server.task.await.unwrap();
}

#[corral::test]
async fn hyper_h2_reset_stream_cancels_the_request_scope_current_thread() {
    h2_reset_cancels_the_scope("h2-ct").await;
}

#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_h2_reset_stream_cancels_the_request_scope_multi_thread() {
    for _ in 0..20 {
        h2_reset_cancels_the_scope("h2-mt").await;
    }
}

/// hyper-util `test_graceful_shutdown_ok`: watched connections that are done with their
/// work end at the shutdown signal, and the shutdown completes. Here an idle
/// keep-alive HTTP/1 connection (its request answered, the client still holding it)
/// is closed by the server, its tracked task leaves the registry, and the client
/// sees a clean close.
async fn graceful_shutdown_closes_idle_connections(tag: &str) {
    let (probe, open) = Probe::new();
    open.send(true).unwrap(); // requests answer at once
    let server = serve(tag, Duration::from_secs(3600), probe.clone()).await;
    let role = conn_role(tag);
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = corral::spawn(conn);
    let req = http::Request::get("/idle")
        .header(http::header::HOST, "127.0.0.1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().collect().await.unwrap();
    assert_eq!(
        named(&role),
        1,
        "the idle connection is still open and tracked"
    );

    server.stop.send(()).unwrap();
    server.task.await.unwrap();
    conn.await.unwrap().unwrap(); // closed by the server, cleanly
    drop(sender);
    until("the connection task ended", || named(&role) == 0).await;
    assert_eq!(
        probe.handlers_down.load(SeqCst),
        1,
        "the one handler ran and ended"
    );
}

#[corral::test]
async fn hyper_util_graceful_shutdown_closes_idle_connections_current_thread() {
    graceful_shutdown_closes_idle_connections("idle-ct").await;
}

#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_util_graceful_shutdown_closes_idle_connections_multi_thread() {
    for _ in 0..20 {
        graceful_shutdown_closes_idle_connections("idle-mt").await;
    }
}
