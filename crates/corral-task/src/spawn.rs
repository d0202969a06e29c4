//! [`spawn`] and [`Builder`]: tracked drop-ins for `tokio::spawn`.

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::context;
use crate::registry::{registry, Entry};
use crate::tracked::Tracked;

/// Spawns `future` on the current tokio runtime as a tracked task.
///
/// Same signature and behaviour as [`tokio::spawn`]; in addition the task is in the
/// live-task registry ([`snapshot`](crate::snapshot)) from now until its future is
/// dropped, with its spawn location, its parent (the tracked task calling `spawn`, if
/// any), its runtime and its spawn time.
///
/// # Cancel safety
///
/// The returned [`JoinHandle`] behaves as tokio's: dropping it detaches the task, which
/// keeps running (and stays in the registry, where a census or a leak guard sees it);
/// call [`JoinHandle::abort`] to cancel it.
///
/// # Panics
///
/// Panics when called outside a tokio runtime, as `tokio::spawn` does.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handle = corral_task::spawn(async { 6 * 7 });
/// assert_eq!(handle.await.unwrap(), 42);
/// # }
/// ```
#[track_caller]
#[inline]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Builder::new().spawn(future)
}

/// Configures a tracked task before spawning it: today, its name.
///
/// A builder can be cloned and reused; the name is shared between the tasks it spawns,
/// not copied.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use corral_task::Builder;
///
/// let worker = Builder::new().name("flush-worker").spawn(async { "flushed" });
/// assert_eq!(worker.await.unwrap(), "flushed");
/// # }
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<Arc<str>>,
}

impl Builder {
    /// A builder with no name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task; the name shows in snapshots, the census and leak reports.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// Spawns `future` on the current runtime as a tracked task.
    ///
    /// # Cancel safety
    ///
    /// As for [`spawn`]: dropping the [`JoinHandle`] detaches the task.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime, as `tokio::spawn` does.
    #[track_caller]
    #[inline]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let tracked = self.register(future, None, Location::caller());
        tokio::spawn(tracked)
    }

    /// Spawns `future` on the runtime behind `handle` as a tracked task, as
    /// [`Handle::spawn`] does.
    ///
    /// # Cancel safety
    ///
    /// As for [`spawn`]: dropping the [`JoinHandle`] detaches the task.
    #[track_caller]
    #[inline]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let tracked = self.register(future, Some(handle.id()), Location::caller());
        handle.spawn(tracked)
    }

    /// Registers `future` without spawning it, for executors corral does not spawn on
    /// itself: `JoinSet::spawn`, `tokio::task::spawn_local`, a tokio-util
    /// `TaskTracker`.
    ///
    /// The entry appears now (runtime: the current one) and leaves when the returned
    /// [`Tracked`] is dropped.
    ///
    /// # Cancel safety
    ///
    /// Dropping the [`Tracked`] future drops `future` and removes the entry.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut set = tokio::task::JoinSet::new();
    /// set.spawn(corral_task::Builder::new().name("in-a-set").track(async { 1 }));
    /// assert_eq!(set.join_next().await.unwrap().unwrap(), 1);
    /// # }
    /// ```
    #[track_caller]
    pub fn track<F: Future>(self, future: F) -> Tracked<F> {
        self.register(future, None, Location::caller())
    }

    /// Records the task (`runtime`: `None` for the current one) and wraps `future`.
    #[track_caller]
    #[inline]
    fn register<F>(
        self,
        future: F,
        runtime: Option<tokio::runtime::Id>,
        location: &'static Location<'static>,
    ) -> Tracked<F> {
        let spawner = context::spawner(runtime);
        let registry = registry();
        let entry = Entry {
            location,
            parent: None,
            runtime: spawner.runtime,
            spawned_at: registry.stamp(),
            tree: 0,
        };
        let (key, parent) = registry.insert(spawner.shard, entry, self.name, spawner.origin);
        context::spawned_from(spawner.origin, parent);
        Tracked::new(future, key)
    }
}
