//! The group engine: who is live, who to wake when the group is cancelled, who to wake
//! when the last child is gone, and why the group stopped.
//!
//! Cancelling a child means waking it: a child checks `CANCELLED` (and, for a
//! background child, `WAITING`) at the top of every poll and, if set, drops its future
//! and finishes. A child that finishes in its first
//! poll (the common, cheap case) never touches the lock; one that returns `Pending`
//! registers its task's waker once, and deregisters when it is dropped.
//!
//! # Invariants
//!
//! - An admitted child that returned `Pending` is either registered (and woken by the
//!   first cancel), or learns from [`Group::register`] that the group is cancelled:
//!   `CANCELLED` is set and read under the lock, so no pending child sleeps through a
//!   cancel. Likewise a pending background child is registered (and woken when the
//!   owner's body is over) or learns at registration that `WAITING` is set: the owner
//!   sets `WAITING` before it takes the lock to wake the background entries, and a
//!   registration reads it under the lock.
//! - `wakers` holds one entry per registered child that has not been dropped yet
//!   (a background child woken by the body's end too): a key belongs to its child until
//!   its [`Group::deregister`], or until a cancel, the owner's drop or the finish drains
//!   the whole list (after which nothing registers again), so a stale deregistration
//!   never removes another child's entry.
//! - The first cause of cancellation is kept in `reason`; the first error (every error,
//!   in a group that collects them) and the first panic payload are kept, later ones
//!   are dropped.
//!
//! # Lock order
//!
//! One lock (`inner`). Nothing is woken while it is held: wakers are taken out first, so
//! a wake that runs code cannot re-enter it.

mod state;

use std::any::Any;
use std::mem;

use corral_shared::CachePadded;
use std::num::NonZeroU32;
use std::task::Waker;

use corral_shared::sync::{Mutex, MutexGuard};
use corral_shared::wake::WakeList;

use self::state::State;

/// A type-erased error or panic payload.
pub(crate) type Payload = Box<dyn Any + Send>;

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
    /// Cancelled by hand (`Scope::cancel`), or born cancelled under a cancelled parent.
    Cancelled,
}

/// What the owner learns when the group is over.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) reason: Option<Reason>,
    /// The first error, or every error in arrival order in a group that collects them.
    pub(crate) errors: Vec<Payload>,
    pub(crate) panic: Option<Payload>,
}

/// A registered child's key: its index in the waker list, plus one (so an
/// `Option<Key>` is 4 bytes, which keeps a child's task small).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(NonZeroU32);

impl Key {
    fn new(index: usize) -> Key {
        // Each registered child is a live task of at least 128 bytes: 2^32 of them
        // would need 512 GiB.
        let key = u32::try_from(index + 1).expect("fewer than 2^32 pending children");
        Key(NonZeroU32::new(key).expect("index + 1 is never 0"))
    }

    fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

/// A registered pending child.
#[derive(Debug)]
struct Entry {
    waker: Waker,
    /// Stopped when the owner's body is over, not only when the group is cancelled.
    background: bool,
}

#[derive(Debug)]
struct Inner {
    /// Registered pending children; `None` marks a free slot listed in `free`.
    wakers: Vec<Option<Entry>>,
    free: Vec<Key>,
    owner: Option<Waker>,
    outcome: Outcome,
}

impl Outcome {
    /// Records a cause (kept if it is the first) and its payload: the first panic; the
    /// first error, or every error when `collect` is set.
    fn record(&mut self, reason: Reason, payload: Option<Payload>, collect: bool) {
        match (reason, payload) {
            (Reason::Panicked, Some(payload)) if self.panic.is_none() => {
                self.panic = Some(payload);
            }
            (Reason::Failed, Some(payload)) if collect || self.reason.is_none() => {
                self.errors.push(payload);
            }
            _ => {}
        }
        self.reason.get_or_insert(reason);
    }
}

/// A task group's join and cancel state.
#[derive(Debug)]
pub(crate) struct Group {
    /// Touched by every child as it is admitted and as it finishes.
    state: State,
    /// Touched by pending children and the owner; padded off the state word's line.
    inner: CachePadded<Mutex<Inner>>,
    /// Keeps every error, not only the first.
    collect: bool,
}

impl Inner {
    /// Moves every registered child's waker into `wakes` and empties the list (nothing
    /// registers after the cancel, the owner's drop or the finish that calls this).
    fn drain_wakers(&mut self, wakes: &mut WakeList) {
        self.free.clear();
        wakes.extend(self.wakers.drain(..).flatten().map(|entry| entry.waker));
    }
}

impl Group {
    /// A group that keeps the first error, or every error if `collect` is set.
    pub(crate) fn new(collect: bool) -> Self {
        Self {
            collect,
            state: State::new(),
            inner: CachePadded(Mutex::new(Inner {
                wakers: Vec::new(),
                free: Vec::new(),
                owner: None,
                outcome: Outcome::default(),
            })),
        }
    }

    /// Admits one child and returns how many are live with it; `None` if the group is
    /// closed or cancelled (or, for a background child, the owner's body is over). An
    /// admitted child must be followed by exactly one [`Group::complete`], when its
    /// future is dropped.
    pub(crate) fn try_admit(&self, background: bool) -> Option<usize> {
        self.state.try_admit(background)
    }

    /// Admits a nested scope created inside this group, even a cancelled one; `false`
    /// only if the group is drained. Followed by exactly one [`Group::complete`].
    pub(crate) fn admit_nested(&self) -> bool {
        self.state.admit_nested()
    }

    /// Whether a child must stop before polling its future (read from the stop flags'
    /// own cache line, not the state word's: see `state`).
    pub(crate) fn must_stop(&self, background: bool) -> bool {
        self.state.must_stop(background)
    }

    /// Registers a pending child's waker for the cancel (and, for a background child,
    /// for the end of the owner's body). Returns its key, or `None` if the child must
    /// stop now.
    pub(crate) fn register(&self, waker: Waker, background: bool) -> Option<Key> {
        let mut inner = self.inner.0.lock();
        if self.state.must_stop(background) {
            return None;
        }
        let waker = Entry { waker, background };
        Some(match inner.free.pop() {
            Some(key) => {
                inner.wakers[key.index()] = Some(waker);
                key
            }
            None => {
                let key = Key::new(inner.wakers.len());
                inner.wakers.push(Some(waker));
                key
            }
        })
    }

    /// Removes a registration made by [`Group::register`].
    pub(crate) fn deregister(&self, key: Key) {
        let mut inner = self.inner.0.lock();
        // After a cancel the list was drained: the key is stale, nothing to remove.
        if let Some(slot) = inner.wakers.get_mut(key.index()) {
            if slot.take().is_some() {
                inner.free.push(key);
            }
        }
    }

    /// An admitted child's future was dropped (finished, cancelled, or never polled);
    /// `background` as it was admitted (a nested scope's admission is not background).
    /// Returns `true` if it was the last child of a group whose owner is gone (see
    /// [`Group::abandon`]): the group is drained.
    pub(crate) fn complete(&self, background: bool) -> bool {
        let done = self.state.complete(background);
        if done.wake_owner {
            let waker = self.inner.0.lock().owner.clone();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        done.drained
    }

    /// Cancels the group for `reason`, keeping `payload` if it is the first of its kind.
    /// Wakes every registered child (each then drops its future) and the owner. Returns
    /// `true` for the call that cancelled the group.
    pub(crate) fn cancel(&self, reason: Reason, payload: Option<Payload>) -> bool {
        let inner = self.inner.0.lock();
        self.cancel_locked(inner, reason, payload)
    }

    fn cancel_locked(
        &self,
        mut inner: MutexGuard<'_, Inner>,
        reason: Reason,
        payload: Option<Payload>,
    ) -> bool {
        inner.outcome.record(reason, payload, self.collect);
        let first = self.state.cancel();
        let mut wakes = WakeList::new();
        if first {
            inner.drain_wakers(&mut wakes);
        }
        wakes.push_opt(inner.owner.clone());
        drop(inner);
        wakes.wake_all();
        first
    }

    /// A child (or the body) panicked: cancels the group for it, keeping the payload if
    /// it is the first panic; returns `Ok(true)` for the call that cancelled the group.
    /// In a group whose owner is gone (abandoned, so nobody will resume it here) the
    /// payload is handed back, for the caller to pass to the enclosing group. Checked
    /// under the lock that [`Group::abandon`] takes, so a panic is either handed back
    /// here or taken by `abandon`, never dropped in between.
    pub(crate) fn panicked(&self, payload: Payload) -> Result<bool, Payload> {
        let inner = self.inner.0.lock();
        if self.state.is_closed() {
            return Err(payload);
        }
        Ok(self.cancel_locked(inner, Reason::Panicked, Some(payload)))
    }

    /// Records a child's error without cancelling the group (a group that collects
    /// every error).
    pub(crate) fn record_error(&self, payload: Payload) {
        self.inner
            .0
            .lock()
            .outcome
            .record(Reason::Failed, Some(payload), self.collect);
    }

    /// Whether this group keeps every error instead of cancelling on the first.
    pub(crate) fn collects(&self) -> bool {
        self.collect
    }

    /// The owner is gone: no more children, and every pending one is woken to stop now.
    /// Returns `true` if no child was live: the group is drained now. Otherwise the
    /// [`Group::complete`] of the last child returns `true`; exactly one of the two does.
    ///
    /// Also returns the first panic recorded so far, which this group's owner will
    /// never resume: the caller passes it to the enclosing group.
    pub(crate) fn abandon(&self) -> (bool, Option<Payload>) {
        let mut inner = self.inner.0.lock();
        inner.outcome.reason.get_or_insert(Reason::Dropped);
        let drained = self.state.abandon();
        let mut wakes = WakeList::new();
        inner.drain_wakers(&mut wakes);
        inner.owner = None;
        let panic = inner.outcome.panic.take();
        drop(inner);
        wakes.wake_all();
        (drained, panic)
    }

    /// Stores the owner's waker for the next cancel or last completion.
    pub(crate) fn set_owner(&self, waker: &Waker) {
        let mut inner = self.inner.0.lock();
        match &inner.owner {
            Some(old) if old.will_wake(waker) => {}
            _ => inner.owner = Some(waker.clone()),
        }
    }

    /// The owner's body is over; call after [`Group::set_owner`]. The first call wakes
    /// every registered background child to stop.
    ///
    /// The entries stay registered: each key belongs to its child until the child's
    /// [`Group::deregister`] (or a drain of the whole list by a cancel, the owner's
    /// drop or the finish, after which nothing registers again). Freeing a woken
    /// background child's key here would let a later registration take it, and the
    /// background child's own `deregister` would then remove that other child's entry,
    /// which then sleeps through the cancel.
    pub(crate) fn wait(&self) {
        if !self.state.wait() {
            return;
        }
        let mut stopped = WakeList::new();
        stopped.extend(
            self.inner
                .0
                .lock()
                .wakers
                .iter()
                .flatten()
                .filter(|entry| entry.background)
                .map(|entry| entry.waker.clone()),
        );
        stopped.wake_all();
    }

    /// Closes the group if no child is live. On success, returns the outcome.
    pub(crate) fn try_finish(&self) -> Option<Outcome> {
        if !self.state.try_close() {
            return None;
        }
        let mut inner = self.inner.0.lock();
        let owner = inner.owner.take();
        inner.free.clear();
        let wakers = mem::take(&mut inner.wakers);
        let outcome = mem::take(&mut inner.outcome);
        drop(inner);
        // Dropped unwoken, outside the lock: every child is gone.
        drop((owner, wakers));
        Some(outcome)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.is_cancelled()
    }

    /// Whether the group is cancelled; if so, every child polled from now on stops
    /// (see [`State::cancelled_for_children`]).
    pub(crate) fn cancelled_for_children(&self) -> bool {
        self.state.cancelled_for_children()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.is_closed()
    }

    /// Live children that do not run in the background, nested scopes included.
    pub(crate) fn foreground_live(&self) -> usize {
        self.state.foreground_live()
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

    use corral_shared::sync::Ordering;

    use super::{Group, Reason};

    /// A pending child's waker: records being woken in a flag.
    struct Woken(Arc<AtomicBool>);

    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn fake(flag: Arc<AtomicBool>) -> Waker {
        Waker::from(Arc::new(Woken(flag)))
    }

    struct Flag(AtomicUsize);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A child that goes pending concurrently with the first cancel is woken, or told
    /// at registration to stop: it never sleeps through the cancel.
    #[test]
    fn pending_child_never_sleeps_through_cancel() {
        loom::model(|| {
            let group = Arc::new(Group::new(false));
            assert!(group.try_admit(false).is_some());
            let woken = Arc::new(AtomicBool::new(false));
            let child = {
                let (group, woken) = (group.clone(), woken.clone());
                thread::spawn(move || {
                    // The child's poll: check (the check `Child::poll` makes, on the
                    // stop flags' own line), poll its future (pending), register.
                    if group.must_stop(false) {
                        return true;
                    }
                    group.register(fake(woken), false).is_none()
                })
            };
            assert!(group.cancel(Reason::Failed, None));
            // Once the cancel has returned, every child's check sees it.
            assert!(group.must_stop(false));
            let stopped_itself = child.join().expect("child");
            assert!(stopped_itself || woken.load(Ordering::SeqCst));
            assert!(group.is_cancelled());
        });
    }

    /// Register and deregister from two children never lose or cross entries.
    #[test]
    fn registrations_are_independent() {
        loom::model(|| {
            let group = Arc::new(Group::new(false));
            let flags: Vec<_> = (0..2).map(|_| Arc::new(AtomicBool::new(false))).collect();
            let first = group.register(fake(flags[0].clone()), false).expect("open");
            let other = {
                let (group, flag) = (group.clone(), flags[1].clone());
                thread::spawn(move || group.register(fake(flag), false).expect("open"))
            };
            group.deregister(first);
            let second = other.join().expect("child");
            group.cancel(Reason::Deadline, None);
            assert!(!flags[0].load(Ordering::SeqCst), "deregistered child woken");
            assert!(
                flags[1].load(Ordering::SeqCst),
                "registered child not woken"
            );
            group.deregister(second);
        });
    }

    /// The owner waiting for the last child is woken, or sees it gone: no lost wakeup.
    #[test]
    fn last_completion_wakes_the_waiting_owner() {
        loom::model(|| {
            let group = Arc::new(Group::new(false));
            assert!(group.try_admit(false).is_some());
            let child = {
                let group = group.clone();
                thread::spawn(move || group.complete(false))
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
            let group = Arc::new(Group::new(false));
            let spawner = {
                let group = group.clone();
                thread::spawn(move || group.try_admit(false).is_some())
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
                group.complete(false);
                assert_eq!(flag.0.load(Ordering::SeqCst), 1);
                assert!(group.try_finish().is_some());
            }
            assert!(group.try_admit(false).is_none());
        });
    }

    /// The owner's drop racing the last child's completion: exactly one of them
    /// reports the group drained (a nested scope gives its parent's slot back once).
    #[test]
    fn abandon_and_last_completion_drain_exactly_once() {
        loom::model(|| {
            let group = Arc::new(Group::new(false));
            assert!(group.try_admit(false).is_some());
            let child = {
                let group = group.clone();
                thread::spawn(move || group.complete(false))
            };
            let (by_owner, _) = group.abandon();
            let by_child = child.join().expect("child");
            assert!(by_owner ^ by_child, "drained {by_owner} / {by_child}");
            assert_eq!(group.live(), 0);
        });
    }

    /// The owner's drop racing a child's failure: the registered child is woken by
    /// whichever comes first, and the group ends cancelled and closed.
    #[test]
    fn abandon_races_failure() {
        loom::model(|| {
            let group = Arc::new(Group::new(false));
            let aborted = Arc::new(AtomicBool::new(false));
            assert!(group.try_admit(false).is_some());
            group.register(fake(aborted.clone()), false).expect("open");
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
            assert!(group.try_admit(false).is_none());
        });
    }

    /// A nested scope admitted by a child of a group that is being cancelled (a child
    /// that noticed the cancel and opened a scope without awaiting): the owner cannot
    /// finish until the nested scope gives its admission back, whatever the order.
    #[test]
    fn nested_admission_in_a_cancelled_group_holds_the_owner() {
        loom::model(|| {
            let group = Arc::new(Group::new(false));
            assert!(group.try_admit(false).is_some());
            let child = {
                let group = group.clone();
                thread::spawn(move || {
                    // The child's poll: opens a nested scope, then finishes.
                    assert!(group.admit_nested(), "a live group refused a nested scope");
                    group.complete(false);
                })
            };
            group.cancel(Reason::Failed, None);
            let flag = Arc::new(Flag(AtomicUsize::new(0)));
            group.set_owner(&Waker::from(flag.clone()));
            group.wait();
            let early = group.try_finish().is_some();
            child.join().expect("child");
            assert!(!early, "owner finished while a nested scope was held");
            assert!(group.try_finish().is_none(), "nested scope still held");
            // The nested scope is down: it gives its admission back.
            group.complete(false);
            assert_eq!(flag.0.load(Ordering::SeqCst), 1, "owner never woken");
            assert!(group.try_finish().is_some());
            assert!(
                !group.admit_nested(),
                "a drained group admitted a nested scope"
            );
        });
    }

    /// A background child going pending while the owner's body returns is woken by the
    /// owner's `wait`, or told at registration to stop; a foreground child is not.
    #[test]
    fn background_child_never_sleeps_through_the_body_end() {
        loom::model(|| {
            let group = Arc::new(Group::new(false));
            assert!(group.try_admit(true).is_some());
            assert!(group.try_admit(false).is_some());
            let fg = Arc::new(AtomicBool::new(false));
            group.register(fake(fg.clone()), false).expect("open");
            let woken = Arc::new(AtomicBool::new(false));
            let child = {
                let (group, woken) = (group.clone(), woken.clone());
                thread::spawn(move || {
                    if group.must_stop(true) {
                        return true;
                    }
                    group.register(fake(woken), true).is_none()
                })
            };
            group.wait();
            let stopped_itself = child.join().expect("child");
            assert!(stopped_itself || woken.load(Ordering::SeqCst));
            assert!(!fg.load(Ordering::SeqCst), "a foreground child was stopped");
            assert!(!group.is_cancelled());
            assert!(
                group.try_admit(true).is_none(),
                "background admitted after the body"
            );
            assert!(
                group.try_admit(false).is_some(),
                "foreground refused after the body"
            );
        });
    }

    /// A background child stopped by the body's end keeps its key until it deregisters:
    /// a foreground child registering meanwhile gets a key of its own, so the
    /// background child's deregistration cannot remove it and the cancel still wakes
    /// it, whatever the order of the three.
    #[test]
    fn stopped_background_child_keeps_its_key_until_it_deregisters() {
        loom::model(|| {
            let group = Arc::new(Group::new(false));
            assert!(group.try_admit(true).is_some());
            assert!(group.try_admit(false).is_some());
            let bg_woken = Arc::new(AtomicBool::new(false));
            let bg = group.register(fake(bg_woken.clone()), true).expect("open");
            let fg_woken = Arc::new(AtomicBool::new(false));
            let fg = {
                let (group, woken) = (group.clone(), fg_woken.clone());
                thread::spawn(move || group.register(fake(woken), false).expect("open"))
            };
            group.wait();
            assert!(
                bg_woken.load(Ordering::SeqCst),
                "background child not stopped"
            );
            // The stopped background child goes away.
            group.deregister(bg);
            group.complete(true);
            assert_eq!(group.foreground_live(), 1, "the foreground child is live");
            let fg = fg.join().expect("foreground child");
            group.cancel(Reason::Failed, None);
            assert!(
                fg_woken.load(Ordering::SeqCst),
                "foreground child slept through the cancel"
            );
            group.deregister(fg);
        });
    }

    /// Whoever stops something for a cancel (a child at the top of its poll, the owner
    /// dropping the body) cancels the token first, once `cancelled_for_children` says
    /// so, and may do it while the canceller has set only the word: a token waiter it
    /// wakes must still find `must_stop` (here the main thread plays the waiter), so
    /// it is stopped rather than run on past its await.
    #[test]
    fn token_cancelled_by_a_stopper_never_lets_a_waiter_run_on() {
        loom::model(|| {
            let group = Arc::new(Group::new(false));
            // The scope's token.
            let token = Arc::new(AtomicBool::new(false));
            let canceller = {
                let group = group.clone();
                thread::spawn(move || group.cancel(Reason::Failed, None))
            };
            let stopper = {
                let (group, token) = (group.clone(), token.clone());
                thread::spawn(move || {
                    if group.cancelled_for_children() {
                        token.store(true, Ordering::SeqCst);
                    }
                })
            };
            if token.load(Ordering::SeqCst) {
                assert!(
                    group.must_stop(false),
                    "a waiter woken by the token would run on past its await"
                );
            }
            assert!(canceller.join().expect("canceller"));
            stopper.join().expect("stopper");
        });
    }

    /// A child's panic racing the owner's drop: the payload is either handed back by
    /// `panicked` (the group is abandoned) or taken by `abandon`, exactly once.
    #[test]
    fn panic_racing_abandon_is_handed_on_exactly_once() {
        loom::model(|| {
            let group = Arc::new(Group::new(false));
            assert!(group.try_admit(false).is_some());
            let child = {
                let group = group.clone();
                thread::spawn(move || group.panicked(Box::new(1u8)).is_err())
            };
            let (_, taken) = group.abandon();
            let handed_back = child.join().expect("child");
            assert!(
                handed_back ^ taken.is_some(),
                "panic handed back {handed_back}, taken by abandon {}",
                taken.is_some()
            );
            assert!(group.complete(false));
        });
    }
}
