//! The in-process backend: corral's `Semaphore`, with fencing tokens from a counter.

use std::sync::Arc;

use corral_semaphore::{OwnedPermit, Semaphore};
use corral_shared::sync::{AtomicU64, Ordering::Relaxed};

use crate::error::{AcquireError, TryAcquireError};
use crate::permit::FleetPermit;

#[derive(Debug)]
pub(crate) struct LocalBackend {
    pub(crate) sem: Arc<Semaphore>,
    fence: AtomicU64,
    /// Permits held through this backend (the semaphore itself does not say after a
    /// lazy shrink); each permit subtracts its count when it goes.
    pub(crate) held: Arc<AtomicU64>,
}

impl LocalBackend {
    pub(crate) fn new(capacity: u64) -> Self {
        LocalBackend {
            sem: Arc::new(Semaphore::new(capacity)),
            fence: AtomicU64::new(0),
            held: Arc::new(AtomicU64::new(0)),
        }
    }

    fn fence(&self) -> u64 {
        // Relaxed: the counter only has to be unique and increasing; the permit it
        // goes with is ordered by the semaphore.
        self.fence.fetch_add(1, Relaxed) + 1
    }

    fn permit(&self, permit: OwnedPermit) -> FleetPermit {
        // Relaxed: a statistic read by `status`; the permits are ordered by the semaphore.
        self.held.fetch_add(permit.count(), Relaxed);
        FleetPermit::local(permit, self.fence(), Arc::clone(&self.held))
    }

    pub(crate) async fn acquire(&self, n: u64) -> Result<FleetPermit, AcquireError> {
        let permit = self.sem.acquire_owned(n).await?;
        Ok(self.permit(permit))
    }

    pub(crate) fn try_acquire(&self, n: u64) -> Result<FleetPermit, TryAcquireError> {
        let permit = self.sem.try_acquire_owned(n)?;
        Ok(self.permit(permit))
    }
}
