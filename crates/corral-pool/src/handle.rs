//! The handle to one accepted job.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::JobError;
use crate::pool::slot::Slot;
use crate::sync::Arc;

/// Resolves to an accepted job's output, or to a [`JobError`] if it panicked, was
/// cancelled, or was handed back by [`Pool::shutdown_now`](crate::Pool::shutdown_now).
///
/// Dropping the handle does **not** cancel the job (it runs to completion and its output
/// is dropped), like tokio's `JoinHandle`. To cancel, call [`JobHandle::abort`], or wrap
/// it with [`JobHandle::abort_on_drop`].
///
/// # Cancel safety
///
/// Awaiting the handle is cancel safe: dropping the `.await` (or the handle) leaves the
/// job running and loses only its output.
#[must_use = "dropping a JobHandle detaches the job: it still runs, its output is lost"]
pub struct JobHandle<T> {
    slot: Arc<Slot<T>>,
}

impl<T> JobHandle<T> {
    pub(crate) fn new(slot: Arc<Slot<T>>) -> Self {
        JobHandle { slot }
    }

    /// Cancels the job: a queued job is dropped unpolled when a worker reaches it, a
    /// running job is dropped at its next wake-up (or at once if it is parked). The
    /// handle then resolves to [`JobError::Cancelled`], unless the job finished first.
    pub fn abort(&self) {
        self.slot.abort();
    }

    /// Whether the job has ended (its outcome is stored or was taken).
    pub fn is_finished(&self) -> bool {
        self.slot.is_finished()
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
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.slot.poll_take(cx)
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
