//! corral: make every bound in a concurrent tokio service explicit.
//!
//! Cheap concurrency fails in production in a few repeatable ways, and none of them
//! raises an error: blocking calls pile up OS threads, a burst becomes a task per
//! request, a worker parks forever on a channel nobody closes, a client hangs up and
//! the work it started runs on, a hung upstream holds its caller forever. corral is a
//! family of small crates on tokio that states each bound where plain tokio leaves it
//! implicit: how many things run at once, how many wait, how long they may wait, who
//! cancels them, and what happens when a bound is hit. Nothing it spawns can outlive
//! its owner without being seen.
//!
//! This crate is the one dependency that gives the whole family, each part behind a
//! default-on [feature](#features), re-exported as a module: [`semaphore`], [`task`],
//! [`mod@scope`], [`pool`], [`blocking`], [`leak`]. The calls you make most are at the
//! root, with the signatures of the tokio calls they replace:
//!
//! | corral | replaces | what changes |
//! |---|---|---|
//! | [`spawn`] | `tokio::spawn` | the task is in a live-task registry: name, spawn site, parent, age |
//! | [`spawn_blocking`] | `tokio::task::spawn_blocking` | at most 64 jobs run at once, not 512; a job that waited for a slot and is aborted after it started may report cancelled |
//! | [`lookup_host`] | `tokio::net::lookup_host` (same inputs) | capped DNS threads, identical lookups coalesced, a timeout per caller |
//! | [`scope()`] | `tokio::spawn` + `JoinHandle`s | children are cancelled and joined with their owner |
//! | [`#[corral::test]`](macro@test) | `#[tokio::test]` | the test fails if it leaks a task |
//!
//! # When not to use this
//!
//! If your service does not run on tokio, only [`semaphore`] is for you (it is
//! runtime-agnostic; depend on `corral-semaphore` without default features). If you
//! want one piece, depend on this crate with `default-features = false` and that
//! feature, or on the family crate itself. corral is not a scheduler or a rate
//! limiter: it bounds how much runs and waits, not how often things start, and it does
//! not make CPU-bound work parallel (use rayon for that).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use corral::scope::{ScopeConfig, ScopeError};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // tokio::spawn's signature; the task is tracked while it runs.
//! let answer = corral::spawn(async { 6 * 7 }).await.unwrap();
//! assert_eq!(answer, 42);
//!
//! // tokio::task::spawn_blocking's signature, on a capped pool.
//! let meta = corral::spawn_blocking(|| std::fs::metadata("Cargo.toml")).await.unwrap();
//! assert!(meta.is_ok());
//!
//! // A task group with a deadline: its children cannot outlive it, and a call that
//! // hangs fails the group fast instead of holding the caller forever.
//! let request = ScopeConfig::builder().timeout(Duration::from_secs(2)).build().unwrap();
//! let out = request
//!     .scope(|s| async move {
//!         s.go(std::future::pending::<Result<(), std::io::Error>>());
//!         Ok(())
//!     })
//!     .await;
//! assert!(matches!(out, Err(ScopeError::DeadlineExceeded)));
//! # }
//! ```
//!
//! And in tests, `#[corral::test]` in place of `#[tokio::test]` (here the test only
//! compiles; `cargo test` runs such tests):
//!
//! ```
//! #[corral::test]
//! async fn worker_stops_when_its_channel_closes() {
//!     let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
//!     corral::spawn(async move { while rx.recv().await.is_some() {} });
//!     tx.send(1).await.unwrap();
//!     // `tx` is dropped here, the worker ends, the leak check passes. Had the worker
//!     // outlived the test, the test would fail naming its spawn file and line.
//! }
//! ```
//!
//! # Choosing
//!
//! | you have | use | what it bounds |
//! |---|---|---|
//! | callers that await the work inline, and a budget of something (requests in flight, bytes, connections) | [`semaphore::Semaphore`] | how much is held at once; waiters queue FIFO, weights are `u64` |
//! | work arriving faster than you can do it, from callers that should hear "busy" | [`pool::Pool`] | how many run (workers) and how many wait (queue); a full queue hands the job back |
//! | one request or operation fanning out into tasks | [`scope()`] / [`scope::ScopeConfig`] | children's lifetime (joined, cancelled with the owner), their deadline, their count |
//! | synchronous calls (`getaddrinfo`, file systems, a blocking client) | [`blocking::BlockingPool`], [`spawn_blocking`], [`lookup_host`] | OS threads per call class, queued calls, lookups in flight |
//! | a long-lived background task | [`spawn`] / [`task::Builder`] | nothing, but it is visible: [`task::snapshot`] and its census name it |
//! | a test that must not leave tasks behind | [`#[corral::test]`](macro@test) / [`leak::LeakGuard`] | what a test may leave running: nothing |
//!
//! A semaphore and a pool both cap concurrency; the difference is who waits. With a
//! semaphore the caller's task waits for a permit, so the waiting tasks themselves are
//! unbounded unless the caller is; with a pool the job waits in a bounded queue, and a
//! caller who cannot wait gets the job back. A scope owns its children; a pool's
//! workers outlive any one job. A blocking pool is for calls that block a thread; pool
//! workers and scope children are async and must not block.
//!
//! # The failure shapes
//!
//! Each section shows the shape with plain tokio, then the same code with corral. All
//! examples run (paused time where they wait, so they finish at once).
//!
//! ## Blocking DNS storm
//!
//! `tokio::net::lookup_host` runs libc `getaddrinfo` through `spawn_blocking`: one
//! blocking-pool thread per lookup in flight, up to tokio's 512. When the DNS server
//! slows down, a burst of lookups becomes hundreds of OS threads, each asking the same
//! few names again. Plain tokio, with a stub for the stalled server:
//!
//! ```
//! use std::sync::{Arc, Barrier};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Each call blocks until 100 calls are blocked together: the storm completes only if
//! // tokio gives every call its own OS thread at the same time.
//! let stalled_dns = Arc::new(Barrier::new(100));
//! let mut storm = Vec::new();
//! for i in 0..100 {
//!     let stalled_dns = Arc::clone(&stalled_dns);
//!     let host = format!("svc-{}.internal", i % 5);
//!     // What `tokio::net::lookup_host(host)` does: `getaddrinfo` on `spawn_blocking`.
//!     storm.push(tokio::task::spawn_blocking(move || {
//!         let _query = host;
//!         stalled_dns.wait();
//!     }));
//! }
//! for lookup in storm {
//!     lookup.await.unwrap();
//! }
//! // It completed: 100 OS threads were blocked at once, for 5 distinct names.
//! # }
//! ```
//!
//! corral's [`blocking::Resolver`] runs lookups on a capped pool and coalesces
//! identical lookups in flight (the lookup belongs to all its waiters, so one caller's
//! timeout fails nobody else). [`lookup_host`] is the same on a process-wide resolver
//! of 32 threads (`lookup_host("api.example.com:443")`); here is one with a cap of 4
//! and the same stalled stub:
//!
//! ```
//! use std::net::IpAddr;
//! use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
//! use std::sync::{Arc, RwLock};
//! use corral::blocking::Resolver;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A stub DNS server: answers while readable, stalls while write-locked.
//! let dns = Arc::new(RwLock::new(()));
//! let queries = Arc::new(AtomicUsize::new(0));
//! let resolver = Resolver::builder()
//!     .max_threads(4) // at most 4 threads in getaddrinfo, whatever the load
//!     .lookup_fn({
//!         let (dns, queries) = (Arc::clone(&dns), Arc::clone(&queries));
//!         move |_host| {
//!             let _answer = dns.read().unwrap();
//!             queries.fetch_add(1, SeqCst);
//!             Ok(vec![IpAddr::from([127, 0, 0, 1])])
//!         }
//!     })
//!     .build()
//!     .unwrap();
//!
//! let stall = dns.write().unwrap(); // the server stalls while the storm arrives
//! let storm: Vec<_> = (0..100)
//!     .map(|i| resolver.lookup_host(&format!("svc-{}.internal", i % 5), 443))
//!     .collect();
//! drop(stall);
//! for lookup in storm {
//!     let addr = lookup.await.unwrap().next().unwrap();
//!     assert!(addr.ip().is_loopback());
//! }
//! assert_eq!(queries.load(SeqCst), 5); // one query per distinct name, not per caller
//! assert!(resolver.pool().metrics().threads_high_water <= 4);
//! # }
//! ```
//!
//! For other blocking calls, [`spawn_blocking`] is the drop-in (at most
//! [`blocking::DEFAULT_MAX_THREADS`] jobs at once), and a [`blocking::BlockingPool`] per call class
//! (`fs`, a synchronous client) gives each its own cap and bounded queue, with
//! [`try_run`](blocking::BlockingPool::try_run) handing the closure back when full.
//!
//! Measured at full size by `examples/dns_storm.rs` (loopback, 2 cores): 5,000 lookups
//! of 50 names against a 200 ms DNS server peak at 517 OS threads and take 2.0 s with
//! `spawn_blocking` per lookup; a coalescing resolver capped at 32 threads peaks at 37
//! threads, sends 50 queries and takes 0.4 s.
//!
//! ## Unbounded fan-out
//!
//! `tokio::spawn` never says no. A burst of requests, a task each, is as many live
//! tasks as requests, each holding its buffers, and everything else on the runtime
//! waits behind them:
//!
//! ```
//! use std::time::Duration;
//!
//! async fn handle(request: u64) -> u64 {
//!     tokio::time::sleep(Duration::from_secs(1)).await; // the work, or an upstream call
//!     request
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let metrics = tokio::runtime::Handle::current().metrics();
//! for request in 0..10_000 {
//!     tokio::spawn(handle(request));
//! }
//! assert_eq!(metrics.num_alive_tasks(), 10_000); // nothing said no
//! # }
//! ```
//!
//! A [`pool::Pool`] runs at most `workers` jobs at once on a fixed set of worker
//! tasks, keeps at most `queue_capacity` more waiting, and says no when both are full:
//! [`try_submit`](pool::Pool::try_submit) hands the refused job back (reply "busy",
//! retry later), [`submit`](pool::Pool::submit) waits for room, and nothing is lost
//! silently (`submitted = completed + failed + cancelled + handed_back`):
//!
//! ```
//! use std::time::Duration;
//! use corral::pool::{Pool, TrySubmitError};
//!
//! async fn handle(request: u64) -> u64 {
//!     tokio::time::sleep(Duration::from_secs(1)).await;
//!     request
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let pool = Pool::builder()
//!     .workers(8)
//!     .queue_capacity(16)
//!     .name("requests")
//!     .build()
//!     .unwrap();
//! tokio::task::yield_now().await; // let the workers start
//!
//! let (mut accepted, mut refused) = (Vec::new(), Vec::new());
//! for request in 0..10_000 {
//!     match pool.try_submit(handle(request)) {
//!         Ok(job) => accepted.push(job),
//!         Err(TrySubmitError::Full(job)) => refused.push(job), // handed back, unpolled
//!         Err(TrySubmitError::Closed(_)) => unreachable!("the pool is open"),
//!     }
//! }
//! assert_eq!(accepted.len(), 8 + 16); // 8 running, 16 waiting
//! assert_eq!(refused.len(), 10_000 - 24); // the caller knows, and holds them
//! let metrics = tokio::runtime::Handle::current().metrics();
//! assert_eq!(metrics.num_alive_tasks(), 8); // the workers; jobs are not tasks
//!
//! for job in accepted {
//!     job.await.unwrap();
//! }
//! assert_eq!(pool.metrics().completed, 24);
//! # }
//! ```
//!
//! Measured by `examples/fan_out.rs` (a burst of 50,000 requests on 2 runtime
//! threads): a task per request peaks at 42,000 to 47,000 live tasks and 211 to 224
//! MiB of extra memory, and an unrelated endpoint's p99 latency climbs to about 10 ms;
//! a pool of 256 workers and a queue of 512 peaks at 257 live tasks and 2.5 MiB,
//! refuses (and counts) 48,976 requests, and keeps that p99 under 0.1 ms.
//!
//! When the caller awaits the work anyway, a [`semaphore::Semaphore`] bounds how much
//! is in flight. Weights are `u64`, so a byte budget is a capacity; waiters are served
//! in arrival order, and a request larger than the whole budget fails at once instead
//! of waiting forever:
//!
//! ```
//! use std::sync::Arc;
//! use corral::semaphore::{AcquireError, Semaphore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let budget = Arc::new(Semaphore::new(64 << 20)); // 64 MiB buffered at most
//! let mut uploads = Vec::new();
//! for size in [40u64 << 20, 20 << 20, 30 << 20] {
//!     // The spawner waits (FIFO) for `size` bytes before it spawns: the burst waits
//!     // here, not as live tasks holding their buffers.
//!     let permit = budget.acquire_owned(size).await.unwrap();
//!     uploads.push(corral::spawn(async move {
//!         // ... buffer and send `size` bytes ...
//!         drop(permit); // the bytes go back to the budget
//!     }));
//! }
//! for upload in uploads {
//!     upload.await.unwrap();
//! }
//! let too_large = budget.acquire(100 << 20).await.unwrap_err();
//! assert!(matches!(too_large, AcquireError::TooLarge { .. }));
//! # }
//! ```
//!
//! ## Leaked worker
//!
//! A dropped `JoinHandle` detaches its task silently. A worker parked on a channel
//! whose sender was stored somewhere lives forever, and its test passes:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut sessions = Vec::new();
//! // A request handler starts a worker per session...
//! let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
//! tokio::spawn(async move { while let Some(_msg) = rx.recv().await {} });
//! tx.send(1).await.unwrap();
//! sessions.push(tx); // ...and the bug: the sender is kept, the channel never closes.
//!
//! tokio::task::yield_now().await;
//! let metrics = tokio::runtime::Handle::current().metrics();
//! assert_eq!(metrics.num_alive_tasks(), 1); // alive: but which task, spawned where?
//! # }
//! ```
//!
//! With corral, tasks started by [`spawn`] (or a named [`task::Builder`]) are in a
//! registry until their future is dropped. A [`leak::LeakGuard`] (which
//! `#[corral::test]` makes for you) fails the test naming each task that outlived it;
//! in production, [`task::snapshot`]'s census groups live tasks by spawn site:
//!
//! ```
//! use corral::leak::LeakGuard;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let guard = LeakGuard::new();
//! let mut sessions = Vec::new();
//! let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
//! corral::task::Builder::new()
//!     .name("session-worker")
//!     .spawn(async move { while let Some(_msg) = rx.recv().await {} });
//! tx.send(1).await.unwrap();
//! sessions.push(tx);
//!
//! // `guard.assert_clean().await` panics with this report; `check` returns it.
//! let report = guard.check().await;
//! assert_eq!(report.leaked().len(), 1);
//! assert_eq!(report.leaked()[0].task().name(), Some("session-worker"));
//! println!("{report}");
//! // leak check failed: 1 leaked task still alive after 11 checks over 250ms
//! //   task #.. "session-worker" spawned at src/lib.rs:.., alive for 250ms
//!
//! // The production view: which call site is piling up tasks.
//! let census = corral::task::snapshot().census();
//! assert!(census.iter().any(|site| site.name() == Some("session-worker")));
//! println!("{census}");
//! # }
//! ```
//!
//! Plain `tokio::spawn` leaks are caught too, through the runtime's alive-task count
//! (without names), and so are threads of a dropped blocking pool still running a job.
//! `examples/leaked_worker.rs` leaks 20,000 such workers: with tokio all it can show
//! is the alive-task count; with corral the census names the one spawn site holding
//! all of them, with the age of the oldest.
//!
//! ## Cancellation not propagated
//!
//! When a client hangs up, its handler's future is dropped, but the tasks the handler
//! spawned are detached: the upstream calls run on, for nobody.
//!
//! ```
//! use std::time::Duration;
//!
//! type Error = Box<dyn std::error::Error + Send + Sync>;
//!
//! async fn upstream_call() -> Result<u32, Error> {
//!     tokio::time::sleep(Duration::from_secs(2)).await;
//!     Ok(1)
//! }
//!
//! async fn handler() -> Result<u32, Error> {
//!     let calls: Vec<_> = (0..3).map(|_| tokio::spawn(upstream_call())).collect();
//!     let mut total = 0;
//!     for call in calls {
//!         total += call.await??;
//!     }
//!     Ok(total)
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // The client hangs up after 100 ms: the handler's future is dropped.
//! let hung_up = tokio::time::timeout(Duration::from_millis(100), handler()).await;
//! assert!(hung_up.is_err());
//! tokio::task::yield_now().await;
//! let metrics = tokio::runtime::Handle::current().metrics();
//! assert_eq!(metrics.num_alive_tasks(), 3); // the three calls run on
//! # }
//! ```
//!
//! A [`scope()`] owns its children: dropping its future aborts every one of them
//! (and the ones they spawned through a clone of the handle), the first error cancels
//! the rest, and the scope completes only once every child is gone.
//!
//! ```
//! use std::time::Duration;
//!
//! type Error = Box<dyn std::error::Error + Send + Sync>;
//!
//! async fn upstream_call() -> Result<u32, Error> {
//!     tokio::time::sleep(Duration::from_secs(2)).await;
//!     Ok(1)
//! }
//!
//! async fn handler() -> Result<u32, corral::scope::ScopeError<Error>> {
//!     corral::scope(|s| async move {
//!         let mut calls = corral::scope::Results::new();
//!         for _ in 0..3 {
//!             calls.push(s.go(upstream_call()));
//!         }
//!         Ok(calls.join().await?.into_iter().sum())
//!     })
//!     .await
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let hung_up = tokio::time::timeout(Duration::from_millis(100), handler()).await;
//! assert!(hung_up.is_err());
//! tokio::task::yield_now().await;
//! let metrics = tokio::runtime::Handle::current().metrics();
//! assert_eq!(metrics.num_alive_tasks(), 0); // the calls stopped with their owner
//!
//! assert_eq!(handler().await.unwrap(), 3); // and a patient client gets its answer
//! # }
//! ```
//!
//! Children that cannot be stopped at an await (a busy loop, a blocking section) can
//! watch [`Scope::token`](scope::Scope::token), a `CancellationToken` cancelled with the
//! group.
//!
//! Measured by `examples/proxy_cancel.rs` (300 clients that hang up after 100 ms, 3
//! upstream calls of 2 s per request): with `tokio::spawn`, 300 ms after the last
//! client left, 900 upstream calls are still alive and all 900 answers are fetched for
//! nobody; with a scope, none.
//!
//! ## Call without a deadline
//!
//! Nothing in tokio inherits a deadline. A hung upstream (it accepted the connection
//! and never answers) holds its caller for as long as the caller waits, which, unless
//! every call site remembered a timeout, is forever:
//!
//! ```
//! use std::time::Duration;
//!
//! async fn hung_upstream() -> Result<u32, std::io::Error> {
//!     std::future::pending().await // accepted, never answers
//! }
//!
//! async fn handler() -> Result<u32, std::io::Error> {
//!     hung_upstream().await // nothing bounds this wait
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // Only this demonstration's safety net ends the wait; in a service nothing does.
//! let after_an_hour = tokio::time::timeout(Duration::from_secs(3600), handler()).await;
//! assert!(after_an_hour.is_err()); // still waiting
//! # }
//! ```
//!
//! A scope can carry a deadline ([`scope::ScopeConfig`]). Reaching it cancels the group
//! and the scope fails with [`ScopeError::DeadlineExceeded`](scope::ScopeError),
//! distinct from a child's own error; scopes nested anywhere below (in the body or a
//! child) inherit `min(parent's, own)`, and code outside a scope's reach can read it
//! with [`scope::current_deadline`]:
//!
//! ```
//! use std::time::Duration;
//! use corral::scope::{ScopeConfig, ScopeError};
//! use tokio::time::Instant;
//!
//! async fn hung_upstream() -> Result<u32, std::io::Error> {
//!     std::future::pending().await
//! }
//!
//! async fn handler() -> Result<u32, std::io::Error> {
//!     // A nested scope: it inherits the request's deadline without being told.
//!     let inherited = corral::scope::current_deadline();
//!     assert!(inherited.is_some());
//!     corral::scope(|s| async move {
//!         let call = s.go(hung_upstream());
//!         call.await.map_err(std::io::Error::other)
//!     })
//!     .await
//!     .map_err(std::io::Error::other)
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let request = ScopeConfig::builder().timeout(Duration::from_secs(2)).build().unwrap();
//! let started = Instant::now();
//! let out = request
//!     .scope(|s| async move {
//!         let handler = s.go(handler());
//!         handler.await.map_err(std::io::Error::other)
//!     })
//!     .await;
//! assert!(matches!(out, Err(ScopeError::DeadlineExceeded)));
//! assert!(started.elapsed() < Duration::from_secs(3)); // failed fast, at the deadline
//! # }
//! ```
//!
//! The other waits in corral take deadlines too:
//! [`Semaphore::acquire_timeout`](semaphore::Semaphore::acquire_timeout), the resolver's
//! per-waiter timeout (default [`blocking::DEFAULT_LOOKUP_TIMEOUT`]), and the pool's
//! enqueue deadline, [`Pool::submit_timeout`](pool::Pool::submit_timeout), separate
//! from the job's own.
//!
//! # Features
//!
//! Every feature but `reqwest`, `reqwest-012`, `tower` and `fleet` is on by default. With `default-features = false`, pick
//! what you use; a feature turns on the ones it needs.
//!
//! | feature | gives | also enables |
//! |---|---|---|
//! | `semaphore` | [`semaphore`] (`corral-semaphore`) | |
//! | `task` | [`task`] (`corral-task`), [`spawn`] | |
//! | `scope` | [`mod@scope`] (`corral-scope`), [`scope()`] | `task` |
//! | `pool` | [`pool`] (`corral-pool`) | `task`, `semaphore` |
//! | `blocking` | [`blocking`] (`corral-blocking`), [`spawn_blocking`], [`lookup_host`] | `task` |
//! | `leak` | [`leak`] (`corral-leak`) | `task` |
//! | `macros` | [`#[corral::test]`](macro@test) (`corral-macros`) | `leak` |
//! | `reqwest` (off by default) | [`blocking::Resolver`] as a `reqwest::dns::Resolve` of **reqwest 0.13** (the current major), for `ClientBuilder::dns_resolver` | `blocking` |
//! | `reqwest-012` (off by default) | the same for **reqwest 0.12** | `blocking` |
//! | `tower` (off by default) | `tower` (`corral-tower`): `LimitLayer`, `ScopeLayer`, a tracked hyper executor; tower 0.5, http 1, hyper 1, hyper-util 0.1 | `scope`, `semaphore` |
//! | `serde` (off by default) | [`task::Snapshot`], [`task::Census`], what they hold and the leak watch's flags serialize with serde ([see below](#in-production-the-census-as-data-and-the-leak-watch)) | `task` |
//! | `tracing` (off by default) | [`task::watch`] logs each flag as a `tracing` warning; tracked tasks can carry a span (name, site, id) | `task` |
//! | `fleet` (off by default) | `corral::fleet` (`corral-fleet`): a fleet-wide weighted FIFO semaphore on Redis, leased permits, fencing tokens | `task`, `semaphore` |
//!
//! `#[corral::test(start_paused = true)]` needs tokio's `test-util` feature in your
//! dev-dependencies, as `#[tokio::test(start_paused = true)]` does.
//!
//! # Costs
//!
//! Measured by the criterion benches in `benches/` against the tokio peer each piece
//! replaces, in the same run; `BENCHMARKS.md` at the repository root has every ratio,
//! the machine, the commit and how to reproduce them. In short:
//!
//! - [`semaphore::Semaphore`]: an uncontended acquire is one compare-and-swap and a
//!   release one atomic add, no lock, no allocation (about a third of
//!   `tokio::sync::Semaphore`'s time); contended, on par with or faster than tokio.
//! - [`spawn`]: a few percent over `tokio::spawn` per spawned and joined no-op task (the
//!   target is at most 10%; BENCHMARKS.md has the paired figures per runtime flavour),
//!   one short lock section on the spawning thread's registry shard, and about 52 bytes
//!   per live task in the registry (a 32-byte entry, an 8-byte tag, an 8-byte ended
//!   mark, up to 4 bytes of free list; plus a 16-byte creator record for a task spawned by a tracked task).
//! - [`scope()`]: a child is a tracked spawn plus four uncontended atomic
//!   read-modify-writes, in one 128-byte tokio task when the scope has no limit; against
//!   `JoinSet`, which keeps no registry, the paired bench is not yet within its 1.15x
//!   target on every run (BENCHMARKS.md says where the time goes).
//! - [`pool::Pool`]: one allocation per job and no task of its own; faster per job than
//!   a bounded channel with workers (about 0.7x its time), and four to five times faster
//!   than a spawn per job behind a semaphore.
//! - [`blocking::BlockingPool::run`]: a round trip faster than tokio's
//!   `spawn_blocking`; [`spawn_blocking`] is tokio's own path plus one slot of a FIFO
//!   cap, within a few percent of it.
//! - [`leak`] and [`#[corral::test]`](macro@test): test-only; a clean check is one
//!   registry snapshot.
//!
//! # Adopting corral across a codebase
//!
//! Replace the imports (`tokio::spawn` to [`spawn`], `tokio::task::spawn_blocking` to
//! [`spawn_blocking`], `tokio::net::lookup_host` to [`lookup_host`] (same inputs),
//! `#[tokio::test]` to `#[corral::test]`), then keep them replaced with clippy's
//! `disallowed-methods` in `clippy.toml`:
//!
//! ```toml
//! disallowed-methods = [
//!     { path = "tokio::spawn", reason = "use corral::spawn: tracked tasks show in the census and fail leak-checked tests" },
//!     { path = "tokio::task::spawn", reason = "use corral::spawn: tracked tasks show in the census and fail leak-checked tests" },
//!     { path = "tokio::task::spawn_blocking", reason = "use corral::spawn_blocking: a capped pool" },
//!     { path = "tokio::net::lookup_host", reason = "use corral::lookup_host: capped, coalescing DNS" },
//!     { path = "tokio::runtime::Handle::spawn", reason = "use corral::task::Builder::spawn_on, which tracks the task" },
//! ]
//! ```
//!
//! # In production: the census as data and the leak watch
//!
//! With the `serde` feature, a [`task::Snapshot`] and its [`task::Census`] serialize
//! (the JSON shapes are in [`task`]'s docs, "The census as data"), so a debug endpoint is a
//! few lines. With axum:
//!
//! ```no_run
//! # #[cfg(feature = "serde")]
//! # async fn serve() -> std::io::Result<()> {
//! use axum::{http::header::CONTENT_TYPE, routing::get, Router};
//!
//! async fn census() -> ([(axum::http::HeaderName, &'static str); 1], String) {
//!     let census = corral::task::snapshot().census();
//!     let json = serde_json::to_string(&census).expect("a census always serializes");
//!     ([(CONTENT_TYPE, "application/json")], json)
//! }
//! let app = Router::new().route("/debug/census", get(census));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
//! axum::serve(listener, app).await
//! # }
//! # fn main() {}
//! ```
//!
//! With plain hyper 1 (and hyper-util's `TokioIo`):
//!
//! ```no_run
//! # #[cfg(feature = "serde")]
//! # async fn serve() -> std::io::Result<()> {
//! use http_body_util::Full;
//! use hyper::{body::Bytes, server::conn::http1, service::service_fn, Response};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
//! loop {
//!     let (stream, _) = listener.accept().await?;
//!     let census = service_fn(|_request| async {
//!         let json = serde_json::to_vec(&corral::task::snapshot().census()).expect("serializes");
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(json))))
//!     });
//!     let io = hyper_util::rt::TokioIo::new(stream);
//!     corral::spawn(http1::Builder::new().serve_connection(io, census));
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! [`task::watch`] runs a leak watch: one tracked task samples the census every 10 s
//! and flags a spawn site whose live count keeps growing over a minute while its
//! oldest task keeps ageing (a busy site with churn is not flagged). Keep the
//! returned [`task::Watch`] for the life of the service (dropping it stops the
//! watch); its flags come as `tracing` warnings with the `tracing` feature, through
//! [`task::WatchConfigBuilder::on_event`], as [`task::Watch::flags`] and
//! [`task::Watch::suspected`], and with the `metrics` feature as a
//! `corral_task_suspected_leaks` gauge at 1 per flagged site (labels `site`, `name`).
//! The `production_view` example runs one beside a Prometheus exporter.

#![forbid(unsafe_code)]

#[cfg(feature = "semaphore")]
#[doc(inline)]
pub use corral_semaphore as semaphore;

#[cfg(feature = "task")]
#[doc(inline)]
pub use corral_task as task;

#[cfg(feature = "task")]
#[doc(inline)]
pub use corral_task::spawn;

#[cfg(feature = "scope")]
#[doc(inline)]
pub use corral_scope as scope;

// The module `scope` (type namespace) and the function `scope` (value namespace)
// coexist, so both `corral::scope::ScopeConfig` and `corral::scope(|s| ..)` work.
#[cfg(feature = "scope")]
#[doc(inline)]
pub use corral_scope::scope;

#[cfg(feature = "pool")]
#[doc(inline)]
pub use corral_pool as pool;

#[cfg(feature = "blocking")]
#[doc(inline)]
pub use corral_blocking as blocking;

#[cfg(feature = "blocking")]
#[doc(inline)]
pub use corral_blocking::{lookup_host, spawn_blocking};

#[cfg(feature = "leak")]
#[doc(inline)]
pub use corral_leak as leak;

#[cfg(feature = "macros")]
pub use corral_macros::test;

#[cfg(feature = "tower")]
#[doc(inline)]
pub use corral_tower as tower;

#[cfg(feature = "fleet")]
#[doc(inline)]
pub use corral_fleet as fleet;

#[doc(hidden)]
pub mod __private {
    pub use tokio;
}
