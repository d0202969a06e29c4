//! A fleet-wide weighted FIFO semaphore on Redis: corral's `Semaphore` contract across
//! processes, with leased permits, a lost-lease token and fencing tokens.
//!
//! "At most 64 calls to the payment provider across 40 replicas", "at most 2 GiB of
//! uploads being staged across the fleet", "one re-index at a time": a bound that holds
//! in one process does not hold for a fleet. [`FleetSemaphore`] keeps the budget in
//! Redis, changes it only in server-side Lua scripts (one runs at a time, so every
//! change is atomic) and reads time only from the server (`TIME`), so hosts' clocks do
//! not matter.
//!
//! - **The local contract, across processes**: `u64` weights (a capacity up to
//!   [`FleetSemaphore::MAX_PERMITS`], 2^53 - 1: the scripts count exactly only that
//!   far); strict FIFO (a queued
//!   large request is not starved by later small ones from other hosts, and
//!   [`try_acquire`](FleetSemaphore::try_acquire) never jumps the queue); `n >
//!   capacity` fails at once; [`set_capacity`](FleetSemaphore::set_capacity) (growing
//!   wakes waiters, shrinking is lazy, waiters that can never fit fail);
//!   [`close`](FleetSemaphore::close); [`status`](FleetSemaphore::status).
//! - **Woken, not polling**: a grant is published to the waiting process (Redis
//!   pub/sub on the same RESP3 connection) with its fencing token, so a waiter learns
//!   of it without another round trip. Each waiter also refreshes its place every
//!   third of a lease, which bounds the delay if a notification is lost with a
//!   connection.
//! - **Leases**: a held permit expires on the server unless its own tracked task
//!   (`corral-fleet lease` in `corral_task::snapshot()`) renews it every third of the
//!   lease. A holder that dies or is partitioned away loses its permits when the lease
//!   runs out; every script reaps expired leases before it decides anything, and
//!   queued waiters run a script every third of a lease, so the permits are granted
//!   again within lease + one renewal interval.
//! - **Losing a lease is visible**: [`FleetPermit::lease_lost`] is a tokio-util
//!   [`CancellationToken`] that fires when the server says it no longer holds the
//!   permit, or renewal failed until the lease may have lapsed. Hand it to the work
//!   the permit guards (a corral scope's token, a `select!`).
//! - **Fencing tokens**: every grant carries [`FleetPermit::fencing_token`], larger
//!   than every earlier grant's, so the guarded resource can refuse a stale holder
//!   (a process that paused past its lease and woke up believing it still holds).
//! - **Round trips**: one script call to acquire when the permits are free, one to
//!   release; a queued acquire costs one call to queue plus one per third of a lease
//!   while it waits (measured in `benches/corral_fleet_paired.rs`, see
//!   `BENCHMARKS.md`).
//! - **Same API in process**: with the URL `memory://` the same type runs over
//!   [`corral_semaphore::Semaphore`], so code and tests run without Redis and switch by
//!   configuration.
//!
//! # When not to use this
//!
//! If the bound is per process, use `corral_semaphore::Semaphore`: it costs
//! nanoseconds, not a network round trip. If you need a rate ("100 calls a second")
//! rather than a concurrency budget, this is the wrong tool. If you need a permit that
//! survives the failover of a Redis primary without any overlap, no single-primary
//! Redis design gives that (see below): use a consensus store (etcd, ZooKeeper) and
//! still check fencing tokens at the resource.
//!
//! # Examples
//!
//! The in-process backend (this example runs without Redis):
//!
//! ```
//! use std::time::Duration;
//! use corral_fleet::FleetSemaphore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In production: "redis://10.0.0.5:6379/" from configuration.
//! let url = "memory://";
//! let uploads = FleetSemaphore::builder(url, "upload-bytes")
//!     .capacity(2 << 30) // 2 GiB staged at once, fleet-wide
//!     .lease(Duration::from_secs(10))
//!     .build()
//!     .await?;
//!
//! let permit = uploads.acquire(300 << 20).await?; // 300 MiB
//! let fence = permit.fencing_token();
//! tokio::select! {
//!     // The work, bound to the lease: it stops if the lease is lost...
//!     () = permit.lease_lost().cancelled() => return Err("lease lost".into()),
//!     // ...and presents the fencing token to the storage it writes to.
//!     () = async { let _ = fence; /* store.put(chunk, fence).await */ } => {}
//! }
//! permit.release().await?;
//! assert_eq!(uploads.available().await?, 2 << 30);
//! # Ok(())
//! # }
//! ```
//!
//! # What it guarantees with one Redis primary
//!
//! With one Redis server (no failover), and holders that stop work when their
//! [`lease_lost`](FleetPermit::lease_lost) token fires:
//!
//! - The weight granted to live leases never exceeds the capacity (after a shrink,
//!   until holders release, it exceeds the new capacity only by what was held before).
//!   `tests/processes.rs` checks it from the server's side (an observer sampling) and
//!   from the holders' side (every grant adds its weight to a counter and checks it).
//! - Grants are in arrival order of the requests at the server, across all processes.
//! - A permit whose holder died comes back within the lease plus one renewal interval,
//!   with nobody's help.
//! - Fencing tokens increase with every grant. They are `max(last + 1, server time in
//!   µs)`, so they keep increasing across a restart that lost the data, as long as the
//!   server's clock does not step back.
//!
//! What a lease cannot promise on its own: a holder that is paused (a GC pause, a
//! stopped VM, a full disk) longer than the lease does not run code to notice, and its
//! token fires only when it runs again. Meanwhile its permits were granted to someone
//! else. That is what the fencing token is for: the resource accepts an operation
//! only with a token at least as large as any it has seen (`tests/restart.rs` shows it
//! refusing every stale holder).
//!
//! # What failover and restarts lose
//!
//! Redis replication is asynchronous. When a replica is promoted (Sentinel, a managed
//! service's failover), the last writes of the old primary may be lost: grants,
//! releases, renewals, queue entries, a `close` or a `set_capacity`. Then:
//!
//! - holders whose grant was lost are not on the new primary: their next renewal
//!   answers "lost" and their token fires, but until then the new primary may have
//!   granted their weight to others, so **the capacity can be exceeded for up to one
//!   renewal interval**. Fencing tokens from the new primary are above the old ones
//!   only if its clock is not behind the old primary's (they start from its time in
//!   µs). Check fencing tokens at the resource.
//! - waiters whose queue entry was lost queue again on their next refresh, behind
//!   whoever queued first on the new primary (FIFO order across the failover is not
//!   kept).
//! - a restart without persistence loses everything: the semaphore starts again from
//!   the capacity its handles were built with, open, empty; every holder's token
//!   fires; every waiter queues again. `tests/restart.rs` runs exactly this.
//!
//! `WAIT`-based synchronous replication would narrow this window but not close it, so
//! this crate does not pretend to.
//!
//! # On the server
//!
//! A semaphore `name` is seven keys `corral:fleet:{name}:*` (one hash tag, so a
//! cluster keeps them on one node; the Redis backend itself speaks to one node) and a
//! pub/sub channel per handle. Every script first reaps expired leases and expired
//! queue entries (at most 256 of each per call) and grants the queue head while it
//! fits. The keys never expire; delete them to remove a semaphore.
//!
//! # Cancel safety
//!
//! Dropping an [`Acquire`] future leaves the queue at once, best effort (a script run
//! from a tracked task); if that fails, the entry expires within a lease. A grant that
//! raced with the drop is released the same way. Dropping a [`FleetPermit`] releases
//! it the same way; [`FleetPermit::release`] awaits the server's answer.
#![forbid(unsafe_code)]

mod error;
mod local;
mod permit;
mod redis;
mod semaphore;

pub use crate::error::{
    AcquireError, AcquireTimeoutError, BuildError, ReleaseError, TryAcquireError, Unreachable,
};
pub use crate::permit::FleetPermit;
pub use crate::semaphore::{Acquire, Builder, FleetSemaphore, Status, DEFAULT_LEASE};
pub use tokio_util::sync::CancellationToken;

#[doc(hidden)]
pub mod test_server;
