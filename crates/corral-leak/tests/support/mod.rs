//! Shared by the test binaries that need it.
#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::task::Poll;

use corral_blocking::{AcceptedJob, BlockingPool};
use corral_leak::LeakGuard;
use corral_test_support::Latch;

/// Runs `assert_clean` in a task of its own and returns its panic message, if any.
pub(crate) async fn assert_clean_message(guard: LeakGuard) -> Option<String> {
    let err = tokio::spawn(async move { guard.assert_clean().await })
        .await
        .err()?;
    let payload = err.into_panic();
    Some(
        corral_shared::panic_message(&*payload)
            .unwrap_or_default()
            .to_owned(),
    )
}

/// A task body that waits until `stop` changes (or its sender is gone): for tasks
/// alive until the test says.
pub(crate) fn until_changed(
    stop: &tokio::sync::watch::Receiver<()>,
) -> impl Future<Output = ()> + Send + 'static {
    let mut stop = stop.clone();
    async move {
        let _ = stop.changed().await;
    }
}

/// Polls `check` once (it scans, finds something alive and starts waiting), runs
/// `open` (a latch the test holds), then awaits the rest of the check: a task that
/// ends during the grace period, with no sleep in the test.
pub(crate) async fn after_first_poll<F: Future>(check: F, open: impl FnOnce()) -> F::Output {
    let mut check = std::pin::pin!(check);
    let first = std::future::poll_fn(|cx| Poll::Ready(check.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "the check waits for what is alive");
    open();
    check.await
}

/// A blocking thread that outlives its pool: a one-thread pool named `name` runs a job
/// that blocks until the returned latch opens, and is shut down once the job runs. The
/// thread stays a stray until the test opens the latch; the handle gives the job's end.
pub(crate) async fn stray_thread(name: &'static str) -> (Latch, AcceptedJob<()>) {
    let pool = BlockingPool::builder()
        .name(name)
        .max_threads(1)
        .build()
        .unwrap();
    let (started, release) = (Latch::new(), Latch::new());
    let job = pool
        .try_run({
            let (started, release) = (started.clone(), release.clone());
            move || {
                started.open();
                release.wait();
            }
        })
        .unwrap();
    started.opened().await;
    pool.shutdown();
    (release, job)
}
