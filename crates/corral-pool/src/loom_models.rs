//! Loom models of the queue/worker handshake and of the result slot.
//!
//! The engine (`pool::state`, `pool::slot`) has no tokio in it, so these drive it with
//! loom threads and loom's `block_on`, whose wakers unpark the blocked thread: a lost
//! wake-up shows up as a deadlock.

use std::future::{poll_fn, Ready};
use std::task::Poll;

use loom::future::block_on;
use loom::thread;

use crate::error::JobError;
use crate::pool::slot::Slot;
use crate::pool::state::{Admit, Next, Outcome, Queued, State, Wakeups};
use crate::sync::{Arc, Mutex};

type Job = Ready<u32>;

/// Runs one worker until the pool tells it to leave; returns how many jobs it ran.
fn worker(state: &Mutex<State<Job>>) -> usize {
    let mut me = state.lock().add_worker();
    // Like the real worker: a finished job is reported at the next visit, and its slot
    // completed after that, so the counters include a job before its handle resolves.
    let mut done: Option<(Arc<Slot<u32>>, u32)> = None;
    let mut ran = 0;
    let mut spin = true;
    block_on(poll_fn(|cx| loop {
        let mut wake = Wakeups::default();
        let finished = done.as_ref().map(|_| Outcome::Completed);
        let next = state
            .lock()
            .next(&mut me, finished, spin, cx.waker(), &mut wake);
        if let Some((slot, value)) = done.take() {
            slot.complete(Ok(value));
        }
        wake.wake();
        match next {
            Next::Run(job, _) => {
                done = Some((job.slot, job.fut.into_inner()));
                ran += 1;
                spin = true;
            }
            // Registered idle, then one more look before parking (the yield).
            Next::Spin => spin = false,
            Next::Park => return Poll::Pending,
            Next::Exit => return Poll::Ready(()),
        }
    }));
    ran
}

/// Submits one job, waiting for room; `None` if the pool closed first.
fn submit(state: &Mutex<State<Job>>, value: u32) -> Option<Arc<Slot<u32>>> {
    let mut waiter = None;
    block_on(poll_fn(|cx| {
        let mut wake = Wakeups::default();
        let result = {
            let mut st = state.lock();
            match st.admit(&mut waiter, cx.waker()) {
                Admit::Accept => {
                    let slot = Arc::new(Slot::new());
                    st.push(
                        Queued::new(std::future::ready(value), Arc::clone(&slot)),
                        &mut wake,
                    );
                    Poll::Ready(Some(slot))
                }
                Admit::Wait => Poll::Pending,
                Admit::Closed => Poll::Ready(None),
            }
        };
        wake.wake();
        result
    }))
}

fn close(state: &Mutex<State<Job>>) {
    let mut wake = Wakeups::default();
    state.lock().close(&mut wake);
    wake.wake();
}

/// Hand-off mode: a job is accepted only when the worker is idle; the worker parks and
/// is woken for it; close lets it leave. Every accepted job runs exactly once.
#[test]
fn hand_off_submit_and_park() {
    loom::model(|| {
        let state = Arc::new(Mutex::new(State::<Job>::new(0, 1, 0)));
        let w = {
            let state = Arc::clone(&state);
            thread::spawn(move || worker(&state))
        };
        let slot = submit(&state, 7).expect("pool is open");
        let value = block_on(poll_fn(|cx| slot.poll_take(cx)));
        assert_eq!(value.expect("job ran"), 7);
        // The counters include a job before its handle resolves.
        assert_eq!(state.lock().metrics().completed, 1);
        close(&state);
        assert_eq!(w.join().expect("worker"), 1);
        let m = state.lock().metrics();
        assert_eq!((m.submitted, m.completed, m.workers), (1, 1, 0));
    });
}

/// Two submitters race a worker through a one-slot queue, then close races the
/// second: accepted = completed, and a refused submitter was counted as rejected.
#[test]
fn submitters_race_close() {
    loom::model(|| {
        let state = Arc::new(Mutex::new(State::<Job>::new(1, 1, 0)));
        let w = {
            let state = Arc::clone(&state);
            thread::spawn(move || worker(&state))
        };
        let s = {
            let state = Arc::clone(&state);
            thread::spawn(move || submit(&state, 1).is_some())
        };
        let mine = submit(&state, 2).is_some();
        close(&state);
        let theirs = s.join().expect("submitter");
        let ran = w.join().expect("worker");
        let accepted = usize::from(mine) + usize::from(theirs);
        assert_eq!(ran, accepted);
        let m = state.lock().metrics();
        assert_eq!(m.submitted, accepted as u64);
        assert_eq!(m.completed, accepted as u64);
        assert_eq!(m.rejected, 2 - accepted as u64);
    });
}

/// Two idle workers, two hand-off jobs: only one worker is woken per push while another
/// is on its way, and the woken one chains the next wake-up; no job is stranded.
#[test]
fn chained_worker_wake_ups() {
    loom::model(|| {
        let state = Arc::new(Mutex::new(State::<Job>::new(0, 2, 0)));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let state = Arc::clone(&state);
                thread::spawn(move || worker(&state))
            })
            .collect();
        let a = submit(&state, 1).expect("pool is open");
        let b = submit(&state, 2).expect("pool is open");
        // Closing leaves accepted jobs to run; workers leave once the queue is empty.
        close(&state);
        let ran: usize = workers.into_iter().map(|w| w.join().expect("worker")).sum();
        assert_eq!(ran, 2);
        assert!(a.is_finished() && b.is_finished());
    });
}

/// A runner parked inside a job is always woken by an abort (no lost wake-up), and an
/// outcome stored first wins over the abort.
#[test]
fn slot_abort_wakes_runner() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());
        let aborter = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || slot.abort())
        };
        block_on(poll_fn(|cx| {
            if slot.is_aborted() || slot.register_runner(cx.waker()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        slot.complete(Err(JobError::Cancelled));
        aborter.join().expect("aborter");
        let outcome = block_on(poll_fn(|cx| slot.poll_take(cx)));
        assert!(outcome.expect_err("aborted").is_cancelled());
    });
}

/// The handle's waiter is woken by a completion on another thread.
#[test]
fn slot_complete_wakes_handle() {
    loom::model(|| {
        let slot = Arc::new(Slot::<u32>::new());
        let runner = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || slot.complete(Ok(5)))
        };
        let outcome = block_on(poll_fn(|cx| slot.poll_take(cx)));
        assert_eq!(outcome.expect("completed"), 5);
        runner.join().expect("runner");
    });
}
