//! [`spawn_blocking`], the drop-in for `tokio::task::spawn_blocking`: tokio's blocking
//! pool behind a process-wide cap of [`DEFAULT_MAX_THREADS`] jobs.
//!
//! # Why jobs run on tokio's blocking threads
//!
//! Code written for tokio depends on three things a job gets from running *as a tokio
//! blocking task*, and on nothing else: the runtime context is entered on its thread,
//! `abort()` has no effect once it runs (its value is kept), and dropping the runtime
//! waits for it. A job run on a thread of our own, with a task relaying its result to a
//! `JoinHandle`, can have the first but not the other two (aborting the relay task
//! loses the value, and the runtime does not know the thread), and it costs a second
//! hop through the scheduler per call. So a job is handed to the runtime's own blocking
//! pool, carrying one of [`DEFAULT_MAX_THREADS`] slots of a process-wide FIFO
//! semaphore: the cap is on jobs, hence on the threads they hold. The slot is taken
//! before the job is handed over and given back when the closure returns (or unwinds,
//! or is dropped unrun).
//!
//! When every slot is taken, a tracked task (named [`SPAWN_BLOCKING_WAITER_NAME`])
//! waits for one in arrival order and then hands the job over; the returned handle is
//! that task's. Aborting it before it got its slot means the job never runs.
//!
//! # Jobs in the live-task registry, while a leak guard watches
//!
//! While a corral-leak `LeakGuard` is alive anywhere in the process, every job has an
//! entry in corral-task's registry named [`SPAWN_BLOCKING_NAME`], at the caller's line,
//! with the caller's runtime, parent task and leak-guard tree, from the
//! `spawn_blocking` call until its closure returns (or is dropped unrun): so the guard
//! reports a job still running, whether it waited for its slot or not. It is a
//! registry entry, not a tokio task (tokio's alive-task count leaves blocking jobs
//! out), which is how corral-leak tells the two apart (by this name).
//!
//! Without a guard, a job is not registered: the entry costs 100-150 ns per round
//! trip (a lock section on the caller's registry shard, and a store on the job's
//! thread to a line the caller wrote: measured in BENCHMARKS.md), which would be most of
//! what `spawn_blocking` costs over tokio's. Jobs waiting for a slot still show in a
//! census through their waiter tasks ([`SPAWN_BLOCKING_WAITER_NAME`]), and
//! [`spawn_blocking_metrics`] counts the running ones (at most [`DEFAULT_MAX_THREADS`]).

use std::future::Future;
use std::future::Ready;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use corral_semaphore::{Permit, Semaphore};
use corral_shared::CachePadded;
use corral_task::Tracked;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// The name of a [`spawn_blocking`] job's entry in the live-task registry
/// (`corral_task::snapshot`, the census, leak reports), made while a leak guard is
/// alive (see the module docs): `"corral::spawn_blocking"`.
///
/// Unlike other registry entries, these are not tokio tasks (tokio's blocking jobs are
/// not in its alive-task count), so code that matches registry entries against
/// tokio's task count (corral-leak) leaves them out by this name.
pub const SPAWN_BLOCKING_NAME: &str = "corral::spawn_blocking";

/// The name of the tracked task that waits for a slot for a [`spawn_blocking`] job
/// when all [`DEFAULT_MAX_THREADS`] are taken, hands the job over and relays its value:
/// `"corral::spawn_blocking::waiter"`. (The job keeps its own
/// [`SPAWN_BLOCKING_NAME`] entry meanwhile.)
pub const SPAWN_BLOCKING_WAITER_NAME: &str = "corral::spawn_blocking::waiter";

/// Jobs of [`spawn_blocking`] running at once, process-wide: **64** (so at most 64
/// threads are ever busy with them).
///
/// Why 64: `spawn_blocking` mostly carries file-system calls and short CPU-bound
/// sections. A SATA disk's command queue holds 32 requests, and an NVMe drive reaches
/// its throughput at a queue depth of a few dozen, so twice 32 keeps a device busy while
/// staying an order of magnitude below tokio's 512, a number chosen to be "effectively
/// unbounded". Each thread reserves a 2 MiB stack, so the cap also bounds that at
/// 128 MiB of address space. (Trio picked 40 for the same job and later could not say
/// why, python-trio/trio#230 and #2364; this is the reason written down.) Code with a
/// different class of blocking work should build its own
/// [`BlockingPool`](crate::BlockingPool).
pub const DEFAULT_MAX_THREADS: usize = 64;

/// The process-wide cap and its counters. The slots held (jobs handed to a runtime's
/// blocking pool and not yet returned) are the semaphore's permits in use.
///
/// A `static`, not an `Arc`: a slot borrows the semaphore for `'static`, so handing a
/// job over and giving its slot back touch no reference count. Each field has its own
/// cache lines: the caller takes a slot (one compare-and-swap) and reads the high-water
/// mark, the job's thread gives the slot back (one add) and counts the job as completed,
/// so the count written on the job's thread never shares a line with what the next
/// caller reads. What the cap still costs per round trip is measured in BENCHMARKS.md
/// (`corral_blocking_paired -- --interleave`).
struct Gate {
    slots: CachePadded<Semaphore>,
    running_high_water: CachePadded<AtomicUsize>,
    completed: CachePadded<AtomicU64>,
}

impl Gate {
    fn running(&self) -> usize {
        (DEFAULT_MAX_THREADS as u64 - self.slots.0.available()) as usize
    }
}

#[cfg(not(corral_loom))]
fn gate() -> &'static Gate {
    static GATE: Gate = Gate {
        slots: CachePadded(Semaphore::new(DEFAULT_MAX_THREADS as u64)),
        running_high_water: CachePadded(AtomicUsize::new(0)),
        completed: CachePadded(AtomicU64::new(0)),
    };
    &GATE
}

/// Under loom the semaphore is not `const`-constructible (nor is this function modelled).
#[cfg(corral_loom)]
fn gate() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| Gate {
        slots: CachePadded(Semaphore::new(DEFAULT_MAX_THREADS as u64)),
        running_high_water: CachePadded(AtomicUsize::new(0)),
        completed: CachePadded(AtomicU64::new(0)),
    })
}

/// The job's entry in the live-task registry (see the module docs): an empty future
/// tracked under [`SPAWN_BLOCKING_NAME`], never polled, whose drop retires the entry.
type Entry = Tracked<Ready<()>>;

/// Leak guards alive (each holds a [`__JobWatch`]). Read on every `spawn_blocking`
/// call; written only when a guard is made or dropped, so its line stays shared.
static WATCHERS: AtomicUsize = AtomicUsize::new(0);

/// Registers a job, at the caller's line, if a leak guard watches.
#[track_caller]
#[inline]
fn register() -> Option<Entry> {
    // Relaxed: a guard made before this call (in happens-before order: earlier on this
    // thread, or in a task that spawned this one) is seen by coherence; a guard made
    // concurrently on an unrelated thread has this job in no tree it checks.
    if WATCHERS.load(Ordering::Relaxed) == 0 {
        return None;
    }
    static BUILDER: OnceLock<corral_task::Builder> = OnceLock::new();
    Some(
        BUILDER
            .get_or_init(|| corral_task::Builder::new().name(SPAWN_BLOCKING_NAME))
            .clone()
            .track(std::future::ready(())),
    )
}

/// Keeps [`spawn_blocking`] jobs in the live-task registry while it lives (see the
/// module docs). corral-leak's `LeakGuard` holds one; not a public API.
#[doc(hidden)]
#[derive(Debug)]
#[must_use = "jobs are registered only while it lives"]
pub struct __JobWatch(());

/// Starts a [`__JobWatch`]. Not a public API: corral-leak's.
#[doc(hidden)]
pub fn __watch_jobs() -> __JobWatch {
    // Relaxed: see `register`.
    WATCHERS.fetch_add(1, Ordering::Relaxed);
    __JobWatch(())
}

impl Drop for __JobWatch {
    fn drop(&mut self) {
        WATCHERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One of the cap's slots, held by a job from hand-over until its closure is done,
/// with the job's registry entry.
struct Slot {
    // Fields drop in this order, after `Drop::drop`: the slot goes back, then the entry
    // leaves the registry; both before tokio hands the value over.
    _permit: Permit<'static>,
    _entry: Option<Entry>,
    ran: bool,
}

impl Slot {
    fn new(permit: Permit<'static>, entry: Option<Entry>) -> Slot {
        let gate = gate();
        // Relaxed: a metric; the semaphore orders the slots themselves. Read first so
        // the common case (no new high) writes nothing.
        let running = gate.running();
        if running > gate.running_high_water.0.load(Ordering::Relaxed) {
            gate.running_high_water
                .0
                .fetch_max(running, Ordering::Relaxed);
        }
        Slot {
            _permit: permit,
            _entry: entry,
            ran: false,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Relaxed: a metric. Counted before the permit is released (fields drop after
        // this body) and before tokio stores the job's output, so a caller that has
        // the value sees the job as completed.
        if self.ran {
            gate().completed.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Hands `f` to `runtime`'s blocking pool with `slot`.
fn hand_over<F, R>(runtime: &Handle, slot: Slot, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    runtime.spawn_blocking(move || {
        let mut slot = slot;
        slot.ran = true;
        let value = f();
        // The slot goes back (and the job is booked and leaves the registry) before
        // tokio hands `value` over.
        drop(slot);
        value
    })
}

/// Runs `f` on the runtime's blocking pool under a process-wide cap of
/// [`DEFAULT_MAX_THREADS`] running jobs; a drop-in for
/// [`tokio::task::spawn_blocking`] with the same signature and the same `JoinHandle`.
///
/// Same as tokio, because the job runs as a tokio blocking task (see the module docs,
/// "Why jobs run on tokio's blocking threads"):
/// - the caller's runtime context is entered inside `f` (`Handle::current()`,
///   `tokio::spawn` work there);
/// - `abort()` after `f` started has no effect: the handle still yields its value;
/// - dropping the runtime waits for the jobs it started (`shutdown_timeout` bounds the
///   wait), and a job not yet started when the runtime shuts down never runs;
/// - a panic in `f` reaches the handle as
///   [`JoinError::is_panic`](tokio::task::JoinError::is_panic) with its payload;
/// - with paused time, a running job stops the clock from auto-advancing.
///
/// Different from tokio:
/// - at most [`DEFAULT_MAX_THREADS`] such jobs run at once, process-wide (tokio's pool
///   runs up to 512); later ones wait, in the order `spawn_blocking` was called, in a
///   tracked task named [`SPAWN_BLOCKING_WAITER_NAME`];
/// - while a corral-leak `LeakGuard` is alive, every job is in the live-task registry
///   (named [`SPAWN_BLOCKING_NAME`], at the line that called `spawn_blocking`) from
///   the call until `f` returns, so the guard reports one still running (tokio's
///   blocking jobs are in no list); see the module docs for why only then;
/// - a job that had to wait for a slot is started by that task. Aborting the handle
///   before the job got its slot means it never runs (tokio would run it). Aborting it
///   *after* the job started does not stop the job (it runs to completion and holds its
///   slot until then) but, unlike tokio, the handle then usually reports
///   [`JoinError::is_cancelled`](tokio::task::JoinError::is_cancelled) and the value
///   is dropped (now and then it still yields the value, as tokio's would). Jobs that
///   found a free slot (all of them while fewer than [`DEFAULT_MAX_THREADS`] run) are
///   exactly tokio's;
/// - a job waiting for its slot is not yet a tokio blocking task, so on a runtime
///   with paused time it does not stop the clock from auto-advancing as tokio's queued
///   job does (a running one does): a `timeout` around it can fire while it waits.
///   Holding the clock would take a thread per waiting runtime, the resource the cap
///   bounds;
/// - a job that blocks until another `spawn_blocking` job finishes (say,
///   `Handle::current().block_on(inner)`) holds its slot meanwhile, so once
///   [`DEFAULT_MAX_THREADS`] such jobs run, the inner jobs wait for a slot that only
///   an outer job's return can free: they never run (tokio's pool has the same
///   hazard, at 512). Give blocking work that waits for other blocking work its own
///   [`BlockingPool`](crate::BlockingPool).
///
/// [`spawn_blocking_metrics`] shows the cap at work.
///
/// # Cancel safety
///
/// As with tokio, dropping the `JoinHandle` detaches: the job still runs. For
/// `abort()`, see above.
///
/// # Panics
///
/// Panics if called outside a tokio runtime, like `tokio::task::spawn_blocking`.
///
/// # Blocking
///
/// `f` blocks one of the runtime's blocking threads for as long as it runs, never a
/// runtime worker.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sum = corral_blocking::spawn_blocking(|| (1..=10).sum::<u32>()).await.unwrap();
/// assert_eq!(sum, 55);
/// # }
/// ```
#[track_caller]
#[inline]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    // Outside a runtime this panics (as tokio does) before a slot is taken.
    let runtime = Handle::current();
    // `try_acquire` never overtakes a job already waiting (FIFO).
    match gate().slots.0.try_acquire(1) {
        Ok(permit) => hand_over(&runtime, Slot::new(permit, register()), f),
        Err(_) => wait_for_slot(runtime, f),
    }
}

/// [`spawn_blocking`] when every slot is taken: out of line, so the common path stays
/// small.
#[cold]
#[inline(never)]
#[track_caller]
fn wait_for_slot<F, R>(runtime: Handle, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let entry = register();
    // Polled once here, so the job takes its place in the FIFO queue now, in call order,
    // not when the task below is first polled (tasks may be polled in any order). The
    // task's poll replaces the no-op waker.
    let mut acquire = gate().slots.0.acquire(1);
    if let Poll::Ready(permit) =
        Pin::new(&mut acquire).poll(&mut Context::from_waker(Waker::noop()))
    {
        let permit = permit.expect("the spawn_blocking semaphore is never closed");
        return hand_over(&runtime, Slot::new(permit, entry), f);
    }
    // The waiting task is a tracked task of its own (a tokio task, unlike the job's
    // entry, which it carries until the job is handed over).
    static WAITER: OnceLock<corral_task::Builder> = OnceLock::new();
    let task_runtime = runtime.clone();
    WAITER
        .get_or_init(|| corral_task::Builder::new().name(SPAWN_BLOCKING_WAITER_NAME))
        .clone()
        .spawn_on(
            async move {
                let permit = acquire
                    .await
                    .expect("the spawn_blocking semaphore is never closed");
                match hand_over(&runtime, Slot::new(permit, entry), f).await {
                    Ok(value) => value,
                    Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                    // Cancelled: nobody else has the job's handle, so its runtime shut
                    // down before the job started, and is shutting this task down too
                    // (it may still poll it once, on a worker that has not stopped
                    // yet). Wait for that, so the caller's handle reports cancelled, as
                    // tokio's does for a job queued at shutdown, instead of a panic of
                    // our own.
                    Err(_) => std::future::pending().await,
                }
            },
            &task_runtime,
        )
}

/// A snapshot of [`spawn_blocking`]'s cap ([`spawn_blocking_metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpawnBlockingMetrics {
    /// The cap: [`DEFAULT_MAX_THREADS`].
    pub max_running: usize,
    /// Jobs holding a slot: running, or handed to a runtime's blocking pool and about
    /// to run.
    pub running: usize,
    /// Jobs waiting for a slot.
    pub waiting: usize,
    /// The most jobs ever holding a slot at once; never above `max_running`.
    pub running_high_water: usize,
    /// Jobs that ran (returned or panicked). Counted before the caller gets the value.
    pub completed: u64,
}

/// The counters of [`spawn_blocking`]'s process-wide cap.
pub fn spawn_blocking_metrics() -> SpawnBlockingMetrics {
    let gate = gate();
    // Relaxed: independent metrics (see `Slot`).
    SpawnBlockingMetrics {
        max_running: DEFAULT_MAX_THREADS,
        running: gate.running(),
        waiting: gate.slots.0.waiters(),
        running_high_water: gate.running_high_water.0.load(Ordering::Relaxed),
        completed: gate.completed.0.load(Ordering::Relaxed),
    }
}
