//! The service edge for tower, hyper and axum: where a Rust service puts its
//! concurrency bounds, with corral's.
//!
//! - [`LimitLayer`]: one layer for limit, queue and shedding. Concurrency bounded by a
//!   corral [`Semaphore`](corral_semaphore::Semaphore) (weights per request if you
//!   want), a bounded FIFO wait queue (`max_queue`, `max_wait`) instead of tower's
//!   choice between waiting without bound (`ConcurrencyLimit`) and refusing at once
//!   (`LoadShed`), sojourn-time (CoDel-style) shedding of stale waiters, and a typed
//!   [`Overloaded`] error. The limit is fixed or adaptive ([`Aimd`], [`Gradient2`],
//!   [`Vegas`], with guardrails).
//! - [`ScopeLayer`]: each request's handler runs in a corral scope with a deadline
//!   (configured, tightened by `grpc-timeout` or a header you name, never loosened);
//!   a client hang-up or the deadline cancels everything the handler spawned, and the
//!   deadline is a typed [`DeadlineExceeded`].
//! - [`TrackedExecutor`]: a `hyper::rt::Executor` that spawns tracked, named tasks, so
//!   hyper's connection tasks are in corral's census by role.
//! - [`error_response`]: `Overloaded` -> `503` + `Retry-After`, `DeadlineExceeded` ->
//!   `504`.
//!
//! | tower today | corral-tower |
//! |---|---|
//! | `ConcurrencyLimitLayer::new(n)` (waits without bound) | `LimitLayer::builder(n).max_queue(q).max_wait(w).build()?` |
//! | `LoadShedLayer` + `ConcurrencyLimitLayer` (refuses at once) | `LimitLayer::builder(n).max_queue(0).build()?` (refuses at the limit; waits for the inner service's own backpressure) |
//! | `TimeoutLayer` (drops the handler; its spawned tasks run on) | `ScopeLayer::new(timeout)` (cancels them too) |
//!
//! # When not to use this
//!
//! To limit the *rate* of requests (per second, per client), use a rate limiter
//! (`tower::limit::RateLimit`, `governor`): this crate bounds how much runs and waits at
//! once, not how often things start. For a limit shared by many processes, see
//! corral-fleet. If your service is not a tower `Service` (a hand-written accept loop),
//! use corral's `Semaphore` and `scope` directly.
//!
//! # Examples
//!
//! An axum router behind a limit of 64 requests (64 more may wait, 250 ms at most each),
//! every request in a scope with a 2 s deadline that a header can tighten. Here the
//! router is called directly; serve it with `axum::serve` or hyper-util (see
//! [`TrackedExecutor`]).
//!
//! ```
//! use std::time::Duration;
//! use axum::{body::Body, error_handling::HandleErrorLayer, routing::get, Router};
//! use corral_tower::{error_response, BoxError, LimitLayer, ScopeLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let limit = LimitLayer::builder(64)
//!     .max_queue(64)
//!     .max_wait(Duration::from_millis(250))
//!     .build()?;
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .route("/slow", get(|| async {
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!         "late"
//!     }))
//!     .layer(
//!         ServiceBuilder::new()
//!             // Overloaded -> 503 + Retry-After, DeadlineExceeded -> 504.
//!             .layer(HandleErrorLayer::new(|err: BoxError| async move {
//!                 error_response::<Body>(&err)
//!             }))
//!             .layer(limit)
//!             .layer(ScopeLayer::new(Duration::from_secs(2)).header("x-timeout-ms")),
//!     );
//!
//! let hello = app.clone().oneshot(http::Request::get("/").body(Body::empty())?).await?;
//! assert_eq!(hello.status(), 200);
//! // The request asks for 100 ms: tighter than the configured 2 s, so it wins.
//! let slow = http::Request::get("/slow").header("x-timeout-ms", "100").body(Body::empty())?;
//! assert_eq!(app.oneshot(slow).await?.status(), 504);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod adaptive;
mod error;
mod executor;
mod limit;
mod scope;

pub use crate::adaptive::{Aimd, Algorithm, Gradient2, Sample, Vegas};
pub use crate::error::{
    error_response, BoxError, DeadlineExceeded, OverloadReason, Overloaded, RequestCancelled,
};
pub use crate::executor::TrackedExecutor;
pub use crate::limit::{
    BuildError, Classify, ErrorsAreDrops, LimitBuilder, LimitLayer, LimitService, One, Outcome,
    ResponseFuture, Weight, DEFAULT_RETRY_AFTER, DEFAULT_SOJOURN_INTERVAL, DEFAULT_SOJOURN_TARGET,
};
pub use crate::scope::{RequestScope, ScopeLayer, ScopeResponse, ScopeService};
