//! RAII permits: [`Permit`] borrows its semaphore, [`OwnedPermit`] holds an `Arc`.

use std::fmt;
use std::mem;
use std::sync::Arc;

use crate::semaphore::Semaphore;

/// Permits taken from a [`Semaphore`], returned to it when dropped.
///
/// Returned by [`Semaphore::acquire`] and [`Semaphore::try_acquire`].
#[must_use = "dropping a Permit returns its permits to the semaphore at once"]
pub struct Permit<'a> {
    sem: &'a Semaphore,
    count: u64,
}

impl<'a> Permit<'a> {
    pub(crate) fn new(sem: &'a Semaphore, count: u64) -> Self {
        Permit { sem, count }
    }

    /// How many permits this guard holds.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The semaphore the permits belong to.
    pub fn semaphore(&self) -> &'a Semaphore {
        self.sem
    }

    /// Removes the permits from the semaphore for good, instead of returning them.
    ///
    /// The semaphore's [`capacity`](Semaphore::capacity) shrinks by
    /// [`count`](Self::count) (after absorbing any debt left by a lazy
    /// [`set_capacity`](Semaphore::set_capacity) shrink), so queued requests that can no
    /// longer fit fail with [`AcquireError::TooLarge`](crate::AcquireError::TooLarge)
    /// rather than wait forever.
    pub fn forget(mut self) {
        let count = mem::take(&mut self.count);
        self.sem.forget_held(count);
    }

    /// Moves `n` of the permits into a new guard, or returns `None` (changing nothing)
    /// if this guard holds fewer than `n`.
    #[must_use = "the split-off permits are released at once if dropped"]
    pub fn split(&mut self, n: u64) -> Option<Self> {
        self.count = self.count.checked_sub(n)?;
        Some(Permit::new(self.sem, n))
    }

    /// Moves all of `other`'s permits into this guard.
    ///
    /// # Panics
    ///
    /// If `other` belongs to a different semaphore. Merging across semaphores is
    /// always a logic error (the merged guard could not return the permits to both),
    /// so it panics like an out-of-bounds index instead of making every caller handle
    /// an error that cannot happen in correct code. Nothing leaks: `other` is dropped
    /// while unwinding and returns its permits to its own semaphore.
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            std::ptr::eq(self.sem, other.sem),
            "merged permits from different semaphores"
        );
        self.count += mem::take(&mut other.count);
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.sem.release(self.count);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

/// Permits taken from an `Arc<Semaphore>`, returned to it when dropped. Owns its
/// semaphore, so it can move into a spawned task.
///
/// Returned by [`Semaphore::acquire_owned`], [`Semaphore::try_acquire_owned`] and
/// [`PollSemaphore::poll_acquire`](crate::PollSemaphore::poll_acquire).
#[must_use = "dropping an OwnedPermit returns its permits to the semaphore at once"]
pub struct OwnedPermit {
    sem: Arc<Semaphore>,
    count: u64,
}

impl OwnedPermit {
    pub(crate) fn new(sem: Arc<Semaphore>, count: u64) -> Self {
        OwnedPermit { sem, count }
    }

    /// How many permits this guard holds.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The semaphore the permits belong to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Removes the permits from the semaphore for good, instead of returning them.
    /// See [`Permit::forget`].
    pub fn forget(mut self) {
        let count = mem::take(&mut self.count);
        self.sem.forget_held(count);
    }

    /// Moves `n` of the permits into a new guard, or returns `None` (changing nothing)
    /// if this guard holds fewer than `n`.
    #[must_use = "the split-off permits are released at once if dropped"]
    pub fn split(&mut self, n: u64) -> Option<Self> {
        self.count = self.count.checked_sub(n)?;
        Some(OwnedPermit::new(Arc::clone(&self.sem), n))
    }

    /// Moves all of `other`'s permits into this guard.
    ///
    /// # Panics
    ///
    /// If `other` belongs to a different semaphore; see [`Permit::merge`] for why this
    /// panics rather than returning an error. `other`'s permits go back to its own
    /// semaphore while unwinding.
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            Arc::ptr_eq(&self.sem, &other.sem),
            "merged permits from different semaphores"
        );
        self.count += mem::take(&mut other.count);
    }
}

impl Drop for OwnedPermit {
    #[inline]
    fn drop(&mut self) {
        self.sem.release(self.count);
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}
