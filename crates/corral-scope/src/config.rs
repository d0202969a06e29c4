//! `ScopeBuilder` / `ScopeConfig`: a scope with a deadline or a concurrency limit.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::core::Core;
use crate::error::BuildError;
use crate::handle::Scope;
use crate::scope::ScopeFuture;

/// The largest concurrency limit a scope supports.
pub const MAX_LIMIT: u64 = corral_semaphore::Semaphore::MAX_PERMITS;

/// Builds a [`ScopeConfig`]; validated by [`ScopeBuilder::build`].
///
/// ```
/// use std::time::Duration;
/// let config = corral_scope::ScopeConfig::builder()
///     .limit(8)
///     .timeout(Duration::from_secs(2))
///     .build()
///     .expect("valid scope config");
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScopeBuilder {
    limit: Option<u64>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    name: Option<String>,
    collect: bool,
}

impl ScopeBuilder {
    /// A builder for an unlimited scope with no deadline of its own.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `limit` children run at once; `spawn` waits for a slot (FIFO) and
    /// `try_spawn` refuses with `Full` at the limit.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The scope's deadline is `timeout` after the scope is created (the call to
    /// [`ScopeConfig::scope`]), or its parent's if that is sooner.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// An absolute deadline (combined with a timeout, the sooner wins; with the
    /// parent's, the sooner wins).
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Names every child of the scope in the tracked-task registry (snapshots, the
    /// census, leak reports). The name is shared by the children, not copied.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Keeps every error instead of stopping at the first (Go conc's `WithErrors`):
    /// a child's error no longer cancels the group, the scope waits for every child,
    /// and if any failed it yields
    /// [`ScopeError::Errors`](crate::ScopeError::Errors) with every error in arrival
    /// order. The body's own error still cancels the group (and joins the list); a
    /// panic, the deadline and [`Scope::cancel`](crate::Scope::cancel) still stop it.
    /// The first cause wins: errors after a deadline or a cancel are not reported.
    ///
    /// A scope that yields `Errors` drops its body's value, so the outputs of the
    /// children that succeeded do not come back next to the errors (conc's result pools
    /// return both): pass them out of the scope some other way (a channel the body
    /// sends the handles' outputs into), or have the children return their errors as
    /// values (`Ok(Err(e))`), which fails nothing and keeps every output in the body's
    /// value (conc's `WithCollectErrored`).
    ///
    /// Unlike a Trio nursery, which also reports every error (in an `ExceptionGroup`)
    /// but cancels the other children at the first one, the siblings here run on.
    ///
    /// ```
    /// use corral_scope::{ScopeConfig, ScopeError};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let config = ScopeConfig::builder().collect_errors().build().expect("valid");
    /// let out = config
    ///     .scope(|s| async move {
    ///         s.go(async { Err::<(), &str>("disk") });
    ///         s.go(async { Ok(()) });
    ///         s.go(async { Err::<(), &str>("network") });
    ///         Ok::<(), &str>(())
    ///     })
    ///     .await;
    /// let mut errors = out.unwrap_err().into_errors();
    /// errors.sort();
    /// assert_eq!(errors, ["disk", "network"]);
    /// # }
    /// ```
    pub fn collect_errors(mut self) -> Self {
        self.collect = true;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroLimit`] for a limit of 0; [`BuildError::LimitTooLarge`] above
    /// [`MAX_LIMIT`].
    pub fn build(self) -> Result<ScopeConfig, BuildError> {
        match self.limit {
            Some(0) => return Err(BuildError::ZeroLimit),
            Some(limit) if limit > MAX_LIMIT => {
                return Err(BuildError::LimitTooLarge {
                    limit,
                    max: MAX_LIMIT,
                })
            }
            _ => {}
        }
        Ok(ScopeConfig {
            limit: self.limit,
            timeout: self.timeout,
            deadline: self.deadline,
            named: self.name.map(|name| corral_task::Builder::new().name(name)),
            collect: self.collect,
        })
    }
}

/// A validated scope configuration: build it once (say, at startup), start any number
/// of scopes from it with [`ScopeConfig::scope`]. `Default` is an unlimited scope with
/// no deadline of its own, the same as [`scope`](crate::scope).
#[derive(Debug, Clone, Default)]
pub struct ScopeConfig {
    limit: Option<u64>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    named: Option<corral_task::Builder>,
    collect: bool,
}

impl ScopeConfig {
    /// Starts a [`ScopeBuilder`].
    pub fn builder() -> ScopeBuilder {
        ScopeBuilder::new()
    }

    /// The concurrency limit, if any.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Starts a scope with this configuration; see [`scope`](crate::scope).
    ///
    /// The deadline is fixed here: `min(parent's, self.deadline, now + self.timeout)`.
    /// Reaching it cancels the group (body and children) and the scope yields
    /// [`ScopeError::DeadlineExceeded`](crate::ScopeError::DeadlineExceeded) once the
    /// children are down. The owner's future enforces it (its timer wakes the owner,
    /// whose poll cancels the group), so the scope must be awaited, not just held.
    ///
    /// That poll first gives the body one more poll, and cancels only what is still
    /// running: a scope whose body returned `Ok` and whose children are all gone by
    /// then, but for background children (being stopped, not awaited), yields the
    /// body's value, however late its owner is polled after the deadline (on a loaded
    /// runtime, the work may have finished in time and the owner not been scheduled
    /// until after), as `tokio::time::timeout` returns a value that is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corral_scope::{ScopeConfig, ScopeError};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let config = ScopeConfig::builder()
    ///     .timeout(Duration::from_millis(50))
    ///     .build()
    ///     .expect("valid");
    /// let out = config
    ///     .scope(|s| async move {
    ///         s.spawn(async {
    ///             tokio::time::sleep(Duration::from_secs(10)).await;
    ///             Ok::<_, std::io::Error>(())
    ///         })
    ///         .await
    ///         .expect("open");
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert!(matches!(out, Err(ScopeError::DeadlineExceeded)));
    /// # }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As for [`scope`](crate::scope): dropping the future aborts every child at once.
    ///
    /// # Panics
    ///
    /// As for [`scope`](crate::scope): resumes a panic of a child or of the body in
    /// the owner once the group is down.
    pub fn scope<F, Fut, R, E>(&self, body: F) -> ScopeFuture<Fut, R, E>
    where
        F: FnOnce(Scope<E>) -> Fut,
        Fut: Future<Output = Result<R, E>>,
        E: Send + 'static,
    {
        let from_timeout = self
            .timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        let own = match (self.deadline, from_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        ScopeFuture::new(
            Core::new(own, self.limit, self.named.clone(), self.collect),
            body,
        )
    }
}
