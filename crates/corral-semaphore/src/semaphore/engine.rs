//! The engine behind [`Semaphore`]: the lock-free fast paths, and the queue hand-off
//! that runs under the lock when someone waits.
//!
//! # Invariants
//!
//! See [`state`](super::state) for the state word, [`queue`](super::queue) for slot
//! ownership and [`tickets`](super::tickets) for lock-free grants. In addition:
//!
//! - Anyone who adds permits while `SLOW` is set (a releaser, a dropped granted
//!   waiter, a growing `set_capacity`) then runs [`Semaphore::settle`] under the lock,
//!   so free permits never sit unused while the head waiter fits.
//! - Anyone who removes the head waiter without granting it (drop, failure) also
//!   settles, so the waiters behind it that now fit are granted.
//! - Nothing is granted once `CLOSED` is set: the waiters still queued belong to
//!   `close`, which fails them all.
//! - Wakers are woken, and dropped, only after the lock is released: a waker is user
//!   code, and its drop may release permits of this very semaphore (tokio's
//!   `release_permits_at_drop`), which takes the lock. The queue hands back every
//!   waker it lets go of ([`Queue::set_waker`], [`Queue::free`]) for that.
//! - Handing permits on allocates nothing: wakers are collected in a [`WakeList`]'s
//!   inline part only (checked with [`WakeList::is_full`] before every push); when it
//!   fills, the lock is released, the batch woken and the lock taken again.

use std::task::{Context, Poll};

use corral_shared::sync::MutexGuard;
use corral_shared::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
use corral_shared::wake::WakeList;

use super::queue::{Queue, Status, NIL};
use super::state::{free, permits, CLOSED, SLOW};
use super::Semaphore;
use crate::error::{AcquireError, TryAcquireError};

impl Semaphore {
    /// Takes `n` permits without the lock if nobody waits, the semaphore is open and
    /// enough are free: one compare-and-swap in the common case.
    #[inline]
    pub(crate) fn try_take_fast(&self, n: u64) -> bool {
        // Relaxed: this load only picks the value the CAS below expects; the CAS is the
        // acquire edge that synchronises with the releaser's `Release` add.
        let mut state = self.state.load(Relaxed);
        loop {
            if state & (SLOW | CLOSED) != 0 || free(state) < n {
                return false;
            }
            // Acquire pairs with the `Release` add in `release`, so whatever the last
            // holder of these permits wrote happens-before our use of them. Relaxed on
            // failure: the value is only re-inspected, and the retry CAS acquires.
            match self
                .state
                .compare_exchange_weak(state, state - permits(n), Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Returns `n` held permits: one atomic add, plus the hand-off under the lock if
    /// someone waits.
    #[inline]
    pub(crate) fn release(&self, n: u64) {
        if n == 0 {
            return;
        }
        // Release: publishes the holder's writes to the next acquirer (fast-path CAS or
        // the lock holder's CAS in `process`). The add cannot overflow (see the state
        // invariants).
        let prev = self.state.fetch_add(permits(n), Release);
        if prev & SLOW != 0 {
            self.settle(self.queue.lock());
        }
    }

    /// The slow half of `try_acquire`: the fast path failed.
    pub(crate) fn try_take(&self, n: u64) -> Result<(), TryAcquireError> {
        let queue = self.queue.lock();
        self.check(n)?;
        if n == 0 {
            return Ok(());
        }
        if queue.head().is_none() && queue.debt == 0 {
            // Nobody waits, so taking now is not barging. `SLOW` may still be set by a
            // waiter that just left; the lock holder may take regardless.
            let mut state = self.state.load(Acquire);
            while free(state) >= n {
                match self
                    .state
                    .compare_exchange(state, state - permits(n), AcqRel, Acquire)
                {
                    Ok(_) => return Ok(()),
                    Err(actual) => state = actual,
                }
            }
        }
        Err(TryAcquireError::NoPermits {
            requested: n,
            available: self.available(),
        })
    }

    /// Refuses requests that must fail at once. Called with the lock held, so
    /// `CLOSED` and the capacity cannot change underneath.
    fn check(&self, n: u64) -> Result<(), AcquireError> {
        // Relaxed: both are written only under the queue lock, which the caller holds.
        if self.state.load(Relaxed) & CLOSED != 0 {
            self.observe(|m| m.closed.increment(1));
            return Err(AcquireError::Closed);
        }
        let capacity = self.capacity.load(Relaxed);
        if n > capacity {
            self.observe(|m| m.too_large.increment(1));
            return Err(AcquireError::TooLarge {
                requested: n,
                capacity,
            });
        }
        Ok(())
    }

    /// Queues `waiter` (whose fast path failed), or grants or refuses it at once.
    fn enqueue(&self, waiter: &mut Waiter, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        let n = waiter.n;
        // Cloned before locking, to keep the critical section short: a waker clone
        // is an atomic increment on a line other threads may be writing.
        let waker = cx.waker().clone();
        let mut queue = self.queue.lock();
        self.check(n)?;
        if n == 0 {
            return Poll::Ready(Ok(()));
        }
        if queue.head().is_none() && queue.debt == 0 {
            let mut state = self.state.load(Acquire);
            loop {
                let (next, granted) = if free(state) >= n {
                    (state - permits(n), true)
                } else {
                    (state | SLOW, false)
                };
                // AcqRel: acquire the permits' history when taking them; release is
                // harmless when only setting `SLOW`.
                match self.state.compare_exchange(state, next, AcqRel, Acquire) {
                    Ok(_) if granted => return Poll::Ready(Ok(())),
                    Ok(_) => break,
                    Err(actual) => state = actual,
                }
            }
        }
        // `SLOW` is set (state invariant): releasers will take the lock and hand their
        // permits to the queue in order.
        let (slot, ticket) = queue.push_back(n, waker, &self.tickets);
        // Named semaphores time a sample of the acquires that queue (one in
        // `wait_sampling`, drawn per acquire). Unsampled ones read no clock; a sampled
        // one reads it once the lock is released, to keep the critical section short
        // (a grant in between is measured as a shorter wait, by under a lock hand-off).
        #[cfg(feature = "metrics")]
        let timed = self.is_named() && queue.sampler.sample();
        waiter.slot = slot;
        waiter.ticket = ticket.unwrap_or(NO_TICKET);
        drop(queue);
        #[cfg(feature = "metrics")]
        {
            waiter.since = timed.then(std::time::Instant::now);
        }
        Poll::Pending
    }

    /// Polls a queued waiter.
    fn poll_queued(
        &self,
        waiter: &mut Waiter,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        let mut queue = self.queue.lock();
        if waiter.granted_by_ticket(self) {
            // Granted since the lock-free check; the slot is no longer ours.
            waiter.slot = NIL;
            return Poll::Ready(Ok(()));
        }
        let slot = waiter.slot;
        match queue.status(slot) {
            Status::Queued => {
                let displaced = queue.set_waker(slot, cx.waker());
                drop(queue);
                drop(displaced);
                Poll::Pending
            }
            // Granting or failing took the slot's waker: `free` returns none.
            Status::Granted => {
                let _none = queue.free(slot);
                waiter.slot = NIL;
                Poll::Ready(Ok(()))
            }
            Status::Failed(err) => {
                let _none = queue.free(slot);
                waiter.slot = NIL;
                Poll::Ready(Err(err))
            }
            Status::Free => unreachable!("a waiter's slot is freed only by the waiter"),
        }
    }

    /// Withdraws a waiter's request, handing back permits granted to it.
    fn cancel(&self, waiter: &mut Waiter) {
        if let Some(Ok(())) = self.withdraw(waiter) {
            // Granted before or while it was dropped: hand the permits back (and
            // settle the waiters behind it if any).
            self.release(waiter.n);
        }
    }

    /// Withdraws a waiter's request unless it was already granted or failed, deciding
    /// under the lock: a grant's permits then stay with the waiter (none is handed
    /// back) and its outcome is returned; `None` means it left the queue. A dropped
    /// acquire ([`Semaphore::cancel`]) and an expired deadline both end here.
    fn withdraw(&self, waiter: &mut Waiter) -> Option<Result<(), AcquireError>> {
        let slot = waiter.slot;
        if slot == NIL {
            return None;
        }
        if waiter.granted_by_ticket(self) {
            waiter.slot = NIL;
            return Some(Ok(()));
        }
        let mut queue = self.queue.lock();
        if waiter.granted_by_ticket(self) {
            // Granted since the check above; the slot is no longer ours.
            waiter.slot = NIL;
            return Some(Ok(()));
        }
        waiter.slot = NIL;
        match queue.status(slot) {
            Status::Queued => {
                let was_head = queue.head() == Some(slot);
                let waker = queue.free(slot);
                if was_head {
                    // The waiters behind it may fit now, or the queue is empty and
                    // `SLOW` must be cleared.
                    self.settle(queue);
                } else {
                    drop(queue);
                }
                drop(waker);
                None
            }
            // Granting or failing took the slot's waker: `free` returns none.
            Status::Granted => {
                let _none = queue.free(slot);
                Some(Ok(()))
            }
            Status::Failed(err) => {
                let _none = queue.free(slot);
                Some(Err(err))
            }
            Status::Free => unreachable!("a waiter's slot is freed only by the waiter"),
        }
    }

    /// Pays debt and grants queued waiters from the free permits, in order, then wakes
    /// them after releasing the lock.
    pub(crate) fn settle<'a>(&'a self, mut queue: MutexGuard<'a, Queue>) {
        let mut wakes = WakeList::new();
        while self.process(&mut queue, &mut wakes) {
            drop(queue);
            wakes.wake_all();
            queue = self.queue.lock();
        }
        drop(queue);
        wakes.wake_all();
    }

    /// One pass of hand-off under the lock. Returns `true` if it stopped only because
    /// `wakes` is full (the caller wakes them and calls again).
    fn process(&self, queue: &mut Queue, wakes: &mut WakeList) -> bool {
        let mut state = self.state.load(Acquire);
        loop {
            let (next, grant) = if queue.debt > 0 {
                let pay = queue.debt.min(free(state));
                if pay == 0 {
                    return false;
                }
                (state - permits(pay), None)
            } else if let Some(head) = queue.head() {
                let need = queue.need(head);
                // Closed: `close` is failing the queue (it unlocks between setting
                // `CLOSED` and failing the waiters); a waiter queued before it must
                // not be granted by a release that already saw the closure.
                if free(state) < need || state & CLOSED != 0 {
                    return false;
                }
                if wakes.is_full() {
                    return true;
                }
                (state - permits(need), Some(head))
            } else if state & SLOW != 0 {
                (state & !SLOW, None)
            } else {
                return false;
            };
            // AcqRel/Acquire: acquire the releasers' `Release` adds; the lock's unlock
            // then carries that to the granted waiter.
            match self.state.compare_exchange(state, next, AcqRel, Acquire) {
                Ok(_) => {
                    match grant {
                        Some(head) => wakes.push_opt(queue.grant(head, &self.tickets)),
                        None if queue.debt > 0 => queue.debt -= free(state) - free(next),
                        None => {}
                    }
                    state = next;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Fails queued waiters, from the head, for which `fail` returns an error.
    fn fail_waiters(&self, fail: impl Fn(u64) -> Option<AcquireError>) {
        let mut wakes = WakeList::new();
        let mut queue = self.queue.lock();
        let mut cursor = queue.head();
        while let Some(slot) = cursor {
            cursor = queue.next(slot);
            if let Some(err) = fail(queue.need(slot)) {
                if wakes.is_full() {
                    // Restart from the head after waking: the cursor may not survive
                    // the unlock, and every slot already failed is out of the list.
                    drop(queue);
                    wakes.wake_all();
                    queue = self.queue.lock();
                    cursor = queue.head();
                    continue;
                }
                self.observe(|m| match err {
                    AcquireError::Closed => m.closed.increment(1),
                    AcquireError::TooLarge { .. } => m.too_large.increment(1),
                });
                wakes.push_opt(queue.finish(slot, Status::Failed(err)));
            }
        }
        drop(queue);
        wakes.wake_all();
    }
}

/// One acquirer's place in line: the request and, while queued, its slot. Shared by
/// every acquire future and by [`PollSemaphore`](crate::PollSemaphore), which reuses
/// one `Waiter` for successive requests.
#[derive(Debug)]
pub(crate) struct Waiter {
    n: u64,
    /// The slot while queued (or granted, not yet collected); `NIL` otherwise.
    slot: usize,
    /// The slot's grant ticket (a generation, never 0), or `NO_TICKET`.
    ticket: u64,
    /// When it joined the queue, for the wait-time histogram (`metrics` feature, named
    /// semaphores, the sampled queued acquires only; acquires granted without queueing
    /// are not timed).
    #[cfg(feature = "metrics")]
    since: Option<std::time::Instant>,
}

/// "The slot has no ticket": generations start at 1.
const NO_TICKET: u64 = 0;

impl Waiter {
    pub(crate) const fn new(n: u64) -> Self {
        Waiter {
            n,
            slot: NIL,
            ticket: NO_TICKET,
            #[cfg(feature = "metrics")]
            since: None,
        }
    }

    /// Whether the queued request's ticket proves a grant (no lock needed).
    #[inline]
    fn granted_by_ticket(&self, sem: &Semaphore) -> bool {
        self.ticket != NO_TICKET && sem.tickets.is_granted(self.slot, self.ticket)
    }

    /// The permits requested.
    pub(crate) fn n(&self) -> u64 {
        self.n
    }

    /// Whether the request is in the queue (or granted but not yet collected).
    pub(crate) fn is_queued(&self) -> bool {
        self.slot != NIL
    }

    /// Changes the request. Only while not queued.
    pub(crate) fn set_n(&mut self, n: u64) {
        debug_assert!(!self.is_queued());
        self.n = n;
    }

    /// Drives the request. `Ready(Ok(()))` means `n` permits now belong to the caller;
    /// either way the waiter is then idle again and may be reused.
    #[inline]
    pub(crate) fn poll(
        &mut self,
        sem: &Semaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        if self.slot != NIL {
            let polled = if self.granted_by_ticket(sem) {
                // Granted: the permits are ours and the slot was already freed.
                self.slot = NIL;
                Poll::Ready(Ok(()))
            } else {
                sem.poll_queued(self, cx)
            };
            #[cfg(feature = "metrics")]
            if polled.is_ready() {
                if let (Some(since), Poll::Ready(Ok(()))) = (self.since.take(), &polled) {
                    sem.observe(|m| m.wait.record(since.elapsed()));
                }
            }
            polled
        } else if sem.try_take_fast(self.n) {
            Poll::Ready(Ok(()))
        } else {
            sem.enqueue(self, cx)
        }
    }

    /// Gives up waiting (a deadline passed), unless the request was granted or failed
    /// by now: then that outcome is returned and a grant's permits belong to the
    /// caller, as from [`poll`](Self::poll). `None`: the request left the queue.
    #[cfg(feature = "tokio")]
    pub(crate) fn withdraw(&mut self, sem: &Semaphore) -> Option<Result<(), AcquireError>> {
        let outcome = sem.withdraw(self);
        #[cfg(feature = "metrics")]
        if let (Some(since), Some(Ok(()))) = (self.since.take(), &outcome) {
            sem.observe(|m| m.wait.record(since.elapsed()));
        }
        outcome
    }

    /// Withdraws the request if queued, handing back permits granted meanwhile.
    #[inline]
    pub(crate) fn cancel(&mut self, sem: &Semaphore) {
        if self.slot != NIL {
            sem.cancel(self);
        }
    }
}

impl Semaphore {
    /// Sets the capacity to `new`: growing pays shrink debt first and frees the rest;
    /// shrinking takes what is free and records the remainder as debt.
    pub(crate) fn resize(&self, new: u64) {
        let mut queue = self.queue.lock();
        // Relaxed: the capacity is written only under the lock we hold.
        let old = self.capacity.load(Relaxed);
        self.capacity.store(new, Relaxed);
        if new >= old {
            let mut grow = new - old;
            let pay = grow.min(queue.debt);
            queue.debt -= pay;
            grow -= pay;
            // Release: pairs with the acquiring CAS of whoever takes these permits.
            self.state.fetch_add(permits(grow), Release);
            self.settle(queue);
        } else {
            let shrink = old - new;
            let mut state = self.state.load(Acquire);
            loop {
                let take = shrink.min(free(state));
                let debt = shrink - take;
                let next = (state - permits(take)) | if debt > 0 { SLOW } else { 0 };
                match self.state.compare_exchange(state, next, AcqRel, Acquire) {
                    Ok(_) => {
                        queue.debt += debt;
                        break;
                    }
                    Err(actual) => state = actual,
                }
            }
            drop(queue);
            self.fail_too_large();
            self.settle(self.queue.lock());
        }
    }

    /// Permanently removes `n` held permits: they pay shrink debt first, and the rest
    /// come off the capacity.
    pub(crate) fn forget_held(&self, n: u64) {
        if n == 0 {
            return;
        }
        let mut queue = self.queue.lock();
        let pay = n.min(queue.debt);
        queue.debt -= pay;
        let shrink = n - pay;
        // Relaxed: written only under the lock we hold.
        let capacity = self.capacity.load(Relaxed);
        self.capacity.store(capacity - shrink, Relaxed);
        drop(queue);
        if shrink > 0 {
            self.fail_too_large();
        }
        // Paying debt may have emptied it, and failed waiters may have unblocked the
        // queue: settle either way.
        self.settle(self.queue.lock());
    }

    /// Closes the semaphore and fails every queued waiter.
    pub(crate) fn close_and_fail(&self) {
        let queue = self.queue.lock();
        // Release/AcqRel is not needed for the flag itself (readers that act on it hold
        // the lock), but costs nothing here.
        self.state.fetch_or(CLOSED, AcqRel);
        drop(queue);
        self.fail_waiters(|_| Some(AcquireError::Closed));
        self.settle(self.queue.lock());
    }

    /// Fails the queued waiters whose request exceeds the current capacity.
    fn fail_too_large(&self) {
        self.fail_waiters(|need| {
            // Relaxed: evaluated under the lock, which orders it after the store.
            let capacity = self.capacity.load(Relaxed);
            (need > capacity).then_some(AcquireError::TooLarge {
                requested: need,
                capacity,
            })
        });
    }
}
