//! A bounded async worker pool with explicit backpressure.
//!
//! A [`Pool`] runs at most `workers` jobs (futures) at once on a fixed set of worker
//! tasks, keeps at most `queue_capacity` more waiting, and tells the submitter, in the
//! type system, when both are full: [`Pool::submit`] waits for room (with an optional
//! enqueue deadline, [`Pool::submit_timeout`]), [`Pool::try_submit`] refuses with the
//! job handed back. Every accepted job gets a [`JobHandle`] that resolves to its output
//! or to a [`JobError`] (panicked, cancelled, handed back). Nothing is lost silently:
//! `submitted = completed + failed + cancelled + handed_back`, visible in
//! [`Pool::metrics`].
//!
//! # When not to use this
//!
//! If every unit of work must start immediately and the number of them is already
//! bounded by something else (a fixed set of connections, say), `tokio::spawn` or a task
//! group is simpler. If you only need to cap concurrency of work the caller awaits
//! inline anyway, a semaphore (`corral-semaphore`) costs less than a hop to a worker.
//! And for blocking, CPU-bound or synchronous code use a blocking pool
//! (`corral-blocking`): these workers are async tasks and must not block.
//!
//! # Examples
//!
//! ```
//! use corral_pool::{Pool, TrySubmitError};
//!
//! async fn square(n: u64) -> u64 {
//!     n * n
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The pool is typed by its job future (here `square`'s); see `BoxJob` for mixed jobs.
//! let pool = Pool::builder()
//!     .workers(4)
//!     .queue_capacity(16)
//!     .name("squares")
//!     .build()
//!     .expect("valid configuration");
//!
//! let mut handles = Vec::new();
//! for n in 0..8 {
//!     // Waits while 4 run and 16 wait.
//!     handles.push(pool.submit(square(n)).await.expect("pool is open"));
//! }
//! let mut total = 0;
//! for handle in handles {
//!     total += handle.await.expect("job did not panic");
//! }
//! assert_eq!(total, 140);
//!
//! pool.close();
//! match pool.try_submit(square(3)) {
//!     Err(TrySubmitError::Closed(job)) => assert_eq!(job.await, 9), // the job came back
//!     other => panic!("expected Closed, got {other:?}"),
//! }
//! # }
//! ```

#![forbid(unsafe_code)]

mod builder;
mod error;
mod handle;
mod metrics;
mod pool;

#[cfg(all(test, corral_loom))]
mod loom_models;

pub use builder::{Builder, DEFAULT_QUEUE_WAIT_SAMPLING, MAX_QUEUE_CAPACITY, MAX_WORKERS};
pub use error::{
    BuildError, DrainError, JobError, ResizeError, SubmitError, SubmitTimeoutError, TrySubmitError,
};
pub use handle::{AbortOnDrop, JobHandle};
pub use metrics::{Metrics, QueueWait};
pub use pool::{BoxJob, Drain, Pool, Submit, SubmitUntil};
