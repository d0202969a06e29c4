//! Capped blocking pools for synchronous calls, and a bounded, coalescing DNS resolver.
//!
//! Crate docs: see below (filled in with the resolver).
#![forbid(unsafe_code)]

mod default;
mod error;
mod pool;
mod resolver;
mod stray;
mod sync;

pub use default::{
    default_pool, spawn_blocking, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS, DEFAULT_QUEUE_CAPACITY,
};
pub use error::{BuildError, RunError, TryRunError};
pub use error::{LookupError, ResolverBuildError};
pub use pool::{BlockingPool, Builder, JobHandle, PoolMetrics, Run, Stopped, MIN_STACK_SIZE};
pub use resolver::{
    default_resolver, lookup_host, system_lookup, LookupAddrs, LookupFn, LookupHost, Resolver,
    ResolverBuilder, DEFAULT_DNS_MAX_THREADS, DEFAULT_DNS_QUEUE_CAPACITY, DEFAULT_LOOKUP_TIMEOUT,
};
pub use stray::{stray_threads, StrayThread};
