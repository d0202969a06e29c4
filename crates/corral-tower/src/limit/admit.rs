//! `Admit`: one request's way through the wait queue, polled by hand.
//!
//! # Invariants
//!
//! - `poll` holds at most one queued request; replacing it with a fresh clone withdraws
//!   that request (no permit is lost, corral-semaphore's `PollSemaphore` contract).
//! - `queued_at` is `Some` exactly while the request waits in the queue.
//! - `timer` is allocated the first time this request has to wait, and reused. It is
//!   the one timer in corral that is boxed rather than pinned in place: `Admit` lives in
//!   a `Service`, whose `poll_ready` takes `&mut self`, not a pinned self, so a `Sleep`
//!   (which is `!Unpin`) cannot sit inline; the uncontended path never allocates it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use corral_semaphore::{AcquireError, OwnedPermit, PollSemaphore};
use tokio::time::{Instant, Sleep};

use super::shared::Shared;
use crate::error::{OverloadReason, Overloaded};

pub(crate) struct Admit {
    poll: PollSemaphore,
    queued_at: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Admit {
    pub(crate) fn new(shared: &Shared) -> Self {
        Admit {
            poll: PollSemaphore::new(shared.sem.clone()),
            queued_at: None,
            timer: None,
        }
    }

    /// Whether this request waits in the queue.
    pub(crate) fn is_queued(&self) -> bool {
        self.queued_at.is_some()
    }

    /// Polls for `n` permits under the layer's queue rules: admitted (FIFO), or refused
    /// with the reason once the queue is full, the wait ran out, or the request is
    /// stale in a standing queue. A refused request has left the queue.
    #[inline]
    pub(crate) fn poll_admit(
        &mut self,
        cx: &mut Context<'_>,
        shared: &Shared,
        n: u64,
    ) -> Poll<Result<OwnedPermit, Overloaded>> {
        let polled = self.poll.poll_acquire(cx, n);
        if self.queued_at.is_none() {
            if let Poll::Ready(Ok(permit)) = polled {
                // Admitted without waiting: the queue was empty, and the queue's
                // current busy period (if any) was marked when its first waiter
                // arrived, so nothing to record and no clock read on this path.
                return Poll::Ready(Ok(permit));
            }
        }
        self.settle(cx, shared, n, polled)
    }

    /// Everything but the uncontended grant: queue rules, timers, refusals.
    fn settle(
        &mut self,
        cx: &mut Context<'_>,
        shared: &Shared,
        n: u64,
        mut polled: Poll<Result<OwnedPermit, AcquireError>>,
    ) -> Poll<Result<OwnedPermit, Overloaded>> {
        loop {
            match polled {
                Poll::Ready(Ok(permit)) => {
                    if self.queued_at.take().is_some()
                        && shared.tracks_empty()
                        && shared.sem.waiters() == 0
                    {
                        // The last waiter left: the queue is empty now.
                        shared.mark_empty(Instant::now());
                    }
                    return Poll::Ready(Ok(permit));
                }
                Poll::Ready(Err(err)) => {
                    self.queued_at = None;
                    let reason = match err {
                        AcquireError::TooLarge {
                            requested,
                            capacity,
                        } => OverloadReason::TooHeavy {
                            weight: requested,
                            limit: capacity,
                        },
                        AcquireError::Closed => OverloadReason::Closed,
                    };
                    return Poll::Ready(Err(refuse(shared, reason)));
                }
                Poll::Pending => {}
            }
            let now = Instant::now();
            let queued_at = match self.queued_at {
                Some(at) => at,
                None => {
                    // Just queued: our own entry is counted, so more than max_queue
                    // means the queue was full.
                    let waiting = shared.sem.waiters();
                    if waiting > shared.max_queue {
                        self.withdraw(shared);
                        let max_queue = shared.max_queue;
                        return Poll::Ready(Err(refuse(
                            shared,
                            OverloadReason::QueueFull { max_queue },
                        )));
                    }
                    if waiting <= 1 && shared.tracks_empty() {
                        // The queue was empty until this request joined it.
                        shared.mark_empty(now);
                    }
                    self.queued_at = Some(now);
                    now
                }
            };
            let wake_at = match self.check(shared, queued_at, now) {
                Ok(Some(at)) => at,
                Ok(None) => return Poll::Pending,
                Err(reason) => {
                    self.withdraw(shared);
                    return Poll::Ready(Err(refuse(shared, reason)));
                }
            };
            let timer = match &mut self.timer {
                Some(timer) => {
                    if timer.deadline() != wake_at {
                        timer.as_mut().reset(wake_at);
                    }
                    timer
                }
                None => self
                    .timer
                    .insert(Box::pin(tokio::time::sleep_until(wake_at))),
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired already: check the rules again.
            polled = self.poll.poll_acquire(cx, n);
        }
    }

    /// Applies the wait rules to a request queued since `queued_at`: `Err` to shed it
    /// now, otherwise when to look again (`None`: only a grant can change anything).
    fn check(
        &self,
        shared: &Shared,
        queued_at: Instant,
        now: Instant,
    ) -> Result<Option<Instant>, OverloadReason> {
        let waited = now.saturating_duration_since(queued_at);
        let mut wake_at = None;
        if let Some(max_wait) = shared.max_wait {
            if waited >= max_wait {
                return Err(OverloadReason::MaxWait { max_wait });
            }
            wake_at = Some(queued_at + max_wait);
        }
        if let Some((target, interval)) = shared.sojourn {
            let check_at = if waited < target {
                queued_at + target
            } else {
                // Stale; shed it if the queue has not been empty for a whole interval.
                let standing_from = shared.last_empty() + interval;
                if now >= standing_from {
                    return Err(OverloadReason::Sojourn { waited, target });
                }
                standing_from
            };
            wake_at = Some(wake_at.map_or(check_at, |at: Instant| at.min(check_at)));
        }
        Ok(wake_at)
    }

    /// Leaves the queue; no permit is lost.
    fn withdraw(&mut self, shared: &Shared) {
        self.queued_at = None;
        self.poll = self.poll.clone();
        if shared.tracks_empty() && shared.sem.waiters() == 0 {
            shared.mark_empty(Instant::now());
        }
    }
}

fn refuse(shared: &Shared, reason: OverloadReason) -> Overloaded {
    Overloaded {
        reason,
        retry_after: shared.retry_after,
    }
}

impl std::fmt::Debug for Admit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admit")
            .field("queued_at", &self.queued_at)
            .finish_non_exhaustive()
    }
}
