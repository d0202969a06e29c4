//! [`BlockingPool`]: a capped pool of named threads for synchronous calls.

mod engine;
mod future;
mod job;

use std::fmt;
use std::sync::Arc as StdArc;
use std::time::Duration;

use self::engine::{Admit, Config, Shared};
pub use self::future::{AcceptedJob, Run, Stopped};
use crate::error::{BuildError, TryRunError};
use corral_shared::sync::{Arc, Ordering};

/// The smallest stack size [`Builder::stack_size`] accepts: 64 KiB. Below that even
/// libc's `getaddrinfo` can overflow.
pub const MIN_STACK_SIZE: usize = 64 * 1024;

/// A capped pool of dedicated, named OS threads for blocking calls.
///
/// Use one pool per call class (`dns`, `fs`, a blocking client library, ...), so a slow
/// class cannot starve the others. At most [`max_threads`](Builder::max_threads)
/// threads ever exist; they are spawned on demand, named `"<pool>-<n>"`, and an idle
/// one exits after the [`keep_alive`](Builder::keep_alive). Jobs beyond the cap wait in
/// a bounded queue: [`run`](Self::run) waits for queue space, [`try_run`](Self::try_run)
/// refuses and hands the closure back.
///
/// # Slots
///
/// A thread's slot is taken (counted) before the thread is spawned, and given back
/// only after its job has really returned, so [`metrics`](Self::metrics) never lies:
/// a job whose caller stopped waiting keeps its thread, and is counted as
/// `abandoned_running`, until it returns. A job whose caller went away *before* a
/// thread took it is removed from the queue and never runs (unlike
/// `tokio::task::spawn_blocking`, which runs it anyway).
///
/// One gap: the thread-local destructors a job registered run when its thread exits,
/// after the slot is given back (no library can run them earlier, nor safely spawn a
/// replacement thread from inside them). While such a destructor runs, the pool may
/// have started a new thread in that slot. [`stray_threads`](crate::stray_threads)
/// does list the exiting thread until its destructors have returned.
///
/// # Shutdown
///
/// [`shutdown`](Self::shutdown), or dropping the last clone of the pool, stops intake,
/// drops every queued job unrun (its caller gets [`RunError::Closed`](crate::RunError::Closed))
/// and tells idle threads to exit. Threads are **detached, not joined**: a thread in the
/// middle of a blocking call cannot be interrupted, and joining it would block the
/// dropping thread (possibly an async runtime worker) for as long as that call takes,
/// possibly forever. Such a thread exits as soon as its job returns; until then it is
/// listed by [`stray_threads`](crate::stray_threads) so leak checks can see it, and
/// [`stopped`](Self::stopped) lets you wait for it.
///
/// # Memory ordering
///
/// All pool state is behind one mutex, and each job's result behind its own; both give
/// the usual acquire/release edges, so everything the closure wrote happens-before the
/// caller sees its result. The only atomic, the abandoned-job count, is a `Relaxed`
/// metric whose increments and decrements are ordered by the job's mutex.
///
/// # Examples
///
/// ```
/// use corral_blocking::BlockingPool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let fs = BlockingPool::builder().name("fs").max_threads(8).build().unwrap();
/// let len = fs.run(|| "hello".len()).await.unwrap();
/// assert_eq!(len, 5);
/// assert!(fs.metrics().threads_high_water <= 8);
/// # }
/// ```
#[derive(Clone)]
pub struct BlockingPool {
    handle: StdArc<Handle>,
}

/// The owner of a pool: shuts it down when the last `BlockingPool` clone drops.
pub(crate) struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        shutdown(&self.shared);
    }
}

fn shutdown(shared: &Shared) {
    let discarded = shared.close(true);
    shared.retire();
    // Dropped outside the pool lock: dropping a closure runs user code, and each
    // dropped job tells its caller `Closed`.
    drop(discarded);
}

impl BlockingPool {
    /// Starts configuring a pool.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Runs `f` on a pool thread and returns its value.
    ///
    /// If every thread is busy and the queue is full, the returned future waits for
    /// queue space first, in arrival order.
    ///
    /// # Errors
    ///
    /// [`RunError::Panicked`](crate::RunError::Panicked) if `f` panicked (with the
    /// payload), [`RunError::Closed`](crate::RunError::Closed) if the pool was shut down
    /// before `f` started, [`RunError::Spawn`](crate::RunError::Spawn) if no thread could
    /// be spawned.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before a thread took the job removes the job: `f` never runs
    /// (and is dropped). Dropping it after the job started loses only the result: `f`
    /// runs to completion on its thread, which stays counted (as `abandoned_running`)
    /// until `f` returns.
    pub fn run<F, R>(&self, f: F) -> Run<F, R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        Run::new(Arc::clone(self.shared()), f)
    }

    /// Submits `f` if a thread or queue space is free right now; never waits.
    ///
    /// Await the returned [`AcceptedJob`] for the result (same errors as
    /// [`run`](Self::run)).
    ///
    /// # Errors
    ///
    /// [`TryRunError::Full`] if all threads are busy and the queue is full, or callers
    /// of `run` are already waiting for space (they are not overtaken);
    /// [`TryRunError::Closed`] if the pool is shut down; [`TryRunError::Spawn`] if no
    /// thread could be spawned. Each hands `f` back.
    ///
    /// # Cancel safety
    ///
    /// The returned [`AcceptedJob`] behaves like [`run`](Self::run)'s future once
    /// admitted: dropping it before a thread took the job means `f` never runs; dropping
    /// it later only loses the result.
    pub fn try_run<F, R>(&self, f: F) -> Result<AcceptedJob<R>, TryRunError<F>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let shared = self.shared();
        let mut f = Some(f);
        let mut cell = None;
        let admit = Shared::admit(shared, None, &mut || {
            let (task, c) =
                future::package(shared, f.take().expect("admission builds the task once"));
            cell = Some(c);
            task
        });
        match admit {
            Admit::Queued(id) => Ok(AcceptedJob::new(
                Arc::clone(shared),
                id,
                cell.expect("an admitted job has a cell"),
            )),
            Admit::Full => {
                shared.count_rejected();
                Err(TryRunError::Full(
                    f.expect("refused closures are untouched"),
                ))
            }
            Admit::Closed => Err(TryRunError::Closed(
                f.expect("refused closures are untouched"),
            )),
            Admit::Spawn(err) => Err(TryRunError::Spawn(
                f.expect("refused closures are untouched"),
                err,
            )),
        }
    }

    /// A snapshot of the pool's counters.
    pub fn metrics(&self) -> PoolMetrics {
        let c = self.shared().counters();
        PoolMetrics {
            running: c.running,
            queued: c.queued,
            // Relaxed: a metric; each value read was written under a job's mutex, and a
            // momentarily stale count is acceptable in a snapshot.
            abandoned_running: self.shared().abandoned.load(Ordering::Relaxed),
            threads_alive: c.threads_alive,
            threads_idle: c.threads_idle,
            threads_high_water: c.threads_high_water,
            running_high_water: c.running_high_water,
            completed: c.completed,
            rejected: c.rejected,
            waiting_for_space: c.space_waiters,
            closed: c.closed,
        }
    }

    /// A reference that does not keep the pool alive (the census tick's).
    #[cfg(all(feature = "metrics", not(corral_loom)))]
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Handle> {
        StdArc::downgrade(&self.handle)
    }

    /// The pool again, from its handle (upgraded by the census tick).
    #[cfg(all(feature = "metrics", not(corral_loom)))]
    pub(crate) fn from_handle(handle: StdArc<Handle>) -> BlockingPool {
        BlockingPool { handle }
    }

    /// The pool's name (the prefix of its thread names).
    pub fn name(&self) -> &str {
        &self.shared().config.name
    }

    /// The most threads this pool will ever run at once.
    pub fn max_threads(&self) -> usize {
        self.shared().config.max_threads
    }

    /// Stops intake: later `run`/`try_run` calls fail with `Closed`, callers waiting for
    /// queue space are woken with `Closed`. Jobs already queued still run; idle threads
    /// exit once the queue is empty.
    pub fn close(&self) {
        drop(self.shared().close(false));
    }

    /// Stops intake and drops every queued job unrun (each caller gets `Closed`); idle
    /// threads exit at once and busy ones when their job returns (see "Shutdown" above).
    /// Does not block. Dropping the last clone of the pool does the same.
    pub fn shutdown(&self) {
        shutdown(self.shared());
    }

    /// Resolves once the pool is closed (by [`close`](Self::close) or
    /// [`shutdown`](Self::shutdown)) and all its threads have exited.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes. A dropped future (say, a wait under a timeout
    /// that expired) takes its waker registration with it, so waiting again and again
    /// leaves nothing behind in the pool.
    pub fn stopped(&self) -> Stopped {
        Stopped::new(Arc::clone(self.shared()))
    }
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPool")
            .field("name", &self.name())
            .field("max_threads", &self.max_threads())
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// A snapshot of a [`BlockingPool`]'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolMetrics {
    /// Jobs a thread is executing right now (including abandoned ones).
    pub running: usize,
    /// Jobs accepted and waiting for a thread.
    pub queued: usize,
    /// Running jobs whose caller stopped waiting; each still holds its thread.
    pub abandoned_running: usize,
    /// Threads alive (busy or idle); never above `max_threads`.
    pub threads_alive: usize,
    /// Threads asleep waiting for work.
    pub threads_idle: usize,
    /// The most threads ever alive at once.
    pub threads_high_water: usize,
    /// The most jobs ever running at once.
    pub running_high_water: usize,
    /// Jobs that returned or panicked, counted before their caller gets the result.
    pub completed: u64,
    /// Jobs refused: `try_run` calls refused as full, and `run` or `try_run` calls
    /// that failed because no thread was alive and none could be spawned
    /// ([`RunError::Spawn`](crate::RunError::Spawn),
    /// [`TryRunError::Spawn`](crate::TryRunError::Spawn)). A `run` waiting for queue
    /// space is not refused, so not counted.
    pub rejected: u64,
    /// `run` callers waiting for queue space.
    pub waiting_for_space: usize,
    /// Whether intake is stopped.
    pub closed: bool,
}

/// Configures a [`BlockingPool`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct Builder {
    name: String,
    max_threads: usize,
    queue_capacity: usize,
    keep_alive: Duration,
    stack_size: Option<usize>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            name: "corral-blocking".to_owned(),
            max_threads: 64,
            queue_capacity: 1024,
            keep_alive: Duration::from_secs(10),
            stack_size: None,
        }
    }
}

impl Builder {
    /// The pool's name, the prefix of its thread names (`"<name>-<n>"`). Name pools by
    /// call class: `"dns"`, `"fs"`. Default `"corral-blocking"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The most threads alive at once. Default 64.
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.max_threads = max_threads;
        self
    }

    /// How many accepted jobs may wait for a thread when all are busy; 0 means a job is
    /// accepted only if a thread can take it at once. Default 1024.
    pub fn queue_capacity(mut self, queue_capacity: usize) -> Self {
        self.queue_capacity = queue_capacity;
        self
    }

    /// How long an idle thread waits for work before exiting. Default 10 s (as tokio's
    /// blocking pool). `Duration::ZERO` reaps a thread as soon as it is idle; a
    /// keep-alive too long for the clock to represent (`Duration::MAX`) means idle
    /// threads never exit on their own (they still exit at shutdown).
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// Stack size of each thread, in bytes. Default: Rust's (2 MiB unless
    /// `RUST_MIN_STACK` says otherwise).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Validates the configuration and creates the pool. No thread is spawned until the
    /// first job.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroThreads`], [`BuildError::InvalidName`] or
    /// [`BuildError::StackTooSmall`].
    pub fn build(self) -> Result<BlockingPool, BuildError> {
        if self.max_threads == 0 {
            return Err(BuildError::ZeroThreads);
        }
        if self.name.is_empty() || self.name.contains('\0') {
            return Err(BuildError::InvalidName(self.name));
        }
        if let Some(requested) = self.stack_size {
            if requested < MIN_STACK_SIZE {
                return Err(BuildError::StackTooSmall {
                    requested,
                    minimum: MIN_STACK_SIZE,
                });
            }
        }
        let shared = Shared::new(Config {
            name: self.name,
            max_threads: self.max_threads,
            queue_capacity: self.queue_capacity,
            keep_alive: self.keep_alive,
            stack_size: self.stack_size,
        });
        let pool = BlockingPool {
            handle: StdArc::new(Handle { shared }),
        };
        #[cfg(all(feature = "metrics", not(corral_loom)))]
        crate::metrics::register_pool(&pool);
        Ok(pool)
    }
}
