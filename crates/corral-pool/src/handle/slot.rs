//! The result slot shared by one job's runner (a worker) and its [`JobHandle`].
//!
//! This is the only per-job allocation: the job's future itself travels by value
//! through the queue into the worker's own task.
//!
//! # Invariants
//!
//! - The state goes `Pending -> Ready -> Taken`, each step once, under `inner`'s lock.
//! - `handle_gone` only goes `false -> true`, when the handle is dropped unresolved:
//!   a panic that arrives after that is not stored but handed to the pool's `on_panic`
//!   hook, and one stored before it is taken out for the hook by the handle's drop.
//! - `aborted` only goes `false -> true`. A runner checks it before each poll and
//!   again after registering its waker under the lock, and [`Slot::abort`] sets it
//!   before taking that waker under the same lock, so an abort is never missed.
//!
//! [`JobHandle`]: crate::JobHandle

use std::any::Any;
// std, not the loom-switched shim: the link is a `Weak<dyn PoolLink>`, an unsized
// coercion loom's `Arc` cannot make. Reference counts are not what the models check.
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use corral_shared::sync::{AtomicBool, AtomicU64, Mutex, Ordering};

use super::PoolLink;
use crate::error::JobError;

#[derive(Debug)]
pub(crate) struct Slot<T> {
    aborted: AtomicBool,
    /// The job's sequence number in its pool's queue, set when it enters the queue.
    seq: AtomicU64,
    /// The pool, for an abort (to take the job out of the queue) and for a panic nobody
    /// looked at (its `on_panic` hook). Held here rather than in the handle so a
    /// handle stays one pointer.
    pool: Weak<dyn PoolLink>,
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    state: State<T>,
    /// The task awaiting the handle.
    handle_waker: Option<Waker>,
    /// The worker running the job, registered while the job is pending so an abort can
    /// interrupt it.
    job_waker: Option<Waker>,
    /// The handle was dropped before the outcome was taken.
    handle_gone: bool,
}

/// A panic payload.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// What storing an outcome asks of the caller, once its locks are released.
pub(crate) enum Resolved {
    Nobody,
    /// Wake the task awaiting the handle.
    Wake(Waker),
    /// The job panicked and its handle is gone: report the payload (`on_panic`).
    Unobserved(Payload),
}

#[derive(Debug)]
enum State<T> {
    Pending,
    Ready(Result<T, JobError>),
    Taken,
}

impl<T> Slot<T> {
    pub(crate) fn new(pool: Weak<dyn PoolLink>) -> Self {
        Slot {
            aborted: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            pool,
            inner: Mutex::new(Inner {
                state: State::Pending,
                handle_waker: None,
                job_waker: None,
                handle_gone: false,
            }),
        }
    }

    /// Stores the outcome (the first one wins). Returns the handle's waker to wake, or
    /// a panic nobody will look at, for the caller to deliver outside its locks. May run
    /// under the pool's lock, so it drops nothing of the job's (an outcome that loses, or
    /// one whose handle is gone, stays in the slot until the slot is dropped, which the
    /// callers do outside the pool's lock).
    pub(crate) fn complete(&self, outcome: Result<T, JobError>) -> Resolved {
        let mut inner = self.inner.lock();
        inner.job_waker = None;
        if !matches!(inner.state, State::Pending) {
            return Resolved::Nobody;
        }
        match outcome {
            Err(JobError::Panicked(payload)) if inner.handle_gone => {
                inner.state = State::Taken;
                Resolved::Unobserved(payload)
            }
            outcome => {
                inner.state = State::Ready(outcome);
                inner
                    .handle_waker
                    .take()
                    .map_or(Resolved::Nobody, Resolved::Wake)
            }
        }
    }

    /// The handle is dropped before it took the outcome. Returns a stored panic that
    /// nobody looked at, for the pool's `on_panic` hook.
    pub(crate) fn detach(&self) -> Option<Payload> {
        let mut inner = self.inner.lock();
        inner.handle_gone = true;
        inner.handle_waker = None;
        if matches!(inner.state, State::Ready(Err(JobError::Panicked(_)))) {
            if let State::Ready(Err(JobError::Panicked(payload))) =
                std::mem::replace(&mut inner.state, State::Taken)
            {
                return Some(payload);
            }
        }
        None
    }

    /// Whether an abort was requested.
    pub(crate) fn is_aborted(&self) -> bool {
        // Acquire pairs with the Release in `abort`; nothing else is published through
        // this flag, the lock orders the rest.
        self.aborted.load(Ordering::Acquire)
    }

    /// Records the job's place in the queue (under the pool's lock, as it enters).
    pub(crate) fn set_seq(&self, seq: u64) {
        // Relaxed: written under the pool's lock before anyone can hold the handle;
        // whoever aborts got the handle through that lock (the submitter) or from it,
        // which orders this store before their load.
        self.seq.store(seq, Ordering::Relaxed);
    }

    /// The job's place in the queue (see [`Slot::set_seq`] for the ordering).
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// The job's pool, if it is still there.
    pub(crate) fn pool(&self) -> Option<Arc<dyn PoolLink>> {
        self.pool.upgrade()
    }

    /// Asks the runner to drop the job; wakes it if it is parked inside the job.
    pub(crate) fn interrupt(&self) {
        self.aborted.store(true, Ordering::Release);
        let waker = self.inner.lock().job_waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Records the runner's waker while the job is pending. Returns `true` if an abort
    /// arrived meanwhile (the caller must then stop instead of waiting).
    pub(crate) fn register_runner(&self, waker: &Waker) -> bool {
        let mut inner = self.inner.lock();
        match &inner.job_waker {
            Some(w) if w.will_wake(waker) => {}
            _ => inner.job_waker = Some(waker.clone()),
        }
        drop(inner);
        self.is_aborted()
    }

    /// Whether the outcome is stored or was already taken.
    pub(crate) fn is_finished(&self) -> bool {
        !matches!(self.inner.lock().state, State::Pending)
    }

    /// Takes the outcome, or registers `cx`'s waker.
    ///
    /// # Panics
    ///
    /// If the outcome was already taken (a handle polled after completion).
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>> {
        let mut inner = self.inner.lock();
        match std::mem::replace(&mut inner.state, State::Taken) {
            State::Ready(outcome) => Poll::Ready(outcome),
            State::Pending => {
                inner.state = State::Pending;
                match &inner.handle_waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => inner.handle_waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            State::Taken => panic!("JobHandle polled after it returned its outcome"),
        }
    }
}
