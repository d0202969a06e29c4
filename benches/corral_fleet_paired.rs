//! corral-fleet's `FleetSemaphore` next to a naive Redis counter semaphore (`INCR`; if
//! over the limit `DECR` and retry after 1 ms; `DECR` to release: what teams write
//! first, and what leaks a permit forever when a holder dies), on a loopback
//! `redis-server` this bench starts: `cargo bench -p corral-benches --bench
//! corral_fleet_paired`.
//!
//! - Round trips: the commands clients sent (`INFO commandstats`: `EVALSHA`/`EVAL` for
//!   the fleet semaphore, `INCR`/`DECR` for the naive one; the commands a script runs
//!   inside the server are not round trips) over 1000 uncontended acquire + release
//!   pairs, per pair.
//! - Uncontended latency, in paired rounds (naive round, then fleet round; the median
//!   of per-pair ratios with quartiles), as `corral_task_paired.rs` does.
//! - Throughput: 4 processes (children of this binary) x 64 tasks over 8 permits, each
//!   holding its permit for 1 ms of work, for `--secs` (default 1) a round, paired
//!   rounds (`--rounds`, default 3); grants per second, and commands per grant.
//!
//! Skipped, with a line saying so, when `redis-server` is not installed.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_fleet::test_server::RedisServer;
use corral_fleet::FleetSemaphore;
use corral_test_support::multi_thread;
use redis::aio::MultiplexedConnection;

#[path = "support/paired.rs"]
mod paired;
use paired::{flag, rounds_arg, Pairs, US};

const CHILD: &str = "CORRAL_FLEET_BENCH_CHILD";
const PERMITS: u64 = 8;
const PROCS: usize = 4;
const TASKS: usize = 64;
const WORK: Duration = Duration::from_millis(1);

/// The naive semaphore: a counter of permits in use.
#[derive(Clone)]
struct Naive {
    conn: MultiplexedConnection,
    key: String,
    limit: u64,
}

impl Naive {
    async fn open(url: &str, key: &str, limit: u64) -> Naive {
        let client = redis::Client::open(url).unwrap();
        Naive {
            conn: client.get_multiplexed_async_connection().await.unwrap(),
            key: key.to_owned(),
            limit,
        }
    }

    async fn acquire(&self) {
        let mut conn = self.conn.clone();
        loop {
            let n: u64 = redis::cmd("INCR")
                .arg(&self.key)
                .query_async(&mut conn)
                .await
                .unwrap();
            if n <= self.limit {
                return;
            }
            let _: i64 = redis::cmd("DECR")
                .arg(&self.key)
                .query_async(&mut conn)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn release(&self) {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("DECR")
            .arg(&self.key)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

async fn fleet(url: &str, name: &str, capacity: u64) -> FleetSemaphore {
    FleetSemaphore::builder(url, name)
        .capacity(capacity)
        .lease(Duration::from_secs(10))
        .build()
        .await
        .unwrap()
}

/// Commands clients sent that the two semaphores use (scripts' inner calls excluded).
fn sent(server: &RedisServer) -> u64 {
    let stats = server.command("INFO commandstats").unwrap();
    ["evalsha", "eval", "incr", "decr"]
        .iter()
        .map(|cmd| {
            stats
                .lines()
                .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// A child process: `TASKS` tasks acquire 1, work, release until the round's end;
/// prints `GRANTS <n>`.
fn child(kind: &str) {
    let url = std::env::var("FLEET_URL").unwrap();
    let secs: f64 = std::env::var("FLEET_SECS").unwrap().parse().unwrap();
    multi_thread(2).block_on(async move {
        let naive = Naive::open(&url, "naive", PERMITS).await;
        let sem = fleet(&url, "fleet", PERMITS).await;
        println!("READY");
        // Wait for the parent's go (a line on stdin), so every process starts together.
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let grants = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let (naive, sem, grants) = (naive.clone(), sem.clone(), Arc::clone(&grants));
            let is_fleet = kind == "fleet";
            tasks.push(tokio::spawn(async move {
                while Instant::now() < end {
                    if is_fleet {
                        let p = sem.acquire(1).await.unwrap();
                        tokio::time::sleep(WORK).await;
                        p.release().await.unwrap();
                    } else {
                        naive.acquire().await;
                        tokio::time::sleep(WORK).await;
                        naive.release().await;
                    }
                    grants.fetch_add(1, Relaxed);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        println!("GRANTS {}", grants.load(Relaxed));
    });
}

/// One throughput round: grants per second over `PROCS` processes, and commands per
/// grant.
fn throughput(server: &RedisServer, kind: &str, secs: f64) -> (f64, f64) {
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..PROCS)
        .map(|_| {
            Command::new(&exe)
                .env(CHILD, kind)
                .env("FLEET_URL", server.url())
                .env("FLEET_SECS", secs.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut outs: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().unwrap()).lines())
        .collect();
    for out in &mut outs {
        assert_eq!(out.next().unwrap().unwrap(), "READY");
    }
    let before = sent(server);
    for c in &mut children {
        use std::io::Write as _;
        writeln!(c.stdin.as_mut().unwrap(), "go").unwrap();
    }
    let mut grants = 0u64;
    for out in &mut outs {
        let line = out.next().unwrap().unwrap();
        grants += line
            .strip_prefix("GRANTS ")
            .unwrap()
            .parse::<u64>()
            .unwrap();
    }
    let commands = sent(server) - before;
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    (grants as f64 / secs, commands as f64 / grants as f64)
}

fn main() {
    if let Ok(kind) = std::env::var(CHILD) {
        child(&kind);
        return;
    }
    let rounds = rounds_arg(3);
    let secs: f64 = flag("--secs").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    if !RedisServer::available() {
        println!("corral_fleet_paired: skipped: redis-server is not installed (apt-get install -y redis-server)");
        return;
    }
    let server = RedisServer::start().unwrap();
    let rt = multi_thread(2);
    let url = server.url();

    // Round trips, uncontended.
    const PAIRS: u64 = 1000;
    let (naive_rt, fleet_rt, lat) = rt.block_on(async {
        let naive = Naive::open(&url, "naive-u", PERMITS).await;
        let sem = fleet(&url, "fleet-u", PERMITS).await;
        let before = sent(&server);
        for _ in 0..PAIRS {
            naive.acquire().await;
            naive.release().await;
        }
        let naive_rt = (sent(&server) - before) as f64 / PAIRS as f64;
        let before = sent(&server);
        for _ in 0..PAIRS {
            sem.acquire(1).await.unwrap().release().await.unwrap();
        }
        let fleet_rt = (sent(&server) - before) as f64 / PAIRS as f64;
        // Latency in paired rounds.
        let mut latency = Pairs::default();
        for _ in 0..21 {
            let start = Instant::now();
            for _ in 0..200 {
                naive.acquire().await;
                naive.release().await;
            }
            let n = US.per(start.elapsed(), 200);
            let start = Instant::now();
            for _ in 0..200 {
                sem.acquire(1).await.unwrap().release().await.unwrap();
            }
            let f = US.per(start.elapsed(), 200);
            latency.push(n, f);
        }
        (naive_rt, fleet_rt, latency)
    });
    println!(
        "uncontended round trips per acquire+release: naive {naive_rt:.2}, fleet {fleet_rt:.2}"
    );
    let stats = server.command("INFO commandstats").unwrap();
    let script_us = stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:"))
        .and_then(|l| l.split(',').find_map(|f| f.strip_prefix("usec_per_call=")))
        .unwrap_or("?")
        .to_owned();
    println!("server time per fleet script (EVALSHA usec_per_call): {script_us} us");
    let ((_, n_us, _), (_, f_us, _)) = (lat.peer(), lat.corral());
    let (q1, med, q3) = lat.ratio();
    println!(
        "uncontended acquire+release: naive {n_us:.1} us, fleet {f_us:.1} us; fleet/naive {med:.2}x (quartiles {q1:.2}..{q3:.2})"
    );

    // Throughput, paired rounds.
    let mut cost = Pairs::default();
    for round in 0..rounds {
        let (n, n_cmd) = throughput(&server, "naive", secs);
        let (f, f_cmd) = throughput(&server, "fleet", secs);
        println!(
            "round {round}: naive {n:.0} grants/s ({n_cmd:.1} round trips/grant), fleet {f:.0} grants/s ({f_cmd:.1} round trips/grant)"
        );
        // Seconds per grant (all processes together), so the ratio is the cost ratio:
        // how many times longer the fleet semaphore takes per grant (naive rate / fleet rate).
        cost.push(1.0 / n, 1.0 / f);
    }
    let (q1, med, q3) = cost.ratio();
    println!(
        "throughput {PROCS} processes x {TASKS} tasks over {PERMITS} permits: fleet cost / naive cost {med:.2}x (quartiles {q1:.2}..{q3:.2}) over {rounds} paired rounds"
    );
}
