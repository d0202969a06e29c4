//! Helpers the integration tests share.
#![allow(dead_code)]

use std::time::Duration;

/// Waits until `cond` holds (a latch, not a timing assertion); fails after a generous
/// guard so a broken promise fails the test instead of hanging it.
pub(crate) async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("never happened: {what}");
}

/// Tracked tasks alive now under `name`.
pub(crate) fn named(name: &str) -> usize {
    corral::task::snapshot()
        .iter()
        .filter(|t| t.name() == Some(name))
        .count()
}
