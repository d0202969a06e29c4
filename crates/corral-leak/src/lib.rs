//! A test guard that fails the test when a task leaks: goleak for tokio.
//!
//! [`LeakGuard::new`] at the start of a test records what is alive;
//! [`LeakGuard::assert_clean`] at the end waits a short grace period for tasks that
//! are finishing, then panics with a [`Report`] naming every task still alive that was
//! not alive at the start: its name, spawn file and line, age and parent chain.
//! `#[corral::test]` wraps a test in exactly that.
//!
//! It sees tracked tasks ([`corral_task::spawn`], `corral::spawn`) by name and spawn
//! site; plain `tokio::spawn` leaks through the runtime's alive-task count, as "N
//! untracked tasks"; and threads of dropped corral blocking pools still running a job.
//! Tests running in parallel do not see each other's tasks: a guard only looks at its
//! own runtime, and when several guards share a runtime, at its own task tree.
//!
//! # When not to use this
//!
//! In production code: the guard is a test tool (a census from
//! [`corral_task::snapshot`] is the production view). For tests whose tasks are meant
//! to outlive them (a shared server started once for many tests), either create the
//! server before the guard (it is then part of the baseline) or add an ignore rule.
//!
//! # Examples
//!
//! ```should_panic
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use corral_leak::LeakGuard;
//!
//! let guard = LeakGuard::new();
//! let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
//! corral_task::Builder::new().name("worker").spawn(async move {
//!     while let Some(_job) = rx.recv().await {}
//! });
//! tx.send(1).await.unwrap();
//! std::mem::forget(tx); // nobody will ever close the channel
//!
//! // panics: leak check failed: 1 leaked task still alive after ...
//! //   task #.. "worker" spawned at src/lib.rs:.., alive for 250ms
//! guard.assert_clean().await;
//! # }
//! ```

#![forbid(unsafe_code)]

mod guard;
#[doc(hidden)]
pub mod macro_support;
mod report;

pub use guard::{AssertClean, Builder, Check, LeakGuard, DEFAULT_BUDGET};
pub use report::{Leak, Report};
