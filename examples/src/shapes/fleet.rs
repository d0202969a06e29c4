//! A fleet-wide budget: three processes share 6 permits on a local Redis (a
//! `redis-server` the cell starts on a free loopback port); one of them, holding 2, is
//! killed with SIGKILL. Does the budget come back?
//!
//! With a plain Redis counter (`INCRBY` to take, `DECRBY` to give back: the semaphore
//! teams write first), the killed process never gives its 2 back: the fleet runs on 4
//! of 6 forever. With `corral::fleet::FleetSemaphore`, the dead holder's lease runs out
//! and the full budget is granted again within the lease plus one renewal interval.
//!
//! Skipped, with a line saying so, when `redis-server` is not installed.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use corral::fleet::test_server::RedisServer;
use corral::fleet::FleetSemaphore;

use super::Bounds;
use crate::shapes::{Cell, Side};

/// The shared budget.
pub const CAPACITY: u64 = 6;
/// What the killed process holds.
pub const VICTIM_HOLDS: u64 = 2;
/// The lease of every permit.
pub const LEASE: Duration = Duration::from_secs(1);
/// How long the cell waits for the full budget after the kill.
const WAIT_FOR_BUDGET: Duration = Duration::from_secs(4);
/// Slack for a loaded machine on top of the inherent bound (lease + renewal interval).
const SLACK: Duration = Duration::from_secs(2);
const NAME: &str = "tour-budget";
const WORKER: &str = "fleet-worker";
const SKIPPED: &str =
    "skipped: redis-server is not installed (Debian: apt-get install -y redis-server)";

/// The safety timeout for a side.
pub fn limit(_side: Side, _quick: bool) -> Duration {
    Duration::from_secs(30)
}

/// The worker processes' entry: `--cell fleet-worker <side> <url> <steady|victim>`.
/// Returns `None` for any other arguments.
pub fn worker_main(args: &[String]) -> Option<ExitCode> {
    let at = args.iter().position(|a| a == "--cell")?;
    if args.get(at + 1).map(String::as_str) != Some(WORKER) {
        return None;
    }
    let (Some(side), Some(url), Some(role)) = (
        args.get(at + 2).and_then(|s| Side::parse(s)),
        args.get(at + 3),
        args.get(at + 4),
    ) else {
        eprintln!("usage: --cell {WORKER} <tokio|corral> <url> <steady|victim>");
        return Some(ExitCode::from(2));
    };
    let rt = super::runtime();
    rt.block_on(async move {
        let budget = Budget::open(side, url).await;
        if role == "victim" {
            budget.take(VICTIM_HOLDS).await;
            println!("HELD");
            std::future::pending::<()>().await;
        }
        // Steady work: 2 tasks taking 1 permit for 20 ms at a time, until killed.
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let budget = budget.clone();
                tokio::spawn(async move {
                    loop {
                        budget.take(1).await;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        budget.give(1).await;
                    }
                })
            })
            .collect();
        println!("RUNNING");
        for t in tasks {
            let _ = t.await;
        }
    });
    Some(ExitCode::SUCCESS)
}

/// Either side's budget: the naive counter, or the fleet semaphore (its permits are
/// kept in a list so `give` can release one, as the counter's `DECRBY` does).
#[derive(Clone)]
enum Budget {
    Counter(redis::aio::MultiplexedConnection),
    Fleet(
        FleetSemaphore,
        std::sync::Arc<tokio::sync::Mutex<Vec<corral::fleet::FleetPermit>>>,
    ),
}

impl Budget {
    async fn open(side: Side, url: &str) -> Budget {
        match side {
            Side::Tokio => {
                let client = redis::Client::open(url).expect("redis url");
                Budget::Counter(
                    client
                        .get_multiplexed_async_connection()
                        .await
                        .expect("connect"),
                )
            }
            Side::Corral => Budget::Fleet(
                FleetSemaphore::builder(url, NAME)
                    .capacity(CAPACITY)
                    .lease(LEASE)
                    .build()
                    .await
                    .expect("fleet semaphore"),
                Default::default(),
            ),
        }
    }

    /// Takes `n`, waiting as long as it takes.
    async fn take(&self, n: u64) {
        let _ = self.take_within(n, Duration::MAX).await;
    }

    /// Takes `n` within `limit`; whether it did.
    async fn take_within(&self, n: u64, limit: Duration) -> bool {
        let start = Instant::now();
        match self {
            Budget::Counter(conn) => {
                let mut conn = conn.clone();
                loop {
                    let used: u64 = redis::cmd("INCRBY")
                        .arg(NAME)
                        .arg(n)
                        .query_async(&mut conn)
                        .await
                        .expect("INCRBY");
                    if used <= CAPACITY {
                        return true;
                    }
                    let _: i64 = redis::cmd("DECRBY")
                        .arg(NAME)
                        .arg(n)
                        .query_async(&mut conn)
                        .await
                        .expect("DECRBY");
                    if start.elapsed() >= limit {
                        return false;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Budget::Fleet(sem, held) => {
                let wait = limit.min(Duration::from_secs(3600));
                match sem.acquire_timeout(n, wait).await {
                    Ok(permit) => {
                        held.lock().await.push(permit);
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }

    async fn give(&self, n: u64) {
        match self {
            Budget::Counter(conn) => {
                let mut conn = conn.clone();
                let _: i64 = redis::cmd("DECRBY")
                    .arg(NAME)
                    .arg(n)
                    .query_async(&mut conn)
                    .await
                    .expect("DECRBY");
            }
            Budget::Fleet(_, held) => {
                let permit = held.lock().await.pop();
                if let Some(permit) = permit {
                    let _ = permit.release().await;
                }
            }
        }
    }
}

/// A worker process, killed on drop. It prints one line (its state) and nothing after.
struct Worker(Child);

impl Worker {
    fn spawn(side: Side, url: &str, role: &str, expect: &str) -> Result<Worker, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["--cell", WORKER, side.as_str(), url, role])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        match lines.next() {
            Some(Ok(line)) if line == expect => Ok(Worker(child)),
            other => Err(format!("worker said {other:?}, not {expect}")),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One side: two steady processes and a victim holding 2; the victim is SIGKILLed;
/// the cell then asks for the whole budget. `accounted` says whether it got it and
/// `wall` how long after the kill.
pub fn cell(side: Side, _quick: bool) -> Cell {
    if !RedisServer::available() {
        return Cell {
            outcome: SKIPPED.into(),
            ..Cell::default()
        };
    }
    match run(side) {
        Ok(cell) => cell,
        Err(err) => Cell {
            outcome: format!("failed: {err}"),
            accounted: Some(false),
            ..Cell::default()
        },
    }
}

fn run(side: Side) -> Result<Cell, String> {
    let server = RedisServer::start()?;
    let url = server.url();
    let _steady: Vec<Worker> = (0..2)
        .map(|_| Worker::spawn(side, &url, "steady", "RUNNING"))
        .collect::<Result<_, _>>()?;
    let mut victim = Worker::spawn(side, &url, "victim", "HELD")?;
    // Let the fleet run a little with the victim holding its share.
    std::thread::sleep(Duration::from_millis(300));
    victim.0.kill().map_err(|e| e.to_string())?; // SIGKILL
    let _ = victim.0.wait();
    let killed = Instant::now();
    let rt = super::runtime();
    let got = rt.block_on(async {
        let budget = Budget::open(side, &url).await;
        budget.take_within(CAPACITY, WAIT_FOR_BUDGET).await
    });
    let after = killed.elapsed();
    let outcome = if got {
        format!(
            "all {CAPACITY} permits granted {:.1} s after SIGKILL of a holder of {VICTIM_HOLDS} (lease {:.1} s)",
            after.as_secs_f64(),
            LEASE.as_secs_f64()
        )
    } else {
        format!(
            "budget lost: {VICTIM_HOLDS} of {CAPACITY} never came back ({:.1} s after SIGKILL)",
            after.as_secs_f64()
        )
    };
    Ok(Cell {
        accounted: Some(got),
        wall: Some(after),
        outcome,
        ..Cell::default()
    })
}

/// The corral side got the whole budget back within lease + renewal interval +
/// slack, or the row was skipped for want of `redis-server` (said so in the verdict).
pub fn judge(corral: &Cell, _tokio: &Cell, _quick: bool) -> Result<String, String> {
    if corral.outcome == SKIPPED {
        return Ok(SKIPPED.into());
    }
    let bound = LEASE + LEASE / 3 + SLACK;
    let mut b = Bounds::default();
    b.check_value(
        "budget",
        corral.accounted,
        |got| got,
        |got| {
            if got {
                "the killed holder's permits came back".into()
            } else {
                "the killed holder's permits never came back".into()
            }
        },
    );
    b.check_value(
        "recovery",
        corral.wall,
        |after| after <= bound,
        |after| {
            format!(
                "within {:.1} s of the kill (bound {:.1} s)",
                after.as_secs_f64(),
                bound.as_secs_f64()
            )
        },
    );
    b.verdict()
}
