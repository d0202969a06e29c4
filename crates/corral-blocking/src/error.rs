//! The error types of the pool and the resolver: one per operation.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

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

/// Why a lookup through a [`Resolver`](crate::Resolver) failed.
///
/// Cheap to clone: coalesced waiters share one error (the `source` of a failed lookup
/// is the same `Arc` for all of them).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LookupError {
    /// The lookup function failed; with the system resolver this includes unknown
    /// hosts (`getaddrinfo`'s `EAI_NONAME`), which std reports as an I/O error.
    Resolve {
        /// The host that was looked up.
        host: Arc<str>,
        /// The lookup function's error.
        source: Arc<std::io::Error>,
    },
    /// The lookup succeeded but returned no address.
    NoAddresses {
        /// The host that was looked up.
        host: Arc<str>,
    },
    /// This caller's wait exceeded its timeout. The lookup itself goes on for the
    /// other waiters (and the cache).
    TimedOut {
        /// The host that was looked up.
        host: Arc<str>,
        /// The timeout that expired.
        after: Duration,
    },
    /// The lookup function panicked.
    Panicked {
        /// The host that was looked up.
        host: Arc<str>,
        /// The panic message, if it was a string.
        message: Option<Arc<str>>,
    },
    /// The resolver's pool is shut down.
    Closed,
    /// No pool thread could be spawned.
    Spawn(Arc<std::io::Error>),
    /// The target given to [`lookup_host`](crate::lookup_host) or
    /// [`Resolver::lookup`](crate::Resolver::lookup) is not `"host:port"` (or
    /// `"[v6]:port"`).
    InvalidInput {
        /// The target as given.
        target: Arc<str>,
    },
}

impl LookupError {
    /// Whether the host does not exist (or has no address), as far as the lookup
    /// function can tell: an `io::ErrorKind::NotFound` error, `getaddrinfo`'s
    /// "name or service not known" / "no address associated" texts, or no addresses.
    pub fn is_not_found(&self) -> bool {
        match self {
            LookupError::NoAddresses { .. } => true,
            LookupError::Resolve { source, .. } => {
                if source.kind() == std::io::ErrorKind::NotFound {
                    return true;
                }
                let text = source.to_string().to_ascii_lowercase();
                text.contains("not known")
                    || text.contains("no address associated")
                    || text.contains("nodename nor servname")
            }
            _ => false,
        }
    }

    /// Whether this caller timed out waiting.
    pub fn is_timeout(&self) -> bool {
        matches!(self, LookupError::TimedOut { .. })
    }
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::Resolve { host, source } => {
                write!(f, "failed to resolve {host:?}: {source}")
            }
            LookupError::NoAddresses { host } => write!(f, "no addresses found for {host:?}"),
            LookupError::TimedOut { host, after } => {
                write!(f, "lookup of {host:?} timed out after {after:?}")
            }
            LookupError::Panicked { host, message } => match message {
                Some(msg) => write!(f, "lookup of {host:?} panicked: {msg}"),
                None => write!(f, "lookup of {host:?} panicked"),
            },
            LookupError::Closed => f.write_str("resolver pool is shut down"),
            LookupError::Spawn(err) => write!(f, "could not spawn a resolver thread: {err}"),
            LookupError::InvalidInput { target } => {
                write!(
                    f,
                    "invalid socket address {target:?}: expected \"host:port\""
                )
            }
        }
    }
}

impl std::error::Error for LookupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LookupError::Resolve { source, .. } | LookupError::Spawn(source) => {
                Some(source.as_ref())
            }
            _ => None,
        }
    }
}

/// Converts to an `io::Error`, for code written against `tokio::net::lookup_host`.
impl From<LookupError> for std::io::Error {
    fn from(err: LookupError) -> Self {
        let kind = match &err {
            LookupError::TimedOut { .. } => std::io::ErrorKind::TimedOut,
            LookupError::Resolve { source, .. } => source.kind(),
            LookupError::NoAddresses { .. } => std::io::ErrorKind::NotFound,
            LookupError::InvalidInput { .. } => std::io::ErrorKind::InvalidInput,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, err)
    }
}

/// Why [`ResolverBuilder::build`](crate::ResolverBuilder::build) refused a
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolverBuildError {
    /// The resolver's own pool configuration was refused.
    Pool(BuildError),
    /// A timeout of zero would fail every lookup.
    ZeroTimeout,
    /// A cache TTL was set with a cache capacity of zero.
    ZeroCacheCapacity,
}

impl fmt::Display for ResolverBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolverBuildError::Pool(err) => write!(f, "invalid resolver pool: {err}"),
            ResolverBuildError::ZeroTimeout => f.write_str("lookup timeout must be above zero"),
            ResolverBuildError::ZeroCacheCapacity => {
                f.write_str("a cache ttl needs a cache capacity of at least 1")
            }
        }
    }
}

impl std::error::Error for ResolverBuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResolverBuildError::Pool(err) => Some(err),
            _ => None,
        }
    }
}
