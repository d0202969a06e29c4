//! [`Tracked`]: the wrapper that keeps a task's registry entry alive exactly as long as
//! its future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::context::Enter;
use crate::registry::{registry, Key, TaskId};

pin_project! {
    /// A future registered in the live-task registry until it is dropped.
    ///
    /// [`spawn`](crate::spawn) and [`Builder::spawn`](crate::Builder::spawn) wrap every
    /// task in one; [`Builder::track`](crate::Builder::track) hands one out for
    /// executors corral does not spawn on itself (a `JoinSet`, a `LocalSet`, a
    /// `TaskTracker`). While it is polled, tasks it spawns through corral record it as
    /// their parent.
    ///
    /// Its registry entry is removed when it is dropped, whatever the reason:
    /// completion, abort, a panic, or its runtime shutting down.
    #[must_use = "a Tracked future does nothing unless polled or spawned; dropping it removes its registry entry"]
    pub struct Tracked<F> {
        #[pin]
        future: F,
        // Declared after `future`, so the entry leaves the registry only once the
        // future (and anything it owns) has been dropped.
        slot: Slot,
    }
}

/// Owns one registry entry and removes it on drop.
///
/// Just the [`Key`] (8 bytes): see there why a tracked task carries nothing more.
struct Slot(Key);

impl Drop for Slot {
    #[inline]
    fn drop(&mut self) {
        crate::context::retire(self.0);
    }
}

impl<F> Tracked<F> {
    #[inline]
    pub(crate) fn new(future: F, key: Key) -> Self {
        Self {
            future,
            slot: Slot(key),
        }
    }

    /// The id this task has in the registry.
    pub fn id(&self) -> TaskId {
        TaskId(registry().lineage(self.slot.0).id)
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _enter = Enter::new(this.slot.0);
        this.future.poll(cx)
    }
}

impl<F> fmt::Debug for Tracked<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}
