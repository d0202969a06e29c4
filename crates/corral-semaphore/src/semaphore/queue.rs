//! The waiter queue: a slab of nodes threaded into a doubly linked FIFO list by index.
//!
//! # Invariants
//!
//! - Only touched with the semaphore's queue lock held.
//! - A slot belongs to exactly one acquire future (or [`PollSemaphore`]) from
//!   [`Queue::push_back`] until that owner calls [`Queue::free`], with one exception:
//!   [`Queue::grant`] frees a slot that has a grant ticket at once (see
//!   [`tickets`](super::tickets)); its owner checks its ticket, under the lock, before
//!   it looks at the slot. Otherwise the semaphore only links, unlinks and changes the
//!   status of slots. So a slot index held by a future whose ticket shows no grant
//!   always names that future's node.
//! - A slot is linked into the list iff its status is [`Status::Queued`].
//! - Freed slots are kept on a free list and reused, so the slab only grows to the
//!   peak number of simultaneous waiters and waiting allocates nothing after warm-up.
//!
//! [`PollSemaphore`]: crate::PollSemaphore

use std::task::Waker;

use super::tickets::Tickets;
use crate::error::AcquireError;

/// "No slot": the end of a list, or a node that is not queued.
pub(crate) const NIL: usize = usize::MAX;

/// Where a waiter's request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// In the list, waiting for its permits.
    Queued,
    /// Out of the list; its permits were taken from the free count for it and now
    /// belong to its owner (handed back if the owner is dropped instead).
    Granted,
    /// Out of the list; the request failed.
    Failed(AcquireError),
    /// On the free list.
    Free,
}

#[derive(Debug)]
struct Slot {
    need: u64,
    prev: usize,
    next: usize,
    status: Status,
    waker: Option<Waker>,
}

/// The FIFO of waiters plus the shrink debt, both guarded by the queue lock.
#[derive(Debug)]
pub(crate) struct Queue {
    slots: Vec<Slot>,
    head: usize,
    tail: usize,
    free: usize,
    len: usize,
    /// Permits still to be absorbed from future releases after a shrink.
    pub(crate) debt: u64,
    /// Picks the queued acquires whose wait is timed (`metrics` feature, named
    /// semaphores; drawn once per acquire that joins the queue).
    #[cfg(feature = "metrics")]
    pub(crate) sampler: corral_shared::sample::Sampler,
    /// Queued requests granted so far, every one (`metrics` feature): the census tick
    /// publishes it as the exact count behind the sampled wait histogram.
    #[cfg(feature = "metrics")]
    pub(crate) granted: u64,
}

impl Queue {
    pub(crate) const fn new() -> Self {
        Queue {
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
            debt: 0,
            #[cfg(feature = "metrics")]
            sampler: corral_shared::sample::Sampler::new(crate::DEFAULT_WAIT_SAMPLING),
            #[cfg(feature = "metrics")]
            granted: 0,
        }
    }

    /// The number of queued waiters.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first queued waiter, if any.
    pub(crate) fn head(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head)
    }

    /// The waiter queued after `slot`, if any.
    pub(crate) fn next(&self, slot: usize) -> Option<usize> {
        let next = self.slots[slot].next;
        (next != NIL).then_some(next)
    }

    pub(crate) fn need(&self, slot: usize) -> u64 {
        self.slots[slot].need
    }

    pub(crate) fn status(&self, slot: usize) -> Status {
        self.slots[slot].status
    }

    /// Queues a request for `need` permits at the tail and returns its slot and, if
    /// the slot has one, its grant ticket.
    pub(crate) fn push_back(
        &mut self,
        need: u64,
        waker: Waker,
        tickets: &Tickets,
    ) -> (usize, Option<u64>) {
        let slot = Slot {
            need,
            prev: self.tail,
            next: NIL,
            status: Status::Queued,
            waker: Some(waker),
        };
        let index = if self.free != NIL {
            let index = self.free;
            self.free = self.slots[index].next;
            self.slots[index] = slot;
            index
        } else {
            self.slots.push(slot);
            self.slots.len() - 1
        };
        if self.tail != NIL {
            self.slots[self.tail].next = index;
        } else {
            self.head = index;
        }
        self.tail = index;
        self.len += 1;
        (index, tickets.issue(index))
    }

    /// Grants the queued `slot`, returning its waker so the caller can wake it after
    /// releasing the lock. A ticketed slot is freed at once (its owner proves the grant
    /// by its ticket); others keep `Granted` until their owner collects it.
    pub(crate) fn grant(&mut self, slot: usize, tickets: &Tickets) -> Option<Waker> {
        let waker = self.finish(slot, Status::Granted);
        #[cfg(feature = "metrics")]
        {
            self.granted += 1;
        }
        if tickets.grant(slot) {
            // `finish` took the waker: nothing is left to drop here.
            let _taken = self.release_slot(slot);
        }
        waker
    }

    /// Takes `slot` out of the list and gives it `status`, returning its waker so the
    /// caller can wake it after releasing the lock.
    pub(crate) fn finish(&mut self, slot: usize, status: Status) -> Option<Waker> {
        self.unlink(slot);
        let node = &mut self.slots[slot];
        node.status = status;
        node.waker.take()
    }

    /// Takes a queued `slot` out of the list.
    fn unlink(&mut self, slot: usize) {
        debug_assert_eq!(self.slots[slot].status, Status::Queued);
        let (prev, next) = (self.slots[slot].prev, self.slots[slot].next);
        if prev != NIL {
            self.slots[prev].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.slots[next].prev = prev;
        } else {
            self.tail = prev;
        }
        self.len -= 1;
    }

    /// Stores the waker to wake when a queued `slot` is granted or failed, and returns
    /// the one it replaces, for the caller to drop once the lock is released.
    #[must_use = "drop the displaced waker after unlocking: its drop may run user code"]
    pub(crate) fn set_waker(&mut self, slot: usize, waker: &Waker) -> Option<Waker> {
        let node = &mut self.slots[slot];
        match &node.waker {
            Some(old) if old.will_wake(waker) => None,
            _ => node.waker.replace(waker.clone()),
        }
    }

    /// Returns `slot` to the free list, unlinking it first if it is still queued, and
    /// returns the waker a still-queued slot held (granting or failing a slot already
    /// took its waker), for the caller to drop once the lock is released.
    #[must_use = "drop the waker after unlocking: its drop may run user code"]
    pub(crate) fn free(&mut self, slot: usize) -> Option<Waker> {
        if self.slots[slot].status == Status::Queued {
            self.unlink(slot);
        }
        self.release_slot(slot)
    }

    /// Puts an unlinked `slot` on the free list, returning the waker it still held.
    fn release_slot(&mut self, slot: usize) -> Option<Waker> {
        let node = &mut self.slots[slot];
        node.status = Status::Free;
        node.next = self.free;
        self.free = slot;
        node.waker.take()
    }
}
