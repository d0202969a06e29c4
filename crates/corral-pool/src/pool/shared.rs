//! The pool's shared core: the state machine under its lock, plus what the engine needs
//! around it (name, runtime handle, `on_panic` hook). Everything outside the engine
//! (the `Pool`, the submit and drain futures, job handles through [`PoolLink`]) changes
//! the state through the methods here, and each of them follows one sequence
//! ([`Shared::with_state`]): lock, let the state machine decide, release the lock, then
//! wake the tasks the change released ([`WakeList`](corral_shared::wake::WakeList)) and
//! report an unobserved panic. No waker, hook or job destructor runs under the lock.

use std::future::Future;
// std, not the loom-switched shim: every job's slot links back to the core through a
// `Weak<dyn PoolLink>`, an unsized coercion loom's `Arc` cannot make.
use std::sync::{Arc, Weak};
use std::task::{Poll, Waker};

use corral_shared::sync::Mutex;
use tokio::runtime::Handle;
use tokio::time::{Instant, Sleep};

use super::export::Locked;
use super::state::{Admit, Queued, State, Wakeups, Withdrawn};
use super::worker;
use crate::builder::{Config, PanicHook, Workers};
use crate::error::{DrainError, ResizeError, TrySubmitError};
use crate::handle::{JobHandle, Payload, PoolLink, Slot};
use crate::metrics::Metrics;

/// The core of a pool, shared by the `Pool`, its workers, owned submit futures and (as
/// a weak link) job handles.
///
/// Aligned to 128 bytes so that the `Arc`'s reference counts, which every job handle
/// touches (a weak count per handle), sit on another cache line than the pool's lock;
/// `repr(C)` with the state first, so the lock and the state's hot fields start the
/// first line (see `State`'s layout).
#[repr(C, align(128))]
pub(crate) struct Shared<F: Future> {
    pub(super) state: Mutex<State<F>>,
    name: String,
    handle: Handle,
    on_panic: PanicHook,
    /// A weak link to itself, cloned into every job's slot.
    link: Weak<Shared<F>>,
}

/// A submitter's side of one `submit`: its job until the pool takes it, the job's
/// result slot until the handle is made, and its place in line while it waits.
pub(crate) struct Request<F: Future> {
    job: Option<Queued<F>>,
    slot: Option<Arc<Slot<F::Output>>>,
    waiter: Option<u64>,
}

impl<F: Future> Request<F> {
    /// Whether the request has resolved (accepted or refused).
    pub(crate) fn is_done(&self) -> bool {
        self.slot.is_none()
    }

    /// Whether it waits in line (or was granted room and has not collected its handle).
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiter.is_some()
    }

    /// The handle of the accepted job.
    fn accepted(&mut self) -> JobHandle<F::Output> {
        JobHandle::new(self.slot.take().expect("Submit polled after completion"))
    }

    /// The job, refused: handed back.
    fn refused(&mut self, job: F) -> F {
        self.slot = None;
        job
    }
}

impl<F: Future> Shared<F> {
    /// A core in its starting state, without workers (see `worker::spawn_workers`).
    pub(super) fn new(config: Config, handle: Handle) -> Arc<Self> {
        let Config {
            name,
            workers,
            queue_capacity,
            sample_every,
            on_panic,
            #[cfg(feature = "metrics")]
            named,
        } = config;
        #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
        let mut state = State::new(queue_capacity, workers.get(), sample_every);
        #[cfg(feature = "metrics")]
        if named {
            state.set_export(super::export::PoolMetrics::register(&name));
        }
        Arc::new_cyclic(|link: &Weak<Shared<F>>| Shared {
            state: Mutex::new(state),
            name,
            handle,
            on_panic,
            link: link.clone(),
        })
    }

    /// Takes the pool's lock. With the `metrics` feature, releasing it publishes what
    /// changed (`export`); without, this is the mutex guard.
    pub(super) fn lock(&self) -> Locked<'_, F> {
        self.lock_publishing_idle(true)
    }

    /// Takes the pool's lock for a worker's visit ([`State::next`]). With the `metrics`
    /// feature, releasing it does not publish an idle pool: the visit publishes one
    /// itself when its worker parks (see `State::publish_batched`).
    pub(super) fn lock_for_worker(&self) -> Locked<'_, F> {
        self.lock_publishing_idle(false)
    }

    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn lock_publishing_idle(&self, idle: bool) -> Locked<'_, F> {
        #[cfg(feature = "metrics")]
        return Locked::new(self.state.lock(), idle);
        #[cfg(not(feature = "metrics"))]
        return self.state.lock();
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Locks the state, runs `f` on it, releases the lock, then delivers what `f`
    /// collected. What `f` returns is dropped by the caller, outside the lock.
    pub(super) fn with_state<R>(&self, f: impl FnOnce(&mut State<F>, &mut Wakeups) -> R) -> R {
        self.with_state_then(f, |result| result)
    }

    /// [`Shared::with_state`], with `then` run on `f`'s result after the lock is
    /// released and before anyone is woken: where a job is dropped or a worker aborted,
    /// that is done before the tasks it concerns (a handle resolved `Cancelled`, a
    /// drain) run.
    pub(super) fn with_state_then<R, T>(
        &self,
        f: impl FnOnce(&mut State<F>, &mut Wakeups) -> R,
        then: impl FnOnce(R) -> T,
    ) -> T {
        let mut wake = Wakeups::default();
        let result = f(&mut self.lock(), &mut wake);
        let result = then(result);
        self.deliver(&mut wake);
        result
    }

    /// Collected wake-ups delivered, and an unobserved panic reported, outside the lock.
    pub(super) fn deliver(&self, wake: &mut Wakeups) {
        if let Some(payload) = wake.panic.take() {
            self.on_panic.report(&self.name, payload);
        }
        wake.wake_all();
    }

    /// This pool's identity for `worker::is_current`: the address of its core.
    pub(super) fn id(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    /// Stops intake (see `Pool::close`).
    pub(super) fn close(&self) {
        self.with_state(|state, wake| state.close(wake));
    }

    /// Stops the pool; returns the queued futures if `handed_back`, else drops them
    /// (outside the lock). Running jobs are cancelled by aborting their workers.
    pub(super) fn stop(&self, handed_back: bool) -> Vec<F> {
        self.with_state_then(
            |state, wake| state.stop(handed_back, wake),
            |(jobs, workers)| {
                for worker in workers {
                    worker.abort();
                }
                jobs
            },
        )
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().is_closed()
    }

    pub(super) fn target(&self) -> usize {
        self.lock().target()
    }

    pub(super) fn metrics(&self) -> Metrics {
        self.lock().metrics()
    }

    /// Grants free room to blocked submitters (a worker whose job waits after it held
    /// them back to batch their wake-up).
    pub(super) fn grant(&self) {
        self.with_state(State::grant);
    }

    /// A waiting submitter is dropped: its job is dropped unsubmitted, or, if room was
    /// granted meanwhile, aborted (taken out of the queue, or interrupted if a worker
    /// already took it). Jobs are dropped outside the lock.
    pub(crate) fn abandon(&self, request: &mut Request<F>) {
        if !request.is_waiting() {
            return;
        }
        let slot = request.slot.as_deref();
        let waiter = &mut request.waiter;
        self.with_state_then(
            |state, wake| match state.withdraw(waiter) {
                Withdrawn::Job(job) => (Some(job), false),
                // Accepted, but nobody will see the handle: abort the job.
                Withdrawn::Granted(seq) => {
                    let job = state.cancel_queued(seq, wake);
                    let running = job.is_none();
                    (job, running)
                }
                Withdrawn::Nothing => (None, false),
            },
            |(job, running)| {
                drop(job);
                if running {
                    if let Some(slot) = slot {
                        slot.interrupt();
                    }
                }
            },
        );
    }

    /// A timer for `deadline` on the pool's runtime (the caller's context may have no
    /// time driver of its own).
    ///
    /// # Panics
    ///
    /// If the pool's runtime was built without the time driver.
    pub(crate) fn sleep_until(&self, deadline: Instant) -> Sleep {
        let _enter = self.handle.enter();
        tokio::time::sleep_until(deadline)
    }

    /// `Ok` once every worker has left and every handle is resolved; otherwise registers
    /// `waker` and reports what is still queued and running.
    pub(crate) fn poll_drained(&self, waker: &Waker) -> Result<(), DrainError> {
        self.state
            .lock()
            .poll_drained(waker)
            .map_err(|(queued, running)| DrainError { queued, running })
    }
}

impl<F> Shared<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// With the `metrics` feature, lets each census tick (`corral_task::export_metrics`)
    /// flush a named pool's batched series (see `export`); a no-op for unnamed pools.
    pub(super) fn register_flush(self: &Arc<Self>) {
        #[cfg(feature = "metrics")]
        if self.lock().has_export() {
            corral_shared::metrics::register(Arc::downgrade(self), |shared| {
                shared.lock().publish();
            });
        }
    }

    /// A new job's result slot, linked to this pool for aborts and unobserved panics.
    fn slot(&self) -> Arc<Slot<F::Output>> {
        // A clone of the pool's own weak link (one increment), not `Arc::downgrade`
        // (a load and a compare-exchange loop): it is paid on every job.
        let link: Weak<dyn PoolLink> = self.link.clone();
        Arc::new(Slot::new(link))
    }

    /// Submits `job` if there is room now (see `Pool::try_submit`).
    pub(super) fn try_submit(&self, job: F) -> Result<JobHandle<F::Output>, TrySubmitError<F>> {
        let slot = self.slot();
        let queued = Queued::new(job, Arc::clone(&slot));
        self.with_state(|state, wake| state.try_admit(queued, wake))?;
        Ok(JobHandle::new(slot))
    }

    /// Sets the worker target and spawns the workers it adds (see `Pool::resize`).
    pub(super) fn resize(self: &Arc<Self>, workers: Workers) -> Result<(), ResizeError> {
        let spawn = self.with_state(|state, wake| {
            if state.is_closed() {
                return Err(ResizeError::Closed);
            }
            Ok(state.resize(workers.get(), wake))
        })?;
        if spawn > 0 {
            worker::spawn_workers(self, spawn);
        }
        Ok(())
    }

    /// A submitter's request for `job`, not yet shown to the pool.
    pub(crate) fn request(&self, job: F) -> Request<F> {
        let slot = self.slot();
        Request {
            job: Some(Queued::new(job, Arc::clone(&slot))),
            slot: Some(slot),
            waiter: None,
        }
    }

    /// A submitter's visit: its handle once the job is accepted, the job back if the
    /// pool is closed, or `Pending` with `waker` registered in line.
    ///
    /// # Panics
    ///
    /// If the request already resolved.
    pub(crate) fn poll_submit(
        &self,
        request: &mut Request<F>,
        waker: &Waker,
    ) -> Poll<Result<JobHandle<F::Output>, F>> {
        assert!(!request.is_done(), "Submit polled after completion");
        let admit = self.with_state(|state, wake| {
            state.admit(&mut request.waiter, &mut request.job, waker, wake)
        });
        match admit {
            Admit::Accepted => Poll::Ready(Ok(request.accepted())),
            Admit::Wait => Poll::Pending,
            Admit::Closed(job) => Poll::Ready(Err(request.refused(job))),
        }
    }

    /// A submitter gives up at its deadline: it leaves the line and gets its job back
    /// (counted as rejected), unless room was granted meanwhile (then the job is
    /// accepted and its handle returned).
    pub(crate) fn give_up(&self, request: &mut Request<F>) -> Result<JobHandle<F::Output>, F> {
        let withdrawn = self.with_state(|state, _| {
            let withdrawn = state.withdraw(&mut request.waiter);
            if !matches!(withdrawn, Withdrawn::Granted(_)) {
                state.reject();
            }
            withdrawn
        });
        match withdrawn {
            Withdrawn::Granted(_) => Ok(request.accepted()),
            Withdrawn::Job(job) => Err(request.refused(job)),
            Withdrawn::Nothing => {
                let job = request.job.take().expect("Submit polled after completion");
                Err(request.refused(job.fut))
            }
        }
    }
}

impl<F> PoolLink for Shared<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn cancel_queued(&self, seq: u64) -> bool {
        self.with_state_then(
            |state, wake| state.cancel_queued(seq, wake),
            |job| job.is_some(),
        )
    }

    fn report_panic(&self, payload: Payload) {
        self.on_panic.report(&self.name, payload);
    }
}
