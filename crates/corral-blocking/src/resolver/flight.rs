//! Coalescing: one lookup per host in flight, owned by the group of its waiters.
//!
//! # Invariants
//!
//! - The in-flight map holds only a `Weak` to each [`Flight`]; every waiter holds a
//!   strong `Arc`. So a lookup lives exactly as long as someone waits for it: the first
//!   caller leaving (timeout, cancellation) changes nothing for the others, and when
//!   the last one leaves the flight is dropped, which drops its pool job (a job not yet
//!   started never runs).
//! - The flight's future is a `futures` [`Shared`]: whichever waiter polls drives it,
//!   and all of them get a clone of the one answer (errors included).
//! - A map entry is removed by the flight that owns it (matched by id): when its lookup
//!   completes (after the answer is cached) or when the flight is dropped. A dead entry
//!   found by `join` is replaced.
//! - No `Arc<Flight>` is ever dropped while the map lock is held (`Flight::drop` takes
//!   that lock).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use futures_util::future::{FutureExt, Shared};
use parking_lot::Mutex;

use super::cache::Answer;

pub(super) type FlightFuture = Pin<Box<dyn Future<Output = Answer> + Send + 'static>>;

/// A map entry: the flight's id and a weak handle on it.
type Entry = (u64, Weak<Flight>);

/// The lookups in flight, by host.
#[derive(Debug, Default)]
pub(super) struct Inflight {
    map: Mutex<HashMap<Arc<str>, Entry>>,
    next_id: Mutex<u64>,
}

/// One in-flight lookup and the future its waiters share.
pub(super) struct Flight {
    id: u64,
    host: Arc<str>,
    inflight: Arc<Inflight>,
    shared: Shared<FlightFuture>,
}

impl Inflight {
    /// Joins the flight for `host`, or starts one with `start(id)`.
    pub(super) fn join(
        self: &Arc<Self>,
        host: &Arc<str>,
        start: impl FnOnce(u64) -> FlightFuture,
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
        let flight = Arc::new(Flight {
            id,
            host: host.clone(),
            inflight: Arc::clone(self),
            shared: start(id).shared(),
        });
        map.insert(host.clone(), (id, Arc::downgrade(&flight)));
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
    /// A waiter's own handle on the shared answer.
    pub(super) fn waiter(&self) -> Shared<FlightFuture> {
        self.shared.clone()
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
