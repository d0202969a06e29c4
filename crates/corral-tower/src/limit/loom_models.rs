//! Loom models of `LimitService` itself (the shipped code, over corral-semaphore's
//! loom-switched engine): reservations in `poll_ready`, the FIFO queue, a ready service
//! dropped, the adaptive limit moving under racing completions.

use std::future::{poll_fn, ready, Ready};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};

use loom::future::block_on;
use loom::thread;
use tower_layer::Layer;
use tower_service::Service;

use crate::{Aimd, BoxError, LimitLayer};

/// Counts how many calls run at once; answers at once.
#[derive(Clone)]
struct Probe {
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Service<()> for Probe {
    type Response = ();
    type Error = BoxError;
    type Future = Ready<Result<(), BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        loom::thread::yield_now();
        self.running.fetch_sub(1, SeqCst);
        ready(Ok(()))
    }
}

fn probe() -> Probe {
    Probe {
        running: Arc::new(AtomicUsize::new(0)),
        peak: Arc::new(AtomicUsize::new(0)),
    }
}

fn one_request(layer: &LimitLayer, inner: Probe) -> Result<(), BoxError> {
    let mut svc = layer.layer(inner);
    block_on(async move {
        poll_fn(|cx| svc.poll_ready(cx)).await?;
        svc.call(()).await
    })
}

/// Two requests through `layer`, racing from two threads; returns the probe both
/// called.
fn two_requests(layer: &LimitLayer) -> Probe {
    let inner = probe();
    let other = {
        let (layer, inner) = (layer.clone(), inner.clone());
        thread::spawn(move || one_request(&layer, inner))
    };
    one_request(layer, inner.clone()).unwrap();
    other.join().unwrap().unwrap();
    inner
}

#[test]
fn two_requests_through_a_limit_of_one_never_overlap_and_release_everything() {
    loom::model(|| {
        let layer = LimitLayer::builder(1)
            .no_sojourn_shedding()
            .build()
            .unwrap();
        let inner = two_requests(&layer);
        assert_eq!(inner.peak.load(SeqCst), 1);
        assert_eq!((layer.in_flight(), layer.queued()), (0, 0));
    });
}

#[test]
fn a_ready_service_dropped_on_another_thread_admits_the_waiter() {
    loom::model(|| {
        let layer = LimitLayer::builder(1)
            .no_sojourn_shedding()
            .build()
            .unwrap();
        let mut ready_svc = layer.layer(probe());
        block_on(poll_fn(|cx| ready_svc.poll_ready(cx))).unwrap();
        let dropper = thread::spawn(move || drop(ready_svc));
        one_request(&layer, probe()).unwrap();
        dropper.join().unwrap();
        assert_eq!((layer.in_flight(), layer.queued()), (0, 0));
    });
}

#[test]
fn the_adaptive_limit_moves_under_racing_completions_and_loses_no_permit() {
    loom::model(|| {
        let layer = LimitLayer::adaptive(
            Aimd::new(1)
                .guardrails(1, 2)
                .timeout(std::time::Duration::from_secs(60)),
        )
        .no_sojourn_shedding()
        .build()
        .unwrap();
        let inner = two_requests(&layer);
        assert!(inner.peak.load(SeqCst) <= 2);
        assert!((1..=2).contains(&layer.limit()));
        assert_eq!((layer.in_flight(), layer.queued()), (0, 0));
    });
}
