//! What a Redisson or Go (`golang.org/x/sync/semaphore`) user expects of a distributed
//! semaphore when things fail, on a `redis-server` each test starts on a free loopback
//! port: connections dropped under holders and waiters, a holder whose runtime goes
//! away mid-work, Redis going away for less than a lease, and cancelled acquires
//! (racing releases, on both runtime flavours).
//!
//! `tests/restart.rs` covers a restart that loses the data with holders and waiters in
//! place, `tests/processes.rs` SIGKILLed holder processes; these extend them.
//! Waits on Redis's real-time effects are bounded condition loops with generous upper
//! bounds, never wall-clock assertions.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use corral_fleet::{CancellationToken, FleetSemaphore, TryAcquireError};
use corral_test_support::{eventually_async, Rng};

#[macro_use]
mod support;
use support::{all_back, kill_connections, open, server, waiters, LONG, SLACK};

flavours!(dropped_connections_keep_holders_and_wake_waiters);
/// A Redisson user's expectation (its permits live in Redis, not in the connection):
/// when every connection drops, a holder keeps its permit (no lost-lease token, the
/// others still cannot take it) and a queued waiter is still woken by the release
/// (well before its 20 s heartbeat: by the notification on the resubscribed channel,
/// or the recheck the disconnection triggers).
async fn dropped_connections_keep_holders_and_wake_waiters() {
    let server = server();
    let (a, b) = (
        open(&server.url(), "blip", 1, LONG).await,
        open(&server.url(), "blip", 1, LONG).await,
    );
    for _ in 0..3 {
        let held = a.acquire(1).await.unwrap();
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.acquire(1).await }
        });
        eventually_async("b queues", || async { waiters(&a).await == 1 }).await;
        kill_connections(&server);
        let r = b.try_acquire(1).await;
        assert!(
            matches!(
                r,
                Err(TryAcquireError::Semaphore(
                    corral_semaphore::TryAcquireError::NoPermits { .. }
                ))
            ),
            "{r:?}"
        );
        assert!(!held.is_lost());
        // The holder's connection drops just before it releases.
        kill_connections(&server);
        let r = held.release().await;
        assert!(r.is_ok(), "{r:?}");
        let got = tokio::time::timeout(SLACK, waiter)
            .await
            .expect("the waiter is woken after its connection dropped")
            .unwrap()
            .unwrap();
        assert!(!got.is_lost());
        got.release().await.unwrap();
    }
    all_back(&a, 1, "everything back after the blips").await;
}

/// A lease survives connections dropping again and again while it is renewed: the
/// token fires only when the server says the permit is gone or renewal failed for a
/// lease, and neither happens when a reconnect takes milliseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_survives_repeated_connection_drops() {
    let server = server();
    let lease = Duration::from_millis(900);
    let (a, b) = (
        open(&server.url(), "blips", 1, lease).await,
        open(&server.url(), "blips", 1, lease).await,
    );
    let held = a.acquire(1).await.unwrap();
    // Three leases long, connections dropped every 100 ms.
    for _ in 0..27 {
        kill_connections(&server);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!held.is_lost(), "the lease was renewed across the drops");
    assert!(b.try_acquire(1).await.is_err(), "still held on the server");
    held.release().await.unwrap();
    all_back(&b, 1, "released").await;
}

flavours!(holder_runtime_dropped_mid_work);
/// A Go/Redisson user's "the holder's process went away": the holder's runtime is
/// dropped while the task holding the permit is mid-work (the permit is dropped
/// during the runtime's shutdown, where the release may or may not get to run).
/// Nothing panics, and the permits come back within the lease either way.
async fn holder_runtime_dropped_mid_work() {
    let server = server();
    let lease = Duration::from_millis(600);
    let url = server.url();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let sem = open(&url, "gone", 3, lease).await;
            let p = sem.acquire(3).await.unwrap();
            tx.send(()).unwrap();
            std::future::pending::<()>().await;
            drop(p);
        });
        rx.recv().unwrap();
        drop(rt);
    })
    .await
    .unwrap();
    let sem = open(&server.url(), "gone", 3, lease).await;
    let got = sem.acquire_timeout(3, lease + SLACK).await;
    got.expect("the permits come back within the lease")
        .release()
        .await
        .unwrap();
    all_back(&sem, 3, "nothing held after the holder went").await;
}

/// Redis goes away for less than a lease: a waiter queued before rides it out, an
/// acquire started during the outage too, a try during the outage is a typed
/// `Unreachable` (not a hang, not a refusal), and the same handles work afterwards.
/// The restart lost the data (no persistence), so the holder's token fires and both
/// waiters queue again; they are granted one at a time (capacity 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_shorter_than_a_lease_is_ridden_out() {
    let mut server = server();
    let lease = Duration::from_secs(3);
    let (a, b) = (
        open(&server.url(), "outage", 1, lease).await,
        open(&server.url(), "outage", 1, lease).await,
    );
    let held = a.acquire(1).await.unwrap();
    let inuse = Arc::new(AtomicU64::new(0));
    let wait = |sem: FleetSemaphore| {
        let inuse = Arc::clone(&inuse);
        tokio::spawn(async move {
            let p = sem.acquire(1).await.expect("rides out the outage");
            assert_eq!(inuse.fetch_add(1, SeqCst), 0, "two holders at once");
            tokio::time::sleep(Duration::from_millis(20)).await;
            inuse.fetch_sub(1, SeqCst);
            p.release().await.unwrap();
        })
    };
    let before = wait(b.clone());
    eventually_async("b queues", || async { waiters(&a).await == 1 }).await;
    server.stop();
    let during = wait(b.clone());
    assert!(matches!(
        a.try_acquire(1).await,
        Err(TryAcquireError::Unreachable(_))
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::task::block_in_place(|| server.restart()).unwrap();
    tokio::time::timeout(SLACK, held.lease_lost().cancelled())
        .await
        .expect("the holder learns the restart lost its permit");
    // The stale holder stops using the permit (it is gone on the server) before the
    // new grants are checked against the counter.
    drop(held);
    for w in [before, during] {
        tokio::time::timeout(lease + SLACK, w)
            .await
            .expect("granted after the outage")
            .unwrap();
    }
    all_back(&a, 1, "everything back after the outage").await;
}

flavours!(cancelled_acquire_holds_nothing);
/// Go's `TestWeightedAcquire`-with-a-cancelled-context and Redisson's interrupted
/// `acquire`: an acquire cancelled while queued returns nothing, leaves the queue at
/// once (well within the minute's lease that would otherwise expire its entry), and
/// the next release goes to whoever asks next, not to the cancelled request.
async fn cancelled_acquire_holds_nothing() {
    let server = server();
    let (a, b) = (
        open(&server.url(), "cancel", 1, LONG).await,
        open(&server.url(), "cancel", 1, LONG).await,
    );
    let held = a.acquire(1).await.unwrap();
    let cancel = CancellationToken::new();
    let waiter = tokio::spawn({
        let (b, cancel) = (b.clone(), cancel.clone());
        async move {
            tokio::select! {
                p = b.acquire(1) => Some(p),
                () = cancel.cancelled() => None,
            }
        }
    });
    eventually_async("b queues", || async { waiters(&a).await == 1 }).await;
    cancel.cancel();
    assert!(waiter.await.unwrap().is_none(), "cancelled: no permit");
    eventually_async("the cancelled request left the queue", || async {
        waiters(&a).await == 0
    })
    .await;
    held.release().await.unwrap();
    let next = b.try_acquire(1).await.expect("nobody else holds or waits");
    next.release().await.unwrap();
    all_back(&a, 1, "nothing held").await;
}

flavours!(cancels_racing_releases_leak_nothing);
/// Seeded: each round one client holds the only permit, waiters from three other
/// clients queue, then the release and cancellations of a random subset of waiters
/// happen together (a cancel can land before, during or after the grant reaches its
/// waiter). The waiters not cancelled are each granted in turn, and at the end
/// nothing is held or queued. Leases are a minute: only releases and cancellations
/// can return the permits.
async fn cancels_racing_releases_leak_nothing() {
    let server = server();
    let seed = support::seed(0xfa11);
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(open(&server.url(), "race", 1, LONG).await);
    }
    let mut rng = Rng(seed);
    let granted = Arc::new(AtomicU64::new(0));
    let mut expected = 0;
    for round in 0..25 {
        let held = clients[0].acquire(1).await.unwrap();
        let mut tasks = Vec::new();
        let mut tokens = Vec::new();
        for w in 0..3 {
            let sem = clients[1 + w].clone();
            let cancel = CancellationToken::new();
            let granted = Arc::clone(&granted);
            tokens.push(cancel.clone());
            tasks.push(tokio::spawn(async move {
                tokio::select! {
                    p = sem.acquire(1) => {
                        granted.fetch_add(1, SeqCst);
                        p.unwrap().release().await.unwrap();
                        true
                    }
                    () = cancel.cancelled() => false,
                }
            }));
        }
        eventually_async("the waiters queue", || async {
            waiters(&clients[0]).await == 3
        })
        .await;
        let cancel_mask = rng.below(8);
        let delay = Duration::from_micros(rng.below(3000));
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            for (i, t) in tokens.iter().enumerate() {
                if cancel_mask & (1 << i) != 0 {
                    t.cancel();
                }
            }
        });
        held.release().await.unwrap();
        canceller.await.unwrap();
        for t in tasks {
            let done = tokio::time::timeout(SLACK, t)
                .await
                .unwrap_or_else(|_| panic!("seed {seed} round {round}: a waiter hangs"))
                .unwrap();
            expected += u64::from(done);
        }
        all_back(&clients[0], 1, &format!("seed {seed} round {round}")).await;
    }
    assert_eq!(granted.load(SeqCst), expected, "seed {seed}");
    assert!(expected > 0, "seed {seed}: nothing was ever granted");
}

flavours!(vanished_waiter_at_the_head_stops_blocking);
/// A waiter that disappears (its runtime shut down while it is queued at the head,
/// so neither its refresh nor, perhaps, its leave ever runs) blocks the FIFO queue
/// only until its entry, or the grant it may have been given meanwhile, expires: the
/// small request behind it is granted within a lease plus slack, and nothing is
/// left held or queued.
async fn vanished_waiter_at_the_head_stops_blocking() {
    let server = server();
    let lease = Duration::from_millis(600);
    let (a, b) = (
        open(&server.url(), "dead-waiter", 2, lease).await,
        open(&server.url(), "dead-waiter", 2, lease).await,
    );
    let held = a.acquire(1).await.unwrap();
    let url = server.url();
    let queued = Arc::new(AtomicU64::new(0));
    let dead = tokio::task::spawn_blocking({
        let queued = Arc::clone(&queued);
        move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let sem = open(&url, "dead-waiter", 2, lease).await;
                let head = tokio::spawn({
                    let sem = sem.clone();
                    async move { sem.acquire(2).await }
                });
                eventually_async("the head queues", || async {
                    sem.waiters().await.unwrap() == 1
                })
                .await;
                queued.store(1, SeqCst);
                // Leave the acquire pending: dropping the runtime drops it.
                std::mem::forget(head);
            });
            drop(rt);
        }
    });
    dead.await.unwrap();
    assert_eq!(queued.load(SeqCst), 1);
    // FIFO: 1 is free, but the (dead) head wants 2.
    let small = tokio::spawn({
        let b = b.clone();
        async move { b.acquire(1).await }
    });
    let got = tokio::time::timeout(lease + SLACK, small)
        .await
        .expect("the dead head stops blocking the queue within its lease")
        .unwrap()
        .unwrap();
    got.release().await.unwrap();
    held.release().await.unwrap();
    all_back(&a, 2, "the dead waiter holds nothing").await;
}

/// Extends `tests/restart.rs`: a restart that loses the data also undoes a `close`
/// and a `set_capacity` (as the crate docs say: the semaphore starts again from the
/// capacity its handles were built with, open, empty), and a handle that kept its
/// connection through the restart works without being rebuilt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reopens_and_restores_the_built_capacity() {
    let mut server = server();
    let sem = open(&server.url(), "reopen", 2, Duration::from_secs(2)).await;
    sem.set_capacity(5).await.unwrap();
    sem.close().await.unwrap();
    let s = sem.status().await.unwrap();
    assert_eq!((s.capacity, s.closed), (5, true));
    tokio::task::block_in_place(|| server.restart()).unwrap();
    let s = sem
        .status()
        .await
        .expect("the same handle after the restart");
    assert_eq!((s.capacity, s.available, s.closed), (2, 2, false));
    sem.acquire(2).await.unwrap().release().await.unwrap();
}
