//! `FleetSemaphore`: the public face over the two backends.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{AcquireError, AcquireTimeoutError, BuildError, TryAcquireError, Unreachable};
use crate::local::LocalBackend;
use crate::permit::{retry_delay, spawn_best_effort, FleetPermit};
use crate::redis::{Config, Event, RedisBackend, Reply};

/// The lease a permit gets when the builder is not given one.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// A weighted, FIFO semaphore shared by every process that opens the same name on the
/// same Redis (or, with a `memory://` URL, by the clones of one handle in one process).
///
/// Cloning is cheap and shares the handle (one Redis connection per
/// [`build`](Builder::build)). See the [crate docs](crate) for the guarantees.
#[derive(Clone)]
pub struct FleetSemaphore {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    backend: Backend,
}

enum Backend {
    Redis(Arc<RedisBackend>),
    Local(LocalBackend),
}

/// A snapshot of the semaphore's state (on Redis, as the server saw it, after reaping
/// expired leases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The total number of permits.
    pub capacity: u64,
    /// The permits free right now (queued waiters may be owed them).
    pub available: u64,
    /// The permits held (by live leases). May exceed `capacity` after a shrink.
    pub held: u64,
    /// The requests queued.
    pub waiters: u64,
    /// Whether [`close`](FleetSemaphore::close) was called.
    pub closed: bool,
}

/// Configures a [`FleetSemaphore`]. Made by [`FleetSemaphore::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is awaited"]
pub struct Builder {
    url: String,
    name: String,
    capacity: Option<u64>,
    lease: Duration,
    response_timeout: Option<Duration>,
}

impl Builder {
    /// The total number of permits (required). On Redis it creates the semaphore if it
    /// does not exist; a semaphore that exists keeps its capacity (change it with
    /// [`FleetSemaphore::set_capacity`]). If the server lost its data, the next script
    /// starts again from this capacity.
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// How long a permit stays held on the server without renewal (default
    /// [`DEFAULT_LEASE`]; at least 30 ms). Holders renew every third of it; a dead
    /// holder's permits come back within it (plus one renewal interval, the time until
    /// some process's script next runs). Queued waiters refresh their place every third
    /// of it too.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long one Redis call may take before it counts as failed (default: a third
    /// of the lease, at most 2 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// Connects (on Redis), creates the semaphore if it does not exist, and returns the
    /// handle.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidConfig`] if no capacity was given, it exceeds
    /// [`FleetSemaphore::MAX_PERMITS`], the name is empty or contains `{`
    /// or `}`, or the lease is under 30 ms; [`BuildError::InvalidUrl`] for a URL that
    /// is neither Redis's nor `memory://`; [`BuildError::Unreachable`] if Redis did
    /// not answer.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves nothing behind but, possibly, the semaphore's keys.
    pub async fn build(self) -> Result<FleetSemaphore, BuildError> {
        let capacity = self
            .capacity
            .ok_or(BuildError::InvalidConfig("capacity is required"))?;
        if capacity > FleetSemaphore::MAX_PERMITS {
            return Err(BuildError::InvalidConfig(
                "capacity exceeds FleetSemaphore::MAX_PERMITS",
            ));
        }
        if self.name.is_empty() || self.name.contains(['{', '}']) {
            return Err(BuildError::InvalidConfig(
                "the name must be non-empty, without '{' or '}'",
            ));
        }
        if self.lease < Duration::from_millis(30) {
            return Err(BuildError::InvalidConfig(
                "the lease must be at least 30 ms",
            ));
        }
        let backend = if self.url.starts_with("memory:") {
            Backend::Local(LocalBackend::new(capacity))
        } else {
            let config = Config {
                url: self.url,
                name: self.name.clone(),
                capacity,
                lease: self.lease,
                response_timeout: self
                    .response_timeout
                    .unwrap_or((self.lease / 3).min(Duration::from_secs(2))),
            };
            Backend::Redis(Arc::new(RedisBackend::connect(&config).await?))
        };
        Ok(FleetSemaphore {
            inner: Arc::new(Inner {
                name: self.name,
                backend,
            }),
        })
    }
}

impl FleetSemaphore {
    /// The largest capacity (2^53 - 1, on both backends). The server-side scripts count
    /// in Redis's Lua numbers, which are doubles: every integer up to 2^53 is exact,
    /// above it sums and comparisons round (a capacity of 2^62 - 1 would report 2^62
    /// and grant all of it while 1 is held). Requests above the capacity still fail
    /// at once with `TooLarge`, whatever their size.
    pub const MAX_PERMITS: u64 = (1 << 53) - 1;

    /// Starts configuring the semaphore `name` at `url`: a Redis URL
    /// (`redis://127.0.0.1:6379/`, `rediss://...`, `redis+unix:///path`), or
    /// `memory://` for the in-process backend (corral's `Semaphore`: the same API
    /// without Redis, for tests and single-process deployments).
    pub fn builder(url: impl Into<String>, name: impl Into<String>) -> Builder {
        Builder {
            url: url.into(),
            name: name.into(),
            capacity: None,
            lease: DEFAULT_LEASE,
            response_timeout: None,
        }
    }

    /// The semaphore's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether this handle is on the in-process backend.
    pub fn is_in_process(&self) -> bool {
        matches!(self.inner.backend, Backend::Local(_))
    }

    /// Waits for `n` permits, in FIFO order across every process.
    ///
    /// `n == 0` succeeds at once (unless closed). A request above the capacity fails at
    /// once with [`TooLarge`](corral_semaphore::AcquireError::TooLarge). On Redis a queued request is woken by a
    /// notification, and refreshes its place every third of a lease (which also covers
    /// a notification lost with a connection); it rides out Redis outages shorter than
    /// a lease (after a restart that lost the queue it queues again, behind whoever
    /// queued first).
    ///
    /// # Errors
    ///
    /// [`AcquireError::Semaphore`] with what the in-process semaphore answers:
    /// [`Closed`](corral_semaphore::AcquireError::Closed) if the semaphore is or becomes
    /// closed before the grant, [`TooLarge`](corral_semaphore::AcquireError::TooLarge)
    /// if `n` exceeds the capacity, now or after a shrink while waiting.
    /// [`AcquireError::Unreachable`] if Redis did not answer for a lease.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future gives up its place in the queue at once (best
    /// effort: a script run from a tracked task; the entry also expires by itself
    /// within a lease), and a grant that raced with the drop is released the same way.
    pub fn acquire(&self, n: u64) -> Acquire {
        let this = self.clone();
        Acquire {
            fut: Box::pin(async move {
                match &this.inner.backend {
                    Backend::Local(local) => local.acquire(n).await,
                    Backend::Redis(redis) => acquire_redis(Arc::clone(redis), n).await,
                }
            }),
        }
    }

    /// Takes `n` permits if that is possible without waiting: the queue is empty and
    /// `n` are free.
    ///
    /// # Errors
    ///
    /// [`NoPermits`](corral_semaphore::TryAcquireError::NoPermits) if not
    /// (`try_acquire` never jumps the queue); `Closed`, `TooLarge` as
    /// [`acquire`](Self::acquire) (all three inside [`TryAcquireError::Semaphore`]);
    /// [`TryAcquireError::Unreachable`] if Redis did not answer.
    ///
    /// # Cancel safety
    ///
    /// On Redis, dropping the future after the request was sent may leave a grant
    /// nobody holds; it is released when its lease runs out.
    pub async fn try_acquire(&self, n: u64) -> Result<FleetPermit, TryAcquireError> {
        match &self.inner.backend {
            Backend::Local(local) => local.try_acquire(n),
            Backend::Redis(redis) => {
                let id = redis.new_id();
                let sent = Instant::now();
                match redis.acquire(&id, n, true).await {
                    Ok(Reply::Granted { fence, lease_left }) => Ok(FleetPermit::redis(
                        Arc::clone(redis),
                        id,
                        n,
                        fence,
                        sent + lease_left,
                    )),
                    Ok(Reply::Closed) => Err(corral_semaphore::TryAcquireError::Closed.into()),
                    Ok(Reply::TooLarge { capacity }) => {
                        Err(corral_semaphore::TryAcquireError::TooLarge {
                            requested: n,
                            capacity,
                        }
                        .into())
                    }
                    Ok(Reply::NoPermits { available }) => {
                        Err(corral_semaphore::TryAcquireError::NoPermits {
                            requested: n,
                            available,
                        }
                        .into())
                    }
                    // `try` mode never queues; a reply it cannot give is a protocol fault.
                    Ok(Reply::Queued) => Err(TryAcquireError::Unreachable(crate::redis::protocol(
                        "try_acquire queued",
                    ))),
                    Err(err) => Err(TryAcquireError::Unreachable(err)),
                }
            }
        }
    }

    /// Waits for `n` permits for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Timeout`](corral_semaphore::AcquireTimeoutError::Timeout) (inside
    /// [`AcquireTimeoutError::Semaphore`]) if the permits were not granted in time (the
    /// request has left the queue, as when an [`acquire`](Self::acquire) future is
    /// dropped); otherwise as [`acquire`](Self::acquire).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    pub async fn acquire_timeout(
        &self,
        n: u64,
        timeout: Duration,
    ) -> Result<FleetPermit, AcquireTimeoutError> {
        match tokio::time::timeout(timeout, self.acquire(n)).await {
            Ok(result) => result.map_err(AcquireTimeoutError::from),
            Err(_) => Err(corral_semaphore::AcquireTimeoutError::Timeout {
                requested: n,
                timeout,
            }
            .into()),
        }
    }

    /// Sets the total number of permits. Growing grants the waiters that now fit;
    /// shrinking is lazy (held permits are absorbed as they are released); queued
    /// requests larger than the new capacity fail with
    /// [`TooLarge`](corral_semaphore::AcquireError::TooLarge).
    ///
    /// # Errors
    ///
    /// [`Unreachable`] if Redis did not answer (the capacity may or may not have
    /// changed).
    ///
    /// # Panics
    ///
    /// If `capacity` exceeds [`FleetSemaphore::MAX_PERMITS`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future after the request was sent leaves the change unknown.
    pub async fn set_capacity(&self, capacity: u64) -> Result<(), Unreachable> {
        assert!(
            capacity <= FleetSemaphore::MAX_PERMITS,
            "fleet semaphore capacity exceeds FleetSemaphore::MAX_PERMITS"
        );
        match &self.inner.backend {
            Backend::Local(local) => {
                local.sem.set_capacity(capacity);
                Ok(())
            }
            Backend::Redis(redis) => redis.set_capacity(capacity).await,
        }
    }

    /// Closes the semaphore for every process: queued waiters and later acquires fail
    /// with `Closed`; held permits stay valid (and keep renewing). On Redis the flag
    /// lives in the semaphore's keys: a restart that loses the data reopens it.
    ///
    /// # Errors
    ///
    /// [`Unreachable`] if Redis did not answer.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future after the request was sent leaves the outcome unknown.
    pub async fn close(&self) -> Result<(), Unreachable> {
        match &self.inner.backend {
            Backend::Local(local) => {
                local.sem.close();
                Ok(())
            }
            Backend::Redis(redis) => redis.close().await,
        }
    }

    /// The semaphore's state now (one script on Redis, which reaps expired leases
    /// first).
    ///
    /// # Errors
    ///
    /// [`Unreachable`] if Redis did not answer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing but expired leases.
    pub async fn status(&self) -> Result<Status, Unreachable> {
        match &self.inner.backend {
            Backend::Local(local) => {
                let sem = &local.sem;
                Ok(Status {
                    capacity: sem.capacity(),
                    available: sem.available(),
                    // Relaxed: a snapshot, as the semaphore's own counts are.
                    held: local.held.load(std::sync::atomic::Ordering::Relaxed),
                    waiters: sem.waiters() as u64,
                    closed: sem.is_closed(),
                })
            }
            Backend::Redis(redis) => {
                let s = redis.state().await?;
                Ok(Status {
                    capacity: s.capacity,
                    available: s.available,
                    held: s.held,
                    waiters: s.waiters,
                    closed: s.closed,
                })
            }
        }
    }

    /// The total number of permits. As [`status`](Self::status).
    ///
    /// # Errors
    ///
    /// [`Unreachable`] if Redis did not answer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn capacity(&self) -> Result<u64, Unreachable> {
        Ok(self.status().await?.capacity)
    }

    /// The permits free now. As [`status`](Self::status).
    ///
    /// # Errors
    ///
    /// [`Unreachable`] if Redis did not answer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn available(&self) -> Result<u64, Unreachable> {
        Ok(self.status().await?.available)
    }

    /// The requests queued now. As [`status`](Self::status).
    ///
    /// # Errors
    ///
    /// [`Unreachable`] if Redis did not answer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn waiters(&self) -> Result<u64, Unreachable> {
        Ok(self.status().await?.waiters)
    }

    /// The held-permit count the server keeps, and the sum of every live holder's
    /// count, for tests that check the two agree.
    #[doc(hidden)]
    pub async fn __held_cross_check(&self) -> Result<(u64, u64), Unreachable> {
        match &self.inner.backend {
            Backend::Local(_) => {
                let s = self.status().await?;
                Ok((s.held, s.held))
            }
            Backend::Redis(redis) => {
                let s = redis.state().await?;
                Ok((s.held, s.held_sum))
            }
        }
    }
}

impl fmt::Debug for FleetSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend: &dyn fmt::Debug = match &self.inner.backend {
            Backend::Redis(redis) => redis,
            Backend::Local(local) => local,
        };
        f.debug_struct("FleetSemaphore")
            .field("name", &self.inner.name)
            .field("backend", backend)
            .finish()
    }
}

/// The future of [`FleetSemaphore::acquire`].
#[must_use = "futures do nothing unless polled; dropping it gives up the place in the queue"]
pub struct Acquire {
    fut: Pin<Box<dyn Future<Output = Result<FleetPermit, AcquireError>> + Send>>,
}

impl Future for Acquire {
    type Output = Result<FleetPermit, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.fut.as_mut().poll(cx)
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").finish_non_exhaustive()
    }
}

/// A queued request on Redis: leaves the queue (or releases a grant that raced) when
/// dropped before it returned a permit or a final error.
struct Pending {
    backend: Arc<RedisBackend>,
    id: String,
    armed: bool,
}

impl Pending {
    /// The server refused the request for `n` (closed, or too large for the capacity
    /// given): it never queued it or has dropped it, so there is nothing to leave.
    fn refused(&mut self, n: u64, too_large_for: Option<u64>) -> AcquireError {
        self.armed = false;
        match too_large_for {
            None => corral_semaphore::AcquireError::Closed,
            Some(capacity) => corral_semaphore::AcquireError::TooLarge {
                requested: n,
                capacity,
            },
        }
        .into()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.backend.inbox.remove_waiter(&self.id);
        if self.armed {
            let backend = Arc::clone(&self.backend);
            let id = std::mem::take(&mut self.id);
            spawn_best_effort(async move {
                let _ = backend.leave(&id).await;
            });
        }
    }
}

async fn acquire_redis(backend: Arc<RedisBackend>, n: u64) -> Result<FleetPermit, AcquireError> {
    let id = backend.new_id();
    let slot = backend.inbox.register_waiter(&id);
    let mut pending = Pending {
        backend: Arc::clone(&backend),
        id: id.clone(),
        armed: true,
    };
    let heartbeat = backend.heartbeat();
    let mut last_ok = Instant::now();
    loop {
        let sent = Instant::now();
        match backend.acquire(&id, n, false).await {
            Ok(Reply::Granted { fence, lease_left }) => {
                pending.armed = false;
                return Ok(FleetPermit::redis(backend, id, n, fence, sent + lease_left));
            }
            Ok(Reply::Queued) => last_ok = Instant::now(),
            Ok(Reply::Closed) => return Err(pending.refused(n, None)),
            Ok(Reply::TooLarge { capacity }) => return Err(pending.refused(n, Some(capacity))),
            // Only `try` mode answers this; treat it as "ask again".
            Ok(Reply::NoPermits { .. }) => {}
            Err(err) => {
                if last_ok.elapsed() >= backend.lease {
                    return Err(AcquireError::Unreachable(err));
                }
                tokio::time::sleep(retry_delay(heartbeat)).await;
                continue;
            }
        }
        // The grant happened after the call above ran on the server (it answered
        // "queued"), so `sent + lease` is a lower bound of the lease's end.
        match slot.next(heartbeat).await {
            Some(Event::Granted { fence, lease }) => {
                pending.armed = false;
                return Ok(FleetPermit::redis(backend, id, n, fence, sent + lease));
            }
            Some(Event::Closed) => return Err(pending.refused(n, None)),
            Some(Event::TooLarge { capacity }) => return Err(pending.refused(n, Some(capacity))),
            Some(Event::Recheck) | None => {}
        }
    }
}
