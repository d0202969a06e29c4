//! The handle to one accepted job, and the result slot it shares with the worker that
//! runs the job. Neither knows the pool's job type: the slot reaches its pool through
//! [`PoolLink`], which the engine implements.

mod slot;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::builder::PanicHook;
use crate::error::JobError;
pub(crate) use slot::{Payload, Resolved, Slot};

/// What a job's slot may ask of its pool without knowing the pool's job type.
pub(crate) trait PoolLink: Send + Sync {
    /// Takes job `seq` out of the queue if it is still queued (resolving its handle
    /// `Cancelled` and dropping the job); `false` if a worker took it already.
    fn cancel_queued(&self, seq: u64) -> bool;
    /// Hands a panic nobody looked at to the pool's `on_panic` hook.
    fn report_panic(&self, payload: Payload);
}

/// Resolves to an accepted job's output, or to a [`JobError`] if it panicked, was
/// cancelled, or was handed back by [`Pool::shutdown_now`](crate::Pool::shutdown_now).
///
/// Dropping the handle does **not** cancel the job (it runs to completion and its output
/// is dropped), like tokio's `JoinHandle`. To cancel, call [`JobHandle::abort`], or wrap
/// it with [`JobHandle::abort_on_drop`]. If a job whose handle was dropped panics (or
/// had panicked, unobserved, when the handle is dropped), the payload goes to the
/// pool's [`on_panic`](crate::Builder::on_panic) hook.
///
/// # Cancel safety
///
/// Awaiting the handle is cancel safe: dropping the `.await` (or the handle) leaves the
/// job running and loses only its output.
#[must_use = "dropping a JobHandle detaches the job: it still runs, its output is lost"]
pub struct JobHandle<T> {
    /// `None` once the outcome was taken.
    slot: Option<Arc<Slot<T>>>,
}

impl<T> JobHandle<T> {
    pub(crate) fn new(slot: Arc<Slot<T>>) -> Self {
        JobHandle { slot: Some(slot) }
    }

    /// Cancels the job. A queued job is taken out of the queue at once, on this
    /// thread: its handle resolves to [`JobError::Cancelled`] before `abort` returns,
    /// its place in the queue is free for another job, and its future is dropped
    /// unpolled (so it is never handed back by
    /// [`Pool::shutdown_now`](crate::Pool::shutdown_now)). A running job is dropped
    /// at its next wake-up (or at once if it is parked) and the handle then resolves to
    /// [`JobError::Cancelled`], unless the job finished first. Either way it counts as
    /// cancelled. Idempotent.
    pub fn abort(&self) {
        let Some(slot) = &self.slot else {
            return; // the outcome was taken: the job is over
        };
        if let Some(pool) = slot.pool() {
            if pool.cancel_queued(slot.seq()) {
                return;
            }
        }
        slot.interrupt();
    }

    /// Whether the job has ended (its outcome is stored or was taken).
    pub fn is_finished(&self) -> bool {
        self.slot.as_ref().is_none_or(|slot| slot.is_finished())
    }

    /// Wraps the handle so that dropping it aborts the job.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe by design: dropping the returned future cancels the job.
    pub fn abort_on_drop(self) -> AbortOnDrop<T> {
        AbortOnDrop { handle: Some(self) }
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    /// # Panics
    ///
    /// If polled again after it returned `Ready`.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let slot = self
            .slot
            .as_ref()
            .expect("JobHandle polled after it returned its outcome");
        let outcome = slot.poll_take(cx);
        if outcome.is_ready() {
            self.slot = None;
        }
        outcome
    }
}

impl<T> Drop for JobHandle<T> {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        if let Some(payload) = slot.detach() {
            match slot.pool() {
                Some(pool) => pool.report_panic(payload),
                // The pool is gone with its hook: report it the default way.
                None => PanicHook::default().report("pool", payload),
            }
        }
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A [`JobHandle`] that aborts its job when dropped (from [`JobHandle::abort_on_drop`]).
///
/// # Cancel safety
///
/// Not cancel safe by design: dropping it (or an `.await` on it) cancels the job.
#[must_use = "dropping an AbortOnDrop cancels the job"]
pub struct AbortOnDrop<T> {
    /// `None` only after `detach`.
    handle: Option<JobHandle<T>>,
}

impl<T> AbortOnDrop<T> {
    /// Gives the plain handle back; dropping it no longer cancels.
    ///
    /// # Cancel safety
    ///
    /// The returned handle is cancel safe: dropping it leaves the job running.
    pub fn detach(mut self) -> JobHandle<T> {
        self.handle.take().expect("handle present until detach")
    }

    /// Cancels the job now (see [`JobHandle::abort`]).
    pub fn abort(&self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let handle = self.handle.as_mut().expect("handle present until detach");
        Pin::new(handle).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            if !handle.is_finished() {
                handle.abort();
            }
        }
    }
}

impl<T> fmt::Debug for AbortOnDrop<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AbortOnDrop").field(&self.handle).finish()
    }
}

/// A link to no pool, for slots that the loom models drive without one.
#[cfg(all(test, corral_loom))]
pub(crate) fn no_pool() -> std::sync::Weak<dyn PoolLink> {
    struct NoPool;
    impl PoolLink for NoPool {
        fn cancel_queued(&self, _: u64) -> bool {
            false
        }
        fn report_panic(&self, _: Payload) {}
    }
    std::sync::Weak::<NoPool>::new()
}
