//! Go's `golang.org/x/sync/singleflight` tests (`singleflight_test.go`), ported to
//! corral's [`Resolver`] as a singleflight user would map them:
//!
//! - a *flight* is one call of the lookup function for a (host, family) key; `Do` is
//!   awaiting a `LookupHost`, `DoChan` is spawning it as a task and awaiting its
//!   `JoinHandle` (the future is `Send + 'static`); the key's function is the
//!   resolver's lookup function, so "the second caller's function never runs" is "the
//!   lookup function was called once";
//! - `Forget` has no method: a flight leaves the map on its own when its lookup
//!   completes (the next lookup of the name starts a fresh one, unless the optional
//!   cache answers) or when its last waiter leaves (then the next lookup starts a
//!   fresh call even while the abandoned one still runs on its thread);
//! - a panicking lookup function is caught on its pool thread and becomes
//!   [`LookupError::Panicked`] for every waiter: Go re-panics in every `Do` caller and
//!   crashes the process from `DoChan`; corral deliberately does neither (see the
//!   panic cases).
//!
//! Every case runs on a current-thread and a two-worker multi-thread runtime; the
//! race-prone ones run seeded rounds.

#[macro_use]
mod support;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral_blocking::{LookupError, LookupHost, Resolver};
use corral_test_support::Rng;
use support::{eventually, Latch, OpenOnDrop};

on_both_runtimes!(
    singleflight_do,
    singleflight_do_err,
    singleflight_do_dup_suppress,
    singleflight_do_dup_suppress_seeded,
    singleflight_forget,
    singleflight_do_chan,
    singleflight_do_chan_outlives_the_resolver,
    singleflight_panic_do,
    singleflight_goexit_do,
    singleflight_panic_do_chan,
    singleflight_panic_do_shared_by_do_chan,
    singleflight_forget_unshared,
    singleflight_do_and_forget_unshared_race,
);

const BAR: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// The address of the lookup function's `n`th call (from 1).
fn nth(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

fn is_multi_thread() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
}

/// Seeded rounds: enough on the multi-thread runtime to catch a 1-in-1,000 race, a
/// tenth on the current-thread one (its interleavings are fixed by the seed).
fn rounds(multi: u64) -> u64 {
    if is_multi_thread() {
        multi
    } else {
        multi / 10
    }
}

/// Panics raised on purpose by these tests start with `"peer:"`; they are caught on
/// the pool's threads, and the default hook would print each one.
fn quiet_peer_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            let msg = p
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str));
            if !msg.is_some_and(|s| s.starts_with("peer:")) {
                previous(info);
            }
        }));
    });
}

/// A resolver whose lookup function counts its calls, blocks on `gate`, and answers
/// with the address of its call number ([`nth`]).
fn counting(gate: &Latch, calls: &Arc<AtomicU32>) -> Resolver {
    let (gate, calls) = (gate.clone(), calls.clone());
    Resolver::builder()
        .max_threads(4)
        .no_timeout()
        .lookup_fn(move |_| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            gate.wait();
            Ok(vec![nth(n)])
        })
        .build()
        .unwrap()
}

fn ips(out: Result<corral_blocking::LookupAddrs, LookupError>) -> Vec<IpAddr> {
    out.unwrap().map(|a| a.ip()).collect()
}

/// A bound on a hang (Go's tests fail with "Do hangs" after a second), not a timing
/// assertion.
async fn no_hang<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hangs"))
}

/// singleflight `TestDo`: one call, its value returned (here: the function's addresses,
/// each with the port asked for).
async fn singleflight_do() {
    let resolver = Resolver::builder()
        .lookup_fn(|_| Ok(vec![BAR]))
        .build()
        .unwrap();
    let addrs: Vec<_> = resolver
        .lookup_host("key.test", 80)
        .await
        .unwrap()
        .collect();
    assert_eq!(addrs, vec![SocketAddr::new(BAR, 80)]);
    let m = resolver.metrics();
    assert_eq!((m.requests, m.lookups, m.coalesced, m.errors), (1, 1, 0, 0));
}

/// singleflight `TestDoErr`: the function's error is what the caller gets, untouched:
/// [`LookupError::Resolve`] carries the lookup function's own `io::Error` (its kind and
/// text), and converts back to an `io::Error` of the same kind. And, as singleflight
/// forgets a key once its call returned, an error is not kept: the next lookup calls
/// the function again, even with both caches on (a failure other than "not found" is
/// never cached).
async fn singleflight_do_err() {
    let calls = Arc::new(AtomicU32::new(0));
    let resolver = Resolver::builder()
        .cache_ttl(Duration::from_secs(60))
        .negative_cache_ttl(Duration::from_secs(60))
        .lookup_fn({
            let calls = calls.clone();
            move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "some error",
                ))
            }
        })
        .build()
        .unwrap();
    let err = resolver.lookup_host("key.test", 80).await.unwrap_err();
    match &err {
        LookupError::Resolve { host, source } => {
            assert_eq!(&**host, "key.test");
            assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused);
            assert_eq!(source.to_string(), "some error");
        }
        other => panic!("unexpected error: {other:?}"),
    }
    assert!(!err.is_not_found() && !err.is_timeout());
    let source = std::error::Error::source(&err).expect("the function's error");
    assert_eq!(source.to_string(), "some error");
    assert_eq!(
        io::Error::from(err).kind(),
        io::ErrorKind::ConnectionRefused
    );
    assert_eq!(resolver.metrics().errors, 1);
    assert_eq!(resolver.cached(), 0);
    let again = resolver.lookup_host("key.test", 80).await.unwrap_err();
    assert!(matches!(again, LookupError::Resolve { .. }), "{again:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// singleflight `TestDoDupSuppress`: ten callers while the function is blocked share
/// its one call. Go can only bound the calls (`0 < calls < n`, its goroutines may enter
/// `Do` after the call returned); here every caller joins before the gate opens, so
/// exactly one call, nine coalesced, and every caller gets its answer.
async fn singleflight_do_dup_suppress() {
    let (gate, calls) = (Latch::new(), Arc::new(AtomicU32::new(0)));
    let _open = OpenOnDrop(gate.clone());
    let resolver = counting(&gate, &calls);
    const N: u16 = 10;
    let callers: Vec<_> = (0..N)
        .map(|i| tokio::spawn(resolver.lookup_host("key.test", i)))
        .collect();
    eventually("the first call started", || {
        calls.load(Ordering::SeqCst) == 1
    })
    .await;
    gate.open();
    for (i, caller) in callers.into_iter().enumerate() {
        let addrs: Vec<_> = no_hang("Do", caller).await.unwrap().unwrap().collect();
        assert_eq!(addrs, vec![SocketAddr::new(nth(1), i as u16)]);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let m = resolver.metrics();
    assert_eq!((m.lookups, m.coalesced), (1, u64::from(N) - 1));
    assert_eq!(resolver.in_flight(), 0);
}

/// singleflight `TestDoDupSuppress`, with Go's looser shape: the gate opens at a seeded
/// point; the callers before it join while the call is blocked, the ones after enter
/// from tasks at seeded moments, some after the call returned. Go's bound holds
/// (`0 < calls <= n`, and fewer than `n` once two callers joined while blocked), every
/// caller gets an answer, and every answer is one of the calls made.
async fn singleflight_do_dup_suppress_seeded() {
    for round in 0..rounds(300) {
        let seed = 0xd0_d0 + round;
        let mut rng = Rng(seed);
        let (gate, calls) = (Latch::new(), Arc::new(AtomicU32::new(0)));
        let _open = OpenOnDrop(gate.clone());
        let resolver = counting(&gate, &calls);
        let n = 2 + rng.below(10) as u16;
        let open_after = rng.below(u64::from(n) + 1) as u16;
        let mut callers = Vec::new();
        for i in 0..n {
            if i == open_after {
                gate.open();
            }
            let yields = rng.below(3);
            // Joined now (the gate still shut), or from its task later.
            let early = (i < open_after).then(|| resolver.lookup_host("key.test", i));
            let resolver = resolver.clone();
            callers.push(tokio::spawn(async move {
                if let Some(joined) = early {
                    return joined.await;
                }
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                resolver.lookup_host("key.test", i).await
            }));
        }
        gate.open();
        for caller in callers {
            let out = no_hang("Do", caller).await.unwrap();
            let ip = ips(out)[0];
            let made = calls.load(Ordering::SeqCst);
            assert!(
                (1..=made).any(|k| nth(k) == ip),
                "seed {seed}: {ip} from no call"
            );
        }
        let made = calls.load(Ordering::SeqCst);
        assert!(
            made >= 1 && made <= u32::from(n),
            "seed {seed}: {made} calls"
        );
        if open_after >= 2 {
            // At least two callers joined while the gate was shut: they shared a call.
            assert!(made < u32::from(n), "seed {seed}: {made} calls for {n}");
        }
        assert_eq!(resolver.in_flight(), 0, "seed {seed}");
    }
}

/// singleflight `TestForget` (golang/go#31420: after `Forget`, the first call finishing
/// must not remove the second call's entry, or a third caller starts a third call
/// instead of sharing the second).
///
/// corral's `Forget` is the last waiter leaving: the first flight is gone while its
/// call still runs on its thread, so the second caller starts a second call. When the
/// abandoned first call returns, its answer is discarded (not cached either), and the
/// third caller still joins the second flight: it gets the second call's answer and no
/// third call is made.
async fn singleflight_forget() {
    let (first_gate, second_gate) = (Latch::new(), Latch::new());
    let _open = (
        OpenOnDrop(first_gate.clone()),
        OpenOnDrop(second_gate.clone()),
    );
    let calls = Arc::new(AtomicU32::new(0));
    let first_finished = Latch::new();
    let resolver = Resolver::builder()
        .max_threads(4)
        .no_timeout()
        .cache_ttl(Duration::from_secs(60))
        .lookup_fn({
            let (first_gate, second_gate) = (first_gate.clone(), second_gate.clone());
            let (calls, first_finished) = (calls.clone(), first_finished.clone());
            move |_| {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                match n {
                    1 => {
                        first_gate.wait();
                        first_finished.open();
                    }
                    2 => second_gate.wait(),
                    _ => {}
                }
                Ok(vec![nth(n)])
            }
        })
        .build()
        .unwrap();
    let first = tokio::spawn(resolver.lookup_host("key.test", 1));
    eventually("the first call started", || {
        calls.load(Ordering::SeqCst) == 1
    })
    .await;
    first.abort(); // Forget: its only waiter leaves
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(resolver.in_flight(), 0);

    let second = tokio::spawn(resolver.lookup_host("key.test", 2));
    eventually("the second call started", || {
        calls.load(Ordering::SeqCst) == 2
    })
    .await;
    first_gate.open();
    first_finished.opened().await;
    eventually("the first call's thread is free", || {
        resolver.pool().metrics().running == 1
    })
    .await;
    assert_eq!(resolver.cached(), 0, "the abandoned answer is not cached");
    assert_eq!(
        resolver.in_flight(),
        1,
        "the second flight is still in the map"
    );

    let third = tokio::spawn(resolver.lookup_host("key.test", 3));
    second_gate.open();
    assert_eq!(ips(no_hang("second", second).await.unwrap()), vec![nth(2)]);
    assert_eq!(ips(no_hang("third", third).await.unwrap()), vec![nth(2)]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(resolver.metrics().coalesced, 1);
    // The second call's answer is the cached one.
    let cached = resolver.lookup_host("key.test", 4).await;
    assert_eq!(ips(cached), vec![nth(2)]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// singleflight `TestDoChan`: the channel form. A `LookupHost` is `Send + 'static`, so
/// it runs as its own task and the caller receives the result through the handle.
async fn singleflight_do_chan() {
    fn is_do_chan<F: std::future::Future + Send + 'static>(f: F) -> F {
        f
    }
    let resolver = Resolver::builder()
        .lookup_fn(|_| Ok(vec![BAR]))
        .build()
        .unwrap();
    let ch: tokio::task::JoinHandle<_> = tokio::spawn(is_do_chan::<LookupHost>(
        resolver.lookup_host("key.test", 1),
    ));
    let res = no_hang("DoChan", ch).await.unwrap();
    assert_eq!(ips(res), vec![BAR]);
    // And from the `host:port` input shape.
    let ch = tokio::spawn(resolver.lookup("key.test:2"));
    let addrs: Vec<_> = ch.await.unwrap().unwrap().collect();
    assert_eq!(addrs, vec![SocketAddr::new(BAR, 2)]);
}

/// singleflight `TestDoChan`, the channel outliving its caller's handle on the group:
/// a `DoChan` result arrives whatever the caller does with the `Group` afterwards (in
/// Go the group lives as long as anything uses it). Here the resolver is dropped right
/// after the lookups are made: once before their first poll, once while their lookup
/// waits in the pool's queue behind a busy thread. Lookups in flight belong to their
/// waiters, so each still gets the answer, never [`LookupError::Closed`] (nobody shut
/// the pool down); the pool shuts down once the last of them is done.
async fn singleflight_do_chan_outlives_the_resolver() {
    // Before the first poll.
    let resolver = Resolver::builder()
        .lookup_fn(|_| Ok(vec![BAR]))
        .build()
        .unwrap();
    let unpolled = resolver.lookup_host("key.test", 1);
    drop(resolver);
    assert_eq!(ips(no_hang("DoChan", unpolled).await), vec![BAR]);

    // Queued behind a busy thread.
    let calls = Arc::new(AtomicU32::new(0));
    let resolver = Resolver::builder()
        .max_threads(1)
        .no_timeout()
        .lookup_fn({
            let calls = calls.clone();
            move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(vec![BAR])
            }
        })
        .build()
        .unwrap();
    let gate = OpenOnDrop(Latch::new());
    let busy = {
        let gate = gate.0.clone();
        resolver.pool().try_run(move || gate.wait()).unwrap()
    };
    let chans: Vec<_> = (0..3)
        .map(|i| tokio::spawn(resolver.lookup_host("key.test", i)))
        .collect();
    let queued = || resolver.pool().metrics().queued == 1;
    eventually("the lookup is queued", queued).await;
    let stopped = resolver.pool().stopped();
    drop(resolver);
    gate.0.open();
    busy.await.unwrap();
    for (i, ch) in chans.into_iter().enumerate() {
        let addrs: Vec<_> = no_hang("DoChan", ch).await.unwrap().unwrap().collect();
        assert_eq!(addrs, vec![SocketAddr::new(BAR, i as u16)]);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Nothing holds the pool any more: it shuts down.
    no_hang("the pool's shutdown", stopped).await;
}

/// singleflight `TestPanicDo` (golang/go#41133: after a panic in `fn`, other callers of
/// the key hung forever). Five callers share a lookup function that panics: none
/// hangs, each gets the panic, as [`LookupError::Panicked`] with its message (Go
/// re-panics in each caller; corral's callers get an error, on purpose: a resolver
/// bug must not take down every task that resolves). The function ran once, and the
/// name is not poisoned: on a one-thread pool with a negative cache on, the next
/// lookup of the same name calls the function again (the panic was not cached, the
/// thread slot was freed) and succeeds.
async fn singleflight_panic_do() {
    quiet_peer_panics();
    let (gate, calls) = (Latch::new(), Arc::new(AtomicU32::new(0)));
    let _open = OpenOnDrop(gate.clone());
    let resolver = Resolver::builder()
        .max_threads(1)
        .no_timeout()
        .negative_cache_ttl(Duration::from_secs(60))
        .lookup_fn({
            let (gate, calls) = (gate.clone(), calls.clone());
            move |_| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    gate.wait();
                    panic!("peer: invalid memory address or nil pointer dereference");
                }
                Ok(vec![BAR])
            }
        })
        .build()
        .unwrap();
    const N: usize = 5;
    let callers: Vec<_> = (0..N)
        .map(|_| tokio::spawn(resolver.lookup_host("key.test", 1)))
        .collect();
    eventually("the call started", || calls.load(Ordering::SeqCst) == 1).await;
    gate.open();
    let mut panics = 0;
    for caller in callers {
        match no_hang("Do", caller).await.unwrap().unwrap_err() {
            LookupError::Panicked { host, message } => {
                assert_eq!(&*host, "key.test");
                assert_eq!(
                    message.as_deref(),
                    Some("peer: invalid memory address or nil pointer dereference")
                );
                panics += 1;
            }
            other => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(panics, N);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(resolver.in_flight(), 0);
    assert_eq!(resolver.cached(), 0, "a panic is not a cached answer");
    let m = resolver.metrics();
    assert_eq!((m.lookups, m.coalesced, m.errors), (1, N as u64 - 1, 1));
    // Not poisoned: the next lookup is a fresh call, and it answers.
    let again = no_hang("Do after a panic", resolver.lookup_host("key.test", 2)).await;
    assert_eq!(ips(again), vec![BAR]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// singleflight `TestGoexitDo`: the function ends without returning a value
/// (`runtime.Goexit`), and no caller may hang. corral's lookup function cannot exit its
/// thread that way; a lookup that ends without an answer is one whose job the pool
/// drops: the pool is shut down while the lookup waits for a thread. Every waiter gets
/// [`LookupError::Closed`] (Go's callers get a nil error there), none hangs, and the
/// function never ran.
async fn singleflight_goexit_do() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = corral_blocking::BlockingPool::builder()
        .name("dns-goexit")
        .max_threads(1)
        .build()
        .unwrap();
    let (gate, busy) = support_occupy(&pool).await;
    let resolver = Resolver::builder()
        .pool(pool.clone())
        .no_timeout()
        .lookup_fn({
            let calls = calls.clone();
            move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(vec![BAR])
            }
        })
        .build()
        .unwrap();
    const N: usize = 5;
    let callers: Vec<_> = (0..N)
        .map(|_| tokio::spawn(resolver.lookup_host("key.test", 1)))
        .collect();
    eventually("the lookup is queued", || pool.metrics().queued == 1).await;
    pool.shutdown();
    for caller in callers {
        let err = no_hang("Do", caller).await.unwrap().unwrap_err();
        assert!(matches!(err, LookupError::Closed), "{err:?}");
    }
    gate.0.open();
    let _ = busy.await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(resolver.in_flight(), 0);
    // A later lookup is refused at once, it does not hang either.
    let err = no_hang("Do", resolver.lookup_host("key.test", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, LookupError::Closed), "{err:?}");
}

/// Occupies a one-thread pool until the returned latch opens.
async fn support_occupy(
    pool: &corral_blocking::BlockingPool,
) -> (OpenOnDrop, corral_blocking::AcceptedJob<()>) {
    let (gate, job) = support::occupy(pool).await;
    (OpenOnDrop(gate), job)
}

/// singleflight `TestPanicDoChan`: in Go a panic in `DoChan`'s function cannot be
/// recovered by the caller, so singleflight crashes the process on purpose. corral
/// deliberately differs: the panic is caught on the pool thread, and the task awaiting
/// the lookup gets [`LookupError::Panicked`]; the task itself does not panic (its
/// handle is `Ok`), and the process lives on.
async fn singleflight_panic_do_chan() {
    quiet_peer_panics();
    let resolver = Resolver::builder()
        .lookup_fn(|_| panic!("peer: Panicking in DoChan"))
        .build()
        .unwrap();
    let ch = tokio::spawn(resolver.lookup_host("", 1));
    let res = no_hang("DoChan", ch).await.expect("the task did not panic");
    let err = res.unwrap_err();
    assert_eq!(
        err.to_string(),
        "lookup of \"\" panicked: peer: Panicking in DoChan"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::Other);
}

/// singleflight `TestPanicDoSharedByDoChan`: a `Do` caller's function blocks, then
/// panics; a `DoChan` caller joined meanwhile must not run its own function and must
/// see the panic. Here the first caller awaits inline, the second is a spawned task
/// that joined while the call was blocked: the lookup function ran once, and both get
/// the panic as [`LookupError::Panicked`] (Go crashes the process in the `DoChan`
/// caller; see [`singleflight_panic_do_chan`]).
async fn singleflight_panic_do_shared_by_do_chan() {
    quiet_peer_panics();
    let (gate, calls) = (Latch::new(), Arc::new(AtomicU32::new(0)));
    let _open = OpenOnDrop(gate.clone());
    let resolver = Resolver::builder()
        .no_timeout()
        .lookup_fn({
            let (gate, calls) = (gate.clone(), calls.clone());
            move |_| {
                if calls.fetch_add(1, Ordering::SeqCst) > 0 {
                    panic!("peer: DoChan unexpectedly executed callback");
                }
                gate.wait();
                panic!("peer: Panicking in Do");
            }
        })
        .build()
        .unwrap();
    let mut first = tokio_test::task::spawn(resolver.lookup_host("", 1));
    assert!(first.poll().is_pending());
    eventually("blocked", || calls.load(Ordering::SeqCst) == 1).await;
    let ch = tokio::spawn(resolver.lookup_host("", 2));
    eventually("the DoChan caller joined", || {
        resolver.metrics().coalesced == 1
    })
    .await;
    gate.open();
    let shared = no_hang("DoChan", ch).await.unwrap().unwrap_err();
    let own = no_hang("Do", support::ready(&mut first)).await.unwrap_err();
    for err in [own, shared] {
        assert_eq!(
            err.to_string(),
            "lookup of \"\" panicked: peer: Panicking in Do"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// singleflight `TestForgetUnshared`: `ForgetUnshared` forgets a key only when no other
/// caller shares its call, so that no two calls of one key run at once. corral has no
/// such method; its rule is the same without one: while any waiter remains in a flight,
/// every new lookup of the key joins it (one waiter leaving a shared flight changes
/// nothing, no second call starts), and only when the last waiter has left does the
/// next lookup start a fresh call.
async fn singleflight_forget_unshared() {
    let (gate, calls) = (Latch::new(), Arc::new(AtomicU32::new(0)));
    let _open = OpenOnDrop(gate.clone());
    let resolver = counting(&gate, &calls);
    // Shared: the first waiter leaves, the key stays in flight, the third joins.
    let first = tokio::spawn(resolver.lookup_host("key.test", 1));
    let second = tokio::spawn(resolver.lookup_host("key.test", 2));
    eventually("the first call started", || {
        calls.load(Ordering::SeqCst) == 1
    })
    .await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(resolver.in_flight(), 1);
    let third = tokio::spawn(resolver.lookup_host("key.test", 3));
    gate.open();
    assert_eq!(ips(no_hang("second", second).await.unwrap()), vec![nth(1)]);
    assert_eq!(ips(no_hang("third", third).await.unwrap()), vec![nth(1)]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Unshared: the only waiter leaves (before its call started), the next lookup is a
    // fresh call.
    let gate = Latch::new();
    let _open = OpenOnDrop(gate.clone());
    let calls = Arc::new(AtomicU32::new(0));
    let resolver = counting(&gate, &calls);
    let mut only = tokio_test::task::spawn(resolver.lookup_host("key.test", 1));
    assert!(only.poll().is_pending());
    drop(only);
    assert_eq!(resolver.in_flight(), 0);
    gate.open();
    let next = no_hang("next", resolver.lookup_host("key.test", 2)).await;
    let ip = ips(next)[0];
    let made = calls.load(Ordering::SeqCst);
    // The unshared call may or may not have started before its waiter left; either
    // way the next lookup made its own call.
    assert_eq!(
        ip,
        nth(made),
        "the next lookup's answer is the latest call's"
    );
    assert!(resolver.metrics().coalesced == 0);
}

/// singleflight `TestDoAndForgetUnsharedRace`: many callers share one call; when each
/// returns, the key must already be unused (Go: `ForgetUnshared` returns true for
/// every one of them). corral's form: the flight has left the map before any of its
/// waiters has the answer, so the lookup a caller starts the moment it returns is a
/// fresh call, never the finished flight again: its answer comes from a later call
/// than its first answer. Seeded rounds of 2 to 40 callers from tasks,
/// some joining late (after the answer) and some leaving after they parked.
async fn singleflight_do_and_forget_unshared_race() {
    for round in 0..rounds(1_000) {
        let seed = 0xf0_46e7 + round;
        let mut rng = Rng(seed);
        let (gate, calls) = (Latch::new(), Arc::new(AtomicU32::new(0)));
        let _open = OpenOnDrop(gate.clone());
        let resolver = counting(&gate, &calls);
        let n = 2 + rng.below(39) as u16;
        let shared = rng.below(2) == 0;
        let mut callers = Vec::new();
        for i in 0..n {
            let resolver = resolver.clone();
            let leaves = rng.below(8) == 0;
            let yields = rng.below(3);
            callers.push(tokio::spawn(async move {
                let mut first = Box::pin(resolver.lookup_host("key.test", i));
                if leaves {
                    // Parks (or, with the gate already open, may be answered), then
                    // leaves.
                    let _ = futures_poll_once(first.as_mut()).await;
                    return None;
                }
                let first = first.await;
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                let next = resolver.lookup_host("key.test", i).await;
                Some((first, next))
            }));
        }
        if shared {
            // Everyone has joined (or left) before the call returns.
            eventually("all joined", || {
                resolver.metrics().requests == u64::from(n) && calls.load(Ordering::SeqCst) >= 1
                    || callers.iter().all(|c| c.is_finished())
            })
            .await;
        }
        gate.open();
        for caller in callers {
            let Some((first, next)) = no_hang("Do", caller).await.unwrap() else {
                continue;
            };
            let (first, next) = (ips(first)[0], ips(next)[0]);
            let call = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => u32::from(v4) - 0x0a00_0000,
                IpAddr::V6(_) => unreachable!(),
            };
            // Other callers' next lookups may be in flight by then, but never the
            // flight this caller's answer came from: its next answer is a later call's.
            assert!(
                call(next) > call(first),
                "seed {seed}: the lookup after the answer of call {} got call {}",
                call(first),
                call(next)
            );
        }
        if shared {
            let m = resolver.metrics();
            assert!(m.lookups >= 1, "seed {seed}");
        }
        eventually("no flight left", || resolver.in_flight() == 0).await;
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
