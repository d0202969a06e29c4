//! Peers' own semaphore tests, ported to corral's API: Go's `x/sync/semaphore`
//! (`semaphore/semaphore_test.go`) and tokio's (`tests/sync_semaphore.rs`,
//! `tests/sync_semaphore_owned.rs`, `src/sync/tests/semaphore_batch.rs`).
//!
//! Each test names the peer test it ports. Async ones run on both tokio runtime
//! flavours (`rt_test!` makes a `current_thread` and a `multi_thread` case, as tokio's
//! own `rt_common.rs` does); races run in seeded loops on the multi-thread runtime.
//! Where corral differs from the peer on purpose, the test asserts corral's documented
//! behaviour and its doc comment names the difference.
#![cfg(feature = "tokio")] // the timeout ports need the feature's acquire_timeout

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use corral_semaphore::{
    AcquireError, AcquireTimeoutError, OwnedPermit, Semaphore, TryAcquireError,
};
use corral_test_support::{eventually, eventually_blocking, Latch, Rng};
use tokio_test::task::spawn;
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok};

/// One test body, run on a current-thread runtime and on a two-worker multi-thread
/// runtime (tokio's `rt_common.rs` pattern): `name::current_thread`, `name::multi_thread`.
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

/// Bounds a wait that only a hang would exceed (a starved or stranded waiter), so a
/// regression fails with a message instead of hanging the suite. Not a timing assert:
/// nothing passes or fails by how fast it went.
async fn no_hang<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(corral_test_support::GIVE_UP, fut).await {
        Ok(out) => out,
        Err(_) => panic!("hung: {what}"),
    }
}

// ---------------------------------------------------------------------------------
// Go: golang.org/x/sync/semaphore, semaphore_test.go
// ---------------------------------------------------------------------------------

rt_test! {
    /// Go `TestWeighted` (and its `HammerWeighted`): tasks hammer one semaphore, task
    /// `i` taking weight `i` (0 included), holding it across a random number of
    /// yields (Go sleeps up to 1 ms). Adds what Go leaves implicit: the weight held
    /// never exceeds the capacity, and every permit is back at the end.
    async fn go_weighted_hammer() {
        const N: u64 = 8;
        const LOOPS: u64 = 10_000 / N;
        let sem = Arc::new(Semaphore::new(N));
        let held = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let (sem, held) = (sem.clone(), held.clone());
                tokio::spawn(async move {
                    let mut rng = Rng(0x5eed ^ i);
                    for _ in 0..LOOPS {
                        let permit = sem.acquire(i).await.unwrap();
                        let now = held.fetch_add(i, SeqCst) + i;
                        assert!(now <= N, "held {now} of {N}");
                        for _ in 0..rng.below(3) {
                            tokio::task::yield_now().await;
                        }
                        held.fetch_sub(i, SeqCst);
                        drop(permit);
                    }
                })
            })
            .collect();
        for task in tasks {
            no_hang("hammer", task).await.unwrap();
        }
        assert_eq!((sem.available(), sem.waiters()), (N, 0));
    }
}

/// Go `TestWeightedPanic` (releasing more than was acquired panics). Deliberate
/// difference: corral has no `Release(n)`; permits are RAII guards that return exactly
/// what they hold, so over-releasing cannot be written. What is left to check is that
/// no permit operation can hand back more than it holds: `split` beyond the count
/// refuses and changes nothing, `forget` and `merge` keep the books, and the free count
/// never exceeds the capacity.
#[test]
fn go_weighted_panic_over_release_cannot_be_expressed() {
    let sem = Semaphore::new(1);
    let mut permit = sem.try_acquire(1).unwrap();
    assert!(
        permit.split(2).is_none(),
        "split beyond the count must refuse"
    );
    assert_eq!(permit.count(), 1);
    let zero = permit.split(0).unwrap();
    let mut merged = zero;
    merged.merge(permit);
    assert_eq!(merged.count(), 1);
    drop(merged);
    assert_eq!((sem.available(), sem.capacity()), (1, 1));
    // A permit taken and forgotten is never returned, so nothing can exceed capacity.
    sem.try_acquire(1).unwrap().forget();
    assert_eq!((sem.available(), sem.capacity()), (0, 0));
}

/// Go `TestWeightedTryAcquire`: capacity 2, one held: one more succeeds, a third fails;
/// after releasing both, one succeeds; with one held by `acquire` too, the next fails.
#[test]
fn go_weighted_try_acquire() {
    let sem = Semaphore::new(2);
    let a = tokio_test::block_on(sem.acquire(1)).unwrap();
    let t1 = sem.try_acquire(1);
    let t2 = sem.try_acquire(1);
    let tries_before = [t1.is_ok(), t2.is_ok()];
    drop((a, t1, t2));
    let t3 = sem.try_acquire(1);
    let _b = tokio_test::block_on(sem.acquire(1)).unwrap();
    let t4 = sem.try_acquire(1);
    assert_eq!(
        [tries_before[0], tries_before[1], t3.is_ok(), t4.is_ok()],
        [true, false, true, false]
    );
    assert_eq!(
        t4.unwrap_err(),
        TryAcquireError::NoPermits {
            requested: 1,
            available: 0
        }
    );
}

rt_test! {
    /// Go `TestWeightedAcquire`: as `TestWeightedTryAcquire`, with an acquire bounded
    /// by a 10 ms deadline in place of `TryAcquire` (Go: a context with a timeout;
    /// corral: `acquire_timeout`). The outcomes do not depend on timing: free permits
    /// are taken before the timer is looked at, and missing ones are never released.
    async fn go_weighted_acquire() {
        let sem = Semaphore::new(2);
        let bounded = |n| sem.acquire_timeout(n, Duration::from_millis(10));
        let a = sem.acquire(1).await.unwrap();
        let t1 = bounded(1).await;
        let t2 = bounded(1).await;
        let tries_before = [t1.is_ok(), t2.is_ok()];
        assert!(matches!(t2, Err(AcquireTimeoutError::Timeout { requested: 1, .. })));
        drop((a, t1, t2));
        let t3 = bounded(1).await;
        let _b = sem.acquire(1).await.unwrap();
        let t4 = bounded(1).await;
        assert_eq!(
            [tries_before[0], tries_before[1], t3.is_ok(), t4.is_ok()],
            [true, false, true, false]
        );
        assert_eq!(sem.waiters(), 0, "a timed-out request leaves the queue");
    }
}

rt_test! {
    /// Go `TestWeightedDoesntBlockIfTooBig`: a request above the capacity must not
    /// block the small requests after it. Deliberate difference: Go parks the doomed
    /// request until its context is done; corral refuses it at once with
    /// `TooLarge` naming both numbers (crate docs, "Impossible requests fail at once").
    async fn go_weighted_doesnt_block_if_too_big() {
        const N: u64 = 2;
        let sem = Arc::new(Semaphore::new(N));
        let too_big = tokio::spawn({
            let sem = sem.clone();
            async move { sem.acquire(N + 1).await.map(drop) }
        });
        let small: Vec<_> = (0..N * 3)
            .map(|_| {
                let sem = sem.clone();
                tokio::spawn(async move {
                    let permit = sem.acquire(1).await?;
                    tokio::task::yield_now().await;
                    drop(permit);
                    Ok::<_, AcquireError>(())
                })
            })
            .collect();
        for task in small {
            no_hang("small acquires", task).await.unwrap().unwrap();
        }
        assert_eq!(
            too_big.await.unwrap(),
            Err(AcquireError::TooLarge { requested: N + 1, capacity: N })
        );
        assert_eq!(sem.available(), N);
    }
}

rt_test! {
    /// Go `TestLargeAcquireDoesntStarve`: N tasks each hold one permit and keep
    /// releasing and re-taking it; an `acquire(N)` must still get through (it is queued
    /// first, so FIFO puts every re-take behind it). Go's test "fails" by hanging; here
    /// a hang fails with a message.
    async fn go_large_acquire_doesnt_starve() {
        const N: u64 = 4;
        let sem = Arc::new(Semaphore::new(N));
        let running = Arc::new(AtomicBool::new(true));
        let mut tasks = Vec::new();
        for _ in 0..N {
            let mut permit = sem.clone().acquire_owned(1).await.unwrap();
            let (sem, running) = (sem.clone(), running.clone());
            tasks.push(tokio::spawn(async move {
                while running.load(SeqCst) {
                    tokio::task::yield_now().await;
                    drop(permit);
                    permit = sem.clone().acquire_owned(1).await.unwrap();
                }
            }));
        }
        let all = no_hang("large acquire starved", sem.acquire(N)).await.unwrap();
        running.store(false, SeqCst);
        drop(all);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(sem.available(), N);
    }
}

/// Go `TestAllocCancelDoesntStarve` (golang/go#37852, fixed in x/sync 43a5402: a
/// cancelled waiter at the head of the queue stranded the waiters behind it). Capacity
/// 10 with one held; a background `acquire(10)` queues; then it is cancelled while an
/// `acquire(1)` races it: the `acquire(1)` must complete whichever comes first. Seeded
/// rounds on the multi-thread runtime, the cancellation (a task abort) issued from
/// another task at a random point.
#[test]
fn go_alloc_cancel_doesnt_starve() {
    let rt = corral_test_support::multi_thread(2);
    rt.block_on(async {
        let mut rng = Rng(37_852);
        for round in 0..2_000 {
            let sem = Arc::new(Semaphore::new(10));
            let held = sem.clone().acquire_owned(1).await.unwrap();
            let big = tokio::spawn({
                let sem = sem.clone();
                async move { sem.acquire(10).await.map(drop) }
            });
            // Go's "wait until the Acquire(_, 10) call blocks": try_acquire(1) works
            // until the big request is queued (it never jumps the queue).
            while let Ok(p) = sem.try_acquire(1) {
                drop(p);
                tokio::task::yield_now().await;
            }
            let spins = rng.below(4);
            let abort = big.abort_handle();
            let cancel = tokio::spawn(async move {
                for _ in 0..spins {
                    tokio::task::yield_now().await;
                }
                abort.abort();
            });
            let one = no_hang("acquire(1) behind a cancelled head", sem.acquire(1)).await;
            assert!(one.is_ok(), "round {round}");
            drop(one);
            cancel.await.unwrap();
            assert!(big.await.unwrap_err().is_cancelled(), "round {round}");
            drop(held);
            assert_eq!((sem.available(), sem.waiters()), (10, 0), "round {round}");
        }
    });
}

/// The same golang/go#37852 case, deterministic: capacity 10, 5 held, the head wants
/// 10, two behind it want 3 and 2. Dropping the head (cancellation) must grant and
/// wake both; dropping a waiter behind the head changes nothing.
#[test]
fn go_cancelled_head_wakes_the_waiters_behind_it() {
    let sem = Semaphore::new(10);
    let held = sem.try_acquire(5).unwrap();
    let mut head = spawn(sem.acquire(10));
    let mut middle = spawn(sem.acquire(1));
    let mut a = spawn(sem.acquire(3));
    let mut b = spawn(sem.acquire(2));
    assert_pending!(head.poll());
    assert_pending!(middle.poll());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    drop(middle); // not the head: nobody behind it may move yet
    assert!(!a.is_woken() && !b.is_woken());
    drop(head);
    assert!(a.is_woken() && b.is_woken());
    let (pa, pb) = (assert_ready_ok!(a.poll()), assert_ready_ok!(b.poll()));
    assert_eq!((pa.count(), pb.count(), sem.available()), (3, 2, 0));
    drop((pa, pb, held));
    assert_eq!(sem.available(), 10);
}

/// Go `TestWeightedAcquireCanceled` (golang/go#63615): capacity 2, one held; an
/// `acquire(2)` is cancelled and then the held permit is released: the cancelled
/// acquire fails, and both permits are back afterwards whatever the order. Corral
/// cancels by dropping the future (here: a `select!` that prefers the cancellation).
/// Seeded rounds on the multi-thread runtime race the cancellation against the grant.
///
/// Deliberate difference, Go's last step: an acquire with an already-done context
/// fails in Go even when permits are free. Corral's deadline only bounds waiting, so
/// `acquire_timeout(n, 0)` takes free permits (crate docs, "A deadline does not discard
/// permits that are already there").
#[test]
fn go_weighted_acquire_canceled() {
    let rt = corral_test_support::multi_thread(2);
    rt.block_on(async {
        let mut rng = Rng(63_615);
        for round in 0..2_000 {
            let sem = Arc::new(Semaphore::new(2));
            let held = sem.clone().acquire_owned(1).await.unwrap();
            let cancel = Latch::new();
            let acquirer = tokio::spawn({
                let (sem, cancel) = (sem.clone(), cancel.clone());
                async move {
                    tokio::select! {
                        biased;
                        () = cancel.opened() => None,
                        permit = sem.acquire(2) => Some(permit.unwrap().count()),
                    }
                }
            });
            let spins = rng.below(3);
            let releaser = tokio::spawn({
                let sem = sem.clone();
                async move {
                    while let Ok(p) = sem.try_acquire(1) {
                        drop(p);
                        tokio::task::yield_now().await;
                    }
                    cancel.open();
                    for _ in 0..spins {
                        tokio::task::yield_now().await;
                    }
                    drop(held);
                }
            });
            releaser.await.unwrap();
            // Cancelled before the permits were there, so the acquire fails (with the
            // grant racing the cancellation, the `select!` still prefers it and the
            // dropped acquire hands the permits back), and both permits are free.
            assert_eq!(acquirer.await.unwrap(), None, "round {round}");
            let both = sem.try_acquire(2);
            assert!(both.is_ok(), "round {round}: {both:?}");
        }
        // The last step: a zero deadline still takes free permits in corral.
        let sem = Semaphore::new(2);
        let p = sem.acquire_timeout(1, Duration::ZERO).await.unwrap();
        assert_eq!(p.count(), 1);
    });
}

// ---------------------------------------------------------------------------------
// tokio: tests/sync_semaphore.rs and tests/sync_semaphore_owned.rs
// ---------------------------------------------------------------------------------

/// tokio `sync_semaphore::no_permits`: a semaphore of capacity 0 can be made.
#[test]
fn tokio_no_permits() {
    let sem = Semaphore::new(0);
    assert_eq!((sem.capacity(), sem.available()), (0, 0));
}

/// tokio `sync_semaphore::try_acquire` and `sync_semaphore_owned::try_acquire`: the
/// second `try_acquire` of a capacity-1 semaphore fails, and a dropped permit is back.
#[test]
fn tokio_try_acquire_and_owned() {
    let sem = Arc::new(Semaphore::new(1));
    {
        let p1 = sem.try_acquire(1);
        assert!(p1.is_ok());
        assert_eq!(
            sem.try_acquire(1).unwrap_err(),
            TryAcquireError::NoPermits {
                requested: 1,
                available: 0
            }
        );
    }
    assert!(sem.try_acquire(1).is_ok());
    {
        let p1 = sem.try_acquire_owned(1);
        assert!(p1.is_ok());
        assert!(sem.try_acquire_owned(1).is_err());
    }
    assert!(sem.try_acquire_owned(1).is_ok());
}

/// tokio `sync_semaphore_owned::try_acquire_many`: 42 of 42 taken leaves none; after
/// the drop, 32 and 10 fit and then nothing does.
#[test]
fn tokio_try_acquire_many_owned() {
    let sem = Arc::new(Semaphore::new(42));
    {
        let p1 = sem.try_acquire_owned(42);
        assert!(p1.is_ok());
        assert!(sem.try_acquire_owned(1).is_err());
    }
    let _p3 = sem.try_acquire_owned(32).unwrap();
    let _p4 = sem.try_acquire_owned(10).unwrap();
    assert!(sem.try_acquire_owned(1).is_err());
}

/// tokio's `try_acquire` errors, named: `NoPermits` (with what was free), `Closed`
/// once closed (even with permits free), and, corral only, `TooLarge` for a request
/// above the capacity (tokio would report `NoPermits` for ever).
#[test]
fn tokio_try_acquire_errors() {
    let sem = Semaphore::new(3);
    let _held = sem.try_acquire(2).unwrap();
    assert_eq!(
        sem.try_acquire(2).unwrap_err(),
        TryAcquireError::NoPermits {
            requested: 2,
            available: 1
        }
    );
    assert_eq!(
        sem.try_acquire(4).unwrap_err(),
        TryAcquireError::TooLarge {
            requested: 4,
            capacity: 3
        }
    );
    sem.close();
    assert_eq!(sem.try_acquire(1).unwrap_err(), TryAcquireError::Closed);
    assert_eq!(sem.try_acquire(0).unwrap_err(), TryAcquireError::Closed);
}

rt_test! {
    /// tokio `sync_semaphore::acquire` and `sync_semaphore_owned::acquire`: a task
    /// waiting for the only permit gets it when the holder drops it.
    async fn tokio_acquire() {
        let sem = Arc::new(Semaphore::new(1));
        let p1 = sem.try_acquire_owned(1).unwrap();
        let j = tokio::spawn({
            let sem = sem.clone();
            async move {
                let _p2 = sem.acquire(1).await.unwrap();
                let _p3 = sem.acquire_owned(0).await.unwrap();
            }
        });
        drop(p1);
        j.await.unwrap();
        assert_eq!(sem.available(), 1);
    }
}

rt_test! {
    /// tokio `sync_semaphore_owned::acquire_many`: holding 10 of 42 while waiting for
    /// 32 more, released by the main task.
    async fn tokio_acquire_many_owned() {
        let sem = Arc::new(Semaphore::new(42));
        let permit32 = sem.try_acquire_owned(32).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let j = tokio::spawn({
            let sem = sem.clone();
            async move {
                let _permit10 = sem.acquire_owned(10).await.unwrap();
                tx.send(()).unwrap();
                let _permit32 = sem.acquire_owned(32).await.unwrap();
            }
        });
        rx.await.unwrap();
        drop(permit32);
        j.await.unwrap();
        assert_eq!(sem.available(), 42);
    }
}

rt_test! {
    /// tokio `sync_semaphore::add_permits` (and the owned one): a waiter on an empty
    /// semaphore gets a permit added later. Deliberate difference: corral has no
    /// `add_permits`; permits are added by growing the capacity (`set_capacity`),
    /// which wakes the waiters that now fit. And on a capacity-0 semaphore a request
    /// for 1 fails at once (`TooLarge`) instead of waiting, so the waiter here queues
    /// behind a held permit.
    async fn tokio_add_permits() {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned(1).unwrap();
        let j = tokio::spawn({
            let sem = sem.clone();
            async move { sem.acquire_owned(1).await.map(|p| p.count()) }
        });
        eventually("waiter queued", || sem.waiters() == 1).await;
        sem.set_capacity(2);
        assert_eq!(j.await.unwrap(), Ok(1));
        drop(held);
        assert_eq!((sem.capacity(), sem.available()), (2, 2));
        assert_eq!(
            Semaphore::new(0).acquire(1).await.unwrap_err(),
            AcquireError::TooLarge { requested: 1, capacity: 0 }
        );
    }
}

/// tokio `sync_semaphore::add_permits_open` and `add_permits_closed`: adding permits
/// (corral: growing the capacity) to an open or a closed semaphore makes them
/// available, and does not reopen a closed one.
#[test]
fn tokio_add_permits_open_and_closed() {
    for closed in [false, true] {
        for size in 0..4 {
            for add in 0..4 {
                let sem = Semaphore::new(size);
                if closed {
                    sem.close();
                }
                sem.set_capacity(size + add);
                assert_eq!(sem.available(), size + add, "{size}+{add} closed={closed}");
                assert_eq!(sem.is_closed(), closed);
            }
        }
    }
}

/// tokio `sync_semaphore::forget` (and the owned one): a forgotten permit is not
/// returned. Difference: corral's `forget` also lowers the capacity (documented on
/// `Permit::forget`), so the next `try_acquire(1)` of the now capacity-0 semaphore
/// fails with `TooLarge`, not `NoPermits`.
#[test]
fn tokio_forget() {
    let sem = Arc::new(Semaphore::new(1));
    {
        let p = sem.try_acquire(1).unwrap();
        assert_eq!(sem.available(), 0);
        p.forget();
        assert_eq!(sem.available(), 0);
    }
    assert_eq!(sem.available(), 0);
    assert_eq!(
        sem.try_acquire(1).unwrap_err(),
        TryAcquireError::TooLarge {
            requested: 1,
            capacity: 0
        }
    );
    let sem = Arc::new(Semaphore::new(2));
    sem.try_acquire_owned(1).unwrap().forget();
    assert_eq!((sem.capacity(), sem.available()), (1, 1));
}

/// tokio `sync_semaphore::forget_open` / `forget_closed` and batch `forget_permits_basic`:
/// `forget_permits(sub)` removes up to `sub` free permits. Corral has no
/// `forget_permits`; shrinking the capacity (`set_capacity`) is the equivalent, and
/// with every permit free it removes them at once, open or closed.
#[test]
fn tokio_forget_permits_open_and_closed() {
    for closed in [false, true] {
        for size in 0..4u64 {
            for sub in 0..4u64 {
                let sem = Semaphore::new(size);
                if closed {
                    sem.close();
                }
                sem.set_capacity(size.saturating_sub(sub));
                let expected = size.saturating_sub(sub);
                assert_eq!(sem.available(), expected, "{size}-{sub}");
                assert_eq!(sem.is_closed(), closed);
            }
        }
    }
    let sem = Semaphore::new(10);
    sem.set_capacity(6);
    assert_eq!(sem.available(), 6);
    sem.set_capacity(0);
    assert_eq!(sem.available(), 0);
}

/// tokio `sync_semaphore::merge` and the owned one: merged permits return together.
#[test]
fn tokio_merge() {
    let sem = Arc::new(Semaphore::new(3));
    {
        let mut p1 = sem.try_acquire(1).unwrap();
        assert_eq!(sem.available(), 2);
        let p2 = sem.try_acquire(2).unwrap();
        assert_eq!(sem.available(), 0);
        p1.merge(p2);
        assert_eq!((p1.count(), sem.available()), (3, 0));
    }
    assert_eq!(sem.available(), 3);
    {
        let mut p1 = sem.try_acquire_owned(1).unwrap();
        p1.merge(sem.try_acquire_owned(2).unwrap());
        assert_eq!((p1.count(), sem.available()), (3, 0));
    }
    assert_eq!(sem.available(), 3);
}

/// tokio `sync_semaphore::merge_unrelated_permits`: merging permits of two semaphores
/// panics (corral: and the merged-in permit goes back to its own semaphore).
#[test]
#[should_panic(expected = "merged permits from different semaphores")]
fn tokio_merge_unrelated_permits() {
    let sem1 = Semaphore::new(3);
    let sem2 = Semaphore::new(3);
    let mut p1 = sem1.try_acquire(1).unwrap();
    let p2 = sem2.try_acquire(1).unwrap();
    p1.merge(p2);
}

/// tokio `sync_semaphore_owned::merge_unrelated_permits`, the owned variant.
#[test]
#[should_panic(expected = "merged permits from different semaphores")]
fn tokio_merge_unrelated_owned_permits() {
    let sem1 = Arc::new(Semaphore::new(3));
    let sem2 = Arc::new(Semaphore::new(3));
    let mut p1 = sem1.try_acquire_owned(1).unwrap();
    p1.merge(sem2.try_acquire_owned(1).unwrap());
}

/// tokio `sync_semaphore::split` and the owned one, step for step (corral's `count()`
/// is tokio's `num_permits()`).
#[test]
fn tokio_split() {
    fn check<P>(
        sem: &Semaphore,
        mut p1: P,
        split: impl Fn(&mut P, u64) -> Option<P>,
        count: impl Fn(&P) -> u64,
    ) {
        assert_eq!(sem.available(), 2);
        assert_eq!(count(&p1), 3);
        let mut p2 = split(&mut p1, 1).unwrap();
        assert_eq!(sem.available(), 2);
        assert_eq!((count(&p1), count(&p2)), (2, 1));
        let p3 = split(&mut p1, 0).unwrap();
        assert_eq!(count(&p3), 0);
        drop(p1);
        assert_eq!(sem.available(), 4);
        let p4 = split(&mut p2, 1).unwrap();
        assert_eq!((count(&p2), count(&p4)), (0, 1));
        assert!(split(&mut p2, 1).is_none());
        drop(p2);
        assert_eq!(sem.available(), 4);
        drop(p3);
        assert_eq!(sem.available(), 4);
        drop(p4);
        assert_eq!(sem.available(), 5);
    }
    let sem = Semaphore::new(5);
    check(
        &sem,
        sem.try_acquire(3).unwrap(),
        |p, n| p.split(n),
        |p| p.count(),
    );
    let sem = Arc::new(Semaphore::new(5));
    check(
        &sem,
        sem.try_acquire_owned(3).unwrap(),
        |p, n| p.split(n),
        OwnedPermit::count,
    );
}

rt_test! {
    /// tokio `sync_semaphore::stress_test` and the owned one: 1,000 tasks take and drop
    /// a permit of a capacity-5 semaphore; afterwards exactly 5 can be taken.
    async fn tokio_stress_test() {
        let sem = Arc::new(Semaphore::new(5));
        let tasks: Vec<_> = (0..1_000)
            .map(|i| {
                let sem = sem.clone();
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        let _p = sem.acquire(1).await.unwrap();
                    } else {
                        let _p = sem.acquire_owned(1).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let held: Vec<_> = (0..5).map(|_| sem.try_acquire(1).unwrap()).collect();
        assert!(sem.try_acquire(1).is_err());
        drop(held);
    }
}

/// tokio `sync_semaphore::add_max_amount_permits`, `no_panic_at_maxpermits` and batch
/// `max_permits_doesnt_panic`: `MAX_PERMITS` is a valid capacity, reached by growing
/// too. (corral's `MAX_PERMITS` is `u64::MAX >> 2`, tokio's `usize::MAX >> 3`.)
#[test]
fn tokio_max_permits() {
    let s = Semaphore::new(0);
    s.set_capacity(Semaphore::MAX_PERMITS);
    assert_eq!(s.available(), Semaphore::MAX_PERMITS);
    let _ = Semaphore::new(Semaphore::MAX_PERMITS);
    let s = Semaphore::new(Semaphore::MAX_PERMITS - 1);
    s.set_capacity(s.capacity() + 1);
    let all = s.try_acquire(Semaphore::MAX_PERMITS).unwrap();
    assert_eq!(all.count(), Semaphore::MAX_PERMITS);
}

/// tokio `sync_semaphore::add_more_than_max_amount_permits1`: growing past
/// `MAX_PERMITS` panics.
#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn tokio_add_more_than_max_amount_permits1() {
    let s = Semaphore::new(1);
    s.set_capacity(Semaphore::MAX_PERMITS + 1);
}

/// tokio `sync_semaphore::add_more_than_max_amount_permits2`: growing by one past
/// `MAX_PERMITS` panics (corral: `set_capacity` takes the total, so the overflow of
/// `capacity + 1` is the caller's; the semaphore refuses the value).
#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn tokio_add_more_than_max_amount_permits2() {
    let s = Semaphore::new(Semaphore::MAX_PERMITS - 1);
    s.set_capacity(s.capacity() + 1);
    s.set_capacity(s.capacity() + 1);
}

/// tokio `sync_semaphore::panic_when_exceeds_maxpermits` and batch
/// `validates_max_permits`: a capacity above `MAX_PERMITS` panics.
#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn tokio_panic_when_exceeds_maxpermits() {
    let _ = Semaphore::new(Semaphore::MAX_PERMITS + 1);
}

/// tokio `sync_semaphore::blocking_acquire_waits_for_permit` (and `blocking_acquire*`).
/// Deliberate difference: corral has no `blocking_acquire`; its futures need no
/// runtime, so a plain thread blocks on one with any executor (here tokio-test's
/// `block_on`). The thread waits until a permit is added.
#[test]
fn tokio_blocking_acquire_waits_for_permit() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire_owned(1).unwrap();
    let thread = std::thread::spawn({
        let sem = sem.clone();
        move || tokio_test::block_on(sem.acquire_owned(1)).map(|p| p.count())
    });
    eventually_blocking("thread queued", || sem.waiters() == 1);
    drop(held);
    assert_eq!(thread.join().unwrap(), Ok(1));
    assert_eq!(sem.available(), 1);
}

// ---------------------------------------------------------------------------------
// tokio: src/sync/tests/semaphore_batch.rs (deterministic polls, tokio-test)
// ---------------------------------------------------------------------------------

/// tokio batch `poll_acquire_one_available`, `poll_acquire_many_available`,
/// `try_acquire_one_available`, `try_acquire_many_available`.
#[test]
fn tokio_batch_acquire_available() {
    let s = Semaphore::new(100);
    let p1 = assert_ready_ok!(spawn(s.acquire(1)).poll());
    assert_eq!(s.available(), 99);
    let p5 = assert_ready_ok!(spawn(s.acquire(5)).poll());
    let p5b = assert_ready_ok!(spawn(s.acquire(5)).poll());
    assert_eq!(s.available(), 89);
    let t1 = s.try_acquire(1).unwrap();
    let t5 = s.try_acquire(5).unwrap();
    assert_eq!(s.available(), 83);
    drop((p1, p5, p5b, t1, t5));
    assert_eq!(s.available(), 100);
}

/// tokio batch `poll_acquire_one_unavailable`: the waiter for the only permit is woken
/// when it is released and gets it; a second release makes one available.
#[test]
fn tokio_batch_poll_acquire_one_unavailable() {
    let s = Semaphore::new(1);
    let first = assert_ready_ok!(spawn(s.acquire(1)).poll());
    assert_eq!(s.available(), 0);
    let mut acquire_2 = spawn(s.acquire(1));
    assert_pending!(acquire_2.poll());
    assert_eq!(s.available(), 0);
    drop(first);
    assert_eq!(s.available(), 0);
    assert!(acquire_2.is_woken());
    let second = assert_ready_ok!(acquire_2.poll());
    assert_eq!(s.available(), 0);
    drop(second);
    assert_eq!(s.available(), 1);
}

/// tokio batch `poll_acquire_many_unavailable`: FIFO order of a 5 and a 3 behind one
/// held permit; neither is woken before its whole request fits. Deliberate difference:
/// tokio assigns released permits to the head waiter bit by bit, so its
/// `available_permits()` reads 0 while anyone waits; corral grants a waiter only its
/// whole request at once, and `available()` shows the free permits (documented:
/// "Queued waiters may be owed them"), which `try_acquire` still cannot take.
#[test]
fn tokio_batch_poll_acquire_many_unavailable() {
    let s = Semaphore::new(5);
    let mut one = assert_ready_ok!(spawn(s.acquire(1)).poll());
    assert_eq!(s.available(), 4);
    let mut acquire_2 = spawn(s.acquire(5));
    assert_pending!(acquire_2.poll());
    assert_eq!(s.available(), 4); // tokio: 0
    let mut acquire_3 = spawn(s.acquire(3));
    assert_pending!(acquire_3.poll());
    assert!(s.try_acquire(1).is_err(), "no barging past the queue");
    drop(one.split(1).unwrap()); // tokio: release(1); here the last held permit, split off
    assert!(acquire_2.is_woken());
    let five = assert_ready_ok!(acquire_2.poll());
    assert!(!acquire_3.is_woken());
    assert_eq!(s.available(), 0);
    let mut five = five;
    drop(five.split(1).unwrap());
    assert!(!acquire_3.is_woken());
    assert_eq!(s.available(), 1); // tokio: 0 (assigned to acquire_3)
    drop(five.split(2).unwrap());
    assert!(acquire_3.is_woken());
    let three = assert_ready_ok!(acquire_3.poll());
    assert_eq!(three.count(), 3);
    drop((one, five, three));
    assert_eq!(s.available(), 5);
}

/// tokio batch `try_acquire_one_unavailable` and `try_acquire_many_unavailable`.
#[test]
fn tokio_batch_try_acquire_unavailable() {
    let s = Semaphore::new(1);
    let p = s.try_acquire(1).unwrap();
    assert!(s.try_acquire(1).is_err());
    drop(p);
    assert_eq!(s.available(), 1);
    drop(s.try_acquire(1).unwrap());
    assert_eq!(s.available(), 1);

    let s = Semaphore::new(5);
    let p = s.try_acquire(1).unwrap();
    assert_eq!(s.available(), 4);
    assert!(s.try_acquire(5).is_err());
    drop(p);
    assert_eq!(s.available(), 5);
    let mut p = s.try_acquire(5).unwrap();
    drop(p.split(1).unwrap());
    assert_eq!(s.available(), 1);
    drop(p.split(1).unwrap());
    assert_eq!(s.available(), 2);
}

/// tokio batch `poll_acquire_one_zero_permits`: on a capacity-0 semaphore tokio's
/// `acquire(1)` waits for `release(1)`. Deliberate difference: in corral capacity 0
/// means no permit exists, so `acquire(1)` fails at once with `TooLarge`; a waiter
/// that queued while the capacity was larger is woken by growing it back.
#[test]
fn tokio_batch_poll_acquire_one_zero_permits() {
    let s = Semaphore::new(0);
    assert_eq!(
        assert_ready_err!(spawn(s.acquire(1)).poll()),
        AcquireError::TooLarge {
            requested: 1,
            capacity: 0
        }
    );
    let s = Semaphore::new(1);
    let held = s.try_acquire(1).unwrap();
    let mut acquire = spawn(s.acquire(1));
    assert_pending!(acquire.poll());
    held.forget(); // capacity 0: the waiter can never fit and fails
    assert!(acquire.is_woken());
    assert_eq!(
        assert_ready_err!(acquire.poll()),
        AcquireError::TooLarge {
            requested: 1,
            capacity: 0
        }
    );
}

/// tokio batch `close_semaphore_prevents_acquire`: a closed semaphore refuses acquires
/// and keeps its free permits.
#[test]
fn tokio_batch_close_semaphore_prevents_acquire() {
    let s = Semaphore::new(5);
    s.close();
    assert_eq!(s.available(), 5);
    assert_eq!(
        assert_ready_err!(spawn(s.acquire(1)).poll()),
        AcquireError::Closed
    );
    assert_eq!(s.available(), 5);
    assert_eq!(
        assert_ready_err!(spawn(s.acquire(1)).poll()),
        AcquireError::Closed
    );
    assert_eq!(s.available(), 5);
}

/// tokio batch `close_semaphore_notifies_permit1` and `close_semaphore_notifies_permit2`:
/// closing wakes every waiter with an error; held permits stay valid and return to the
/// (still closed) semaphore. (permit1 uses a capacity-0 semaphore in tokio; in corral
/// that request fails at once, so the waiter queues behind a held permit.)
#[test]
fn tokio_batch_close_semaphore_notifies_waiters() {
    let s = Semaphore::new(2);
    let p1 = assert_ready_ok!(spawn(s.acquire(1)).poll());
    let p2 = assert_ready_ok!(spawn(s.acquire(1)).poll());
    let mut acquire3 = spawn(s.acquire(1));
    let mut acquire4 = spawn(s.acquire(1));
    assert_pending!(acquire3.poll());
    assert_pending!(acquire4.poll());
    s.close();
    assert!(acquire3.is_woken());
    assert!(acquire4.is_woken());
    assert_eq!(assert_ready_err!(acquire3.poll()), AcquireError::Closed);
    assert_eq!(assert_ready_err!(acquire4.poll()), AcquireError::Closed);
    assert_eq!(s.available(), 0);
    drop(p1);
    assert_eq!(s.available(), 1);
    assert_ready_err!(spawn(s.acquire(1)).poll());
    drop(p2);
    assert_eq!(s.available(), 2);
    assert_eq!(s.waiters(), 0);
}

rt_test! {
    /// tokio batch `close_semaphore_notifies_permit1`, across tasks: a task waiting on
    /// a semaphore that another task closes gets `Closed`.
    async fn tokio_close_wakes_a_waiting_task_with_an_error() {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned(1).unwrap();
        let waiter = tokio::spawn({
            let sem = sem.clone();
            async move { sem.acquire_owned(1).await.map(drop) }
        });
        eventually("waiter queued", || sem.waiters() == 1).await;
        sem.close();
        assert_eq!(waiter.await.unwrap(), Err(AcquireError::Closed));
        drop(held);
        assert_eq!(sem.available(), 1);
    }
}

/// tokio batch `cancel_acquire_releases_permits`: dropping a queued acquire gives back
/// everything, so the remaining free permits can be taken. (tokio's head waiter holds
/// the permits assigned so far, so its `available_permits()` reads 0 while it waits;
/// corral's reads 6, see `tokio_batch_poll_acquire_many_unavailable`.)
#[test]
fn tokio_batch_cancel_acquire_releases_permits() {
    let s = Semaphore::new(10);
    let _held = s.try_acquire(4).unwrap();
    assert_eq!(s.available(), 6);
    let mut acquire = spawn(s.acquire(8));
    assert_pending!(acquire.poll());
    assert_eq!(s.available(), 6); // tokio: 0
    drop(acquire);
    assert_eq!((s.available(), s.waiters()), (6, 0));
    assert!(s.try_acquire(6).is_ok());
}

/// A waker that holds an owned permit of the semaphore it waits on, so dropping the
/// waker releases a permit (tokio batch `release_permits_at_drop`'s `ReleaseOnDrop`).
struct ReleaseOnDrop(#[allow(dead_code)] Option<OwnedPermit>);

impl Wake for ReleaseOnDrop {
    fn wake(self: Arc<Self>) {}
}

/// Runs `f` on its own thread and fails (instead of hanging the suite) if it never
/// returns: a deadlock is the failure these tests look for.
fn without_deadlock(what: &'static str, f: impl FnOnce() + Send + 'static) {
    let done = Arc::new(AtomicBool::new(false));
    let thread = std::thread::spawn({
        let done = done.clone();
        move || {
            f();
            done.store(true, SeqCst);
        }
    });
    eventually_blocking(what, || done.load(SeqCst) || thread.is_finished());
    thread.join().unwrap();
}

/// tokio batch `release_permits_at_drop` (tokio-rs/tokio#5475, "drop wakers outside
/// lock in semaphore"): a waker whose drop
/// releases a permit of the same semaphore. Re-polling a queued acquire with a new
/// waker drops the old one; that must not deadlock on the semaphore's own lock.
#[test]
fn tokio_batch_release_permits_at_drop() {
    without_deadlock("re-polling with a new waker deadlocked", || {
        let sem = Arc::new(Semaphore::new(1));
        let mut fut = Box::pin(sem.acquire(1));
        // First poll: the waker holds the only permit, so the acquire queues behind
        // it. Second poll: the new waker replaces it; dropping it releases the permit.
        for _ in 0..=1 {
            let waker = Waker::from(Arc::new(ReleaseOnDrop(sem.try_acquire_owned(1).ok())));
            let mut cx = Context::from_waker(&waker);
            if let Poll::Ready(permit) = fut.as_mut().poll(&mut cx) {
                drop(permit.unwrap());
                break;
            }
        }
        drop(fut);
        assert_eq!(sem.available(), 1);
    });
}

/// As `tokio_batch_release_permits_at_drop`, when a queued acquire is dropped (its
/// stored waker goes with its slot); tokio drops a cancelled waiter's waker outside
/// its lock too.
#[test]
fn tokio_batch_release_permits_at_drop_when_the_waiter_leaves() {
    without_deadlock("dropping a queued acquire deadlocked", || {
        let sem = Arc::new(Semaphore::new(2));
        let other = sem.try_acquire_owned(1).unwrap();
        let behind = sem.clone();
        let mut fut = Box::pin(sem.acquire(2));
        let waker = Waker::from(Arc::new(ReleaseOnDrop(sem.try_acquire_owned(1).ok())));
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(waker); // the queue holds the last clone
        let mut second = spawn(behind.acquire(1));
        assert_pending!(second.poll());
        drop(fut); // drops the stored waker, which releases a permit
        drop(other);
        assert!(second.is_woken());
        drop(assert_ready_ok!(second.poll()));
        assert_eq!(sem.available(), 2);
    });
}

/// As `tokio_batch_release_permits_at_drop`, for `PollSemaphore` switching its request
/// (the queued one is withdrawn, and its stored waker dropped).
#[test]
fn tokio_batch_release_permits_at_drop_when_a_poll_semaphore_switches() {
    without_deadlock("PollSemaphore switching requests deadlocked", || {
        let sem = Arc::new(Semaphore::new(2));
        let mut poll = corral_semaphore::PollSemaphore::new(sem.clone());
        let other = sem.try_acquire_owned(1).unwrap();
        let waker = Waker::from(Arc::new(ReleaseOnDrop(sem.try_acquire_owned(1).ok())));
        assert!(poll
            .poll_acquire(&mut Context::from_waker(&waker), 2)
            .is_pending());
        drop(waker);
        // A different request withdraws the queued one, dropping its stored waker.
        let got = poll.poll_acquire(&mut Context::from_waker(Waker::noop()), 1);
        assert_eq!(assert_ready_ok!(got).count(), 1);
        drop(other);
        drop(poll);
        assert_eq!(sem.available(), 2);
    });
}

/// tokio batch `update_permits_many_times`: a waiter for more than the initial
/// permits is granted once enough are added, then the rest are forgotten. Deliberate
/// difference: in corral a request above the capacity fails at once, so the waiter
/// asks for 7 of a capacity-7 semaphore and queues behind 2 held permits; "adding"
/// is growing the capacity and "forgetting" is shrinking it.
#[test]
fn tokio_batch_update_permits_many_times() {
    let s = Semaphore::new(7);
    let held = s.try_acquire(2).unwrap();
    let mut acquire = spawn(s.acquire(7));
    assert_pending!(acquire.poll());
    s.set_capacity(10); // tokio: release(5) on a semaphore of 5
    assert!(acquire.is_woken());
    let seven = assert_ready_ok!(acquire.poll());
    assert_eq!(s.available(), 1);
    drop(held);
    assert_eq!(s.available(), 3);
    s.set_capacity(7); // tokio: forget_permits(3)
    assert_eq!(s.available(), 0);
    drop(seven);
    assert_eq!(s.available(), 7);
}

rt_test! {
    /// tokio: permits come back when the task holding them is aborted or panics (the
    /// RAII guard is dropped with the task), and a waiting task aborted mid-wait
    /// leaves the queue.
    async fn tokio_permits_returned_on_drop() {
        let sem = Arc::new(Semaphore::new(2));
        let holder = tokio::spawn({
            let sem = sem.clone();
            async move {
                let _p = sem.acquire_owned(2).await.unwrap();
                std::future::pending::<()>().await;
            }
        });
        eventually("holder has its permits", || sem.available() == 0).await;
        let waiter = tokio::spawn({
            let sem = sem.clone();
            async move { sem.acquire_owned(1).await.map(drop) }
        });
        eventually("waiter queued", || sem.waiters() == 1).await;
        waiter.abort();
        assert!(waiter.await.unwrap_err().is_cancelled());
        assert_eq!(sem.waiters(), 0);
        holder.abort();
        assert!(holder.await.unwrap_err().is_cancelled());
        assert_eq!(sem.available(), 2);
        let panicker = tokio::spawn({
            let sem = sem.clone();
            async move {
                let _p = sem.acquire_owned(1).await.unwrap();
                panic!("holding a permit");
            }
        });
        assert!(panicker.await.unwrap_err().is_panic());
        assert_eq!(sem.available(), 2);
    }
}

/// A deadline expiring at the head of the queue (Go: a context timeout while queued)
/// lets the waiters behind it through, like a cancelled head. Paused time.
#[tokio::test(start_paused = true)]
async fn go_timed_out_head_wakes_the_waiters_behind_it() {
    let sem = Arc::new(Semaphore::new(4));
    let held = sem.try_acquire_owned(2).unwrap();
    let head = tokio::spawn({
        let sem = sem.clone();
        async move {
            sem.acquire_timeout(4, Duration::from_millis(10))
                .await
                .map(drop)
        }
    });
    while sem.waiters() < 1 {
        tokio::task::yield_now().await;
    }
    let behind = tokio::spawn({
        let sem = sem.clone();
        async move { sem.acquire_owned(2).await.map(|p| p.count()) }
    });
    while sem.waiters() < 2 {
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        head.await.unwrap(),
        Err(AcquireTimeoutError::Timeout { requested: 4, .. })
    ));
    assert_eq!(behind.await.unwrap(), Ok(2));
    drop(held);
    assert_eq!(sem.available(), 4);
}

/// tokio batch `poll_acquire_one_unavailable`, for the owned future.
#[test]
fn tokio_batch_poll_acquire_owned_available_and_unavailable() {
    let s = Arc::new(Semaphore::new(1));
    let p = assert_ready!(spawn(s.acquire_owned(1)).poll()).unwrap();
    let mut waiting = spawn(s.acquire_owned(1));
    assert_pending!(waiting.poll());
    drop(p);
    assert!(waiting.is_woken());
    assert_eq!(assert_ready_ok!(waiting.poll()).count(), 1);
}

// ---------------------------------------------------------------------------------
// tokio-util: tests/poll_semaphore.rs (corral's `PollSemaphore` is tokio-util's
// `PollSemaphore` with a weight on every poll)
// ---------------------------------------------------------------------------------

/// Polls `sem` for `n` permits once, in a tokio-test task.
fn poll_once(
    sem: &mut corral_semaphore::PollSemaphore,
    n: u64,
) -> Poll<Result<OwnedPermit, AcquireError>> {
    spawn(std::future::poll_fn(|cx| sem.poll_acquire(cx, n))).poll()
}

/// tokio-util `poll_semaphore::it_works`: a pending poll is granted once the holder
/// drops its permit; after `close` every poll fails, again and again. Difference:
/// tokio-util yields `None` when closed, corral `Err(Closed)`.
#[tokio::test]
async fn tokio_util_poll_semaphore_it_works() {
    let sem = Arc::new(Semaphore::new(1));
    let mut poll_sem = corral_semaphore::PollSemaphore::new(sem.clone());
    let permit = sem.acquire(1).await.unwrap();
    let mut poll = spawn(std::future::poll_fn(|cx| poll_sem.poll_acquire(cx, 1)));
    assert_pending!(poll.poll());
    drop(permit);
    assert!(poll.is_woken());
    drop(assert_ready_ok!(poll.poll()));
    drop(poll);
    sem.close();
    for _ in 0..3 {
        assert_eq!(
            assert_ready_err!(poll_once(&mut poll_sem, 1)),
            AcquireError::Closed
        );
    }
}

/// tokio-util `poll_semaphore::can_acquire_many_permits`.
#[test]
fn tokio_util_poll_semaphore_can_acquire_many_permits() {
    let sem = Arc::new(Semaphore::new(4));
    let mut poll_sem = corral_semaphore::PollSemaphore::new(sem.clone());
    let permit1 = assert_ready_ok!(poll_once(&mut poll_sem, 1));
    let permit2 = assert_ready_ok!(poll_once(&mut poll_sem, 2));
    assert_eq!(sem.available(), 1);
    drop(permit2);
    let mut permit4 = spawn(std::future::poll_fn(|cx| poll_sem.poll_acquire(cx, 4)));
    assert_pending!(permit4.poll());
    drop(permit1);
    assert!(permit4.is_woken());
    let four = assert_ready_ok!(permit4.poll());
    assert_eq!((four.count(), sem.available()), (4, 0));
}

/// tokio-util `poll_semaphore::can_poll_different_amounts_of_permits`: polling with
/// another amount replaces the request. Deliberate difference: a request for more
/// than the capacity (5 of 4) fails at once with `TooLarge` instead of pending for
/// ever, and still withdraws the queued request it replaces.
#[test]
fn tokio_util_poll_semaphore_can_poll_different_amounts_of_permits() {
    let too_large = AcquireError::TooLarge {
        requested: 5,
        capacity: 4,
    };
    let sem = Arc::new(Semaphore::new(4));
    let mut poll_sem = corral_semaphore::PollSemaphore::new(sem.clone());
    assert_eq!(assert_ready_err!(poll_once(&mut poll_sem, 5)), too_large);
    drop(assert_ready_ok!(poll_once(&mut poll_sem, 4)));
    let permit = sem.try_acquire(4).unwrap();
    assert_eq!(assert_ready_err!(poll_once(&mut poll_sem, 5)), too_large);
    assert_pending!(poll_once(&mut poll_sem, 4));
    assert!(poll_sem.is_queued());
    assert_eq!(assert_ready_err!(poll_once(&mut poll_sem, 5)), too_large);
    assert!(!poll_sem.is_queued(), "the queued request was withdrawn");
    drop(permit);
    assert_eq!(assert_ready_err!(poll_once(&mut poll_sem, 5)), too_large);
    let four = assert_ready_ok!(poll_once(&mut poll_sem, 4));
    assert_eq!((four.count(), sem.available(), sem.waiters()), (4, 0, 0));
}

// ---------------------------------------------------------------------------------
// tokio: src/sync/tests/loom_semaphore_batch.rs, as seeded rounds on OS threads (the
// crate's own loom models run the shipped engine; these run the public API under a
// real scheduler, many times)
// ---------------------------------------------------------------------------------

/// Spins for a random short while, so the threads of a round meet at varying points.
fn jitter(rng: &mut Rng) {
    for _ in 0..rng.below(64) {
        std::hint::spin_loop();
    }
    if rng.below(4) == 0 {
        std::thread::yield_now();
    }
}

/// tokio loom `concurrent_cancel`: three threads each poll two acquires once and drop
/// them (a timeout's cancellation), while the permits they wait for are released.
/// Nothing is lost: every permit is back and nobody is queued. (tokio starts from 0
/// permits and adds 10; in corral a request above the capacity fails at once, so the
/// 10 are held and then released.)
#[test]
fn tokio_loom_concurrent_cancel() {
    let mut rng = Rng(0xca4ce1);
    for round in 0..1_000 {
        let sem = Arc::new(Semaphore::new(10));
        let held = sem.try_acquire_owned(10).unwrap();
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let (sem, seed) = (sem.clone(), rng.next() ^ t);
                std::thread::spawn(move || {
                    let mut rng = Rng(seed);
                    let mut cx = Context::from_waker(Waker::noop());
                    for _ in 0..2 {
                        jitter(&mut rng);
                        let mut acquire = sem.acquire(1);
                        let _ = std::pin::Pin::new(&mut acquire).poll(&mut cx);
                    }
                })
            })
            .collect();
        jitter(&mut rng);
        drop(held);
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!((sem.available(), sem.waiters()), (10, 0), "round {round}");
    }
}

/// tokio loom `concurrent_close` and `basic_closing`: threads acquire, release and close
/// concurrently; every acquire either gets its permit or fails with `Closed`, nobody
/// hangs, and the permit is back at the end.
#[test]
fn tokio_loom_concurrent_close() {
    let mut rng = Rng(0xc105e);
    for round in 0..500 {
        let sem = Arc::new(Semaphore::new(1));
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let (sem, seed) = (sem.clone(), rng.next() ^ t);
                std::thread::spawn(move || {
                    let mut rng = Rng(seed);
                    jitter(&mut rng);
                    for _ in 0..2 {
                        match tokio_test::block_on(sem.acquire(1)) {
                            Ok(permit) => {
                                jitter(&mut rng);
                                drop(permit);
                            }
                            Err(err) => return assert_eq!(err, AcquireError::Closed),
                        }
                    }
                    sem.close();
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(sem.is_closed(), "round {round}");
        assert_eq!((sem.available(), sem.waiters()), (1, 0), "round {round}");
    }
}

/// tokio loom `batch` and `basic_usage`: two threads take 4, 10 and 8 of 10 permits in
/// turn; the weight held never exceeds 10 and all of it is back at the end.
#[test]
fn tokio_loom_batch() {
    let mut rng = Rng(0xba7c4);
    for round in 0..300 {
        let sem = Arc::new(Semaphore::new(10));
        let active = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let (sem, active, seed) = (sem.clone(), active.clone(), rng.next() ^ t);
                std::thread::spawn(move || {
                    let mut rng = Rng(seed);
                    for n in [4, 10, 8] {
                        let permit = tokio_test::block_on(sem.acquire(n)).unwrap();
                        let now = active.fetch_add(n, SeqCst) + n;
                        assert!(now <= 10, "round {round}: {now} active");
                        jitter(&mut rng);
                        active.fetch_sub(n, SeqCst);
                        drop(permit);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!((sem.available(), sem.waiters()), (10, 0), "round {round}");
    }
}

/// tokio loom `release_during_acquire`: 8 of 10 held, a thread waits for 4 while the 8
/// are released; it gets them and all 10 are back.
#[test]
fn tokio_loom_release_during_acquire() {
    let mut rng = Rng(0x4e1ea5e);
    for round in 0..1_000 {
        let sem = Arc::new(Semaphore::new(10));
        let eight = sem.try_acquire_owned(8).unwrap();
        let thread = std::thread::spawn({
            let (sem, seed) = (sem.clone(), rng.next());
            move || {
                jitter(&mut Rng(seed));
                tokio_test::block_on(sem.acquire(4)).unwrap().count()
            }
        });
        jitter(&mut rng);
        drop(eight);
        assert_eq!(thread.join().unwrap(), 4, "round {round}");
        assert_eq!((sem.available(), sem.waiters()), (10, 0), "round {round}");
    }
}
