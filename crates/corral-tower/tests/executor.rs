//! `TrackedExecutor` with hyper-util's server (`auto::Builder`) and legacy client:
//! their tasks are in corral's registry under their role, and end with their owners.

mod support;
use support::{named, until};

use corral_tower::TrackedExecutor;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

#[corral::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_client_connection_tasks_are_tracked_by_role() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_conns = TrackedExecutor::new("http-server-conn");
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let server = corral::spawn(async move {
        let builder = auto::Builder::new(server_conns.clone());
        let mut conns = Vec::new();
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => accepted.unwrap(),
                _ = &mut stopped => break,
            };
            let service = hyper::service::service_fn(|_req: http::Request<Incoming>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(
                    "hello",
                ))))
            });
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            conns.push(server_conns.spawn_named(conn));
        }
        for conn in conns {
            conn.await.unwrap().unwrap();
        }
    });

    let client: Client<_, Empty<Bytes>> =
        Client::builder(TrackedExecutor::new("http-client-conn")).build_http();
    let response = client
        .get(format!("http://{addr}/").parse().unwrap())
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");
    // hyper-util's legacy client may also run a short-lived task under the same executor
    // that hands the connection back to its pool once it is ready again; what stays is the
    // pooled connection's own task.
    until("only the pooled connection's task", || {
        named("http-client-conn") == 1
    })
    .await;
    until("the server's connection task", || {
        named("http-server-conn") == 1
    })
    .await;

    drop(client); // closes the pooled connection
    until("client connection task ends", || {
        named("http-client-conn") == 0
    })
    .await;
    until("server connection task ends", || {
        named("http-server-conn") == 0
    })
    .await;
    stop.send(()).unwrap();
    server.await.unwrap();
}
