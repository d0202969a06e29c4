//! dns_storm: 5,000 concurrent lookups of 50 names against a DNS server that answers
//! in 200 ms, with plain tokio and with corral, side by side.
//!
//! Plain tokio: `tokio::net::lookup_host` runs `getaddrinfo` through `spawn_blocking`,
//! one blocking-pool thread per lookup, up to tokio's 512. So a slow DNS server turns a
//! burst of lookups into hundreds of OS threads, each lookup waiting its own 200 ms.
//! corral: a `Resolver` on a 32-thread pool coalesces identical lookups, so 50 distinct
//! names cost ceil(50 / 32) x 200 ms, on at most 32 threads.
//!
//! Pointing libc's `getaddrinfo` at a local server needs root (a private
//! `/etc/resolv.conf`), so both sides inject the same blocking lookup function: it sends
//! a real DNS query over UDP to a slow server on 127.0.0.1 and blocks its thread until
//! the answer comes, exactly as `getaddrinfo` would.
//!
//! A second part runs 5,000 blocking calls of 100 ms on a pool capped at 64 threads and
//! compares the total with the ideal 5000 / 64 x 100 ms.
//!
//! Run: `cargo run --release -p corral-examples --example dns_storm [-- tokio|corral|cap]`
//! (no argument runs everything; each storm side runs in a fresh child process of this
//! binary, so neither inherits the other's heap or threads).

#[path = "../crates/corral-blocking/tests/support/dns.rs"]
mod dns;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use corral_blocking::{BlockingPool, Resolver};
use corral_examples::{mib, rss_bytes, Peaks, Sampler};

/// The storm's shape.
#[derive(Debug, Clone, Copy)]
struct Storm {
    lookups: usize,
    names: usize,
    corral_cap: usize,
}

/// What one side measured.
#[derive(Debug, Clone, Copy)]
struct SideReport {
    wall: Duration,
    peaks: Peaks,
    /// Resident memory when the side started (the runtime not yet built).
    rss_before: u64,
    /// Lookups that returned the right address.
    ok: usize,
    /// Queries the DNS server received during the run.
    queries: u64,
}

impl SideReport {
    /// Peak resident memory above what the process held when the side started: the
    /// storm's own cost, without the binary's fixed baseline.
    fn rss_growth(&self) -> u64 {
        self.peaks.rss_bytes.saturating_sub(self.rss_before)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("build runtime")
}

fn name(i: usize, names: usize) -> String {
    format!("host{}.storm.test", i % names)
}

/// Plain tokio: one `spawn_blocking` per lookup, exactly what `tokio::net::lookup_host`
/// does internally with `getaddrinfo`.
fn run_tokio(server: &dns::SlowDnsServer, storm: Storm) -> SideReport {
    let addr = server.addr();
    let before = server.queries();
    let rss_before = rss_bytes();
    let rt = runtime();
    let sampler = Sampler::start();
    let start = Instant::now();
    let ok = rt.block_on(async move {
        let lookups: Vec<_> = (0..storm.lookups)
            .map(|i| {
                let host = name(i, storm.names);
                tokio::spawn(async move {
                    let lookup_host = host.clone();
                    let addrs =
                        tokio::task::spawn_blocking(move || dns::lookup(addr, &lookup_host))
                            .await
                            .expect("lookup task");
                    check(
                        &host,
                        addrs
                            .map(|ips| ips.into_iter().map(|ip| SocketAddr::new(ip, 80)).collect()),
                    )
                })
            })
            .collect();
        let mut ok = 0;
        for lookup in lookups {
            ok += usize::from(lookup.await.expect("lookup task"));
        }
        ok
    });
    let wall = start.elapsed();
    let peaks = sampler.stop();
    // Dropping the runtime stops its blocking threads before the next side runs.
    drop(rt);
    SideReport {
        wall,
        peaks,
        rss_before,
        ok,
        queries: server.queries() - before,
    }
}

/// corral: the same lookup function behind a capped, coalescing `Resolver`.
fn run_corral(server: &dns::SlowDnsServer, storm: Storm) -> SideReport {
    let addr = server.addr();
    let before = server.queries();
    let rss_before = rss_bytes();
    let rt = runtime();
    let sampler = Sampler::start();
    let start = Instant::now();
    let ok = rt.block_on(async move {
        let resolver = Resolver::builder()
            .max_threads(storm.corral_cap)
            .lookup_fn(move |host| dns::lookup(addr, host))
            .build()
            .expect("resolver");
        let lookups: Vec<_> = (0..storm.lookups)
            .map(|i| {
                let host = name(i, storm.names);
                let lookup = resolver.lookup_host(&host, 80);
                tokio::spawn(async move {
                    let addrs = lookup.await.map(|addrs| addrs.collect::<Vec<_>>());
                    check(&host, addrs.map_err(std::io::Error::from))
                })
            })
            .collect();
        let mut ok = 0;
        for lookup in lookups {
            ok += usize::from(lookup.await.expect("lookup task"));
        }
        let pool = resolver.pool().metrics();
        assert!(pool.threads_high_water <= storm.corral_cap);
        ok
    });
    let wall = start.elapsed();
    let peaks = sampler.stop();
    drop(rt);
    SideReport {
        wall,
        peaks,
        rss_before,
        ok,
        queries: server.queries() - before,
    }
}

fn check(host: &str, addrs: std::io::Result<Vec<SocketAddr>>) -> bool {
    let expected = SocketAddr::new(dns::address_for(host).into(), 80);
    matches!(addrs, Ok(addrs) if addrs == [expected])
}

/// What the capped-throughput run measured.
#[derive(Debug, Clone, Copy)]
struct CapReport {
    wall: Duration,
    ideal: Duration,
    threads_high_water: usize,
}

/// `calls` blocking calls of `each` on a pool capped at `cap`.
fn run_cap(calls: usize, each: Duration, cap: usize) -> CapReport {
    let rt = runtime();
    let start = Instant::now();
    let threads_high_water = rt.block_on(async move {
        let pool = BlockingPool::builder()
            .name("sleepers")
            .max_threads(cap)
            .queue_capacity(calls)
            .build()
            .expect("pool");
        let jobs: Vec<_> = (0..calls)
            .map(|_| {
                pool.try_run(move || std::thread::sleep(each))
                    .expect("queue has room")
            })
            .collect();
        for job in jobs {
            job.await.expect("job");
        }
        pool.metrics().threads_high_water
    });
    let wall = start.elapsed();
    let rounds = calls.div_ceil(cap) as u32;
    CapReport {
        wall,
        ideal: each * rounds,
        threads_high_water,
    }
}

fn print_side(label: &str, r: &SideReport, lookups: usize) {
    println!(
        "{label:<26} {:>6.2} s {:>8} {:>10} {:>10} {:>6}/{lookups} ok {:>5} queries",
        r.wall.as_secs_f64(),
        r.peaks.threads,
        mib(r.peaks.rss_bytes),
        mib(r.rss_growth()),
        r.ok,
        r.queries,
    );
}

/// The line a child process prints for its parent.
fn encode(r: &SideReport) -> String {
    format!(
        "REPORT {} {} {} {} {} {}",
        r.wall.as_nanos(),
        r.peaks.threads,
        r.peaks.rss_bytes,
        r.rss_before,
        r.ok,
        r.queries
    )
}

fn decode(line: &str) -> Option<SideReport> {
    let mut f = line
        .strip_prefix("REPORT ")?
        .split(' ')
        .map(str::parse::<u64>);
    let mut next = || f.next()?.ok();
    Some(SideReport {
        wall: Duration::from_nanos(next()?),
        peaks: Peaks {
            threads: next()?,
            rss_bytes: next()?,
            probe: 0,
        },
        rss_before: next()?,
        ok: next()? as usize,
        queries: next()?,
    })
}

/// Runs one side in a fresh process (`<this binary> <side> --child`), so neither side
/// inherits the other's heap or threads, and returns its numbers.
fn run_isolated(side: &str) -> SideReport {
    let exe = std::env::current_exe().expect("current exe");
    let out = std::process::Command::new(exe)
        .args([side, "--child"])
        .output()
        .expect("run child");
    assert!(out.status.success(), "{side} side failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(decode)
        .expect("child report")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let storm = Storm {
        lookups: 5_000,
        names: 50,
        corral_cap: 32,
    };
    // A child runs one side and reports to its parent.
    if args.get(1).map(String::as_str) == Some("--child") {
        let server = dns::SlowDnsServer::start(Duration::from_millis(200)).expect("dns server");
        let report = match args[0].as_str() {
            "tokio" => run_tokio(&server, storm),
            _ => run_corral(&server, storm),
        };
        println!("{}", encode(&report));
        return;
    }
    let what = args.first().map(String::as_str).unwrap_or("all");
    if matches!(what, "all" | "tokio" | "corral") {
        println!(
            "dns_storm: {} lookups of {} names against a DNS server on 127.0.0.1 that \
             answers after 200 ms; each side in a fresh process",
            storm.lookups, storm.names
        );
        println!(
            "note: the slow resolver is injected (a blocking UDP DNS client), since pointing \
             getaddrinfo at a local server needs root; both sides use the same function"
        );
        println!(
            "{:<26} {:>8} {:>8} {:>10} {:>10} {:>12}",
            "", "wall", "threads", "peak RSS", "RSS growth", "answers"
        );
        let tokio = matches!(what, "all" | "tokio").then(|| run_isolated("tokio"));
        if let Some(r) = &tokio {
            print_side("tokio spawn_blocking", r, storm.lookups);
        }
        let corral = matches!(what, "all" | "corral").then(|| run_isolated("corral"));
        if let Some(r) = &corral {
            print_side("corral Resolver (cap 32)", r, storm.lookups);
        }
        if let (Some(c), Some(t)) = (corral, tokio) {
            println!(
                "corral/tokio: wall {:.2}x, threads {:.2}x, peak RSS {:.2}x, RSS growth {:.2}x \
                 (threads include 2 runtime workers, main and the DNS server's 2)",
                c.wall.as_secs_f64() / t.wall.as_secs_f64(),
                c.peaks.threads as f64 / t.peaks.threads as f64,
                c.peaks.rss_bytes as f64 / t.peaks.rss_bytes as f64,
                c.rss_growth() as f64 / t.rss_growth() as f64,
            );
        }
    }
    if matches!(what, "all" | "cap") {
        let r = run_cap(5_000, Duration::from_millis(100), 64);
        println!(
            "5000 blocking calls of 100 ms, cap 64: {:.2} s vs ideal {:.2} s ({:+.1}%), \
             {} threads at most",
            r.wall.as_secs_f64(),
            r.ideal.as_secs_f64(),
            (r.wall.as_secs_f64() / r.ideal.as_secs_f64() - 1.0) * 100.0,
            r.threads_high_water,
        );
    }
}
