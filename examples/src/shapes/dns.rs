//! Blocking DNS storm: a burst of lookups of a few names against a DNS server that
//! answers slowly.
//!
//! Plain tokio: `tokio::net::lookup_host` runs `getaddrinfo` through `spawn_blocking`,
//! one blocking-pool thread per lookup, up to tokio's 512. So a slow DNS server turns a
//! burst of lookups into hundreds of OS threads, each lookup waiting its own answer.
//! corral: a `Resolver` on a capped pool coalesces identical lookups, so `names`
//! distinct names cost `ceil(names / cap)` answers' time, on at most `cap` threads.
//!
//! Pointing libc's `getaddrinfo` at a local server needs root (a private
//! `/etc/resolv.conf`), so both sides inject the same blocking lookup function: it
//! sends a real DNS query over UDP to a slow server on 127.0.0.1 and blocks its thread
//! until the answer comes, exactly as `getaddrinfo` would.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use corral::blocking::Resolver;
use corral_test_support::dns as server;

use super::{ms, runtime, Bounds, Measure, RUNTIME_WORKERS};
use crate::rss_bytes;
use crate::shapes::{Cell, Side};

/// Threads besides the runtime's workers and the capped pool: main, the DNS server's
/// two, the endpoint's client, and slack for tokio's own helpers.
pub const FIXED_THREADS: u64 = 8;

/// The storm's shape.
#[derive(Debug, Clone, Copy)]
pub struct Storm {
    /// Lookups in the burst.
    pub lookups: usize,
    /// Distinct names among them.
    pub names: usize,
    /// How long the DNS server takes to answer.
    pub delay: Duration,
    /// corral's thread cap for lookups.
    pub cap: usize,
}

impl Storm {
    /// 5,000 lookups of 50 names at 200 ms, cap 32; quick: 2,000 of 20 at 100 ms.
    pub fn new(quick: bool) -> Storm {
        if quick {
            Storm {
                lookups: 2_000,
                names: 20,
                delay: Duration::from_millis(100),
                cap: 32,
            }
        } else {
            Storm {
                lookups: 5_000,
                names: 50,
                delay: Duration::from_millis(200),
                cap: 32,
            }
        }
    }
}

/// What one side measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The tour's measurements.
    pub cell: Cell,
    /// Resident memory when the side started (no runtime yet).
    pub rss_before: u64,
    /// Lookups that returned the right address.
    pub ok: usize,
    /// Queries the DNS server received.
    pub queries: u64,
}

fn name(i: usize, names: usize) -> String {
    format!("host{}.storm.test", i % names)
}

fn check(host: &str, addrs: std::io::Result<Vec<SocketAddr>>) -> bool {
    let expected = SocketAddr::new(server::address_for(host).into(), 80);
    matches!(addrs, Ok(addrs) if addrs == [expected])
}

/// Runs the storm on one side, with its own DNS server and runtime.
pub fn run(side: Side, storm: Storm) -> Report {
    let dns = server::SlowDnsServer::start(storm.delay).expect("start the DNS server");
    let addr = dns.addr();
    let rss_before = rss_bytes();
    let rt = runtime();
    let measure = Measure::start(&rt);
    let ok = rt.block_on(async move {
        // Dropping a resolver closes its pool, failing lookups still queued: it lives
        // until every lookup is answered.
        let resolver = (side == Side::Corral).then(|| {
            Resolver::builder()
                .max_threads(storm.cap)
                .lookup_fn(move |host| server::lookup(addr, host))
                .build()
                .expect("resolver")
        });
        let lookups: Vec<_> = match &resolver {
            // One `spawn_blocking` per lookup: what `tokio::net::lookup_host` does.
            None => (0..storm.lookups)
                .map(|i| {
                    let host = name(i, storm.names);
                    tokio::spawn(async move {
                        let lookup_host = host.clone();
                        let addrs =
                            tokio::task::spawn_blocking(move || server::lookup(addr, &lookup_host))
                                .await
                                .expect("lookup task");
                        let addrs = addrs
                            .map(|ips| ips.into_iter().map(|ip| SocketAddr::new(ip, 80)).collect());
                        check(&host, addrs)
                    })
                })
                .collect(),
            // The same lookup function behind a capped, coalescing resolver.
            Some(resolver) => (0..storm.lookups)
                .map(|i| {
                    let host = name(i, storm.names);
                    let resolver = resolver.clone();
                    // The lookup is made inside the task, as the tokio side's is: a
                    // future built outside and moved in would be stored twice in the
                    // task (captured, then awaited).
                    tokio::spawn(async move {
                        let addrs = resolver
                            .lookup_host(&host, 80)
                            .await
                            .map(|addrs| addrs.collect::<Vec<_>>());
                        check(&host, addrs.map_err(std::io::Error::from))
                    })
                })
                .collect(),
        };
        let mut ok = 0;
        for lookup in lookups {
            ok += usize::from(lookup.await.expect("lookup task"));
        }
        ok
    });
    let mut cell = measure.finish();
    // Dropping the runtime stops its blocking threads.
    drop(rt);
    let queries = dns.queries();
    cell.rejected = Some(0);
    cell.accounted = Some(ok == storm.lookups);
    cell.outcome = format!(
        "{ok}/{} answered, {queries} DNS queries{}",
        storm.lookups,
        if side == Side::Corral {
            " (coalesced)"
        } else {
            ""
        }
    );
    Report {
        cell,
        rss_before,
        ok,
        queries,
    }
}

/// One side's cell.
pub fn cell(side: Side, quick: bool) -> Cell {
    run(side, Storm::new(quick)).cell
}

/// Threads within cap + runtime workers + fixed; wall at most half of tokio's; every
/// lookup answered.
pub fn judge(corral: &Cell, tokio: &Cell, quick: bool) -> Result<String, String> {
    let storm = Storm::new(quick);
    let mut b = Bounds::default();
    let max_threads = storm.cap as u64 + RUNTIME_WORKERS as u64 + FIXED_THREADS;
    b.check_value(
        "threads",
        corral.peak_threads,
        |t| t <= max_threads,
        |t| {
            format!(
                "threads {t} <= {max_threads} (cap {} + {RUNTIME_WORKERS} workers + {FIXED_THREADS} fixed)",
                storm.cap
            )
        },
    );
    match (corral.wall, tokio.wall) {
        (Some(c), Some(t)) => b.check(
            c.as_secs_f64() <= 0.5 * t.as_secs_f64(),
            format!("wall {} ms <= 0.5 x tokio's {} ms", ms(c), ms(t)),
        ),
        _ => b.check(
            false,
            "wall times missing: cannot compare with tokio".into(),
        ),
    }
    b.check_value(
        "answers",
        corral.accounted,
        |a| a,
        |a| {
            if a {
                format!("all {} lookups answered", storm.lookups)
            } else {
                "some lookups went unanswered".into()
            }
        },
    );
    b.verdict()
}

/// How long the same number of calls takes on a capped pool against the ideal
/// `ceil(calls / cap) x each` (the standalone example's second part).
#[derive(Debug, Clone, Copy)]
pub struct CapReport {
    /// Measured.
    pub wall: Duration,
    /// `ceil(calls / cap) x each`.
    pub ideal: Duration,
    /// Most threads the pool had.
    pub threads_high_water: usize,
}

/// `calls` blocking calls of `each` on a corral pool capped at `cap`.
pub fn run_cap(calls: usize, each: Duration, cap: usize) -> CapReport {
    let rt = runtime();
    let start = Instant::now();
    let threads_high_water = rt.block_on(async move {
        let pool = corral::blocking::BlockingPool::builder()
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
    CapReport {
        wall: start.elapsed(),
        ideal: each * calls.div_ceil(cap) as u32,
        threads_high_water,
    }
}
