//! Cancellation not propagated: clients leave mid-request; does the upstream work stop?
//!
//! A loopback TCP proxy answers each client request by fanning out to three calls to a
//! slow upstream. Every client hangs up shortly after asking. The proxy's handler
//! notices (its read returns EOF) and returns, dropping its work:
//!
//! - plain tokio: the upstream calls were `tokio::spawn`ed; dropping their
//!   `JoinHandle`s detaches them, so they run on for the rest of the upstream's delay,
//!   holding sockets, for a client that is gone. Under load they pile up.
//! - corral: the calls are children of a `corral::scope::scope`; dropping the scope
//!   aborts them at once.
//!
//! The proxy runs on the runtime under test, so its live-task count is the proxy's
//! alone; the upstream server and the clients run on another runtime.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::{runtime, Bounds, Measure};
use crate::shapes::{Cell, Side};

/// Upstream calls per client request.
pub const FAN_OUT: usize = 3;
/// How long a client waits before hanging up.
pub const CLIENT_PATIENCE: Duration = Duration::from_millis(100);
/// How long the proxy gets to notice that every client left.
pub const GRACE: Duration = Duration::from_millis(300);

/// The workload's size.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Clients, all at once.
    pub clients: usize,
    /// How long the upstream takes to answer.
    pub upstream_delay: Duration,
}

impl Load {
    /// 300 clients and a 2 s upstream; quick: 100 and 1 s.
    pub fn new(quick: bool) -> Load {
        if quick {
            Load {
                clients: 100,
                upstream_delay: Duration::from_secs(1),
            }
        } else {
            Load {
                clients: 300,
                upstream_delay: Duration::from_secs(2),
            }
        }
    }
}

/// A loopback listener with a backlog deep enough for the whole burst of connects (an
/// overflowing accept queue drops SYNs, and the client's retry comes a second later).
async fn listen() -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    socket.listen(4096)
}

/// The slow upstream: answers each line after `delay`.
async fn upstream_server(listener: TcpListener, delay: Duration) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let (read, mut write) = conn.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(_request)) = lines.next_line().await {
                tokio::time::sleep(delay).await;
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
    // A plain counter read after the run: no ordering with other data is needed.
    fetched.fetch_add(1, Ordering::Relaxed);
    Ok(answer)
}

/// The handler's work: fan out to the upstream and join the answers.
async fn fan_out(side: Side, upstream: SocketAddr, fetched: Arc<AtomicU64>) -> String {
    match side {
        Side::Tokio => {
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
        Side::Corral => corral::scope::scope(|s| async move {
            let mut results = corral::scope::Results::new();
            for _ in 0..FAN_OUT {
                results.push(s.go(upstream_call(upstream, fetched.clone())));
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
async fn handle(side: Side, conn: TcpStream, upstream: SocketAddr, fetched: Arc<AtomicU64>) {
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
        answer = fan_out(side, upstream, fetched) => {
            let _ = write.write_all(answer.as_bytes()).await;
        }
    }
}

async fn proxy(listener: TcpListener, side: Side, upstream: SocketAddr, fetched: Arc<AtomicU64>) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(handle(side, conn, upstream, fetched.clone()));
    }
}

/// A client that asks, waits `CLIENT_PATIENCE`, and hangs up.
async fn impatient_client(proxy: SocketAddr) {
    if let Ok(mut conn) = TcpStream::connect(proxy).await {
        let _ = conn.write_all(b"GET /slow\n").await;
        tokio::time::sleep(CLIENT_PATIENCE).await;
    }
}

/// What one side saw.
#[derive(Debug, Clone)]
pub struct Report {
    /// The tour's measurements; `left_alive` is counted [`GRACE`] after the last
    /// client left.
    pub cell: Cell,
    /// Upstream answers fetched for clients that were gone.
    pub fetched_for_nobody: u64,
    /// How long the leftover tasks took to finish by themselves (at most 5 s).
    pub drained_after: Duration,
}

/// Runs the clients against the proxy on one side.
pub fn run(side: Side, load: Load) -> Report {
    // The upstream and the clients: another runtime, not measured.
    let world = runtime();
    let upstream_listener = world.block_on(listen()).expect("bind upstream");
    let upstream = upstream_listener.local_addr().expect("upstream addr");
    world.spawn(upstream_server(upstream_listener, load.upstream_delay));

    let proxy_rt = runtime();
    let fetched = Arc::new(AtomicU64::new(0));
    let listener = proxy_rt.block_on(listen()).expect("bind proxy");
    let proxy_addr = listener.local_addr().expect("proxy addr");
    // The accept loop is the proxy's one long-lived task.
    let accept_loop = 1;
    let measure = Measure::start_excluding(&proxy_rt, accept_loop);
    proxy_rt.spawn(proxy(listener, side, upstream, fetched.clone()));

    world.block_on(async {
        let clients: Vec<_> = (0..load.clients)
            .map(|_| tokio::spawn(impatient_client(proxy_addr)))
            .collect();
        for client in clients {
            let _ = client.await;
        }
        // Every client is gone; give the proxy a moment to notice.
        tokio::time::sleep(GRACE).await;
    });
    let mut cell = measure.finish();
    let left = cell.left_alive.unwrap_or(0);

    let start = Instant::now();
    let metrics = proxy_rt.metrics();
    // The endpoint is gone now: only the accept loop should be alive.
    while metrics.num_alive_tasks() as u64 > accept_loop && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let drained_after = start.elapsed();
    let fetched_for_nobody = fetched.load(Ordering::Relaxed);
    cell.outcome = format!(
        "{left} tasks still working for {} departed clients; {fetched_for_nobody} upstream answers fetched for nobody",
        load.clients
    );
    proxy_rt.shutdown_background();
    world.shutdown_background();
    Report {
        cell,
        fetched_for_nobody,
        drained_after,
    }
}

/// One side's cell.
pub fn cell(side: Side, quick: bool) -> Cell {
    run(side, Load::new(quick)).cell
}

/// Nothing of a departed client's work is left alive.
pub fn judge(corral: &Cell, _tokio: &Cell, _quick: bool) -> Result<String, String> {
    let mut b = Bounds::default();
    b.check_value(
        "left alive",
        corral.left_alive,
        |left| left == 0,
        |left| {
            format!(
                "{left} tasks left alive {} ms after the last client left (bound: 0)",
                GRACE.as_millis()
            )
        },
    );
    b.verdict()
}
