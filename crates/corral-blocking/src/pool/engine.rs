//! The pool's engine: one mutex-protected state, a condvar the idle threads sleep on,
//! and the worker loop.
//!
//! # Invariants
//!
//! - `threads_alive <= max_threads`, always: a thread is counted (its slot taken) under
//!   the lock *before* it is spawned, and uncounted under the lock as its last act, after
//!   its last job has returned. So the count never lies about threads doing work.
//! - `running <= threads_alive`: a job is counted from the moment a thread pops it until
//!   the closure has returned.
//! - A queued job is either in `queue` (and can still be removed by its caller, in which
//!   case it never runs) or has been popped by exactly one thread (and then it runs to
//!   completion). Both happen under the lock, so there is no third state.
//! - `num_idle` counts threads that nobody has yet handed a job and that are asleep on
//!   the condvar or on their way there (a thread counts itself idle as its last job
//!   returns, if the queue is empty, before handing the result over);
//!   `num_notify` counts hand-offs not yet consumed. A hand-off moves one unit from
//!   `num_idle` to `num_notify`; whichever idle thread next holds the lock consumes it,
//!   so a notification that reaches no sleeper is never lost.
//! - Unassigned queued jobs (`queue.len() - num_notify - starting`, saturating) never
//!   exceed `queue_capacity` at admission time.
//! - Once `closed` is set, nothing is admitted and no thread is spawned; the queue only
//!   shrinks. `close(true)` (shutdown) empties it at once: those jobs never run.
//!   `close(false)` (`BlockingPool::close`) keeps it: the threads still alive run every
//!   queued job before the last of them exits (a job is queued only while a thread is
//!   alive or being spawned, and a thread exits only when no queued job is waiting for
//!   it), so a closed pool's queue drains and `stopped()` resolves once it has.

use std::collections::VecDeque;
use std::sync::Arc as StdArc;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::stray::PoolRecord;
use corral_shared::sync::{spawn_thread, Arc, AtomicUsize, Condvar, Mutex, MutexGuard};
use corral_shared::wake::WakeList;

/// A type-erased queued job. The thread that runs it passes a callback the job calls
/// once its closure has returned and before its caller sees the result, so the pool
/// books it ([`Shared::job_returned`]) first.
pub(crate) type Task = Box<dyn FnOnce(&mut dyn FnMut()) + Send + 'static>;

/// Validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) max_threads: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) stack_size: Option<usize>,
}

/// Everything the pool's handles, futures and threads share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    state: Mutex<State>,
    /// Idle threads sleep here.
    work: Condvar,
    /// Jobs whose caller left after the job started and that have not returned yet.
    pub(crate) abandoned: Arc<AtomicUsize>,
    record: StdArc<PoolRecord>,
}

struct Queued {
    id: u64,
    task: Task,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    next_job: u64,
    threads_alive: usize,
    threads_high_water: usize,
    next_thread: u64,
    /// Spawned threads that have not yet taken the lock for the first time.
    starting: usize,
    num_idle: usize,
    num_notify: usize,
    running: usize,
    running_high_water: usize,
    completed: u64,
    rejected: u64,
    closed: bool,
    /// Callers of `run` waiting for queue space, in arrival order, so sorted by id.
    space_waiters: VecDeque<(u64, Option<Waker>)>,
    next_waiter: u64,
    /// Waiters for "every thread has exited", each `Stopped` future's registration
    /// under its id (increasing, pushed at the back: sorted), removed when the future
    /// is dropped, so waits that time out leave nothing behind.
    stop_waiters: Vec<(u64, Waker)>,
    next_stop_waiter: u64,
}

/// What admission decided for one job.
pub(crate) enum Admit {
    /// Queued with the given id; a thread is on its way or it waits in the queue.
    Queued(u64),
    /// The queue is full.
    Full,
    /// The pool is closed.
    Closed,
    /// No thread is alive and none could be spawned.
    Spawn(std::io::Error),
}

/// A point-in-time copy of the counters (see `PoolMetrics`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) running: usize,
    pub(crate) queued: usize,
    pub(crate) threads_alive: usize,
    pub(crate) threads_idle: usize,
    pub(crate) threads_high_water: usize,
    pub(crate) running_high_water: usize,
    pub(crate) completed: u64,
    pub(crate) rejected: u64,
    pub(crate) space_waiters: usize,
    pub(crate) closed: bool,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Arc<Self> {
        let record = PoolRecord::new(config.name.clone());
        Arc::new(Shared {
            config,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            abandoned: Arc::new(AtomicUsize::new(0)),
            record,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    pub(crate) fn counters(&self) -> Counters {
        let st = self.lock();
        Counters {
            running: st.running,
            queued: st.queue.len(),
            threads_alive: st.threads_alive,
            threads_idle: st.num_idle,
            threads_high_water: st.threads_high_water,
            running_high_water: st.running_high_water,
            completed: st.completed,
            rejected: st.rejected,
            space_waiters: st.space_waiters.len(),
            closed: st.closed,
        }
    }

    /// Tries to admit a job. `make` builds the task only once admission is certain, so
    /// a refused closure can be handed back untouched. `waiter` is the caller's place in
    /// the space-waiter queue, if it has one: a job may take queue space only when no
    /// earlier waiter is ahead of it.
    pub(crate) fn admit(
        this: &Arc<Self>,
        waiter: Option<u64>,
        make: &mut dyn FnMut() -> Task,
    ) -> Admit {
        let mut st = this.lock();
        if st.closed {
            return Admit::Closed;
        }
        let first_in_line = match st.space_waiters.front() {
            None => true,
            Some(&(front, _)) => waiter == Some(front),
        };
        if !first_in_line {
            return Admit::Full;
        }
        // The hand-off is booked under the lock, the idle thread woken after it is
        // released: woken under the lock, the thread would at once block on the lock
        // we hold, one more context switch per job (measured in BENCHMARKS.md). The
        // booked `num_notify` keeps a wake-up that arrives before the thread sleeps.
        let wake_idle = st.num_idle > 0;
        if wake_idle {
            st.num_idle -= 1;
            st.num_notify += 1;
        } else if st.threads_alive < this.config.max_threads {
            if let Err(err) = Self::spawn_worker(this, &mut st) {
                if st.threads_alive == 0 {
                    st.rejected += 1;
                    return Admit::Spawn(err);
                }
                // Live threads will get to it: fall back to queueing.
                let unassigned = st.queue.len().saturating_sub(st.num_notify + st.starting);
                if unassigned >= this.config.queue_capacity {
                    return Admit::Full;
                }
            }
        } else {
            let unassigned = st.queue.len().saturating_sub(st.num_notify + st.starting);
            if unassigned >= this.config.queue_capacity {
                return Admit::Full;
            }
        }
        let id = st.next_job;
        st.next_job += 1;
        st.queue.push_back(Queued { id, task: make() });
        if let Some(waiter) = waiter {
            st.remove_space_waiter(waiter);
        }
        // There may be room for the next waiter too.
        let mut wakes = WakeList::new();
        if this.space_available(&st) {
            wakes.push_opt(st.front_waker());
        }
        drop(st);
        if wake_idle {
            this.work.notify_one();
        }
        wakes.wake_all();
        Admit::Queued(id)
    }

    /// Whether a job admitted now would not be refused as `Full`.
    fn space_available(&self, st: &State) -> bool {
        st.num_idle > 0
            || st.threads_alive < self.config.max_threads
            || st.queue.len().saturating_sub(st.num_notify + st.starting)
                < self.config.queue_capacity
    }

    /// Counts one refusal (for `try_run`).
    pub(crate) fn count_rejected(&self) {
        self.lock().rejected += 1;
    }

    /// Registers (or refreshes) a space waiter; returns its id, or `None` if the pool
    /// closed meanwhile.
    pub(crate) fn wait_for_space(&self, waiter: Option<u64>, waker: &Waker) -> Option<u64> {
        let mut st = self.lock();
        if st.closed {
            if let Some(waiter) = waiter {
                st.remove_space_waiter(waiter);
            }
            return None;
        }
        let id = match waiter {
            Some(id) => {
                // Found by binary search (ids are sorted): a scan from the front made
                // every registration O(waiters), so n waiting callers cost O(n^2).
                if let Some(at) = st.space_waiter_index(id) {
                    let entry = &mut st.space_waiters[at].1;
                    if !entry.as_ref().is_some_and(|w| w.will_wake(waker)) {
                        *entry = Some(waker.clone());
                    }
                }
                id
            }
            None => {
                let id = st.next_waiter;
                st.next_waiter += 1;
                st.space_waiters.push_back((id, Some(waker.clone())));
                id
            }
        };
        // Space may have freed between the failed admission and this registration.
        let wake_now =
            st.space_waiters.front().is_some_and(|&(w, _)| w == id) && self.space_available(&st);
        drop(st);
        if wake_now {
            waker.wake_by_ref();
        }
        Some(id)
    }

    /// A space waiter went away without taking a place.
    pub(crate) fn leave_space_queue(&self, waiter: u64) {
        let mut st = self.lock();
        let was_front = st.space_waiters.front().is_some_and(|&(w, _)| w == waiter);
        st.remove_space_waiter(waiter);
        let mut wakes = WakeList::new();
        if was_front && self.space_available(&st) {
            wakes.push_opt(st.front_waker());
        }
        drop(st);
        wakes.wake_all();
    }

    /// The caller of job `id` went away. Returns the job if it was still queued (it
    /// will never run); `None` if a thread already took it.
    pub(crate) fn cancel(&self, id: u64) -> Option<Task> {
        let mut st = self.lock();
        let at = st.queue.binary_search_by_key(&id, |q| q.id).ok()?;
        let job = st.queue.remove(at)?;
        let mut wakes = WakeList::new();
        wakes.push_opt(st.front_waker());
        drop(st);
        wakes.wake_all();
        Some(job.task)
    }

    /// Stops intake. With `discard`, also takes every queued job (returned, to be
    /// dropped by the caller outside the lock: each one's caller then sees `Closed`).
    /// Idle threads are told to exit.
    pub(crate) fn close(&self, discard: bool) -> Vec<Task> {
        let mut st = self.lock();
        st.closed = true;
        let dropped: Vec<Task> = if discard {
            st.queue.drain(..).map(|q| q.task).collect()
        } else {
            Vec::new()
        };
        let mut wakes = WakeList::new();
        wakes.extend(st.space_waiters.drain(..).filter_map(|(_, waker)| waker));
        if st.threads_alive == 0 {
            wakes.extend(st.stop_waiters.drain(..).map(|(_, waker)| waker));
        }
        drop(st);
        self.work.notify_all();
        wakes.wake_all();
        dropped
    }

    /// Marks the pool as gone for the stray-thread registry.
    pub(crate) fn retire(&self) {
        self.record.retire();
    }

    /// Whether every thread has exited after close; if not, registers `waker` under
    /// `slot` (the `Stopped` future's registration id, set on its first wait).
    pub(crate) fn poll_stopped(&self, slot: &mut Option<u64>, waker: &Waker) -> bool {
        let mut st = self.lock();
        if st.closed && st.threads_alive == 0 {
            // Stopping drained every registration.
            *slot = None;
            return true;
        }
        let found = slot.and_then(|id| st.stop_waiter_index(id));
        match found {
            Some(at) => {
                let registered = &mut st.stop_waiters[at].1;
                if !registered.will_wake(waker) {
                    *registered = waker.clone();
                }
            }
            None => {
                let id = st.next_stop_waiter;
                st.next_stop_waiter += 1;
                st.stop_waiters.push((id, waker.clone()));
                *slot = Some(id);
            }
        }
        false
    }

    /// A `Stopped` future registered under `id` was dropped: forget its waker.
    pub(crate) fn leave_stop_waiters(&self, id: u64) {
        let mut st = self.lock();
        if let Some(at) = st.stop_waiter_index(id) {
            let (_, waker) = st.stop_waiters.remove(at);
            drop(st);
            // Dropped outside the lock: a waker's drop is foreign code.
            drop(waker);
        }
    }

    /// A job's closure has returned (or panicked): it is no longer running and counts
    /// as completed. Called (through the job's callback) before the result is handed
    /// over, so a caller that has the result also sees it in the metrics.
    ///
    /// If no job is queued, the thread also counts itself idle now, returning `true`:
    /// its caller's next job (submitted as soon as the result arrives) is then handed
    /// to this warm thread instead of finding no idle thread and spawning one. A
    /// hand-off booked before the thread sleeps waits in `num_notify`, as for any idle
    /// thread that has released the lock.
    fn job_returned(&self) -> bool {
        let mut st = self.lock();
        st.running -= 1;
        st.completed += 1;
        let idle = st.queue.is_empty() && !st.closed;
        let mut wakes = WakeList::new();
        if idle {
            st.num_idle += 1;
            // An idle thread is room for one more job.
            wakes.push_opt(st.front_waker());
        }
        drop(st);
        wakes.wake_all();
        idle
    }

    /// Takes a slot and spawns a thread for it. Called with the lock held.
    fn spawn_worker(this: &Arc<Self>, st: &mut State) -> std::io::Result<()> {
        let name = format!("{}-{}", this.config.name, st.next_thread);
        st.next_thread += 1;
        st.threads_alive += 1;
        st.starting += 1;
        // Registered before the thread exists, so a shutdown racing with the spawn
        // still lists it as a stray until it exits.
        this.record.thread_started(name.clone());
        let shared = Arc::clone(this);
        let thread_name = name.clone();
        match spawn_thread(name.clone(), this.config.stack_size, move || {
            // Before any job can register a thread-local destructor: the thread leaves
            // the stray registry only once those have run.
            #[cfg(not(corral_loom))]
            StdArc::clone(&shared.record).exit_at_thread_teardown(thread_name.clone());
            shared.worker(&thread_name)
        }) {
            Ok(()) => {
                st.threads_high_water = st.threads_high_water.max(st.threads_alive);
                Ok(())
            }
            Err(err) => {
                st.threads_alive -= 1;
                st.starting -= 1;
                this.record.thread_exited(&name);
                Err(err)
            }
        }
    }

    /// The body of every pool thread.
    fn worker(&self, name: &str) {
        let keep_alive = self.config.keep_alive;
        let mut st = self.lock();
        st.starting -= 1;
        'work: loop {
            // Whether this thread already counted itself idle (in `job_returned`).
            let mut counted_idle = false;
            while let Some(job) = st.queue.pop_front() {
                st.running += 1;
                st.running_high_water = st.running_high_water.max(st.running);
                let mut wakes = WakeList::new();
                wakes.push_opt(st.front_waker());
                drop(st);
                wakes.wake_all();
                // The completer catches the closure's panic (and books the job as
                // completed); this catches one from dropping an abandoned result, so
                // the thread's accounting survives.
                let mut idle = false;
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    (job.task)(&mut || idle = self.job_returned());
                }));
                st = self.lock();
                if idle {
                    if st.num_notify > 0 {
                        // Handed a job meanwhile: busy again.
                        st.num_notify -= 1;
                        continue;
                    }
                    counted_idle = true;
                    break;
                }
            }
            if st.closed {
                if counted_idle {
                    st.num_idle -= 1;
                }
                break 'work;
            }
            if !counted_idle {
                st.num_idle += 1;
            }
            // An idle thread is room for one more job, even with a zero-capacity queue.
            if let Some(waker) = st.front_waker().filter(|_| !counted_idle) {
                let mut wakes = WakeList::new();
                wakes.push(waker);
                drop(st);
                wakes.wake_all();
                st = self.lock();
                if st.num_notify > 0 {
                    // Handed a job while the lock was released.
                    st.num_notify -= 1;
                    continue 'work;
                }
                if st.closed {
                    st.num_idle -= 1;
                    break 'work;
                }
            }
            // `None`: a keep-alive past the clock's range (`Duration::MAX`, "never
            // exit"); adding it would panic and kill the thread while the pool still
            // counted it alive and idle, so the next job handed to it never ran.
            let deadline = Instant::now().checked_add(keep_alive);
            loop {
                let (guard, timed_out) = match deadline {
                    Some(deadline) => self.work.wait_until(st, deadline),
                    None => (self.work.wait(st), false),
                };
                st = guard;
                if st.num_notify > 0 {
                    st.num_notify -= 1;
                    continue 'work;
                }
                if st.closed || timed_out {
                    st.num_idle -= 1;
                    break 'work;
                }
            }
        }
        st.threads_alive -= 1;
        let mut wakes = WakeList::new();
        if st.closed && st.threads_alive == 0 {
            wakes.extend(st.stop_waiters.drain(..).map(|(_, waker)| waker));
        } else {
            // A free slot is room for one more job.
            wakes.push_opt(st.front_waker());
        }
        drop(st);
        // Otherwise the record is updated when the OS thread tears down, after the
        // thread-local destructors of its jobs (`PoolRecord::exit_at_thread_teardown`).
        #[cfg(corral_loom)]
        self.record.thread_exited(name);
        #[cfg(not(corral_loom))]
        let _ = name;
        wakes.wake_all();
    }
}

impl State {
    /// Where waiter `id` is in `space_waiters`: O(log n), since ids are handed out in
    /// increasing order and only ever pushed at the back.
    fn space_waiter_index(&self, id: u64) -> Option<usize> {
        self.space_waiters
            .binary_search_by_key(&id, |&(w, _)| w)
            .ok()
    }

    /// Where the `Stopped` registration `id` is: O(log n), ids being sorted.
    fn stop_waiter_index(&self, id: u64) -> Option<usize> {
        self.stop_waiters
            .binary_search_by_key(&id, |&(w, _)| w)
            .ok()
    }

    fn remove_space_waiter(&mut self, waiter: u64) {
        if let Some(at) = self.space_waiter_index(waiter) {
            self.space_waiters.remove(at);
        }
    }

    fn front_waker(&self) -> Option<Waker> {
        self.space_waiters.front().and_then(|(_, w)| w.clone())
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}
