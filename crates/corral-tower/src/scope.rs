//! [`ScopeLayer`]: every request's handler runs in a corral scope with a deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use corral_scope::{Scope, ScopeConfig, ScopeError, ScopeFuture};
use http::{HeaderName, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{BoxError, DeadlineExceeded, RequestCancelled};

/// The scope a request's handler runs in, found in the request's extensions (axum:
/// `Extension(scope): Extension<RequestScope>`). Spawn the request's children with
/// [`Scope::spawn`]; they are cancelled when the client hangs up or the deadline passes,
/// and the response waits for them. Nested `corral::scope`s in the handler nest under it.
pub type RequestScope = Scope<BoxError>;

type NameFn = dyn Fn(&http::request::Parts) -> String + Send + Sync;

struct Settings {
    timeout: Option<Duration>,
    header: Option<HeaderName>,
    grpc_timeout: bool,
    name: Option<Box<NameFn>>,
}

/// Runs each request's handler inside a corral scope (`corral_scope::ScopeConfig::scope`)
/// named after the route, with a deadline: the configured timeout, tightened by the
/// request's own (`grpc-timeout`, or a header you name, in milliseconds), never
/// loosened.
///
/// - A client that hangs up (hyper drops the response future) cancels the handler and
///   aborts every child it spawned through its [`RequestScope`], at once.
/// - The deadline cancels them too, and the call fails with [`DeadlineExceeded`]
///   (boxed), which [`error_response`](crate::error_response) maps to `504`.
/// - The response is returned only once every child is down: nothing spawned for a
///   request outlives it.
/// - Called inside a corral scope (a client-side stack used from scoped work), the
///   request's scope nests under it: the enclosing deadline applies too, and when it
///   comes first, [`DeadlineExceeded::budget`] is the time that scope had left.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral_tower::{RequestScope, ScopeLayer};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let layer = ScopeLayer::new(Duration::from_secs(2)).header("x-timeout-ms");
/// let svc = layer.layer(service_fn(|req: http::Request<()>| async move {
///     let scope = req.extensions().get::<RequestScope>().expect("set by ScopeLayer").clone();
///     // A child that would hang: the 200 ms the request asked for cancels it.
///     scope.spawn(std::future::pending::<Result<(), corral_tower::BoxError>>()).await.unwrap();
///     Ok::<_, corral_tower::BoxError>(http::Response::new(()))
/// }));
/// let req = http::Request::builder().header("x-timeout-ms", "200").body(()).unwrap();
/// let err = svc.oneshot(req).await.unwrap_err();
/// assert_eq!(corral_tower::error_response::<()>(&err).status(), 504);
/// # }
/// ```
#[derive(Clone)]
pub struct ScopeLayer {
    settings: Arc<Settings>,
}

impl ScopeLayer {
    /// Every request gets at most `timeout`; `grpc-timeout` is honoured when tighter.
    pub fn new(timeout: Duration) -> Self {
        ScopeLayer::build(Some(timeout))
    }

    /// No configured deadline: a request gets the one it carries, if any.
    pub fn without_timeout() -> Self {
        ScopeLayer::build(None)
    }

    fn build(timeout: Option<Duration>) -> Self {
        ScopeLayer {
            settings: Arc::new(Settings {
                timeout,
                header: None,
                grpc_timeout: true,
                name: None,
            }),
        }
    }

    fn settings_mut(&mut self) -> &mut Settings {
        Arc::get_mut(&mut self.settings).expect("ScopeLayer is configured before it is cloned")
    }

    /// Also honours this header's value, whole milliseconds (`x-timeout-ms: 250`), when
    /// tighter than the configured timeout. An unparsable value is ignored.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid header name, or the layer was cloned already.
    pub fn header(mut self, name: &str) -> Self {
        let name = HeaderName::try_from(name).expect("a valid header name");
        self.settings_mut().header = Some(name);
        self
    }

    /// Whether `grpc-timeout` tightens the deadline (default: yes).
    ///
    /// # Panics
    ///
    /// If the layer was cloned already.
    pub fn grpc_timeout(mut self, honour: bool) -> Self {
        self.settings_mut().grpc_timeout = honour;
        self
    }

    /// Names each request's scope (its children in the census and leak reports).
    /// Default: the request's path. With axum, name by the matched route to keep the
    /// census small: `|parts| parts.extensions.get::<MatchedPath>().map_or(..)`.
    ///
    /// # Panics
    ///
    /// If the layer was cloned already.
    pub fn name_with(
        mut self,
        name: impl Fn(&http::request::Parts) -> String + Send + Sync + 'static,
    ) -> Self {
        self.settings_mut().name = Some(Box::new(name));
        self
    }
}

impl fmt::Debug for ScopeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeLayer")
            .field("timeout", &self.settings.timeout)
            .field("header", &self.settings.header)
            .field("grpc_timeout", &self.settings.grpc_timeout)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for ScopeLayer {
    type Service = ScopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ScopeService {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service [`ScopeLayer`] builds; its error is a [`BoxError`]: [`DeadlineExceeded`]
/// or the inner service's error.
#[derive(Clone)]
pub struct ScopeService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S: fmt::Debug> fmt::Debug for ScopeService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for ScopeService<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ScopeResponse<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let settings = &*self.settings;
        let carried = [
            settings
                .grpc_timeout
                .then(|| parts.headers.get("grpc-timeout"))
                .flatten()
                .and_then(|v| parse_grpc_timeout(v.as_bytes())),
            settings
                .header
                .as_ref()
                .and_then(|name| parts.headers.get(name))
                .and_then(|v| parse_millis(v.as_bytes())),
        ];
        let budget = carried.into_iter().flatten().chain(settings.timeout).min();
        let name = match &settings.name {
            Some(name) => name(&parts),
            None => parts.uri.path().to_owned(),
        };
        let mut config = ScopeConfig::builder().name(name);
        if let Some(budget) = budget {
            config = config.timeout(budget);
        }
        // A scope without a limit always builds.
        let config = config.build().expect("a scope without a limit is valid");
        // Called inside an enclosing corral scope, the request's scope nests under it and
        // takes the earlier deadline: when the enclosing one is tighter, the time it has
        // left is the budget the request really has. (No clock read otherwise.)
        let budget = match corral_scope::current_deadline() {
            Some(outer) => {
                let left = outer.saturating_duration_since(tokio::time::Instant::now());
                Some(budget.map_or(left, |own| own.min(left)))
            }
            None => budget,
        };
        let inner = &mut self.inner;
        let scope = config.scope(move |scope: RequestScope| {
            parts.extensions.insert(scope);
            MapErr {
                fut: inner.call(Request::from_parts(parts, body)),
            }
        });
        ScopeResponse { scope, budget }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ScopeService`]: the request's scope.
    ///
    /// # Cancel safety
    ///
    /// Dropping it (a client hang-up) cancels the handler and aborts every child of the
    /// request's scope at once.
    #[must_use = "futures do nothing unless polled; dropping it cancels the request and its children"]
    pub struct ScopeResponse<F, R> {
        #[pin]
        scope: ScopeFuture<MapErr<F>, R, BoxError>,
        budget: Option<Duration>,
    }
}

impl<F, R> fmt::Debug for ScopeResponse<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeResponse")
            .field("scope", &self.scope)
            .field("budget", &self.budget)
            .finish()
    }
}

impl<F, R, E> Future for ScopeResponse<F, R>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match ready!(this.scope.poll(cx)) {
            Ok(response) => Ok(response),
            Err(ScopeError::Failed(err)) => Err(err),
            Err(ScopeError::DeadlineExceeded) => Err(Box::new(DeadlineExceeded {
                budget: this.budget.unwrap_or_default(),
            })),
            // A request scope does not collect errors, but if it did, the first one is
            // the answer (the list is never empty).
            Err(ScopeError::Errors(errors)) => Err(errors
                .into_iter()
                .next()
                .unwrap_or_else(|| Box::new(RequestCancelled))),
            Err(ScopeError::Cancelled) => Err(Box::new(RequestCancelled)),
        })
    }
}

pin_project_lite::pin_project! {
    /// The inner call with its error boxed: the scope's body.
    #[doc(hidden)]
    pub struct MapErr<F> {
        #[pin]
        fut: F,
    }
}

impl<F, R, E> Future for MapErr<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().fut.poll(cx).map_err(Into::into)
    }
}

/// Whole milliseconds, ASCII digits only.
fn parse_millis(value: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    text.parse::<u64>().ok().map(Duration::from_millis)
}

/// gRPC's `grpc-timeout`: at most 8 ASCII digits and a unit (`H M S m u n`).
fn parse_grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_timeouts() {
        assert_eq!(parse_grpc_timeout(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout(b"2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout(b"3S"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_grpc_timeout(b"250m"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_grpc_timeout(b"7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout(b"9n"), Some(Duration::from_nanos(9)));
        for bad in [&b""[..], b"m", b"123456789m", b"12x", b"-1S", b"1.5S"] {
            assert_eq!(
                parse_grpc_timeout(bad),
                None,
                "{:?}",
                std::str::from_utf8(bad)
            );
        }
    }

    #[test]
    fn parses_millis() {
        assert_eq!(parse_millis(b" 250 "), Some(Duration::from_millis(250)));
        assert_eq!(parse_millis(b"-5"), None);
        assert_eq!(parse_millis(b"soon"), None);
    }
}
