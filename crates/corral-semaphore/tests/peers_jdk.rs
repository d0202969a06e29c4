//! The JDK's own `java.util.concurrent.Semaphore` tests, ported to corral's API: the
//! JSR-166 TCK (`test/jdk/java/util/concurrent/tck/SemaphoreTest.java`) and the jtreg
//! regression tests in `test/jdk/java/util/concurrent/Semaphore/` (`RacingReleases.java`,
//! `PermitOverflow.java`).
//!
//! How Java's operations map to corral's:
//!
//! - `release(n)` of permits nobody acquired (Java's count is a bare number) has no
//!   counterpart: corral's permits are RAII guards. Where the TCK releases "new"
//!   permits, the port grows the capacity with `set_capacity`, or drops permits a
//!   holder took at the start. Java's acquirer that keeps its permits for good is
//!   `Permit::forget` (which also lowers the capacity, so the books still balance).
//! - `reducePermits(n)` is `set_capacity(capacity - n)`: below the held permits it
//!   leaves a debt that releases pay off, corral's form of Java's negative count.
//! - A Java thread interrupted in `acquire` is an acquire future dropped (its task
//!   aborted); `hasQueuedThreads` / `getQueueLength` are `waiters()`.
//! - Corral is always fair (strict FIFO, no barging): there is no non-fair mode to
//!   test, and its untimed `try_acquire` does not barge where Java's does.
//!
//! Each test names the peer test it ports. Async ones run on both runtime flavours
//! (`rt_test!`); races run in seeded rounds. Where corral differs from the JDK on
//! purpose, the test asserts corral's documented behaviour and says so.
#![cfg(feature = "tokio")]

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use corral_semaphore::{
    AcquireError, AcquireTimeoutError, OwnedPermit, Permit, PollSemaphore, Semaphore,
    TryAcquireError,
};
use corral_test_support::{eventually, Rng, GIVE_UP};
use tokio_test::task::spawn;
use tokio_test::{assert_pending, assert_ready_ok};

/// One test body, run on a current-thread runtime and on a two-worker multi-thread
/// runtime: `name::current_thread`, `name::multi_thread`.
macro_rules! rt_test {
    ($(#[doc = $doc:literal])* async fn $name:ident() $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "current_thread")]
            async fn current_thread() $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn multi_thread() $body
        }
    };
}

/// Bounds a wait that only a hang would exceed, so a stranded waiter fails with a
/// message instead of hanging the suite. Not a timing assertion.
async fn no_hang<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(GIVE_UP, fut).await {
        Ok(out) => out,
        Err(_) => panic!("hung: {what}"),
    }
}

/// A timeout long enough never to fire in a passing run (the TCK's `2 * LONG_DELAY_MS`).
const LONG: Duration = Duration::from_secs(3_600);

/// The TCK's `AcquireMethod`: every way corral offers to wait for permits. (Java's
/// `acquireUninterruptibly` has no counterpart: an acquire future is cancelled only by
/// dropping it; see `jdk_tck_uninterruptible`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// `acquire(n)`, a borrowed permit.
    Acquire,
    /// `acquire(1)` `n` times, merged (the TCK's default `acquire(s, n)` loop).
    OneByOne,
    /// `acquire_owned(n)`.
    Owned,
    /// `acquire_timeout(n, LONG)` (Java `tryAcquire(n, timeout, unit)`).
    Timeout,
    /// `acquire_owned_timeout(n, LONG)`.
    OwnedTimeout,
    /// `PollSemaphore::poll_acquire(cx, n)` until ready.
    Poll,
}

const METHODS: [Method; 6] = [
    Method::Acquire,
    Method::OneByOne,
    Method::Owned,
    Method::Timeout,
    Method::OwnedTimeout,
    Method::Poll,
];

/// Permits got through any [`Method`].
#[derive(Debug)]
enum Held<'a> {
    Borrowed(Permit<'a>),
    Owned(OwnedPermit),
}

impl Held<'_> {
    fn count(&self) -> u64 {
        match self {
            Held::Borrowed(p) => p.count(),
            Held::Owned(p) => p.count(),
        }
    }

    /// Java's acquirer that never releases: the permits leave the semaphore for good.
    fn forget(self) {
        match self {
            Held::Borrowed(p) => p.forget(),
            Held::Owned(p) => p.forget(),
        }
    }
}

/// Waits for `n` permits of `sem` with `method`; the acquire must succeed.
async fn acquire_with(sem: &Arc<Semaphore>, n: u64, method: Method) -> Held<'_> {
    let what = format!("{method:?}({n})");
    match method {
        Method::Acquire => Held::Borrowed(sem.acquire(n).await.expect(&what)),
        Method::OneByOne => {
            let mut all = sem.acquire(0).await.expect(&what);
            for _ in 0..n {
                all.merge(sem.acquire(1).await.expect(&what));
            }
            Held::Borrowed(all)
        }
        Method::Owned => Held::Owned(sem.acquire_owned(n).await.expect(&what)),
        Method::Timeout => Held::Borrowed(sem.acquire_timeout(n, LONG).await.expect(&what)),
        Method::OwnedTimeout => Held::Owned(sem.acquire_owned_timeout(n, LONG).await.expect(&what)),
        Method::Poll => {
            let mut poll = PollSemaphore::new(Arc::clone(sem));
            Held::Owned(poll_fn(|cx| poll.poll_acquire(cx, n)).await.expect(&what))
        }
    }
}

/// `(capacity, available, waiters)`, to compare in one assertion.
fn books(sem: &Semaphore) -> (u64, u64, usize) {
    (sem.capacity(), sem.available(), sem.waiters())
}

// ---------------------------------------------------------------------------------
// JSR-166 TCK: test/jdk/java/util/concurrent/tck/SemaphoreTest.java
// ---------------------------------------------------------------------------------

/// TCK `testConstructor`, `testConstructor_fair` and `testConstructorDefaultsToNonFair`:
/// the initial permits are all available. Deliberate differences: a negative initial
/// count cannot be written (`u64`; corral's "in the red" state is shrink debt, see
/// `jdk_tck_reduce_permits`), and there is no fairness flag: corral is always FIFO.
#[test]
fn jdk_tck_constructor() {
    for permits in [0, 1, 42, Semaphore::MAX_PERMITS] {
        let sem = Semaphore::new(permits);
        assert_eq!(books(&sem), (permits, permits, 0));
        assert!(!sem.is_closed());
    }
}

/// TCK `testTryAcquireInSameThread` and `testTryAcquireNInSameThread` (and `_fair`):
/// `try_acquire` succeeds while enough permits are free, and fails without taking any
/// otherwise. Difference: a request above the capacity (Java's `tryAcquire(3)` on 2
/// permits, which returns `false`) is refused as `TooLarge`, naming both numbers.
#[test]
fn jdk_tck_try_acquire_in_same_thread() {
    let sem = Semaphore::new(2);
    assert_eq!(sem.available(), 2);
    let a = sem.try_acquire(1).unwrap();
    let b = sem.try_acquire(1).unwrap();
    assert_eq!(sem.available(), 0);
    for _ in 0..2 {
        assert_eq!(
            sem.try_acquire(1).unwrap_err(),
            TryAcquireError::NoPermits {
                requested: 1,
                available: 0
            }
        );
    }
    assert_eq!(sem.available(), 0);
    drop((a, b));

    // The N variant.
    assert_eq!(
        sem.try_acquire(3).unwrap_err(),
        TryAcquireError::TooLarge {
            requested: 3,
            capacity: 2
        }
    );
    assert_eq!(sem.available(), 2);
    let both = sem.try_acquire(2).unwrap();
    assert_eq!(sem.available(), 0);
    assert!(sem.try_acquire(1).is_err());
    assert!(sem.try_acquire(2).is_err());
    assert_eq!(sem.available(), 0);
    drop(both);
    assert_eq!(sem.available(), 2);
}

/// TCK `testTryAcquire_timeout` and `testTryAcquireN_timeout`: a timed acquire that
/// cannot be served fails once its timeout has passed (on tokio's paused clock, so the
/// elapsed time is exact), leaves the queue and takes nothing. Differences: Java waits
/// on a semaphore of 0 permits, and for 3 of 2; in corral both requests exceed the
/// capacity and fail at once with `TooLarge`, so here the permits exist but are held.
#[tokio::test(start_paused = true)]
async fn jdk_tck_try_acquire_timeout() {
    let timeout = Duration::from_millis(50);
    let sem = Semaphore::new(3);
    let held = sem.try_acquire(3).unwrap();

    let start = tokio::time::Instant::now();
    let err = sem.acquire_timeout(1, timeout).await.unwrap_err();
    assert_eq!(
        err,
        AcquireTimeoutError::Timeout {
            requested: 1,
            timeout
        }
    );
    assert!(start.elapsed() >= timeout);
    assert_eq!(books(&sem), (3, 0, 0));

    // N: 3 wanted, only 2 ever free while one is held.
    let mut held = held;
    drop(held.split(2).unwrap());
    let start = tokio::time::Instant::now();
    let err = sem.acquire_timeout(3, timeout).await.unwrap_err();
    assert_eq!(
        err,
        AcquireTimeoutError::Timeout {
            requested: 3,
            timeout
        }
    );
    assert!(start.elapsed() >= timeout);
    assert_eq!(books(&sem), (3, 2, 0));

    // The JDK's requests as written: nothing to wait for, refused at once.
    let zero = Semaphore::new(0);
    assert_eq!(
        zero.acquire_timeout(1, timeout).await.unwrap_err(),
        AcquireTimeoutError::TooLarge {
            requested: 1,
            capacity: 0
        }
    );
    drop(held);
    assert_eq!(sem.available(), 3);
}

rt_test! {
    /// TCK `testInterruptible_*` (`acquire`, `acquireN`, `tryAcquireTimed`,
    /// `tryAcquireTimedN`, fair or not): an acquire interrupted before it starts, or
    /// while it waits, gives up and leaves the semaphore as it was. Corral's
    /// interruption is cancellation: a future dropped before its first poll, or a
    /// queued acquire whose task is aborted. The `N` case waits for 3 with 2 of them
    /// free: the 2 are free again once it is aborted (the single-permit loop, which
    /// takes 2 and waits for the third, returns them; Java's would keep them), and
    /// nobody is left queued. Every acquire method, 1 and 3 permits.
    async fn jdk_tck_interruptible() {
        for method in METHODS {
            for n in [1, 3] {
                let sem = Arc::new(Semaphore::new(3));
                let held = sem.try_acquire_owned(1).unwrap();
                let free = 2;

                // Interrupted before acquiring: created, never polled, dropped.
                match method {
                    Method::Poll => drop(PollSemaphore::new(sem.clone())),
                    Method::Owned => drop(sem.acquire_owned(n)),
                    Method::OwnedTimeout => drop(sem.acquire_owned_timeout(n, LONG)),
                    Method::Timeout => drop(sem.acquire_timeout(n, LONG)),
                    Method::Acquire | Method::OneByOne => drop(sem.acquire(n)),
                }
                assert_eq!(books(&sem), (3, free, 0), "{method:?}({n}) before");

                // Interrupted while waiting. A blocker first takes the 2 free permits,
                // so a request for 1 waits too.
                let blocker = sem.try_acquire_owned(free).unwrap();
                let task = tokio::spawn({
                    let sem = sem.clone();
                    async move {
                        let _never = acquire_with(&sem, n, method).await;
                        unreachable!("{method:?}({n}) granted while every permit is held");
                    }
                });
                eventually("the acquire queues", || sem.waiters() == 1).await;
                if n == 1 {
                    // A waiter for 1 would be granted once the blocker is gone:
                    // interrupt it first.
                    task.abort();
                    assert!(no_hang("abort", task).await.unwrap_err().is_cancelled());
                    drop(blocker);
                } else {
                    drop(blocker); // `free` permits back: still not enough for 3
                    if method != Method::OneByOne {
                        assert_eq!(books(&sem), (3, free, 1), "{method:?}({n}) queued");
                    } else {
                        // Java's loop of single acquires: 2 taken, the third waits.
                        eventually("2 of 3 taken", || books(&sem) == (3, 0, 1)).await;
                    }
                    task.abort();
                    assert!(no_hang("abort", task).await.unwrap_err().is_cancelled());
                }
                assert_eq!(books(&sem), (3, free, 0), "{method:?}({n}) during");
                // Not stranded: the free permits can be taken, all of them once the
                // holder is gone.
                drop(sem.try_acquire(free).unwrap());
                drop(held);
                assert_eq!(sem.try_acquire(3).unwrap().count(), 3);
            }
        }
    }
}

/// TCK `testUninterruptible_acquireUninterruptibly` (and `N`, `_fair`): a waiter that
/// is disturbed while queued keeps waiting and is granted once permits come back. The
/// disturbance corral's waiters can see is a spurious wake: being polled again (as a
/// `select!` or a join polls every branch) before any permit came back. Re-polls must
/// not lose the waiter its place: two queued waiters, the first for 2, the second for
/// 1, re-polled many times; released one at a time, the permits go to the first
/// before the second gets any.
#[test]
fn jdk_tck_uninterruptible() {
    for method in [Method::Acquire, Method::Owned, Method::Poll] {
        let sem = Arc::new(Semaphore::new(3));
        let mut held = sem.try_acquire(3).unwrap();
        let mut first = spawn(acquire_with(&sem, 2, method));
        let mut second = spawn(acquire_with(&sem, 1, method));
        for _ in 0..3 {
            assert_pending!(first.poll());
            assert_pending!(second.poll());
            assert_eq!(sem.waiters(), 2);
        }
        drop(held.split(1).unwrap());
        for _ in 0..3 {
            assert_pending!(second.poll());
            assert_pending!(first.poll());
        }
        assert!(!first.is_woken() && !second.is_woken(), "{method:?}");
        drop(held.split(1).unwrap());
        assert!(first.is_woken(), "{method:?}");
        assert_pending!(second.poll());
        let first = match first.poll() {
            std::task::Poll::Ready(held) => held,
            std::task::Poll::Pending => panic!("{method:?}: the first waiter not granted"),
        };
        assert_eq!(first.count(), 2);
        drop(held);
        assert!(second.is_woken());
        let std::task::Poll::Ready(second) = second.poll() else {
            panic!("{method:?}: the second waiter not granted");
        };
        assert_eq!(books(&sem), (3, 0, 0));
        drop((first, second));
        assert_eq!(books(&sem), (3, 3, 0));
    }
}

rt_test! {
    /// TCK `testHasQueuedThreads`, `testGetQueueLength` and `testGetQueuedThreads`
    /// (fair or not): one permit held; two tasks queue for it (`waiters()` counts 1,
    /// then 2); the first is interrupted (aborted) and leaves the queue (1); the
    /// permit is released, the second gets it and the queue is empty (0).
    async fn jdk_tck_has_queued_threads_and_get_queue_length() {
        let sem = Arc::new(Semaphore::new(1));
        assert_eq!(sem.waiters(), 0);
        let held = sem.clone().acquire_owned(1).await.unwrap();
        let t1 = tokio::spawn({
            let sem = sem.clone();
            async move { sem.acquire(1).await.map(drop) }
        });
        eventually("t1 queues", || sem.waiters() == 1).await;
        let t2 = tokio::spawn({
            let sem = sem.clone();
            async move { sem.acquire(1).await.map(drop) }
        });
        eventually("t2 queues", || sem.waiters() == 2).await;
        t1.abort();
        assert!(no_hang("t1", t1).await.unwrap_err().is_cancelled());
        assert_eq!(sem.waiters(), 1);
        drop(held);
        no_hang("t2", t2).await.unwrap().unwrap();
        assert_eq!(books(&sem), (1, 1, 0));
    }
}

/// TCK `testDrainPermits` (and `_fair`): draining takes every free permit and reports
/// how many. Corral has no `drainPermits`; the equivalent is `try_acquire(available())`,
/// atomic when nobody else is acquiring (with others racing it may find fewer free
/// and fail, where Java's drain takes whatever is there). Java's `release(10)` on a
/// semaphore of 0 is growing the capacity by 10.
#[test]
fn jdk_tck_drain_permits() {
    let sem = Semaphore::new(0);
    assert_eq!(sem.available(), 0);
    let drained = sem.try_acquire(sem.available()).unwrap();
    assert_eq!(drained.count(), 0);
    sem.set_capacity(10);
    assert_eq!(sem.available(), 10);
    let drained = sem.try_acquire(sem.available()).unwrap();
    assert_eq!(drained.count(), 10);
    assert_eq!(sem.available(), 0);
    assert_eq!(sem.try_acquire(sem.available()).unwrap().count(), 0);
    drop(drained);
    assert_eq!(sem.available(), 10);
}

/// TCK `testReducePermits` (and `_fair`), including below zero; `testReducePermitsIAE`
/// and `testReleaseIAE` (negative arguments) cannot be written with `u64`. Java's
/// count is `capacity - held` here: 11 of 21 held, it reads 10; reducing by 0, 1, 10
/// and 10 again reads 10, 9, -1 and -11. Corral shows a negative count as
/// `available() == 0` plus a debt the holders' releases pay first: at Java's -11
/// (capacity 0, 11 held) every one of the 11 returns is absorbed, and nothing is free
/// again until the capacity grows.
#[test]
fn jdk_tck_reduce_permits() {
    let sem = Semaphore::new(21);
    let mut held = sem.try_acquire(11).unwrap();
    assert_eq!(books(&sem), (21, 10, 0));
    sem.set_capacity(21); // reducePermits(0): 10
    assert_eq!(books(&sem), (21, 10, 0));
    sem.set_capacity(20); // reducePermits(1): 9
    assert_eq!(books(&sem), (20, 9, 0));
    sem.set_capacity(10); // reducePermits(10): -1
    assert_eq!(books(&sem), (10, 0, 0));
    sem.set_capacity(0); // reducePermits(10): -11
    assert_eq!(books(&sem), (0, 0, 0));
    sem.set_capacity(0); // reducePermits(0): -11
    assert_eq!(books(&sem), (0, 0, 0));
    for returned in 1..=11 {
        drop(held.split(1).unwrap());
        assert_eq!(sem.available(), 0, "after {returned} returned");
    }
    assert_eq!(held.count(), 0);
    assert_eq!(
        sem.try_acquire(1).unwrap_err(),
        TryAcquireError::TooLarge {
            requested: 1,
            capacity: 0
        }
    );
    sem.set_capacity(3);
    assert_eq!(books(&sem), (3, 3, 0));

    // A partial debt: 3 held, shrink to 2 (Java -1); the first return pays the debt,
    // the second is free.
    let mut held = sem.try_acquire(3).unwrap();
    sem.set_capacity(2);
    drop(held.split(1).unwrap());
    assert_eq!(books(&sem), (2, 0, 0));
    drop(held.split(1).unwrap());
    assert_eq!(books(&sem), (2, 1, 0));
    drop(held);
    assert_eq!(books(&sem), (2, 2, 0));
}

rt_test! {
    /// TCK `testReleaseAcquireSameThread_*` (every acquire method, fair or not): with 1
    /// permit, releasing `i` more and acquiring `i` leaves 1 available, for `i` in
    /// 1..6. Java's release of new permits is growing the capacity by `i`; its
    /// acquirer keeps them, which is `forget` (bringing the capacity back down).
    async fn jdk_tck_release_acquire_same_thread() {
        for method in METHODS {
            let sem = Arc::new(Semaphore::new(1));
            for i in 1..6 {
                sem.set_capacity(1 + i);
                assert_eq!(sem.available(), 1 + i);
                let held = no_hang("acquire", acquire_with(&sem, i, method)).await;
                assert_eq!(held.count(), i);
                assert_eq!(sem.available(), 1, "{method:?}({i})");
                held.forget();
                assert_eq!(books(&sem), (1, 1, 0), "{method:?}({i})");
            }
            // The try-acquire methods of the TCK (`tryAcquire`, `tryAcquireN`).
            for i in 1..6 {
                sem.set_capacity(1 + i);
                if i % 2 == 0 {
                    sem.try_acquire(i).unwrap().forget();
                } else {
                    sem.try_acquire_owned(i).unwrap().forget();
                }
                assert_eq!(books(&sem), (1, 1, 0), "try_acquire({i})");
            }
        }
    }
}

rt_test! {
    /// TCK `testReleaseAcquireDifferentThreads_*` (every acquire method, fair or not):
    /// another task acquires 1, then 3, then 1, then 3 permits; before each release
    /// the main task waits until the acquirer is queued and nothing is free, then
    /// releases exactly what it waits for. The acquirer sees an empty queue at the
    /// start of each round and all four acquires complete. Java's semaphore starts at
    /// 0 and the acquirer keeps what it gets; here the main task holds all 3 permits,
    /// the acquirer forgets what it gets (as Java's keeps it), and the main task grows
    /// the capacity back and holds the new permits before telling the acquirer to go
    /// on (a handshake Java does not need: its acquirer never lowers the count).
    async fn jdk_tck_release_acquire_different_threads() {
        const ROUNDS: u64 = 4;
        for method in METHODS {
            let sem = Arc::new(Semaphore::new(3));
            let mut held = sem.try_acquire_owned(3).unwrap();
            let (give, mut take) = tokio::sync::mpsc::unbounded_channel::<u64>();
            let (go, mut start) = tokio::sync::mpsc::unbounded_channel::<()>();
            let acquirer = tokio::spawn({
                let sem = sem.clone();
                async move {
                    for i in 0..ROUNDS {
                        start.recv().await.unwrap();
                        assert_eq!(sem.waiters(), 0, "{method:?} round {i}");
                        let n = if i % 2 == 0 { 1 } else { 3 };
                        let got = acquire_with(&sem, n, method).await;
                        assert_eq!(got.count(), n);
                        // Kept for good, as in Java; the main task grows it back.
                        got.forget();
                        give.send(n).unwrap();
                    }
                }
            });
            for i in 0..ROUNDS {
                go.send(()).unwrap();
                eventually("the acquirer queues with nothing free", || {
                    sem.available() == 0 && sem.waiters() == 1
                })
                .await;
                assert!(!acquirer.is_finished());
                let n = if i % 2 == 0 { 1 } else { 3 };
                drop(held.split(n).unwrap());
                assert_eq!(no_hang("grant", take.recv()).await, Some(n));
                // The acquirer forgot its `n`: grow them back and hold them again.
                sem.set_capacity(3);
                held.merge(sem.try_acquire_owned(n).unwrap());
            }
            no_hang("acquirer", acquirer).await.unwrap();
            assert_eq!(books(&sem), (3, 0, 0), "{method:?}");
            drop(held);
            assert_eq!(sem.available(), 3);
        }
    }
}

rt_test! {
    /// TCK `testFairLocksFifo`: a request of 3 that does not fit blocks every later
    /// request, even one that would fit in what is free. Corral has no barging at all,
    /// so besides the TCK's timed acquires (which fail though 1 permit is free, even
    /// with an expired timeout) the untimed `try_acquire`s fail too, where Java's
    /// barge and succeed (deliberate difference, crate docs "Strict FIFO, no
    /// barging"). Java's semaphore holds 1 permit and `acquire(3)` waits for 2 more to
    /// be released; corral's request above the capacity would fail at once, so the
    /// capacity is 3 with 2 held. The later `acquire(1)` queues behind the 3, is still
    /// waiting once the 3 are granted, and gets its permit when they come back.
    async fn jdk_tck_fair_locks_fifo() {
        let sem = Arc::new(Semaphore::new(3));
        let mut held = sem.try_acquire_owned(2).unwrap();
        let (t1_done, t1_granted) = tokio::sync::oneshot::channel();
        let (let_go, t1_release) = tokio::sync::oneshot::channel::<()>();
        let t1 = tokio::spawn({
            let sem = sem.clone();
            async move {
                let three = sem.acquire(3).await.unwrap();
                t1_done.send(()).unwrap();
                // Held until the main task has seen t2 still waiting.
                t1_release.await.unwrap();
                three.count()
            }
        });
        eventually("t1 queues", || sem.waiters() == 1).await;
        assert_eq!(sem.available(), 1);

        let mut rng = Rng(0xf1f0);
        for expired in [Duration::ZERO, Duration::from_nanos(1 + rng.below(1_000))] {
            assert!(matches!(
                sem.acquire_timeout(1, expired).await,
                Err(AcquireTimeoutError::Timeout { requested: 1, .. })
            ));
        }
        // Java: `tryAcquire()` barges and succeeds; `release(2)`; `tryAcquire(2)` too.
        assert_eq!(
            sem.try_acquire(1).unwrap_err(),
            TryAcquireError::NoPermits {
                requested: 1,
                available: 1
            }
        );
        assert!(sem.try_acquire(2).is_err());

        let t2 = tokio::spawn({
            let sem = sem.clone();
            async move { sem.acquire(1).await.unwrap().count() }
        });
        eventually("t2 queues behind t1", || sem.waiters() == 2).await;
        drop(held.split(2).unwrap());
        no_hang("t1 granted", t1_granted).await.unwrap();
        assert!(!t2.is_finished(), "t2 overtook t1, or was granted too");
        assert_eq!(books(&sem), (3, 0, 1));
        let_go.send(()).unwrap();
        assert_eq!(no_hang("t1", t1).await.unwrap(), 3);
        assert_eq!(no_hang("t2", t2).await.unwrap(), 1);
        drop(held);
        assert_eq!(books(&sem), (3, 3, 0));
    }
}

/// TCK `testToString` (and `_fair`): the printed form shows the current permits.
/// Corral's is `Debug`, which shows the capacity and what is free. Java's
/// `release(1)`, `release(2)` are growing the capacity; its `reducePermits(5)` to -2
/// is a shrink to 0 with 2 held, shown as capacity 0 and nothing available.
#[test]
fn jdk_tck_to_string_is_debug() {
    let sem = Semaphore::new(0);
    let shows = |sem: &Semaphore, capacity: u64, available: u64| {
        let s = format!("{sem:?}");
        assert!(
            s.contains(&format!("capacity: {capacity}"))
                && s.contains(&format!("available: {available}"))
                && s.contains("closed: false"),
            "{s}"
        );
    };
    shows(&sem, 0, 0);
    sem.set_capacity(1);
    shows(&sem, 1, 1);
    sem.set_capacity(3);
    shows(&sem, 3, 3);
    let held = sem.try_acquire(2).unwrap();
    sem.set_capacity(0);
    shows(&sem, 0, 0);
    drop(held);
    shows(&sem, 0, 0);
    sem.close();
    assert!(format!("{sem:?}").contains("closed: true"));
}

rt_test! {
    /// TCK `testShortTimeoutAcquisition` (JDK-8386085: a storm of timed `tryAcquire`s
    /// with a tiny timeout, each one giving up and queueing again, must still take the
    /// permits when they are released). Tasks loop on `acquire_owned_timeout(1, t)`
    /// with `t` from 0 to 50 µs until one succeeds; the main task releases the
    /// permits in random groups at random points. Corral promises more than the TCK's
    /// "some were taken": every permit is taken, by a different stormer, and nobody is
    /// left queued. Seeded rounds.
    async fn jdk_tck_short_timeout_acquisition() {
        const WIDTH: u64 = 4;
        const ROUNDS: u64 = 150;
        let mut rng = Rng(8_386_085);
        for round in 0..ROUNDS {
            let sem = Arc::new(Semaphore::new(WIDTH));
            let mut held = sem.try_acquire_owned(WIDTH).unwrap();
            let timeouts = Arc::new(AtomicU64::new(0));
            let stormers: Vec<_> = (0..WIDTH)
                .map(|i| {
                    let (sem, timeouts) = (sem.clone(), timeouts.clone());
                    let mut rng = Rng(rng.next() ^ i);
                    tokio::spawn(async move {
                        loop {
                            let t = Duration::from_micros(rng.below(51));
                            match sem.acquire_owned_timeout(1, t).await {
                                Ok(permit) => return permit,
                                Err(AcquireTimeoutError::Timeout { .. }) => {
                                    timeouts.fetch_add(1, SeqCst);
                                }
                                Err(e) => panic!("round {round}: {e}"),
                            }
                        }
                    })
                })
                .collect();
            // Let the storm start: some stormers have timed out at least once.
            let wanted = rng.below(2 * WIDTH);
            eventually("the storm starts", || timeouts.load(SeqCst) >= wanted).await;
            while held.count() > 0 {
                let n = 1 + rng.below(held.count());
                drop(held.split(n).unwrap());
                for _ in 0..rng.below(3) {
                    tokio::task::yield_now().await;
                }
            }
            let mut permits = Vec::new();
            for stormer in stormers {
                permits.push(no_hang("a stormer", stormer).await.unwrap());
            }
            assert_eq!(books(&sem), (WIDTH, 0, 0), "round {round}");
            drop(permits);
            assert_eq!(books(&sem), (WIDTH, WIDTH, 0), "round {round}");
        }
    }
}

/// A waker whose last clone's drop releases the permit it holds (tokio batch
/// `release_permits_at_drop`'s `ReleaseOnDrop`): the hook that lets a test release a
/// permit inside a poll, at a chosen point.
struct ReleaseOnDrop(#[allow(dead_code)] Option<OwnedPermit>);

impl std::task::Wake for ReleaseOnDrop {
    fn wake(self: Arc<Self>) {}
}

/// The JDK-8386085 port, one timed acquire at its deadline, deterministic: the grant
/// lands during the very poll that finds the deadline passed, after the request was
/// checked and before the timer was. (On a multi-thread runtime another thread's
/// release does this; here the holder's permit sits in the waker of the first poll, and
/// the second poll, with a new waker, drops it.) The crate docs promise "a grant that
/// lands together with the deadline is kept rather than thrown away", and
/// `AcquireTimeoutError::Timeout` means "the permits were not granted within the
/// timeout": the acquire must return the permit. Before the fix it handed the grant
/// back and reported a timeout. Both timed futures; paused time.
#[tokio::test(start_paused = true)]
async fn jdk_tck_short_timeout_grant_landing_with_the_deadline_is_kept() {
    use std::task::{Context, Poll, Waker};
    let timeout = Duration::from_millis(10);
    for owned in [false, true] {
        let sem = Arc::new(Semaphore::new(1));
        let holder = Waker::from(Arc::new(ReleaseOnDrop(sem.try_acquire_owned(1).ok())));
        let mut fut: std::pin::Pin<Box<dyn Future<Output = Result<u64, AcquireTimeoutError>>>> =
            if owned {
                let fut = sem.acquire_owned_timeout(1, timeout);
                Box::pin(async move { fut.await.map(|p| p.count()) })
            } else {
                let sem = sem.clone();
                Box::pin(async move { sem.acquire_timeout(1, timeout).await.map(|p| p.count()) })
            };
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(&holder))
            .is_pending());
        assert_eq!(books(&sem), (1, 0, 1));
        drop(holder); // the queue (and maybe the timer) still hold clones
        tokio::time::advance(timeout).await;
        let result = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(
            matches!(result, Poll::Ready(Ok(1))),
            "owned: {owned}: the grant that landed with the deadline was thrown away: {result:?}"
        );
        drop(fut);
        assert_eq!(books(&sem), (1, 1, 0), "owned: {owned}");
    }
}

// ---------------------------------------------------------------------------------
// jtreg: test/jdk/java/util/concurrent/Semaphore/RacingReleases.java (bugs 6801020,
// 6803402: racing releases could leave a waiter parked with a permit free)
// ---------------------------------------------------------------------------------

/// Busy-waits `spins` short steps.
fn spin(spins: u64) {
    for _ in 0..spins {
        std::hint::spin_loop();
    }
}

/// One RacingReleases round on OS threads: two blockers acquire 1 permit each (with
/// `method`) and keep it (`forget`), two signallers each release one, all four started
/// in a random order. Returns once every thread is done; panics (naming the round) if
/// one hangs.
fn racing_releases_round(rng: &mut Rng, method: Method, round: u64) {
    let sem = Arc::new(Semaphore::new(2));
    let p1 = sem.try_acquire_owned(1).unwrap();
    let p2 = sem.try_acquire_owned(1).unwrap();
    // Every thread gets ready (a blocker builds its executor), meets the others at a
    // barrier, then spins for a random short while and acts: the four meet at varying
    // points instead of in spawn order.
    let start = Arc::new(Barrier::new(4));
    let mut jobs: Vec<Box<dyn FnOnce(u64) + Send>> = Vec::new();
    for permit in [p1, p2] {
        let start = start.clone();
        jobs.push(Box::new(move |spins| {
            start.wait();
            spin(spins);
            drop(permit);
        }));
    }
    for _ in 0..2 {
        let (sem, start) = (sem.clone(), start.clone());
        jobs.push(Box::new(move |spins| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            start.wait();
            spin(spins);
            rt.block_on(async { acquire_with(&sem, 1, method).await.forget() });
        }));
    }
    // Shuffle the start order (Fisher-Yates).
    for i in (1..jobs.len()).rev() {
        jobs.swap(i, rng.index(i + 1));
    }
    let (done, finished) = mpsc::channel();
    let threads: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let done = done.clone();
            let spins = rng.below(200);
            std::thread::spawn(move || {
                job(spins);
                let _ = done.send(());
            })
        })
        .collect();
    for _ in 0..threads.len() {
        finished
            .recv_timeout(GIVE_UP)
            .unwrap_or_else(|_| panic!("round {round} ({method:?}): a thread hung"));
    }
    for thread in threads {
        thread.join().unwrap();
    }
    // Java: no permit available, nobody queued. The blockers kept theirs for good.
    assert_eq!(books(&sem), (0, 0, 0), "round {round} ({method:?})");
}

/// jtreg `RacingReleases` (fair or not, interruptibly or not): 1,000 seeded rounds of
/// two releases racing two blocked acquires on four OS threads started in a random
/// order, each blocker on its own executor, all four released together by a barrier
/// after a random spin; every acquire method takes a turn. Both
/// blockers always get a permit, and nothing is left free or queued.
#[test]
fn jdk_racing_releases_threads() {
    let mut rng = Rng(6_801_020);
    for round in 0..1_000 {
        let method = METHODS[round as usize % METHODS.len()];
        racing_releases_round(&mut rng, method, round);
    }
}

rt_test! {
    /// jtreg `RacingReleases`, as tasks of one runtime: 1,000 seeded rounds of two
    /// releasing tasks racing two blocked acquiring tasks, spawned in a random order,
    /// each doing a random number of yields first.
    async fn jdk_racing_releases_tasks() {
        let mut rng = Rng(6_803_402);
        for round in 0..1_000u64 {
            let method = METHODS[round as usize % METHODS.len()];
            let sem = Arc::new(Semaphore::new(2));
            let mut order = [0u8, 1, 2, 3];
            for i in (1..order.len()).rev() {
                order.swap(i, rng.index(i + 1));
            }
            let mut permits = vec![
                sem.try_acquire_owned(1).unwrap(),
                sem.try_acquire_owned(1).unwrap(),
            ];
            let mut tasks = Vec::new();
            for who in order {
                let yields = rng.below(3);
                let sem = sem.clone();
                let signal = if who < 2 { permits.pop() } else { None };
                tasks.push(tokio::spawn(async move {
                    for _ in 0..yields {
                        tokio::task::yield_now().await;
                    }
                    match signal {
                        Some(permit) => drop(permit),
                        None => acquire_with(&sem, 1, method).await.forget(),
                    }
                }));
            }
            for task in tasks {
                no_hang("racing releases", task).await.unwrap();
            }
            assert_eq!(books(&sem), (0, 0, 0), "round {round} ({method:?})");
        }
    }
}

// ---------------------------------------------------------------------------------
// jtreg: test/jdk/java/util/concurrent/Semaphore/PermitOverflow.java (bug 6941130:
// numeric overflow or underflow of the permit count must throw, not wrap)
// ---------------------------------------------------------------------------------

/// Runs `f`, which must panic naming `MAX_PERMITS`, and returns nothing.
fn refuses_over_max(what: &str, f: impl FnOnce()) {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err(what);
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(msg.contains("MAX_PERMITS"), "{what}: {msg}");
}

/// jtreg `PermitOverflow`, the overflow half: from `MAX_PERMITS - 1`, adding 2 is
/// refused; adding 1 reaches `MAX_PERMITS`; then adding 1, or `i32::MAX`, is refused.
/// Corral's "add" is `set_capacity`, whose documented refusal of a capacity above
/// `MAX_PERMITS` is a panic (like Java's `Error`); the sum itself is the caller's, so
/// the test adds with `checked_add`. A refused change must leave the semaphore exactly
/// as it was (no wrapped count), and requests at and past the limit are typed errors.
#[test]
fn jdk_permit_overflow() {
    let max = Semaphore::MAX_PERMITS;
    let sem = Semaphore::new(max - 1);
    assert_eq!(sem.available(), max - 1);
    refuses_over_max("growing by 2 past MAX_PERMITS", || {
        sem.set_capacity(sem.capacity().checked_add(2).unwrap())
    });
    assert_eq!(books(&sem), (max - 1, max - 1, 0));
    sem.set_capacity(sem.capacity() + 1);
    assert_eq!(books(&sem), (max, max, 0));
    for add in [1, i32::MAX as u64, u64::MAX - max] {
        refuses_over_max("growing past MAX_PERMITS", || {
            sem.set_capacity(sem.capacity().checked_add(add).unwrap())
        });
        assert_eq!(books(&sem), (max, max, 0));
    }
    refuses_over_max("a semaphore above MAX_PERMITS", || {
        let _ = Semaphore::new(max + 1);
    });
    // Requests past the limit are refused with numbers, never wrapped into a count
    // the state word could hold.
    for requested in [max + 1, u64::MAX] {
        assert_eq!(
            sem.try_acquire(requested).unwrap_err(),
            TryAcquireError::TooLarge {
                requested,
                capacity: max
            }
        );
        let mut fut = spawn(sem.acquire(requested));
        assert_eq!(
            tokio_test::assert_ready_err!(fut.poll()),
            AcquireError::TooLarge {
                requested,
                capacity: max
            }
        );
    }
    // Every permit at once, split and merged back at the limit: the books balance.
    let mut all = sem.try_acquire(max).unwrap();
    assert_eq!(books(&sem), (max, 0, 0));
    let half = all.split(max / 2).unwrap();
    all.merge(half);
    assert_eq!(all.count(), max);
    drop(all);
    assert_eq!(books(&sem), (max, max, 0));
}

/// jtreg `PermitOverflow`, the underflow half: Java's count cannot be reduced below
/// `Integer.MIN_VALUE`. Corral's capacity cannot go below 0 (`u64`); the deepest
/// state is every one of `MAX_PERMITS` permits held with the capacity shrunk to 0,
/// a debt of `MAX_PERMITS`. From there, growing back to `MAX_PERMITS`, returning the
/// permits, or forgetting them must balance the books without wrapping.
#[test]
fn jdk_permit_underflow() {
    let max = Semaphore::MAX_PERMITS;

    // Debt of MAX, paid by the releases.
    let sem = Semaphore::new(max);
    let mut all = sem.try_acquire(max).unwrap();
    sem.set_capacity(0);
    assert_eq!(books(&sem), (0, 0, 0));
    drop(all.split(max - 1).unwrap());
    assert_eq!(books(&sem), (0, 0, 0));
    drop(all);
    assert_eq!(books(&sem), (0, 0, 0));
    sem.set_capacity(max);
    assert_eq!(books(&sem), (max, max, 0));

    // Debt of MAX, paid by growing back while the permits are still held.
    let all = sem.try_acquire(max).unwrap();
    sem.set_capacity(0);
    sem.set_capacity(max);
    assert_eq!(books(&sem), (max, 0, 0));
    drop(all);
    assert_eq!(books(&sem), (max, max, 0));

    // Debt of MAX, paid by forgetting the permits.
    let all = sem.try_acquire(max).unwrap();
    sem.set_capacity(0);
    all.forget();
    assert_eq!(books(&sem), (0, 0, 0));
    sem.set_capacity(max);
    assert_eq!(books(&sem), (max, max, 0));

    // Half the debt paid by growing, half by releasing, with a waiter for MAX queued
    // behind it: granted only once the whole debt is paid and every permit is back.
    let mut all = sem.try_acquire(max).unwrap();
    sem.set_capacity(max / 2);
    let mut waiter = spawn(sem.acquire(max / 2));
    assert_pending!(waiter.poll());
    sem.set_capacity(max);
    assert_pending!(waiter.poll());
    drop(all.split(max / 2).unwrap());
    assert!(waiter.is_woken());
    let got = assert_ready_ok!(waiter.poll());
    assert_eq!(got.count(), max / 2);
    drop((got, all));
    assert_eq!(books(&sem), (max, max, 0));
}
