//! Redisson's own tests of its distributed semaphores (`RedissonSemaphoreTest`,
//! `RedissonPermitExpirableSemaphoreTest`), ported onto `FleetSemaphore` as a Redisson
//! user would map them, on a `redis-server` each test starts on a free loopback port.
//!
//! Mapping (where corral differs on purpose, each test says so and asserts corral's
//! documented behaviour):
//! - `trySetPermits(n)` is the builder's `capacity(n)`: it creates the semaphore only if
//!   it does not exist. `addPermits`/`reducePermits`/`setPermits` are `set_capacity`.
//! - A Redisson permit id is a `FleetPermit`: releasing is `release(self)` (so a second
//!   release, or a release of nothing, does not compile), and a release the server no
//!   longer knows answers `ReleaseError::LeaseLost` instead of adding a permit.
//! - `RPermitExpirableSemaphore`'s lease time is the builder's `lease`, renewed by the
//!   permit's own task while its holder lives (no `updateLeaseTime`): a lease runs out
//!   only for a holder that died, vanished or paused. Those holders are simulated by a
//!   runtime shut down with the permit held (no renewal, no release ever runs) and by a
//!   runtime whose only thread is blocked (a GC pause).
//!
//! Waits on Redis's real-time expiry are bounded condition loops with generous upper
//! bounds, never wall-clock assertions. The last part ports what a Redisson or Go user
//! expects under failure: connections dropped, Redis going away shorter than a lease,
//! cancelled acquires.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use corral_fleet::{AcquireError, FleetPermit, FleetSemaphore, ReleaseError, TryAcquireError};
use corral_semaphore as semaphore;
use corral_test_support::{eventually_async, Rng};

#[macro_use]
mod support;
use support::{available, delete_keys, open, server, waiters, LONG, SLACK};

// ---------------------------------------------------------------------------------
// RedissonSemaphoreTest
// ---------------------------------------------------------------------------------

/// Ports `RedissonSemaphoreTest::testTrySetPermits` (and
/// `RedissonPermitExpirableSemaphoreTest::testTrySetPermits`, `testNotExistent`): the
/// first handle's capacity creates the semaphore, a later one with another capacity
/// does not change it. Difference: a semaphore that does not exist is created by the
/// handle (Redisson reports 0 permits), and the keys carry no TTL (Redisson's
/// `trySetPermits(n, ttl)`): deleting them removes the semaphore, and the next script
/// recreates it from the calling handle's configured capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_set_permits_keeps_the_existing_capacity() {
    let server = server();
    let ten = open(&server.url(), "set", 10, LONG).await;
    assert_eq!(available(&ten).await, 10);
    let fifteen = open(&server.url(), "set", 15, LONG).await;
    let s = fifteen.status().await.unwrap();
    assert_eq!((s.capacity, s.available), (10, 10), "exists: keeps 10");
    delete_keys(&server, "set");
    assert_eq!(fifteen.capacity().await.unwrap(), 15, "recreated from 15");
    assert_eq!(ten.capacity().await.unwrap(), 15, "it exists again");
}

flavours!(zero_permits);
/// Ports `RedissonSemaphoreTest::testZero`: zero permits are granted at once, even when
/// every permit is held and others wait, and releasing them changes nothing.
async fn zero_permits() {
    let server = server();
    let (a, b) = (
        open(&server.url(), "zero", 1, LONG).await,
        open(&server.url(), "zero", 1, LONG).await,
    );
    let held = a.acquire(1).await.unwrap();
    let queued = tokio::spawn({
        let b = b.clone();
        async move { b.acquire(1).await }
    });
    eventually_async("b queues", || async { waiters(&a).await == 1 }).await;
    let z = b.acquire_timeout(0, SLACK).await.unwrap();
    assert_eq!(z.count(), 0);
    z.release().await.unwrap();
    let z = b.try_acquire(0).await.unwrap();
    drop(z);
    let s = a.status().await.unwrap();
    assert_eq!((s.available, s.held, s.waiters), (0, 1, 1));
    held.release().await.unwrap();
    queued.await.unwrap().unwrap().release().await.unwrap();
    assert_eq!(available(&a).await, 1);
}

/// Ports `RedissonSemaphoreTest::testAcquireAfterAddPermits`. Difference: Redisson
/// blocks an `acquire(2)` on a semaphore of 1 until permits are added; corral's
/// contract is that a request above the capacity fails at once with `TooLarge` naming
/// both numbers (it could otherwise wait forever), so the request is made again after
/// the capacity grows, and then waits for the holder like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquire_after_add_permits() {
    let server = server();
    let (a, b) = (
        open(&server.url(), "add-then", 1, LONG).await,
        open(&server.url(), "add-then", 1, LONG).await,
    );
    match b.acquire(2).await {
        Err(AcquireError::Semaphore(semaphore::AcquireError::TooLarge {
            requested: 2,
            capacity: 1,
        })) => {}
        other => panic!("{other:?}"),
    }
    let held = a.acquire(1).await.unwrap();
    a.set_capacity(2).await.unwrap();
    let two = tokio::spawn({
        let b = b.clone();
        async move { b.acquire(2).await }
    });
    eventually_async("the request for 2 queues", || async {
        waiters(&a).await == 1
    })
    .await;
    assert!(!two.is_finished(), "1 of 2 is held: it must wait");
    held.release().await.unwrap();
    let two = tokio::time::timeout(SLACK, two)
        .await
        .expect("granted after the release")
        .unwrap()
        .unwrap();
    assert_eq!(two.count(), 2);
}

/// Ports `RedissonSemaphoreTest::testAddPermits` and
/// `RedissonPermitExpirableSemaphoreTest::testAddPermits`: growing the capacity while
/// every permit is held makes the new ones available at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_permits() {
    let server = server();
    let s = open(&server.url(), "add", 10, LONG).await;
    let all = s.acquire(10).await.unwrap();
    assert_eq!(available(&s).await, 0);
    s.set_capacity(14).await.unwrap();
    assert_eq!(available(&s).await, 4);
    all.release().await.unwrap();
    assert_eq!(available(&s).await, 14);
    let five = s.acquire(5).await.unwrap();
    assert_eq!(available(&s).await, 9);
    drop(five);
}

/// Ports `RedissonSemaphoreTest::testReducePermits` and the negative half of
/// `RedissonPermitExpirableSemaphoreTest::testAddPermits`/`testSetPermits`. Difference:
/// Redisson reports a negative `availablePermits()` after shrinking below what is
/// held; corral's `available` is never negative (it is 0) and the overdraft shows as
/// `held > capacity`; shrinking is lazy, absorbed as holders release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reduce_permits() {
    let server = server();
    let s = open(&server.url(), "reduce", 10, LONG).await;
    let all = s.acquire(10).await.unwrap();
    s.set_capacity(5).await.unwrap();
    let st = s.status().await.unwrap();
    assert_eq!((st.capacity, st.available, st.held), (5, 0, 10));
    assert!(matches!(
        s.try_acquire(1).await,
        Err(TryAcquireError::Semaphore(
            semaphore::TryAcquireError::NoPermits { available: 0, .. }
        ))
    ));
    all.release().await.unwrap();
    assert_eq!(available(&s).await, 5);
    let five = s.acquire(5).await.unwrap();
    assert_eq!(available(&s).await, 0);
    five.release().await.unwrap();
}

/// Ports `RedissonPermitExpirableSemaphoreTest::testSetPermits`: `setPermits` up, to
/// the same value, down to what is held and below it, with `getPermits`,
/// `availablePermits` and `acquiredPermits` (capacity, available, held) after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_permits() {
    let server = server();
    let s = open(&server.url(), "setp", 10, LONG).await;
    let counts = |s: corral_fleet::Status| (s.capacity, s.available, s.held);
    assert_eq!(counts(s.status().await.unwrap()), (10, 10, 0));
    for (to, want) in [(15, (15, 15, 0)), (15, (15, 15, 0)), (5, (5, 5, 0))] {
        s.set_capacity(to).await.unwrap();
        assert_eq!(counts(s.status().await.unwrap()), want);
    }
    let held = [
        s.try_acquire(1).await.unwrap(),
        s.try_acquire(1).await.unwrap(),
        s.try_acquire(1).await.unwrap(),
    ];
    assert_eq!(counts(s.status().await.unwrap()), (5, 2, 3));
    s.set_capacity(3).await.unwrap();
    assert_eq!(counts(s.status().await.unwrap()), (3, 0, 3));
    // Redisson: available -1. corral: 0, and held above capacity shows the overdraft.
    s.set_capacity(2).await.unwrap();
    assert_eq!(counts(s.status().await.unwrap()), (2, 0, 3));
    for p in held {
        p.release().await.unwrap();
    }
    assert_eq!(counts(s.status().await.unwrap()), (2, 2, 0));
}

flavours!(blocking_acquire_woken_by_release);
/// Ports `RedissonSemaphoreTest::testBlockingAcquire` and
/// `RedissonPermitExpirableSemaphoreTest::testBlockingAcquire`: an acquire blocked on a
/// semaphore of 1 is woken by another client's release; afterwards a try fails and
/// nothing is available. The lease is a minute (heartbeat 20 s), so the grant within
/// the slack comes from the notification.
async fn blocking_acquire_woken_by_release() {
    let server = server();
    let (a, b) = (
        open(&server.url(), "block", 1, LONG).await,
        open(&server.url(), "block", 1, LONG).await,
    );
    let held = b.acquire(1).await.unwrap();
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        held.release().await.unwrap();
    });
    assert_eq!(available(&a).await, 0);
    let got = tokio::time::timeout(SLACK, a.acquire(1))
        .await
        .expect("woken by the release")
        .unwrap();
    releaser.await.unwrap();
    assert!(matches!(
        a.try_acquire(1).await,
        Err(TryAcquireError::Semaphore(
            semaphore::TryAcquireError::NoPermits { .. }
        ))
    ));
    assert_eq!(available(&a).await, 0);
    got.release().await.unwrap();
}

flavours!(blocking_n_acquire_waits_for_enough);
/// Ports `RedissonSemaphoreTest::testBlockingNAcquire` (and `testBlockingAcquireMany`):
/// an acquire of 4 with 2 free waits while another client releases one permit (3
/// free: still not enough, it stays queued) and is granted on the second.
async fn blocking_n_acquire_waits_for_enough() {
    let server = server();
    let (a, b) = (
        open(&server.url(), "block-n", 5, LONG).await,
        open(&server.url(), "block-n", 5, LONG).await,
    );
    // Redisson's thread releases single permits: hold three separate ones.
    let mut held = vec![
        b.acquire(1).await.unwrap(),
        b.acquire(1).await.unwrap(),
        b.acquire(1).await.unwrap(),
    ];
    assert_eq!(available(&a).await, 2);
    let four = tokio::spawn({
        let a = a.clone();
        async move { a.acquire(4).await }
    });
    eventually_async("the acquire of 4 queues", || async {
        waiters(&b).await == 1
    })
    .await;
    held.pop().unwrap().release().await.unwrap();
    let s = b.status().await.unwrap();
    assert_eq!((s.available, s.waiters), (3, 1), "3 free is not 4");
    assert!(!four.is_finished());
    held.pop().unwrap().release().await.unwrap();
    let four = tokio::time::timeout(SLACK, four)
        .await
        .expect("granted once 4 are free")
        .unwrap()
        .unwrap();
    assert_eq!(four.count(), 4);
    assert_eq!(available(&a).await, 0);
}

flavours!(try_n_acquire);
/// Ports `RedissonSemaphoreTest::testTryNAcquire` and
/// `RedissonPermitExpirableSemaphoreTest::testTryAcquire`/`testTryAcquireMany`: a try
/// without wait fails when too few are free (saying how many are), a try with a wait
/// (`acquire_timeout`) succeeds once another client released enough.
async fn try_n_acquire() {
    let server = server();
    let (a, b) = (
        open(&server.url(), "try-n", 5, LONG).await,
        open(&server.url(), "try-n", 5, LONG).await,
    );
    let three = a.try_acquire(3).await.unwrap();
    match a.try_acquire(4).await {
        Err(TryAcquireError::Semaphore(semaphore::TryAcquireError::NoPermits {
            requested: 4,
            available: 2,
        })) => {}
        other => panic!("{other:?}"),
    }
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        three.release().await.unwrap();
    });
    let four = b.acquire_timeout(4, SLACK).await.unwrap();
    releaser.await.unwrap();
    assert_eq!(four.count(), 4);
    assert_eq!(available(&a).await, 1);
    // testTryAcquireMany: two tries of 4 and... of 1 take what is left.
    let one = a.try_acquire(1).await.unwrap();
    assert_eq!(available(&a).await, 0);
    drop((four, one));
}

/// Ports `RedissonSemaphoreTest::testReleaseWithoutPermits`, `testAcquireWithoutSetPermits`,
/// `testReleaseIfExists` and `RedissonPermitExpirableSemaphoreTest::testReleaseWithoutPermits`,
/// `testRelease`/`testReleaseManyNotExistOrExpired` (releasing ids twice or unknown
/// ids). Difference: in corral a release needs the `FleetPermit` and consumes it, so
/// releasing nothing or twice does not compile. What remains is a permit the server no
/// longer holds (its semaphore's keys were deleted): `release` answers `LeaseLost`
/// (Redisson: `false`/an exception) and never adds a permit (Redisson's `RSemaphore`
/// would raise `availablePermits` above what was set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_of_a_permit_the_server_does_not_hold() {
    let server = server();
    let s = open(&server.url(), "release-none", 2, LONG).await;
    let p = s.acquire(2).await.unwrap();
    let q = s.acquire(0).await.unwrap();
    delete_keys(&server, "release-none");
    assert!(matches!(p.release().await, Err(ReleaseError::LeaseLost)));
    assert_eq!(
        available(&s).await,
        2,
        "recreated; the release added nothing"
    );
    // A zero-permit grant the server lost also reports it.
    assert!(matches!(q.release().await, Err(ReleaseError::LeaseLost)));
    // Releases in batches (testRelease): each goes back exactly once.
    let held: Vec<FleetPermit> = futures_join(&s, 2).await;
    assert_eq!(available(&s).await, 0);
    for p in held {
        p.release().await.unwrap();
    }
    let st = s.status().await.unwrap();
    assert_eq!((st.available, st.held), (2, 0));
}

async fn futures_join(s: &FleetSemaphore, n: u64) -> Vec<FleetPermit> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(s.acquire(1).await.unwrap());
    }
    out
}

/// Ports `RedissonSemaphoreTest::testDrainPermits`. Difference: corral has no
/// `drainPermits` (a drained count that no one holds would not come back by itself);
/// the equivalent takes every free permit as one permit, which the caller then holds:
/// on an empty semaphore that is a grant of 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_permits() {
    let server = server();
    let s = open(&server.url(), "drain", 10, LONG).await;
    let three = s.acquire(3).await.unwrap();
    let drained = s.try_acquire(available(&s).await).await.unwrap();
    assert_eq!(drained.count(), 7);
    assert_eq!(available(&s).await, 0);
    let none = s.try_acquire(available(&s).await).await.unwrap();
    assert_eq!(none.count(), 0);
    drop((three, drained, none));
}

/// Ports `RedissonSemaphoreTest::testReleaseAcquire` and
/// `RedissonPermitExpirableSemaphoreTest::testAcquireAsyncMany`/`testReleaseAsyncMany`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_acquire() {
    let server = server();
    let s = open(&server.url(), "rel-acq", 10, LONG).await;
    let one = s.acquire(1).await.unwrap();
    assert_eq!(available(&s).await, 9);
    one.release().await.unwrap();
    assert_eq!(available(&s).await, 10);
    let five = s.acquire(5).await.unwrap();
    assert_eq!(available(&s).await, 5);
    five.release().await.unwrap();
    assert_eq!(available(&s).await, 10);
}

/// Holders add their weight to `inuse` while they hold and check it never passes
/// `capacity` (the holders' side of the bound; the lease is long enough that no holder
/// outlives it).
async fn hold_checked(p: &FleetPermit, inuse: &AtomicU64, capacity: u64, work: Duration) {
    let now = inuse.fetch_add(p.count(), SeqCst) + p.count();
    assert!(now <= capacity, "{now} permits in use of {capacity}");
    if work.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(work).await;
    }
    inuse.fetch_sub(p.count(), SeqCst);
}

flavours!(concurrency_single_instance);
/// Ports `RedissonSemaphoreTest::testConcurrency_SingleInstance` and
/// `RedissonPermitExpirableSemaphoreTest::testConcurrency_SingleInstance`: many tasks
/// on one client, a semaphore of 1, a non-atomic counter (read, yield, write) that
/// would lose updates if two ever held at once.
async fn concurrency_single_instance() {
    let server = server();
    let s = open(&server.url(), "single", 1, Duration::from_secs(5)).await;
    let counter = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (s, counter) = (s.clone(), Arc::clone(&counter));
            tokio::spawn(async move {
                let p = s.acquire(1).await.unwrap();
                let v = counter.load(SeqCst);
                tokio::task::yield_now().await;
                counter.store(v + 1, SeqCst);
                p.release().await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(counter.load(SeqCst), 40);
    assert_eq!(available(&s).await, 1);
}

/// Ports `RedissonSemaphoreTest::testConcurrencyLoop_MultiInstance`,
/// `testConcurrency_MultiInstance_1_permits` and
/// `RedissonPermitExpirableSemaphoreTest::testConcurrencyLoop_MultiInstance`: several
/// clients (own connections, as Redisson's instances) loop acquiring 1 or 2 of a
/// semaphore of 2 on a multi-thread runtime, seeded hold times; no more than 2 are
/// ever held, every loop finishes, and everything is back at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_loop_multi_instance() {
    let server = server();
    let seed = support::seed(0xf1ee7);
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(open(&server.url(), "multi", 2, Duration::from_secs(5)).await);
    }
    let inuse = Arc::new(AtomicU64::new(0));
    let grants = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (c, sem) in clients.iter().enumerate() {
        for t in 0..2u64 {
            let (sem, inuse, grants) = (sem.clone(), Arc::clone(&inuse), Arc::clone(&grants));
            let mut rng = Rng(seed ^ ((c as u64 * 2 + t + 1) << 32));
            tasks.push(tokio::spawn(async move {
                for _ in 0..15 {
                    let n = 1 + rng.below(2);
                    let p = sem.acquire(n).await.unwrap();
                    hold_checked(&p, &inuse, 2, Duration::from_micros(rng.below(2000))).await;
                    grants.fetch_add(1, SeqCst);
                    p.release().await.unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(grants.load(SeqCst), 6 * 2 * 15, "seed {seed}");
    let s = clients[0].status().await.unwrap();
    assert_eq!((s.available, s.held, s.waiters), (2, 0, 0), "seed {seed}");
}

/// Ports `RedissonSemaphoreTest::testConcurrencyLoopMax_MultiInstance`: the capacity is
/// the largest the semaphore takes and clients ask at random for 1 or all of it. A
/// grant of all while 1 is held would exceed the capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_loop_max_multi_instance() {
    let server = server();
    let max = FleetSemaphore::MAX_PERMITS;
    let seed = support::seed(0xf1ee7);
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(open(&server.url(), "max", max, Duration::from_secs(5)).await);
    }
    assert_eq!(clients[0].capacity().await.unwrap(), max);
    // Beyond it: refused when built (on both backends), and too large to request.
    for url in [server.url(), "memory://".to_owned()] {
        assert!(matches!(
            FleetSemaphore::builder(url, "max")
                .capacity(max + 1)
                .build()
                .await,
            Err(corral_fleet::BuildError::InvalidConfig(_))
        ));
    }
    match clients[1].acquire(u64::MAX).await {
        Err(AcquireError::Semaphore(semaphore::AcquireError::TooLarge {
            requested: u64::MAX,
            capacity,
        })) => assert_eq!(capacity, max),
        other => panic!("{other:?}"),
    }
    // The deterministic half: all of it is not free while 1 is held.
    let one = clients[0].acquire(1).await.unwrap();
    assert_eq!(available(&clients[1]).await, max - 1);
    match clients[1].try_acquire(max).await {
        Err(TryAcquireError::Semaphore(semaphore::TryAcquireError::NoPermits {
            available,
            ..
        })) => assert_eq!(available, max - 1),
        other => panic!("granted {max} while 1 of {max} is held: {other:?}"),
    }
    one.release().await.unwrap();
    let inuse = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(c, sem)| {
            let (sem, inuse) = (sem.clone(), Arc::clone(&inuse));
            let mut rng = Rng(seed ^ ((c as u64 + 1) << 40));
            tokio::spawn(async move {
                for _ in 0..10 {
                    let n = if rng.below(2) == 0 { 1 } else { max };
                    let p = sem.acquire(n).await.unwrap();
                    hold_checked(&p, &inuse, max, Duration::from_millis(1)).await;
                    p.release().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let s = clients[0].status().await.unwrap();
    assert_eq!(
        (s.capacity, s.available, s.held),
        (max, max, 0),
        "seed {seed}"
    );
}

/// Ports `RedissonPermitExpirableSemaphoreTest::testConcurrencyMultiPermits` and
/// `testConcurrencyMultiPermits2`: two clients each try, with a wait, for 1 or 2 of a
/// semaphore of 2 while the other holds; both succeed in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_multi_permits() {
    let server = server();
    for (first, second) in [(2, 2), (1, 2)] {
        let name = format!("mp-{first}-{second}");
        let (a, b) = (
            open(&server.url(), &name, 2, LONG).await,
            open(&server.url(), &name, 2, LONG).await,
        );
        let successes = Arc::new(AtomicU64::new(0));
        let run = |sem: FleetSemaphore, n: u64| {
            let successes = Arc::clone(&successes);
            tokio::spawn(async move {
                let p = sem.acquire_timeout(n, SLACK).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                successes.fetch_add(1, SeqCst);
                p.release().await.unwrap();
            })
        };
        let t1 = run(a, first);
        let t2 = run(b, second);
        t1.await.unwrap();
        t2.await.unwrap();
        assert_eq!(successes.load(SeqCst), 2);
    }
}

// ---------------------------------------------------------------------------------
// RedissonPermitExpirableSemaphoreTest: leases running out
// ---------------------------------------------------------------------------------

/// Acquires `n` on its own runtime, which is then shut down with the permit held: no
/// renewal and no release ever runs, as when the holder's process died. Returns the
/// fencing token.
fn vanished_holder(url: String, name: &'static str, capacity: u64, lease: Duration, n: u64) -> u64 {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let fence = rt.block_on(async move {
            let sem = open(&url, name, capacity, lease).await;
            let p = sem
                .try_acquire(n)
                .await
                .expect("the vanishing holder's grant");
            let fence = p.fencing_token();
            std::mem::forget(p);
            fence
        });
        rt.shutdown_background();
        fence
    })
    .join()
    .unwrap()
}

flavours!(expired_permits_come_back);
/// Ports `RedissonPermitExpirableSemaphoreTest::testAvailablePermits`,
/// `testAcquiredPermits`, `testGetPermits`, `testExpire`, `testExpireTryAcquire` and
/// `testReleaseManyExpiredDoesNotThrow`: permits taken with a lease by holders that
/// then vanish count as held (a third try fails) until their leases run out; an
/// acquire queued meanwhile is granted when they do; the capacity never changes.
async fn expired_permits_come_back() {
    let server = server();
    let lease = Duration::from_millis(600);
    let url = server.url();
    let fences = tokio::task::spawn_blocking(move || {
        [
            vanished_holder(url.clone(), "expire", 2, lease, 1),
            vanished_holder(url, "expire", 2, lease, 1),
        ]
    })
    .await
    .unwrap();
    let s = open(&server.url(), "expire", 2, lease).await;
    // Either lease may already have run out under load: only check what must hold.
    match s.try_acquire(2).await {
        Err(TryAcquireError::Semaphore(semaphore::TryAcquireError::NoPermits { .. })) => {
            let st = s.status().await.unwrap();
            assert_eq!(st.capacity, 2);
            assert_eq!(st.held + st.available, 2);
            let got = s.acquire_timeout(2, lease + SLACK).await;
            let got = got.expect("the queued acquire is granted when the leases run out");
            assert!(got.fencing_token() > fences[0].max(fences[1]));
            got.release().await.unwrap();
        }
        Ok(p) => p.release().await.unwrap(),
        Err(e) => panic!("{e:?}"),
    }
    let st = s.status().await.unwrap();
    assert_eq!((st.capacity, st.available, st.held), (2, 2, 0));
}

flavours!(paused_holder_loses_its_lease);
/// Ports `RedissonPermitExpirableSemaphoreTest::testReleaseExpired`,
/// `testTryReleaseManyExpired`, the expiry half of `testUpdateLeaseTime` and the
/// `tryRelease(expired) == false` of `testExpire`: a holder stops running (its
/// runtime's only thread blocks, like a GC pause) past its lease; another client is
/// granted the permit, with a larger fencing token; when the holder runs again its
/// lease-lost token fires and its release answers `LeaseLost` without adding a permit.
/// Difference: Redisson's `updateLeaseTime` is the permit's own renewal task here, so
/// only a holder that does not run loses its lease.
async fn paused_holder_loses_its_lease() {
    let server = server();
    let lease = Duration::from_millis(400);
    let url = server.url();
    let (fence_tx, fence_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let sem = open(&url, "paused", 1, lease).await;
            let p = sem.acquire(1).await.unwrap();
            fence_tx.send(p.fencing_token()).unwrap();
            // The pause: nothing on this runtime runs, so nothing renews.
            go_rx.recv().unwrap();
            tokio::time::timeout(SLACK, p.lease_lost().cancelled())
                .await
                .expect("the token fires when the holder runs again");
            p.release().await
        })
    });
    let old = tokio::task::spawn_blocking(move || fence_rx.recv().unwrap())
        .await
        .unwrap();
    let other = open(&server.url(), "paused", 1, lease).await;
    let p = other
        .acquire_timeout(1, lease + SLACK)
        .await
        .expect("granted once the paused holder's lease ran out");
    assert!(p.fencing_token() > old);
    go_tx.send(()).unwrap();
    let released = tokio::task::spawn_blocking(move || holder.join().unwrap())
        .await
        .unwrap();
    assert!(
        matches!(released, Err(ReleaseError::LeaseLost)),
        "{released:?}"
    );
    assert!(!p.is_lost());
    let st = other.status().await.unwrap();
    assert_eq!(
        (st.available, st.held),
        (0, 1),
        "the stale release added nothing"
    );
    p.release().await.unwrap();
    assert_eq!(available(&other).await, 1);
}
