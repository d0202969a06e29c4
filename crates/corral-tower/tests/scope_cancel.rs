//! A handler that stops its own request scope by hand gets a typed `RequestCancelled`
//! (a 500), and the children it spawned are down when the call returns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral_tower::{error_response, BoxError, RequestCancelled, RequestScope, ScopeLayer};
use tower::{service_fn, Layer, ServiceExt};

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn cancelled_by_hand() {
    let child_dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&child_dropped);
    let svc =
        ScopeLayer::new(Duration::from_secs(60)).layer(service_fn(move |req: http::Request<()>| {
            let flag = Arc::clone(&flag);
            async move {
                let scope = req
                    .extensions()
                    .get::<RequestScope>()
                    .expect("set by ScopeLayer")
                    .clone();
                let guard = SetOnDrop(flag);
                scope.go(async move {
                    let _guard = guard;
                    std::future::pending::<Result<(), BoxError>>().await
                });
                scope.cancel();
                Ok::<_, BoxError>(http::Response::new(()))
            }
        }));
    let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
    assert!(err.is::<RequestCancelled>(), "got {err}");
    assert_eq!(error_response::<()>(&err).status(), 500);
    assert!(
        child_dropped.load(Ordering::SeqCst),
        "the child is down before the call returns"
    );
}

#[tokio::test]
async fn cancel_by_hand_is_a_typed_error_current_thread() {
    cancelled_by_hand().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_by_hand_is_a_typed_error_multi_thread() {
    for _ in 0..200 {
        cancelled_by_hand().await;
    }
}
