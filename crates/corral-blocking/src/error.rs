//! The pool's error types: one per operation.

use std::any::Any;
use std::fmt;

/// Why [`Builder::build`](crate::Builder::build) refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `max_threads` was 0: such a pool could never run anything.
    ZeroThreads,
    /// The pool name was empty or contained a NUL byte (it prefixes thread names).
    InvalidName(String),
    /// The stack size is below the minimum this crate accepts.
    StackTooSmall {
        /// The size asked for, in bytes.
        requested: usize,
        /// The smallest accepted size, in bytes.
        minimum: usize,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroThreads => f.write_str("max_threads must be at least 1"),
            BuildError::InvalidName(name) => write!(
                f,
                "invalid pool name {name:?}: it must be non-empty and contain no NUL byte"
            ),
            BuildError::StackTooSmall { requested, minimum } => write!(
                f,
                "stack size of {requested} bytes is below the minimum of {minimum} bytes"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// Why a job submitted with [`BlockingPool::run`](crate::BlockingPool::run) or
/// [`BlockingPool::try_run`](crate::BlockingPool::try_run) produced no value.
#[non_exhaustive]
pub enum RunError {
    /// The closure panicked; this is the payload, ready for
    /// [`std::panic::resume_unwind`].
    Panicked(Box<dyn Any + Send + 'static>),
    /// The pool was shut down before the job started; the closure never ran.
    Closed,
    /// No pool thread was alive and a new one could not be spawned; the closure never
    /// ran.
    Spawn(std::io::Error),
}

impl RunError {
    /// Whether the closure panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, RunError::Panicked(_))
    }

    /// The panic payload, if the closure panicked.
    pub fn into_panic(self) -> Option<Box<dyn Any + Send + 'static>> {
        match self {
            RunError::Panicked(payload) => Some(payload),
            _ => None,
        }
    }
}

/// The panic message, when the payload is a string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Debug for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Panicked(payload) => f
                .debug_tuple("Panicked")
                .field(&panic_message(payload.as_ref()).unwrap_or("<non-string payload>"))
                .finish(),
            RunError::Closed => f.write_str("Closed"),
            RunError::Spawn(err) => f.debug_tuple("Spawn").field(err).finish(),
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Panicked(payload) => match panic_message(payload.as_ref()) {
                Some(msg) => write!(f, "blocking job panicked: {msg}"),
                None => f.write_str("blocking job panicked"),
            },
            RunError::Closed => f.write_str("blocking pool is shut down"),
            RunError::Spawn(err) => write!(f, "could not spawn a blocking pool thread: {err}"),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Spawn(err) => Some(err),
            _ => None,
        }
    }
}

/// Why [`BlockingPool::try_run`](crate::BlockingPool::try_run) refused a closure; the
/// closure is handed back.
#[non_exhaustive]
pub enum TryRunError<F> {
    /// Every thread is busy and the queue is full (or callers are already waiting for
    /// queue space: `try_run` never jumps that line).
    Full(F),
    /// The pool is shut down.
    Closed(F),
    /// No pool thread was alive and a new one could not be spawned.
    Spawn(F, std::io::Error),
}

impl<F> TryRunError<F> {
    /// The closure that was not accepted.
    pub fn into_inner(self) -> F {
        match self {
            TryRunError::Full(f) | TryRunError::Closed(f) | TryRunError::Spawn(f, _) => f,
        }
    }
}

impl<F> fmt::Debug for TryRunError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRunError::Full(_) => f.write_str("Full(..)"),
            TryRunError::Closed(_) => f.write_str("Closed(..)"),
            TryRunError::Spawn(_, err) => f.debug_tuple("Spawn").field(&"..").field(err).finish(),
        }
    }
}

impl<F> fmt::Display for TryRunError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRunError::Full(_) => f.write_str("blocking pool queue is full"),
            TryRunError::Closed(_) => f.write_str("blocking pool is shut down"),
            TryRunError::Spawn(_, err) => {
                write!(f, "could not spawn a blocking pool thread: {err}")
            }
        }
    }
}

impl<F> std::error::Error for TryRunError<F> {}
