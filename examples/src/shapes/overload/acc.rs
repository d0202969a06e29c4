//! tower-acc's admission, re-timed on tokio's clock so it runs in paused time.
//!
//! tower-acc times each request with `std::time::Instant`, which `tokio::time::pause`
//! does not move: in the simulation every sample would read a few microseconds and its
//! algorithms would see no queueing at all. Its algorithms are plain types behind the
//! public [`tower_acc::Algorithm`] trait (`update(rtt, num_inflight, is_error,
//! is_canceled)` and `max_concurrency()`), so this module feeds tower-acc's own
//! `Gradient2` and `Vegas` the way its service does (facts read from tower-acc 0.1.1:
//! a tokio semaphore resized to the algorithm's answer after every sample, no queue of
//! its own, a sample taken when the response future ends or is dropped), written here
//! with one difference: the start time is `tokio::time::Instant`. What the peer rows
//! measure is therefore tower-acc's algorithms and admission, not a clock artefact.

use std::cmp::Ordering;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::PollSemaphore;
use tower::Service;
use tower_acc::Algorithm;

/// The controller: updates the algorithm after each request and resizes the
/// semaphore to its answer.
struct Controller<A> {
    algorithm: A,
    semaphore: Arc<Semaphore>,
    max_permits: usize,
}

impl<A: Algorithm> Controller<A> {
    fn update(&mut self, rtt: std::time::Duration, is_error: bool, is_canceled: bool) {
        let num_inflight = self.max_permits - self.semaphore.available_permits();
        self.algorithm
            .update(rtt, num_inflight, is_error, is_canceled);
        let new_max = self.algorithm.max_concurrency();
        match new_max.cmp(&self.max_permits) {
            Ordering::Greater => {
                self.semaphore.add_permits(new_max - self.max_permits);
                self.max_permits = new_max;
            }
            Ordering::Less => {
                let forgotten = self.semaphore.forget_permits(self.max_permits - new_max);
                self.max_permits -= forgotten;
            }
            Ordering::Equal => {}
        }
    }
}

/// tower-acc's admission on the paused clock. Clones share the limit.
pub(crate) struct AccLimit<S, A> {
    inner: S,
    controller: Arc<Mutex<Controller<A>>>,
    semaphore: PollSemaphore,
    permit: Option<OwnedSemaphorePermit>,
}

impl<S, A: Algorithm> AccLimit<S, A> {
    pub(crate) fn new(inner: S, algorithm: A) -> Self {
        let max_permits = algorithm.max_concurrency();
        let semaphore = Arc::new(Semaphore::new(max_permits));
        AccLimit {
            inner,
            semaphore: PollSemaphore::new(semaphore.clone()),
            controller: Arc::new(Mutex::new(Controller {
                algorithm,
                semaphore,
                max_permits,
            })),
            permit: None,
        }
    }

    /// Reads the algorithm's current limit (for the per-second table).
    pub(crate) fn probe(&self) -> impl Fn() -> u64 + 'static
    where
        A: 'static,
    {
        let controller = self.controller.clone();
        move || controller.lock().unwrap().algorithm.max_concurrency() as u64
    }
}

impl<S: Clone, A> Clone for AccLimit<S, A> {
    fn clone(&self) -> Self {
        AccLimit {
            inner: self.inner.clone(),
            controller: self.controller.clone(),
            semaphore: self.semaphore.clone(),
            permit: None,
        }
    }
}

/// Ends a request: gives the permit back, then reports the sample.
struct Guard<A: Algorithm> {
    controller: Arc<Mutex<Controller<A>>>,
    permit: Option<OwnedSemaphorePermit>,
    start: Instant,
    is_canceled: bool,
    is_error: bool,
}

impl<A: Algorithm> Drop for Guard<A> {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.controller.lock().unwrap().update(
            self.start.elapsed(),
            self.is_error,
            self.is_canceled,
        );
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, A, Req> Service<Req> for AccLimit<S, A>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    A: Algorithm + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if self.permit.is_none() {
            self.permit = ready!(self.semaphore.poll_acquire(cx));
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let guard = Guard {
            controller: self.controller.clone(),
            permit: Some(self.permit.take().expect("poll_ready first")),
            start: Instant::now(),
            is_canceled: true,
            is_error: false,
        };
        let future = self.inner.call(req);
        Box::pin(async move {
            let mut guard = guard;
            let result = future.await;
            guard.is_canceled = false;
            guard.is_error = result.is_err();
            result
        })
    }
}
