//! The permit: a lease on the server, renewed by its own tracked task.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use corral_semaphore::OwnedPermit;
use corral_shared::sync::{AtomicU64, Ordering::Relaxed};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::ReleaseError;
use crate::redis::RedisBackend;

/// Permits held on a [`FleetSemaphore`](crate::FleetSemaphore).
///
/// On Redis the permit is a lease: a tracked task (`corral-fleet lease`, visible in
/// `corral_task::snapshot()`) renews it every third of the lease. If renewal fails
/// until the lease may have run out, or the server answers that it no longer holds the
/// permit, [`lease_lost`](Self::lease_lost) fires: stop the work the permit guards
/// (pass the token to a corral scope, or `select!` on it). Present
/// [`fencing_token`](Self::fencing_token) to the guarded resource so it can refuse a
/// holder whose lease was lost while it was paused.
///
/// Dropping the permit releases it: at once, best effort (a script run from a tracked
/// task on the current runtime); if that fails, the lease returns the permits when it
/// runs out. [`release`](Self::release) does the same and reports the outcome.
///
/// On the in-process backend the permit is a `corral_semaphore::OwnedPermit`: it is
/// never lost, and its fencing tokens count up from 1 per semaphore.
#[must_use = "dropping a FleetPermit releases its permits at once"]
pub struct FleetPermit {
    count: u64,
    fence: u64,
    token: CancellationToken,
    kind: Kind,
}

enum Kind {
    Redis(Lease),
    Local(Option<OwnedPermit>, Arc<AtomicU64>),
}

struct Lease {
    backend: Arc<RedisBackend>,
    id: String,
    renewer: JoinHandle<()>,
    /// `false` once released, forgotten or handed to `release`.
    live: bool,
}

impl FleetPermit {
    pub(crate) fn redis(
        backend: Arc<RedisBackend>,
        id: String,
        count: u64,
        fence: u64,
        deadline: Instant,
    ) -> Self {
        let token = CancellationToken::new();
        backend.inbox.register_holder(&id, token.clone());
        let renewer = corral_task::Builder::new()
            .name("corral-fleet lease")
            .spawn(renew(
                Arc::clone(&backend),
                id.clone(),
                token.clone(),
                deadline,
            ));
        FleetPermit {
            count,
            fence,
            token,
            kind: Kind::Redis(Lease {
                backend,
                id,
                renewer,
                live: true,
            }),
        }
    }

    pub(crate) fn local(permit: OwnedPermit, fence: u64, held: Arc<AtomicU64>) -> Self {
        FleetPermit {
            count: permit.count(),
            fence,
            token: CancellationToken::new(),
            kind: Kind::Local(Some(permit), held),
        }
    }

    /// The number of permits held.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The fencing token of this grant: larger than that of every grant before it on
    /// this semaphore (see the crate docs for what a restart or failover does to it).
    pub fn fencing_token(&self) -> u64 {
        self.fence
    }

    /// Fires when the lease may have lapsed: the server said it no longer holds this
    /// permit, or renewal failed until the lease would have run out. Work bound to the
    /// permit should stop when it fires. It never fires on the in-process backend, nor
    /// when the permit is released or dropped.
    pub fn lease_lost(&self) -> &CancellationToken {
        &self.token
    }

    /// Whether [`lease_lost`](Self::lease_lost) has fired.
    pub fn is_lost(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Releases the permits and waits for the server to confirm.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::LeaseLost`] if the server no longer held the permit (its lease
    /// had run out: the permits were already back); [`ReleaseError::Unreachable`] if
    /// Redis did not answer (the lease returns the permits when it runs out).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future after it started may leave the release unconfirmed; the
    /// lease returns the permits when it runs out.
    pub async fn release(mut self) -> Result<(), ReleaseError> {
        match &mut self.kind {
            Kind::Local(..) => {
                drop(self);
                Ok(())
            }
            Kind::Redis(lease) => {
                let backend = Arc::clone(&lease.backend);
                let id = lease.id.clone();
                lease.stop();
                match backend.leave(&id).await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err(ReleaseError::LeaseLost),
                    Err(err) => Err(ReleaseError::Unreachable(err)),
                }
            }
        }
    }

    /// Gives the permits up without returning them: the semaphore's capacity shrinks by
    /// [`count`](Self::count), as `corral_semaphore::OwnedPermit::forget` does. On Redis
    /// this is best effort, as a drop is: if the script cannot run, the lease returns
    /// the permits instead.
    pub fn forget(mut self) {
        match &mut self.kind {
            Kind::Local(permit, held) => {
                if let Some(permit) = permit.take() {
                    // Relaxed: as in `LocalBackend::permit`.
                    held.fetch_sub(permit.count(), Relaxed);
                    permit.forget();
                }
            }
            Kind::Redis(lease) => {
                let backend = Arc::clone(&lease.backend);
                let id = lease.id.clone();
                lease.stop();
                spawn_best_effort(async move {
                    let _ = backend.forget(&id).await;
                });
            }
        }
    }
}

impl Lease {
    /// Stops renewing and routing notifications; the caller settles the server side.
    fn stop(&mut self) {
        self.live = false;
        self.renewer.abort();
        self.backend.inbox.remove_holder(&self.id);
    }
}

impl Drop for FleetPermit {
    fn drop(&mut self) {
        match &mut self.kind {
            Kind::Redis(lease) if lease.live => {
                lease.stop();
                let backend = Arc::clone(&lease.backend);
                let id = std::mem::take(&mut lease.id);
                spawn_best_effort(async move {
                    let _ = backend.leave(&id).await;
                });
            }
            Kind::Local(permit, held) => {
                if let Some(permit) = permit.take() {
                    // Relaxed: as in `LocalBackend::permit`.
                    held.fetch_sub(permit.count(), Relaxed);
                }
            }
            Kind::Redis(_) => {}
        }
    }
}

impl fmt::Debug for FleetPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("FleetPermit");
        d.field("count", &self.count)
            .field("fencing_token", &self.fence)
            .field("lost", &self.is_lost());
        if let Kind::Redis(lease) = &self.kind {
            d.field("id", &lease.id);
        }
        d.finish()
    }
}

/// Runs `fut` as a tracked task if there is a runtime; otherwise the lease covers it.
pub(crate) fn spawn_best_effort<F>(fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        drop(
            corral_task::Builder::new()
                .name("corral-fleet release")
                .spawn_on(fut, &handle),
        );
    }
}

/// The renewal loop. `deadline` is a lower bound, on this host's monotonic clock, of
/// when the server's lease runs out: the lease counted from the moment the request
/// that could have granted or renewed it was sent.
async fn renew(
    backend: Arc<RedisBackend>,
    id: String,
    token: CancellationToken,
    mut deadline: Instant,
) {
    let every = backend.heartbeat();
    let lease = backend.lease;
    // Renew a third of the way into the lease (at once if the grant was old news).
    let mut next = deadline
        .checked_sub(lease - every)
        .unwrap_or_else(Instant::now);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = token.cancelled() => return,
        }
        let sent = Instant::now();
        match backend.renew(&id).await {
            Ok(Some(left)) => {
                deadline = sent + left;
                next = sent + every;
            }
            Ok(None) => break,
            Err(_) => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                // Try again soon, and once more right at the deadline.
                next = (now + retry_delay(every)).min(deadline);
            }
        }
    }
    token.cancel();
}

/// How long a failed call waits before it is tried again.
pub(crate) fn retry_delay(heartbeat: Duration) -> Duration {
    (heartbeat / 4).clamp(Duration::from_millis(5), Duration::from_millis(250))
}
