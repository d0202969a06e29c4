//! Task groups for tokio that cannot leak: a scope owns the tasks spawned in it,
//! cancels them together, joins them all, and passes its deadline down.
//!
//! [`scope`] runs a body that spawns children with [`Scope::go`] (or [`Scope::spawn`],
//! which waits for a slot in a scope with a limit). Children are real
//! parallel tokio tasks (tracked by `corral-task`), and the scope's future completes
//! only after every one of them is gone. The group is fail-fast: the first `Err` (or
//! panic) cancels the rest; dropping the scope's future (an HTTP handler whose client
//! left, a `select!` that took the other branch) aborts every child at once, including
//! the ones spawned by children through a clone of the handle. Children share a
//! [`CancellationToken`](tokio_util::sync::CancellationToken) for code that cannot be
//! aborted at an await, a deadline that nested scopes inherit (`min(parent, own)`), and
//! an optional concurrency limit with backpressure to the spawner.
//!
//! | you want | use |
//! |---|---|
//! | children that cannot outlive their owner, first error cancels the rest | [`scope`], [`Scope::go`] |
//! | a deadline, or at most N children at once | [`ScopeConfig`], [`Scope::spawn`] |
//! | stop the group by hand, with its own outcome | [`Scope::cancel`] → [`ScopeError::Cancelled`] |
//! | a monitor or heartbeat stopped when the body returns | [`Scope::child`]`.background()` |
//! | children named by role in the task registry | [`Scope::child`]`.name(..)` |
//! | every child's error, not only the first (conc's `WithErrors`) | [`ScopeBuilder::collect_errors`] |
//! | outputs in submission order (Go conc's `ResultPool`) | [`Results`] |
//! | cooperative cancellation between awaits or in blocking code | [`Scope::token`] |
//!
//! # When not to use this
//!
//! For one background task that should live as long as the process, use
//! `corral_task::spawn` (tracked, but not owned by a caller). For a long-lived pool of
//! workers fed by a queue, use `corral-pool`: a scope joins everything before it
//! returns, so it suits work that belongs to one request or one operation. A scope's
//! children must be `'static + Send` (they run in parallel and may be aborted, so they
//! cannot borrow from the owner's stack); if you need borrowing and no parallelism,
//! `futures::join!` / `FuturesUnordered` in the owner's task are cheaper still.
//!
//! # How nested scopes find their parent
//!
//! Through a task-local: a scope's body and every child run with their scope set as the
//! current one, and [`scope`] / [`ScopeConfig::scope`] called there nests under it.
//! A nested scope counts as one of its parent's live children from its creation until
//! it and its own children are down, so a parent never returns while anything spawned
//! under it, at any depth, is alive: a parent that fails returns only after a nested
//! scope it dropped has stopped its children too. This holds for a nested scope created
//! while the parent is already cancelled (say, by a child that does not await between
//! noticing the cancel and opening the scope): it is still counted, and it is born
//! cancelled, so its body never runs and it yields [`ScopeError::Cancelled`]. Likewise
//! cancelling a group cancels every nested scope under it, at any depth, before its
//! token (which theirs descend from) is cancelled: their children stop at their next
//! poll as its own do, and a nested scope whose owner still polls it yields
//! [`ScopeError::Cancelled`].
//! A plain `tokio::spawn` or `spawn_blocking` starts outside any scope; hand those the
//! token or [`current_deadline`] explicitly.
//!
//! # How children are stopped
//!
//! Cancelling the group (first error, panic, deadline, [`Scope::cancel`], owner dropped)
//! cancels the token, closes admission (every spawn after it is refused at once, from
//! inside the group too), and wakes every child that is waiting; a child's future is dropped
//! at its next poll, before it runs any further, exactly where `JoinHandle::abort` would
//! drop it; the token is cancelled before any child or the body is dropped for the
//! cancel, so their destructors (and threads watching the token) see it cancelled. A
//! child that never awaits (a busy loop, a blocking call) cannot be stopped
//! this way: that is what [`Scope::token`] is for. The owner's future completes only
//! once every child's future has been dropped, so a child's destructors (a permit, a
//! connection) have run by then.
//!
//! # Memory ordering
//!
//! A group keeps one atomic state word (live-children count and flags, every access
//! `AcqRel`/`Acquire`) and one mutex for the cancel list, the owner's waker and the
//! outcome. Everything a child wrote (its output, an error or a panic) happens-before
//! the owner observes it gone, and the flag that cancels a group is set and read under
//! the mutex by children registering to be woken, so none sleeps through a cancel. The
//! loom models in `src/group.rs` check these edges.
//!
//! # Errors and panics
//!
//! Every child of a `Scope<E>` returns `Result<T, E>`. The scope yields
//! `Result<R, ScopeError<E>>`: the body's `Ok(R)`, [`ScopeError::Failed`] with the first
//! error, [`ScopeError::DeadlineExceeded`], [`ScopeError::Cancelled`] after
//! [`Scope::cancel`], or, in a scope that collects them, [`ScopeError::Errors`] with
//! every error. The first cause wins. [`ChildHandle`] yields the child's value or a
//! [`ChildError`] saying where it went.
//!
//! A panic is not turned into an error: it cancels the group and resumes in the owner
//! (`std::panic::resume_unwind`) once every child is down, whether it came from a
//! child's poll, a child's destructor (run when the child is cancelled, aborted or
//! finished), the body's poll or the body's destructor. The first panic wins over any
//! error. Under a nested scope whose owner was dropped (its parent's body or child let
//! go of it), a panic resumes in the nearest enclosing owner still running, which waits
//! for the nested scope's children anyway. One case cannot wait, because no owner's
//! poll is there to wait in: a panic in the closure passed to [`scope`] itself, before
//! it returns the body's future (children it started are aborted, and the panic leaves
//! `scope()` at once). And once a top-level scope's own future is dropped, nobody is
//! left to resume a panic in it; it is dropped with the group.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use corral_scope::{scope, ScopeError};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! #[derive(Debug, PartialEq)]
//! struct Boom;
//!
//! let out = scope(|s| async move {
//!     // A slow sibling that would run for an hour on its own.
//!     let slow = s.go(async {
//!         tokio::time::sleep(Duration::from_secs(3600)).await;
//!         Ok(1)
//!     });
//!     s.go(async { Err::<u32, _>(Boom) });
//!     slow.await.map_err(|_| Boom)
//! })
//! .await;
//! // The failure cancelled the slow sibling (and the body) and is the scope's result.
//! assert_eq!(out, Err(ScopeError::Failed(Boom)));
//! # }
//! ```
#![forbid(unsafe_code)]

mod builder;
mod child;
mod config;
mod context;
mod core;
mod error;
mod group;
mod handle;
mod parked;
mod results;
mod scope;
mod spawn;

pub use crate::builder::ChildBuilder;
pub use crate::child::ChildHandle;
pub use crate::config::{ScopeBuilder, ScopeConfig, MAX_LIMIT};
pub use crate::context::{current_deadline, current_token};
pub use crate::error::{BuildError, ChildError, ScopeError, SpawnError, TrySpawnError};
pub use crate::handle::Scope;
pub use crate::results::{JoinResults, Results};
pub use crate::scope::{scope, ScopeFuture};
pub use crate::spawn::Spawn;
