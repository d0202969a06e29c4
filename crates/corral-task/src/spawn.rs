//! [`spawn`] and [`Builder`]: tracked drop-ins for `tokio::spawn`.

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::context;
use crate::registry::registry;
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
/// A future larger than tokio's boxing threshold (2 KiB in debug builds, 16 KiB
/// otherwise) is boxed first thing, before it is wrapped, as `tokio::spawn` boxes it:
/// a large future takes no more stack through corral than through tokio.
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
    // Boxed here, not one call further down: in a debug build each call a future is
    // passed through by value can take another copy of it on the stack.
    if AutoBox::<F>::SHOULD_BOX {
        Builder::new().spawn_here(Box::pin(future))
    } else {
        Builder::new().spawn_here(future)
    }
}

/// tokio's threshold for boxing a future before it becomes a task (its
/// `BOX_FUTURE_THRESHOLD`): a future this large is moved to the heap first thing, so
/// it is not copied through the spawn path's frames (debug builds copy it at each).
const BOX_FUTURE_THRESHOLD: usize = if cfg!(debug_assertions) { 2048 } else { 16384 };

/// Whether a future of type `T` is boxed before it is tracked and spawned.
///
/// An associated constant, not a runtime `if` on `size_of`, as in tokio: only the
/// branch taken is instantiated for a given `T`, so a spawn site does not get two
/// task types (one for `T`, one for `Pin<Box<T>>`).
struct AutoBox<T>(std::marker::PhantomData<T>);

impl<T> AutoBox<T> {
    const SHOULD_BOX: bool = std::mem::size_of::<T>() > BOX_FUTURE_THRESHOLD;
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
    /// Whether the task carries a span: `None` follows [`set_spans`].
    #[cfg(feature = "tracing")]
    span: Option<bool>,
}

/// The process-wide default for [`Builder::span`] (feature `tracing`).
#[cfg(feature = "tracing")]
static SPANS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns task spans on or off for every tracked task spawned from now on whose
/// [`Builder`] did not choose with [`Builder::span`] (feature `tracing`; off until
/// called). [`spawn`] follows it too.
///
/// With spans on, [`spawn`], [`Builder::spawn`] and [`Builder::spawn_on`] run the task
/// inside an `INFO` span named `"task"` with the fields `task.id` (the registry's
/// [`TaskId`](crate::TaskId) as a number), `task.name` (when named) and `task.site`
/// (the spawn location), so events logged inside the task are attributed to it.
/// [`Builder::track`] hands back a bare [`Tracked`] and never adds one (wrap it with
/// `tracing::Instrument` yourself).
///
/// Cost: entering and leaving the span on every poll. Measured per poll against the
/// same task without a span (`benches/corral_task_span_paired.rs`; BENCHMARKS.md):
/// nothing measurable without a subscriber, about 4 ns (on a ~150 ns yield-and-poll)
/// with a subscriber that enables the span and does nothing with it; a real
/// subscriber adds its own enter/exit work on top. Creating the span and recording
/// its id happen once per spawn. With spans off, one relaxed load per spawn.
#[cfg(feature = "tracing")]
pub fn set_spans(on: bool) {
    // Relaxed: a setting read at later spawns; it orders nothing else.
    SPANS.store(on, std::sync::atomic::Ordering::Relaxed);
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

    /// Whether this builder's tasks carry a `tracing` span with their name, spawn
    /// site and id, whatever [`set_spans`] says (feature `tracing`; see there for the
    /// span's fields and its cost).
    #[cfg(feature = "tracing")]
    pub fn span(mut self, on: bool) -> Self {
        self.span = Some(on);
        self
    }

    /// Spawns `future` on the current runtime as a tracked task.
    ///
    /// A large future is boxed first, as by [`spawn`].
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
        if AutoBox::<F>::SHOULD_BOX {
            self.spawn_here(Box::pin(future))
        } else {
            self.spawn_here(future)
        }
    }

    /// Spawns `future` on the runtime behind `handle` as a tracked task, as
    /// [`Handle::spawn`] does.
    ///
    /// A large future is boxed first, as by [`spawn`].
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
        if AutoBox::<F>::SHOULD_BOX {
            self.spawn_there(Box::pin(future), handle)
        } else {
            self.spawn_there(future, handle)
        }
    }

    /// Tracks `future` (already boxed if large) and spawns it on the current runtime.
    ///
    /// Kept apart from [`spawn_there`](Self::spawn_there) rather than one function
    /// taking an `Option<&Handle>`: the shared one measured 1.5-3% slower per spawn in
    /// `corral_task_paired` (`ct`), the cost of the spawn path this crate exists to keep
    /// small.
    #[track_caller]
    #[inline]
    fn spawn_here<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        #[cfg(feature = "tracing")]
        if let Some(span) = self.task_span(Location::caller()) {
            let tracked = self.register(future, None, Location::caller());
            let span = span.record_id(&tracked);
            return tokio::spawn(tracing::Instrument::instrument(tracked, span));
        }
        let tracked = self.register(future, None, Location::caller());
        tokio::spawn(tracked)
    }

    /// Tracks `future` (already boxed if large) and spawns it on `handle`'s runtime.
    #[track_caller]
    #[inline]
    fn spawn_there<F>(self, future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        #[cfg(feature = "tracing")]
        if let Some(span) = self.task_span(Location::caller()) {
            let tracked = self.register(future, Some(handle.id()), Location::caller());
            let span = span.record_id(&tracked);
            return handle.spawn(tracing::Instrument::instrument(tracked, span));
        }
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

    /// The span the task will carry, if spans are on for it (its id is recorded once
    /// the task is registered).
    #[cfg(feature = "tracing")]
    #[inline]
    fn task_span(&self, site: &'static Location<'static>) -> Option<TaskSpan> {
        // Relaxed: see `set_spans`.
        let on = self
            .span
            .unwrap_or_else(|| SPANS.load(std::sync::atomic::Ordering::Relaxed));
        if !on {
            return None;
        }
        let span = tracing::info_span!(
            "task",
            task.id = tracing::field::Empty,
            task.name = self.name.as_deref(),
            task.site = %site,
        );
        Some(TaskSpan(span))
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
        let (key, parent) = registry().insert(
            spawner.shard,
            location,
            spawner.runtime,
            self.name,
            &spawner.origin,
        );
        context::spawned_from(spawner.origin, parent);
        Tracked::new(future, key)
    }
}

/// A task's span before its id is known.
#[cfg(feature = "tracing")]
struct TaskSpan(tracing::Span);

#[cfg(feature = "tracing")]
impl TaskSpan {
    fn record_id<F>(self, tracked: &Tracked<F>) -> tracing::Span {
        self.0.record("task.id", tracked.id().as_u64());
        self.0
    }
}
