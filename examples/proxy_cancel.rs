//! proxy_cancel: clients leave mid-request; does the upstream work stop?
//!
//! A loopback TCP proxy answers each client request by fanning out to three calls to a
//! slow upstream (2 s per answer). Every client hangs up 100 ms after asking. The
//! proxy's handler notices (its read returns EOF) and returns, dropping its work:
//!
//! - plain tokio: the upstream calls were `tokio::spawn`ed; dropping their `JoinHandle`s
//!   detaches them, so they run on for the rest of the 2 s, holding sockets, for a client
//!   that is gone. Under load they pile up.
//! - corral: the calls are children of a `corral_scope::scope`; dropping the scope
//!   aborts them at once.
//!
//! The proxy runs on its own runtime so its live-task count (`num_alive_tasks`) is the
//! proxy's alone; the upstream server and the clients run on another runtime.
//!
//! `cargo run -p corral-examples --example proxy_cancel`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_examples::Sampler;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

const CLIENTS: usize = 300;
const FAN_OUT: usize = 3;
const UPSTREAM_DELAY: Duration = Duration::from_secs(2);
const CLIENT_PATIENCE: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    PlainSpawn,
    Scope,
}

/// The slow upstream: answers each line after `UPSTREAM_DELAY`.
async fn upstream_server(listener: TcpListener) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let (read, mut write) = conn.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(_request)) = lines.next_line().await {
                tokio::time::sleep(UPSTREAM_DELAY).await;
                if write.write_all(b"answer\n").await.is_err() {
                    break;
                }
            }
        });
    }
}

/// One upstream call: connect, ask, wait for the answer.
async fn upstream_call(upstream: SocketAddr, fetched: Arc<AtomicU64>) -> std::io::Result<String> {
    let conn = TcpStream::connect(upstream).await?;
    let (read, mut write) = conn.into_split();
    write.write_all(b"query\n").await?;
    let mut answer = String::new();
    BufReader::new(read).read_line(&mut answer).await?;
    fetched.fetch_add(1, Ordering::Relaxed);
    Ok(answer)
}

/// The handler's work: fan out to the upstream and join the answers.
async fn fan_out(mode: Mode, upstream: SocketAddr, fetched: Arc<AtomicU64>) -> String {
    match mode {
        Mode::PlainSpawn => {
            let calls: Vec<_> = (0..FAN_OUT)
                .map(|_| tokio::spawn(upstream_call(upstream, fetched.clone())))
                .collect();
            let mut out = String::new();
            for call in calls {
                if let Ok(Ok(answer)) = call.await {
                    out.push_str(&answer);
                }
            }
            out
        }
        Mode::Scope => corral_scope::scope(|s| async move {
            let mut results = corral_scope::Results::new();
            for _ in 0..FAN_OUT {
                // Inside its own scope, spawn is never refused (a cancelled scope stops
                // the caller first), so this expect cannot fire.
                let call = s.spawn(upstream_call(upstream, fetched.clone())).await;
                results.push(call.expect("own scope"));
            }
            results
                .join()
                .await
                .map_err(std::io::Error::other)
                .map(|answers| answers.concat())
        })
        .await
        .unwrap_or_default(),
    }
}

/// One client connection: read the request, then race the work against the client
/// hanging up.
async fn handle(mode: Mode, conn: TcpStream, upstream: SocketAddr, fetched: Arc<AtomicU64>) {
    let (read, mut write) = conn.into_split();
    let mut reader = BufReader::new(read);
    let mut request = String::new();
    if reader.read_line(&mut request).await.unwrap_or(0) == 0 {
        return;
    }
    let mut probe = [0u8; 1];
    tokio::select! {
        // The client hung up: return, dropping the work.
        _ = reader.read(&mut probe) => {}
        answer = fan_out(mode, upstream, fetched) => {
            let _ = write.write_all(answer.as_bytes()).await;
        }
    }
}

async fn proxy(listener: TcpListener, mode: Mode, upstream: SocketAddr, fetched: Arc<AtomicU64>) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(handle(mode, conn, upstream, fetched.clone()));
    }
}

/// A client that asks, waits `CLIENT_PATIENCE`, and hangs up.
async fn impatient_client(proxy: SocketAddr) {
    if let Ok(mut conn) = TcpStream::connect(proxy).await {
        let _ = conn.write_all(b"GET /slow\n").await;
        tokio::time::sleep(CLIENT_PATIENCE).await;
    }
}

struct Report {
    peak_tasks: u64,
    left_behind: usize,
    fetched_for_nobody: u64,
    drained_after: Duration,
}

fn run(mode: Mode, world: &Runtime, upstream: SocketAddr) -> Report {
    let proxy_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("proxy runtime");
    // A plain counter read after the run: `Relaxed` needs no ordering with other data.
    let fetched = Arc::new(AtomicU64::new(0));
    let listener = proxy_rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind proxy");
    let proxy_addr = listener.local_addr().expect("proxy addr");
    proxy_rt.spawn(proxy(listener, mode, upstream, fetched.clone()));
    // The accept loop is the proxy's only long-lived task.
    let baseline = 1;
    let metrics = proxy_rt.handle().metrics();
    let sampler = {
        let metrics = metrics.clone();
        Sampler::with_probe(move || metrics.num_alive_tasks().saturating_sub(baseline) as u64)
    };

    world.block_on(async {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| tokio::spawn(impatient_client(proxy_addr)))
            .collect();
        for client in clients {
            let _ = client.await;
        }
        // Every client is gone; give the proxy a moment to notice.
        tokio::time::sleep(Duration::from_millis(300)).await;
    });
    let left_behind = metrics.num_alive_tasks().saturating_sub(baseline);
    let peaks = sampler.stop();

    let start = Instant::now();
    while metrics.num_alive_tasks() > baseline && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let drained_after = start.elapsed();
    let report = Report {
        peak_tasks: peaks.probe,
        left_behind,
        fetched_for_nobody: fetched.load(Ordering::Relaxed),
        drained_after,
    };
    proxy_rt.shutdown_background();
    report
}

fn main() {
    let world = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("world runtime");
    let upstream_listener = world
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind upstream");
    let upstream = upstream_listener.local_addr().expect("upstream addr");
    world.spawn(upstream_server(upstream_listener));

    println!(
        "{CLIENTS} clients each ask once and hang up after {CLIENT_PATIENCE:?}; each request \
         fans out to {FAN_OUT} upstream calls that take {UPSTREAM_DELAY:?}.\n"
    );
    println!(
        "{:<22} {:>16} {:>24} {:>22} {:>18}",
        "proxy",
        "peak live tasks",
        "live after clients left",
        "answers for nobody",
        "tasks drained in"
    );
    for (mode, label) in [
        (Mode::PlainSpawn, "tokio::spawn"),
        (Mode::Scope, "corral_scope::scope"),
    ] {
        let r = run(mode, &world, upstream);
        println!(
            "{label:<22} {:>16} {:>24} {:>22} {:>15} ms",
            r.peak_tasks,
            r.left_behind,
            r.fetched_for_nobody,
            r.drained_after.as_millis()
        );
    }
    println!(
        "\nWith tokio::spawn the upstream calls outlive their clients and finish work nobody \
         reads; in a scope they are aborted when the handler drops its work."
    );
    world.shutdown_background();
}
