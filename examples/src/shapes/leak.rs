//! Leaked workers: a per-request worker parked on a channel nobody closes.
//!
//! Each request spawns a worker that serves the request's follow-up messages and exits
//! when its channel closes. A bug keeps every request's sender in a session table that
//! is never pruned, so no channel ever closes and every worker lives forever. Nothing
//! errors; memory and the task count just climb.
//!
//! With plain tokio all you can see is the runtime's alive-task count going up. With
//! corral the same code, spawned through `corral::task::Builder`, shows in the census
//! with its spawn site, count and oldest age, and a leak-checked test of one request
//! (`LeakGuard`, what `#[corral::test]` runs) fails naming that site. corral does not
//! fix the bug: it names it, in production and in the test. The leak watch
//! (`corral::task::watch`) flags the site on its own: the same handler at 50
//! requests/s on a paused clock, timed until the flag.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use corral::leak::LeakGuard;
use corral::task::Census;
use tokio::sync::mpsc;

use super::{runtime, Bounds, Measure};
use crate::shapes::{Cell, Side};

/// The name corral gives the workers.
pub const WORKER_NAME: &str = "request-worker";

/// Requests in the run: 20,000, or 5,000 quick.
pub fn requests(quick: bool) -> usize {
    if quick {
        5_000
    } else {
        20_000
    }
}

/// The watch run gives up after this long on tokio's (paused) clock; the watch is
/// expected to flag within two windows (`WATCH_BOUND`).
const WATCH_LIMIT: Duration = Duration::from_secs(300);

/// Two of the watch's default windows: the bound the corral row holds it to.
pub const WATCH_BOUND: Duration = Duration::from_secs(120);

/// The requests arrive in this many batches.
pub const BATCHES: usize = 4;

type WorkerFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The buggy handler: spawns the request's worker with `spawn` and files the sender
/// in `sessions`, which nobody ever prunes.
async fn handle_request(id: usize, sessions: &mut Vec<mpsc::Sender<u64>>, spawn: fn(WorkerFuture)) {
    let (tx, rx) = mpsc::channel(4);
    spawn(Box::pin(worker(rx)));
    tx.send(id as u64).await.expect("worker is alive");
    sessions.push(tx); // the bug: kept forever, so the worker never sees its channel close
}

/// A request's worker: handles messages until its channel closes.
async fn worker(mut rx: mpsc::Receiver<u64>) {
    let mut handled = 0u64;
    while let Some(msg) = rx.recv().await {
        handled = handled.wrapping_add(msg);
    }
    std::hint::black_box(handled);
}

fn spawn_plain(worker: WorkerFuture) {
    tokio::spawn(worker);
}

fn spawn_tracked(worker: WorkerFuture) {
    corral::task::Builder::new().name(WORKER_NAME).spawn(worker);
}

/// The leak watch on the same buggy handler at 50 requests/s, on a paused clock:
/// the site it flags and how long that took (tokio's clock), or `None` if it flagged
/// nothing within `WATCH_LIMIT`.
pub fn watch_the_leak() -> Option<(String, Duration)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("build the paused runtime");
    rt.block_on(async {
        let config = corral::task::WatchConfig::builder()
            .runtime_only(true)
            .build()
            .expect("valid settings");
        let watch = corral::task::watch(config);
        let start = tokio::time::Instant::now();
        let mut sessions = Vec::new();
        let mut id = 0;
        while watch.suspected() == 0 && start.elapsed() < WATCH_LIMIT {
            handle_request(id, &mut sessions, spawn_tracked).await;
            id += 1;
            tokio::time::sleep(Duration::from_millis(20)).await; // 50 requests/s
        }
        let flag = watch.flags().into_iter().next()?;
        Some((flag.location().to_string(), start.elapsed()))
    })
}

/// What one side saw.
#[derive(Debug)]
pub struct Report {
    /// The tour's measurements.
    pub cell: Cell,
    /// corral: the census of live tracked tasks at the end.
    pub census: Option<Census>,
    /// corral: the leak guard's report on a test of one request.
    pub guard: Option<corral::leak::Report>,
}

/// Runs `requests` requests on one side; `on_batch(requests so far, alive tasks)` is
/// called after each batch (the standalone example prints it).
pub fn run(side: Side, requests: usize, mut on_batch: impl FnMut(usize, u64)) -> Report {
    let rt = runtime();
    let measure = Measure::start(&rt);
    let spawn = match side {
        Side::Tokio => spawn_plain,
        Side::Corral => spawn_tracked,
    };
    let mut sessions = Vec::new();
    rt.block_on(async {
        for batch in 1..=BATCHES {
            for id in 0..requests / BATCHES {
                handle_request(id, &mut sessions, spawn).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            on_batch(batch * requests / BATCHES, measure.live_tasks());
        }
    });
    let (census, guard) = match side {
        Side::Tokio => (None, None),
        Side::Corral => {
            // What a leak-checked test of one request sees.
            let guard = rt.block_on(async {
                let guard = LeakGuard::builder()
                    .budget(Duration::from_millis(100))
                    .build();
                handle_request(0, &mut sessions, spawn).await;
                guard.check().await
            });
            let census = corral::task::snapshot().census();
            (Some(census), Some(guard))
        }
    };
    let mut cell = measure.finish();
    let left = cell.left_alive.unwrap_or(0);
    match (&census, &guard) {
        (Some(census), Some(guard)) => {
            let site = census.iter().next();
            cell.accounted = Some(census.total() as u64 >= left);
            cell.caught = guard
                .leaked()
                .first()
                .map(|l| l.task().location().to_string());
            cell.outcome = format!(
                "census: {} of {} alive at {} ({}); a leak-checked 1-request test fails naming {}",
                site.map_or(0, |s| s.count()),
                census.total(),
                site.map_or_else(|| "-".into(), |s| s.location().to_string()),
                site.and_then(|s| s.name()).unwrap_or("unnamed"),
                cell.caught.as_deref().unwrap_or("nothing"),
            );
            cell.watch_flag = watch_the_leak();
            match &cell.watch_flag {
                Some((site, after)) => cell.outcome.push_str(&format!(
                    "; the leak watch flags {site} after {:.0}s at 50 requests/s (paused clock)",
                    after.as_secs_f64()
                )),
                None => cell.outcome.push_str("; the leak watch flagged nothing"),
            }
        }
        _ => cell.outcome = format!("{left} tasks alive: a count, no names, no spawn sites"),
    }
    // The session table outlives the server: dropping it would close the channels.
    std::mem::forget(sessions);
    rt.shutdown_background();
    Report {
        cell,
        census,
        guard,
    }
}

/// One side's cell.
pub fn cell(side: Side, quick: bool) -> Cell {
    run(side, requests(quick), |_, _| {}).cell
}

/// The leak is reproduced, the census accounts for every leaked worker, and the guard
/// names the worker's spawn site in this file.
pub fn judge(corral: &Cell, _tokio: &Cell, quick: bool) -> Result<String, String> {
    let requests = requests(quick) as u64;
    let mut b = Bounds::default();
    b.check_value(
        "left alive",
        corral.left_alive,
        |left| left >= requests,
        |left| format!("the leak is reproduced ({left} alive)"),
    );
    b.check_value(
        "census",
        corral.accounted,
        |a| a,
        |a| {
            if a {
                "every leaked worker is in the census by spawn site".into()
            } else {
                "the census missed leaked workers".into()
            }
        },
    );
    match &corral.caught {
        Some(site) => b.check(
            site.starts_with(file!()),
            format!("the guard caught the leak and named its spawn site {site}"),
        ),
        None => b.check(false, "the guard caught nothing".into()),
    }
    match &corral.watch_flag {
        Some((site, after)) => b.check(
            site.starts_with(file!()) && *after <= WATCH_BOUND,
            format!("the leak watch flagged {site} after {after:.0?} (bound: {WATCH_BOUND:?})"),
        ),
        None => b.check(false, "the leak watch flagged nothing".into()),
    }
    b.verdict()
}
