//! The pool's state machine: queue, idle workers, blocked submitters and counters, all
//! under one lock. It takes two things from tokio, both inert data (a worker's
//! `AbortHandle`, stored and handed out, and `Instant` for queue-wait samples); nothing
//! in here spawns, sleeps or needs a runtime, so loom drives it directly.
//!
//! # Invariants
//!
//! - `free() = capacity + min(en_route + idle.len(), target - busy) - queue.len()`
//!   (saturating; `busy = live - en_route - idle.len()`) is the number of jobs that
//!   may be admitted now. Capacity counts jobs that wait without a worker; an idle
//!   worker, or a worker on its way to the queue (`en_route`), adds room, but only up
//!   to the target: after a shrink, the surplus idle workers are leaving and are no
//!   room, so no more than `target` jobs run at once once the busy surplus is gone.
//! - `en_route` counts workers that will look at the queue without being woken again:
//!   workers spawned but not yet polled (so `workers + capacity` jobs are admitted from
//!   the moment the pool is built), and at most one idle worker taken off `idle` and
//!   woken for queued work. [`State::assign`] runs after every push, pop and worker
//!   exit and wakes an idle worker only while nobody is en route, so while a job is
//!   queued and a worker idles, one worker is on its way: a queued job never sits next
//!   to parked workers with nobody coming.
//! - Blocked submitters wait in `waiters`, ordered by id (arrival). The first
//!   `reserved` of them were granted: their job already entered the queue, in line
//!   order, when room was granted (whatever order the runtime polls them in), and they
//!   only collect their handle. The rest hold their job, not yet admitted. After every
//!   change that can raise `free()`, [`State::grant`] runs. Only a worker taking a job
//!   batches ([`State::grant_batched`]: once more than `min(capacity / 2, GRANT_BATCH)`
//!   slots are free), so an ungranted waiter may coexist with a little room only while
//!   that worker is running ready jobs back to back: when it reaches a job that waits
//!   ([`Next::Run`]'s `held_back`), parks or leaves, everything that fits is granted. A
//!   newcomer is admitted only when nobody waits ungranted (it never jumps the line);
//!   the first ungranted waiter takes a free slot whenever it is polled.
//! - Every job gets a sequence number when it enters the queue; the queue is in
//!   sequence order, so a job is found by binary search (an abort takes a queued job
//!   out at once).
//! - A job is counted before its handle is resolved. A worker counts its job at its
//!   next visit and resolves the handle right after releasing the lock (the hot path
//!   keeps the slot's lock out of this one); it stays in `live` until a later visit, so
//!   that resolution happens-before anyone sees it gone. A worker that leaves at the
//!   visit that reports a job counts that job in `unresolved` until it has resolved the
//!   handle and said so ([`State::resolved`]). Aborts, stops and dropped workers resolve
//!   handles under this lock. So once `live == 0 && unresolved == 0`, every accepted
//!   job has ended and its handle is resolved: that is what a drain waits for.
//! - `live` counts worker tasks that have not exited; `running` those holding a job.
//! - Counters only grow. At any quiescent point
//!   `submitted = completed + failed + cancelled + handed_back`.
//!
//! # Lock order
//!
//! This lock, then a job's slot lock ([`Slot::complete`] runs under it). Nothing takes
//! this lock while holding a slot lock.

use std::collections::VecDeque;
use std::future::Future;
// std, not the loom-switched shim: a slot's reference count is std's in both builds, as
// the pool core's is (its slots link back to it through a `Weak<dyn PoolLink>`, an
// unsized coercion loom's `Arc` cannot make). The models check the locks and flags.
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use corral_shared::sample::Sampler;
use corral_shared::wake::WakeList;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::error::{JobError, TrySubmitError};
use crate::handle::{Payload, Resolved, Slot};
use crate::metrics::{Metrics, QueueWait};

/// While a worker runs ready jobs back to back, blocked submitters are granted room
/// once more than `min(capacity / 2, GRANT_BATCH)` slots are free: one submitter
/// wake-up per batch instead of per job, and a blocked submitter waits for at most this
/// many extra job hand-offs (never for a job that waits: see [`Next::Run`]).
const GRANT_BATCH: usize = 128;

/// An accepted job waiting for a worker (or a submitter's job waiting for room).
pub(crate) struct Queued<F: Future> {
    pub(crate) fut: F,
    pub(crate) slot: Arc<Slot<F::Output>>,
    /// Its place in the queue, set when it enters.
    seq: u64,
    /// When it was queued, for the jobs whose queue wait is sampled.
    enqueued: Option<Instant>,
}

impl<F: Future> Queued<F> {
    pub(crate) fn new(fut: F, slot: Arc<Slot<F::Output>>) -> Self {
        Queued {
            fut,
            slot,
            seq: 0,
            enqueued: None,
        }
    }
}

/// A blocked submitter.
struct Waiter<F: Future> {
    id: u64,
    waker: Waker,
    ticket: Ticket<F>,
}

enum Ticket<F: Future> {
    /// Not granted yet: the pool holds the job until room is granted or the submitter
    /// gives up.
    Waiting(Queued<F>),
    /// Granted: the job entered the queue with this sequence number.
    Granted(u64),
}

/// Wakers (and an unobserved panic) collected under the lock, delivered after it is
/// released by the pool core (`Shared::deliver`).
///
/// Most visits release at most one task (a worker for a queued job, a handle, a
/// granted submitter), so the first waker is kept apart and a
/// [`WakeList`](corral_shared::wake::WakeList) is made only for a second: a `Wakeups`
/// is made at every visit, twice per job, and the common one then fills and drops no
/// 8-waker array. It is never moved once made (`Shared::deliver` takes it by
/// reference): at about 190 bytes a move is an out-of-line `memcpy`, which showed up at
/// 3% of the pool's per-job profile when the list was moved into `deliver`.
#[derive(Default)]
pub(crate) struct Wakeups {
    first: Option<Waker>,
    more: Option<WakeList>,
    /// A panic whose handle was dropped, for the pool's `on_panic` hook (only a worker's
    /// report produces one, at most one per visit).
    pub(crate) panic: Option<Payload>,
}

impl Wakeups {
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.more.get_or_insert_with(WakeList::new).push(waker);
        }
    }

    /// Takes in what resolving a slot produced.
    pub(crate) fn resolved(&mut self, resolved: Resolved) {
        match resolved {
            Resolved::Nobody => {}
            Resolved::Wake(waker) => self.push(waker),
            Resolved::Unobserved(payload) => self.panic = Some(payload),
        }
    }

    /// Wakes everything collected, in the order it was pushed. Call it with no lock
    /// held.
    pub(crate) fn wake_all(&mut self) {
        if let Some(waker) = self.first.take() {
            waker.wake();
        }
        if let Some(more) = &mut self.more {
            more.wake_all();
        }
    }
}

/// What a submitter's visit decided.
pub(crate) enum Admit<F> {
    /// The job is in the queue.
    Accepted,
    /// Blocked; the pool holds the job and the waker is registered.
    Wait,
    /// The pool is closed; the job is handed back.
    Closed(F),
}

/// What a submitter that stops waiting gets back.
pub(crate) enum Withdrawn<F> {
    /// It was not waiting.
    Nothing,
    /// Not granted: its job, handed back.
    Job(F),
    /// Granted meanwhile: its job is in the queue with this sequence number.
    Granted(u64),
}

/// Where a worker stands, kept in its own task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Spawned, not yet polled: counted in `en_route`.
    Starting,
    /// Running a job or between visits.
    Busy,
    /// Put itself on `idle` at its last visit (it may have been taken off and woken
    /// since: then it is counted in `en_route`).
    Idle,
}

/// A worker's view of itself, kept in its own task.
#[derive(Debug)]
pub(crate) struct WorkerLocal {
    pub(crate) id: u64,
    at: At,
}

/// What a worker's visit decided.
pub(crate) enum Next<F: Future> {
    /// Run `job`. If `held_back`, blocked submitters were left ungranted next to free
    /// slots to batch their wake-up: the worker must call [`State::grant`] if the job
    /// does not finish in its first poll, or a submitter could wait with room free for
    /// as long as the job runs.
    Run {
        job: Queued<F>,
        held_back: bool,
    },
    /// Nothing queued: the worker is on `idle`, but yields once and looks again before
    /// it parks (saves a park/unpark round trip when work arrives right behind the
    /// last job).
    Spin,
    Park,
    Exit,
}

/// How a job left its worker, reported at the worker's next visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Failed,
    Cancelled,
}

impl Outcome {
    pub(crate) fn of<T>(result: &Result<T, JobError>) -> Self {
        match result {
            Ok(_) => Outcome::Completed,
            Err(JobError::Panicked(_)) => Outcome::Failed,
            Err(_) => Outcome::Cancelled,
        }
    }
}

/// A job that ended and is resolved under the lock (a dropped worker's): its slot and
/// outcome. The worker keeps its own reference to the slot and drops it after the lock
/// is released, so an outcome nobody takes is never dropped under the lock.
pub(crate) type Done<'a, T> = (&'a Slot<T>, Result<T, JobError>);

/// The counters no job's hand-off touches (`submitted` and `completed` live in
/// [`State`]'s submitter and worker lines).
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    failed: u64,
    rejected: u64,
    cancelled: u64,
    handed_back: u64,
    wait_count: u64,
    wait_total: Duration,
    wait_max: Duration,
}

/// The pool's state, under its lock.
///
/// # Layout
///
/// `repr(C)`, in this order, so that a job's two visits write as few cache lines as
/// a locked queue can (the core is 128-byte aligned and the mutex's byte sits right
/// before `queue`):
///
/// - line 0, written at every visit: the lock, `queue`, `running`, `completed`,
///   `en_route`;
/// - line 1, read at every visit, written when a submitter blocks or a worker idles:
///   `waiters`, `idle`, `closed`, `stopped`;
/// - line 2, the submitter's own: `sampler`, `next_seq`, `submitted`;
/// - line 3, read at every visit, written when submitters are granted room or workers
///   come and go: `capacity`, `reserved`, `live`, `target`.
///
/// When the submitter and the workers run on different threads (and workers on both
/// of a runtime's threads), every line a visit writes moves between cores, under the
/// lock, while a line only read stays shared in every core's cache. Laid out by the
/// compiler, the same fields were spread over six lines, each written by both sides
/// (BENCHMARKS.md, the pool's "Session 6"). `hot_fields_sit_on_their_cache_lines`
/// checks the offsets.
#[repr(C)]
pub(crate) struct State<F: Future> {
    // Line 0, after the lock word.
    queue: VecDeque<Queued<F>>,
    running: usize,
    completed: u64,
    en_route: usize,
    // Line 1.
    waiters: VecDeque<Waiter<F>>,
    idle: Vec<(u64, Waker)>,
    closed: bool,
    stopped: bool,
    // Line 2: the submitter's.
    /// Picks the jobs whose queue wait is measured: each with probability
    /// `1 / sample_every` (0: never, 1: every job), independent of arrival order, so
    /// bursts are sampled as often as anything else.
    sampler: Sampler,
    next_seq: u64,
    submitted: u64,
    next_waiter: u64,
    /// Jobs counted by a worker that left at the same visit, whose handles it has not
    /// yet resolved (see the invariants).
    unresolved: usize,
    next_worker: u64,
    // Line 3.
    capacity: usize,
    reserved: usize,
    live: usize,
    target: usize,
    // Cold.
    counters: Counters,
    /// One entry per live worker, from `add_worker` to its exit; the abort handle is
    /// filled in once the task is spawned.
    handles: Vec<(u64, Option<AbortHandle>)>,
    drain_wakers: Vec<Waker>,
    /// The `metrics` feature's handles, for a pool given a name.
    #[cfg(feature = "metrics")]
    export: Option<Box<super::export::PoolMetrics>>,
}

impl<F: Future> State<F> {
    pub(crate) fn new(capacity: usize, workers: usize, sample_every: u32) -> Self {
        State {
            queue: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            idle: Vec::with_capacity(workers),
            en_route: 0,
            waiters: VecDeque::new(),
            reserved: 0,
            next_waiter: 0,
            next_seq: 0,
            submitted: 0,
            completed: 0,
            closed: false,
            stopped: false,
            target: workers,
            live: 0,
            unresolved: 0,
            running: 0,
            next_worker: 0,
            handles: Vec::with_capacity(workers),
            drain_wakers: Vec::new(),
            sampler: Sampler::new(sample_every),
            counters: Counters::default(),
            #[cfg(feature = "metrics")]
            export: None,
        }
    }

    /// Starts reporting through `export` (a named pool, `metrics` feature).
    #[cfg(feature = "metrics")]
    pub(crate) fn set_export(&mut self, export: super::export::PoolMetrics) {
        self.export = Some(Box::new(export));
        self.publish();
    }

    /// Whether the pool reports (it was named).
    #[cfg(feature = "metrics")]
    pub(crate) fn has_export(&self) -> bool {
        self.export.is_some()
    }

    /// Publishes what changed since the last publish (see `export`).
    #[cfg(feature = "metrics")]
    pub(crate) fn publish(&mut self) {
        if self.export.is_some() {
            let now = self.metrics();
            if let Some(export) = &mut self.export {
                export.publish(now);
            }
        }
    }

    /// Called on every release of the lock: publishes at once when the pool is closed,
    /// or idle (nothing running or queued) and `idle` is set, so a quiet or stopped
    /// pool's series are exact. `idle` is unset for a worker's visit ([`State::next`]),
    /// which publishes an idle pool only when its worker parks: between jobs of a pool
    /// whose workers keep up with its submitter, the pool is idle at almost every
    /// completion, and publishing there cost the reporting pool 4-6% of a no-op job's
    /// time (BENCHMARKS.md, "Quiet re-measure at the end of session 6"); the last
    /// worker to go idle parks within a yield ([`State::publish_if_idle`]). A busy pool
    /// publishes from [`State::push`] and [`State::count`] instead, once every
    /// `PUBLISH_EVERY` (1,024) submissions and completions ([`State::publish_every`]),
    /// and on every census tick (`corral_task::export_metrics`). The checks read only
    /// lines the visit already touched (after a submission the queue is not empty, so a
    /// submitter does not read the workers' `running`) and write nothing: see `State`'s
    /// layout.
    #[cfg(feature = "metrics")]
    #[inline]
    pub(crate) fn publish_batched(&mut self, idle: bool) {
        if self.closed {
            self.publish();
        } else if idle {
            self.publish_if_idle();
        }
    }

    /// Publishes if the pool reports and nothing is running or queued.
    #[cfg(feature = "metrics")]
    #[inline]
    fn publish_if_idle(&mut self) {
        if self.export.is_some() && self.queue.is_empty() && self.running == 0 {
            self.publish();
        }
    }

    /// Publishes if `count` (the submissions or the completions, which the visit just
    /// moved) reached a multiple of `PUBLISH_EVERY`.
    #[cfg(feature = "metrics")]
    #[inline]
    fn publish_every(&mut self, count: u64) {
        if count % super::export::PUBLISH_EVERY == 0 && self.export.is_some() {
            self.publish();
        }
    }

    fn free(&self) -> usize {
        let ready = self.en_route + self.idle.len();
        // Workers past the target are no room: after a shrink the surplus idle workers
        // are leaving, and a job admitted for one would run past the target.
        let busy = self.live.saturating_sub(ready);
        let workers = ready.min(self.target.saturating_sub(busy));
        (self.capacity + workers).saturating_sub(self.queue.len())
    }

    /// Whether a newcomer may take a slot now: room, and nobody waiting ahead of it.
    fn admissible(&self) -> bool {
        self.reserved == self.waiters.len() && self.free() > 0
    }

    /// Grants every free slot to blocked submitters, oldest first: each one's job enters
    /// the queue now, so jobs queue in line order.
    pub(crate) fn grant(&mut self, wake: &mut Wakeups) {
        if self.closed {
            return;
        }
        while self.reserved < self.waiters.len() && self.free() > 0 {
            let waiter = &mut self.waiters[self.reserved];
            wake.push(std::mem::replace(&mut waiter.waker, Waker::noop().clone()));
            let Ticket::Waiting(job) = std::mem::replace(&mut waiter.ticket, Ticket::Granted(0))
            else {
                unreachable!("waiters past `reserved` are not granted");
            };
            let seq = self.push(job, wake);
            self.waiters[self.reserved].ticket = Ticket::Granted(seq);
            self.reserved += 1;
        }
    }

    /// [`State::grant`] in batches, for a worker that just took a job: only once more
    /// than `min(capacity / 2, GRANT_BATCH)` slots are free (at least one). A full queue
    /// still holds plenty of work then, so the batching costs no throughput and saves a
    /// submitter wake-up per job. Returns whether waiters were held back next to free
    /// slots (the worker then grants as soon as its job waits).
    fn grant_batched(&mut self, wake: &mut Wakeups) -> bool {
        if self.closed || self.reserved == self.waiters.len() {
            return false;
        }
        let free = self.free();
        if free == 0 {
            return false;
        }
        if free <= (self.capacity / 2).min(GRANT_BATCH) {
            return true;
        }
        self.grant(wake);
        false
    }

    /// Room was freed by a job leaving the queue unrun or a submitter giving up: it
    /// goes to the submitters in line, and a surplus worker that may have stayed for it
    /// is woken to leave.
    fn room_freed(&mut self, wake: &mut Wakeups) {
        self.grant(wake);
        if self.live > self.target {
            self.wake_idle(wake);
        }
    }

    /// Wakes an idle worker for queued work, one at a time: while a worker is on its
    /// way (`en_route > 0`) no other is woken; when it takes a job it calls this again,
    /// so wake-ups chain through the idle workers only as far as the queue needs (no
    /// thundering herd on a burst, one wake-up per idle period on a trickle).
    fn assign(&mut self, wake: &mut Wakeups) {
        if self.en_route == 0 && !self.queue.is_empty() {
            if let Some((_, waker)) = self.idle.pop() {
                self.en_route = 1;
                wake.push(waker);
            }
        }
    }

    fn waiter_index(&self, id: u64) -> Option<usize> {
        self.waiters.binary_search_by_key(&id, |w| w.id).ok()
    }

    /// A submitter's visit. `waiter` is its registration, kept across visits; `job` is
    /// its job until the pool takes it (admitted, or held while it waits).
    pub(crate) fn admit(
        &mut self,
        waiter: &mut Option<u64>,
        job: &mut Option<Queued<F>>,
        waker: &Waker,
        wake: &mut Wakeups,
    ) -> Admit<F> {
        let Some(id) = *waiter else {
            let job = job.take().expect("a new submitter has its job");
            if self.closed {
                self.counters.rejected += 1;
                return Admit::Closed(job.fut);
            }
            if self.admissible() {
                self.push(job, wake);
                return Admit::Accepted;
            }
            let id = self.next_waiter;
            self.next_waiter += 1;
            self.waiters.push_back(Waiter {
                id,
                waker: waker.clone(),
                ticket: Ticket::Waiting(job),
            });
            *waiter = Some(id);
            return Admit::Wait;
        };
        let idx = self
            .waiter_index(id)
            .expect("a registered submitter is in the waiter list");
        if let Ticket::Granted(_) = self.waiters[idx].ticket {
            self.waiters.remove(idx);
            self.reserved -= 1;
            *waiter = None;
            return Admit::Accepted;
        }
        if self.closed || (idx == self.reserved && self.free() > 0) {
            // Closed: the job goes back. Or first in line with room (held back only to
            // batch wake-ups): take it rather than wait on.
            let Some(Waiter {
                ticket: Ticket::Waiting(job),
                ..
            }) = self.waiters.remove(idx)
            else {
                unreachable!("checked above");
            };
            *waiter = None;
            if self.closed {
                self.counters.rejected += 1;
                return Admit::Closed(job.fut);
            }
            self.push(job, wake);
            return Admit::Accepted;
        }
        let w = &mut self.waiters[idx].waker;
        if !w.will_wake(waker) {
            *w = waker.clone();
        }
        Admit::Wait
    }

    /// A submitter without a registration asking once, never waiting: queued, or the
    /// job handed back (`Full` or `Closed`).
    pub(crate) fn try_admit(
        &mut self,
        job: Queued<F>,
        wake: &mut Wakeups,
    ) -> Result<(), TrySubmitError<F>> {
        if self.closed {
            self.counters.rejected += 1;
            Err(TrySubmitError::Closed(job.fut))
        } else if self.admissible() {
            self.push(job, wake);
            Ok(())
        } else {
            self.counters.rejected += 1;
            Err(TrySubmitError::Full(job.fut))
        }
    }

    /// Removes a submitter's registration (it gave up at its deadline, or was dropped).
    /// A job not yet granted comes back; a granted one is already queued, and the
    /// caller decides what to do with it.
    pub(crate) fn withdraw(&mut self, waiter: &mut Option<u64>) -> Withdrawn<F> {
        let Some(id) = waiter.take() else {
            return Withdrawn::Nothing;
        };
        let Some(idx) = self.waiter_index(id) else {
            return Withdrawn::Nothing;
        };
        match self.waiters.remove(idx).map(|w| w.ticket) {
            Some(Ticket::Granted(seq)) => {
                self.reserved -= 1;
                Withdrawn::Granted(seq)
            }
            Some(Ticket::Waiting(job)) => Withdrawn::Job(job.fut),
            None => Withdrawn::Nothing,
        }
    }

    /// Counts a submitter that gave up at its deadline.
    pub(crate) fn reject(&mut self) {
        self.counters.rejected += 1;
    }

    /// Queues an admitted job; returns its sequence number.
    fn push(&mut self, mut job: Queued<F>, wake: &mut Wakeups) -> u64 {
        if self.sampler.sample() {
            job.enqueued = Some(Instant::now());
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        job.seq = seq;
        job.slot.set_seq(seq);
        self.queue.push_back(job);
        self.submitted += 1;
        #[cfg(feature = "metrics")]
        self.publish_every(self.submitted);
        self.assign(wake);
        seq
    }

    /// Takes job `seq` out of the queue if it is still there (an abort through its
    /// handle, or its submitter dropped after the grant): its handle resolves
    /// `Cancelled` now, it counts as cancelled, and its room is free at once. Returns
    /// the future, for the caller to drop outside the lock; `None` if a worker already
    /// took it (or it is long gone).
    pub(crate) fn cancel_queued(&mut self, seq: u64, wake: &mut Wakeups) -> Option<F> {
        let idx = self.queue.binary_search_by_key(&seq, |j| j.seq).ok()?;
        let job = self.queue.remove(idx).expect("found above");
        self.counters.cancelled += 1;
        wake.resolved(job.slot.complete(Err(JobError::Cancelled)));
        self.room_freed(wake);
        Some(job.fut)
    }

    /// Registers `n` new workers and returns their local views. Each counts as room
    /// (`en_route`) until its first visit, so that room goes to the submitters in line
    /// now, before the workers have run: a pool grown by `resize` serves its blocked
    /// submitters at once, and a newcomer gets what is left.
    pub(crate) fn add_workers(&mut self, n: usize, wake: &mut Wakeups) -> Vec<WorkerLocal> {
        let workers = (0..n).map(|_| self.add_worker()).collect();
        self.grant(wake);
        workers
    }

    /// Registers a new worker; returns its local view.
    fn add_worker(&mut self) -> WorkerLocal {
        let id = self.next_worker;
        self.next_worker += 1;
        self.live += 1;
        self.en_route += 1;
        self.handles.push((id, None));
        WorkerLocal {
            id,
            at: At::Starting,
        }
    }

    /// Records a spawned worker's abort handle. Returns it if the pool was stopped
    /// meanwhile: the caller aborts it (outside the lock). A worker that already left
    /// has no entry; its handle is dropped.
    pub(crate) fn set_abort_handle(&mut self, id: u64, handle: AbortHandle) -> Option<AbortHandle> {
        let entry = self.handles.iter_mut().find(|(h, _)| *h == id)?;
        if self.stopped {
            return Some(handle);
        }
        entry.1 = Some(handle);
        None
    }

    /// Where the worker stands as it arrives: its index on `idle` if it is still there.
    /// A worker that was en route (starting, or taken off `idle` and woken) no longer is.
    fn arrive(&mut self, me: &mut WorkerLocal) -> Option<usize> {
        match me.at {
            At::Starting => {
                self.en_route -= 1;
                me.at = At::Busy;
                None
            }
            At::Idle => {
                let idle_at = self.idle.iter().position(|(id, _)| *id == me.id);
                if idle_at.is_none() {
                    self.en_route -= 1;
                    me.at = At::Busy;
                }
                idle_at
            }
            At::Busy => None,
        }
    }

    /// A worker's visit: first it reports how its previous job ended (if any; the
    /// worker resolves its handle after this visit, and if the visit returns
    /// [`Next::Exit`] it then calls [`State::resolved`]), then it takes the next job,
    /// parks, or leaves.
    pub(crate) fn next(
        &mut self,
        me: &mut WorkerLocal,
        finished: Option<Outcome>,
        spin: bool,
        waker: &Waker,
        wake: &mut Wakeups,
    ) -> Next<F> {
        if let Some(outcome) = finished {
            self.count(outcome);
        }
        let idle_at = self.arrive(me);
        let surplus = self.live > self.target && !self.promised(idle_at.is_some());
        if self.stopped || surplus || (self.closed && self.queue.is_empty()) {
            if let Some(i) = idle_at {
                self.idle.swap_remove(i);
            }
            me.at = At::Busy;
            if finished.is_some() {
                self.unresolved += 1;
            }
            self.exit_worker(me.id, wake);
            // A worker's visit does not publish an idle pool on release; one leaving
            // changes the workers gauge.
            #[cfg(feature = "metrics")]
            self.publish_if_idle();
            return Next::Exit;
        }
        if let Some(job) = self.queue.pop_front() {
            if let Some(i) = idle_at {
                self.idle.swap_remove(i);
                me.at = At::Busy;
            }
            self.running += 1;
            self.assign(wake);
            if let Some(enqueued) = job.enqueued {
                let waited = Instant::now().saturating_duration_since(enqueued);
                let c = &mut self.counters;
                c.wait_count += 1;
                c.wait_total += waited;
                c.wait_max = c.wait_max.max(waited);
                #[cfg(feature = "metrics")]
                if let Some(export) = &mut self.export {
                    export.queue_wait(waited);
                }
            }
            let held_back = self.grant_batched(wake);
            return Next::Run { job, held_back };
        }
        match idle_at {
            Some(i) => {
                let w = &mut self.idle[i].1;
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
            }
            None => {
                self.idle.push((me.id, waker.clone()));
                me.at = At::Idle;
            }
        }
        // An idle worker is room in hand-off mode.
        self.grant(wake);
        if spin {
            // Registered as idle (so it is room and can be claimed) but yields once
            // before it really parks.
            Next::Spin
        } else {
            #[cfg(feature = "metrics")]
            self.publish_if_idle();
            Next::Park
        }
    }

    /// Whether the calling worker is needed for work already promised: queued jobs that
    /// the room left without it (`is_idle`: it is counted on `idle`) cannot cover. A
    /// surplus worker stays for those instead of leaving, or a hand-off job could be
    /// accepted for a worker that then leaves, and wait for others that may be busy for
    /// good.
    fn promised(&self, is_idle: bool) -> bool {
        self.queue.len() + usize::from(is_idle) > self.capacity + self.en_route + self.idle.len()
    }

    /// Counts a job that left its worker.
    fn count(&mut self, outcome: Outcome) {
        self.running -= 1;
        match outcome {
            Outcome::Completed => {
                self.completed += 1;
                #[cfg(feature = "metrics")]
                self.publish_every(self.completed);
            }
            Outcome::Failed => self.counters.failed += 1,
            Outcome::Cancelled => self.counters.cancelled += 1,
        }
    }

    /// Counts a job that left its worker and resolves its handle, under the lock.
    fn finish(
        &mut self,
        slot: &Slot<F::Output>,
        result: Result<F::Output, JobError>,
        wake: &mut Wakeups,
    ) {
        self.count(Outcome::of(&result));
        wake.resolved(slot.complete(result));
    }

    /// A worker that left at the visit reporting its last job has resolved that job's
    /// handle.
    pub(crate) fn resolved(&mut self, wake: &mut Wakeups) {
        self.unresolved -= 1;
        self.wake_drainers(wake);
    }

    /// Wakes the drains once every worker has left and every handle is resolved.
    fn wake_drainers(&mut self, wake: &mut Wakeups) {
        if self.live == 0 && self.unresolved == 0 {
            for w in self.drain_wakers.drain(..) {
                wake.push(w);
            }
        }
    }

    fn exit_worker(&mut self, id: u64, wake: &mut Wakeups) {
        self.live -= 1;
        if let Some(i) = self.handles.iter().position(|(h, _)| *h == id) {
            self.handles.swap_remove(i);
        }
        self.assign(wake);
        self.grant(wake);
        self.wake_drainers(wake);
    }

    /// A worker task dropped without leaving through [`State::next`] (aborted, or its
    /// runtime shut down), maybe in the middle of a job. `done` is a job that ended but
    /// was not yet reported; `running` one that was still running (it is cancelled).
    ///
    /// If it was the last worker and the pool was not stopped (its runtime is shutting
    /// down), nobody will ever run the queue: the pool stops and the queued jobs are
    /// cancelled. Their futures are returned for the caller to drop outside the lock.
    pub(crate) fn worker_dropped(
        &mut self,
        me: &mut WorkerLocal,
        done: Option<Done<'_, F::Output>>,
        running: Option<&Slot<F::Output>>,
        wake: &mut Wakeups,
    ) -> Vec<F> {
        if let Some((slot, result)) = done {
            self.finish(slot, result, wake);
        }
        if let Some(slot) = running {
            self.finish(slot, Err(JobError::Cancelled), wake);
        }
        if let Some(i) = self.arrive(me) {
            self.idle.swap_remove(i);
        }
        self.exit_worker(me.id, wake);
        if self.live > 0 || self.stopped {
            return Vec::new();
        }
        let (jobs, _no_workers_left) = self.stop(false, wake);
        jobs
    }

    /// Stops intake: blocked submitters and idle workers are woken to see it.
    pub(crate) fn close(&mut self, wake: &mut Wakeups) {
        if self.closed {
            return;
        }
        self.closed = true;
        for w in &mut self.waiters {
            wake.push(std::mem::replace(&mut w.waker, Waker::noop().clone()));
        }
        for (_, w) in &self.idle {
            wake.push(w.clone());
        }
    }

    /// Closes, takes every queued job out (handed back if `handed_back`, else cancelled;
    /// counted, handles resolved) and returns the futures, for the caller to return or
    /// drop outside the lock, with the abort handles of every worker.
    pub(crate) fn stop(
        &mut self,
        handed_back: bool,
        wake: &mut Wakeups,
    ) -> (Vec<F>, Vec<AbortHandle>) {
        self.close(wake);
        self.stopped = true;
        let n = self.queue.len() as u64;
        if handed_back {
            self.counters.handed_back += n;
        } else {
            self.counters.cancelled += n;
        }
        let jobs = self
            .queue
            .drain(..)
            .map(|job| {
                let error = if handed_back {
                    JobError::HandedBack
                } else {
                    JobError::Cancelled
                };
                wake.resolved(job.slot.complete(Err(error)));
                job.fut
            })
            .collect();
        let handles = self.handles.iter().filter_map(|(_, h)| h.clone()).collect();
        (jobs, handles)
    }

    /// Sets the worker target. Returns how many workers to spawn; surplus workers leave
    /// after their current job (idle ones are woken to leave now, unless the room they
    /// stand for was already promised to a queued job).
    pub(crate) fn resize(&mut self, target: usize, wake: &mut Wakeups) -> usize {
        self.target = target;
        if self.live < target {
            target - self.live
        } else {
            self.wake_idle(wake);
            0
        }
    }

    /// Wakes every idle worker (to leave, if surplus), leaving them on `idle`.
    fn wake_idle(&self, wake: &mut Wakeups) {
        for (_, w) in &self.idle {
            wake.push(w.clone());
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn target(&self) -> usize {
        self.target
    }

    /// `Ok` once every worker has left and every handle is resolved (so every accepted
    /// job has ended); otherwise registers `waker` and reports what is left.
    pub(crate) fn poll_drained(&mut self, waker: &Waker) -> Result<(), (usize, usize)> {
        if self.live == 0 && self.unresolved == 0 {
            return Ok(());
        }
        if !self.drain_wakers.iter().any(|w| w.will_wake(waker)) {
            self.drain_wakers.push(waker.clone());
        }
        Err((self.queue.len(), self.running))
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let c = &self.counters;
        Metrics {
            workers: self.live,
            target_workers: self.target,
            running: self.running,
            queued: self.queue.len(),
            blocked_submitters: self.waiters.len() - self.reserved,
            queue_capacity: self.capacity,
            submitted: self.submitted,
            completed: self.completed,
            failed: c.failed,
            rejected: c.rejected,
            cancelled: c.cancelled,
            handed_back: c.handed_back,
            queue_wait: QueueWait {
                count: c.wait_count,
                total: c.wait_total,
                max: c.wait_max,
            },
            closed: self.closed,
        }
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::Wakeups;
    use std::sync::{Arc, Mutex};
    use std::task::{Wake, Waker};

    struct Recorder(usize, Arc<Mutex<Vec<usize>>>);

    impl Wake for Recorder {
        fn wake(self: Arc<Self>) {
            self.1.lock().expect("log").push(self.0);
        }
    }

    /// The first waker kept apart and the list made for the rest: every waker is woken
    /// once, in push order, and the collection can be reused.
    #[test]
    fn wakeups_wake_everything_once_in_push_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let waker = |id| Waker::from(Arc::new(Recorder(id, Arc::clone(&log))));
        let mut wake = Wakeups::default();
        wake.wake_all();
        assert!(log.lock().expect("log").is_empty());
        for id in 0..20 {
            wake.push(waker(id));
        }
        wake.wake_all();
        assert_eq!(*log.lock().expect("log"), (0..20).collect::<Vec<_>>());
        wake.push(waker(99));
        wake.wake_all();
        wake.wake_all();
        assert_eq!(log.lock().expect("log").len(), 21);
    }
}

#[cfg(all(test, not(corral_loom)))]
mod layout {
    use std::mem::offset_of;

    use super::super::shared::Shared;
    use super::State;

    type S = State<std::future::Ready<()>>;

    /// The cache line (from the start of the 128-byte aligned core) of a `State`
    /// field at `offset`.
    fn line(offset: usize) -> usize {
        let m = corral_shared::sync::Mutex::new(S::new(4, 1, 8));
        let data = std::ptr::from_ref::<S>(&m.lock()).addr() - std::ptr::from_ref(&m).addr();
        (offset_of!(Shared<std::future::Ready<()>>, state) + data + offset) / 64
    }

    /// The layout `State`'s docs describe: what every visit writes on line 0, what it
    /// only reads on lines 1 and 3, the submitter's own fields on line 2.
    #[test]
    fn hot_fields_sit_on_their_cache_lines() {
        assert_eq!(offset_of!(Shared<std::future::Ready<()>>, state), 0);
        for (name, offset, want) in [
            ("queue", offset_of!(S, queue), 0),
            ("running", offset_of!(S, running), 0),
            ("completed", offset_of!(S, completed), 0),
            ("en_route", offset_of!(S, en_route), 0),
            ("waiters", offset_of!(S, waiters), 1),
            ("idle", offset_of!(S, idle), 1),
            ("closed", offset_of!(S, closed), 1),
            ("stopped", offset_of!(S, stopped), 1),
            ("sampler", offset_of!(S, sampler), 2),
            ("next_seq", offset_of!(S, next_seq), 2),
            ("submitted", offset_of!(S, submitted), 2),
            ("capacity", offset_of!(S, capacity), 3),
            ("reserved", offset_of!(S, reserved), 3),
            ("live", offset_of!(S, live), 3),
            ("target", offset_of!(S, target), 3),
        ] {
            assert_eq!(line(offset), want, "{name} at {offset}");
        }
        // The multi-word fields end on the line they start on.
        assert_eq!(line(offset_of!(S, waiters) + 31), 1);
        assert_eq!(line(offset_of!(S, idle) + 23), 1);
        assert_eq!(line(offset_of!(S, sampler) + 23), 2);
        assert_eq!(line(offset_of!(S, queue) + 31), 0);
    }
}
