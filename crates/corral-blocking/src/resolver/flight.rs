//! Coalescing: one lookup per host in flight, owned by the group of its waiters.
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
//! - A waiter takes a slot (its waker and deadline) on its first poll of an unanswered
//!   flight, *before* it drives the lookup (whose poll may wake the waiters at once);
//!   the slot is freed when it gets the answer, times out or is dropped.
//! - One timer per flight, armed for the earliest deadline of a parked waiter (`armed`)
//!   and polled with that waiter's waker. When the waiter owning `armed` leaves,
//!   `armed` is cleared, every waiter due by then is woken (to time out), and so is the
//!   earliest one due later, to re-arm it from its own task. So no waiter with a
//!   deadline is ever parked without a timer that fires at or before its deadline, and
//!   the timer is only touched from inside a poll, on the runtime it was created on (a
//!   waiter on another runtime re-creates it on its own).
//! - A map entry is removed by the flight that owns it (matched by id): when its lookup
//!   completes (after the answer is cached) or when the flight is dropped. A dead entry
//!   found by `join` is replaced.
//! - No `Arc<Flight>` is ever dropped while the map lock is held (`Flight::drop` takes
//!   that lock).
//!
//! # Lock order
//!
//! `drive` before `waiters` before the map. The flight's waker takes only `waiters`, so
//! it may be called while the lookup future is polled under `drive`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::{Instant, Sleep};

use super::cache::Answer;
use crate::error::LookupError;

pub(super) type FlightFuture = Pin<Box<dyn Future<Output = Answer> + Send + 'static>>;

/// A waiter that has not parked yet has no slot.
pub(super) const NO_SLOT: u32 = u32::MAX;

/// A map entry: the flight's id and a weak handle on it.
type Entry = (u64, Weak<Flight>);

/// The lookups in flight, by host.
#[derive(Debug, Default)]
pub(super) struct Inflight {
    map: Mutex<HashMap<Arc<str>, Entry>>,
    next_id: Mutex<u64>,
}

/// One in-flight lookup and its parked waiters.
pub(super) struct Flight {
    id: u64,
    host: Arc<str>,
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
    /// The flight's one timer, created when the first waiter with a deadline parks.
    timer: Option<Pin<Box<Sleep>>>,
    /// The deadline the timer is armed for, while it is.
    armed: Option<Instant>,
    /// The runtime whose timer driver `timer` is registered with: waiters of one
    /// flight may poll from different runtimes, and one may shut down first.
    timer_runtime: Option<tokio::runtime::Id>,
}

/// Parked waiters: a slab of slots with a free list.
#[derive(Default)]
struct Waiters {
    slots: Vec<Slot>,
    free: Option<u32>,
}

enum Slot {
    Free {
        next: Option<u32>,
    },
    Parked {
        waker: Waker,
        deadline: Option<Instant>,
    },
}

/// Wakes every parked waiter of a flight, if it still exists.
struct WakeAll(Weak<Flight>);

impl Wake for WakeAll {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(flight) = self.0.upgrade() {
            flight.waiters.lock().wake_all();
        }
    }
}

impl Inflight {
    /// Joins the flight for `host`, or starts one with `start(host, id)`.
    pub(super) fn join(
        self: &Arc<Self>,
        host: &str,
        start: impl FnOnce(Arc<str>, u64) -> FlightFuture,
    ) -> Arc<Flight> {
        let mut map = self.map.lock();
        if let Some(flight) = map.get(host).and_then(|(_, weak)| weak.upgrade()) {
            return flight;
        }
        let id = {
            let mut next = self.next_id.lock();
            *next += 1;
            *next
        };
        let host: Arc<str> = Arc::from(host);
        let fut = start(host.clone(), id);
        let flight = Arc::new_cyclic(|weak| Flight {
            id,
            host: host.clone(),
            inflight: Arc::clone(self),
            waker: Waker::from(Arc::new(WakeAll(weak.clone()))),
            drive: Mutex::new(Drive {
                fut: Some(fut),
                answer: None,
                timer: None,
                armed: None,
                timer_runtime: None,
            }),
            waiters: Mutex::new(Waiters::default()),
        });
        map.insert(host, (id, Arc::downgrade(&flight)));
        flight
    }

    /// Flight `id` for `host` is over: later lookups start afresh (or hit the cache).
    pub(super) fn finish(&self, host: &str, id: u64) {
        let mut map = self.map.lock();
        if map.get(host).is_some_and(|(entry, _)| *entry == id) {
            map.remove(host);
        }
    }

    /// How many hosts have a lookup in flight.
    pub(super) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

impl Flight {
    /// The host this flight looks up.
    pub(super) fn host(&self) -> &Arc<str> {
        &self.host
    }

    /// Polls for the answer as the waiter in `slot` (`NO_SLOT` before it first parks).
    /// On its first poll, the waiter's deadline is `timeout` from now; once it passes, the
    /// waiter gets `TimedOut`. Whenever this returns `Ready`, `slot` is `NO_SLOT`.
    pub(super) fn poll_wait(
        &self,
        slot: &mut u32,
        timeout: Option<Duration>,
        cx: &mut Context<'_>,
    ) -> Poll<Answer> {
        let mut drive = self.drive.lock();
        let mut deadline = None;
        if drive.answer.is_none() {
            // Park (or refresh the waker) *before* driving the lookup: driving it may
            // wake the flight's waiters at once (the pool saying "space is free now"
            // while this waiter's admission is still in progress), and that wake-up
            // must reach this waiter.
            let now = Instant::now();
            let mut waiters = self.waiters.lock();
            deadline = if *slot == NO_SLOT {
                let deadline = timeout.map(|after| now + after);
                *slot = waiters.insert(cx.waker().clone(), deadline);
                deadline
            } else {
                waiters.refresh(*slot, cx.waker())
            };
            drop(waiters);
            if let Some(fut) = drive.fut.as_mut() {
                if let Poll::Ready(answer) =
                    fut.as_mut().poll(&mut Context::from_waker(&self.waker))
                {
                    drive.fut = None;
                    drive.timer = None;
                    drive.armed = None;
                    drive.answer = Some(answer);
                    let mut waiters = self.waiters.lock();
                    waiters.remove(std::mem::replace(slot, NO_SLOT));
                    waiters.wake_all();
                }
            }
        }
        if let Some(answer) = &drive.answer {
            let answer = answer.clone();
            if *slot != NO_SLOT {
                self.waiters.lock().remove(std::mem::replace(slot, NO_SLOT));
            }
            return Poll::Ready(answer);
        }
        let now = Instant::now();
        let Some(deadline) = deadline else {
            return Poll::Pending;
        };
        let mut expired = now >= deadline;
        if !expired && drive.armed.is_none_or(|armed| deadline <= armed) {
            drive.armed = Some(deadline);
            // The timer is re-created on this waiter's runtime if it was another's.
            let runtime = tokio::runtime::Handle::try_current().ok().map(|h| h.id());
            if drive.timer_runtime != runtime {
                drive.timer = None;
                drive.timer_runtime = runtime;
            }
            let timer = match &mut drive.timer {
                Some(timer) => {
                    if timer.deadline() != deadline {
                        timer.as_mut().reset(deadline);
                    }
                    timer
                }
                none => none.insert(Box::pin(tokio::time::sleep_until(deadline))),
            };
            expired = timer.as_mut().poll(cx).is_ready();
        }
        if !expired {
            return Poll::Pending;
        }
        let mut waiters = self.waiters.lock();
        Self::leave_locked(&mut drive, &mut waiters, std::mem::replace(slot, NO_SLOT));
        Poll::Ready(Err(LookupError::TimedOut {
            host: self.host.clone(),
            after: timeout.unwrap_or_default(),
        }))
    }

    /// The waiter in `slot` goes away without the answer.
    pub(super) fn leave(&self, slot: u32) {
        let mut drive = self.drive.lock();
        let mut waiters = self.waiters.lock();
        Self::leave_locked(&mut drive, &mut waiters, slot);
    }

    fn leave_locked(drive: &mut Drive, waiters: &mut Waiters, slot: u32) {
        let deadline = waiters.remove(slot);
        if let Some(due) = deadline.filter(|_| deadline == drive.armed) {
            // The timer was armed for this waiter: every waiter due by then times out
            // now, and the earliest later one re-arms it from its own poll.
            drive.armed = None;
            waiters.wake_due(due);
        }
    }
}

impl Waiters {
    fn insert(&mut self, waker: Waker, deadline: Option<Instant>) -> u32 {
        let parked = Slot::Parked { waker, deadline };
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

    /// Updates the waker of a parked waiter; returns its deadline.
    fn refresh(&mut self, at: u32, new: &Waker) -> Option<Instant> {
        match &mut self.slots[at as usize] {
            Slot::Parked { waker, deadline } => {
                if !waker.will_wake(new) {
                    waker.clone_from(new);
                }
                *deadline
            }
            Slot::Free { .. } => unreachable!("a waiter's slot is parked until it leaves"),
        }
    }

    /// Frees a slot; returns the deadline it had.
    fn remove(&mut self, at: u32) -> Option<Instant> {
        let freed = std::mem::replace(&mut self.slots[at as usize], Slot::Free { next: self.free });
        self.free = Some(at);
        match freed {
            Slot::Parked { deadline, .. } => deadline,
            Slot::Free { .. } => unreachable!("a slot is freed once"),
        }
    }

    fn wake_all(&self) {
        for slot in &self.slots {
            if let Slot::Parked { waker, .. } = slot {
                waker.wake_by_ref();
            }
        }
    }

    /// Wakes every waiter due by `due`, and the earliest one due later.
    fn wake_due(&self, due: Instant) {
        let mut later: Option<(Instant, &Waker)> = None;
        for slot in &self.slots {
            if let Slot::Parked {
                waker,
                deadline: Some(deadline),
            } = slot
            {
                if *deadline <= due {
                    waker.wake_by_ref();
                } else if later.is_none_or(|(earliest, _)| *deadline < earliest) {
                    later = Some((*deadline, waker));
                }
            }
        }
        if let Some((_, waker)) = later {
            waker.wake_by_ref();
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.inflight.finish(&self.host, self.id);
    }
}

impl std::fmt::Debug for Flight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flight")
            .field("id", &self.id)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(corral_loom), target_pointer_width = "64"))]
mod tests {
    /// Every resolving task holds a `LookupHost` and every parked waiter a slot: keep
    /// them small (a storm has thousands; see `examples/dns_storm.rs`).
    #[test]
    fn per_waiter_state_stays_small() {
        assert_eq!(std::mem::size_of::<super::Slot>(), 32);
        assert!(std::mem::size_of::<crate::LookupHost>() <= 40);
    }
}
