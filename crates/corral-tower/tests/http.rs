//! A real axum server and a real HTTP/1 client (hyper) on 127.0.0.1, under
//! `#[corral::test]` (the test fails if it leaks a task): overload gives exactly the
//! expected 503s, a client hang-up leaves no request task and no upstream call, the
//! deadline gives a 504 within the deadline plus one tick (paused time), and a header
//! tightens the deadline but never loosens it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{Extension, MatchedPath, State};
use axum::routing::get;
use axum::Router;
mod support;
use support::{named, until};

use corral_tower::{error_response, BoxError, LimitLayer, RequestScope, ScopeLayer};
use http::StatusCode;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tower::ServiceBuilder;

struct Server {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(app: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = corral::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Server { addr, stop, task }
}

impl Server {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap();
    }
}

/// One GET on its own connection; returns the status and `Retry-After`.
async fn get_status(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Option<String>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = corral::spawn(conn);
    let mut req = http::Request::get(path).header(http::header::HOST, "127.0.0.1");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let response = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    response.into_body().collect().await.unwrap();
    drop(sender);
    conn.await.unwrap().unwrap();
    (status, retry_after)
}

fn edge(limit: LimitLayer, scope: ScopeLayer, routes: Router) -> Router {
    routes.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|err: BoxError| async move {
                error_response::<axum::body::Body>(&err)
            }))
            .layer(limit)
            .layer(scope),
    )
}

fn route_name(parts: &http::request::Parts) -> String {
    parts
        .extensions
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned()
}

#[derive(Clone)]
struct Gate {
    entered: Arc<AtomicUsize>,
    open: tokio::sync::watch::Receiver<bool>,
}

#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_gives_exactly_the_expected_503s() {
    const LIMIT: usize = 2;
    const QUEUE: usize = 3;
    const EXTRA: usize = 4;
    let (open, gate_rx) = tokio::sync::watch::channel(false);
    let gate = Gate {
        entered: Arc::new(AtomicUsize::new(0)),
        open: gate_rx,
    };
    let limit = LimitLayer::builder(LIMIT as u64)
        .max_queue(QUEUE)
        .no_sojourn_shedding()
        .build()
        .unwrap();
    let routes = Router::new()
        .route(
            "/slow",
            get(|State(gate): State<Gate>| async move {
                gate.entered.fetch_add(1, SeqCst);
                let mut open = gate.open.clone();
                open.wait_for(|o| *o).await.unwrap();
                "done"
            }),
        )
        .with_state(gate.clone());
    let server = serve(edge(
        limit.clone(),
        ScopeLayer::new(Duration::from_secs(60)),
        routes,
    ))
    .await;
    let addr = server.addr;

    let mut admitted = Vec::new();
    for _ in 0..LIMIT {
        admitted.push(corral::spawn(get_status(addr, "/slow", &[])));
    }
    until("the limit is full", || gate.entered.load(SeqCst) == LIMIT).await;
    for _ in 0..QUEUE {
        admitted.push(corral::spawn(get_status(addr, "/slow", &[])));
    }
    until("the queue is full", || limit.queued() == QUEUE).await;
    let mut refused = 0;
    for _ in 0..EXTRA {
        let (status, retry_after) = get_status(addr, "/slow", &[]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after.as_deref(), Some("1"));
        refused += 1;
    }
    assert_eq!(refused, EXTRA);
    assert_eq!(
        gate.entered.load(SeqCst),
        LIMIT,
        "refused requests never reached the handler"
    );
    open.send(true).unwrap();
    for request in admitted {
        assert_eq!(request.await.unwrap().0, StatusCode::OK);
    }
    assert_eq!(gate.entered.load(SeqCst), LIMIT + QUEUE);
    assert_eq!((limit.in_flight(), limit.queued()), (0, 0));
    server.stop().await;
}

struct Upstream(Arc<AtomicUsize>);

impl Upstream {
    fn call(calls: &Arc<AtomicUsize>) -> Self {
        calls.fetch_add(1, SeqCst);
        Upstream(calls.clone())
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hang_up_leaves_no_request_task_and_no_upstream_call() {
    let upstream = Arc::new(AtomicUsize::new(0));
    let routes = Router::new()
        .route(
            "/fanout",
            get(
                |Extension(scope): Extension<RequestScope>,
                 State(upstream): State<Arc<AtomicUsize>>| async move {
                    let mut calls = Vec::new();
                    for _ in 0..3 {
                        let upstream = upstream.clone();
                        let call = scope
                            .spawn(async move {
                                let _call = Upstream::call(&upstream);
                                std::future::pending::<()>().await;
                                Ok(())
                            })
                            .await
                            .expect("the request's scope is open");
                        calls.push(call);
                    }
                    for call in calls {
                        let _ = call.await;
                    }
                    "never"
                },
            ),
        )
        .with_state(upstream.clone());
    let limit = LimitLayer::builder(16).build().unwrap();
    let scope = ScopeLayer::new(Duration::from_secs(3600)).name_with(route_name);
    let server = serve(edge(limit.clone(), scope, routes)).await;

    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(b"GET /fanout HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    until("three upstream calls in flight", || {
        upstream.load(SeqCst) == 3
    })
    .await;
    assert_eq!(named("/fanout"), 3, "children named after the route");
    drop(client); // the client hangs up

    until("no upstream call in flight", || upstream.load(SeqCst) == 0).await;
    until("no request task alive", || named("/fanout") == 0).await;
    until("the limit is released", || limit.in_flight() == 0).await;
    server.stop().await;
}

/// A handler whose upstream call hangs: only the deadline ends it.
fn hanging_routes(upstream: &Arc<AtomicUsize>) -> Router {
    Router::new()
        .route(
            "/hang",
            get(
                |Extension(scope): Extension<RequestScope>,
                 State(upstream): State<Arc<AtomicUsize>>| async move {
                    let call = scope
                        .spawn(async move {
                            let _call = Upstream::call(&upstream);
                            std::future::pending::<()>().await;
                            Ok(())
                        })
                        .await
                        .expect("open");
                    let _ = call.await;
                    "never"
                },
            ),
        )
        .with_state(upstream.clone())
}

/// The status of `/hang` and how long it took, in (paused) tokio time.
async fn hang(addr: SocketAddr, headers: &[(&str, &str)]) -> (StatusCode, Duration) {
    let start = Instant::now();
    let (status, _) = get_status(addr, "/hang", headers).await;
    (status, start.elapsed())
}

const TICK: Duration = Duration::from_millis(1);

#[corral::test(start_paused = true)]
async fn the_deadline_gives_a_504_within_the_deadline_plus_one_tick() {
    let upstream = Arc::new(AtomicUsize::new(0));
    let timeout = Duration::from_millis(300);
    let scope = ScopeLayer::new(timeout).name_with(route_name);
    let limit = LimitLayer::builder(16).build().unwrap();
    let server = serve(edge(limit, scope, hanging_routes(&upstream))).await;
    let (status, took) = hang(server.addr, &[]).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(took >= timeout && took <= timeout + TICK, "took {took:?}");
    assert_eq!(upstream.load(SeqCst), 0, "the upstream call was cancelled");
    assert_eq!(named("/hang"), 0);
    server.stop().await;
}

#[corral::test(start_paused = true)]
async fn a_header_deadline_tightens_but_never_loosens() {
    let upstream = Arc::new(AtomicUsize::new(0));
    let timeout = Duration::from_millis(300);
    let scope = ScopeLayer::new(timeout).header("x-timeout-ms");
    let limit = LimitLayer::builder(16).build().unwrap();
    let server = serve(edge(limit, scope, hanging_routes(&upstream))).await;
    let cases: [(&[(&str, &str)], Duration); 5] = [
        (&[("x-timeout-ms", "100")], Duration::from_millis(100)),
        (&[("x-timeout-ms", "10000")], timeout),
        (&[("grpc-timeout", "50m")], Duration::from_millis(50)),
        (&[("grpc-timeout", "1H")], timeout),
        (&[("x-timeout-ms", "soon")], timeout),
    ];
    for (headers, expected) in cases {
        let (status, took) = hang(server.addr, headers).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{headers:?}");
        assert!(
            took >= expected && took <= expected + TICK,
            "{headers:?}: took {took:?}, expected {expected:?}"
        );
        assert_eq!(upstream.load(SeqCst), 0);
    }
    server.stop().await;
}
