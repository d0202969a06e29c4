//! Tracked spawn: a drop-in for `tokio::spawn` that records every task it starts.
//!
//! PROVISIONAL: the public signatures below are the contract other crates code against
//! (`spawn`, `Builder::new().name(..).spawn(..)`); the registry behind them arrives with
//! the tracked-spawn issue.

use std::future::Future;
use tokio::task::JoinHandle;

/// Spawns `future` on the current tokio runtime as a tracked task.
///
/// Same signature and behaviour as [`tokio::spawn`].
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Builder::new().spawn(future)
}

/// Configures a tracked task before spawning it.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
}

impl Builder {
    /// A builder with no name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task; the name shows in snapshots, the census and leak reports.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Spawns `future` on the current runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let _ = self.name;
        tokio::spawn(future)
    }
}
