//! fan_out: a burst of requests, each fanning out to a slow downstream.
//!
//! With `tokio::spawn` per request nothing ever says no: every request of the burst
//! becomes a live task holding its buffers, the task count and memory climb with the
//! burst, and an unrelated endpoint on the same runtime slows down when the downstream
//! replies all arrive at once. With a `corral_pool::Pool` the task count stays at the
//! bound, the excess is refused at the door (and counted), and the unrelated endpoint
//! stays fast.
//!
//! Run: `cargo run --release -p corral-examples --example fan_out` (a few seconds).

use std::future::Future;
use std::time::{Duration, Instant};

use corral_examples::{mib, percentile, rss_bytes, Sampler};
use corral_pool::{Builder, TrySubmitError};
use tokio::runtime::Handle;

/// Requests in the burst.
const REQUESTS: usize = 50_000;
/// The burst arrives over about one second, in slices.
const SLICES: usize = 50;
const SLICE_GAP: Duration = Duration::from_millis(20);
/// Each request calls the downstream this many times concurrently...
const FAN_OUT: usize = 3;
/// ...and each call takes this long.
const DOWNSTREAM: Duration = Duration::from_millis(1000);
/// Bytes each request holds while it waits (its request and response buffers).
const BUFFER: usize = 4 * 1024;
/// The pool's bounds.
const WORKERS: usize = 256;
const QUEUE: usize = 512;

async fn downstream(call: usize) -> usize {
    tokio::time::sleep(DOWNSTREAM).await;
    call
}

/// One request: a buffer, three concurrent downstream calls, a small answer.
async fn handle_request(id: usize) -> usize {
    let buffer = vec![(id % 251) as u8; BUFFER];
    let (a, b, c) = tokio::join!(downstream(0), downstream(1), downstream(2));
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

/// The unrelated endpoint: a task on the same runtime answering pings.
async fn unrelated_endpoint(
    mut pings: tokio::sync::mpsc::UnboundedReceiver<std::sync::mpsc::Sender<()>>,
) {
    while let Some(reply) = pings.recv().await {
        let _ = reply.send(());
    }
}

/// Its client, on a plain OS thread outside the runtime: a ping every 2 ms until
/// `stop`, returning the round-trip latencies.
fn endpoint_client(
    pings: tokio::sync::mpsc::UnboundedSender<std::sync::mpsc::Sender<()>>,
    stop: std::sync::mpsc::Receiver<()>,
) -> std::thread::JoinHandle<Vec<Duration>> {
    std::thread::spawn(move || {
        let mut latencies = Vec::new();
        while stop.try_recv().is_err() {
            let (tx, rx) = std::sync::mpsc::channel();
            let start = Instant::now();
            if pings.send(tx).is_err() {
                break;
            }
            rx.recv().expect("endpoint answers");
            latencies.push(start.elapsed());
            std::thread::sleep(Duration::from_millis(2));
        }
        latencies
    })
}

#[derive(Debug, Default)]
struct Report {
    accepted: usize,
    rejected: usize,
    peak_tasks: u64,
    rss_growth: u64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    wall: Duration,
}

/// Runs the burst with `admit` deciding what happens to each request, measuring
/// everything the same way for both sides.
async fn run_burst<A, W>(mut admit: A, wait_all: W) -> Report
where
    A: FnMut(usize) -> bool,
    W: Future<Output = ()>,
{
    let handle = Handle::current();
    let baseline = rss_bytes();
    let sampler = Sampler::with_probe(move || handle.metrics().num_alive_tasks() as u64);
    let (ping_tx, ping_rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = tokio::spawn(unrelated_endpoint(ping_rx));
    let (stop, stopped) = std::sync::mpsc::channel();
    let client = endpoint_client(ping_tx, stopped);
    let start = Instant::now();
    let mut report = Report::default();
    for slice in 0..SLICES {
        for i in 0..REQUESTS / SLICES {
            if admit(slice * (REQUESTS / SLICES) + i) {
                report.accepted += 1;
            } else {
                report.rejected += 1;
            }
        }
        tokio::time::sleep(SLICE_GAP).await;
    }
    wait_all.await;
    report.wall = start.elapsed();
    let _ = stop.send(());
    let mut latencies = client.join().expect("client thread");
    endpoint.await.expect("endpoint task");
    let peaks = sampler.stop();
    report.peak_tasks = peaks.probe;
    report.rss_growth = peaks.rss_bytes.saturating_sub(baseline);
    report.p50 = percentile(&mut latencies, 0.50);
    report.p99 = percentile(&mut latencies, 0.99);
    report.max = percentile(&mut latencies, 1.0);
    report
}

async fn with_pool() -> Report {
    let pool = Builder::new()
        .workers(WORKERS)
        .queue_capacity(QUEUE)
        .name("fan-out")
        .build()
        .expect("valid pool");
    let mut handles = Vec::new();
    let pool_ref = &pool;
    let report = run_burst(
        |id| match pool_ref.try_submit(handle_request(id)) {
            Ok(h) => {
                handles.push(h);
                true
            }
            // The request comes back unstarted: answer "busy" instead of queueing it.
            Err(TrySubmitError::Full(_)) => false,
            Err(TrySubmitError::Closed(_)) => unreachable!("pool is open"),
        },
        async {
            pool_ref
                .drain(tokio::time::Instant::now() + Duration::from_secs(20))
                .await
                .expect("pool drains");
        },
    )
    .await;
    let m = pool.metrics();
    assert_eq!(
        m.rejected as usize, report.rejected,
        "the pool counts them too"
    );
    assert_eq!(m.completed as usize, report.accepted);
    drop(handles);
    println!(
        "pool metrics: submitted {} completed {} rejected {} queue wait mean {:?} max {:?}",
        m.submitted,
        m.completed,
        m.rejected,
        m.queue_wait.mean(),
        m.queue_wait.max
    );
    report
}

async fn with_spawn() -> Report {
    let mut handles = Vec::new();
    let handles_ref = &mut handles;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let report = run_burst(
        |id| {
            let done = done_tx.clone();
            handles_ref.push(tokio::spawn(async move {
                let out = handle_request(id).await;
                let _ = done.send(());
                out
            }));
            true
        },
        async {
            for _ in 0..REQUESTS {
                done_rx.recv().await.expect("every request reports");
            }
        },
    )
    .await;
    for h in handles {
        h.await.expect("request task");
    }
    report
}

fn main() {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    };
    println!(
        "burst: {REQUESTS} requests over ~{:?}, each fanning out {FAN_OUT} calls of {:?} \
         and holding {BUFFER} bytes; 2 runtime threads",
        SLICE_GAP * SLICES as u32,
        DOWNSTREAM
    );
    // The pool runs first so the plain run's allocations do not inflate its baseline.
    let pool = runtime().block_on(with_pool());
    let plain = runtime().block_on(with_spawn());

    let row = |label: &str, a: String, b: String| println!("{label:<28} {a:>20} {b:>26}");
    row(
        "",
        "tokio::spawn".into(),
        format!("Pool({WORKERS} workers, q {QUEUE})"),
    );
    row(
        "requests served",
        plain.accepted.to_string(),
        pool.accepted.to_string(),
    );
    row(
        "requests refused (counted)",
        plain.rejected.to_string(),
        pool.rejected.to_string(),
    );
    row(
        "peak live tasks",
        plain.peak_tasks.to_string(),
        pool.peak_tasks.to_string(),
    );
    row(
        "peak RSS growth",
        mib(plain.rss_growth),
        mib(pool.rss_growth),
    );
    row(
        "unrelated endpoint p50",
        format!("{:?}", plain.p50),
        format!("{:?}", pool.p50),
    );
    row(
        "unrelated endpoint p99",
        format!("{:?}", plain.p99),
        format!("{:?}", pool.p99),
    );
    row(
        "unrelated endpoint max",
        format!("{:?}", plain.max),
        format!("{:?}", pool.max),
    );
    row(
        "wall time",
        format!("{:.2?}", plain.wall),
        format!("{:.2?}", pool.wall),
    );
}
