//! The result slot shared by one job's runner (a worker) and its [`JobHandle`].
//!
//! This is the only per-job allocation: the job's future itself travels by value
//! through the queue into the worker's own task.
//!
//! # Invariants
//!
//! - The state goes `Pending -> Ready -> Taken`, each step once, under `inner`'s lock.
//! - `aborted` only goes `false -> true`. A runner checks it before each poll and
//!   again after registering its waker under the lock, and [`Slot::abort`] sets it
//!   before taking that waker under the same lock, so an abort is never missed.
//!
//! [`JobHandle`]: crate::JobHandle

use std::task::{Context, Poll, Waker};

use crate::error::JobError;
use crate::sync::{AtomicBool, Mutex, Ordering};

#[derive(Debug)]
pub(crate) struct Slot<T> {
    aborted: AtomicBool,
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
}

#[derive(Debug)]
enum State<T> {
    Pending,
    Ready(Result<T, JobError>),
    Taken,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Self {
        Slot {
            aborted: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                state: State::Pending,
                handle_waker: None,
                job_waker: None,
            }),
        }
    }

    /// Stores the outcome (the first one wins) and wakes the handle.
    pub(crate) fn complete(&self, outcome: Result<T, JobError>) {
        let waker = {
            let mut inner = self.inner.lock();
            if matches!(inner.state, State::Pending) {
                inner.state = State::Ready(outcome);
            }
            inner.job_waker = None;
            inner.handle_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether an abort was requested.
    pub(crate) fn is_aborted(&self) -> bool {
        // Acquire pairs with the Release in `abort`; nothing else is published through
        // this flag, the lock orders the rest.
        self.aborted.load(Ordering::Acquire)
    }

    /// Asks the runner to drop the job; wakes it if it is parked inside the job.
    pub(crate) fn abort(&self) {
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
