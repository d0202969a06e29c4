//! production_view: a small service whose bounds are visible as Prometheus metrics
//! (issue #15). See `examples/production_view.rs`; the test in
//! `tests/production_view.rs` starts it in-process and scrapes it.
//!
//! The service: requests take a permit of the `db` semaphore (one gives up after a
//! timeout, one asks for more than the capacity), hand image work to the `images` pool
//! (one job panics, one submission is refused while the pool is full), and each spawns
//! a healthy `request` task that ends, plus a `session-worker` parked on a channel
//! nobody closes: the seed leak, one per request. A `legacy` semaphore is closed and
//! refuses. A blocking pool `fs` runs a few file reads and a resolver `dns` (a stub
//! lookup, no network) resolves a few hosts. `corral::task::export_metrics` samples the census, and the Prometheus text
//! is served at `http://<addr>/metrics` on 127.0.0.1.
//!
//! Then traffic keeps coming (one connection every [`TRAFFIC_PERIOD`], each leaking a
//! `session-worker` from the same spawn line and streaming a healthy `reply` task for
//! [`REPLY_TIME`]) while `corral::task::watch` samples the census: it flags the
//! session workers' site (a `tracing` warning naming the site, the task name, the
//! count, the growth and the oldest age, and the gauge `corral_task_suspected_leaks`
//! at 1 for that site) and never the replies', which churn.
//!
//! # The watch's settings here
//!
//! The defaults (a sample every 10 s over a window of 6, at least 32 tasks of growth)
//! would flag this leak about a minute in. An example that serves HTTP runs on the
//! real clock (paused time would stop the clock its listener and its scraper live
//! by), and must end by itself in a few seconds, so it scales the watch down 100
//! times: a sample every [`WATCH_INTERVAL`] (100 ms) over a window of [`WATCH_WINDOW`]
//! (5) steps, half a second, and at least [`WATCH_MIN_GROWTH`] (25) tasks of growth.
//! It flags the leak about half a second after the traffic starts. The traffic is
//! scaled with it, so the margins the rule relies on stay wide: the leak grows by
//! about 100 tasks a window, four times the minimum; a reply lives a tenth of the
//! window, so no reply is alive through a whole one, and about 10 are alive at once,
//! under the minimum growth even if they all piled up.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral::blocking::{BlockingPool, Resolver};
use corral::pool::{BoxJob, Builder as PoolBuilder, Pool, TrySubmitError};
use corral::semaphore::Semaphore;
use corral::task::{Flag, Watch, WatchConfig, WatchConfigError, WatchEvent};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Requests the workload serves; the leaky site ends with this many live workers.
pub const REQUESTS: usize = 50;
/// Jobs the pool completes: one per request, plus the two that filled it.
pub const JOBS_COMPLETED: u64 = REQUESTS as u64 + 2;
/// Blocking file reads the service makes on the `fs` blocking pool.
pub const FILE_READS: u64 = 5;
/// Lookups of distinct hosts on the `dns` resolver (a stub: no network).
pub const LOOKUPS: u64 = 3;
/// How often the census is sampled.
pub const CENSUS_INTERVAL: Duration = Duration::from_millis(50);
/// The leak watch's sampling interval (the default is 10 s; see the module docs).
pub const WATCH_INTERVAL: Duration = Duration::from_millis(100);
/// The leak watch's window, in samples (the default is 6).
pub const WATCH_WINDOW: usize = 5;
/// The growth over a window the leak watch flags (the default is 32).
pub const WATCH_MIN_GROWTH: usize = 25;
/// One connection arrives every this long once the workload is done.
pub const TRAFFIC_PERIOD: Duration = Duration::from_millis(5);
/// How long a connection's healthy `reply` task lives.
pub const REPLY_TIME: Duration = Duration::from_millis(50);
/// The traffic stops after this many connections (about 5 minutes), so a `--serve`
/// run does not leak without end; the watch then clears its flag a window later.
pub const CONNECTIONS: usize = 60_000;

/// The running service: its metrics address and what keeps it alive.
#[derive(Debug)]
pub struct Running {
    /// Where `GET /metrics` answers (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
    server: JoinHandle<()>,
    exporter: JoinHandle<()>,
    /// The leak: the session table nobody prunes, holding every worker's sender.
    sessions: Vec<mpsc::Sender<()>>,
    pool: Pool<BoxJob<u32>>,
    /// Kept alive: a dropped semaphore takes its share out of its gauges.
    db: Arc<Semaphore>,
    legacy: Arc<Semaphore>,
    fs: BlockingPool,
    dns: Resolver,
    watching: Watching,
}

/// The leak watch, the traffic it watches and when it first flagged.
#[derive(Debug)]
struct Watching {
    watch: Watch,
    traffic: JoinHandle<()>,
    /// Time from the watch's start to its first flag, once there is one.
    flagged: tokio::sync::watch::Receiver<Option<Duration>>,
}

impl Running {
    /// Waits for the leak watch's first flag and returns how long after the watch
    /// started it came (real time, since the traffic started); `None` if the watch
    /// stopped first. The watch's `tracing` warning and its gauge come before.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing; the time stays recorded.
    pub async fn flagged(&self) -> Option<Duration> {
        let mut flagged = self.watching.flagged.clone();
        let first = flagged.wait_for(Option::is_some).await.ok()?;
        *first
    }

    /// The sites the leak watch flags now.
    pub fn flags(&self) -> Vec<Flag> {
        self.watching.watch.flags()
    }

    /// How many samples the leak watch has taken.
    pub fn watch_samples(&self) -> u64 {
        self.watching.watch.samples()
    }

    /// Stops the server, the census exporter, the traffic and the leak watch, closes
    /// the sessions (ending the leaked workers) and shuts the pool down.
    pub fn stop(self) {
        self.server.abort();
        self.exporter.abort();
        self.watching.traffic.abort();
        drop(self.watching.watch);
        drop(self.sessions);
        drop(self.pool.shutdown_now());
        self.db.close();
        drop((self.legacy, self.fs, self.dns));
    }
}

/// Installs the Prometheus recorder as the global one, runs the workload to the end,
/// then serves the metrics and starts the census exporter. Call once per process (the
/// global recorder can be set once).
///
/// # Errors
///
/// If the recorder cannot be installed or the listener cannot bind.
pub async fn start() -> io::Result<Running> {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[0.001, 0.01, 0.1, 1.0, 10.0])
        .map_err(io::Error::other)?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(io::Error::other)?;

    // Named primitives register their series now, with the recorder just installed.
    let db = Semaphore::with_name(4, "db");
    // Time every wait (the default times a random one in 64, as the pool's below would).
    db.set_wait_sampling(1);
    let legacy = Semaphore::with_name(1, "legacy");
    let pool: Pool<BoxJob<u32>> = PoolBuilder::new()
        .name("images")
        .workers(2)
        .queue_capacity(2)
        .queue_wait_sampling(1)
        .on_panic(|_| {})
        .build()
        .map_err(io::Error::other)?;
    let fs = BlockingPool::builder()
        .name("fs")
        .max_threads(2)
        .build()
        .map_err(io::Error::other)?;
    let dns = Resolver::builder()
        .pool_name("dns")
        .lookup_fn(|_host| Ok(vec![std::net::IpAddr::from([127, 0, 0, 1])]))
        .build()
        .map_err(io::Error::other)?;

    let sessions = workload(&db, &legacy, &pool).await;
    for i in 0..FILE_READS {
        fs.run(move || std::hint::black_box(i))
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    for i in 0..LOOKUPS {
        dns.lookup((format!("host-{i}.test").as_str(), 80)).await?;
    }

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = corral::task::Builder::new()
        .name("metrics-http")
        .spawn(serve(listener, handle));
    let exporter = corral::task::export_metrics(CENSUS_INTERVAL);
    let watching = watch_traffic().map_err(io::Error::other)?;
    Ok(Running {
        addr,
        server,
        exporter,
        sessions,
        pool,
        db,
        legacy,
        fs,
        dns,
        watching,
    })
}

/// The requests; returns the session table that leaks the workers.
async fn workload(
    db: &Arc<Semaphore>,
    legacy: &Arc<Semaphore>,
    pool: &Pool<BoxJob<u32>>,
) -> Vec<mpsc::Sender<()>> {
    // Refusals first, each exactly once: a request above the capacity, one that
    // times out while every permit is held, one on the closed legacy store; and one
    // acquire that waits and is granted (`corral_semaphore_acquire_waits_total`, and at
    // the rate 1 set above, the wait histogram's one sample).
    let _ = db.acquire(5).await;
    {
        let all = db.acquire(4).await.expect("db open");
        let waiter = db.acquire_timeout(1, Duration::from_millis(5)).await;
        assert!(waiter.is_err(), "every permit is held");
        let queued = tokio::spawn({
            let db = Arc::clone(db);
            async move { db.acquire_owned(1).await.map(drop) }
        });
        while db.waiters() == 0 {
            tokio::task::yield_now().await;
        }
        drop(all);
        queued.await.expect("waiter").expect("granted");
    }
    legacy.close();
    let _ = legacy.acquire(1).await;

    // One job panics; one submission is refused while two gated jobs fill the pool
    // (two workers busy would take two more queued: gate those too, then refuse).
    let (open, gate) = tokio::sync::watch::channel(false);
    let gated = |n: u32| -> BoxJob<u32> {
        let mut gate = gate.clone();
        Box::pin(async move {
            let _ = gate.wait_for(|open| *open).await;
            n
        })
    };
    let mut held = Vec::new();
    for n in 0..4 {
        held.push(pool.submit(gated(n)).await.expect("room"));
    }
    let refused = pool.try_submit(Box::pin(async { 0 }));
    assert!(matches!(refused, Err(TrySubmitError::Full(_))));
    open.send_replace(true);
    let panics: BoxJob<u32> = Box::pin(async { panic!("a corrupt image") });
    let failed = pool.submit(panics).await.expect("room");
    // Two of the gated jobs count as the `+ 2` in JOBS_COMPLETED, two more below.
    let mut done = 0;
    for h in held {
        done += u64::from(h.await.is_ok());
    }
    assert_eq!(done, 4);
    assert!(failed.await.is_err());

    let mut sessions = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS - 2 {
        sessions.push(request(db, pool, i as u32).await);
    }
    // The last two requests' jobs are the two gated ones above, already done: they
    // still leak a session worker each.
    for _ in 0..2 {
        let (tx, rx) = mpsc::channel::<()>(1);
        spawn_session(rx);
        sessions.push(tx);
    }
    sessions
}

/// One request: a db permit, a pool job, a healthy request task that ends, and a
/// session worker nobody will close.
async fn request(db: &Arc<Semaphore>, pool: &Pool<BoxJob<u32>>, i: u32) -> mpsc::Sender<()> {
    let permit = db.acquire(1).await.expect("db open");
    let job = pool.submit(Box::pin(async move { i })).await.expect("room");
    let handled = corral::task::Builder::new()
        .name("request")
        .spawn(async move { job.await.expect("job runs") });
    handled.await.expect("request task");
    drop(permit);
    let (tx, rx) = mpsc::channel::<()>(1);
    spawn_session(rx);
    tx
}

/// Starts the leak watch (settings in the module docs) and the traffic it watches.
fn watch_traffic() -> Result<Watching, WatchConfigError> {
    let (flagged_tx, flagged) = tokio::sync::watch::channel(None);
    let start = Instant::now();
    let config = WatchConfig::builder()
        .interval(WATCH_INTERVAL)
        .window(WATCH_WINDOW)
        .min_growth(WATCH_MIN_GROWTH)
        .on_event(move |event| {
            if let WatchEvent::Flagged(_) = event {
                flagged_tx.send_if_modified(|at| {
                    let first = at.is_none();
                    if first {
                        *at = Some(start.elapsed());
                    }
                    first
                });
            }
        })
        .build()?;
    let watch = corral::task::watch(config);
    let traffic = corral::task::Builder::new()
        .name("traffic")
        .spawn(traffic());
    Ok(Watching {
        watch,
        traffic,
        flagged,
    })
}

/// Connections after the workload: each leaks a session worker (the leaky site, the
/// same spawn line as the requests') and streams a reply that ends (the healthy site).
/// Aborting it drops its session table, which ends the workers.
async fn traffic() {
    let mut sessions = Vec::new();
    let mut tick = tokio::time::interval(TRAFFIC_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..CONNECTIONS {
        tick.tick().await;
        let (tx, rx) = mpsc::channel::<()>(1);
        spawn_session(rx);
        sessions.push(tx);
        corral::task::Builder::new()
            .name("reply")
            .spawn(tokio::time::sleep(REPLY_TIME));
    }
    // The sessions stay open: the leak stops growing, it is not fixed.
    std::future::pending::<()>().await;
}

/// The leaky site: one worker per request, waiting for a close that never comes.
fn spawn_session(mut rx: mpsc::Receiver<()>) {
    corral::task::Builder::new()
        .name("session-worker")
        .spawn(async move { while rx.recv().await.is_some() {} });
}

/// Answers every connection with the Prometheus text (HTTP/1.1, `Connection: close`).
async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let body = handle.render();
        corral::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

/// `GET /metrics` over loopback: the response body.
///
/// # Errors
///
/// If the connection fails.
pub async fn scrape(addr: SocketAddr) -> io::Result<String> {
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    conn.read_to_string(&mut text).await?;
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}

/// The value of the sample `name{labels}` in Prometheus text, labels given in any
/// order (every label of the sample must be listed).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let mut got: Vec<(&str, &str)> = if rest.is_empty() {
                Vec::new()
            } else {
                rest.split("\",")
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").unwrap_or((kv, ""));
                        (k, v.trim_end_matches('"'))
                    })
                    .collect()
            };
            let mut want = labels.to_vec();
            got.sort();
            want.sort();
            (got == want).then(|| value.parse().ok()).flatten()
        })
}
