//! Waiting for an effect another thread or task produces, with a bound that only
//! catches hangs.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long an `eventually` waits before it gives up and fails the test. Generous on
/// purpose: it only turns a hang into a failure with a message; no test passes or
/// fails by how fast something happened. Measured on the wall clock (`std`'s, not
/// tokio's), so a paused tokio clock neither shortens nor stretches it.
pub const GIVE_UP: Duration = Duration::from_secs(20);

/// How often the condition is checked.
const EVERY: Duration = Duration::from_millis(1);

/// Waits, on tokio's timer, until `cond()` holds, checking it every millisecond.
///
/// For effects the test cannot await directly: a pool thread finishing a job, a counter
/// another task bumps. Works with paused time too (tokio then skips the sleeps, so the
/// check spins while other threads make progress).
///
/// # Panics
///
/// If `cond()` still does not hold after [`GIVE_UP`], with `what` in the message.
///
/// # Cancel safety
///
/// Dropping the future only stops the checking.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        give_up_after(start, GIVE_UP, what);
        tokio::time::sleep(EVERY).await;
    }
}

/// [`eventually`] for a condition that must itself be awaited (a query to a server).
///
/// # Panics
///
/// If the condition still does not hold after [`GIVE_UP`], with `what` in the message.
///
/// # Cancel safety
///
/// Dropping the future drops the condition's future in flight, if any.
pub async fn eventually_async<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        give_up_after(start, GIVE_UP, what);
        tokio::time::sleep(EVERY).await;
    }
}

/// [`eventually`] for code outside a runtime: sleeps the thread between checks.
///
/// # Panics
///
/// If `cond()` still does not hold after [`GIVE_UP`], with `what` in the message.
///
/// # Blocking
///
/// Blocks the calling thread until the condition holds.
pub fn eventually_blocking(what: &str, cond: impl FnMut() -> bool) {
    blocking_within(what, GIVE_UP, cond);
}

fn blocking_within(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        give_up_after(start, bound, what);
        std::thread::sleep(EVERY);
    }
}

#[track_caller]
fn give_up_after(start: Instant, bound: Duration, what: &str) {
    assert!(
        start.elapsed() < bound,
        "gave up after {bound:?} (a hang, not a slow run): never held: {what}"
    );
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn returns_once_another_thread_makes_the_condition_true() {
        let count = Arc::new(AtomicU32::new(0));
        let bumper = std::thread::spawn({
            let count = count.clone();
            move || {
                for _ in 0..3 {
                    count.fetch_add(1, SeqCst);
                    std::thread::yield_now();
                }
            }
        });
        eventually("three bumps", || count.load(SeqCst) == 3).await;
        eventually_async("three bumps, awaited", || {
            let count = count.clone();
            async move { count.load(SeqCst) == 3 }
        })
        .await;
        eventually_blocking("three bumps, blocking", || count.load(SeqCst) == 3);
        bumper.join().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn paused_time_does_not_end_the_wait_early() {
        // A paused clock skips the sleeps; the bound is on the wall clock, so a
        // condition another thread makes true a little later is still seen.
        let count = Arc::new(AtomicU32::new(0));
        let bumper = std::thread::spawn({
            let count = count.clone();
            move || {
                std::thread::sleep(Duration::from_millis(20));
                count.store(1, SeqCst);
            }
        });
        eventually("set after 20 ms of real time", || count.load(SeqCst) == 1).await;
        bumper.join().unwrap();
    }

    #[test]
    #[should_panic(expected = "never held: the impossible")]
    fn a_condition_that_never_holds_fails_with_its_name() {
        blocking_within("the impossible", Duration::from_millis(10), || false);
    }
}
