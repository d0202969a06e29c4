//! [`TrackedExecutor`]: a `hyper::rt::Executor` that spawns tracked, named tasks.

use std::future::Future;

use corral_task::Builder;

/// A [`hyper::rt::Executor`] that spawns each task through `corral_task` with a name
/// (its role: `"http-client-conn"`, `"h2-server-stream"`), so hyper's connection and
/// stream tasks are in the live-task registry, the census and leak reports by role,
/// instead of invisible `tokio::spawn`s.
///
/// # Which stacks take an executor
///
/// | stack | takes one? | what to do |
/// |---|---|---|
/// | `hyper_util::server::conn::auto::Builder::new(exec)` | yes: HTTP/2 stream tasks | pass a `TrackedExecutor`; spawn each connection's serve future with [`spawn_named`](Self::spawn_named) (your accept loop spawns those, not hyper) |
/// | `hyper::server::conn::http2::Builder::new(exec)` | yes | as above |
/// | `hyper_util::client::legacy::Client::builder(exec)` | yes: one task per pooled connection | pass a `TrackedExecutor` |
/// | `hyper::client::conn::http1::handshake` | no: it hands you the connection future | spawn it with [`spawn_named`](Self::spawn_named) |
/// | `axum::serve` | no: it spawns with `tokio::spawn` | serve with hyper-util's `auto::Builder` and this executor instead (the `gateway` example), or accept that connection tasks are untracked |
/// | `reqwest` | no: it builds its own hyper client | its connection tasks stay untracked; bound its DNS with corral's resolver (`corral-blocking`, feature `reqwest`) |
///
/// # Examples
///
/// ```
/// use corral_tower::TrackedExecutor;
/// use hyper::rt::Executor;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let exec = TrackedExecutor::new("http-client-conn");
/// let (tx, rx) = tokio::sync::oneshot::channel();
/// exec.execute(async move {
///     let named = corral_task::snapshot()
///         .iter()
///         .any(|t| t.name() == Some("http-client-conn"));
///     tx.send(named).unwrap();
/// });
/// assert!(rx.await.unwrap(), "the task is tracked under its role");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TrackedExecutor {
    builder: Builder,
}

impl TrackedExecutor {
    /// Spawns every task under the name `role`.
    pub fn new(role: impl Into<String>) -> Self {
        TrackedExecutor {
            builder: Builder::new().name(role),
        }
    }

    /// Spawns `future` as a tracked task under this executor's name (for the futures
    /// hyper hands back instead of spawning, such as a connection's serve future). The
    /// task is detached; the registry still lists it until it ends.
    ///
    /// # Cancel safety
    ///
    /// As `tokio::spawn`: dropping the returned `JoinHandle` detaches the task, it does
    /// not stop it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    #[track_caller]
    pub fn spawn_named<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.builder.clone().spawn(future)
    }
}

impl<F> hyper::rt::Executor<F> for TrackedExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    #[track_caller]
    fn execute(&self, future: F) {
        drop(self.spawn_named(future));
    }
}
