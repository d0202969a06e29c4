//! Shared by the test binaries that need it.

use std::future::Future;
use std::task::Poll;

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
