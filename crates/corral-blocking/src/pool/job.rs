//! One job's rendezvous between the caller's future and the pool thread.
//!
//! # Invariants
//!
//! - A [`Cell`] is written once, by its [`Completer`]: with the job's result when the
//!   job ran, or with [`Outcome::Closed`] when the job was dropped unrun.
//! - `abandoned` is set only while the cell is not yet written, by a caller whose job
//!   was already taken by a thread; the completer that later finds it set decrements the
//!   pool's abandoned-but-running count it was counted in. The cell's mutex orders the
//!   two, so the count is incremented and decremented exactly once per abandoned job.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::task::{Context, Poll, Waker};

use corral_shared::sync::{Arc, AtomicUsize, Mutex, Ordering};

/// What a job produced, as seen by its caller.
pub(crate) enum Outcome<R> {
    /// The closure returned.
    Value(R),
    /// The closure panicked with this payload.
    Panicked(Box<dyn Any + Send + 'static>),
    /// The job was dropped without running (pool shut down).
    Closed,
}

struct Slot<R> {
    outcome: Option<Outcome<R>>,
    written: bool,
    waker: Option<Waker>,
    abandoned: bool,
}

/// The shared rendezvous of one job.
pub(crate) struct Cell<R> {
    slot: Mutex<Slot<R>>,
}

impl<R> Cell<R> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Cell {
            slot: Mutex::new(Slot {
                outcome: None,
                written: false,
                waker: None,
                abandoned: false,
            }),
        })
    }

    /// Takes the outcome if it is there, else registers `cx`'s waker.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Outcome<R>> {
        let mut slot = self.slot.lock();
        if let Some(outcome) = slot.outcome.take() {
            return Poll::Ready(outcome);
        }
        if !slot
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            slot.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The caller went away after a thread took the job: if it has not finished yet,
    /// count it as abandoned-but-running until it does.
    pub(crate) fn abandon(&self, abandoned: &AtomicUsize) {
        let mut slot = self.slot.lock();
        slot.waker = None;
        if !slot.written {
            slot.abandoned = true;
            // Relaxed: the count is a metric; the cell's mutex orders this increment
            // before the completer's matching decrement.
            abandoned.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The pool-side half: runs the closure and writes the outcome, or writes `Closed` when
/// dropped unrun.
pub(crate) struct Completer<R> {
    cell: Arc<Cell<R>>,
    abandoned: Arc<AtomicUsize>,
    done: bool,
}

impl<R> Completer<R> {
    pub(crate) fn new(cell: Arc<Cell<R>>, abandoned: Arc<AtomicUsize>) -> Self {
        Completer {
            cell,
            abandoned,
            done: false,
        }
    }

    /// Runs `f` (catching a panic), calls `returned` (the pool books the job as
    /// completed), then hands the outcome to the caller.
    pub(crate) fn run<F: FnOnce() -> R>(mut self, f: F, returned: impl FnOnce()) {
        let outcome = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Outcome::Value(value),
            Err(payload) => Outcome::Panicked(payload),
        };
        returned();
        self.complete(outcome);
    }

    fn complete(&mut self, outcome: Outcome<R>) {
        self.done = true;
        let mut slot = self.cell.slot.lock();
        slot.written = true;
        if slot.abandoned {
            // Relaxed: see `Cell::abandon`; the cell's mutex orders the pair.
            self.abandoned.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
            // Nobody will read it: the value (or payload) is dropped here, on the pool
            // thread, outside the lock.
            drop(outcome);
            return;
        }
        slot.outcome = Some(outcome);
        let waker = slot.waker.take();
        drop(slot);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<R> Drop for Completer<R> {
    fn drop(&mut self) {
        if !self.done {
            self.complete(Outcome::Closed);
        }
    }
}

#[cfg(all(test, corral_loom))]
mod loom_models {
    use super::*;

    /// A caller abandoning its job races with the job completing: the abandoned count
    /// is incremented and decremented at most once each, and ends at zero.
    #[test]
    fn abandon_races_with_completion() {
        loom::model(|| {
            let abandoned = Arc::new(AtomicUsize::new(0));
            let cell: Arc<Cell<u32>> = Cell::new();
            let completer = Completer::new(Arc::clone(&cell), Arc::clone(&abandoned));
            let worker = loom::thread::spawn(move || completer.run(|| 5, || ()));
            cell.abandon(&abandoned);
            worker.join().unwrap();
            assert_eq!(abandoned.load(Ordering::SeqCst), 0);
        });
    }

    /// A completer dropped unrun (pool shut down) tells the caller `Closed`.
    #[test]
    fn a_dropped_completer_reports_closed() {
        loom::model(|| {
            let abandoned = Arc::new(AtomicUsize::new(0));
            let cell: Arc<Cell<u32>> = Cell::new();
            let completer = Completer::new(Arc::clone(&cell), Arc::clone(&abandoned));
            loom::thread::spawn(move || drop(completer)).join().unwrap();
            let waker = std::task::Waker::noop().clone();
            let mut cx = Context::from_waker(&waker);
            assert!(matches!(
                cell.poll_take(&mut cx),
                Poll::Ready(Outcome::Closed)
            ));
        });
    }
}
