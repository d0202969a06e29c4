//! The packed state word: free permits plus two flags, in one `AtomicU64` so the
//! uncontended paths are a single atomic read-modify-write each.
//!
//! | bits  | name     | meaning                                                          |
//! |-------|----------|------------------------------------------------------------------|
//! | 0     | `SLOW`   | the queue is non-empty or shrink debt is outstanding: acquirers must queue and a releaser must take the lock and hand its permits on |
//! | 1     | `CLOSED` | [`close`](crate::Semaphore::close) was called; never cleared      |
//! | 2..64 | permits  | free permits, assigned to nobody (`state >> PERMIT_SHIFT`)        |
//!
//! # Invariants
//!
//! - `SLOW` is set whenever the waiter queue is non-empty or `debt > 0`. It is set and
//!   cleared only with the queue lock held; releasers may add permits without the lock
//!   and take the lock afterwards if they saw `SLOW`.
//! - While `SLOW` is set, only the lock holder subtracts permits, so queued waiters are
//!   served strictly in order.
//! - `CLOSED` is set only with the queue lock held.
//! - `free + held (including granted, not yet collected) == capacity + debt`, and every
//!   term stays `<= MAX_PERMITS`, so adding to the permit field never overflows.

/// Set while waiters are queued or shrink debt is outstanding.
pub(crate) const SLOW: u64 = 1 << 0;
/// Set once the semaphore is closed.
pub(crate) const CLOSED: u64 = 1 << 1;
/// The free-permit count starts at this bit.
pub(crate) const PERMIT_SHIFT: u32 = 2;
/// The largest capacity a semaphore can have: what fits above the flag bits.
pub(crate) const MAX_PERMITS: u64 = u64::MAX >> PERMIT_SHIFT;

/// The free permits recorded in `state`.
#[inline]
pub(crate) const fn free(state: u64) -> u64 {
    state >> PERMIT_SHIFT
}

/// `n` permits as a delta on the state word.
#[inline]
pub(crate) const fn permits(n: u64) -> u64 {
    n << PERMIT_SHIFT
}
