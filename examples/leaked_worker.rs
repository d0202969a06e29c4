//! leaked_worker: a per-request worker parked on a channel nobody closes.
//!
//! The failure shape: each request spawns a worker that serves the request's stream of
//! follow-up messages and exits when its channel closes. A bug keeps every request's
//! sender in a session table that is never pruned, so no channel ever closes and every
//! worker lives forever. Nothing errors; memory and the task count just climb.
//!
//! With plain tokio all you can see is the runtime's alive-task count going up. With
//! corral the same code, spawned through `corral::spawn`, shows in the census with its
//! spawn site, count and oldest age, and a leak-checked test of one request fails
//! naming that site.
//!
//! Run: `cargo run --release -p corral-examples --example leaked_worker`

use std::future::Future;
use std::time::Duration;

use corral_examples::Sampler;
use corral_leak::LeakGuard;
use tokio::sync::mpsc;

const REQUESTS: usize = 20_000;
const BATCHES: usize = 4;

/// The buggy handler: spawns the request's worker with `spawn` and files the sender
/// in `sessions`, which nobody ever prunes.
async fn handle_request<S, F>(id: usize, sessions: &mut Vec<mpsc::Sender<u64>>, spawn: S)
where
    S: Fn(F),
    F: Future<Output = ()> + Send + 'static,
    F: From<Worker>,
{
    let (tx, rx) = mpsc::channel(4);
    spawn(F::from(Worker { rx }));
    tx.send(id as u64).await.expect("worker is alive");
    sessions.push(tx); // the bug: kept forever, so the worker never sees its channel close
}

/// A request's worker: handles messages until its channel closes.
struct Worker {
    rx: mpsc::Receiver<u64>,
}

impl Worker {
    async fn run(mut self) {
        let mut handled = 0u64;
        while let Some(msg) = self.rx.recv().await {
            handled = handled.wrapping_add(msg);
        }
        std::hint::black_box(handled);
    }
}

/// Boxed so both variants share `handle_request`.
struct WorkerFuture(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>);

impl From<Worker> for WorkerFuture {
    fn from(w: Worker) -> Self {
        WorkerFuture(Box::pin(w.run()))
    }
}

impl Future for WorkerFuture {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn main() {
    println!("{REQUESTS} requests, each spawning a worker on a channel nobody closes\n");

    // --- plain tokio: only a number goes up -------------------------------------------
    let rt = runtime();
    let metrics = rt.handle().metrics();
    let sampler = Sampler::with_probe({
        let metrics = metrics.clone();
        move || metrics.num_alive_tasks() as u64
    });
    rt.block_on(async {
        let mut sessions = Vec::new();
        println!("plain tokio::spawn:");
        for batch in 1..=BATCHES {
            for id in 0..REQUESTS / BATCHES {
                handle_request(id, &mut sessions, |w: WorkerFuture| {
                    tokio::spawn(w);
                })
                .await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            println!(
                "  after {:>6} requests: {:>6} alive tasks (which? spawned where? no way to tell)",
                batch * REQUESTS / BATCHES,
                metrics.num_alive_tasks()
            );
        }
        std::mem::forget(sessions); // the table outlives the server
    });
    let plain = sampler.stop();
    drop(rt);

    // --- corral: the census names the spawn site ------------------------------------
    let rt = runtime();
    let sampler = Sampler::with_probe(|| corral_task::live_count() as u64);
    rt.block_on(async {
        let mut sessions = Vec::new();
        println!("\ncorral::spawn (census of live tracked tasks):");
        for batch in 1..=BATCHES {
            for id in 0..REQUESTS / BATCHES {
                handle_request(id, &mut sessions, |w: WorkerFuture| {
                    corral_task::Builder::new().name("request-worker").spawn(w);
                })
                .await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            println!("  after {:>6} requests:", batch * REQUESTS / BATCHES);
            for line in corral_task::snapshot().census().to_string().lines() {
                println!("    {line}");
            }
        }
        std::mem::forget(sessions);
    });
    let tracked = sampler.stop();
    drop(rt);

    // --- the leak guard catches it in a test of a single request --------------------
    let rt = runtime();
    let report = rt.block_on(async {
        let guard = LeakGuard::builder()
            .budget(Duration::from_millis(100))
            .build();
        let mut sessions = Vec::new();
        handle_request(0, &mut sessions, |w: WorkerFuture| {
            corral_task::Builder::new().name("request-worker").spawn(w);
        })
        .await;
        let report = guard.check().await;
        std::mem::forget(sessions);
        report
    });
    println!("\na leak-checked test of one request (LeakGuard / #[corral::test]):");
    for line in report.to_string().lines() {
        println!("    {line}");
    }
    drop(rt);

    println!("\nsummary ({REQUESTS} requests):");
    println!(
        "  plain tokio: peak {} alive tasks; the leak shows only as a count",
        plain.probe
    );
    println!(
        "  corral:      peak {} tracked tasks, all at 1 spawn site the census names; the guard fails the test ({} leaked)",
        tracked.probe,
        report.leaked().len()
    );
}
