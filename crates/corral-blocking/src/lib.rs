//! Capped blocking pools for synchronous calls, and a bounded, coalescing DNS resolver.
//!
//! tokio runs blocking work (`spawn_blocking`, and `getaddrinfo` behind
//! `tokio::net::lookup_host`) on one pool of up to 512 threads, with an unbounded queue,
//! and runs a job even when its caller has long gone. Under a slow DNS server, 5,000
//! lookups peak at 515 OS threads. This crate makes those bounds explicit:
//!
//! - [`BlockingPool`]: dedicated, named threads per call class (`dns`, `fs`, ...), at
//!   most `max_threads`, spawned on demand and reaped after a keep-alive, with a bounded
//!   queue ([`run`](BlockingPool::run) waits for space,
//!   [`try_run`](BlockingPool::try_run) refuses and hands the closure back). A job whose
//!   caller left before it started never runs; a started job holds its slot until it
//!   really returns, and the [metrics](BlockingPool::metrics) say so.
//! - [`spawn_blocking`]: the drop-in for `tokio::task::spawn_blocking` (same signature,
//!   same `JoinHandle`, same behaviour inside and around the job): tokio's blocking
//!   pool behind a process-wide cap of [`DEFAULT_MAX_THREADS`] running jobs.
//! - [`Resolver`] and [`lookup_host`]: `getaddrinfo` on a capped pool, with identical
//!   in-flight lookups coalesced (the lookup belongs to all its waiters, so one
//!   caller's timeout or cancellation fails nobody else), a per-waiter timeout and an
//!   optional short-TTL cache. With the `reqwest` feature it plugs into
//!   `reqwest::ClientBuilder::dns_resolver` of reqwest 0.13 (the current major);
//!   `reqwest-012` does the same for reqwest 0.12.
//! - [`stray_threads`]: threads of pools that were shut down or dropped but are still
//!   finishing a job, for leak checks.
//!
//! Every default cap is a documented constant with its reason:
//! [`DEFAULT_MAX_THREADS`], [`DEFAULT_DNS_MAX_THREADS`], [`DEFAULT_LOOKUP_TIMEOUT`].
//! [`Resolver::metrics`] and [`spawn_blocking_metrics`] count what they do.
//!
//! With the `metrics` feature (off by default), every pool (label `pool`, its name) and
//! resolver (label `resolver`, its pool's name) reports through the `metrics` facade:
//! `corral_blocking_{threads,running_jobs,queued_jobs,abandoned_running_jobs}`
//! (gauges), `corral_blocking_jobs_{completed,rejected}_total`,
//! `corral_resolver_{lookups,coalesced,cache_hits,cache_misses,timeouts,errors}_total`
//! (counters), all published from the `metrics()` snapshots on each census tick of
//! `corral_task::export_metrics` (as fresh as its interval; nothing per job or lookup),
//! and `corral_resolver_lookup_seconds`, a histogram with one sample per call of the
//! lookup function as it returns (coalesced waiters share the one call; a call that
//! panics is not timed).
//!
//! # When not to use this
//!
//! For CPU-bound parallel work, use a work-stealing pool sized to the cores (rayon): a
//! blocking pool is for calls that *wait*. For async I/O, use async APIs: a thread per
//! call is the cost this crate bounds, not one to take on by choice. If you need a
//! full DNS client (TTLs, DNSSEC, custom servers), use an async resolver such as
//! hickory-dns; this resolver keeps libc's behaviour (`/etc/hosts`, nsswitch) and only
//! bounds it. And a job that may wait for another job of the same pool can deadlock a
//! capped pool: give such classes separate pools.
//!
//! # Examples
//!
//! ```
//! use corral_blocking::{BlockingPool, Resolver};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // One pool per call class.
//! let fs = BlockingPool::builder().name("fs").max_threads(16).build().unwrap();
//! let size = fs.run(|| std::fs::metadata("Cargo.toml").map(|m| m.len())).await;
//! assert!(size.unwrap().is_ok());
//!
//! // The drop-in for tokio::task::spawn_blocking.
//! let n = corral_blocking::spawn_blocking(|| 2 + 2).await.unwrap();
//! assert_eq!(n, 4);
//!
//! // Bounded, coalescing DNS.
//! let resolver = Resolver::builder()
//!     .max_threads(8)
//!     .timeout(Duration::from_secs(2))
//!     .build()
//!     .unwrap();
//! let addr = resolver.lookup_host("localhost", 80).await.unwrap().next().unwrap();
//! assert!(addr.ip().is_loopback());
//! # }
//! ```
#![forbid(unsafe_code)]

mod default;
mod error;
#[cfg(all(feature = "metrics", not(corral_loom)))]
mod metrics;
mod pool;
#[cfg(any(feature = "reqwest", feature = "reqwest-012"))]
mod reqwest;
mod resolver;
mod stray;

#[doc(hidden)]
pub use default::{__JobWatch, __watch_jobs};
pub use default::{
    spawn_blocking, spawn_blocking_metrics, SpawnBlockingMetrics, DEFAULT_MAX_THREADS,
    SPAWN_BLOCKING_NAME, SPAWN_BLOCKING_WAITER_NAME,
};
pub use error::{BuildError, LookupError, ResolverBuildError, RunError, TryRunError};
pub use pool::{AcceptedJob, BlockingPool, Builder, PoolMetrics, Run, Stopped, MIN_STACK_SIZE};
pub use resolver::{
    default_resolver, lookup_host, system_lookup, Family, LookupAddrs, LookupFn, LookupHost,
    Resolver, ResolverBuilder, ResolverMetrics, ToHostPort, DEFAULT_DNS_MAX_THREADS,
    DEFAULT_DNS_QUEUE_CAPACITY, DEFAULT_LOOKUP_TIMEOUT,
};
pub use stray::{stray_threads, StrayThread};
