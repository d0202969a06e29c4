//! The pool's state machine: queue, idle workers, blocked submitters and counters, all
//! under one lock. No tokio in here, so loom can drive it directly.
//!
//! # Invariants
//!
//! - `free() = capacity + claimed + idle.len() - queue.len() - reserved` (saturating) is
//!   the number of jobs that may be admitted now. Capacity counts jobs that wait without
//!   a worker; an idle worker (hand-off) or a worker woken for a queued job adds room.
//! - Blocked submitters wait in `waiters`, ordered by id. The first `reserved` of them
//!   were granted a slot (FIFO) and will push when polled; the rest are not granted.
//!   After every change that can raise `free()`, [`State::grant`] runs. Only a worker
//!   taking a job batches ([`State::grant_batched`]: once more than
//!   `min(capacity / 2, GRANT_BATCH)` slots are free), so an ungranted waiter may
//!   coexist with a little room only while that worker is running ready jobs back to
//!   back: when it reaches a job that waits ([`Next::Run`]'s `held_back`), parks or
//!   leaves, everything that fits is granted. A newcomer is admitted only when nobody
//!   waits ungranted (it never jumps the line); the first ungranted waiter takes a free
//!   slot whenever it is polled.
//! - `claimed` (0 or 1) counts a worker taken off `idle` and woken for queued work that
//!   has not yet looked at the queue. [`State::assign`] runs after every push, pop and
//!   worker exit, so while a job is queued and a worker idles, one worker is on its
//!   way: a queued job never sits next to parked workers with nobody woken.
//! - `live` counts worker tasks that have not exited; `running` those holding a job.
//! - Counters only grow. At any quiescent point
//!   `submitted = completed + failed + cancelled + handed_back`.

use std::collections::VecDeque;
use std::future::Future;
use std::task::Waker;
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::slot::Slot;
use crate::error::JobError;
use crate::metrics::{Metrics, QueueWait};
use crate::sync::Arc;

/// While a worker runs ready jobs back to back, blocked submitters are granted room
/// once more than `min(capacity / 2, GRANT_BATCH)` slots are free: one submitter
/// wake-up per batch instead of per job, and a blocked submitter waits for at most this
/// many extra job hand-offs (never for a job that waits: see [`Next::Run`]).
const GRANT_BATCH: usize = 128;

/// An accepted job waiting for a worker.
pub(crate) struct Queued<F: Future> {
    pub(crate) fut: F,
    pub(crate) slot: Arc<Slot<F::Output>>,
    /// When it was queued, for the jobs whose queue wait is sampled.
    enqueued: Option<Instant>,
}

impl<F: Future> Queued<F> {
    pub(crate) fn new(fut: F, slot: Arc<Slot<F::Output>>) -> Self {
        Queued {
            fut,
            slot,
            enqueued: None,
        }
    }
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    waker: Waker,
}

/// Wakers collected under the lock, woken after it is released.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    one: Option<Waker>,
    more: Vec<Waker>,
}

impl Wakeups {
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.one.is_none() {
            self.one = Some(waker);
        } else {
            self.more.push(waker);
        }
    }

    pub(crate) fn wake(self) {
        if let Some(w) = self.one {
            w.wake();
        }
        for w in self.more {
            w.wake();
        }
    }
}

/// How a job left a worker, applied to the counters at the worker's next visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Failed,
    Cancelled,
}

/// What a submitter's visit decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Push the job now.
    Accept,
    /// Blocked; the waker is registered.
    Wait,
    /// The pool is closed.
    Closed,
}

/// A worker's view of itself, kept in its own task.
#[derive(Debug)]
pub(crate) struct WorkerLocal {
    pub(crate) id: u64,
    /// Whether it put itself on `idle` at its last visit.
    parked: bool,
}

/// What a worker's visit decided.
pub(crate) enum Next<F: Future> {
    /// Run this job. If `held_back` (the second field), blocked submitters were left
    /// ungranted next to free slots to batch their wake-up: the worker must call
    /// [`State::grant`] if the job does not finish in its first poll, or a submitter
    /// could wait with room free for as long as the job runs.
    Run(Queued<F>, bool),
    /// Nothing queued: the worker is on `idle`, but yields once and looks again before
    /// it parks (saves a park/unpark round trip when work arrives right behind the
    /// last job).
    Spin,
    Park,
    Exit,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    submitted: u64,
    completed: u64,
    failed: u64,
    rejected: u64,
    cancelled: u64,
    handed_back: u64,
    wait_count: u64,
    wait_total: Duration,
    wait_max: Duration,
}

pub(crate) struct State<F: Future> {
    queue: VecDeque<Queued<F>>,
    capacity: usize,
    idle: Vec<(u64, Waker)>,
    claimed: usize,
    waiters: VecDeque<Waiter>,
    reserved: usize,
    next_waiter: u64,
    closed: bool,
    stopped: bool,
    target: usize,
    live: usize,
    running: usize,
    next_worker: u64,
    /// One entry per live worker, from `add_worker` to its exit; the abort handle is
    /// filled in once the task is spawned.
    handles: Vec<(u64, Option<AbortHandle>)>,
    drain_wakers: Vec<Waker>,
    /// Queue wait is measured on one job in `sample_every` (0: never).
    sample_every: u64,
    counters: Counters,
}

impl<F: Future> State<F> {
    pub(crate) fn new(capacity: usize, workers: usize, sample_every: u32) -> Self {
        State {
            queue: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            idle: Vec::with_capacity(workers),
            claimed: 0,
            waiters: VecDeque::new(),
            reserved: 0,
            next_waiter: 0,
            closed: false,
            stopped: false,
            target: workers,
            live: 0,
            running: 0,
            next_worker: 0,
            handles: Vec::with_capacity(workers),
            drain_wakers: Vec::new(),
            sample_every: u64::from(sample_every),
            counters: Counters::default(),
        }
    }

    fn free(&self) -> usize {
        (self.capacity + self.claimed + self.idle.len())
            .saturating_sub(self.queue.len() + self.reserved)
    }

    /// Whether a newcomer may take a slot now: room, and nobody waiting ahead of it.
    fn admissible(&self) -> bool {
        self.reserved == self.waiters.len() && self.free() > 0
    }

    /// Grants every free slot to blocked submitters, oldest first.
    pub(crate) fn grant(&mut self, wake: &mut Wakeups) {
        if self.closed {
            return;
        }
        while self.reserved < self.waiters.len() && self.free() > 0 {
            let waiter = &mut self.waiters[self.reserved];
            wake.push(std::mem::replace(&mut waiter.waker, Waker::noop().clone()));
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

    /// Wakes an idle worker for queued work, one at a time: while a woken worker is on
    /// its way (`claimed > 0`) no other is woken; when it takes a job it calls this
    /// again, so wake-ups chain through the idle workers only as far as the queue needs
    /// (no thundering herd on a burst, one wake-up per idle period on a trickle).
    fn assign(&mut self, wake: &mut Wakeups) {
        if self.claimed == 0 && !self.queue.is_empty() {
            if let Some((_, waker)) = self.idle.pop() {
                self.claimed = 1;
                wake.push(waker);
            }
        }
    }

    fn waiter_index(&self, id: u64) -> Option<usize> {
        self.waiters.binary_search_by_key(&id, |w| w.id).ok()
    }

    /// A submitter's visit. `waiter` is its registration, kept across visits.
    pub(crate) fn admit(&mut self, waiter: &mut Option<u64>, waker: &Waker) -> Admit {
        if self.closed {
            self.forget_waiter(waiter, &mut Wakeups::default());
            self.counters.rejected += 1;
            return Admit::Closed;
        }
        match *waiter {
            None if self.admissible() => Admit::Accept,
            None => {
                let id = self.next_waiter;
                self.next_waiter += 1;
                self.waiters.push_back(Waiter {
                    id,
                    waker: waker.clone(),
                });
                *waiter = Some(id);
                Admit::Wait
            }
            Some(id) => {
                let idx = self
                    .waiter_index(id)
                    .expect("a registered submitter is in the waiter list");
                if idx < self.reserved {
                    self.waiters.remove(idx);
                    self.reserved -= 1;
                    *waiter = None;
                    Admit::Accept
                } else if idx == self.reserved && self.free() > 0 {
                    // First in line and there is room (held back only to batch
                    // wake-ups): take it rather than wait on.
                    self.waiters.remove(idx);
                    *waiter = None;
                    Admit::Accept
                } else {
                    let w = &mut self.waiters[idx].waker;
                    if !w.will_wake(waker) {
                        *w = waker.clone();
                    }
                    Admit::Wait
                }
            }
        }
    }

    /// A submitter without a registration asking once, never waiting.
    pub(crate) fn try_admit(&mut self) -> Admit {
        if self.closed {
            self.counters.rejected += 1;
            Admit::Closed
        } else if self.admissible() {
            Admit::Accept
        } else {
            self.counters.rejected += 1;
            Admit::Wait
        }
    }

    /// Removes a submitter's registration (it gave up or was dropped). A slot granted
    /// to it passes to the next in line.
    pub(crate) fn forget_waiter(&mut self, waiter: &mut Option<u64>, wake: &mut Wakeups) {
        let Some(id) = waiter.take() else {
            return;
        };
        if let Some(idx) = self.waiter_index(id) {
            self.waiters.remove(idx);
            if idx < self.reserved {
                self.reserved -= 1;
                self.grant(wake);
                if self.live > self.target {
                    // A surplus worker may have stayed for this slot: let it leave.
                    self.wake_idle(wake);
                }
            }
        }
    }

    /// Counts a submitter that gave up at its deadline.
    pub(crate) fn reject(&mut self) {
        self.counters.rejected += 1;
    }

    /// Queues an admitted job.
    pub(crate) fn push(&mut self, mut job: Queued<F>, wake: &mut Wakeups) {
        if self.sample_every != 0 && self.counters.submitted % self.sample_every == 0 {
            job.enqueued = Some(Instant::now());
        }
        self.queue.push_back(job);
        self.counters.submitted += 1;
        self.assign(wake);
    }

    /// Registers a new worker; returns its local view.
    pub(crate) fn add_worker(&mut self) -> WorkerLocal {
        let id = self.next_worker;
        self.next_worker += 1;
        self.live += 1;
        self.handles.push((id, None));
        WorkerLocal { id, parked: false }
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

    /// A worker's visit: first it reports how its previous job ended (if any), then it
    /// takes the next job, parks, or leaves.
    pub(crate) fn next(
        &mut self,
        me: &mut WorkerLocal,
        finished: Option<Outcome>,
        spin: bool,
        waker: &Waker,
        wake: &mut Wakeups,
    ) -> Next<F> {
        if let Some(outcome) = finished {
            self.finish(outcome);
        }
        let mut idle_at = None;
        if me.parked {
            idle_at = self.idle.iter().position(|(id, _)| *id == me.id);
            if idle_at.is_none() {
                // Taken off `idle` and woken for a job.
                self.claimed -= 1;
                me.parked = false;
            }
        }
        let surplus = self.live > self.target && !self.promised(idle_at.is_some());
        if self.stopped || surplus || (self.closed && self.queue.is_empty()) {
            if let Some(i) = idle_at {
                self.idle.swap_remove(i);
            }
            me.parked = false;
            self.exit_worker(me.id, wake);
            return Next::Exit;
        }
        if let Some(job) = self.queue.pop_front() {
            if let Some(i) = idle_at {
                self.idle.swap_remove(i);
                me.parked = false;
            }
            self.running += 1;
            self.assign(wake);
            if let Some(enqueued) = job.enqueued {
                let waited = Instant::now().saturating_duration_since(enqueued);
                let c = &mut self.counters;
                c.wait_count += 1;
                c.wait_total += waited;
                c.wait_max = c.wait_max.max(waited);
            }
            let held_back = self.grant_batched(wake);
            return Next::Run(job, held_back);
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
                me.parked = true;
            }
        }
        // An idle worker is room in hand-off mode.
        self.grant(wake);
        if spin {
            // Registered as idle (so it is room and can be claimed) but yields once
            // before it really parks.
            Next::Spin
        } else {
            Next::Park
        }
    }

    /// Whether the calling worker is needed for work already promised: queued jobs and
    /// granted submitters that the room left without it (`is_idle`: it is counted on
    /// `idle`) cannot cover. A surplus worker stays for those instead of leaving, or a
    /// hand-off job could be accepted for a worker that then leaves, and wait for
    /// others that may be busy for good.
    fn promised(&self, is_idle: bool) -> bool {
        self.queue.len() + self.reserved + usize::from(is_idle)
            > self.capacity + self.claimed + self.idle.len()
    }

    fn finish(&mut self, outcome: Outcome) {
        self.running -= 1;
        let c = &mut self.counters;
        match outcome {
            Outcome::Completed => c.completed += 1,
            Outcome::Failed => c.failed += 1,
            Outcome::Cancelled => c.cancelled += 1,
        }
    }

    fn exit_worker(&mut self, id: u64, wake: &mut Wakeups) {
        self.live -= 1;
        if let Some(i) = self.handles.iter().position(|(h, _)| *h == id) {
            self.handles.swap_remove(i);
        }
        self.assign(wake);
        self.grant(wake);
        if self.live == 0 {
            for w in self.drain_wakers.drain(..) {
                wake.push(w);
            }
        }
    }

    /// A worker task dropped without leaving through [`State::next`] (aborted, or its
    /// runtime shut down), maybe in the middle of a job.
    /// `finished` is a job that ended but was not yet reported; `had_job` one that was
    /// still running (it is cancelled).
    ///
    /// If it was the last worker and the pool was not stopped (its runtime is shutting
    /// down), nobody will ever run the queue: the pool stops, and the queued jobs are
    /// returned (counted cancelled) for the caller to complete outside the lock.
    pub(crate) fn worker_dropped(
        &mut self,
        me: &mut WorkerLocal,
        finished: Option<Outcome>,
        had_job: bool,
        wake: &mut Wakeups,
    ) -> Vec<Queued<F>> {
        if let Some(outcome) = finished {
            self.finish(outcome);
        }
        if had_job {
            self.finish(Outcome::Cancelled);
        }
        if me.parked {
            match self.idle.iter().position(|(id, _)| *id == me.id) {
                Some(i) => {
                    self.idle.swap_remove(i);
                }
                None => self.claimed -= 1,
            }
            me.parked = false;
        }
        self.exit_worker(me.id, wake);
        if self.live > 0 || self.stopped {
            return Vec::new();
        }
        let (jobs, _no_workers_left) = self.stop(wake);
        self.count_removed(jobs.len(), false);
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

    /// Closes, takes every queued job out and aborts every worker. The caller completes
    /// the returned jobs' slots outside the lock.
    pub(crate) fn stop(&mut self, wake: &mut Wakeups) -> (Vec<Queued<F>>, Vec<AbortHandle>) {
        self.close(wake);
        self.stopped = true;
        let jobs: Vec<_> = self.queue.drain(..).collect();
        let handles = self.handles.iter().filter_map(|(_, h)| h.clone()).collect();
        (jobs, handles)
    }

    /// Counts jobs handed back (`true`) or dropped (`false`) by [`State::stop`].
    pub(crate) fn count_removed(&mut self, n: usize, handed_back: bool) {
        if handed_back {
            self.counters.handed_back += n as u64;
        } else {
            self.counters.cancelled += n as u64;
        }
    }

    /// Sets the worker target. Returns how many workers to spawn; surplus workers leave
    /// after their current job (idle ones are woken to leave now, unless the room they
    /// stand for was already promised to a queued job or a granted submitter).
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

    /// `Ok` once every worker has left (so every accepted job has ended); otherwise
    /// registers `waker` and reports what is left.
    pub(crate) fn poll_drained(&mut self, waker: &Waker) -> Result<(), (usize, usize)> {
        if self.live == 0 {
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
            blocked_submitters: self.waiters.len(),
            queue_capacity: self.capacity,
            submitted: c.submitted,
            completed: c.completed,
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

/// Completes the slots of jobs removed from the queue.
pub(crate) fn complete_removed<F: Future>(jobs: Vec<Queued<F>>, handed_back: bool) -> Vec<F> {
    let error = || {
        if handed_back {
            JobError::HandedBack
        } else {
            JobError::Cancelled
        }
    };
    jobs.into_iter()
        .map(|job| {
            job.slot.complete(Err(error()));
            job.fut
        })
        .collect()
}
