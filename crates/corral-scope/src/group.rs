//! The group engine: who is live, who to abort, who to wake, and why the group stopped.
//!
//! # Invariants
//!
//! - Every child admitted by [`Group::try_admit`] is either in `handles` (and aborted by
//!   the first cancel), or registered after the cancel and aborted by
//!   [`Group::register`] itself: `CANCELLED` is set and read under the lock, so no
//!   admitted child escapes the abort.
//! - `handles` holds at most about twice the live children plus a small floor: finished
//!   entries are pruned whenever the list doubles.
//! - The first cause of cancellation is kept in `reason`; the first error and the first
//!   panic payload are kept, later ones are dropped.
//!
//! # Lock order
//!
//! One lock (`inner`). Nothing is aborted or woken while it is held: handles and wakers
//! are taken out first, so an abort or wake that runs code cannot re-enter it.

mod state;

use std::any::Any;
use std::mem;
use std::task::Waker;

use self::state::State;
use crate::sync::Mutex;

/// A type-erased error or panic payload.
pub(crate) type Payload = Box<dyn Any + Send>;

/// Entries below this are never pruned.
const PRUNE_FLOOR: usize = 64;

/// What the group can do with a child task: tokio's `AbortHandle`, or a fake in models.
pub(crate) trait Abort {
    fn abort(&self);
    fn is_finished(&self) -> bool;
}

impl Abort for tokio::task::AbortHandle {
    fn abort(&self) {
        tokio::task::AbortHandle::abort(self);
    }

    fn is_finished(&self) -> bool {
        tokio::task::AbortHandle::is_finished(self)
    }
}

/// Why a group stopped before its body and children finished on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// A child (or the body) returned an error.
    Failed,
    /// A child panicked.
    Panicked,
    /// The deadline passed.
    Deadline,
    /// The owner dropped the scope.
    Dropped,
}

/// What the owner learns when the group is over.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) reason: Option<Reason>,
    pub(crate) error: Option<Payload>,
    pub(crate) panic: Option<Payload>,
}

#[derive(Debug)]
struct Inner<H> {
    handles: Vec<H>,
    prune_at: usize,
    owner: Option<Waker>,
    outcome: Outcome,
}

/// A task group's join and cancel state.
#[derive(Debug)]
pub(crate) struct Group<H> {
    state: State,
    inner: Mutex<Inner<H>>,
}

impl<H: Abort> Group<H> {
    pub(crate) fn new() -> Self {
        Self {
            state: State::new(),
            inner: Mutex::new(Inner {
                handles: Vec::new(),
                prune_at: PRUNE_FLOOR,
                owner: None,
                outcome: Outcome::default(),
            }),
        }
    }

    /// Admits one child; `false` if the group is closed or cancelled. An admitted child
    /// must be followed by exactly one [`Group::complete`] (when its future is dropped)
    /// and, once spawned, one [`Group::register`].
    pub(crate) fn try_admit(&self) -> bool {
        self.state.try_admit()
    }

    /// Records an admitted child's abort handle; aborts it at once if the group was
    /// cancelled in the meantime.
    pub(crate) fn register(&self, handle: H) {
        let mut inner = self.inner.lock();
        if self.state.is_cancelled() {
            drop(inner);
            handle.abort();
            return;
        }
        if inner.handles.len() >= inner.prune_at {
            inner.handles.retain(|h| !h.is_finished());
            inner.prune_at = PRUNE_FLOOR.max(inner.handles.len() * 2);
        }
        inner.handles.push(handle);
    }

    /// An admitted child's future was dropped (finished, aborted, or never polled).
    pub(crate) fn complete(&self) {
        if self.state.complete() {
            let waker = self.inner.lock().owner.clone();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Cancels the group for `reason`, keeping `payload` if it is the first of its kind.
    /// Aborts every registered child and wakes the owner. Returns `true` for the call
    /// that cancelled the group.
    pub(crate) fn cancel(&self, reason: Reason, payload: Option<Payload>) -> bool {
        let mut inner = self.inner.lock();
        let outcome = &mut inner.outcome;
        match reason {
            Reason::Panicked if outcome.panic.is_none() => outcome.panic = payload,
            Reason::Failed if outcome.reason.is_none() => outcome.error = payload,
            _ => {}
        }
        outcome.reason.get_or_insert(reason);
        let first = self.state.cancel();
        let handles = if first {
            mem::take(&mut inner.handles)
        } else {
            Vec::new()
        };
        let owner = inner.owner.clone();
        drop(inner);
        for handle in &handles {
            handle.abort();
        }
        if let Some(owner) = owner {
            owner.wake();
        }
        first
    }

    /// The owner is gone: no more children, and every live one is aborted now.
    /// Returns `true` if this call cancelled the group.
    pub(crate) fn abandon(&self) -> bool {
        let mut inner = self.inner.lock();
        inner.outcome.reason.get_or_insert(Reason::Dropped);
        let first = self.state.abandon();
        let handles = mem::take(&mut inner.handles);
        inner.owner = None;
        drop(inner);
        for handle in &handles {
            handle.abort();
        }
        first
    }

    /// Stores the owner's waker for the next cancel or last completion.
    pub(crate) fn set_owner(&self, waker: &Waker) {
        let mut inner = self.inner.lock();
        match &inner.owner {
            Some(old) if old.will_wake(waker) => {}
            _ => inner.owner = Some(waker.clone()),
        }
    }

    /// The owner's body is over; call after [`Group::set_owner`].
    pub(crate) fn wait(&self) {
        self.state.wait();
    }

    /// Closes the group if no child is live. On success, returns the outcome and drops
    /// the (finished) handles.
    pub(crate) fn try_finish(&self) -> Option<Outcome> {
        if !self.state.try_close() {
            return None;
        }
        let mut inner = self.inner.lock();
        let handles = mem::take(&mut inner.handles);
        inner.owner = None;
        let outcome = mem::take(&mut inner.outcome);
        drop(inner);
        drop(handles);
        Some(outcome)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.is_cancelled()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.is_closed()
    }

    pub(crate) fn live(&self) -> usize {
        self.state.live()
    }
}

#[cfg(all(test, corral_loom))]
mod loom_models {
    //! The group's join and cancel state under every interleaving loom finds.

    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use loom::sync::atomic::{AtomicBool, AtomicUsize};
    use loom::thread;

    use super::{Abort, Group, Reason};
    use crate::sync::Ordering;

    /// A child task stand-in that records being aborted.
    #[derive(Clone)]
    struct Fake(Arc<AtomicBool>);

    impl Abort for Fake {
        fn abort(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
        fn is_finished(&self) -> bool {
            false
        }
    }

    struct Flag(AtomicUsize);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A child admitted concurrently with the first cancel is aborted either way.
    #[test]
    fn admitted_child_never_escapes_cancel() {
        loom::model(|| {
            let group = Arc::new(Group::<Fake>::new());
            let aborted = Arc::new(AtomicBool::new(false));
            let spawner = {
                let (group, aborted) = (group.clone(), aborted.clone());
                thread::spawn(move || {
                    if group.try_admit() {
                        group.register(Fake(aborted));
                        true
                    } else {
                        false
                    }
                })
            };
            assert!(group.cancel(Reason::Failed, None));
            let admitted = spawner.join().expect("spawner");
            assert_eq!(aborted.load(Ordering::SeqCst), admitted);
            assert!(group.is_cancelled());
        });
    }

    /// The owner waiting for the last child is woken, or sees it gone: no lost wakeup.
    #[test]
    fn last_completion_wakes_the_waiting_owner() {
        loom::model(|| {
            let group = Arc::new(Group::<Fake>::new());
            assert!(group.try_admit());
            group.register(Fake(Arc::new(AtomicBool::new(false))));
            let child = {
                let group = group.clone();
                thread::spawn(move || group.complete())
            };
            let flag = Arc::new(Flag(AtomicUsize::new(0)));
            let waker = Waker::from(flag.clone());
            group.set_owner(&waker);
            group.wait();
            let finished_first = group.try_finish().is_some();
            child.join().expect("child");
            if !finished_first {
                assert_eq!(flag.0.load(Ordering::SeqCst), 1, "owner never woken");
                assert!(group.try_finish().is_some());
            }
        });
    }

    /// A late spawner (an escaped handle) racing the owner's close is either admitted
    /// (and the owner waits for it) or refused: never admitted into a closed group.
    #[test]
    fn close_and_late_admission_exclude_each_other() {
        loom::model(|| {
            let group = Arc::new(Group::<Fake>::new());
            let spawner = {
                let group = group.clone();
                thread::spawn(move || {
                    let admitted = group.try_admit();
                    if admitted {
                        group.register(Fake(Arc::new(AtomicBool::new(false))));
                    }
                    admitted
                })
            };
            let flag = Arc::new(Flag(AtomicUsize::new(0)));
            group.set_owner(&Waker::from(flag.clone()));
            group.wait();
            let closed = group.try_finish().is_some();
            let admitted = spawner.join().expect("spawner");
            if closed && admitted {
                panic!("admitted into a closed group");
            }
            if admitted {
                assert_eq!(group.live(), 1);
                group.complete();
                assert_eq!(flag.0.load(Ordering::SeqCst), 1);
                assert!(group.try_finish().is_some());
            }
            assert!(!group.try_admit());
        });
    }

    /// The owner's drop racing a child's failure: every registered child is aborted
    /// exactly by whichever comes first, and the group ends cancelled and closed.
    #[test]
    fn abandon_races_failure() {
        loom::model(|| {
            let group = Arc::new(Group::<Fake>::new());
            let aborted = Arc::new(AtomicBool::new(false));
            assert!(group.try_admit());
            group.register(Fake(aborted.clone()));
            let failing = {
                let group = group.clone();
                thread::spawn(move || {
                    group.cancel(Reason::Failed, Some(Box::new(7u32)));
                })
            };
            group.abandon();
            failing.join().expect("child");
            assert!(aborted.load(Ordering::SeqCst));
            assert!(group.is_cancelled() && group.is_closed());
            assert!(!group.try_admit());
        });
    }
}
