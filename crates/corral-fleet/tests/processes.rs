//! Many processes on one semaphore: child processes of this test binary (it re-runs
//! itself with `CORRAL_FLEET_CHILD=<role>`) contend on a real `redis-server` that the
//! test starts on a free loopback port.
//!
//! - `contention`: P processes x M tasks with weights 1..=3 over a capacity of 5 for a
//!   few seconds (`CORRAL_FLEET_SOAK_SECS` lengthens it), while an observer samples the
//!   server's state: the weight held never exceeds the capacity at any sample, and the
//!   server's held counter always equals the sum over live holders. Independently,
//!   every holder adds its weight to a plain Redis counter right after its grant and
//!   subtracts it right before release; every increment's result is checked against
//!   the capacity (the holders' own view, not a sample).
//! - `fifo_across_processes`: a large request queued first in one process is granted
//!   before small requests queued later in other processes.
//! - `sigkill_returns_permits`: a child holding every permit is SIGKILLed; a waiter in
//!   this process gets them within lease + one renewal interval (+ generous slack).
//! - `restart_mid_run`: the contention run again, and Redis is restarted (losing every
//!   key) in the middle: a task per process that holds a permit across the restart sees
//!   its lease-lost token fire, every
//!   process keeps getting grants afterwards (its waiters resume), and the observer sees
//!   the capacity respected on the new server too. (Fencing across a restart is checked
//!   in `tests/restart.rs`.)
//!
//! No libtest harness (the binary is also the children); the last line is
//! `processes: N passed, N failed`.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_fleet::test_server::RedisServer;
use corral_fleet::FleetSemaphore;
use corral_test_support::{multi_thread, Rng};

const CHILD: &str = "CORRAL_FLEET_CHILD";
const LEASE: Duration = Duration::from_millis(1200);
const SLACK: Duration = Duration::from_secs(5);

fn main() {
    if let Ok(role) = std::env::var(CHILD) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(child(&role));
        return;
    }
    assert!(
        RedisServer::available(),
        "redis-server is not installed: these tests need it (Debian: apt-get install -y redis-server)"
    );
    let tests: [(&str, fn()); 4] = [
        ("contention", contention),
        ("fifo_across_processes", fifo_across_processes),
        ("sigkill_returns_permits", sigkill_returns_permits),
        ("restart_mid_run", restart_mid_run),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let start = Instant::now();
        match std::panic::catch_unwind(test) {
            Ok(()) => {
                passed += 1;
                println!(
                    "test {name} ... ok ({:.1} s)",
                    start.elapsed().as_secs_f64()
                );
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    println!("processes: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

/// A child process of this binary in `role`, with `vars`; killed if still alive on drop.
struct ChildProc {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl ChildProc {
    fn spawn(role: &str, vars: &[(&str, String)]) -> ChildProc {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(CHILD, role)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("re-run the test binary");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildProc { child, lines }
    }

    /// The next line starting with `prefix` (others are skipped), within `limit`.
    fn expect(&self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => panic!("no {prefix:?} line from the child within {limit:?}: {e}"),
            }
        }
    }

    fn wait_ok(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "child failed: {status}");
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child needs {name}"))
}

async fn open(url: &str, name: &str, capacity: u64) -> FleetSemaphore {
    FleetSemaphore::builder(url, name)
        .capacity(capacity)
        .lease(LEASE)
        .build()
        .await
        .expect("build")
}

async fn child(role: &str) {
    let url = var("FLEET_URL");
    let name = var("FLEET_NAME");
    let capacity: u64 = var("FLEET_CAPACITY").parse().unwrap();
    let sem = open(&url, &name, capacity).await;
    match role {
        "worker" => worker(sem, &url, capacity).await,
        "holder" => {
            let n: u64 = var("FLEET_N").parse().unwrap();
            let permit = sem.acquire(n).await.unwrap();
            println!("HELD {}", permit.fencing_token());
            std::future::pending::<()>().await;
        }
        "fifo" => {
            let n: u64 = var("FLEET_N").parse().unwrap();
            let permit = sem.acquire(n).await.unwrap();
            println!("GRANTED {} {}", n, permit.fencing_token());
            // Hold a little, so a wrong grant order would overlap.
            tokio::time::sleep(Duration::from_millis(100)).await;
            permit.release().await.unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

/// M tasks acquire 1..=3 permits, hold them for a few ms of "work", release; for
/// `FLEET_SECS` seconds. Each grant adds its weight to a plain counter (`inuse`) and
/// checks the sum; prints `DONE grants=<n> max_inuse=<m>`.
async fn worker(sem: FleetSemaphore, url: &str, capacity: u64) {
    let tasks: u64 = var("FLEET_TASKS").parse().unwrap();
    let secs: f64 = var("FLEET_SECS").parse().unwrap();
    // In a restart run the counter below is lost with the server; leases may be lost.
    let restart = std::env::var("FLEET_RESTART").is_ok();
    let late_from = Instant::now() + Duration::from_secs_f64(secs * 0.75);
    let late = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let inuse_key = format!("{}:inuse", var("FLEET_NAME"));
    let client = redis::Client::open(url).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let stop = Instant::now() + Duration::from_secs_f64(secs);
    let grants = Arc::new(AtomicU64::new(0));
    let max_inuse = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (sem, mut conn, key) = (sem.clone(), conn.clone(), inuse_key.clone());
        let (grants, max_inuse) = (Arc::clone(&grants), Arc::clone(&max_inuse));
        let (late, lost) = (Arc::clone(&late), Arc::clone(&lost));
        handles.push(tokio::spawn(async move {
            let mut rng = Rng(t ^ (u64::from(std::process::id()) << 32));
            let mut long_hold = restart && t == 0;
            while Instant::now() < stop {
                let seed = rng.next();
                let w = 1 + seed % 3;
                let permit = sem.acquire(w).await.expect("acquire");
                if long_hold {
                    // Once, from the start: holds across the restart, so its token must
                    // fire.
                    long_hold = false;
                    tokio::select! {
                        () = permit.lease_lost().cancelled() => {
                            lost.fetch_add(1, Relaxed);
                        }
                        () = tokio::time::sleep(Duration::from_secs_f64(secs * 0.6)) => {}
                    }
                    grants.fetch_add(1, Relaxed);
                    let _ = permit.release().await;
                    continue;
                }
                if restart {
                    tokio::time::sleep(Duration::from_millis(seed % 4)).await;
                    if Instant::now() >= late_from {
                        late.fetch_add(1, Relaxed);
                    }
                    grants.fetch_add(1, Relaxed);
                    // LeaseLost or Unreachable near the restart: the lease covers it.
                    let _ = permit.release().await;
                    continue;
                }
                let now: u64 = redis::cmd("INCRBY")
                    .arg(&key)
                    .arg(w)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                max_inuse.fetch_max(now, Relaxed);
                assert!(
                    now <= capacity,
                    "holders believe {now} permits are held, capacity {capacity}"
                );
                tokio::time::sleep(Duration::from_millis(seed % 4)).await;
                let _: i64 = redis::cmd("DECRBY")
                    .arg(&key)
                    .arg(w)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert!(!permit.is_lost(), "a lease was lost under contention");
                grants.fetch_add(1, Relaxed);
                permit.release().await.expect("release");
            }
        }));
    }
    for h in handles {
        h.await.expect("worker task");
    }
    println!(
        "DONE grants={} max_inuse={} late={} lost={}",
        grants.load(Relaxed),
        max_inuse.load(Relaxed),
        late.load(Relaxed),
        lost.load(Relaxed)
    );
}

fn base_vars(server: &RedisServer, name: &str, capacity: u64) -> Vec<(&'static str, String)> {
    vec![
        ("FLEET_URL", server.url()),
        ("FLEET_NAME", name.to_owned()),
        ("FLEET_CAPACITY", capacity.to_string()),
    ]
}

fn contention() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let capacity = 5;
    let secs: f64 = std::env::var("CORRAL_FLEET_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    let (procs, tasks) = (3, 8);
    let mut vars = base_vars(&server, "contention", capacity);
    vars.push(("FLEET_TASKS", tasks.to_string()));
    vars.push(("FLEET_SECS", secs.to_string()));
    let children: Vec<ChildProc> = (0..procs)
        .map(|_| ChildProc::spawn("worker", &vars))
        .collect();

    // The observer: samples the server's state until every child is done.
    let rt = multi_thread(2);
    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let done = Arc::clone(&done);
        let url = server.url();
        rt.spawn(async move {
            let sem = open(&url, "contention", capacity).await;
            let (mut samples, mut max_held, mut busy) = (0u64, 0u64, 0u64);
            while !done.load(Relaxed) {
                let (held, sum) = sem.__held_cross_check().await.expect("observe");
                assert_eq!(held, sum, "held counter disagrees with the holders");
                assert!(held <= capacity, "{held} held > capacity {capacity}");
                let s = sem.status().await.expect("status");
                assert!(s.held <= s.capacity);
                samples += 1;
                max_held = max_held.max(held);
                busy += u64::from(s.waiters > 0);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (samples, max_held, busy)
        })
    };
    let mut total = 0;
    for c in children {
        let line = c.expect("DONE", Duration::from_secs_f64(secs) + SLACK * 4);
        let grants: u64 = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("grants="))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(grants > 0, "a process got nothing: {line}");
        total += grants;
        c.wait_ok();
    }
    done.store(true, Relaxed);
    let (samples, max_held, busy) = rt.block_on(observer).expect("observer");
    println!(
        "  contention: {procs} processes x {tasks} tasks, {total} grants in {secs} s; \
         {samples} samples, max held {max_held}/{capacity}, waiters seen in {busy}"
    );
    assert!(samples > 100 && busy > 0, "the observer saw no contention");
}

fn fifo_across_processes() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let rt = multi_thread(2);
    let sem = rt.block_on(open(&server.url(), "fifo", 4));
    // Held as four single permits, so one can go back alone.
    let mut held: Vec<_> = (0..4)
        .map(|_| rt.block_on(sem.acquire(1)).unwrap())
        .collect();
    let queued = |n: u64| {
        let start = Instant::now();
        while rt.block_on(sem.waiters()).unwrap() < n {
            assert!(start.elapsed() < SLACK * 2, "child did not queue");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let mut vars = base_vars(&server, "fifo", 4);
    let mut spawn = |n: u64| {
        vars.retain(|(k, _)| *k != "FLEET_N");
        vars.push(("FLEET_N", n.to_string()));
        ChildProc::spawn("fifo", &vars)
    };
    // The large request first, then two small ones from two other processes.
    let large = spawn(4);
    queued(1);
    let small_a = spawn(1);
    queued(2);
    let small_b = spawn(1);
    queued(3);
    // One permit back: the small requests fit, but the large one is first in line, so
    // nobody is granted (the release script ran the queue before it answered).
    rt.block_on(held.pop().unwrap().release()).unwrap();
    let s = rt.block_on(sem.status()).unwrap();
    assert_eq!(
        (s.available, s.waiters),
        (1, 3),
        "a later small request jumped the queue"
    );
    for p in held {
        rt.block_on(p.release()).unwrap();
    }
    let fence = |c: &ChildProc| -> u64 {
        let line = c.expect("GRANTED", SLACK * 2);
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    let (l, a, b) = (fence(&large), fence(&small_a), fence(&small_b));
    assert!(l < a && l < b, "large {l} granted after small {a}, {b}");
    assert!(a < b, "small ones out of order: {a}, {b}");
    large.wait_ok();
    small_a.wait_ok();
    small_b.wait_ok();
}

fn sigkill_returns_permits() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let rt = multi_thread(2);
    let sem = rt.block_on(open(&server.url(), "kill", 3));
    let mut vars = base_vars(&server, "kill", 3);
    vars.push(("FLEET_N", "3".to_owned()));
    let mut holder = ChildProc::spawn("holder", &vars);
    holder.expect("HELD", SLACK * 2);
    assert_eq!(rt.block_on(sem.available()).unwrap(), 0);
    let waiter = rt.spawn({
        let sem = sem.clone();
        async move { sem.acquire(3).await }
    });
    holder.child.kill().unwrap(); // SIGKILL
    let killed = Instant::now();
    holder.child.wait().unwrap();
    let permit = rt.block_on(waiter).unwrap().expect("permits come back");
    let took = killed.elapsed();
    // Inherent bound: the lease the child last renewed, plus one renewal interval (the
    // waiter's heartbeat reaps it), plus slack for a loaded machine.
    let bound = LEASE + LEASE / 3 + SLACK;
    assert!(
        took <= bound,
        "permits came back after {took:?} > {bound:?}"
    );
    println!("  sigkill: permits back {took:?} after the kill (lease {LEASE:?})");
    rt.block_on(permit.release()).unwrap();
}

fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
}

fn restart_mid_run() {
    let mut server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    // Room for the three long holders and the largest request besides.
    let capacity = 8;
    let secs = 4.0;
    let mut vars = base_vars(&server, "restart", capacity);
    vars.push(("FLEET_TASKS", "8".to_owned()));
    vars.push(("FLEET_SECS", secs.to_string()));
    vars.push(("FLEET_RESTART", "1".to_owned()));
    let children: Vec<ChildProc> = (0..3).map(|_| ChildProc::spawn("worker", &vars)).collect();
    let rt = multi_thread(2);
    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let done = Arc::clone(&done);
        let url = server.url();
        rt.spawn(async move {
            let sem = open(&url, "restart", capacity).await;
            let (mut samples, mut failed) = (0u64, 0u64);
            while !done.load(Relaxed) {
                // Calls fail while the server is down; every answer must hold.
                match sem.__held_cross_check().await {
                    Ok((held, sum)) => {
                        assert_eq!(held, sum, "held counter disagrees with the holders");
                        assert!(held <= capacity, "{held} held > capacity {capacity}");
                        samples += 1;
                    }
                    Err(_) => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (samples, failed)
        })
    };
    std::thread::sleep(Duration::from_secs_f64(secs * 0.4));
    server.restart().unwrap_or_else(|e| panic!("{e}"));
    let (mut lost, mut total) = (0, 0);
    for c in children {
        let line = c.expect("DONE", Duration::from_secs_f64(secs) + SLACK * 4);
        assert!(
            field(&line, "late") > 0,
            "a process got nothing after the restart: {line}"
        );
        lost += field(&line, "lost");
        total += field(&line, "grants");
        c.wait_ok();
    }
    done.store(true, Relaxed);
    let (samples, failed) = rt.block_on(observer).expect("observer");
    println!(
        "  restart: {total} grants, {lost} of 3 long holders saw their lease lost; observer: {samples} samples, {failed} calls failed while the server was down"
    );
    assert!(
        lost > 0,
        "no long holder noticed that the restart lost its lease"
    );
    assert!(samples > 100);
}
