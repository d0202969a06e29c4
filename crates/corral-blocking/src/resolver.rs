//! [`Resolver`]: bounded, coalescing host lookups on a capped pool.

mod cache;
mod flight;
mod target;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use corral_shared::panic_message;
use tokio::time::Sleep;

use self::cache::{Addrs, Answer, Cache};
use self::flight::{Flight, FlightFuture, Inflight, NO_SLOT};
use self::target::Target;
pub use self::target::ToHostPort;
use crate::error::{LookupError, ResolverBuildError, RunError};
use crate::pool::{BlockingPool, Builder, PoolMetrics};

/// Threads of the default resolver's `"dns"` pool: **32**.
///
/// Why 32: every in-flight `getaddrinfo` holds one thread and one socket. Go caps its
/// cgo DNS threads at `min(500, RLIMIT_NOFILE - 30)` (`net/rlimit_unix.go`) because a
/// lookup that cannot get a file descriptor fails with a misleading "no such host"; 32
/// stays far below the common soft limit of 1024 descriptors, so DNS can never starve
/// the sockets a service needs. With coalescing, only *distinct* names take threads:
/// 32 threads against a DNS server slowed to 200 ms still resolve 160 distinct names a
/// second, and any number of repeated ones. tokio's `lookup_host` has no such cap (it
/// shares the 512-thread blocking pool): 5,000 lookups against a 200 ms server peak at
/// 515 threads (`examples/dns_storm.rs`).
pub const DEFAULT_DNS_MAX_THREADS: usize = 32;

/// Queue of the default resolver's pool: **4,096** distinct names waiting for a thread.
/// Repeated names coalesce before the queue, so this bounds distinct hosts only.
pub const DEFAULT_DNS_QUEUE_CAPACITY: usize = 4_096;

/// Default per-lookup wait timeout: **30 s**.
///
/// Why 30 s: glibc's stub resolver gives up after `timeout` (5 s) x `attempts` (2) per
/// name server, with up to 3 name servers: 30 s. Waiting longer than libc's own worst
/// case never helps; callers with a tighter budget set their own.
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The signature of an injectable lookup function: a blocking call from a host name to
/// its addresses (the port is added by the resolver).
pub type LookupFn = dyn Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync + 'static;

/// A lookup function that is told the address family asked for
/// ([`ResolverBuilder::lookup_fn_with_family`]).
type FamilyLookupFn = dyn Fn(&str, Family) -> io::Result<Vec<IpAddr>> + Send + Sync + 'static;

/// Which addresses a lookup wants: Go's `"ip"`, `"ip4"` and `"ip6"` networks
/// (`net.Resolver.LookupNetIP`).
///
/// Part of the coalescing key and of the cache key: an IPv4-only lookup of a host never
/// joins (or is answered by) an any-family lookup of it, nor the reverse.
///
/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is IPv6 here, as Rust's `IpAddr` and
/// `getaddrinfo` see it; unlike Go's `"ip4"` network, which counts it as IPv4 (its
/// `IP.To4()` is not nil).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Family {
    /// IPv4 and IPv6 addresses (`AF_UNSPEC`), in the lookup function's order.
    #[default]
    Any,
    /// IPv4 addresses only.
    Ipv4,
    /// IPv6 addresses only.
    Ipv6,
}

impl Family {
    /// Whether `ip` belongs to this family.
    pub fn matches(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::Ipv4 => ip.is_ipv4(),
            Family::Ipv6 => ip.is_ipv6(),
        }
    }

    /// Index into per-family tables.
    fn index(self) -> usize {
        match self {
            Family::Any => 0,
            Family::Ipv4 => 1,
            Family::Ipv6 => 2,
        }
    }
}

/// A snapshot of a [`Resolver`]'s counters ([`Resolver::metrics`]), with its pool's.
///
/// Counters only grow; `in_flight` and `cached` are the gauges of the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolverMetrics {
    /// Every lookup request (each `LookupHost` made), IP literals and invalid input
    /// included.
    pub requests: u64,
    /// Lookups started: one per flight, so this is the load put on DNS. (A flight for
    /// an IPv6 literal with a zone by interface name calls no lookup function and asks
    /// no DNS server: `getaddrinfo` only maps the interface name.)
    pub lookups: u64,
    /// Requests that joined a lookup already in flight instead of starting one.
    pub coalesced: u64,
    /// Requests answered from the cache.
    pub cache_hits: u64,
    /// Requests that found no fresh cache entry (counted only while a cache is on).
    pub cache_misses: u64,
    /// Waiters whose own timeout expired before the answer.
    pub timeouts: u64,
    /// Lookups (flights, not waiters) that ended in an error: resolve failure, no
    /// address, panic, pool shut down or spawn failure.
    pub errors: u64,
    /// (host, family) pairs with a lookup in flight right now.
    pub in_flight: usize,
    /// Cached answers right now.
    pub cached: usize,
    /// The resolver's pool.
    pub pool: PoolMetrics,
}

/// The resolver's counters. `Relaxed` throughout: each is an independent metric, read
/// in snapshots that promise no ordering between counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    lookups: AtomicU64,
    coalesced: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    timeouts: AtomicU64,
    errors: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The system resolver: libc `getaddrinfo`, through std's `ToSocketAddrs`.
///
/// # Blocking
///
/// Blocks the calling thread for as long as `getaddrinfo` takes (up to libc's own
/// timeouts). The resolver runs it on its capped pool.
pub fn system_lookup(host: &str) -> io::Result<Vec<IpAddr>> {
    let mut addrs: Vec<IpAddr> = Vec::new();
    for addr in (host, 0).to_socket_addrs()? {
        if !addrs.contains(&addr.ip()) {
            addrs.push(addr.ip());
        }
    }
    Ok(addrs)
}

/// A bounded, coalescing host resolver.
///
/// - **Bounded**: lookups run on the resolver's own capped [`BlockingPool`] (a `"dns"`
///   pool of [`DEFAULT_DNS_MAX_THREADS`] threads unless configured), never on an
///   unbounded blocking pool.
/// - **Coalescing**: concurrent lookups of the same host share one call. The call
///   belongs to the group of waiters, not to the first caller: any waiter's timeout or
///   cancellation leaves the others untouched (unlike Go's `x/sync/singleflight`, where
///   the first caller's context cancels everyone's lookup, authzed/spicedb#925). When
///   every waiter has gone, a lookup that had not started is dropped and never runs.
/// - **Timed**: each waiter has a timeout on waiting ([`DEFAULT_LOOKUP_TIMEOUT`] unless
///   configured), after which it gets [`LookupError::TimedOut`].
/// - **Cached, if asked**: an optional positive and negative cache with a short TTL,
///   off by default since `getaddrinfo` reports no TTL.
///
/// The lookup function is injectable ([`ResolverBuilder::lookup_fn`]); the default is
/// [`system_lookup`] (libc `getaddrinfo`). Cloning is cheap and shares everything.
///
/// Lookups in flight belong to their waiters, not to the resolver: dropping every
/// clone of it does not fail a `LookupHost` already made (queued or not yet polled).
/// Each lookup in flight holds a handle on the pool, so a pool the resolver made
/// shuts down once the resolver and every lookup in flight are gone (one given with
/// [`ResolverBuilder::pool`] once its last handle anywhere is).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use corral_blocking::Resolver;
/// use std::time::Duration;
///
/// let resolver = Resolver::builder()
///     .max_threads(8)
///     .timeout(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// let addrs: Vec<_> = resolver.lookup_host("localhost", 8080).await.unwrap().collect();
/// assert!(addrs.iter().all(|a| a.port() == 8080 && a.ip().is_loopback()));
/// # }
/// ```
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pool: BlockingPool,
    lookup: Arc<FamilyLookupFn>,
    inflight: Arc<Inflight>,
    cache: Option<Arc<Cache>>,
    timeout: Option<Duration>,
    /// `corral_resolver_lookup_seconds` (the `metrics` feature).
    #[cfg(all(feature = "metrics", not(corral_loom)))]
    lookup_seconds: metrics::Histogram,
}

impl Resolver {
    /// Starts configuring a resolver.
    pub fn builder() -> ResolverBuilder {
        ResolverBuilder::default()
    }

    /// Resolves `host` to socket addresses with `port`.
    ///
    /// An IP literal (`"127.0.0.1"`, `"::1"`, `"[::1]"`) resolves at once without a
    /// lookup; so does an IPv6 literal with a numeric zone (`"fe80::1%2"`), whose zone
    /// is the answer's scope id. An IPv6 literal with a zone given by interface name
    /// (`"fe80::1%eth0"`) is no name for the lookup function either: the OS maps the
    /// interface name to its index (std's `ToSocketAddrs`, libc `getaddrinfo`, no DNS
    /// query), on the pool, coalesced like a lookup, and the answer keeps it as its
    /// scope id, as `tokio::net::lookup_host` does. Otherwise a fresh cache entry answers, or
    /// the caller joins the lookup in flight for the same host (case-insensitive), or
    /// starts one on the pool.
    ///
    /// # Errors
    ///
    /// The future yields a [`LookupError`]: `Resolve` / `NoAddresses` for failed or
    /// empty lookups (shared by every coalesced waiter), `TimedOut` when this caller's
    /// timeout expires, `Panicked`, `Closed` or `Spawn` from the pool.
    ///
    /// # Panics
    ///
    /// A waiter with a timeout (every waiter unless the resolver was built with
    /// [`no_timeout`](ResolverBuilder::no_timeout)) that has to wait arms a tokio
    /// timer: polled outside a tokio runtime, or on a runtime built without
    /// `enable_time` (`enable_all`, which `#[tokio::main]` and `#[tokio::test]` use,
    /// includes it), the future panics with tokio's message, where
    /// `tokio::net::lookup_host` needs no timer. Answers that need no wait (IP
    /// literals, the cache) never touch the timer, and a `no_timeout` resolver needs
    /// no runtime at all: its lookups run on its own pool's threads.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future only removes this caller from the lookup's group: the other
    /// waiters still get the answer. If it was the last waiter and the lookup had not
    /// started, the lookup is dropped and never runs; if it had started, it finishes on
    /// its pool thread (counted as abandoned) and its answer is discarded.
    pub fn lookup_host(&self, host: &str, port: u16) -> LookupHost {
        self.resolve(host, port, Family::Any)
    }

    /// Resolves a `tokio::net::lookup_host`-style target: `"host:port"`,
    /// `(host, port)` or a socket address (see [`ToHostPort`]). Otherwise as
    /// [`lookup_host`](Self::lookup_host). A socket address (`"[fe80::1%2]:80"`
    /// included) is the answer as given, IPv6 flow info and scope id kept, as tokio
    /// keeps them.
    ///
    /// # Errors
    ///
    /// As [`lookup_host`](Self::lookup_host), plus [`LookupError::InvalidInput`] for a
    /// string that is not `"host:port"`.
    ///
    /// # Panics
    ///
    /// As [`lookup_host`](Self::lookup_host): a waiter with a timeout needs the
    /// runtime's timer.
    ///
    /// # Cancel safety
    ///
    /// As [`lookup_host`](Self::lookup_host).
    pub fn lookup(&self, target: impl ToHostPort) -> LookupHost {
        self.lookup_family(Family::Any, target)
    }

    /// As [`lookup`](Self::lookup), for the addresses of one [`Family`] only (Go's
    /// `LookupNetIP(ctx, "ip4", host)`). The family is part of the coalescing and cache
    /// key.
    ///
    /// The lookup function made with [`ResolverBuilder::lookup_fn_with_family`] is told
    /// the family; the answer is filtered to it in any case. The default
    /// [`system_lookup`] cannot pass the family to `getaddrinfo` (std exposes no hints,
    /// and this crate has no unsafe code), so it still asks for both families and the
    /// answer is filtered.
    ///
    /// # Errors
    ///
    /// As [`lookup`](Self::lookup); [`LookupError::NoAddresses`] when the host has no
    /// address of that family (also for an IP literal of the other family).
    ///
    /// # Panics
    ///
    /// As [`lookup_host`](Self::lookup_host): a waiter with a timeout needs the
    /// runtime's timer.
    ///
    /// # Cancel safety
    ///
    /// As [`lookup_host`](Self::lookup_host).
    pub fn lookup_family(&self, family: Family, target: impl ToHostPort) -> LookupHost {
        match target.to_target() {
            Ok(Target::HostPort(host, port)) => self.resolve(host, port, family),
            Ok(Target::Addr(addr)) => {
                bump(&self.inner.counters().requests);
                LookupHost::literal(addr, family)
            }
            Err(target) => {
                bump(&self.inner.counters().requests);
                LookupHost::done(
                    0,
                    Err(LookupError::InvalidInput {
                        target: Arc::from(target),
                    }),
                )
            }
        }
    }

    fn resolve(&self, host: &str, port: u16, family: Family) -> LookupHost {
        let counters = self.inner.counters();
        bump(&counters.requests);
        if let Some(addr) = target::literal(host, port) {
            return LookupHost::literal(addr, family);
        }
        // Keys are lowercase (only a name with capitals pays for a copy), except an
        // IPv6 literal whose zone is an interface name: interface names are
        // case-sensitive.
        let zoned = target::named_zone(host);
        let lowered;
        let key = if let Some(zoned) = zoned {
            zoned
        } else if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = host.to_ascii_lowercase();
            lowered.as_str()
        } else {
            host
        };
        if let Some(cache) = &self.inner.cache {
            if let Some(answer) = cache.get(key, family) {
                bump(&counters.cache_hits);
                return LookupHost::done(port, answer);
            }
            bump(&counters.cache_misses);
        }
        let (flight, coalesced) = self
            .inner
            .inflight
            .join(key, family, |host, id| self.inner.start(host, family, id));
        bump(if coalesced {
            &counters.coalesced
        } else {
            &counters.lookups
        });
        LookupHost {
            state: State::Waiting {
                flight,
                slot: NO_SLOT,
            },
            timeout: self.inner.timeout,
            sleep: None,
            port,
        }
    }

    /// A snapshot of the resolver's counters and its pool's.
    pub fn metrics(&self) -> ResolverMetrics {
        let c = self.inner.counters();
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ResolverMetrics {
            requests: get(&c.requests),
            lookups: get(&c.lookups),
            coalesced: get(&c.coalesced),
            cache_hits: get(&c.cache_hits),
            cache_misses: get(&c.cache_misses),
            timeouts: get(&c.timeouts),
            errors: get(&c.errors),
            in_flight: self.in_flight(),
            cached: self.cached(),
            pool: self.inner.pool.metrics(),
        }
    }

    /// A reference that does not keep the resolver alive (the census tick's).
    #[cfg(all(feature = "metrics", not(corral_loom)))]
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// The resolver again, from its core (upgraded by the census tick).
    #[cfg(all(feature = "metrics", not(corral_loom)))]
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Resolver {
        Resolver { inner }
    }

    /// The pool the lookups run on.
    pub fn pool(&self) -> &BlockingPool {
        &self.inner.pool
    }

    /// How many distinct hosts have a lookup in flight right now.
    pub fn in_flight(&self) -> usize {
        self.inner.inflight.len()
    }

    /// How many answers are cached right now (0 when the cache is off).
    pub fn cached(&self) -> usize {
        self.inner.cache.as_ref().map_or(0, |c| c.len())
    }
}

impl Inner {
    fn counters(&self) -> &Counters {
        self.inflight.counters()
    }

    /// The future of one flight: run the lookup on the pool, cache, leave the map.
    fn start(&self, host: Arc<str>, family: Family, id: u64) -> FlightFuture {
        let lookup = Arc::clone(&self.lookup);
        #[cfg(all(feature = "metrics", not(corral_loom)))]
        let lookup_seconds = self.lookup_seconds.clone();
        let run = {
            let host = host.clone();
            self.pool.run(move || {
                // A literal with a zone by interface name: no lookup function call.
                let addrs = if target::named_zone(&host).is_some() {
                    target::scoped(&host)
                } else {
                    // Timed here, once per call of the lookup function (a flight,
                    // however many waiters joined it), on the thread that runs it:
                    // the time DNS took, not the wait for a thread (the pool's queue
                    // gauge shows that).
                    #[cfg(all(feature = "metrics", not(corral_loom)))]
                    let started = std::time::Instant::now();
                    let ips = lookup(&host, family);
                    #[cfg(all(feature = "metrics", not(corral_loom)))]
                    lookup_seconds.record(started.elapsed());
                    ips.map(|ips| (ips, 0))
                };
                addrs.map(|(mut ips, scope_id)| {
                    ips.retain(|ip| family.matches(ip));
                    (ips, scope_id)
                })
            })
        };
        let cache = self.cache.clone();
        let inflight = Arc::clone(&self.inflight);
        // The flight holds a handle on the pool: a lookup belongs to its waiters, so
        // the resolver being dropped must not shut the pool down under it (dropping
        // the last handle does, and a queued job would then fail with `Closed`). The
        // pool shuts down once the resolver and every flight are gone.
        let pool = self.pool.clone();
        Box::pin(async move {
            let _pool = pool;
            let answer: Answer = match run.await {
                Ok(Ok((ips, _))) if ips.is_empty() => {
                    Err(LookupError::NoAddresses { host: host.clone() })
                }
                Ok(Ok((ips, scope_id))) => Ok(Addrs {
                    ips: Arc::from(ips),
                    scope_id,
                }),
                Ok(Err(err)) => Err(LookupError::Resolve {
                    host: host.clone(),
                    source: Arc::new(err),
                }),
                Err(RunError::Panicked(payload)) => Err(LookupError::Panicked {
                    host: host.clone(),
                    message: panic_message(payload.as_ref()).map(Arc::from),
                }),
                Err(RunError::Spawn(err)) => Err(LookupError::Spawn(Arc::new(err))),
                Err(_) => Err(LookupError::Closed),
            };
            if answer.is_err() {
                bump(&inflight.counters().errors);
            }
            if let Some(cache) = &cache {
                cache.put(&host, family, &answer);
            }
            inflight.finish(&host, family, id);
            answer
        })
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("pool", &self.inner.pool)
            .field("timeout", &self.inner.timeout)
            .field("cache", &self.inner.cache)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Resolver`]; [`build`](Self::build) validates.
pub struct ResolverBuilder {
    pool: Option<BlockingPool>,
    pool_builder: Builder,
    lookup: Option<Arc<FamilyLookupFn>>,
    timeout: Option<Duration>,
    positive_ttl: Option<Duration>,
    negative_ttl: Option<Duration>,
    cache_capacity: usize,
}

impl Default for ResolverBuilder {
    fn default() -> Self {
        ResolverBuilder {
            pool: None,
            pool_builder: BlockingPool::builder()
                .name("dns")
                .max_threads(DEFAULT_DNS_MAX_THREADS)
                .queue_capacity(DEFAULT_DNS_QUEUE_CAPACITY),
            lookup: None,
            timeout: Some(DEFAULT_LOOKUP_TIMEOUT),
            positive_ttl: None,
            negative_ttl: None,
            cache_capacity: 1024,
        }
    }
}

impl ResolverBuilder {
    /// Threads of the resolver's own pool. Default [`DEFAULT_DNS_MAX_THREADS`].
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.pool_builder = self.pool_builder.max_threads(max_threads);
        self
    }

    /// Distinct hosts that may wait for a thread. Default
    /// [`DEFAULT_DNS_QUEUE_CAPACITY`]; beyond it, lookups wait for queue space.
    pub fn queue_capacity(mut self, queue_capacity: usize) -> Self {
        self.pool_builder = self.pool_builder.queue_capacity(queue_capacity);
        self
    }

    /// Name of the resolver's own pool (its threads are `"<name>-<n>"`). Default
    /// `"dns"`.
    pub fn pool_name(mut self, name: impl Into<String>) -> Self {
        self.pool_builder = self.pool_builder.name(name);
        self
    }

    /// Keep-alive of the resolver's own pool threads. Default 10 s.
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.pool_builder = self.pool_builder.keep_alive(keep_alive);
        self
    }

    /// Runs lookups on `pool` instead of a pool of the resolver's own (the
    /// `max_threads`/`queue_capacity`/`pool_name`/`keep_alive` settings are ignored).
    pub fn pool(mut self, pool: BlockingPool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Replaces the lookup function (default [`system_lookup`], libc `getaddrinfo`):
    /// for tests, a custom stub resolver, or a slow one in a demo. It is a blocking call
    /// and runs on the resolver's pool.
    pub fn lookup_fn(
        mut self,
        lookup: impl Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync + 'static,
    ) -> Self {
        self.lookup = Some(Arc::new(move |host: &str, _: Family| lookup(host)));
        self
    }

    /// As [`lookup_fn`](Self::lookup_fn), for a lookup function that can ask for one
    /// address family only (an A or an AAAA query): it is told the [`Family`] of the
    /// request ([`Resolver::lookup_family`]). Its answer is still filtered to that
    /// family.
    pub fn lookup_fn_with_family(
        mut self,
        lookup: impl Fn(&str, Family) -> io::Result<Vec<IpAddr>> + Send + Sync + 'static,
    ) -> Self {
        self.lookup = Some(Arc::new(lookup));
        self
    }

    /// Each waiter's timeout, from its first poll. Default [`DEFAULT_LOOKUP_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waiters wait as long as the lookup takes.
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Caches successful answers for `ttl`. Off by default: `getaddrinfo` reports no
    /// TTL, so keep this short (seconds).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.positive_ttl = Some(ttl);
        self
    }

    /// Caches "not found" answers for `ttl`. Off by default.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = Some(ttl);
        self
    }

    /// The most cached hosts (when a cache TTL is set); when full of fresh entries, new
    /// answers are not cached. Default 1024.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Validates and creates the resolver. No thread is spawned until the first lookup.
    ///
    /// # Errors
    ///
    /// [`ResolverBuildError::Pool`] for a refused pool configuration,
    /// [`ResolverBuildError::ZeroTimeout`], [`ResolverBuildError::ZeroCacheCapacity`].
    pub fn build(self) -> Result<Resolver, ResolverBuildError> {
        if self.timeout == Some(Duration::ZERO) {
            return Err(ResolverBuildError::ZeroTimeout);
        }
        let caching = self.positive_ttl.is_some() || self.negative_ttl.is_some();
        if caching && self.cache_capacity == 0 {
            return Err(ResolverBuildError::ZeroCacheCapacity);
        }
        let pool = match self.pool {
            Some(pool) => pool,
            None => self
                .pool_builder
                .build()
                .map_err(ResolverBuildError::Pool)?,
        };
        #[cfg(all(feature = "metrics", not(corral_loom)))]
        let lookup_seconds = crate::metrics::lookup_seconds(pool.name());
        let resolver = Resolver {
            inner: Arc::new(Inner {
                pool,
                lookup: self
                    .lookup
                    .unwrap_or_else(|| Arc::new(|host: &str, _: Family| system_lookup(host))),
                inflight: Arc::default(),
                cache: Cache::new(self.positive_ttl, self.negative_ttl, self.cache_capacity)
                    .map(Arc::new),
                timeout: self.timeout,
                #[cfg(all(feature = "metrics", not(corral_loom)))]
                lookup_seconds,
            }),
        };
        #[cfg(all(feature = "metrics", not(corral_loom)))]
        crate::metrics::register_resolver(&resolver);
        Ok(resolver)
    }
}

impl fmt::Debug for ResolverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolverBuilder")
            .field("pool", &self.pool)
            .field("pool_builder", &self.pool_builder)
            .field("custom_lookup", &self.lookup.is_some())
            .field("timeout", &self.timeout)
            .field("positive_ttl", &self.positive_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .finish()
    }
}

/// The process-wide resolver behind [`lookup_host`]: a `"dns"` pool of
/// [`DEFAULT_DNS_MAX_THREADS`] threads, [`system_lookup`], a [`DEFAULT_LOOKUP_TIMEOUT`]
/// timeout, no cache. Built on first use, never shut down.
pub fn default_resolver() -> &'static Resolver {
    static RESOLVER: OnceLock<Resolver> = OnceLock::new();
    RESOLVER.get_or_init(|| {
        Resolver::builder()
            .build()
            .expect("the default resolver configuration is valid")
    })
}

/// Resolves a host through the process-wide [`default_resolver`]: libc `getaddrinfo`
/// on a capped, coalescing pool. The bounded replacement for `tokio::net::lookup_host`,
/// with the same inputs (`"host:port"`, `(host, port)`, socket addresses; see
/// [`ToHostPort`]): replacing the import is the migration.
///
/// # Errors
///
/// See [`Resolver::lookup`]. [`LookupError`] converts into `io::Error`, so `?` works in
/// code written for tokio's `io::Result`.
///
/// # Panics
///
/// One requirement tokio's `lookup_host` does not have: the default resolver gives
/// each waiter a [`DEFAULT_LOOKUP_TIMEOUT`], so a lookup that has to wait needs the
/// runtime's timer (`enable_time`, part of `enable_all` and of `#[tokio::main]`); on a
/// runtime without it the future panics (see [`Resolver::lookup_host`]). Build a
/// [`Resolver`] with [`no_timeout`](ResolverBuilder::no_timeout) for such a runtime.
///
/// # Cancel safety
///
/// See [`Resolver::lookup_host`]: dropping the future never fails other waiters.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// for addr in corral_blocking::lookup_host("localhost:443").await? {
///     assert!(addr.ip().is_loopback());
/// }
/// let first = corral_blocking::lookup_host(("localhost", 80)).await?.next();
/// assert_eq!(first.map(|a| a.port()), Some(80));
/// # Ok(())
/// # }
/// ```
pub fn lookup_host(target: impl ToHostPort) -> LookupHost {
    default_resolver().lookup(target)
}

pin_project_lite::pin_project! {
    /// Future of [`Resolver::lookup_host`] and [`lookup_host`].
    ///
    /// Every task that resolves holds one, and a storm has thousands. A waiter's waker
    /// lives in its flight once it parks, and its timer (a `tokio::time::Sleep`, its
    /// own, so its deadline never depends on another waiter) is pinned in place, not
    /// boxed, armed on its first poll of a lookup that has no answer yet.
    #[must_use = "futures do nothing unless polled; dropping it leaves the lookup's group"]
    pub struct LookupHost {
        state: State,
        timeout: Option<Duration>,
        // This waiter's deadline, armed on the first poll of a flight that has no
        // answer.
        #[pin]
        sleep: Option<Sleep>,
        port: u16,
    }

    impl PinnedDrop for LookupHost {
        fn drop(this: Pin<&mut Self>) {
            if let State::Waiting { flight, slot } = &*this.project().state {
                if *slot != NO_SLOT {
                    flight.leave(*slot);
                }
            }
        }
    }
}

enum State {
    /// Answered without a lookup (IP literal, cache, invalid input), or finished
    /// (`None`).
    Done(Option<Box<Result<LookupAddrs, LookupError>>>),
    /// A member of the flight's group; `slot` is its place among the parked waiters.
    Waiting { flight: Arc<Flight>, slot: u32 },
}

impl LookupHost {
    fn done(port: u16, answer: Answer) -> Self {
        LookupHost::answered(answer.map(|addrs| LookupAddrs::new(addrs, port)), port)
    }

    fn answered(out: Result<LookupAddrs, LookupError>, port: u16) -> Self {
        LookupHost {
            state: State::Done(Some(Box::new(out))),
            timeout: None,
            sleep: None,
            port,
        }
    }

    /// A socket address needs no lookup: it is the answer, with its IPv6 flow info and
    /// scope id, if its family is the one asked for.
    fn literal(addr: SocketAddr, family: Family) -> Self {
        let ip = addr.ip();
        if !family.matches(&ip) {
            return LookupHost::done(
                addr.port(),
                Err(LookupError::NoAddresses {
                    host: Arc::from(ip.to_string()),
                }),
            );
        }
        let mut addrs = LookupAddrs::new(Addrs::new(Arc::from([ip])), addr.port());
        if let SocketAddr::V6(v6) = addr {
            addrs.flowinfo = v6.flowinfo();
            addrs.scope_id = v6.scope_id();
        }
        LookupHost::answered(Ok(addrs), addr.port())
    }

    /// Overrides this waiter's timeout (counted from its next poll); other waiters of
    /// the same lookup keep theirs.
    ///
    /// # Cancel safety
    ///
    /// As [`Resolver::lookup_host`]: the timeout (or dropping the future) only removes
    /// this waiter from the lookup's group.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        // Re-armed from the next poll (an unpolled future may still move).
        self.sleep = None;
        self
    }
}

impl Future for LookupHost {
    type Output = Result<LookupAddrs, LookupError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let answer = match this.state {
            State::Done(out) => {
                let out = *out.take().expect("`LookupHost` polled after completion");
                return Poll::Ready(out);
            }
            State::Waiting { flight, slot } => match flight.poll_wait(slot, cx) {
                Poll::Ready(answer) => answer,
                Poll::Pending => {
                    let Some(after) = *this.timeout else {
                        return Poll::Pending;
                    };
                    if this.sleep.is_none() {
                        this.sleep.set(Some(tokio::time::sleep(after)));
                    }
                    let sleep = this.sleep.as_mut().as_pin_mut().expect("armed above");
                    if sleep.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // This waiter's own deadline: it leaves; the group is untouched.
                    flight.leave(std::mem::replace(slot, NO_SLOT));
                    bump(&flight.counters().timeouts);
                    Err(LookupError::TimedOut {
                        host: flight.host().clone(),
                        after,
                    })
                }
            },
        };
        *this.state = State::Done(None);
        // Deregisters the timer now rather than when the future is dropped.
        this.sleep.set(None);
        let port = *this.port;
        Poll::Ready(answer.map(|addrs| LookupAddrs::new(addrs, port)))
    }
}

impl fmt::Debug for LookupHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match &self.state {
            State::Waiting { flight, .. } => Some(flight.host()),
            State::Done(_) => None,
        };
        f.debug_struct("LookupHost")
            .field("host", &host)
            .field("port", &self.port)
            .field("timeout", &self.timeout)
            .field("done", &matches!(self.state, State::Done(_)))
            .finish()
    }
}

/// The addresses of a resolved host, each with the requested port.
///
/// An IPv6 address given as a socket address, or as a literal with a zone
/// (`"fe80::1%2"`, `"fe80::1%eth0"`), keeps its flow info and scope id, as with
/// `tokio::net::lookup_host`; looked-up addresses have none.
#[derive(Debug, Clone)]
pub struct LookupAddrs {
    addrs: Arc<[IpAddr]>,
    port: u16,
    next: usize,
    /// IPv6 flow info and scope id: non-zero only for a literal that carried them.
    flowinfo: u32,
    scope_id: u32,
}

impl LookupAddrs {
    fn new(addrs: Addrs, port: u16) -> Self {
        LookupAddrs {
            addrs: addrs.ips,
            port,
            next: 0,
            flowinfo: 0,
            scope_id: addrs.scope_id,
        }
    }
}

impl Iterator for LookupAddrs {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        let ip = *self.addrs.get(self.next)?;
        self.next += 1;
        Some(match ip {
            IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(
                v6,
                self.port,
                self.flowinfo,
                self.scope_id,
            )),
            IpAddr::V4(_) => SocketAddr::new(ip, self.port),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.addrs.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for LookupAddrs {}
