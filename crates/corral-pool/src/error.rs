//! One error type per operation. Every error of an operation that takes a job hands the
//! job back, unpolled.

use std::any::Any;
use std::fmt;

/// Why a [`JobHandle`](crate::JobHandle) has no output.
#[non_exhaustive]
pub enum JobError {
    /// The job panicked; the payload is the one `std::panic` caught. The worker that ran
    /// it keeps serving.
    Panicked(Box<dyn Any + Send + 'static>),
    /// The job was cancelled before it finished: [`JobHandle::abort`](crate::JobHandle::abort),
    /// a running job stopped by [`Pool::shutdown_now`](crate::Pool::shutdown_now), or
    /// queued or running work dropped with the pool or its runtime.
    Cancelled,
    /// The job never started: [`Pool::shutdown_now`](crate::Pool::shutdown_now) took it
    /// out of the queue and handed the future back to its caller.
    HandedBack,
}

impl JobError {
    /// Whether the job panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JobError::Panicked(_))
    }

    /// Whether the job was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JobError::Cancelled)
    }

    /// Whether the job was handed back by `shutdown_now`.
    pub fn is_handed_back(&self) -> bool {
        matches!(self, JobError::HandedBack)
    }

    /// The panic payload, to resume it with `std::panic::resume_unwind`.
    ///
    /// # Errors
    ///
    /// Returns `self` if the job did not panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JobError> {
        match self {
            JobError::Panicked(payload) => Ok(payload),
            other => Err(other),
        }
    }
}

/// The message of a panic payload (a `&str` or `String`), for display.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    corral_shared::panic_message(payload).unwrap_or("non-string payload")
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Panicked(p) => f
                .debug_tuple("Panicked")
                .field(&panic_message(&**p))
                .finish(),
            JobError::Cancelled => f.write_str("Cancelled"),
            JobError::HandedBack => f.write_str("HandedBack"),
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Panicked(p) => write!(f, "job panicked: {}", panic_message(&**p)),
            JobError::Cancelled => f.write_str("job was cancelled"),
            JobError::HandedBack => f.write_str("job was handed back before it started"),
        }
    }
}

impl std::error::Error for JobError {}

corral_shared::hand_back_error! {
    /// Why [`Pool::try_submit`](crate::Pool::try_submit) refused a job; the job is inside.
    pub TrySubmitError {
        /// No free worker and no free queue slot (or blocked submitters are ahead).
        Full => "pool is full",
        /// The pool was closed.
        Closed => "pool is closed",
    }
}

corral_shared::hand_back_error! {
    /// Why [`Pool::submit`](crate::Pool::submit) refused a job; the job is inside.
    pub SubmitError {
        /// The pool was closed before the job was accepted.
        Closed => "pool is closed",
    }
}

corral_shared::hand_back_error! {
    /// Why [`Pool::submit_timeout`](crate::Pool::submit_timeout) /
    /// [`Pool::submit_until`](crate::Pool::submit_until) refused a job; the job is inside.
    pub SubmitTimeoutError {
        /// The enqueue deadline passed before a slot was free.
        Timeout => "enqueue deadline elapsed while the pool was full",
        /// The pool was closed before the job was accepted.
        Closed => "pool is closed",
    }
}

/// Why [`Builder::build`](crate::Builder::build) refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `workers(n)` was never called; the concurrency bound must be chosen explicitly.
    WorkersNotSet,
    /// `workers(0)`: a pool that can never run anything.
    ZeroWorkers,
    /// More workers than [`MAX_WORKERS`](crate::MAX_WORKERS).
    TooManyWorkers {
        /// What was asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// A queue larger than [`MAX_QUEUE_CAPACITY`](crate::MAX_QUEUE_CAPACITY).
    QueueTooLarge {
        /// What was asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// `build()` was called outside a tokio runtime; use `build_on(&handle)`.
    NoRuntime,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::WorkersNotSet => f.write_str("number of workers not set"),
            BuildError::ZeroWorkers => f.write_str("a pool needs at least one worker"),
            BuildError::TooManyWorkers { requested, max } => {
                write!(f, "{requested} workers requested, at most {max} allowed")
            }
            BuildError::QueueTooLarge { requested, max } => {
                write!(
                    f,
                    "queue capacity {requested} requested, at most {max} allowed"
                )
            }
            BuildError::NoRuntime => {
                f.write_str("no tokio runtime to spawn workers on (use build_on)")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// Why [`Pool::resize`](crate::Pool::resize) refused a new worker count.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResizeError {
    /// `resize(0)`: use `close()` to stop a pool.
    ZeroWorkers,
    /// More workers than [`MAX_WORKERS`](crate::MAX_WORKERS).
    TooManyWorkers {
        /// What was asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// The pool is closed; its workers are leaving.
    Closed,
}

impl fmt::Display for ResizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResizeError::ZeroWorkers => f.write_str("a pool needs at least one worker"),
            ResizeError::TooManyWorkers { requested, max } => {
                write!(f, "{requested} workers requested, at most {max} allowed")
            }
            ResizeError::Closed => f.write_str("pool is closed"),
        }
    }
}

impl std::error::Error for ResizeError {}

/// [`Pool::drain`](crate::Pool::drain) reached its deadline with work still accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainError {
    /// Jobs still queued at the deadline.
    pub queued: usize,
    /// Jobs still running at the deadline.
    pub running: usize,
}

impl fmt::Display for DrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "drain deadline elapsed with {} jobs queued and {} running",
            self.queued, self.running
        )
    }
}

impl std::error::Error for DrainError {}
