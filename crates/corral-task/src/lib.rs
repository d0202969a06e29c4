//! Tracked spawn: a drop-in for `tokio::spawn` that knows every task it started.
//!
//! [`spawn`] has exactly the signature of [`tokio::spawn`] and returns tokio's own
//! [`JoinHandle`](tokio::task::JoinHandle), so switching is an import change. Each task
//! it starts is in a process-wide registry until its future is dropped (completed,
//! aborted, panicked, or its runtime shut down), with an id, an optional name
//! ([`Builder::name`]), its spawn location (`#[track_caller]`), its parent (the tracked
//! task that spawned it, with that task's name and site kept even after it ends:
//! [`TaskInfo::creator`]), its runtime and its spawn time. [`snapshot`] lists them and
//! [`Snapshot::census`] groups them by spawn site with a count and the oldest age: the
//! production view of "which call site is piling up tasks". corral-leak builds its
//! test guard on this registry.
//!
//! Works on stable tokio (no `tokio_unstable`).
//!
//! # When not to use this
//!
//! If you never ask "what is still running, and who started it?", plain `tokio::spawn`
//! costs a little less: tracking adds a coarse clock read, a short lock section on the
//! spawning thread's shard, one atomic store when the task ends (plus a lock section
//! per 64 ended tasks) and 8 bytes per task (see the costs in
//! `crates/corral-task/README.md`, measured by `benches/corral_task_paired.rs`).
//! Tasks spawned with plain `tokio::spawn` or `Handle::spawn` are not in the registry;
//! corral-leak still counts them, without names. This crate has no `spawn_blocking`: use `corral_blocking::spawn_blocking`
//! (exported by the `corral` facade as `corral::spawn_blocking`), which has tokio's
//! signature and runs on a capped pool; a job is a tokio blocking task with an entry in
//! this registry (named `"corral::spawn_blocking"`, registered through
//! [`Builder::track`]) from the call until it returns.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use corral_task::Builder;
//!
//! // A worker parked on a channel that nobody closes yet.
//! let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
//! let worker = Builder::new().name("worker").spawn(async move {
//!     while let Some(_job) = rx.recv().await {}
//! });
//!
//! let census = corral_task::snapshot().census();
//! let site = census.iter().find(|s| s.name() == Some("worker")).unwrap();
//! assert_eq!(site.count(), 1);
//! println!("{census}");
//!
//! drop(tx);
//! worker.await.unwrap();
//! assert!(corral_task::snapshot().iter().all(|t| t.name() != Some("worker")));
//! # }
//! ```
//!
//! # Banning `tokio::spawn` once you adopt corral
//!
//! Add to `clippy.toml` at the workspace root:
//!
//! ```toml
//! disallowed-methods = [
//!     { path = "tokio::spawn", reason = "use corral::spawn: tracked tasks show in the census and fail leak-checked tests" },
//!     { path = "tokio::task::spawn", reason = "use corral::spawn: tracked tasks show in the census and fail leak-checked tests" },
//!     { path = "tokio::runtime::Handle::spawn", reason = "use corral::task::Builder::spawn_on, which tracks the task" },
//! ]
//! ```
//!
//! # The census as data (feature `serde`)
//!
//! With the `serde` feature, [`Snapshot`], [`TaskInfo`], [`Census`], [`Site`],
//! [`Creator`] and the leak watch's [`Flag`] and [`WatchEvent`] implement
//! `serde::Serialize`, for a debug endpoint or a log pipeline.
//! The shapes, as JSON (field names and types are the stable part; new fields may be
//! added):
//!
//! ```text
//! Snapshot: { "len": 2, "tasks": [TaskInfo, ...] }
//! TaskInfo: { "id": 17, "name": "worker" | null, "site": "src/main.rs:10:5",
//!             "parent": 3 | null, "created_by": [Creator, ...], "runtime": "1",
//!             "age_secs": 12.5 }
//! Creator:  { "name": "accept-loop" | null, "site": "src/main.rs:4:5" }
//! Census:   { "total": 1003, "sites": [Site, ...] }   (largest count first)
//! Site:     { "site": "src/server.rs:42:9", "name": "request-worker" | null,
//!             "count": 1000, "oldest_secs": 12.4 }
//! Flag:     { "site": "src/server.rs:42:9", "name": "request-worker" | null,
//!             "count": 3500, "growth": 3000, "oldest_secs": 70.0 }
//! WatchEvent: { "event": "flagged" | "cleared", "site": ..., "name": ...,
//!             "count": ..., "growth": ..., "oldest_secs": ... }   (a Flag, flat)
//! ```
//!
//! `created_by` is the creator chain, nearest first ([`TaskInfo::creator`], then its
//! creator, ...). `runtime` is tokio's runtime id as it displays. Times are ages in
//! seconds as of the snapshot, not instants: an `Instant` means nothing outside the
//! process. A flag's fields are those of the watch's `tracing` warning, its
//! `oldest_secs` as of the watch's last sample.
//!
//! # Spawn times and `unsafe`
//!
//! On Linux, spawn times come from `CLOCK_MONOTONIC_COARSE` (about 5 ns a read, where
//! `Instant::now()` costs 25-40 ns, most of the per-spawn budget): they may be early by
//! up to one kernel tick (1-10 ms; `clock_getres` reports it), never late, so ages are
//! never under-reported.
//!
//! The crate denies `unsafe_code` except in one small place, on the spawn path and
//! there because the bench measured it: `src/clock.rs`, that clock read, a
//! `libc::clock_gettime` call on a local `timespec`. (The registry's shards once used
//! a hand-written spin lock, with two more `unsafe` items; measured against
//! `parking_lot::Mutex` after a task's end stopped taking the lock, the difference was
//! inside the run-to-run spread, so the shards now use parking_lot's mutex:
//! BENCHMARKS.md, "The shard lock".)
//!
//! # Memory ordering
//!
//! The registry is a set of lock-protected slabs with two atomic words per slot: a
//! tag (the occupant's id, written only by inserts) and an ended mark (written only
//! by the occupant's retirement). A task's entry is inserted under the lock before
//! the task is handed to tokio. When its future is dropped, the task retires its slot
//! with a `Release` store to the ended mark, which snapshots read with `Acquire`. So a snapshot taken after a `JoinHandle`
//! resolves never shows the joined task: the store happens-before tokio publishes the
//! task's completion. The slot itself goes back on its free list later, in a batch
//! of 64 per thread, under the lock.
//!
//! # Memory
//!
//! A tracked task carries 8 bytes more than the future it wraps (the key of its
//! registry slot). tokio allocates tasks in multiples of 128 bytes, so a no-op task
//! stays in the same 128-byte allocation as its untracked twin
//! (`tests/task_size.rs` checks this); a second word would tip it into 256 bytes. The
//! registry holds 48 bytes per live task (a 32-byte entry, an 8-byte tag and an 8-byte
//! ended mark) and up to 4 bytes per slot for the free lists, plus the name of a named one, plus a 16-byte
//! crumb for each slot a child of a tracked task has used (its creator's record,
//! [`TaskInfo::creator`]). Slots are reused, the table does not shrink, and each
//! thread holds back at most 63 ended tasks' slots until its next batch. Creator
//! records are one per distinct spawn path (site, name, creator), made at a task's
//! first child, never freed, and capped at 16,384 per process (about 80 bytes each,
//! plus names).

#![deny(unsafe_code)]

mod census;
mod clock;
mod context;
mod creators;
#[cfg(feature = "metrics")]
mod metrics;
mod registry;
mod runtimes;
#[cfg(feature = "serde")]
mod serde;
mod spawn;
mod tracked;
mod watch;

pub use census::{Census, Site};
pub use creators::Creator;
#[cfg(feature = "metrics")]
pub use metrics::{export_metrics, TaskMetrics, DEFAULT_TOP_SITES};
pub use registry::{
    __set_tree_mark, __tree_mark, current, live_count, snapshot, Snapshot, TaskId, TaskInfo,
};
#[cfg(feature = "tracing")]
pub use spawn::set_spans;
pub use spawn::{spawn, Builder};
pub use tracked::Tracked;
pub use watch::{
    watch, Flag, Watch, WatchConfig, WatchConfigBuilder, WatchConfigError, WatchEvent,
    DEFAULT_INTERVAL, DEFAULT_MIN_GROWTH, DEFAULT_WINDOW,
};
