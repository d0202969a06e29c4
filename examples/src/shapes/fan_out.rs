//! Unbounded fan-out: a burst of requests, each fanning out to a slow downstream.
//!
//! With `tokio::spawn` per request nothing ever says no: every request of the burst
//! becomes a live task holding its buffers, the task count and memory climb with the
//! burst, and an unrelated endpoint on the same runtime slows down when the downstream
//! replies all arrive at once. With a `corral::pool::Pool` the task count stays at the
//! bound, the excess is refused at the door (and counted), and the unrelated endpoint
//! stays fast.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use corral::pool::{Metrics, Pool, TrySubmitError};

use super::{runtime, Bounds, Measure};
use crate::rss_bytes;
use crate::shapes::{Cell, Side};

/// Each request calls the downstream this many times concurrently.
pub const FAN_OUT: usize = 3;
/// Bytes each request holds while it waits (its request and response buffers).
pub const BUFFER: usize = 4 * 1024;
/// The burst arrives in slices this far apart.
pub const SLICE_GAP: Duration = Duration::from_millis(20);
/// Live tasks a pool's runtime may have beyond its workers and queue (the caller, the
/// pool's own bookkeeping).
pub const TASK_SLACK: u64 = 8;

/// The burst and the pool's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    /// Requests in the burst.
    pub requests: usize,
    /// Slices the burst arrives in, [`SLICE_GAP`] apart.
    pub slices: usize,
    /// How long each downstream call takes.
    pub downstream: Duration,
    /// The pool's workers.
    pub workers: usize,
    /// The pool's queue.
    pub queue: usize,
}

impl Burst {
    /// 50,000 requests over ~1 s, 1 s downstream calls, 256 workers and a queue of 512;
    /// quick: 10,000 over ~0.4 s with 300 ms calls.
    pub fn new(quick: bool) -> Burst {
        if quick {
            Burst {
                requests: 10_000,
                slices: 20,
                downstream: Duration::from_millis(300),
                workers: 256,
                queue: 512,
            }
        } else {
            Burst {
                requests: 50_000,
                slices: 50,
                downstream: Duration::from_millis(1000),
                workers: 256,
                queue: 512,
            }
        }
    }
}

async fn downstream(call: usize, delay: Duration) -> usize {
    tokio::time::sleep(delay).await;
    call
}

/// One request: a buffer, [`FAN_OUT`] concurrent downstream calls, a small answer.
async fn handle_request(id: usize, delay: Duration) -> usize {
    let buffer = vec![(id % 251) as u8; BUFFER];
    let (a, b, c) = tokio::join!(
        downstream(0, delay),
        downstream(1, delay),
        downstream(2, delay)
    );
    debug_assert_eq!(a + b + c, FAN_OUT);
    // Merge the three responses: a few microseconds of CPU per request.
    let mut acc = 0usize;
    for round in 0..FAN_OUT {
        acc = buffer
            .iter()
            .fold(acc, |h, &x| h.rotate_left(5) ^ usize::from(x) ^ round);
    }
    std::hint::black_box(acc) % 7
}

type Request = Pin<Box<dyn Future<Output = usize> + Send>>;

/// What one side saw.
#[derive(Debug, Clone)]
pub struct Report {
    /// The tour's measurements.
    pub cell: Cell,
    /// Resident memory before the runtime was built.
    pub rss_before: u64,
    /// Requests served.
    pub served: u64,
    /// The unrelated endpoint's round trips.
    pub round_trips: Vec<Duration>,
    /// corral: the pool's counters at the end.
    pub pool: Option<Metrics>,
}

/// Runs the burst on one side.
pub fn run(side: Side, burst: Burst) -> Report {
    let rss_before = rss_bytes();
    let rt = runtime();
    let measure = Measure::start(&rt);
    let (served, rejected, pool) = rt.block_on(async {
        let pool: Option<Pool<Request>> = (side == Side::Corral).then(|| {
            Pool::builder()
                .workers(burst.workers)
                .queue_capacity(burst.queue)
                .name("fan-out")
                .build()
                .expect("valid pool")
        });
        let mut spawned = Vec::new();
        let mut accepted = Vec::new();
        let mut rejected = 0u64;
        let per_slice = burst.requests / burst.slices;
        for slice in 0..burst.slices {
            for i in 0..per_slice {
                let request = Box::pin(handle_request(slice * per_slice + i, burst.downstream));
                match &pool {
                    // Nothing ever says no.
                    None => spawned.push(tokio::spawn(request)),
                    Some(pool) => match pool.try_submit(request) {
                        Ok(handle) => accepted.push(handle),
                        // The request comes back unstarted: answer "busy", counted.
                        Err(TrySubmitError::Full(_)) => rejected += 1,
                        Err(TrySubmitError::Closed(_)) => unreachable!("the pool is open"),
                    },
                }
            }
            tokio::time::sleep(SLICE_GAP).await;
        }
        let mut served = 0u64;
        for request in spawned {
            served += u64::from(request.await.is_ok());
        }
        for job in accepted {
            served += u64::from(job.await.is_ok());
        }
        let metrics = pool.as_ref().map(Pool::metrics);
        (served, rejected, metrics)
    });
    let (mut cell, round_trips) = measure.finish_detailed();
    rt.shutdown_background();
    let requests = (burst.requests / burst.slices * burst.slices) as u64;
    cell.rejected = Some(rejected);
    cell.accounted = Some(match &pool {
        None => served == requests,
        Some(m) => {
            served + rejected == requests
                && m.completed == served
                && m.rejected == rejected
                && m.submitted == m.completed + m.failed + m.cancelled + m.handed_back
        }
    });
    cell.outcome = match &pool {
        None => format!("{served}/{requests} served, 0 refused: spawn never says no"),
        Some(m) => format!(
            "{served} served + {rejected} refused at the door = {requests}; queue wait max {} ms",
            m.queue_wait.max.as_millis()
        ),
    };
    Report {
        cell,
        rss_before,
        served,
        round_trips,
        pool,
    }
}

/// One side's cell.
pub fn cell(side: Side, quick: bool) -> Cell {
    run(side, Burst::new(quick)).cell
}

/// Live tasks within workers + queue + slack; every request served or refused, counted.
pub fn judge(corral: &Cell, _tokio: &Cell, quick: bool) -> Result<String, String> {
    let burst = Burst::new(quick);
    let mut b = Bounds::default();
    let max_tasks = (burst.workers + burst.queue) as u64 + TASK_SLACK;
    b.check_value(
        "live tasks",
        corral.peak_tasks,
        |t| t <= max_tasks,
        |t| {
            format!(
                "live tasks {t} <= {max_tasks} ({} workers + queue {} + {TASK_SLACK})",
                burst.workers, burst.queue
            )
        },
    );
    b.check_value(
        "accounting",
        corral.accounted,
        |a| a,
        |a| {
            if a {
                format!(
                    "all {} requests accounted = served + refused",
                    burst.requests
                )
            } else {
                "requests went missing: served + refused != requests".into()
            }
        },
    );
    b.verdict()
}
