//! `ResponseFuture`: the inner call under its permit, or a refusal, or (for weighted
//! requests) the wait for admission first.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use corral_semaphore::OwnedPermit;
use corral_shared::sync::Ordering::Relaxed;
use tokio::time::Instant;
use tower_service::Service;

use super::admit::Admit;
use super::shared::Shared;
use super::{Classify, Outcome};
use crate::adaptive::Sample;
use crate::error::{BoxError, Overloaded};

/// Holds an admitted request's permit, from admission (a reservation in `poll_ready`,
/// or a weighted request's grant) to the end of its call; on completion it reports the
/// sample to the adaptive limit. Dropped without completing (the caller went away, or a
/// ready service was dropped), it reports nothing and gives the permit back. With an
/// adaptive limit it counts its weight in `Shared::inflight` all that time.
pub(crate) struct Admitted {
    permit: OwnedPermit,
    // Only with an adaptive limit: start time, inflight weight at admission, and where
    // to report. A fixed limit keeps nothing but the permit.
    adaptive: Option<(Instant, u64, Arc<Shared>)>,
}

impl Admitted {
    #[inline]
    pub(crate) fn new(permit: OwnedPermit, shared: &Arc<Shared>) -> Self {
        let adaptive = shared.adaptive.is_some().then(|| {
            // Relaxed: a gauge for the algorithm's "limit in use" check; no memory
            // is published through it.
            let inflight = shared.inflight.fetch_add(permit.count(), Relaxed) + permit.count();
            (Instant::now(), inflight, shared.clone())
        });
        Admitted { permit, adaptive }
    }

    /// The weight held.
    pub(crate) fn count(&self) -> u64 {
        self.permit.count()
    }

    /// Starts the latency clock now, when the request is called (a reservation made in
    /// `poll_ready` may wait for the inner service or the caller first).
    #[inline]
    pub(crate) fn restart_clock(&mut self) {
        if let Some((start, _, _)) = &mut self.adaptive {
            *start = Instant::now();
        }
    }

    /// Whether the adaptive limit wants this request's outcome.
    #[inline]
    fn wants_sample(&self) -> bool {
        self.adaptive.is_some()
    }

    /// Reports the outcome to the adaptive limit; the permit goes back when `self`
    /// is dropped.
    fn finish(&mut self, outcome: Outcome) {
        if let Some((start, inflight, shared)) = self.adaptive.take() {
            shared.inflight.fetch_sub(self.permit.count(), Relaxed);
            if outcome != Outcome::Ignore {
                shared.record(Sample {
                    rtt: start.elapsed(),
                    inflight,
                    dropped: outcome == Outcome::Dropped,
                    admitted: start,
                });
            }
        }
    }
}

impl Drop for Admitted {
    #[inline]
    fn drop(&mut self) {
        if let Some((_, _, shared)) = self.adaptive.take() {
            shared.inflight.fetch_sub(self.permit.count(), Relaxed);
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`LimitService`](crate::LimitService).
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner call and gives its permit back (a weighted request
    /// still waiting leaves the queue); the request is lost with it.
    #[must_use = "futures do nothing unless polled; dropping it cancels the request"]
    pub struct ResponseFuture<S, Req, C>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req>,
        classify: C,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S, Req>
    where
        S: Service<Req>,
    {
        // Boxed, so the future an admitted request moves around stays small: a
        // refusal allocates anyway (it becomes a `BoxError`), and a weighted request
        // that waits is the slow path.
        Refused { err: Option<Box<Overloaded>> },
        Waiting { waiting: Box<Waiting<S, Req>> },
        Running { #[pin] fut: S::Future, admitted: Option<Admitted> },
    }
}

/// A weighted request waiting for admission, with the ready service that will take it.
struct Waiting<S, Req> {
    admit: Admit,
    weight: u64,
    request: Option<(S, Req)>,
    shared: Arc<Shared>,
}

impl<S: Service<Req>, Req, C> ResponseFuture<S, Req, C> {
    pub(crate) fn refused(err: Box<Overloaded>, classify: C) -> Self {
        ResponseFuture {
            state: State::Refused { err: Some(err) },
            classify,
        }
    }

    pub(crate) fn running(fut: S::Future, admitted: Admitted, classify: C) -> Self {
        ResponseFuture {
            state: State::Running {
                fut,
                admitted: Some(admitted),
            },
            classify,
        }
    }

    pub(crate) fn waiting(
        svc: S,
        request: Req,
        weight: u64,
        shared: Arc<Shared>,
        classify: C,
    ) -> Self {
        ResponseFuture {
            state: State::Waiting {
                waiting: Box::new(Waiting {
                    admit: Admit::new(&shared),
                    weight,
                    request: Some((svc, request)),
                    shared,
                }),
            },
            classify,
        }
    }
}

impl<S, Req, C> Future for ResponseFuture<S, Req, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Refused { err } => {
                    let err = err.take().expect("ResponseFuture polled after completion");
                    return Poll::Ready(Err(err));
                }
                StateProj::Waiting { waiting } => {
                    let Waiting {
                        admit,
                        weight,
                        request,
                        shared,
                    } = &mut **waiting;
                    let next = match ready!(admit.poll_admit(cx, shared, *weight)) {
                        Ok(permit) => {
                            let (mut svc, req) = request
                                .take()
                                .expect("ResponseFuture polled after completion");
                            let admitted = Admitted::new(permit, shared);
                            State::Running {
                                fut: svc.call(req),
                                admitted: Some(admitted),
                            }
                        }
                        Err(err) => State::Refused {
                            err: Some(Box::new(err)),
                        },
                    };
                    this.state.set(next);
                }
                StateProj::Running { fut, admitted } => {
                    let result = ready!(fut.poll(cx));
                    if let Some(admitted) = admitted.as_mut() {
                        if admitted.wants_sample() {
                            admitted.finish(this.classify.classify(result.as_ref()));
                        }
                    }
                    // Dropped in place (not moved out): the permit goes back now.
                    *admitted = None;
                    return Poll::Ready(result.map_err(Into::into));
                }
            }
        }
    }
}

impl<S: Service<Req>, Req, C> std::fmt::Debug for ResponseFuture<S, Req, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Refused { .. } => "refused",
            State::Waiting { .. } => "waiting",
            State::Running { .. } => "running",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
