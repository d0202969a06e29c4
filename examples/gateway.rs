//! gateway: an axum gateway on corral, end to end, in one file.
//!
//! Every request to `GET /items/{id}` fans out to three calls to an upstream, through
//! reqwest. corral puts a bound on each step:
//!
//! 1. **At the door**, [`LimitLayer`] with an adaptive limit (Gradient2, latency
//!    budget 50 ms): at most `limit` requests in the handler, 32 more may wait up to
//!    250 ms, the rest get `503` + `Retry-After` at once.
//! 2. **Per request**, [`ScopeLayer`]: the handler runs in a scope named after the route,
//!    with a 500 ms deadline (a client can ask for less with `x-timeout-ms`). The three
//!    upstream calls are children of that scope: a client that hangs up, or the
//!    deadline (`504`), cancels them.
//! 3. **Connections** are served by hyper-util with a [`TrackedExecutor`], so each one is
//!    a tracked task named `gateway-conn` (axum::serve would spawn them untracked).
//! 4. **DNS** for reqwest goes through corral's bounded, coalescing resolver.
//!
//! The example starts a slow upstream and the gateway on 127.0.0.1, sends steady
//! traffic and then a spike, prints what the requests got and the tracked tasks by
//! name, and exits.
//!
//! `cargo run --release -p corral-examples --example gateway`

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{Extension, MatchedPath, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use corral::tower::{
    error_response, BoxError, Gradient2, LimitLayer, RequestScope, ScopeLayer, TrackedExecutor,
};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

/// The gateway's state: an HTTP client and where the upstream is.
#[derive(Clone)]
struct Gateway {
    client: reqwest::Client,
    upstream: SocketAddr,
}

/// `GET /items/{id}`: three upstream calls in parallel, in the request's scope.
async fn item(
    Path(id): Path<u32>,
    Extension(scope): Extension<RequestScope>,
    State(gw): State<Gateway>,
) -> Result<String, (StatusCode, String)> {
    let mut calls = Vec::new();
    for part in ["price", "stock", "reviews"] {
        let url = format!("http://{}/{part}/{id}", gw.upstream);
        let client = gw.client.clone();
        // A child of the request's scope: cancelled with the request.
        let call = scope
            .spawn(async move { Ok(client.get(url).send().await?.text().await?) })
            .await
            .expect("spawning from the handler into its own scope never fails");
        calls.push(call);
    }
    let mut parts = Vec::new();
    for call in calls {
        // A failed call fails the scope (and cancels its siblings); say 502 here.
        let part = call
            .await
            .map_err(|err| (StatusCode::BAD_GATEWAY, err.to_string()))?;
        parts.push(part);
    }
    Ok(parts.join(", "))
}

/// Serves `app` on `listener`, each connection a tracked task named `role`.
async fn serve(listener: TcpListener, app: Router, role: &str) {
    let exec = TrackedExecutor::new(role);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let conn = auto::Builder::new(exec.clone())
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()))
            .into_owned();
        exec.spawn_named(conn);
    }
}

/// Sends `n` requests, `gap` apart, and counts the answers by status.
async fn burst(
    client: &reqwest::Client,
    addr: SocketAddr,
    n: u32,
    gap: Duration,
) -> BTreeMap<String, u32> {
    let mut requests = Vec::new();
    for i in 0..n {
        let mut req = client.get(format!("http://{addr}/items/{i}"));
        if i % 10 == 0 {
            req = req.header("x-timeout-ms", "20");
        }
        requests.push(corral::spawn(async move {
            req.send().await.map(|r| r.status())
        }));
        tokio::time::sleep(gap).await;
    }
    let mut statuses = BTreeMap::new();
    for request in requests {
        let status = match request.await {
            Ok(Ok(status)) => status.to_string(),
            _ => "client error".to_owned(),
        };
        *statuses.entry(status).or_insert(0) += 1;
    }
    statuses
}

fn report(what: &str, statuses: &BTreeMap<String, u32>) {
    println!("{what}:");
    for (status, count) in statuses {
        println!("  {count:>4} x {status}");
    }
}

/// A slow upstream: every answer takes 30 ms.
fn upstream() -> Router {
    Router::new().route(
        "/{part}/{id}",
        get(|Path((part, id)): Path<(String, u32)>| async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            format!("{part} of {id}")
        }),
    )
}

fn gateway(gw: Gateway) -> Result<(Router, LimitLayer), BoxError> {
    let limit = LimitLayer::adaptive(
        Gradient2::new(16)
            .guardrails(4, 256)
            .timeout(Duration::from_millis(50)),
    )
    .max_queue(32)
    .max_wait(Duration::from_millis(250))
    .build()?;
    let scope = ScopeLayer::new(Duration::from_millis(500))
        .header("x-timeout-ms")
        .name_with(|parts| {
            let route = parts.extensions.get::<MatchedPath>();
            route.map_or("unmatched", MatchedPath::as_str).to_owned()
        });
    let app = Router::new()
        .route("/items/{id}", get(item))
        .with_state(gw)
        .layer(
            ServiceBuilder::new()
                // Overloaded -> 503 + Retry-After, DeadlineExceeded -> 504.
                .layer(HandleErrorLayer::new(|err: BoxError| async move {
                    error_response::<axum::body::Body>(&err)
                }))
                .layer(limit.clone())
                .layer(scope),
        );
    Ok((app, limit))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let upstream_listener = TcpListener::bind("127.0.0.1:0").await?;
    let upstream_addr = upstream_listener.local_addr()?;
    corral::spawn(serve(upstream_listener, upstream(), "upstream-conn"));

    // reqwest with corral's resolver: bounded DNS threads, coalesced lookups.
    let resolver = corral::blocking::Resolver::builder().build()?;
    let client = reqwest::Client::builder()
        .dns_resolver(Arc::new(resolver))
        .build()?;
    let (app, limit) = gateway(Gateway {
        client: client.clone(),
        upstream: upstream_addr,
    })?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    corral::spawn(serve(listener, app, "gateway-conn"));

    // Steady traffic, 100 requests 5 ms apart; every tenth asks for a 20 ms deadline
    // it cannot meet (three 30 ms upstream calls): those get 504, the rest 200.
    let steady = burst(&client, addr, 100, Duration::from_millis(5)).await;
    report("100 requests, 5 ms apart", &steady);
    // Then 400 at once: the limit admits what the upstream can serve and up to 32
    // wait; anything beyond is told 503 + Retry-After at once instead of queueing
    // without bound (how many depends on how fast the connections come up).
    let spike = burst(&client, addr, 400, Duration::ZERO).await;
    report("400 requests at once", &spike);
    println!(
        "\nadaptive limit now {}, in flight {}, waiting {}",
        limit.limit(),
        limit.in_flight(),
        limit.queued()
    );

    // Every task corral tracks, by name: the pooled keep-alive connections, and no
    // request task or upstream call left over from the requests above.
    let mut by_name = BTreeMap::new();
    for task in corral::task::snapshot().iter() {
        *by_name
            .entry(task.name().unwrap_or("(unnamed)").to_owned())
            .or_insert(0u32) += 1;
    }
    println!("\ntracked tasks by name:");
    for (name, count) in &by_name {
        println!("  {count:>4} x {name}");
    }
    Ok(())
}
