//! Errors: one type per refusal, each mapping to one HTTP status.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// The boxed error a tower stack carries (`tower::BoxError`).
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// [`LimitLayer`](crate::LimitLayer) refused a request: it was not admitted and the
/// inner service never saw it. Maps to `503 Service Unavailable` with `Retry-After`
/// ([`error_response`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overloaded {
    /// Why the request was refused.
    pub reason: OverloadReason,
    /// How long the caller should wait before retrying (the layer's configuration).
    pub retry_after: Duration,
}

/// Why [`LimitLayer`](crate::LimitLayer) refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverloadReason {
    /// The wait queue already held `max_queue` requests.
    QueueFull {
        /// The configured bound on waiting requests.
        max_queue: usize,
    },
    /// The request waited its whole `max_wait` without being admitted.
    MaxWait {
        /// The configured bound on one request's wait.
        max_wait: Duration,
    },
    /// Sojourn-time shedding: the queue has not been empty for a whole interval (a
    /// standing queue) and this request had already waited longer than the target.
    Sojourn {
        /// How long the request had waited.
        waited: Duration,
        /// The configured sojourn target.
        target: Duration,
    },
    /// The request's weight exceeds the current limit, so it could never be admitted.
    TooHeavy {
        /// The request's weight.
        weight: u64,
        /// The limit when it was refused.
        limit: u64,
    },
    /// The layer was closed ([`LimitLayer::close`](crate::LimitLayer::close)).
    Closed,
}

impl fmt::Display for Overloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "overloaded: {}", self.reason)
    }
}

impl fmt::Display for OverloadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverloadReason::QueueFull { max_queue } => {
                write!(f, "wait queue full ({max_queue} waiting)")
            }
            OverloadReason::MaxWait { max_wait } => {
                write!(f, "not admitted within max_wait ({max_wait:?})")
            }
            OverloadReason::Sojourn { waited, target } => write!(
                f,
                "shed from a standing queue after waiting {waited:?} (target {target:?})"
            ),
            OverloadReason::TooHeavy { weight, limit } => {
                write!(f, "request weight {weight} exceeds the limit {limit}")
            }
            OverloadReason::Closed => f.write_str("limit closed"),
        }
    }
}

impl Error for Overloaded {}

/// [`ScopeLayer`](crate::ScopeLayer): the request's deadline passed before its handler
/// answered; the handler and everything it spawned were cancelled. Maps to
/// `504 Gateway Timeout` ([`error_response`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineExceeded {
    /// The budget the request had: the configured timeout, or the tighter one the
    /// request carried, or, when the call was made inside an enclosing corral scope
    /// whose deadline came sooner, the time that scope had left.
    pub budget: Duration,
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request deadline exceeded ({:?})", self.budget)
    }
}

impl Error for DeadlineExceeded {}

/// [`ScopeLayer`](crate::ScopeLayer): the request's scope was stopped by hand
/// ([`Scope::cancel`](corral_scope::Scope::cancel) from the handler or one of its
/// children) before the handler answered; everything it spawned was cancelled. Neither
/// an overload nor a deadline, so [`error_response`] maps it to `500`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestCancelled;

impl fmt::Display for RequestCancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request scope cancelled before the handler answered")
    }
}

impl Error for RequestCancelled {}

/// The HTTP response for an error out of a corral-tower stack: [`Overloaded`] is `503`
/// with `Retry-After` (whole seconds, at least 1), [`DeadlineExceeded`] is `504`, any
/// other error `500`. The body is `B::default()` (empty).
///
/// With axum, in `HandleErrorLayer`:
/// `HandleErrorLayer::new(|err: BoxError| async move { corral_tower::error_response::<axum::body::Body>(&err) })`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral_tower::{error_response, BoxError, Overloaded, OverloadReason};
///
/// let err: BoxError = Box::new(Overloaded {
///     reason: OverloadReason::QueueFull { max_queue: 8 },
///     retry_after: Duration::from_secs(2),
/// });
/// let response = error_response::<String>(&err);
/// assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()[http::header::RETRY_AFTER], "2");
/// ```
pub fn error_response<B: Default>(err: &BoxError) -> http::Response<B> {
    let mut response = http::Response::new(B::default());
    if let Some(overloaded) = err.downcast_ref::<Overloaded>() {
        *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        let secs = overloaded.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    } else if err.is::<DeadlineExceeded>() {
        *response.status_mut() = http::StatusCode::GATEWAY_TIMEOUT;
    } else {
        *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    }
    response
}
