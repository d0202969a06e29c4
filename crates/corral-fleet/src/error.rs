//! One error type per operation. Each names what was not granted, and Redis failures
//! carry the client's error.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Redis did not answer: the connection failed, or a command failed or timed out.
///
/// Cloneable (the source is shared), so one failure can be reported to several callers.
#[derive(Debug, Clone)]
pub struct Unreachable {
    source: Arc<redis::RedisError>,
}

impl Unreachable {
    pub(crate) fn new(err: redis::RedisError) -> Self {
        Unreachable {
            source: Arc::new(err),
        }
    }

    /// The Redis client's error.
    pub fn redis_error(&self) -> &redis::RedisError {
        &self.source
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis unreachable: {}", self.source)
    }
}

impl Error for Unreachable {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

impl From<redis::RedisError> for Unreachable {
    fn from(err: redis::RedisError) -> Self {
        Unreachable::new(err)
    }
}

/// Why [`FleetSemaphore::build`](crate::Builder::build) did not return a semaphore.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BuildError {
    /// The URL is not a Redis URL (`redis://`, `rediss://`, `redis+unix://`, `unix://`)
    /// nor `memory://`.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A setting is out of range.
    InvalidConfig(&'static str),
    /// Redis did not answer while the semaphore was being set up.
    Unreachable(Unreachable),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidUrl { url, reason } => write!(f, "invalid url {url:?}: {reason}"),
            BuildError::InvalidConfig(what) => write!(f, "invalid configuration: {what}"),
            BuildError::Unreachable(err) => err.fmt(f),
        }
    }
}

impl Error for BuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            BuildError::Unreachable(err) => Some(err),
            _ => None,
        }
    }
}

/// Why [`FleetSemaphore::acquire`](crate::FleetSemaphore::acquire) did not return a
/// permit.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AcquireError {
    /// The semaphore was closed before the permits were granted.
    Closed,
    /// More permits were requested than the semaphore holds in total. Returned at once
    /// when the request is made, and to a queued waiter when the capacity shrinks below
    /// its request.
    TooLarge {
        /// The number of permits requested.
        requested: u64,
        /// The semaphore's capacity when the request was refused.
        capacity: u64,
    },
    /// Redis did not answer for longer than the semaphore's lease (a waiter rides out
    /// shorter outages, such as a restart).
    Unreachable(Unreachable),
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireError::Closed => f.write_str("semaphore closed"),
            AcquireError::TooLarge {
                requested,
                capacity,
            } => too_large(f, *requested, *capacity),
            AcquireError::Unreachable(err) => err.fmt(f),
        }
    }
}

impl Error for AcquireError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AcquireError::Unreachable(err) => Some(err),
            _ => None,
        }
    }
}

/// Why [`FleetSemaphore::try_acquire`](crate::FleetSemaphore::try_acquire) did not
/// return a permit.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// The semaphore is closed.
    Closed,
    /// More permits were requested than the semaphore holds in total.
    TooLarge {
        /// The number of permits requested.
        requested: u64,
        /// The semaphore's capacity.
        capacity: u64,
    },
    /// Not enough permits are free right now, or other acquirers are already queued
    /// (`try_acquire` never jumps the queue).
    NoPermits {
        /// The number of permits requested.
        requested: u64,
        /// The permits that were free when the request was refused (they may be owed
        /// to queued waiters).
        available: u64,
    },
    /// Redis did not answer.
    Unreachable(Unreachable),
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::TooLarge {
                requested,
                capacity,
            } => too_large(f, *requested, *capacity),
            TryAcquireError::NoPermits {
                requested,
                available,
            } => write!(
                f,
                "requested {requested} permits but {available} are available to take without waiting"
            ),
            TryAcquireError::Unreachable(err) => err.fmt(f),
        }
    }
}

impl Error for TryAcquireError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TryAcquireError::Unreachable(err) => Some(err),
            _ => None,
        }
    }
}

/// Why [`FleetSemaphore::acquire_timeout`](crate::FleetSemaphore::acquire_timeout) did
/// not return a permit.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AcquireTimeoutError {
    /// The semaphore was closed before the permits were granted.
    Closed,
    /// More permits were requested than the semaphore holds in total.
    TooLarge {
        /// The number of permits requested.
        requested: u64,
        /// The semaphore's capacity when the request was refused.
        capacity: u64,
    },
    /// The permits were not granted within the timeout. The request has left the queue
    /// (best effort at once; its entry expires on the server in any case).
    Timeout {
        /// The number of permits requested.
        requested: u64,
        /// How long the request waited.
        timeout: Duration,
    },
    /// Redis did not answer.
    Unreachable(Unreachable),
}

impl fmt::Display for AcquireTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquireTimeoutError::Closed => f.write_str("semaphore closed"),
            AcquireTimeoutError::TooLarge {
                requested,
                capacity,
            } => too_large(f, *requested, *capacity),
            AcquireTimeoutError::Timeout { requested, timeout } => write!(
                f,
                "timed out after {timeout:?} waiting for {requested} permits"
            ),
            AcquireTimeoutError::Unreachable(err) => err.fmt(f),
        }
    }
}

impl Error for AcquireTimeoutError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AcquireTimeoutError::Unreachable(err) => Some(err),
            _ => None,
        }
    }
}

impl From<AcquireError> for AcquireTimeoutError {
    fn from(err: AcquireError) -> Self {
        match err {
            AcquireError::Closed => AcquireTimeoutError::Closed,
            AcquireError::TooLarge {
                requested,
                capacity,
            } => AcquireTimeoutError::TooLarge {
                requested,
                capacity,
            },
            AcquireError::Unreachable(err) => AcquireTimeoutError::Unreachable(err),
        }
    }
}

/// Why [`FleetPermit::release`](crate::FleetPermit::release) could not confirm that
/// the permits went back.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The server no longer held this permit: its lease ran out (or the server lost
    /// its data) before the release. The permits were already back.
    LeaseLost,
    /// Redis did not answer. The lease returns the permits when it runs out.
    Unreachable(Unreachable),
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::LeaseLost => f.write_str("lease lost before the release"),
            ReleaseError::Unreachable(err) => err.fmt(f),
        }
    }
}

impl Error for ReleaseError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ReleaseError::Unreachable(err) => Some(err),
            ReleaseError::LeaseLost => None,
        }
    }
}

fn too_large(f: &mut fmt::Formatter<'_>, requested: u64, capacity: u64) -> fmt::Result {
    write!(
        f,
        "requested {requested} permits but the semaphore's capacity is {capacity}"
    )
}
