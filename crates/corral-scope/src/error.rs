//! Errors: one type per operation, each handing back what was not accepted.

use std::fmt;

/// Why a scope did not return its body's value.
///
/// A panic is not an error: it resumes in the owner once the group is down. The first
/// cause wins: a group that failed and then reached its deadline reports the failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError<E> {
    /// A child or the body returned this error first; the rest of the group was cancelled.
    Failed(E),
    /// In a scope built with
    /// [`ScopeBuilder::collect_errors`](crate::ScopeBuilder::collect_errors): every
    /// error the children and the body returned, in the order they arrived (never
    /// empty). A child's error does not cancel such a group; the body's does.
    Errors(Vec<E>),
    /// The scope's deadline (its own or an enclosing scope's) passed; the group was
    /// cancelled. Distinct from any error a child returns.
    DeadlineExceeded,
    /// The group was stopped by hand ([`Scope::cancel`](crate::Scope::cancel)), or it
    /// is a nested scope created inside a group that was already cancelled (it is born
    /// cancelled: its body never runs). Distinct from a child's error and the deadline.
    Cancelled,
}

impl<E> ScopeError<E> {
    /// The first error, if the scope failed with one (for
    /// [`Errors`](ScopeError::Errors), the first that arrived).
    pub fn into_failed(self) -> Option<E> {
        match self {
            ScopeError::Failed(e) => Some(e),
            ScopeError::Errors(errors) => errors.into_iter().next(),
            ScopeError::DeadlineExceeded | ScopeError::Cancelled => None,
        }
    }

    /// Every error the scope failed with: one for [`Failed`](ScopeError::Failed), all
    /// of them for [`Errors`](ScopeError::Errors), none otherwise.
    pub fn into_errors(self) -> Vec<E> {
        match self {
            ScopeError::Failed(e) => vec![e],
            ScopeError::Errors(errors) => errors,
            ScopeError::DeadlineExceeded | ScopeError::Cancelled => Vec::new(),
        }
    }

    /// Whether the deadline ended the scope.
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(self, ScopeError::DeadlineExceeded)
    }

    /// Whether the scope was cancelled by hand (or born cancelled).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ScopeError::Cancelled)
    }
}

impl<E: fmt::Display> fmt::Display for ScopeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Failed(e) => write!(f, "scope failed: {e}"),
            ScopeError::Errors(errors) => {
                write!(f, "scope failed with {} errors", errors.len())?;
                for (i, e) in errors.iter().enumerate() {
                    write!(f, "{} {e}", if i == 0 { ":" } else { ";" })?;
                }
                Ok(())
            }
            ScopeError::DeadlineExceeded => f.write_str("scope deadline exceeded"),
            ScopeError::Cancelled => f.write_str("scope cancelled"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ScopeError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScopeError::Failed(e) => Some(e),
            ScopeError::Errors(errors) => errors.first().map(|e| e as _),
            ScopeError::DeadlineExceeded | ScopeError::Cancelled => None,
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
    /// failed, the deadline passed, the owner was dropped, `Scope::cancel`), the body
    /// returned while it ran in the background, the handle's `abort` was called, or
    /// the runtime it ran on shut down. The last two do not cancel the group, and the
    /// scope does not report them: it yields its body's value if nothing else stopped
    /// it. Also the handle of a child `Scope::go` refused, whose future was dropped
    /// unstarted.
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

corral_shared::hand_back_error! {
    /// `spawn` refused a child; the future is handed back, never detached.
    pub SpawnError {
        /// The scope is closed: it has finished, its owner was dropped, or it is cancelled
        /// and winding down.
        Closed => "scope is closed",
    }
}

corral_shared::hand_back_error! {
    /// `try_spawn` refused a child; the future is handed back, never detached or queued.
    pub TrySpawnError {
        /// The scope is at its concurrency limit.
        Full => "scope is at its concurrency limit",
        /// The scope is closed: it has finished, its owner was dropped, or it is cancelled
        /// and winding down.
        Closed => "scope is closed",
    }
}

impl<F> TrySpawnError<F> {
    /// Whether the scope was at its limit (rather than closed).
    pub fn is_full(&self) -> bool {
        matches!(self, TrySpawnError::Full(_))
    }
}

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
