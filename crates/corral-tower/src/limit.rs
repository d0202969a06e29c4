//! [`LimitLayer`]: one layer for concurrency limit, bounded wait queue and shedding.

mod admit;
mod future;
#[cfg(all(test, corral_loom))]
mod loom_models;
mod shared;

use std::fmt;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use corral_semaphore::Semaphore;
use corral_shared::sync::Ordering::Relaxed;
use tower_layer::Layer;
use tower_service::Service;

use self::admit::Admit;
use self::future::Admitted;
pub use self::future::ResponseFuture;
use self::shared::Shared;
use crate::adaptive::Algorithm;
use crate::error::{BoxError, Overloaded};

/// The default sojourn target: a request that has waited this long in a queue that has
/// not been empty for [`DEFAULT_SOJOURN_INTERVAL`] is shed. 5 ms and 100 ms are the
/// values Facebook reports working "across a wide set of use cases" for this
/// CoDel-style queue rule (Maurer, *Fail at Scale*, ACM Queue 2015).
pub const DEFAULT_SOJOURN_TARGET: Duration = Duration::from_millis(5);
/// The default sojourn interval; see [`DEFAULT_SOJOURN_TARGET`].
pub const DEFAULT_SOJOURN_INTERVAL: Duration = Duration::from_millis(100);
/// The default `Retry-After` carried by [`Overloaded`]: one second, the smallest the
/// header can say.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a response says about load, for an adaptive limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A normal answer: its latency is a sample.
    Success,
    /// A sign of overload (a timeout, a 503 from upstream, a dropped call): the
    /// algorithms back off.
    Dropped,
    /// Says nothing about load (a 4xx for a bad request): not a sample.
    Ignore,
}

/// Decides the [`Outcome`] of a response, for an adaptive limit.
///
/// Implemented for closures `Fn(Result<&Resp, &E>) -> Outcome`; the default,
/// [`ErrorsAreDrops`], counts every error as a drop and every response as a success.
pub trait Classify<Resp, E> {
    /// The outcome of one call.
    fn classify(&self, result: Result<&Resp, &E>) -> Outcome;
}

impl<Resp, E, F> Classify<Resp, E> for F
where
    F: Fn(Result<&Resp, &E>) -> Outcome,
{
    fn classify(&self, result: Result<&Resp, &E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: an `Err` is [`Outcome::Dropped`], an `Ok` a
/// [`Outcome::Success`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsAreDrops;

impl<Resp, E> Classify<Resp, E> for ErrorsAreDrops {
    fn classify(&self, result: Result<&Resp, &E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Dropped,
        }
    }
}

/// Every request weighs 1: capacity is reserved in `poll_ready`.
#[derive(Debug, Clone, Copy, Default)]
pub struct One;

/// Requests weigh what the function says: capacity is reserved in the response future,
/// once the request (and so its weight) is known. See [`LimitLayer::weight`].
#[derive(Clone, Copy)]
pub struct Weight<F>(F);

impl<F> fmt::Debug for Weight<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Weight(..)")
    }
}

/// Why [`LimitBuilder::build`] refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A limit of 0 would admit nothing.
    ZeroLimit,
    /// The limit exceeds `Semaphore::MAX_PERMITS`.
    LimitTooLarge {
        /// The limit asked for.
        limit: u64,
        /// The largest supported.
        max: u64,
    },
    /// A zero `max_wait` or sojourn target/interval: say `max_queue(0)` to refuse
    /// waiting, or `no_sojourn_shedding()`.
    ZeroDuration(&'static str),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroLimit => f.write_str("limit of 0 admits nothing"),
            BuildError::LimitTooLarge { limit, max } => {
                write!(f, "limit {limit} exceeds the maximum {max}")
            }
            BuildError::ZeroDuration(what) => write!(f, "{what} of 0"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Builds a [`LimitLayer`]; validated by [`build`](Self::build).
#[derive(Debug)]
pub struct LimitBuilder {
    limit: u64,
    adaptive: Option<Box<dyn Algorithm>>,
    max_queue: Option<usize>,
    max_wait: Option<Duration>,
    sojourn: Option<(Duration, Duration)>,
    retry_after: Duration,
}

impl LimitBuilder {
    /// A fixed limit of `limit` concurrent requests (in weight units).
    pub fn fixed(limit: u64) -> Self {
        LimitBuilder {
            limit,
            adaptive: None,
            max_queue: None,
            max_wait: None,
            sojourn: Some((DEFAULT_SOJOURN_TARGET, DEFAULT_SOJOURN_INTERVAL)),
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }

    /// An adaptive limit: `algorithm` ([`Aimd`](crate::Aimd),
    /// [`Gradient2`](crate::Gradient2), [`Vegas`](crate::Vegas)) moves it within its
    /// guardrails from each response's latency and [`Outcome`].
    pub fn adaptive(algorithm: impl Algorithm) -> Self {
        let mut builder = LimitBuilder::fixed(algorithm.initial_limit());
        builder.adaptive = Some(Box::new(algorithm));
        builder
    }

    /// At most `max_queue` requests wait for admission; one more is refused at once
    /// with [`OverloadReason::QueueFull`](crate::OverloadReason::QueueFull). `0`: no
    /// waiting, refuse when at the limit (tower's `LoadShed`). Default: the initial
    /// limit (one more limit's worth waits).
    pub fn max_queue(mut self, max_queue: usize) -> Self {
        self.max_queue = Some(max_queue);
        self
    }

    /// A request waits at most this long, then is refused with
    /// [`OverloadReason::MaxWait`](crate::OverloadReason::MaxWait). Default: no bound
    /// besides the sojourn rule.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// Sojourn-time shedding (on by default with [`DEFAULT_SOJOURN_TARGET`] and
    /// [`DEFAULT_SOJOURN_INTERVAL`]): when the queue has not been empty for `interval`
    /// (a standing queue), a request that has waited `target` or longer is refused with
    /// [`OverloadReason::Sojourn`](crate::OverloadReason::Sojourn). A burst that the
    /// queue absorbs and drains within `interval` is not shed.
    pub fn sojourn(mut self, target: Duration, interval: Duration) -> Self {
        self.sojourn = Some((target, interval));
        self
    }

    /// Turns sojourn-time shedding off: requests wait up to `max_wait` (or until
    /// admitted) whatever the queue's history.
    pub fn no_sojourn_shedding(mut self) -> Self {
        self.sojourn = None;
        self
    }

    /// The `Retry-After` that refusals carry. Default [`DEFAULT_RETRY_AFTER`].
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroLimit`], [`BuildError::LimitTooLarge`], and
    /// [`BuildError::ZeroDuration`] for a zero `max_wait`, target or interval.
    pub fn build(self) -> Result<LimitLayer, BuildError> {
        if self.limit == 0 {
            return Err(BuildError::ZeroLimit);
        }
        if self.limit > Semaphore::MAX_PERMITS {
            return Err(BuildError::LimitTooLarge {
                limit: self.limit,
                max: Semaphore::MAX_PERMITS,
            });
        }
        if self.max_wait == Some(Duration::ZERO) {
            return Err(BuildError::ZeroDuration("max_wait"));
        }
        if let Some((target, interval)) = self.sojourn {
            if target.is_zero() {
                return Err(BuildError::ZeroDuration("sojourn target"));
            }
            if interval.is_zero() {
                return Err(BuildError::ZeroDuration("sojourn interval"));
            }
        }
        let max_queue = self
            .max_queue
            .unwrap_or(usize::try_from(self.limit).unwrap_or(usize::MAX));
        Ok(LimitLayer {
            shared: Arc::new(Shared::new(
                self.limit,
                max_queue,
                self.max_wait,
                self.sojourn,
                self.retry_after,
                self.adaptive,
            )),
            weight: One,
            classify: ErrorsAreDrops,
        })
    }
}

/// One layer for concurrency limit, bounded FIFO wait queue and load shedding, where
/// tower offers `ConcurrencyLimit` (waits without bound) or `LoadShed` (refuses at
/// once).
///
/// Every service the layer builds shares one limit (one corral
/// [`Semaphore`]): with axum's `Router::layer`, which builds a service per route, the
/// whole router shares it. A request is admitted when the limit has room and no earlier
/// request is waiting (FIFO); otherwise it waits in a queue bounded by `max_queue`,
/// for at most `max_wait`, and is shed from a standing queue once stale (sojourn
/// time). A request not admitted fails with [`Overloaded`] (boxed into the service's
/// [`BoxError`]), which [`error_response`](crate::error_response) turns into a `503`
/// with `Retry-After`. The inner service never sees a refused request.
///
/// Unweighted (the default), capacity is reserved in `poll_ready`, with no allocation
/// on the path that does not wait; a service made ready and then dropped gives its
/// reservation back. With [`weight`](Self::weight), reservation moves into the response
/// future (the weight is known only with the request).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral_tower::{LimitLayer, OverloadReason, Overloaded};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = LimitLayer::builder(64)
///     .max_queue(128)
///     .max_wait(Duration::from_millis(250))
///     .build()
///     .expect("valid limit");
/// let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n * 2) }));
/// assert_eq!(svc.oneshot(21).await.unwrap(), 42);
///
/// // With no room and no queue, a request is refused with a typed error.
/// let strict = LimitLayer::builder(1).max_queue(0).build().unwrap();
/// let mut first = strict.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
/// let _held = first.ready().await.unwrap(); // reserves the only slot
/// let second = strict.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
/// let err = second.oneshot(1).await.unwrap_err();
/// let overloaded = err.downcast_ref::<Overloaded>().expect("typed");
/// assert_eq!(overloaded.reason, OverloadReason::QueueFull { max_queue: 0 });
/// # }
/// ```
#[derive(Clone)]
pub struct LimitLayer<W = One, C = ErrorsAreDrops> {
    shared: Arc<Shared>,
    weight: W,
    classify: C,
}

impl LimitLayer {
    /// A builder for a fixed limit of `limit` (in weight units); see
    /// [`LimitBuilder::fixed`].
    pub fn builder(limit: u64) -> LimitBuilder {
        LimitBuilder::fixed(limit)
    }

    /// A builder for an adaptive limit; see [`LimitBuilder::adaptive`].
    pub fn adaptive(algorithm: impl Algorithm) -> LimitBuilder {
        LimitBuilder::adaptive(algorithm)
    }
}

impl<W, C> LimitLayer<W, C> {
    /// Weighs each request (default: 1): a large upload and a health check are not the
    /// same load. A request heavier than the current limit is refused with
    /// [`OverloadReason::TooHeavy`](crate::OverloadReason::TooHeavy).
    ///
    /// The weighted service reserves capacity in its response future rather than in
    /// `poll_ready`, so it needs the inner service to be `Clone` (the ready clone goes
    /// into the future, as with `tower::util::Oneshot`-style services).
    pub fn weight<F>(self, weight: F) -> LimitLayer<Weight<F>, C> {
        LimitLayer {
            shared: self.shared,
            weight: Weight(weight),
            classify: self.classify,
        }
    }

    /// Sets how responses feed an adaptive limit (default [`ErrorsAreDrops`]); see
    /// [`Classify`].
    pub fn classify<C2>(self, classify: C2) -> LimitLayer<W, C2> {
        LimitLayer {
            shared: self.shared,
            weight: self.weight,
            classify,
        }
    }

    /// The current limit.
    pub fn limit(&self) -> u64 {
        self.shared.limit()
    }

    /// Admitted weight not yet released: reserved by a ready service or running. After
    /// an adaptive limit shrinks, this still counts the weight admitted under the old
    /// limit until it is released, so it can exceed [`limit`](Self::limit) for a while.
    pub fn in_flight(&self) -> u64 {
        if self.shared.adaptive.is_some() {
            // The semaphore absorbs a shrink lazily, so its capacity less what is free
            // undercounts the holders then; the adaptive gauge counts every admission.
            // Relaxed: a snapshot.
            self.shared.inflight.load(Relaxed)
        } else {
            self.shared
                .sem
                .capacity()
                .saturating_sub(self.shared.sem.available())
        }
    }

    /// Requests waiting for admission now.
    pub fn queued(&self) -> usize {
        self.shared.sem.waiters()
    }

    /// Refuses every waiting and later request with
    /// [`OverloadReason::Closed`](crate::OverloadReason::Closed) (for shutdown);
    /// requests already admitted run on.
    pub fn close(&self) {
        self.shared.sem.close();
    }
}

impl<W: fmt::Debug, C> fmt::Debug for LimitLayer<W, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitLayer")
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .field("queued", &self.queued())
            .field("weight", &self.weight)
            .finish_non_exhaustive()
    }
}

impl<S, W: Clone, C: Clone> Layer<S> for LimitLayer<W, C> {
    type Service = LimitService<S, W, C>;

    fn layer(&self, inner: S) -> Self::Service {
        LimitService {
            inner,
            admit: Admit::new(&self.shared),
            shared: self.shared.clone(),
            permit: None,
            refused: None,
            weight: self.weight.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// The service [`LimitLayer`] builds. Its error is a [`BoxError`]: [`Overloaded`] when
/// the request was refused, otherwise the inner service's error.
#[must_use = "a ready LimitService holds a reservation until it is called or dropped"]
pub struct LimitService<S, W = One, C = ErrorsAreDrops> {
    inner: S,
    shared: Arc<Shared>,
    admit: Admit,
    permit: Option<Admitted>,
    refused: Option<Box<Overloaded>>,
    weight: W,
    classify: C,
}

impl<S: Clone, W: Clone, C: Clone> Clone for LimitService<S, W, C> {
    /// A clone with no reservation, sharing the limit.
    fn clone(&self) -> Self {
        LimitService {
            inner: self.inner.clone(),
            admit: Admit::new(&self.shared),
            shared: self.shared.clone(),
            permit: None,
            refused: None,
            weight: self.weight.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S: fmt::Debug, W, C> fmt::Debug for LimitService<S, W, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitService")
            .field("inner", &self.inner)
            .field("reserved", &self.permit.as_ref().map(Admitted::count))
            .field("queued", &self.admit.is_queued())
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

impl<S, Req, C> Service<Req> for LimitService<S, One, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, C>;

    /// Reserves one unit of the limit, waiting in the FIFO queue if needed, then polls
    /// the inner service. A refusal is not an error here: the service is ready and the
    /// next `call` fails with [`Overloaded`] without touching the inner service (as
    /// tower's `LoadShed` does), so one refused request does not fail a connection.
    /// Like `LoadShed`, every `poll_ready` answers for the state now: a refusal from an
    /// earlier poll not followed by a `call` is dropped and admission is tried again.
    ///
    /// Only the layer's own limit and queue refuse: while the inner service is not
    /// ready, `poll_ready` waits for it under the reservation (as tower's
    /// `ConcurrencyLimit` does) where `LoadShed` would refuse. To shed on the inner
    /// service's backpressure too, put tower's `LoadShedLayer` inside this layer.
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.refused.is_some() {
            // A stale refusal: re-evaluate, as LoadShed re-polls on every poll_ready.
            self.refused = None;
        }
        if self.permit.is_none() {
            match ready!(self.admit.poll_admit(cx, &self.shared, 1)) {
                Ok(permit) => self.permit = Some(Admitted::new(permit, &self.shared)),
                Err(refused) => {
                    self.refused = Some(Box::new(refused));
                    return Poll::Ready(Ok(()));
                }
            }
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    /// # Panics
    ///
    /// If `poll_ready` did not return `Ready(Ok(()))` first.
    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        if self.refused.is_some() {
            if let Some(refused) = self.refused.take() {
                return ResponseFuture::refused(refused, self.classify.clone());
            }
        }
        let mut admitted = self
            .permit
            .take()
            .expect("LimitService::call before poll_ready returned Ready");
        admitted.restart_clock();
        ResponseFuture::running(self.inner.call(req), admitted, self.classify.clone())
    }
}

impl<S, Req, F, C> Service<Req> for LimitService<S, Weight<F>, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    F: Fn(&Req) -> u64,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, C>;

    /// Polls the inner service only: a weighted request is admitted in its response
    /// future, once its weight is known.
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let weight = (self.weight.0)(&req);
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::waiting(
            ready,
            req,
            weight,
            self.shared.clone(),
            self.classify.clone(),
        )
    }
}
