//! [`Semaphore`]: the public face. The engine lives in `semaphore/`.

mod engine;
mod queue;
mod state;
mod tickets;

use std::fmt;
use std::sync::Arc;
#[cfg(feature = "tokio")]
use std::time::Duration;

pub(crate) use self::engine::Waiter;
use self::queue::Queue;
use self::state::{free, permits, CLOSED, MAX_PERMITS};
use self::tickets::Tickets;
use crate::error::TryAcquireError;
use crate::futures::{Acquire, AcquireOwned};
use crate::metrics::Metrics;
use crate::permit::{OwnedPermit, Permit};
#[cfg(feature = "tokio")]
use crate::timeout::{AcquireOwnedTimeout, AcquireTimeout};
use corral_shared::sync::Ordering::Relaxed;
use corral_shared::sync::{AtomicU64, Mutex};

/// A weighted, strictly FIFO async semaphore with `u64` weights.
///
/// Acquirers ask for `n` permits and are served in arrival order: a request waits until
/// every request queued before it has been served and `n` permits are free. Permits come
/// back as RAII guards ([`Permit`], [`OwnedPermit`]) that return them when dropped.
/// See the [crate docs](crate) for the full contract.
///
/// # Memory ordering
///
/// Returning permits (dropping a permit) *happens-before* the acquisition that receives
/// those permits completes, just as unlocking a mutex happens-before the next lock. On
/// the uncontended path this is a `Release` add paired with an `Acquire`
/// compare-and-swap on one state word; when the permits are handed to a queued waiter,
/// the hand-off runs under the queue lock and reaches the waiter through the lock or,
/// lock-free, through its grant ticket (a `Release` store read with `Acquire`). So a
/// semaphore of capacity 1 can guard data like a mutex. [`close`](Self::close),
/// [`set_capacity`](Self::set_capacity) and the observers ([`available`](Self::available),
/// [`capacity`](Self::capacity), [`waiters`](Self::waiters)) promise no ordering with
/// other memory: they are snapshots.
pub struct Semaphore {
    /// Free permits and two flags. Bit layout (details in `semaphore/state.rs`):
    ///
    /// | bits  | field    | meaning                                                   |
    /// |-------|----------|-----------------------------------------------------------|
    /// | 0     | `SLOW`   | waiters queued or shrink debt outstanding: take the lock  |
    /// | 1     | `CLOSED` | closed; never cleared                                      |
    /// | 2..64 | permits  | free permits, assigned to nobody                           |
    state: AtomicU64,
    /// The total the semaphore hands out. Written only under `queue`'s lock.
    capacity: AtomicU64,
    /// Waiters, in arrival order, and shrink debt. Taken only when `SLOW` is set or a
    /// fast path fails.
    queue: Mutex<Queue>,
    /// Lock-free grant tickets for the first waiter slots.
    tickets: Tickets,
    /// The `metrics` feature's handles, `Some` only for [`Semaphore::with_name`].
    #[cfg(feature = "metrics")]
    metrics: Option<Box<Metrics>>,
}

impl Semaphore {
    /// The largest capacity a semaphore can have: `2^62 - 1` (two bits of the state
    /// word are flags).
    pub const MAX_PERMITS: u64 = MAX_PERMITS;

    /// Creates a semaphore holding `capacity` permits, all free.
    ///
    /// # Panics
    ///
    /// If `capacity` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corral_semaphore::Semaphore;
    ///
    /// static CONNECTIONS: Semaphore = Semaphore::new(100);
    /// assert_eq!(CONNECTIONS.available(), 100);
    /// ```
    #[cfg(not(corral_loom))]
    #[must_use]
    pub const fn new(capacity: u64) -> Self {
        assert!(
            capacity <= MAX_PERMITS,
            "semaphore capacity exceeds Semaphore::MAX_PERMITS"
        );
        Semaphore {
            state: AtomicU64::new(permits(capacity)),
            capacity: AtomicU64::new(capacity),
            queue: Mutex::new(Queue::new()),
            tickets: Tickets::new(),
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }

    /// Creates a semaphore holding `capacity` permits (loom build: not `const`).
    #[cfg(corral_loom)]
    #[must_use]
    pub fn new(capacity: u64) -> Self {
        assert!(
            capacity <= MAX_PERMITS,
            "semaphore capacity exceeds Semaphore::MAX_PERMITS"
        );
        Semaphore {
            state: AtomicU64::new(permits(capacity)),
            capacity: AtomicU64::new(capacity),
            queue: Mutex::new(Queue::new()),
            tickets: Tickets::new(),
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }

    /// Creates a semaphore with `capacity` permits that carries `name`, the value of the
    /// `semaphore` label on its metrics, shared through an `Arc` (with the `metrics`
    /// feature, the census tick keeps a weak reference to it).
    ///
    /// With the `metrics` feature (off by default) the semaphore registers its metric
    /// handles here, once, with whatever recorder is installed at this moment, and
    /// reports through them:
    ///
    /// | name | type | what | updated |
    /// |---|---|---|---|
    /// | `corral_semaphore_capacity_permits` | gauge | [`capacity`](Self::capacity) | census tick |
    /// | `corral_semaphore_available_permits` | gauge | [`available`](Self::available) | census tick |
    /// | `corral_semaphore_waiters` | gauge | [`waiters`](Self::waiters) | census tick |
    /// | `corral_semaphore_acquire_wait_seconds` | histogram | time queued, for a random sample of the acquires that waited and were granted (one in `set_wait_sampling`'s rate, 64 by default) | when granted |
    /// | `corral_semaphore_acquire_waits_total` | counter | acquires that waited and were granted, every one | census tick |
    /// | `corral_semaphore_acquire_timeouts_total` | counter | acquires whose timeout expired | at once |
    /// | `corral_semaphore_acquire_too_large_total` | counter | requests refused with [`TooLarge`](crate::AcquireError::TooLarge) | at once |
    /// | `corral_semaphore_acquire_closed_total` | counter | requests refused with [`Closed`](crate::AcquireError::Closed) | at once |
    ///
    /// The gauges are sampled, not moved by each acquire and release (which would cost
    /// the fast path several times its time): they are published here, at creation, and
    /// then on each census tick, so they are as fresh as the tick's interval
    /// (`corral_task::export_metrics(interval)`, which samples every named corral
    /// primitive; without corral-task, call `corral_semaphore::sample_metrics()`
    /// periodically). With no tick running they keep their values from creation.
    /// Semaphores given the same name add up into one series, and a dropped semaphore
    /// takes its share back out at once. Without the feature the name is not stored.
    ///
    /// The wait histogram is a sample: an acquire that joins the queue is timed with
    /// probability 1 in 64 (or as set with `set_wait_sampling`, `metrics` feature), chosen
    /// by an independent random draw, so its `_count` is about 1/64 of the acquires that
    /// waited, `_sum / _count` estimates their mean wait, unbiased whatever the arrival
    /// pattern, and its quantiles are those of the sample. The exact number of acquires
    /// that waited is `corral_semaphore_acquire_waits_total`; times the mean, it
    /// estimates the total time waited. A waiter granted but dropped before it was
    /// polled again is counted but not timed.
    ///
    /// # Panics
    ///
    /// If `capacity` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corral_semaphore::Semaphore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let db = Semaphore::with_name(10, "db");
    /// assert_eq!(db.capacity(), 10);
    /// let owned = db.acquire_owned(2).await.unwrap(); // moves into a task
    /// assert_eq!(db.available(), 8);
    /// # drop(owned);
    /// # }
    /// ```
    #[must_use]
    pub fn with_name(capacity: u64, name: impl Into<String>) -> Arc<Self> {
        #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
        let mut sem = Semaphore::new(capacity);
        let name = name.into();
        #[cfg(feature = "metrics")]
        {
            sem.metrics = Some(Box::new(Metrics::register(&name)));
            let sem = Arc::new(sem);
            sem.sample_gauges();
            corral_shared::metrics::register(Arc::downgrade(&sem), |sem| sem.sample_gauges());
            sem
        }
        #[cfg(not(feature = "metrics"))]
        {
            drop(name);
            Arc::new(sem)
        }
    }

    /// Whether the semaphore reports (made by [`with_name`](Self::with_name)).
    #[cfg(feature = "metrics")]
    pub(crate) fn is_named(&self) -> bool {
        self.metrics.is_some()
    }

    /// Publishes capacity, available permits, waiters and the waits total as they are
    /// now (named semaphores; at creation and on each census tick). They are read one
    /// after the other, not as one atomic snapshot.
    #[cfg(feature = "metrics")]
    fn sample_gauges(&self) {
        if let Some(m) = &self.metrics {
            let (waiters, waits) = {
                let queue = self.queue.lock();
                (queue.len() as u64, queue.granted)
            };
            m.publish([self.capacity(), self.available(), waiters], waits);
        }
    }

    /// Times the wait of one acquire in `every` that joins the queue, for the
    /// `corral_semaphore_acquire_wait_seconds` histogram (1: every one, 0: none; until
    /// set, [`DEFAULT_WAIT_SAMPLING`](crate::DEFAULT_WAIT_SAMPLING), 64). Each acquire
    /// is chosen by an independent random draw when it joins the queue, so bursts are
    /// sampled like anything else and the sampled mean stays unbiased; an acquire not
    /// chosen reads no clock. Each timed wait costs two clock reads and a histogram
    /// record (on a contended semaphore, timing every wait made acquire + release 25-39%
    /// slower: BENCHMARKS.md). Only with the `metrics` feature; it matters only for a
    /// semaphore made with [`with_name`](Self::with_name).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral_semaphore::Semaphore;
    ///
    /// let db = Semaphore::with_name(10, "db");
    /// db.set_wait_sampling(1); // time every wait
    /// ```
    #[cfg(feature = "metrics")]
    pub fn set_wait_sampling(&self, every: u32) {
        self.queue.lock().sampler = corral_shared::sample::Sampler::new(every);
    }

    /// Runs `f` on the metric handles if the semaphore has them. Without the `metrics`
    /// feature [`Metrics`] is uninhabited and this is empty.
    #[inline(always)]
    #[allow(unused_variables)]
    pub(crate) fn observe(&self, f: impl FnOnce(&Metrics)) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.metrics {
            f(m);
        }
    }

    /// Waits for `n` permits, in FIFO order.
    ///
    /// `n == 0` succeeds at once (unless closed). A request above the capacity fails at
    /// once with [`AcquireError::TooLarge`](crate::AcquireError::TooLarge) and never
    /// blocks anyone behind it.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`](crate::AcquireError::Closed) if the semaphore is or
    /// becomes closed before the permits are granted;
    /// [`AcquireError::TooLarge`](crate::AcquireError::TooLarge) if `n` exceeds the
    /// capacity now, or the capacity shrinks below `n` while waiting.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future gives up its place in the queue and loses no
    /// permit: permits granted to it but not yet returned from `poll` go back to the
    /// semaphore, and if it was first in line, the waiters behind it that now fit are
    /// woken.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral_semaphore::Semaphore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sem = Semaphore::new(10);
    /// let permit = sem.acquire(4).await.unwrap();
    /// assert_eq!(sem.available(), 6);
    /// drop(permit);
    /// assert_eq!(sem.available(), 10);
    /// # }
    /// ```
    #[inline]
    pub fn acquire(&self, n: u64) -> Acquire<'_> {
        Acquire::new(self, n)
    }

    /// Waits for `n` permits, in FIFO order, and returns a permit that owns a clone of
    /// the `Arc`, so it can move into a spawned task.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire): dropping the future loses no permit
    /// and wakes the waiters behind it that now fit.
    pub fn acquire_owned(self: &Arc<Self>, n: u64) -> AcquireOwned {
        AcquireOwned::new(Arc::clone(self), n)
    }

    /// Waits at most `timeout` for `n` permits, in FIFO order.
    ///
    /// The permits are tried before the timer is looked at, so permits that are free
    /// (and not owed to earlier waiters) are taken even with a zero timeout. When the
    /// timer has fired, the request leaves the queue only if it was not granted
    /// meanwhile (decided under the queue lock): a grant that lands together with the
    /// deadline is returned, never handed back as a timeout.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire), plus
    /// [`AcquireTimeoutError::Timeout`](crate::AcquireTimeoutError::Timeout) when the
    /// time runs out; the request has then left the queue.
    ///
    /// # Panics
    ///
    /// When polled while the request has to wait, outside a tokio runtime with the time
    /// driver enabled (the timer is registered then). The deadline is `now + timeout`,
    /// fixed when this method is called.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire): dropping the future loses no permit
    /// and wakes the waiters behind it that now fit.
    #[cfg(feature = "tokio")]
    pub fn acquire_timeout(&self, n: u64, timeout: Duration) -> AcquireTimeout<'_> {
        AcquireTimeout::new(self.acquire(n), timeout)
    }

    /// Waits at most `timeout` for `n` permits, in FIFO order, as an owned permit (for
    /// example, to move into a task spawned with a bounded wait for its slot).
    ///
    /// # Errors
    ///
    /// As [`acquire_timeout`](Self::acquire_timeout).
    ///
    /// # Panics
    ///
    /// As [`acquire_timeout`](Self::acquire_timeout).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire): dropping the future loses no permit
    /// and wakes the waiters behind it that now fit.
    #[cfg(feature = "tokio")]
    pub fn acquire_owned_timeout(
        self: &Arc<Self>,
        n: u64,
        timeout: Duration,
    ) -> AcquireOwnedTimeout {
        AcquireOwnedTimeout::new(self.acquire_owned(n), timeout)
    }

    /// Takes `n` permits if that is possible without waiting.
    ///
    /// Fails when other acquirers are queued even if enough permits are free: the
    /// free permits are theirs (no barging).
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::Closed`], [`TryAcquireError::TooLarge`] (`n` exceeds the
    /// capacity), or [`TryAcquireError::NoPermits`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corral_semaphore::{Semaphore, TryAcquireError};
    ///
    /// let sem = Semaphore::new(2);
    /// let held = sem.try_acquire(2).unwrap();
    /// assert_eq!(
    ///     sem.try_acquire(1).unwrap_err(),
    ///     TryAcquireError::NoPermits { requested: 1, available: 0 },
    /// );
    /// drop(held);
    /// assert!(sem.try_acquire(1).is_ok());
    /// ```
    #[inline]
    pub fn try_acquire(&self, n: u64) -> Result<Permit<'_>, TryAcquireError> {
        if !self.try_take_fast(n) {
            self.try_take(n)?;
        }
        Ok(Permit::new(self, n))
    }

    /// Takes `n` permits if that is possible without waiting, as an owned permit.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    #[inline]
    pub fn try_acquire_owned(self: &Arc<Self>, n: u64) -> Result<OwnedPermit, TryAcquireError> {
        if !self.try_take_fast(n) {
            self.try_take(n)?;
        }
        Ok(OwnedPermit::new(Arc::clone(self), n))
    }

    /// Sets the total number of permits.
    ///
    /// Growing frees the new permits at once and wakes the waiters that now fit.
    /// Shrinking is lazy: free permits are removed at once, and permits that are held
    /// are absorbed as they are released, so [`available`](Self::available) stays at 0
    /// until the holders are below the new capacity. Queued requests larger than the new
    /// capacity fail with [`AcquireError::TooLarge`](crate::AcquireError::TooLarge).
    ///
    /// The argument is the new total, not a change. Adding `n` permits (tokio's and
    /// async-lock's `add_permits`, Java's `release(n)`) as
    /// `set_capacity(capacity() + n)` is a read-modify-write: a
    /// [`forget`](crate::Permit::forget) or another `set_capacity` on another thread
    /// between the read and the write is overwritten. Keep capacity changes with one
    /// owner, or have holders return their permits rather than forget them.
    ///
    /// # Panics
    ///
    /// If `capacity` exceeds [`Semaphore::MAX_PERMITS`]. The sum in
    /// `set_capacity(capacity() + n)` is the caller's: `checked_add` it rather than
    /// let it wrap to a small capacity in release builds.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral_semaphore::Semaphore;
    ///
    /// let sem = Semaphore::new(10);
    /// let held = sem.try_acquire(8).unwrap();
    /// sem.set_capacity(4);
    /// assert_eq!((sem.capacity(), sem.available()), (4, 0));
    /// drop(held); // 4 of the 8 are absorbed by the shrink
    /// assert_eq!(sem.available(), 4);
    /// ```
    pub fn set_capacity(&self, capacity: u64) {
        assert!(
            capacity <= MAX_PERMITS,
            "semaphore capacity exceeds Semaphore::MAX_PERMITS"
        );
        self.resize(capacity);
    }

    /// Closes the semaphore: every queued waiter and every later acquire fails with
    /// `Closed`. Permits already held stay valid and are returned as usual.
    pub fn close(&self) {
        self.close_and_fail();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        // Relaxed: a snapshot; acting on it needs no ordering with other memory.
        self.state.load(Relaxed) & CLOSED != 0
    }

    /// The total number of permits (held plus free, less forgotten ones).
    pub fn capacity(&self) -> u64 {
        // Relaxed: a snapshot of a value written under the lock.
        self.capacity.load(Relaxed)
    }

    /// The permits free right now. Queued waiters may be owed them.
    pub fn available(&self) -> u64 {
        // Relaxed: a snapshot; it orders nothing.
        free(self.state.load(Relaxed))
    }

    /// The number of acquirers queued right now.
    pub fn waiters(&self) -> usize {
        self.queue.lock().len()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("capacity", &self.capacity())
            .field("available", &self.available())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, corral_loom))]
mod loom_models;
