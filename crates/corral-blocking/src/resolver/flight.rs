//! Coalescing: one lookup per key in flight, owned by the group of its waiters.
//!
//! Timeouts are not this module's business: each waiter ([`LookupHost`](crate::LookupHost))
//! carries its own `tokio::time::Sleep` and, when it fires, simply [leaves](Flight::leave)
//! the group. So no waiter's deadline depends on any other waiter's, and a flight has no
//! timer at all.
//!
//! # Invariants
//!
//! - The in-flight map holds only a `Weak` to each [`Flight`]; every waiter holds a
//!   strong `Arc`. So a lookup lives exactly as long as someone waits for it: the first
//!   caller leaving (timeout, cancellation) changes nothing for the others, and when
//!   the last one leaves the flight is dropped, which drops its pool job (a job not yet
//!   started never runs).
//! - Whichever waiter polls drives the lookup future, with the flight's own waker (which
//!   wakes every parked waiter); its answer is stored once and cloned to each waiter.
//! - A waiter takes a slot (its waker) on its first poll of an unanswered flight,
//!   *before* it drives the lookup (whose poll may wake the waiters at once); the slot is
//!   freed when it gets the answer or leaves. So a parked waiter is woken by every wake
//!   of the lookup future, and by the answer.
//! - A map entry is removed by the flight that owns it (matched by id): when its lookup
//!   completes (after the answer is cached) or when the flight is dropped. A dead entry
//!   found by `join` is replaced.
//! - No `Arc<Flight>` is ever dropped while the map lock is held (`Flight::drop` takes
//!   that lock).
//!
//! # Lock order
//!
//! `drive` before `waiters` before the map. The flight's waker takes only `waiters`, so
//! it may be called while the lookup future is polled under `drive`. Parked wakers are
//! collected under `waiters` into a `WakeList` and woken once the locks are released,
//! so a woken waiter never finds them held by its waker.
//!
//! # Loom
//!
//! The locks come from `corral_shared::sync`, so the model at the end of this file
//! checks this code under loom. `Arc`/`Weak` are std's even then (loom has no `Weak`):
//! the model explores the lock interleavings, and trusts std's reference counts.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use super::cache::Answer;
use super::{Counters, Family};
use corral_shared::sync::Mutex;
use corral_shared::wake::WakeList;

pub(super) type FlightFuture = Pin<Box<dyn Future<Output = Answer> + Send + 'static>>;

/// A waiter that has not parked yet has no slot.
pub(super) const NO_SLOT: u32 = u32::MAX;

/// A map entry: the flight's id and a weak handle on it.
type Entry = (u64, Weak<Flight>);

/// The lookups in flight, by address family and (lowercase) host.
#[derive(Debug, Default)]
pub(super) struct Inflight {
    map: Mutex<Map>,
    /// The resolver's counters, here so that every waiter (through its flight) and
    /// every flight future can count.
    counters: Counters,
}

#[derive(Debug, Default)]
struct Map {
    /// One map per [`Family`] (indexed by [`Family::index`]), so a lookup by `&str`
    /// needs no allocation.
    entries: [HashMap<Arc<str>, Entry>; 3],
    next_id: u64,
}

/// One in-flight lookup and its parked waiters.
pub(super) struct Flight {
    id: u64,
    host: Arc<str>,
    family: Family,
    inflight: Arc<Inflight>,
    /// Handed to the lookup future: wakes every parked waiter. Holds only a `Weak`.
    waker: Waker,
    drive: Mutex<Drive>,
    waiters: Mutex<Waiters>,
}

/// The lookup and its answer.
struct Drive {
    /// `None` once answered.
    fut: Option<FlightFuture>,
    answer: Option<Answer>,
}

/// Parked waiters: a slab of wakers with a free list.
#[derive(Default)]
struct Waiters {
    slots: Vec<Slot>,
    free: Option<u32>,
}

enum Slot {
    Free { next: Option<u32> },
    Parked(Waker),
}

/// Wakes every parked waiter of a flight, if it still exists.
struct WakeAll(Weak<Flight>);

impl Wake for WakeAll {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(flight) = self.0.upgrade() {
            let mut wakes = WakeList::new();
            flight.waiters.lock().collect(&mut wakes);
            wakes.wake_all();
        }
    }
}

impl Inflight {
    /// Joins the flight for `host` (lowercase) and `family`, or starts one with
    /// `start(host, id)`. The second value says whether it joined a flight already in
    /// the air (the waiter was coalesced).
    pub(super) fn join(
        self: &Arc<Self>,
        host: &str,
        family: Family,
        start: impl FnOnce(Arc<str>, u64) -> FlightFuture,
    ) -> (Arc<Flight>, bool) {
        let mut map = self.map.lock();
        let entries = &map.entries[family.index()];
        if let Some(flight) = entries.get(host).and_then(|(_, weak)| weak.upgrade()) {
            return (flight, true);
        }
        map.next_id += 1;
        let id = map.next_id;
        let host: Arc<str> = Arc::from(host);
        let fut = start(host.clone(), id);
        let flight = Arc::new_cyclic(|weak| Flight {
            id,
            host: host.clone(),
            family,
            inflight: Arc::clone(self),
            waker: Waker::from(Arc::new(WakeAll(weak.clone()))),
            drive: Mutex::new(Drive {
                fut: Some(fut),
                answer: None,
            }),
            waiters: Mutex::new(Waiters::default()),
        });
        // Replacing a dead entry drops only a `Weak`: no `Flight::drop` under the lock.
        map.entries[family.index()].insert(host, (id, Arc::downgrade(&flight)));
        (flight, false)
    }

    /// Flight `id` for `host` and `family` is over: later lookups start afresh (or hit
    /// the cache).
    pub(super) fn finish(&self, host: &str, family: Family, id: u64) {
        let mut map = self.map.lock();
        let entries = &mut map.entries[family.index()];
        if entries.get(host).is_some_and(|(entry, _)| *entry == id) {
            entries.remove(host);
        }
    }

    pub(super) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// How many (host, family) pairs have a lookup in flight.
    pub(super) fn len(&self) -> usize {
        self.map.lock().entries.iter().map(HashMap::len).sum()
    }
}

impl Flight {
    /// The host this flight looks up.
    pub(super) fn host(&self) -> &Arc<str> {
        &self.host
    }

    /// The resolver's counters.
    pub(super) fn counters(&self) -> &Counters {
        self.inflight.counters()
    }

    /// Polls for the answer as the waiter in `slot` (`NO_SLOT` before it first parks),
    /// driving the lookup if it is still running. Whenever this returns `Ready`, `slot`
    /// is `NO_SLOT`.
    pub(super) fn poll_wait(&self, slot: &mut u32, cx: &mut Context<'_>) -> Poll<Answer> {
        // The waiters the answer releases, woken once both locks are released.
        let mut wakes = WakeList::new();
        let mut drive = self.drive.lock();
        if drive.answer.is_none() {
            // Park (or refresh the waker) *before* driving the lookup: driving it may
            // wake the flight's waiters at once (the pool saying "space is free now"
            // while this waiter's admission is still in progress), and that wake-up
            // must reach this waiter.
            let mut waiters = self.waiters.lock();
            if *slot == NO_SLOT {
                *slot = waiters.insert(cx.waker().clone());
            } else {
                waiters.refresh(*slot, cx.waker());
            }
            drop(waiters);
            if let Some(fut) = drive.fut.as_mut() {
                if let Poll::Ready(answer) =
                    fut.as_mut().poll(&mut Context::from_waker(&self.waker))
                {
                    drive.fut = None;
                    drive.answer = Some(answer);
                    let mut waiters = self.waiters.lock();
                    waiters.remove(std::mem::replace(slot, NO_SLOT));
                    waiters.collect(&mut wakes);
                }
            }
        }
        let Some(answer) = &drive.answer else {
            drop(drive);
            wakes.wake_all();
            return Poll::Pending;
        };
        let answer = answer.clone();
        drop(drive);
        wakes.wake_all();
        if *slot != NO_SLOT {
            self.waiters.lock().remove(std::mem::replace(slot, NO_SLOT));
        }
        Poll::Ready(answer)
    }

    /// The waiter in `slot` goes away without the answer (timed out or dropped).
    pub(super) fn leave(&self, slot: u32) {
        self.waiters.lock().remove(slot);
    }
}

impl Waiters {
    fn insert(&mut self, waker: Waker) -> u32 {
        let parked = Slot::Parked(waker);
        match self.free {
            Some(at) => {
                let slot = &mut self.slots[at as usize];
                if let Slot::Free { next } = slot {
                    self.free = *next;
                }
                *slot = parked;
                at
            }
            None => {
                let at = u32::try_from(self.slots.len()).expect("fewer than 2^32 waiters");
                assert!(at != NO_SLOT, "fewer than 2^32 - 1 waiters");
                self.slots.push(parked);
                at
            }
        }
    }

    /// Updates the waker of a parked waiter.
    fn refresh(&mut self, at: u32, new: &Waker) {
        match &mut self.slots[at as usize] {
            Slot::Parked(waker) => {
                if !waker.will_wake(new) {
                    waker.clone_from(new);
                }
            }
            Slot::Free { .. } => unreachable!("a waiter's slot is parked until it leaves"),
        }
    }

    /// Frees a slot.
    fn remove(&mut self, at: u32) {
        let freed = std::mem::replace(&mut self.slots[at as usize], Slot::Free { next: self.free });
        self.free = Some(at);
        debug_assert!(matches!(freed, Slot::Parked(_)), "a slot is freed once");
    }

    /// Adds a clone of every parked waiter's waker to `wakes` (woken by the caller once
    /// the lock is released).
    fn collect(&self, wakes: &mut WakeList) {
        wakes.extend(self.slots.iter().filter_map(|slot| match slot {
            Slot::Parked(waker) => Some(waker.clone()),
            Slot::Free { .. } => None,
        }));
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.inflight.finish(&self.host, self.family, self.id);
    }
}

impl std::fmt::Debug for Flight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flight")
            .field("id", &self.id)
            .field("host", &self.host)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(corral_loom), target_pointer_width = "64"))]
mod tests {
    /// Every resolving task holds a `LookupHost` and every parked waiter a slot: keep
    /// them small (a storm has thousands; see `examples/dns_storm.rs`).
    #[test]
    fn per_waiter_state_stays_small() {
        assert_eq!(std::mem::size_of::<super::Slot>(), 16);
        // The waiter's own timer is pinned inside (no allocation of its own): the
        // future is tokio's `Sleep` plus 40 bytes.
        assert!(
            std::mem::size_of::<crate::LookupHost>()
                <= std::mem::size_of::<tokio::time::Sleep>() + 40
        );
    }
}

#[cfg(all(test, corral_loom))]
mod loom_models {
    use std::future::poll_fn;
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    /// The pool side of a lookup: an answer slot and the waker of whoever polled last.
    type Pending = Arc<Mutex<(Option<Answer>, Option<Waker>)>>;

    fn lookup(pending: &Pending) -> FlightFuture {
        let pending = Arc::clone(pending);
        Box::pin(poll_fn(move |cx| {
            let mut slot = pending.lock();
            match slot.0.take() {
                Some(answer) => Poll::Ready(answer),
                None => {
                    slot.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }))
    }

    fn answer(pending: &Pending) {
        let mut slot = pending.lock();
        slot.0 = Some(Ok(super::super::cache::Addrs::new(Arc::from([
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        ]))));
        let waker = slot.1.take();
        drop(slot);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn answer_from_a_pool_thread(pending: &Pending) -> loom::thread::JoinHandle<()> {
        let pending = Arc::clone(pending);
        loom::thread::spawn(move || answer(&pending))
    }

    /// One poll, then gone (a waiter whose own timeout fired), unless answered.
    fn park_and_leave(flight: &Flight) {
        let mut slot = NO_SLOT;
        let mut cx = Context::from_waker(Waker::noop());
        if flight.poll_wait(&mut slot, &mut cx).is_pending() {
            flight.leave(slot);
        }
    }

    fn wait(flight: &Flight) -> Answer {
        let mut slot = NO_SLOT;
        let answer = loom::future::block_on(poll_fn(|cx| flight.poll_wait(&mut slot, cx)));
        assert_eq!(slot, NO_SLOT);
        answer
    }

    /// Three waiters of one flight, the answer coming from a pool thread: one waiter
    /// on its own thread, one that parks and leaves (its own timeout firing), and one
    /// that waits. Whoever drives the lookup, every waiter still waiting is woken with
    /// the answer, and the map is empty once they are all gone.
    #[test]
    fn every_waiter_still_waiting_gets_the_answer() {
        loom::model(|| {
            let inflight = Arc::new(Inflight::default());
            let pending: Pending = Arc::default();
            let (a, coalesced) = inflight.join("h.test", Family::Any, |_, _| lookup(&pending));
            assert!(!coalesced);
            let (b, coalesced) = inflight.join("h.test", Family::Any, |_, _| unreachable!());
            assert!(coalesced);
            let (c, _) = inflight.join("h.test", Family::Any, |_, _| unreachable!());

            let pool = answer_from_a_pool_thread(&pending);
            let other = loom::thread::spawn(move || wait(&b).is_ok());

            // c parks once and leaves, whatever happened meanwhile.
            park_and_leave(&c);
            drop(c);

            assert!(wait(&a).is_ok());
            assert!(other.join().unwrap());
            pool.join().unwrap();
            drop(a);
            assert_eq!(inflight.len(), 0);
        });
    }

    /// A lone waiter, the answer coming from a pool thread at any point of its poll:
    /// the wake-up is never lost (the waiter parks before it drives the lookup).
    #[test]
    fn a_lone_waiter_is_always_woken() {
        loom::model(|| {
            let inflight = Arc::new(Inflight::default());
            let pending: Pending = Arc::default();
            let (a, _) = inflight.join("h.test", Family::Any, |_, _| lookup(&pending));
            let pool = answer_from_a_pool_thread(&pending);
            assert!(wait(&a).is_ok());
            pool.join().unwrap();
        });
    }

    /// The last waiter leaving while the answer arrives: the flight (and its lookup
    /// future) is dropped, the map entry goes with it, and a later join starts afresh.
    #[test]
    fn the_last_waiter_leaving_ends_the_flight() {
        loom::model(|| {
            let inflight = Arc::new(Inflight::default());
            let pending: Pending = Arc::default();
            let (a, _) = inflight.join("h.test", Family::Any, |_, _| lookup(&pending));
            let pool = answer_from_a_pool_thread(&pending);
            park_and_leave(&a);
            drop(a);
            assert_eq!(inflight.len(), 0);
            let (again, coalesced) =
                inflight.join("h.test", Family::Ipv4, |_, _| lookup(&Arc::default()));
            assert!(!coalesced);
            assert_eq!(inflight.len(), 1);
            drop(again);
            pool.join().unwrap();
        });
    }
}
