//! The grace period: rescans with exponential backoff until clean or out of budget.
//!
//! Each wait between scans is a `tokio::time::sleep` *and* the same span of real time,
//! spent in a `spawn_blocking` sleep. With paused time (`start_paused = true`) the
//! clock auto-advances whenever the runtime is idle, so a sleep alone would pass the
//! whole budget in virtual time in microseconds, before work done on real threads (a
//! corral blocking job, a stray pool thread finishing) could end. tokio does not
//! auto-advance while a `spawn_blocking` task runs, so the blocking sleep holds the
//! paused clock for the real span, then the runtime's sleep advances it by the same
//! span: the grace period is the budget in both clocks, and a paused clock never runs
//! past it.
//!
//! Auto-advance also needs an idle runtime: a leaked task that never stops being
//! ready (a `yield_now` loop) keeps a paused clock still, and the sleep would never
//! end. So every wait also races a wall-clock watchdog (a plain thread, started only
//! once a wait is needed) that ends the grace period after twice the budget in real
//! time.

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::oneshot;

/// First wait between scans; each wait doubles, up to [`MAX_BACKOFF`].
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(1);
/// Longest single wait between scans.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_millis(50);
/// Scans separated only by a yield, before any sleep: an aborted task is dropped the
/// next time its runtime gets to it, which a yield usually allows.
const YIELD_SCANS: u32 = 3;

/// The longest a check waits, in real time, for tokio's alive-task count to catch up
/// with tasks that are gone (see [`settle`]).
pub(crate) const SETTLE: Duration = Duration::from_millis(50);
/// Re-reads during a settle separated only by a yield, before real-time waits.
const SETTLE_YIELDS: u32 = 16;
/// Each real-time wait of a settle after the yields.
const SETTLE_WAIT: Duration = Duration::from_millis(1);

/// Re-reads `count` until it is 0 or [`SETTLE`] of real time has passed, and returns
/// the last value read (`first` if it is 0 already, without waiting).
///
/// This is for tokio's alive-task count, which lags: on a multi-thread runtime a task
/// that ends on one worker wakes its `JoinHandle` before that worker takes it out of
/// the count, so a check right after the join may still count it (for as long as
/// that worker is preempted, on a loaded machine). A task that stays alive keeps the
/// count up, so the settle can only drop what tokio was still retiring. Waits first
/// yield, then spend real time in a `spawn_blocking` sleep, which holds a paused clock
/// still (see the module docs): virtual time never moves during a settle.
pub(crate) async fn settle(first: usize, mut count: impl FnMut() -> usize) -> usize {
    let mut last = first;
    if last == 0 {
        return 0;
    }
    let deadline = std::time::Instant::now() + SETTLE;
    let mut reads = 0;
    while last > 0 && std::time::Instant::now() < deadline {
        if reads < SETTLE_YIELDS {
            tokio::task::yield_now().await;
        } else {
            // An error means the runtime is shutting down: read once more and stop.
            if tokio::task::spawn_blocking(|| std::thread::sleep(SETTLE_WAIT))
                .await
                .is_err()
            {
                return count();
            }
        }
        reads += 1;
        last = count();
    }
    last
}

/// Calls `scan` until `done` says so or `budget` runs out, waiting in between; returns
/// the last result, how many scans were made and how long was waited.
pub(crate) async fn retry<R>(
    budget: Duration,
    mut scan: impl FnMut() -> R,
    done: impl Fn(&R) -> bool,
) -> (R, u32, Duration) {
    let start = tokio::time::Instant::now();
    let mut attempts = 1;
    let mut last = scan();
    while !done(&last) && attempts <= YIELD_SCANS && !budget.is_zero() {
        tokio::task::yield_now().await;
        last = scan();
        attempts += 1;
    }
    if done(&last) || budget.is_zero() {
        return (last, attempts, start.elapsed());
    }
    // Twice the budget: with both clocks moving together (see the module docs), the
    // real-time waits run a little ahead of the runtime clock, and the watchdog is
    // only the backstop for a runtime too busy to let a paused clock move.
    let mut watchdog = Watchdog::start(budget.saturating_mul(2));
    let mut backoff = FIRST_BACKOFF;
    loop {
        let elapsed = start.elapsed();
        if done(&last) || elapsed >= budget || watchdog.fired {
            return (last, attempts, elapsed);
        }
        let wait = backoff.min(budget.saturating_sub(elapsed));
        // Started first, so the paused clock is held from now (see the module docs).
        let real = tokio::task::spawn_blocking(move || std::thread::sleep(wait));
        watchdog
            .race(async move {
                tokio::time::sleep(wait).await;
                // An error means the runtime is shutting down: nothing to wait for.
                let _ = real.await;
            })
            .await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        last = scan();
        attempts += 1;
    }
}

/// A wall-clock deadline that works when the runtime clock is paused and busy.
struct Watchdog {
    rx: Option<oneshot::Receiver<()>>,
    // Dropping this sender wakes the watchdog thread, which then exits at once.
    _stop: Option<mpsc::Sender<()>>,
    fired: bool,
}

impl Watchdog {
    fn start(budget: Duration) -> Self {
        let (tx, rx) = oneshot::channel();
        let (stop, stopped) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("corral-leak-watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(budget) {
                    let _ = tx.send(());
                }
            });
        match spawned {
            Ok(_) => Self {
                rx: Some(rx),
                _stop: Some(stop),
                fired: false,
            },
            // No thread: fall back to the runtime clock alone.
            Err(_) => Self {
                rx: None,
                _stop: None,
                fired: false,
            },
        }
    }

    /// Waits for `sleep` or the watchdog, whichever comes first.
    async fn race(&mut self, sleep: impl Future<Output = ()>) {
        let mut sleep = pin!(sleep);
        std::future::poll_fn(|cx| {
            if let Some(rx) = self.rx.as_mut() {
                if std::pin::Pin::new(rx).poll(cx).is_ready() {
                    self.rx = None;
                    self.fired = true;
                    return Poll::Ready(());
                }
            }
            sleep.as_mut().poll(cx)
        })
        .await;
    }
}
