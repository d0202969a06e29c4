//! Go's `net` package resolver tests (`net/lookup_test.go`), where they apply to
//! corral's [`Resolver`], ported as a Go user would map them:
//!
//! - a lookup with a `context.Context` is a `LookupHost` future: a cancelled context is
//!   the future dropped (the caller leaves; nothing is returned to it), a deadline is
//!   [`LookupHost::timeout`] (its error is [`LookupError::TimedOut`], an
//!   `io::ErrorKind::TimedOut` once converted);
//! - `LookupNetIP(ctx, "ip" | "ip4" | "ip6", host)` is
//!   [`Resolver::lookup_family`] with [`Family::Any`], [`Family::Ipv4`], [`Family::Ipv6`];
//! - Go's `testHookLookupIP` is the injectable lookup function.
//!
//! No test reaches the network: the lookup function is a stub, or the system resolver
//! with inputs it answers without DNS (IP literals, `localhost`, an empty or NUL name).
//! Every case runs on a current-thread and a two-worker multi-thread runtime.

#[macro_use]
mod support;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_blocking::{Family, LookupError, LookupHost, Resolver};
use corral_test_support::Rng;
use support::{eventually, Latch, OpenOnDrop};

on_both_runtimes!(
    go_lookup_context_cancel,
    go_lookup_context_cancel_seeded,
    go_lookup_host_cancel,
    go_lookup_host_cancel_seeded,
    go_dns_timeout,
    go_lookup_ip_addr_concurrent_calls_for_networks,
    go_resolver_lookup_ip,
    go_lookup_ip_literals,
    go_lookup_ipv6_link_local_addr_with_zone,
    go_resolver_lookup_ip_with_empty_host,
    go_lookup_null_byte,
    tokio_lookup_host_input_shapes_share_a_flight,
    go_concurrent_resolvers_use_their_own_lookup_function,
);

/// `tokio::net::lookup_host` needs no timer (it is a `spawn_blocking`), so it works on
/// a runtime built without `enable_time`. corral's waiters time out on tokio's timer:
/// a resolver built with `no_timeout()` works there the same (and with no runtime at
/// all), IP literals need no timer either, and a waiter with a timeout that has to
/// wait panics with tokio's message, as `lookup_host`'s `# Panics` documents (a
/// deliberate difference).
#[test]
fn tokio_lookup_host_on_a_runtime_without_timers() {
    // No runtime: a thread that parks until woken.
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    fn block_on<F: std::future::Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let waker = Arc::new(Unpark(std::thread::current())).into();
        let mut cx = std::task::Context::from_waker(&waker);
        loop {
            if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::park();
        }
    }
    let untimed = Resolver::builder()
        .no_timeout()
        .lookup_fn(|_| {
            std::thread::yield_now();
            Ok(vec![V4])
        })
        .build()
        .unwrap();
    assert_eq!(
        ips(block_on(untimed.lookup_host("no-runtime.test", 1))),
        vec![V4]
    );

    for multi in [false, true] {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
        } else {
            tokio::runtime::Builder::new_current_thread().build()
        }
        .unwrap();
        let (gate, calls) = (Latch::new(), Arc::new(AtomicUsize::new(0)));
        let _open = OpenOnDrop(gate.clone());
        let untimed = gated(&gate, &calls);
        let theirs: Vec<_> = rt
            .block_on(tokio::net::lookup_host("127.0.0.1:80"))
            .unwrap()
            .collect();
        let ours: Vec<_> = rt
            .block_on(corral_blocking::lookup_host("127.0.0.1:80"))
            .unwrap()
            .collect();
        assert_eq!(ours, theirs);
        let waiting = rt.spawn(untimed.lookup_host("untimed.test", 1));
        gate.open();
        let addrs: Vec<_> = rt.block_on(waiting).unwrap().unwrap().collect();
        assert_eq!(addrs, vec![SocketAddr::new(V4, 1)]);

        let gate = Latch::new();
        let _open = OpenOnDrop(gate.clone());
        let timed = Resolver::builder()
            .lookup_fn({
                let gate = gate.clone();
                move |_| {
                    gate.wait();
                    Ok(vec![V4])
                }
            })
            .build()
            .unwrap();
        let panicked = rt
            .block_on(rt.spawn(timed.lookup_host("timed.test", 1)))
            .unwrap_err();
        let payload = panicked.into_panic();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert!(message.contains("timers are disabled"), "{message}");
    }
}

const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
/// `::ffff:10.0.0.2`: an IPv4-mapped IPv6 address.
const MAPPED: IpAddr = IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0002));

fn is_multi_thread() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
}

/// A bound on a hang, not a timing assertion.
async fn no_hang<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs"))
}

fn ips(out: Result<corral_blocking::LookupAddrs, LookupError>) -> Vec<IpAddr> {
    out.unwrap().map(|a| a.ip()).collect()
}

/// A resolver whose lookup function counts its calls and blocks on `gate`.
fn gated(gate: &Latch, calls: &Arc<AtomicUsize>) -> Resolver {
    let (gate, calls) = (gate.clone(), calls.clone());
    Resolver::builder()
        .no_timeout()
        .lookup_fn(move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            gate.wait();
            Ok(vec![V4])
        })
        .build()
        .unwrap()
}

/// `net` `TestLookupContextCancel` (golang/go#22724): a second caller of the same host
/// joins the lookup while the first is blocked in it; the first caller's context is
/// then cancelled. The first caller alone is affected; the shared lookup is not
/// cancelled, and the second caller gets its answer from the one call.
///
/// Both of Go's shapes: a cancelled context (here the first caller's future dropped
/// by a `select!` on a cancel signal) and an expired deadline (its own
/// [`LookupHost::timeout`], which returns a timeout error to that caller only). The
/// deadline is real time, but not timed: the lookup is held on its gate until the
/// deadline has fired, and the second caller joins before the first is polled.
async fn go_lookup_context_cancel() {
    for deadline in [false, true] {
        let (gate, calls) = (Latch::new(), Arc::new(AtomicUsize::new(0)));
        let _open = OpenOnDrop(gate.clone());
        let resolver = gated(&gate, &calls);
        let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
        let lookup = resolver.lookup_host("google.test", 1);
        // With a deadline, the second caller joins as the first is made: the first
        // may time out at any point after that, whatever the machine's load.
        let early = deadline.then(|| resolver.lookup_host("google.test", 2));
        let first = tokio::spawn(async move {
            if deadline {
                return Some(lookup.timeout(Duration::from_millis(20)).await);
            }
            tokio::select! {
                out = lookup => Some(out),
                _ = cancelled => None,
            }
        });
        let second = match early {
            Some(joined) => tokio::spawn(joined),
            None => {
                // Go's order: the second caller joins while the first is blocked in
                // the lookup.
                eventually("the lookup started", || calls.load(Ordering::SeqCst) == 1).await;
                tokio::spawn(resolver.lookup_host("google.test", 2))
            }
        };
        eventually("the lookup started", || calls.load(Ordering::SeqCst) == 1).await;
        assert_eq!(resolver.metrics().coalesced, 1, "the second caller joined");
        if deadline {
            let err = no_hang("first", first).await.unwrap().unwrap().unwrap_err();
            assert!(err.is_timeout(), "{err}");
            assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);
            drop(cancel);
        } else {
            cancel.send(()).unwrap();
            assert!(no_hang("first", first).await.unwrap().is_none());
        }
        // The shared lookup goes on for the second caller.
        assert_eq!(resolver.in_flight(), 1);
        gate.open();
        let addrs: Vec<_> = no_hang("second", second).await.unwrap().unwrap().collect();
        assert_eq!(addrs, vec![SocketAddr::new(V4, 2)]);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let m = resolver.metrics();
        assert_eq!((m.errors, m.timeouts), (0, u64::from(deadline)));
    }
}

/// `net` `TestLookupContextCancel`, as seeded churn: callers of a few names come from
/// tasks, each one cancelled (dropped at a seeded point after it parked), given a short
/// deadline, or patient. However the cancellations and deadlines interleave with the
/// joins and with the answers arriving from pool threads, every patient caller gets
/// its name's answer (never a timeout or another caller's error), every deadline
/// caller gets that answer or its own timeout, and no flight is left behind.
async fn go_lookup_context_cancel_seeded() {
    let rounds = if is_multi_thread() { 300 } else { 30 };
    for round in 0..rounds {
        let seed = 0xca_9ce1 + round;
        let mut rng = Rng(seed);
        let resolver = Resolver::builder()
            .max_threads(2)
            .no_timeout()
            .lookup_fn(|host| {
                // A short real blocking call: answers arrive at varying moments.
                std::thread::yield_now();
                let last = host.as_bytes()[0];
                Ok(vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))])
            })
            .build()
            .unwrap();
        let mut callers = Vec::new();
        for i in 0..(10 + rng.below(30)) {
            let name = ["a.test", "b.test", "c.test"][rng.index(3)];
            let expected = IpAddr::V4(Ipv4Addr::new(10, 0, 0, name.as_bytes()[0]));
            let kind = rng.below(3);
            let polls = rng.below(4);
            let lookup = resolver.lookup_host(name, i as u16);
            let mut lookup = Box::pin(if kind == 1 {
                lookup.timeout(Duration::from_micros(1 + rng.below(2_000)))
            } else {
                lookup
            });
            callers.push(tokio::spawn(async move {
                match kind {
                    0 => {
                        // Cancelled after `polls` polls (unless answered by then).
                        for _ in 0..polls {
                            if futures_poll_once(lookup.as_mut()).await.is_some() {
                                break;
                            }
                            tokio::task::yield_now().await;
                        }
                        None
                    }
                    _ => Some((kind, expected, lookup.await)),
                }
            }));
        }
        for caller in callers {
            let Some((kind, expected, out)) = no_hang("a caller", caller).await.unwrap() else {
                continue;
            };
            match out {
                Ok(addrs) => assert_eq!(
                    addrs.map(|a| a.ip()).collect::<Vec<_>>(),
                    vec![expected],
                    "seed {seed}"
                ),
                Err(err) => assert!(kind == 1 && err.is_timeout(), "seed {seed}: {err}"),
            }
        }
        eventually("no flight left", || resolver.in_flight() == 0).await;
    }
}

/// `net` `TestLookupHostCancel` (golang/go#24178: after many cancelled lookups, more
/// than the cgo thread limit, lookups failed for good): 600 lookups of an unknown name
/// through a pool of 2 threads and a queue of 4, each cancelled (dropped after its
/// first poll, some already given an expired deadline); then lookups still work. No
/// thread slot or queue place is lost to a cancelled lookup: the queue drains, the
/// threads go idle, and the next lookup answers.
async fn go_lookup_host_cancel() {
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = Resolver::builder()
        .max_threads(2)
        .queue_capacity(4)
        .no_timeout()
        .lookup_fn({
            let calls = calls.clone();
            move |host| {
                if host == "invalid.invalid" {
                    calls.fetch_add(1, Ordering::SeqCst);
                    return Err(io::Error::new(io::ErrorKind::NotFound, "no such host"));
                }
                Ok(vec![V4])
            }
        })
        .build()
        .unwrap();
    no_hang("first lookup", resolver.lookup_host("www.google.test", 80))
        .await
        .unwrap();
    const N: usize = 600;
    for i in 0..N {
        let lookup = resolver.lookup_host("invalid.invalid", 80);
        let mut lookup = Box::pin(if i % 3 == 0 {
            lookup.timeout(Duration::from_nanos(1))
        } else {
            lookup
        });
        match futures_poll_once(lookup.as_mut()).await {
            None => {}
            Some(Ok(addrs)) => panic!("lookup {i} of an unknown name found {addrs:?}"),
            Some(Err(err)) => assert!(err.is_not_found() || err.is_timeout(), "{err}"),
        }
        drop(lookup);
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    assert!(calls.load(Ordering::SeqCst) <= N);
    let pool = resolver.pool().clone();
    eventually("the queue drained", || pool.metrics().queued == 0).await;
    eventually("the threads are idle", || pool.metrics().running == 0).await;
    assert_eq!(resolver.in_flight(), 0);
    let addrs = no_hang(
        "lookup after the cancellations",
        resolver.lookup_host("www.google.test", 80),
    )
    .await
    .unwrap();
    assert_eq!(addrs.map(|a| a.ip()).collect::<Vec<_>>(), vec![V4]);
    assert!(pool.metrics().threads_high_water <= 2);
}

/// `net` `TestLookupHostCancel`, as seeded churn where the thread limit bites: distinct
/// and repeated names through a pool of one thread and no queue, so most flights wait
/// for pool space, while callers are cancelled at seeded points (some while their
/// flight waits for space, some after its call started), time out, or wait. A
/// cancelled flight must give its place in the line for space back, and its wake-up
/// must reach the next flight: every patient caller gets its answer, and the pool is
/// idle and the map empty afterwards.
async fn go_lookup_host_cancel_seeded() {
    let rounds = if is_multi_thread() { 200 } else { 20 };
    let resolver = Resolver::builder()
        .max_threads(1)
        .queue_capacity(0)
        .no_timeout()
        .lookup_fn(|host| {
            std::thread::yield_now();
            Ok(vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, host.len() as u8))])
        })
        .build()
        .unwrap();
    for round in 0..rounds {
        let seed = 0x24_178 + round;
        let mut rng = Rng(seed);
        let mut callers = Vec::new();
        for i in 0..(5 + rng.below(20)) {
            let name = "n".repeat(1 + rng.index(6)) + ".test";
            let expected = IpAddr::V4(Ipv4Addr::new(10, 0, 0, name.len() as u8));
            let kind = rng.below(3);
            let polls = rng.below(4);
            let lookup = resolver.lookup_host(&name, i as u16);
            let mut lookup = Box::pin(if kind == 1 {
                lookup.timeout(Duration::from_micros(1 + rng.below(500)))
            } else {
                lookup
            });
            callers.push(tokio::spawn(async move {
                if kind == 0 {
                    for _ in 0..polls {
                        if futures_poll_once(lookup.as_mut()).await.is_some() {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                    return None;
                }
                Some((kind, expected, lookup.await))
            }));
        }
        for caller in callers {
            let Some((kind, expected, out)) = no_hang("a caller", caller).await.unwrap() else {
                continue;
            };
            match out {
                Ok(addrs) => assert_eq!(
                    addrs.map(|a| a.ip()).collect::<Vec<_>>(),
                    vec![expected],
                    "seed {seed}"
                ),
                Err(err) => assert!(kind == 1 && err.is_timeout(), "seed {seed}: {err}"),
            }
        }
        eventually("no flight left", || resolver.in_flight() == 0).await;
    }
    let pool = resolver.pool().clone();
    eventually("the pool is idle", || {
        let m = pool.metrics();
        m.running == 0 && m.queued == 0 && m.waiting_for_space == 0
    })
    .await;
    let last = no_hang(
        "a lookup after the churn",
        resolver.lookup_host("last.test", 1),
    )
    .await;
    assert_eq!(ips(last), vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))]);
}

/// `net` `TestDNSTimeout`: a lookup that itself times out (Go's hook returns
/// `context.DeadlineExceeded`) still returns a DNS error marked as a timeout, to a
/// single caller and to two callers sharing it; and callers whose own deadline passes
/// get a timeout too.
///
/// corral keeps the two apart on purpose: a lookup function's own timeout is that
/// flight's [`LookupError::Resolve`] (shared by every waiter, the same `Arc` source),
/// whose `io::Error` conversion keeps the kind `TimedOut`; [`LookupError::is_timeout`]
/// is true only for a caller's own deadline ([`LookupError::TimedOut`]). Neither is
/// cached as "not found".
async fn go_dns_timeout() {
    let (gate, calls) = (Latch::new(), Arc::new(AtomicUsize::new(0)));
    let _open = OpenOnDrop(gate.clone());
    let resolver = Resolver::builder()
        .no_timeout()
        .negative_cache_ttl(Duration::from_secs(60))
        .lookup_fn({
            let (gate, calls) = (gate.clone(), calls.clone());
            move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                gate.wait();
                Err(io::Error::new(io::ErrorKind::TimedOut, "deadline exceeded"))
            }
        })
        .build()
        .unwrap();
    let check = |err: &LookupError| {
        assert!(matches!(err, LookupError::Resolve { .. }), "{err:?}");
        assert!(!err.is_timeout() && !err.is_not_found(), "{err}");
        assert_eq!(io::Error::from(err.clone()).kind(), io::ErrorKind::TimedOut);
    };
    // Single lookup.
    gate.open();
    check(&resolver.lookup_host("golang.test", 1).await.unwrap_err());
    // Double lookup: one call, one shared error.
    let gate = Latch::new();
    let _open2 = OpenOnDrop(gate.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = Resolver::builder()
        .no_timeout()
        .negative_cache_ttl(Duration::from_secs(60))
        .lookup_fn({
            let (gate, calls) = (gate.clone(), calls.clone());
            move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                gate.wait();
                Err(io::Error::new(io::ErrorKind::TimedOut, "deadline exceeded"))
            }
        })
        .build()
        .unwrap();
    let a = tokio::spawn(resolver.lookup_host("golang1.test", 1));
    let b = tokio::spawn(resolver.lookup_host("golang1.test", 2));
    eventually("the lookup started", || calls.load(Ordering::SeqCst) == 1).await;
    gate.open();
    let (a, b) = (
        no_hang("a", a).await.unwrap().unwrap_err(),
        no_hang("b", b).await.unwrap().unwrap_err(),
    );
    check(&a);
    check(&b);
    match (&a, &b) {
        (LookupError::Resolve { source: x, .. }, LookupError::Resolve { source: y, .. }) => {
            assert!(Arc::ptr_eq(x, y))
        }
        _ => unreachable!(),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(resolver.cached(), 0);
    // Double lookup with a deadline: each caller's own.
    let gate = Latch::new();
    let _open3 = OpenOnDrop(gate.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let resolver = gated(&gate, &calls);
    let deadline = Duration::from_millis(1);
    let a = tokio::spawn(resolver.lookup_host("golang2.test", 1).timeout(deadline));
    let b = tokio::spawn(resolver.lookup_host("golang2.test", 2).timeout(deadline));
    for err in [
        no_hang("a", a).await.unwrap(),
        no_hang("b", b).await.unwrap(),
    ] {
        let err = err.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);
    }
    gate.open();
    assert_eq!(resolver.metrics().timeouts, 2);
}

/// `net` `TestLookupIPAddrConcurrentCallsForNetworks` (golang/go#30521: the lookup
/// group must call the resolver once per network). Five lookups of one host, for
/// "ip", "ip4", "ip6", "ip", "ip": the lookup function blocks until it has been called
/// once for each of the three families (so a lookup that waited on another family's
/// call would never finish), and each caller gets its own family's answer.
async fn go_lookup_ip_addr_concurrent_calls_for_networks() {
    let started = Arc::new((Mutex::new(Vec::<Family>::new()), std::sync::Condvar::new()));
    let resolver = Resolver::builder()
        .max_threads(4)
        .no_timeout()
        .lookup_fn_with_family({
            let started = started.clone();
            move |_, family| {
                let (lock, cv) = &*started;
                let mut seen = lock.lock().unwrap();
                seen.push(family);
                cv.notify_all();
                let (seen, _) = cv
                    .wait_timeout_while(seen, Duration::from_secs(20), |seen| seen.len() < 3)
                    .unwrap();
                assert_eq!(seen.len(), 3, "the lookup group waited across families");
                Ok(match family {
                    Family::Any => vec![
                        IpAddr::V4(Ipv4Addr::LOCALHOST),
                        IpAddr::V6(Ipv6Addr::LOCALHOST),
                    ],
                    Family::Ipv4 => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                    Family::Ipv6 => vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
                })
            }
        })
        .build()
        .unwrap();
    let queries = [
        Family::Any,
        Family::Ipv4,
        Family::Ipv6,
        Family::Any,
        Family::Any,
    ];
    let lookups: Vec<_> = queries
        .iter()
        .map(|&family| {
            (
                family,
                tokio::spawn(resolver.lookup_family(family, ("golang.test", 53))),
            )
        })
        .collect();
    for (family, lookup) in lookups {
        let got = ips(no_hang("lookup", lookup).await.unwrap());
        let want = match family {
            Family::Any => vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            Family::Ipv4 => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            Family::Ipv6 => vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
        };
        assert_eq!(got, want, "{family:?}");
    }
    let mut seen = started.0.lock().unwrap().clone();
    seen.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(seen, vec![Family::Any, Family::Ipv4, Family::Ipv6]);
    assert_eq!(resolver.metrics().coalesced, 2);
}

/// `net` `TestResolverLookupIP`: for "ip", "ip4" and "ip6", a dual-stack host yields
/// addresses of the families asked for and none other: no IPv6 (IPv4-mapped ones
/// included) for "ip4", no IPv4 for "ip6". The stub answers everything whatever it is
/// asked (a lookup function that ignores the hint): the resolver filters.
async fn go_resolver_lookup_ip() {
    let resolver = Resolver::builder()
        .lookup_fn(|_| Ok(vec![V4, V6, MAPPED]))
        .build()
        .unwrap();
    for family in [Family::Any, Family::Ipv4, Family::Ipv6] {
        let got = ips(resolver.lookup_family(family, ("google.test", 443)).await);
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = got.iter().partition(|ip| ip.is_ipv4());
        match family {
            Family::Any => {
                assert_eq!(got, vec![V4, V6, MAPPED]);
            }
            Family::Ipv4 => {
                assert!(!v4.is_empty() && v6.is_empty(), "ip4: {got:?}");
            }
            Family::Ipv6 => {
                assert!(v4.is_empty() && !v6.is_empty(), "ip6: {got:?}");
                assert_eq!(v6, vec![V6, MAPPED]);
            }
        }
    }
    // A name with no address of the family asked for: "no such host" (Go: the
    // lookup succeeds at DNS level but has no suitable address).
    let resolver = Resolver::builder()
        .lookup_fn(|_| Ok(vec![V4]))
        .build()
        .unwrap();
    let err = resolver
        .lookup_family(Family::Ipv6, ("v4only.test", 443))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LookupError::NoAddresses { .. }) && err.is_not_found(),
        "{err}"
    );
}

/// `net` `LookupIP` / `LookupNetIP` with an IP literal: the literal is the answer, no
/// lookup is made, and the network filters it ("ip4" of an IPv6 literal has no
/// suitable address).
///
/// One deliberate difference: Go counts an IPv4-mapped IPv6 literal
/// (`::ffff:10.0.0.2`) as IPv4 for "ip4" and refuses it for "ip6" (`IP.To4() != nil`);
/// corral, like `getaddrinfo` and Rust's `IpAddr`, treats it as the IPv6 address it
/// is written as ([`Family`]'s docs say so).
async fn go_lookup_ip_literals() {
    let resolver = Resolver::builder()
        .lookup_fn(|host| panic!("no lookup for a literal, got {host:?}"))
        .build()
        .unwrap();
    let cases: &[(&str, Family, Option<IpAddr>)] = &[
        (
            "127.0.0.1",
            Family::Any,
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ),
        (
            "127.0.0.1",
            Family::Ipv4,
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ),
        ("127.0.0.1", Family::Ipv6, None),
        ("::1", Family::Any, Some(IpAddr::V6(Ipv6Addr::LOCALHOST))),
        ("[::1]", Family::Ipv6, Some(IpAddr::V6(Ipv6Addr::LOCALHOST))),
        ("::1", Family::Ipv4, None),
        ("::ffff:10.0.0.2", Family::Any, Some(MAPPED)),
        ("::ffff:10.0.0.2", Family::Ipv6, Some(MAPPED)),
        ("::ffff:10.0.0.2", Family::Ipv4, None),
    ];
    for &(host, family, want) in cases {
        let out = resolver.lookup_family(family, (host, 80)).await;
        match want {
            Some(ip) => assert_eq!(ips(out), vec![ip], "{host} {family:?}"),
            None => {
                let err = out.unwrap_err();
                assert!(
                    matches!(err, LookupError::NoAddresses { .. }),
                    "{host} {family:?}: {err}"
                );
            }
        }
    }
    let m = resolver.metrics();
    assert_eq!((m.requests, m.lookups), (cases.len() as u64, 0));
    assert_eq!(resolver.pool().metrics().threads_high_water, 0);
}

/// `net` `TestLookupIPv6LinkLocalAddrWithZone`: a link-local IPv6 literal with a zone
/// keeps its zone in the answer (Go: `IPAddr.Zone`; Rust: the `SocketAddrV6` scope id),
/// as `tokio::net::lookup_host` keeps it, for each input shape that can carry one: a
/// socket address (with its flow info too), `"[fe80::1%2]:80"`, and `("fe80::1%2", 80)`.
/// No lookup is made. A zone given by interface name (`"fe80::1%lo"`) is no name
/// either: the lookup function is not called, the OS maps the name to its index (as
/// for tokio), and a second waiter of it shares that call.
async fn go_lookup_ipv6_link_local_addr_with_zone() {
    let resolver = Resolver::builder()
        .lookup_fn(|host| panic!("no lookup for a literal, got {host:?}"))
        .build()
        .unwrap();
    let link_local = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let with_flow = SocketAddr::V6(SocketAddrV6::new(link_local, 80, 7, 2));
    let want = SocketAddr::V6(SocketAddrV6::new(link_local, 80, 0, 2));
    let all = |out: Result<corral_blocking::LookupAddrs, LookupError>| -> Vec<SocketAddr> {
        out.unwrap().collect()
    };
    assert_eq!(all(resolver.lookup(with_flow).await), vec![with_flow]);
    assert_eq!(all(resolver.lookup("[fe80::1%2]:80").await), vec![want]);
    assert_eq!(all(resolver.lookup(("fe80::1%2", 80)).await), vec![want]);
    assert_eq!(all(resolver.lookup_host("fe80::1%2", 80).await), vec![want]);
    assert_eq!(
        all(resolver.lookup_host("[fe80::1%2]", 80).await),
        vec![want]
    );
    assert_eq!(
        all(resolver
            .lookup_family(Family::Ipv6, ("fe80::1%2", 80))
            .await),
        vec![want]
    );
    // The same as tokio's answers.
    for target in ["[fe80::1%2]:80"] {
        let theirs: Vec<_> = tokio::net::lookup_host(target).await.unwrap().collect();
        assert_eq!(all(corral_blocking::lookup_host(target).await), theirs);
    }
    let theirs: Vec<_> = tokio::net::lookup_host(with_flow).await.unwrap().collect();
    assert_eq!(all(corral_blocking::lookup_host(with_flow).await), theirs);
    let theirs: Vec<_> = tokio::net::lookup_host(("fe80::1%2", 80))
        .await
        .unwrap()
        .collect();
    assert_eq!(
        all(corral_blocking::lookup_host(("fe80::1%2", 80)).await),
        theirs
    );
    assert_eq!(resolver.metrics().lookups, 0);

    // A zone by interface name (Linux's loopback is `lo`).
    if cfg!(target_os = "linux") {
        let theirs: Vec<_> = tokio::net::lookup_host(("fe80::1%lo", 80))
            .await
            .unwrap()
            .collect();
        assert!(
            matches!(theirs[..], [SocketAddr::V6(a)] if a.scope_id() != 0),
            "{theirs:?}"
        );
        let (a, b) = (
            resolver.lookup(("fe80::1%lo", 80)),
            resolver.lookup("[fe80::1%lo]:80"),
        );
        assert_eq!(all(no_hang("zone", a).await), theirs);
        assert_eq!(all(no_hang("zone", b).await), theirs);
        let m = resolver.metrics();
        assert_eq!((m.lookups, m.coalesced), (1, 1), "one call for both");
        assert_eq!(
            all(corral_blocking::lookup_host("[fe80::1%lo]:80").await),
            theirs
        );
        // Interface names are case-sensitive: not folded like host names.
        let err = resolver.lookup(("fe80::1%LO", 80)).await.unwrap_err();
        assert!(matches!(err, LookupError::Resolve { .. }), "{err:?}");
        let err = resolver
            .lookup_family(Family::Ipv4, ("fe80::1%lo", 80))
            .await
            .unwrap_err();
        assert!(matches!(err, LookupError::NoAddresses { .. }), "{err:?}");
    }
}

/// `net` `TestResolverLookupIPWithEmptyHost` (golang/go#53995): an empty host name is
/// an error, "no such host", not a success or a hang; with the system resolver, as
/// `tokio::net::lookup_host` reports it. (Go refuses it before its hook; corral hands
/// it to the lookup function like any name, and `getaddrinfo` refuses it.)
async fn go_resolver_lookup_ip_with_empty_host() {
    let err = no_hang("empty host", corral_blocking::lookup_host(("", 80)))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let Err(theirs) = tokio::net::lookup_host(("", 80)).await else {
        panic!("tokio resolved an empty host")
    };
    assert_eq!(io::Error::from(err).kind(), theirs.kind());
    // `":80"`: the same empty host in the "host:port" shape.
    let err = corral_blocking::lookup_host(":80").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

/// `net` `TestLookupNullByte` (golang/go#31597: a NUL byte in the name panicked): with
/// the system resolver it is an error, `InvalidInput` as from std and tokio, and the
/// lookup's pool thread lives on.
async fn go_lookup_null_byte() {
    let resolver = Resolver::builder().max_threads(1).build().unwrap();
    let err = no_hang("NUL", resolver.lookup_host("foo\0bar", 80))
        .await
        .unwrap_err();
    assert!(matches!(err, LookupError::Resolve { .. }), "{err:?}");
    let Err(theirs) = tokio::net::lookup_host(("foo\0bar", 80)).await else {
        panic!("tokio resolved a NUL name")
    };
    assert_eq!(io::Error::from(err).kind(), theirs.kind());
    assert_eq!(theirs.kind(), io::ErrorKind::InvalidInput);
    let addrs = ips(resolver.lookup_host("localhost", 80).await);
    assert!(addrs.iter().all(IpAddr::is_loopback) && !addrs.is_empty());
}

/// `tokio::net::lookup_host`'s input shapes (`"host:port"`, `(host, port)`,
/// `(String, u16)`) and `lookup_host(host, port)` are one name to the resolver: while
/// one lookup of the name is in flight, every shape joins it (the port is not part of
/// the key, the case of the name neither), and each caller gets its own port.
async fn tokio_lookup_host_input_shapes_share_a_flight() {
    let (gate, calls) = (Latch::new(), Arc::new(AtomicUsize::new(0)));
    let _open = OpenOnDrop(gate.clone());
    let resolver = gated(&gate, &calls);
    let lookups: Vec<(u16, tokio::task::JoinHandle<_>)> = vec![
        (1, tokio::spawn(resolver.lookup_host("shapes.test", 1))),
        (2, tokio::spawn(resolver.lookup("shapes.test:2"))),
        (3, tokio::spawn(resolver.lookup(("SHAPES.test", 3)))),
        (
            4,
            tokio::spawn(resolver.lookup(("shapes.test".to_owned(), 4))),
        ),
        (
            5,
            tokio::spawn(resolver.lookup(String::from("Shapes.Test:5"))),
        ),
        (6, {
            let target = String::from("shapes.test:6");
            let by_ref = &target; // `&T` is an input shape too
            tokio::spawn(resolver.lookup(by_ref))
        }),
    ];
    eventually("the lookup started", || calls.load(Ordering::SeqCst) == 1).await;
    assert_eq!(resolver.in_flight(), 1);
    gate.open();
    for (port, lookup) in lookups {
        let addrs: Vec<_> = no_hang("lookup", lookup).await.unwrap().unwrap().collect();
        assert_eq!(addrs, vec![SocketAddr::new(V4, port)]);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(resolver.metrics().coalesced, 5);
    // A socket address is its own answer: no lookup.
    let addr: SocketAddr = "10.0.0.9:7".parse().unwrap();
    let addrs: Vec<_> = resolver.lookup(addr).await.unwrap().collect();
    assert_eq!(addrs, vec![addr]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let _: fn(&Resolver) -> LookupHost = |r| r.lookup("x:1");
}

/// `net` `TestConcurrentPreferGoResolversDial`: two resolvers, each with its own dial
/// function, looking up the same name at the same time: each one's lookup goes through
/// its own function. Coalescing is per [`Resolver`] (clones share it, separate
/// resolvers do not): the two lookups of one name are two calls, each answered by its
/// own function, even while both are in flight together.
async fn go_concurrent_resolvers_use_their_own_lookup_function() {
    let gate = Latch::new();
    let _open = OpenOnDrop(gate.clone());
    let dialed = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let resolvers: Vec<Resolver> = (0..2u8)
        .map(|i| {
            let (gate, dialed) = (gate.clone(), dialed[usize::from(i)].clone());
            Resolver::builder()
                .no_timeout()
                .lookup_fn(move |_| {
                    dialed.fetch_add(1, Ordering::SeqCst);
                    gate.wait();
                    Ok(vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, i))])
                })
                .build()
                .unwrap()
        })
        .collect();
    let lookups: Vec<_> = resolvers
        .iter()
        .map(|r| tokio::spawn(r.clone().lookup_host("google.test", 53)))
        .collect();
    eventually("both resolvers dialed", || {
        dialed.iter().all(|d| d.load(Ordering::SeqCst) == 1)
    })
    .await;
    gate.open();
    for (i, lookup) in lookups.into_iter().enumerate() {
        let got = ips(no_hang("lookup", lookup).await.unwrap());
        assert_eq!(got, vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8))]);
    }
    for r in &resolvers {
        assert_eq!(r.metrics().coalesced, 0);
    }
}

/// Polls `fut` once (a select with an immediately ready other branch).
async fn futures_poll_once<F: std::future::Future + Unpin>(mut fut: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
