//! Configuration of a [`Pool`], validated at `build()`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tokio::runtime::Handle;

use crate::error::{panic_message, BuildError, ResizeError};
use crate::pool::Pool;

/// The most workers a pool may have (a bound on nonsense, not a recommendation).
pub const MAX_WORKERS: usize = 1 << 16;

/// The largest queue a pool may have. Larger queues stop being backpressure: at
/// typical job latencies they only hide overload for minutes.
pub const MAX_QUEUE_CAPACITY: usize = 1 << 24;

/// Configures a [`Pool`]: how many jobs run at once, how many may wait, and its name.
///
/// Nothing has a silent default: `workers` must be set; `queue_capacity` defaults to 0
/// (hand-off: a job is accepted only when a worker is free to take it).
#[derive(Debug, Clone)]
pub struct Builder {
    workers: Option<usize>,
    queue_capacity: usize,
    name: Option<String>,
    sample_every: u32,
    on_panic: PanicHook,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            workers: None,
            queue_capacity: 0,
            name: None,
            sample_every: DEFAULT_QUEUE_WAIT_SAMPLING,
            on_panic: PanicHook::default(),
        }
    }
}

/// By default queue wait is measured on one job in 64, drawn at random: measuring a job
/// takes two clock reads (when it is queued and when a worker takes it), which cost
/// more than the 5 ns per job a default may spend (bench `corral_pool`, case
/// `corral_pool_wait_every_job`), and with the `metrics` feature a histogram record;
/// at one in 8 those records alone cost a reporting pool 4-7% of a no-op job
/// (BENCHMARKS.md, "Quiet re-measure at the end of session 6"). One in 64 still gives a
/// pool running a thousand jobs a second about 16 samples a second; set
/// [`Builder::queue_wait_sampling`] for more.
pub const DEFAULT_QUEUE_WAIT_SAMPLING: u32 = 64;

/// A pool's `on_panic` hook (see [`Builder::on_panic`]).
#[derive(Clone, Default)]
pub(crate) struct PanicHook(Option<Arc<HookFn>>);

type HookFn = dyn Fn(Box<dyn Any + Send>) + Send + Sync;

impl PanicHook {
    /// Hands `payload` to the hook, or prints the default line on standard error.
    ///
    /// A hook that panics is caught here and its panic printed: it runs on a worker
    /// between two jobs (with the next job already taken from the queue), or in a
    /// job handle's drop, and unwinding from there would kill the worker and lose
    /// that next job.
    pub(crate) fn report(&self, pool: &str, payload: Box<dyn Any + Send>) {
        let Some(hook) = &self.0 else {
            eprintln!(
                "pool '{pool}': a job panicked and nobody awaited its handle: {}",
                panic_message(&*payload)
            );
            return;
        };
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| hook(payload))) {
            eprintln!(
                "pool '{pool}': the on_panic hook panicked: {}",
                panic_message(&*panic)
            );
            // Its payload may panic on drop too; the hook's panic ends here either way.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(panic)));
        }
    }
}

impl fmt::Debug for PanicHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "custom"
        } else {
            "default"
        })
    }
}

impl Builder {
    /// A builder with no workers set, a hand-off queue, the name `"pool"` and queue
    /// wait sampled on one job in [`DEFAULT_QUEUE_WAIT_SAMPLING`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Measures the queue wait of accepted jobs for
    /// [`Metrics::queue_wait`](crate::Metrics::queue_wait): each job with probability
    /// `1 / every` (1: every job, 0: none). The draw is independent of how jobs arrive,
    /// so a burst is sampled like anything else and the mean stays unbiased; the
    /// maximum is the largest sampled wait.
    pub fn queue_wait_sampling(mut self, every: u32) -> Self {
        self.sample_every = every;
        self
    }

    /// How many jobs run at once (one worker task each); 1 ..= [`MAX_WORKERS`].
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// How many accepted jobs may wait for a worker; 0 ..= [`MAX_QUEUE_CAPACITY`].
    /// With 0 (hand-off) a job is accepted only when a worker is free to take it.
    /// `workers + queue_capacity` jobs are accepted from the moment `build()` returns:
    /// a worker that is spawned but not yet running counts as free.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Names the pool; workers are tracked tasks named `<name>-worker-<n>`.
    ///
    /// With the `metrics` feature (off by default) a named pool registers, at build
    /// time, these series labelled `pool="<name>"` with whatever recorder is installed
    /// then, and keeps them equal to [`Pool::metrics`](crate::Pool::metrics) (published
    /// whenever the pool's lock is released):
    ///
    /// | name | type | what |
    /// |---|---|---|
    /// | `corral_pool_running_jobs` | gauge | jobs running now |
    /// | `corral_pool_queued_jobs` | gauge | jobs waiting in the queue |
    /// | `corral_pool_workers` | gauge | live workers |
    /// | `corral_pool_jobs_submitted_total` | counter | jobs accepted |
    /// | `corral_pool_jobs_completed_total` | counter | jobs that returned |
    /// | `corral_pool_jobs_failed_total` | counter | jobs that panicked |
    /// | `corral_pool_jobs_cancelled_total` | counter | jobs aborted or dropped by a stop |
    /// | `corral_pool_jobs_rejected_total` | counter | submissions refused |
    /// | `corral_pool_jobs_handed_back_total` | counter | queued jobs returned by `shutdown_now` |
    /// | `corral_pool_queue_wait_seconds` | histogram | queue wait of the sampled jobs ([`queue_wait_sampling`](Self::queue_wait_sampling)) |
    ///
    /// Gauges move by deltas, so pools given the same name add up into one series.
    /// An unnamed pool reports nothing. An idle or closed pool's series are exact; a
    /// busy pool publishes (queue-wait samples included) in batches: on each census tick
    /// (`corral_task::export_metrics`) and every 1,024 submissions and completions.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// What to do with the panic of a job nobody will look at: the job's
    /// [`JobHandle`](crate::JobHandle) was dropped before the outcome was taken. The
    /// hook receives the payload `std::panic` caught (see
    /// [`JobError::Panicked`](crate::JobError::Panicked)), on the worker that ran the
    /// job (or on the thread that drops a handle whose job had already panicked). It
    /// must not block. If it panics, that panic is caught and printed on standard
    /// error, and the worker goes on with its next job. A panic whose handle is still
    /// held is not reported here: it is the handle's outcome.
    ///
    /// The default prints one line on standard error naming the pool and the panic
    /// message, after the panic hook's own report at the time of the panic (as
    /// `std`'s default hook prints for a panicking `tokio::spawn` task whose
    /// `JoinHandle` is dropped).
    pub fn on_panic<H>(mut self, hook: H) -> Self
    where
        H: Fn(Box<dyn Any + Send>) + Send + Sync + 'static,
    {
        self.on_panic = PanicHook(Some(Arc::new(hook)));
        self
    }

    /// Builds the pool on the current tokio runtime and starts its workers.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoRuntime`] outside a runtime (use [`Builder::build_on`]), and the
    /// validation errors of `build_on`.
    pub fn build<F>(self) -> Result<Pool<F>, BuildError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        self.build_on(&handle)
    }

    /// Builds the pool with its workers on `handle`'s runtime; callable from any thread.
    /// On a runtime that has shut down, the pool comes up closed (no worker can run).
    ///
    /// # Errors
    ///
    /// [`BuildError::WorkersNotSet`], [`BuildError::ZeroWorkers`],
    /// [`BuildError::TooManyWorkers`], [`BuildError::QueueTooLarge`].
    pub fn build_on<F>(self, handle: &Handle) -> Result<Pool<F>, BuildError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Ok(Pool::start(self.config()?, handle.clone()))
    }

    /// The validated configuration.
    pub(crate) fn config(self) -> Result<Config, BuildError> {
        let workers = self.workers.ok_or(BuildError::WorkersNotSet)?;
        let workers = Workers::new(workers).map_err(|invalid| match invalid {
            WorkersInvalid::Zero => BuildError::ZeroWorkers,
            WorkersInvalid::TooMany(requested) => BuildError::TooManyWorkers {
                requested,
                max: MAX_WORKERS,
            },
        })?;
        if self.queue_capacity > MAX_QUEUE_CAPACITY {
            return Err(BuildError::QueueTooLarge {
                requested: self.queue_capacity,
                max: MAX_QUEUE_CAPACITY,
            });
        }
        Ok(Config {
            #[cfg(feature = "metrics")]
            named: self.name.is_some(),
            name: self.name.unwrap_or_else(|| "pool".to_owned()),
            workers,
            queue_capacity: self.queue_capacity,
            sample_every: self.sample_every,
            on_panic: self.on_panic,
        })
    }
}

/// A pool's configuration as `build()` validated it: what the engine is started with.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) name: String,
    /// Whether the user named the pool: only named pools report metrics.
    #[cfg(feature = "metrics")]
    pub(crate) named: bool,
    pub(crate) workers: Workers,
    pub(crate) queue_capacity: usize,
    pub(crate) sample_every: u32,
    pub(crate) on_panic: PanicHook,
}

/// A worker count in 1 ..= [`MAX_WORKERS`], checked once for `build()` and `resize()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Workers(usize);

/// Why a worker count is not a [`Workers`].
pub(crate) enum WorkersInvalid {
    Zero,
    TooMany(usize),
}

impl Workers {
    pub(crate) fn new(n: usize) -> Result<Self, WorkersInvalid> {
        match n {
            0 => Err(WorkersInvalid::Zero),
            n if n > MAX_WORKERS => Err(WorkersInvalid::TooMany(n)),
            n => Ok(Workers(n)),
        }
    }

    /// A new worker count for [`Pool::resize`].
    pub(crate) fn resize(n: usize) -> Result<Self, ResizeError> {
        Workers::new(n).map_err(|invalid| match invalid {
            WorkersInvalid::Zero => ResizeError::ZeroWorkers,
            WorkersInvalid::TooMany(requested) => ResizeError::TooManyWorkers {
                requested,
                max: MAX_WORKERS,
            },
        })
    }

    pub(crate) fn get(self) -> usize {
        self.0
    }
}
