//! Configuration of a [`Pool`], validated at `build()`.

use std::future::Future;

use tokio::runtime::Handle;

use crate::error::BuildError;
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
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            workers: None,
            queue_capacity: 0,
            name: None,
            sample_every: DEFAULT_QUEUE_WAIT_SAMPLING,
        }
    }
}

/// By default queue wait is measured on one job in 8: a clock read costs 20-40 ns,
/// a sizeable share of a ~200 ns job hand-off (bench `corral_pool`).
pub const DEFAULT_QUEUE_WAIT_SAMPLING: u32 = 8;

impl Builder {
    /// A builder with no workers set, a hand-off queue, the name `"pool"` and queue
    /// wait sampled on one job in [`DEFAULT_QUEUE_WAIT_SAMPLING`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Measures the queue wait of one accepted job in `every` (1: every job, 0: none)
    /// for [`Metrics::queue_wait`](crate::Metrics::queue_wait). The mean stays
    /// unbiased; the maximum is the largest sampled wait.
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
    /// With 0 (hand-off) a job is accepted only when a worker is idle: right after
    /// `build()`, that is once the workers have started and parked, so `try_submit`
    /// may report `Full` until then while `submit` simply waits.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Names the pool; workers are tracked tasks named `<name>-worker-<n>`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
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
        let workers = self.workers.ok_or(BuildError::WorkersNotSet)?;
        check_workers(workers)?;
        if self.queue_capacity > MAX_QUEUE_CAPACITY {
            return Err(BuildError::QueueTooLarge {
                requested: self.queue_capacity,
                max: MAX_QUEUE_CAPACITY,
            });
        }
        let name = self.name.unwrap_or_else(|| "pool".to_owned());
        Ok(Pool::start(
            name,
            workers,
            self.queue_capacity,
            self.sample_every,
            handle.clone(),
        ))
    }
}

fn check_workers(workers: usize) -> Result<(), BuildError> {
    if workers == 0 {
        Err(BuildError::ZeroWorkers)
    } else if workers > MAX_WORKERS {
        Err(BuildError::TooManyWorkers {
            requested: workers,
            max: MAX_WORKERS,
        })
    } else {
        Ok(())
    }
}
