//! One error type per operation. Each names the request that was not accepted.

use std::error::Error;
use std::fmt;
#[cfg(feature = "tokio")]
use std::time::Duration;

/// Why [`Semaphore::acquire`](crate::Semaphore::acquire) (and its owned and poll
/// variants) did not return permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcquireError {
    /// The semaphore was closed before the permits were granted.
    Closed,
    /// More permits were requested than the semaphore holds in total, so the request
    /// could never be granted. Returned at once when the request is made, and to a
    /// queued waiter when [`set_capacity`](crate::Semaphore::set_capacity) or
    /// [`forget`](crate::Permit::forget) shrinks the capacity below its request.
    TooLarge {
        /// The number of permits requested.
        requested: u64,
        /// The semaphore's capacity when the request was refused.
        capacity: u64,
    },
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AcquireError::Closed => f.write_str("semaphore closed"),
            AcquireError::TooLarge {
                requested,
                capacity,
            } => too_large(f, requested, capacity),
        }
    }
}

impl Error for AcquireError {}

/// Why [`Semaphore::try_acquire`](crate::Semaphore::try_acquire) (or
/// [`try_acquire_owned`](crate::Semaphore::try_acquire_owned)) did not return permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
        /// The permits that were free when the request was refused (they may be
        /// reserved for queued waiters).
        available: u64,
    },
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::TooLarge {
                requested,
                capacity,
            } => too_large(f, requested, capacity),
            TryAcquireError::NoPermits {
                requested,
                available,
            } => write!(
                f,
                "requested {requested} permits but {available} are available to take without waiting"
            ),
        }
    }
}

impl Error for TryAcquireError {}

impl From<AcquireError> for TryAcquireError {
    fn from(err: AcquireError) -> Self {
        match err {
            AcquireError::Closed => TryAcquireError::Closed,
            AcquireError::TooLarge {
                requested,
                capacity,
            } => TryAcquireError::TooLarge {
                requested,
                capacity,
            },
        }
    }
}

/// Why [`Semaphore::acquire_timeout`](crate::Semaphore::acquire_timeout) did not return
/// permits.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// The permits were not granted within the timeout. The request has left the
    /// queue.
    Timeout {
        /// The number of permits requested.
        requested: u64,
        /// How long the request waited.
        timeout: Duration,
    },
}

#[cfg(feature = "tokio")]
impl fmt::Display for AcquireTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AcquireTimeoutError::Closed => f.write_str("semaphore closed"),
            AcquireTimeoutError::TooLarge {
                requested,
                capacity,
            } => too_large(f, requested, capacity),
            AcquireTimeoutError::Timeout { requested, timeout } => {
                write!(
                    f,
                    "timed out after {timeout:?} waiting for {requested} permits"
                )
            }
        }
    }
}

#[cfg(feature = "tokio")]
impl Error for AcquireTimeoutError {}

#[cfg(feature = "tokio")]
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
        }
    }
}

fn too_large(f: &mut fmt::Formatter<'_>, requested: u64, capacity: u64) -> fmt::Result {
    write!(
        f,
        "requested {requested} permits but the semaphore's capacity is {capacity}"
    )
}
