//! A weighted, strictly FIFO async semaphore with `u64` weights.
//!
//! [`Semaphore`] bounds how much of something is in use at once: requests in flight,
//! bytes buffered, connections open. Each acquirer asks for a weight `n`; it waits, in
//! arrival order, until `n` permits are free, and gets back an RAII [`Permit`] that
//! returns them when dropped.
//!
//! - **Strict FIFO, no barging.** A large request at the head of the queue is never
//!   overtaken by later small ones, and [`Semaphore::try_acquire`] fails rather than
//!   jump a non-empty queue.
//! - **Impossible requests fail at once.** `n == 0` succeeds at once; `n` above the
//!   capacity fails at once with [`AcquireError::TooLarge`] naming both numbers.
//! - **Cancel safe without exception.** Dropping an acquire future at any point (queued,
//!   just granted, or granted while being dropped) loses no permit, and if it was at the
//!   head of the queue, the waiters behind it that now fit are woken.
//! - **Resizable and closable.** [`Semaphore::set_capacity`] grows at once and shrinks
//!   lazily; [`Semaphore::close`] fails every waiter while held permits stay valid.
//! - **Cheap when uncontended.** Acquiring is one compare-and-swap and releasing one
//!   atomic add, with no lock and no allocation, while nobody waits.
//! - **Runtime-agnostic.** Without default features no async runtime is in the tree
//!   (the only direct dependency left is corral's internal `corral-shared`, which
//!   brings `parking_lot` for the queue lock), so it works on any executor; the default
//!   `tokio` feature only adds [`Semaphore::acquire_timeout`] and
//!   [`Semaphore::acquire_owned_timeout`].
//! - **Observable at no cost to the fast path.** With the `metrics` feature (off by
//!   default), a semaphore made with [`Semaphore::with_name`] reports through the
//!   `metrics` facade: refusals and timeouts as they happen; the wait of a random
//!   sample of the acquires that queued (one in 64 by default, `DEFAULT_WAIT_SAMPLING`);
//!   capacity, available permits, waiters and the exact number of queued acquires
//!   granted, read on the census tick (`corral_task::export_metrics`, or
//!   `sample_metrics()` without corral-task), so those are as fresh as the tick's
//!   interval and do not move without one.
//!
//! # When not to use this
//!
//! If every acquirer takes one permit and you never resize, `tokio::sync::Semaphore`
//! does the job and is already in your tree. If you need a queue of *work* rather than
//! a bound on *concurrency* (jobs handed to workers, with the submitter told when the
//! queue is full), use a bounded worker pool (`corral-pool`) instead of spawning a task
//! per job that then waits here: the waiting tasks are themselves unbounded. And a
//! semaphore is not a rate limiter: it bounds how much is held at once, not how often
//! something starts.
//!
//! # Examples
//!
//! Bound the bytes buffered by concurrent uploads to 64 MiB:
//!
//! ```
//! use std::sync::Arc;
//! use corral_semaphore::Semaphore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let budget = Arc::new(Semaphore::new(64 << 20));
//! let mut tasks = Vec::new();
//! for size in [48u64 << 20, 8 << 20, 16 << 20] {
//!     let budget = Arc::clone(&budget);
//!     tasks.push(tokio::spawn(async move {
//!         // Waits, first come first served, until `size` bytes of budget are free.
//!         let permit = budget.acquire_owned(size).await.expect("never closed");
//!         assert_eq!(permit.count(), size);
//!         // ... buffer and upload `size` bytes; the budget returns on drop ...
//!     }));
//! }
//! for task in tasks {
//!     task.await.unwrap();
//! }
//! assert_eq!(budget.available(), 64 << 20);
//! # }
//! ```
//!
//! A request larger than the whole budget fails at once instead of waiting forever:
//!
//! ```
//! use corral_semaphore::{AcquireError, Semaphore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sem = Semaphore::new(8);
//! let err = sem.acquire(10).await.unwrap_err();
//! assert_eq!(err, AcquireError::TooLarge { requested: 10, capacity: 8 });
//! assert_eq!(err.to_string(), "requested 10 permits but the semaphore's capacity is 8");
//! # }
//! ```
//!
//! # Design notes
//!
//! - **No `unsafe`.** Waiters live in a slab owned by a mutex that is taken only when
//!   someone has to wait (or when a release finds waiters); the slab's slots are
//!   reused, so a steady state of waiting allocates nothing either. The uncontended
//!   paths never touch the mutex: a "waiters present" bit in the state word sends
//!   acquirers to the queue and releasers to the hand-off only when it is set. A
//!   granted waiter completes without the mutex too: the first 64 slots carry a
//!   generation-stamped grant word the waiter reads with one atomic load. Wakers
//!   are woken, and dropped, only after the mutex is released: a waker is the
//!   caller's code, and one whose drop releases permits of this very semaphore must
//!   not deadlock (tokio fixed the same case in tokio-rs/tokio#5475).
//! - **Permits are handed over, not raced for.** When waiters are queued, a release
//!   adds its permits to the free count and then, under the lock, grants them to the
//!   head of the queue (and the next, while they fit). A granted waiter owns its
//!   permits before it is even polled, so a grant can never be stolen, and a waiter
//!   dropped after its grant returns them (and the hand-off runs again). A dropped
//!   head re-runs the hand-off too: the waiters behind it that fit are granted.
//!   These are exactly the races Go's `x/sync/semaphore` fixed in golang/go#37852
//!   (a cancelled head waiter stranded the waiters behind it); each has a
//!   deterministic test and a loom model here.
//! - **A deadline does not discard permits that are already there.**
//!   [`Semaphore::acquire_timeout`] polls the request before its timer, like
//!   `tokio::time::timeout`, so free permits are taken even with a zero timeout, and a
//!   grant that lands together with the deadline is kept rather than thrown away. (Go
//!   chose the opposite for an already-cancelled context in golang/go#63615: there
//!   the context means "the caller is gone"; here a timeout only bounds waiting.)

#![forbid(unsafe_code)]

mod error;
mod futures;
mod metrics;
mod permit;
mod poll;
mod semaphore;
#[cfg(feature = "tokio")]
mod timeout;

#[cfg(feature = "tokio")]
pub use crate::error::AcquireTimeoutError;
pub use crate::error::{AcquireError, TryAcquireError};
pub use crate::futures::{Acquire, AcquireOwned};
#[cfg(feature = "metrics")]
pub use crate::metrics::{sample_metrics, DEFAULT_WAIT_SAMPLING};
pub use crate::permit::{OwnedPermit, Permit};
pub use crate::poll::PollSemaphore;
pub use crate::semaphore::Semaphore;
#[cfg(feature = "tokio")]
pub use crate::timeout::{AcquireOwnedTimeout, AcquireTimeout};
