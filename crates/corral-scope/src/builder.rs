//! `ChildBuilder`: one child with a name of its own, or one that runs in the background.

use std::fmt;
use std::future::Future;

use crate::child::ChildHandle;
use crate::core::ChildOptions;
use crate::error::TrySpawnError;
use crate::handle::Scope;
use crate::spawn::Spawn;

/// Builds one child of a scope; made by [`Scope::child`].
///
/// - [`name`](ChildBuilder::name) names the child in the tracked-task registry
///   (snapshots, the census, leak reports), over the scope's own name, so a service's
///   children show by role.
/// - [`background`](ChildBuilder::background) makes it a background child (a monitor,
///   a heartbeat, a progress reporter): when the scope's body returns `Ok`, the group
///   stops it at its next await instead of waiting for it, and the scope returns the
///   body's value. Until then it is an ordinary child: its error cancels the group and
///   is the scope's result, its panic resumes in the owner, it takes a slot of a
///   limited scope, and the owner returns only after its future is dropped. Once the
///   body is over, spawning a background child is refused like spawning into a
///   cancelled group. The token is not cancelled when background children stop (it
///   is when the whole group stops).
///
/// Then spawn it with [`go`](ChildBuilder::go), [`spawn`](ChildBuilder::spawn) or
/// [`try_spawn`](ChildBuilder::try_spawn), which behave as the [`Scope`] methods of the
/// same name.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let out = corral_scope::scope(|s| async move {
///     // A heartbeat that would run forever: stopped once the body returns.
///     s.child().name("heartbeat").background().go(async {
///         loop {
///             tokio::time::sleep(Duration::from_secs(1)).await;
///         }
///         #[allow(unreachable_code)]
///         Ok::<(), std::io::Error>(())
///     });
///     let work = s.child().name("work").go(async { Ok(42) });
///     Ok(work.await.unwrap_or(0))
/// })
/// .await;
/// assert_eq!(out.unwrap(), 42);
/// # }
/// ```
#[must_use = "a child builder spawns nothing until `go`, `spawn` or `try_spawn` is called"]
pub struct ChildBuilder<'a, E> {
    scope: &'a Scope<E>,
    options: ChildOptions,
}

impl<'a, E: Send + 'static> ChildBuilder<'a, E> {
    pub(crate) fn new(scope: &'a Scope<E>) -> Self {
        Self {
            scope,
            options: ChildOptions::PLAIN,
        }
    }

    /// Names the child in the tracked-task registry (over the scope's name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.named = Some(corral_task::Builder::new().name(name));
        self
    }

    /// Makes it a background child: stopped, not awaited, once the body returns `Ok`.
    ///
    /// A scope counts its live background children apart, up to 2^24 - 1 at once:
    /// spawning one more panics.
    pub fn background(mut self) -> Self {
        self.options.background = true;
        self
    }

    /// Spawns the child at once; see [`Scope::go`].
    ///
    /// # Panics
    ///
    /// If the scope has a concurrency limit; outside a tokio runtime.
    #[track_caller]
    pub fn go<F, T>(self, future: F) -> ChildHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.scope.go_with(future, &self.options)
    }

    /// Spawns the child, first waiting for a slot at the limit; see [`Scope::spawn`].
    ///
    /// # Errors
    ///
    /// As [`Scope::spawn`]: `Closed` with the future handed back.
    ///
    /// # Cancel safety
    ///
    /// As [`Scope::spawn`]: dropping the returned future while it waits drops `future`
    /// unstarted; no slot is taken.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    #[track_caller]
    pub fn spawn<F, T>(self, future: F) -> Spawn<'a, F, T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        Spawn::new(self.scope, future, self.options)
    }

    /// Spawns the child if a slot is free right now; see [`Scope::try_spawn`].
    ///
    /// # Errors
    ///
    /// As [`Scope::try_spawn`]: `Full` or `Closed`, with the future handed back.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    #[track_caller]
    pub fn try_spawn<F, T>(self, future: F) -> Result<ChildHandle<T>, TrySpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.scope.try_spawn_with(future, &self.options)
    }
}

impl<E> fmt::Debug for ChildBuilder<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildBuilder")
            .field("named", &self.options.named.is_some())
            .field("background", &self.options.background)
            .finish()
    }
}
