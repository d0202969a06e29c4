//! The grace period: rescans with exponential backoff until clean or out of budget.
//!
//! Waiting uses `tokio::time::sleep`, so with paused time (`start_paused = true`) the
//! clock auto-advances whenever the runtime is idle and the whole budget passes in
//! virtual time, instantly. Auto-advance needs an idle runtime, though: a leaked task
//! that never stops being ready (a `yield_now` loop) keeps a paused clock still, and
//! the sleep would never end. So every wait also races a wall-clock watchdog (a plain
//! thread, started only once a wait is needed) that ends the grace period after the
//! same budget in real time.
//!
//! The other way round, what a scan finds may need *real* time to go away: a blocking
//! thread whose pool was just dropped is an OS thread that exits on its own clock, and
//! a paused runtime clock spends the whole budget before that thread has been
//! scheduled. So when the runtime budget is spent and the last scan still needs real
//! time (`needs_real_time`), the grace period goes on until the same budget has passed
//! on the wall clock, then scans once more.

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

/// Calls `scan` until `done` says so or `budget` runs out, waiting in between; returns
/// the last result, how many scans were made and how long was waited. A result for
/// which `needs_real_time` holds gets the budget on the wall clock too.
pub(crate) async fn retry<R>(
    budget: Duration,
    mut scan: impl FnMut() -> R,
    done: impl Fn(&R) -> bool,
    needs_real_time: impl Fn(&R) -> bool,
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
    let mut watchdog = Watchdog::start(budget);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let elapsed = start.elapsed();
        if done(&last) || watchdog.fired {
            return (last, attempts, elapsed);
        }
        if elapsed >= budget {
            if !needs_real_time(&last) {
                return (last, attempts, elapsed);
            }
            // The runtime's budget is spent (a paused clock spends it at once), but
            // OS threads may have had less than it on the wall clock: rescan with
            // backoff on the wall clock until the watchdog says the budget has passed
            // there too.
            let mut backoff = FIRST_BACKOFF;
            while !done(&last) && needs_real_time(&last) && !watchdog.fired {
                let mut tick = Watchdog::start(backoff);
                if tick.rx.is_none() {
                    break; // no thread for a wall-clock wait: stop here
                }
                watchdog.race(tick.expired()).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                last = scan();
                attempts += 1;
            }
            return (last, attempts, start.elapsed());
        }
        watchdog
            .race(tokio::time::sleep(backoff.min(budget - elapsed)))
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

    /// Waits until the watchdog fires: the budget has passed on the wall clock. Returns
    /// at once if it already fired or no watchdog thread could be started.
    async fn expired(&mut self) {
        if let Some(rx) = self.rx.take() {
            let _ = rx.await;
        }
        self.fired = true;
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
