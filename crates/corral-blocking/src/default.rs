//! The process-wide default pool and [`spawn_blocking`], the drop-in for
//! `tokio::task::spawn_blocking`.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::error::RunError;
use crate::pool::BlockingPool;

/// Threads of the default pool behind [`spawn_blocking`]: **64**.
///
/// Why 64: `spawn_blocking` mostly carries file-system calls and short CPU-bound
/// sections. A SATA disk's command queue holds 32 requests, and an NVMe drive reaches
/// its throughput at a queue depth of a few dozen, so twice 32 keeps a device busy while
/// staying an order of magnitude below tokio's 512, a number chosen to be "effectively
/// unbounded". Each thread reserves a 2 MiB stack, so the cap also bounds that at
/// 128 MiB of address space. (Trio picked 40 for the same job and later could not say
/// why, python-trio/trio#230 and #2364; this is the reason written down.) Code with a
/// different class of blocking work should build its own [`BlockingPool`].
pub const DEFAULT_MAX_THREADS: usize = 64;

/// Queue of the default pool: **16,384** jobs waiting for a thread.
///
/// Why: `spawn_blocking` must accept work like tokio's does (its queue is unbounded),
/// so this only guards against a runaway producer; beyond it, each `spawn_blocking`
/// task waits for space (visible as a tracked task) instead of growing a hidden queue.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;

/// Keep-alive of the default pool's idle threads: 10 s, tokio's blocking-pool value.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The process-wide pool behind [`spawn_blocking`], named `"corral-blocking"`, built on
/// first use with [`DEFAULT_MAX_THREADS`], [`DEFAULT_QUEUE_CAPACITY`] and
/// [`DEFAULT_KEEP_ALIVE`]. It is never shut down.
pub fn default_pool() -> &'static BlockingPool {
    static POOL: OnceLock<BlockingPool> = OnceLock::new();
    POOL.get_or_init(|| {
        BlockingPool::builder()
            .name("corral-blocking")
            .max_threads(DEFAULT_MAX_THREADS)
            .queue_capacity(DEFAULT_QUEUE_CAPACITY)
            .keep_alive(DEFAULT_KEEP_ALIVE)
            .build()
            .expect("the default pool configuration is valid")
    })
}

/// Runs `f` on the process-wide capped pool ([`default_pool`]); a drop-in for
/// [`tokio::task::spawn_blocking`] with the same signature and the same `JoinHandle`.
///
/// The job is handed to the pool at once (so it may start before the returned handle is
/// first polled, as with tokio), and a small tracked task (named
/// `"corral::spawn_blocking"`) waits for its result, so it shows in the live-task
/// registry while it waits or runs.
/// Differences from tokio: at most [`DEFAULT_MAX_THREADS`] threads run such jobs (the
/// rest wait in the queue), and `abort()` on the handle before the job started means it
/// never runs.
///
/// A panic in `f` is resumed in the task, so the handle reports it as
/// [`JoinError::is_panic`](tokio::task::JoinError::is_panic) with the original payload,
/// as tokio does.
///
/// # Cancel safety
///
/// As with tokio, dropping the `JoinHandle` detaches: the job still runs. Calling
/// `abort()` on it before a pool thread took the job removes the job, so it never runs;
/// after that, the job runs to completion and its thread stays counted (as
/// `abandoned_running`) until it returns.
///
/// # Panics
///
/// Panics if called outside a tokio runtime, like `tokio::task::spawn_blocking`.
///
/// # Blocking
///
/// `f` blocks one of the default pool's threads for as long as it runs, never a runtime
/// worker.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sum = corral_blocking::spawn_blocking(|| (1..=10).sum::<u32>()).await.unwrap();
/// assert_eq!(sum, 55);
/// # }
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    // Outside a runtime this panics (as tokio does) before the job is offered to the pool.
    let runtime = tokio::runtime::Handle::current();
    // Offered to the pool before the task exists: the job can start on a pool thread
    // while the runtime is still scheduling the task that will hand its result over.
    let run = default_pool().run_now(f);
    static BUILDER: OnceLock<corral_task::Builder> = OnceLock::new();
    BUILDER
        .get_or_init(|| corral_task::Builder::new().name("corral::spawn_blocking"))
        .clone()
        .spawn_on(
            async move {
                match run.await {
                    Ok(value) => value,
                    Err(RunError::Panicked(payload)) => std::panic::resume_unwind(payload),
                    Err(err) => panic!("corral::spawn_blocking: {err}"),
                }
            },
            &runtime,
        )
}
