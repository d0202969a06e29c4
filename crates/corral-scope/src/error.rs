//! Errors: one type per operation, each handing back what was not accepted.

use std::fmt;

/// Why a scope did not return its body's value.
///
/// A child's panic is not an error: it resumes in the owner once the group is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError<E> {
    /// A child or the body returned this error first; the rest of the group was cancelled.
    Failed(E),
    /// The scope's deadline (its own or an enclosing scope's) passed; the group was
    /// cancelled. Distinct from any error a child returns.
    DeadlineExceeded,
}

impl<E> ScopeError<E> {
    /// The child's error, if the scope failed with one.
    pub fn into_failed(self) -> Option<E> {
        match self {
            ScopeError::Failed(e) => Some(e),
            ScopeError::DeadlineExceeded => None,
        }
    }

    /// Whether the deadline ended the scope.
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(self, ScopeError::DeadlineExceeded)
    }
}

impl<E: fmt::Display> fmt::Display for ScopeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Failed(e) => write!(f, "scope failed: {e}"),
            ScopeError::DeadlineExceeded => f.write_str("scope deadline exceeded"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ScopeError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScopeError::Failed(e) => Some(e),
            ScopeError::DeadlineExceeded => None,
        }
    }
}

/// Why a [`ChildHandle`](crate::ChildHandle) has no output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildError {
    /// The child returned an error; the error went to the scope (it is the scope's
    /// result if it was the first).
    Failed,
    /// The child panicked; the payload resumes in the scope's owner.
    Panicked,
    /// The child was aborted before it finished: the group was cancelled (a sibling
    /// failed, the deadline passed, the owner was dropped) or the handle's `abort` was called.
    Cancelled,
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChildError::Failed => "child failed; its error went to the scope",
            ChildError::Panicked => "child panicked; the panic resumes in the scope's owner",
            ChildError::Cancelled => "child was cancelled",
        })
    }
}

impl std::error::Error for ChildError {}

/// `spawn` refused a child; the future is handed back, never detached.
pub enum SpawnError<F> {
    /// The scope is closed: it has finished, its owner was dropped, or it is cancelled
    /// and winding down.
    Closed(F),
}

impl<F> SpawnError<F> {
    /// The future that was not spawned.
    pub fn into_inner(self) -> F {
        match self {
            SpawnError::Closed(f) => f,
        }
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("scope is closed")
    }
}

impl<F> std::error::Error for SpawnError<F> {}

/// `try_spawn` refused a child; the future is handed back, never detached or queued.
pub enum TrySpawnError<F> {
    /// The scope is at its concurrency limit.
    Full(F),
    /// The scope is closed: it has finished, its owner was dropped, or it is cancelled
    /// and winding down.
    Closed(F),
}

impl<F> TrySpawnError<F> {
    /// The future that was not spawned.
    pub fn into_inner(self) -> F {
        match self {
            TrySpawnError::Full(f) | TrySpawnError::Closed(f) => f,
        }
    }

    /// Whether the scope was at its limit (rather than closed).
    pub fn is_full(&self) -> bool {
        matches!(self, TrySpawnError::Full(_))
    }
}

impl<F> fmt::Debug for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySpawnError::Full(_) => "Full(..)",
            TrySpawnError::Closed(_) => "Closed(..)",
        })
    }
}

impl<F> fmt::Display for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySpawnError::Full(_) => "scope is at its concurrency limit",
            TrySpawnError::Closed(_) => "scope is closed",
        })
    }
}

impl<F> std::error::Error for TrySpawnError<F> {}

/// [`ScopeBuilder::build`](crate::ScopeBuilder::build) rejected the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// A concurrency limit of zero would admit no child at all.
    ZeroLimit,
    /// The limit is larger than the admission semaphore can count.
    LimitTooLarge {
        /// The limit asked for.
        limit: u64,
        /// The largest limit supported.
        max: u64,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroLimit => f.write_str("concurrency limit must be at least 1"),
            BuildError::LimitTooLarge { limit, max } => {
                write!(f, "concurrency limit {limit} is above the maximum {max}")
            }
        }
    }
}

impl std::error::Error for BuildError {}
