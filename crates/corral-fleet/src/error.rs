//! One error type per operation. What an in-process semaphore would also answer is
//! corral-semaphore's error for that operation, wrapped; Redis failures carry the
//! client's error.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Redis did not answer: the connection failed (a call whose connection dropped is sent
/// once more on a fresh one first), or a command failed or timed out.
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
///
/// The answers an in-process [`Semaphore`](corral_semaphore::Semaphore) gives come as
/// its own error, so code written against one serves both; the fleet adds only
/// [`Unreachable`](AcquireError::Unreachable).
///
/// ```
/// use corral_fleet::AcquireError;
/// use corral_semaphore::AcquireError as Refused;
///
/// let err = AcquireError::from(Refused::TooLarge { requested: 5, capacity: 4 });
/// assert!(matches!(err, AcquireError::Semaphore(Refused::TooLarge { requested: 5, .. })));
/// assert_eq!(err.to_string(), "requested 5 permits but the semaphore's capacity is 4");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AcquireError {
    /// What the in-process semaphore answers in the same state:
    /// [`Closed`](corral_semaphore::AcquireError::Closed) before the grant, or
    /// [`TooLarge`](corral_semaphore::AcquireError::TooLarge), returned at once when the
    /// request is made and to a queued waiter when the capacity shrinks below its
    /// request.
    Semaphore(corral_semaphore::AcquireError),
    /// Redis did not answer for longer than the semaphore's lease (a waiter rides out
    /// shorter outages, such as a restart).
    Unreachable(Unreachable),
}

/// Why [`FleetSemaphore::try_acquire`](crate::FleetSemaphore::try_acquire) did not
/// return a permit.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// What the in-process semaphore answers in the same state: closed, too large, or
    /// [`NoPermits`](corral_semaphore::TryAcquireError::NoPermits) (not enough free, or
    /// others already queued: `try_acquire` never jumps the queue).
    Semaphore(corral_semaphore::TryAcquireError),
    /// Redis did not answer.
    Unreachable(Unreachable),
}

/// Why [`FleetSemaphore::acquire_timeout`](crate::FleetSemaphore::acquire_timeout) did
/// not return a permit.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AcquireTimeoutError {
    /// What the in-process semaphore answers in the same state: closed, too large, or
    /// [`Timeout`](corral_semaphore::AcquireTimeoutError::Timeout) (not granted within
    /// the timeout; the request has left the queue, best effort at once, and its entry
    /// expires on the server in any case).
    Semaphore(corral_semaphore::AcquireTimeoutError),
    /// Redis did not answer.
    Unreachable(Unreachable),
}

/// `Display`, `Error` and the conversion from the semaphore's error, for an error that
/// is either the in-process semaphore's answer or [`Unreachable`]. Both are shown as
/// they are (the semaphore's own message; "redis unreachable: ..."), so the source is
/// only the Redis client's error.
macro_rules! semaphore_or_unreachable {
    ($($name:ident),+) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::Semaphore(err) => err.fmt(f),
                    $name::Unreachable(err) => err.fmt(f),
                }
            }
        }

        impl Error for $name {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                match self {
                    $name::Semaphore(_) => None,
                    $name::Unreachable(err) => Some(err),
                }
            }
        }

        impl From<corral_semaphore::$name> for $name {
            fn from(err: corral_semaphore::$name) -> Self {
                $name::Semaphore(err)
            }
        }
    )+};
}

semaphore_or_unreachable!(AcquireError, TryAcquireError, AcquireTimeoutError);

impl From<AcquireError> for AcquireTimeoutError {
    fn from(err: AcquireError) -> Self {
        match err {
            AcquireError::Semaphore(err) => AcquireTimeoutError::Semaphore(err.into()),
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
