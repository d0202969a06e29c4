//! smol-rs/async-lock's own semaphore tests (`tests/semaphore.rs`), ported to corral's
//! API. async-lock's semaphore hands out one permit per acquire, so each port asks for
//! 1 unless the test is about weights. Its `try_acquire` test is tokio's (already in
//! `peers.rs`, `tokio_try_acquire_and_owned`), and its `acquire_blocking` smoke tests
//! are covered there by `tokio_blocking_acquire_waits_for_permit` (corral has no
//! blocking method; its futures run on any executor).
//!
//! How async-lock's operations map: `add_permits(n)` is growing the capacity by `n`
//! (`set_capacity`); `set_size` is `set_capacity`; `mem::forget(guard)` is
//! `Permit::forget`, which in corral also lowers the capacity (documented there).
#![cfg(feature = "tokio")]

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Wake, Waker};

use corral_semaphore::{PollSemaphore, Semaphore};
use corral_test_support::{Rng, GIVE_UP};
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

/// Waits for `count` messages, failing instead of hanging the suite if one never
/// comes. Not a timing assertion.
fn recv_all(rx: &mpsc::Receiver<()>, count: usize, what: &str) {
    for i in 0..count {
        rx.recv_timeout(GIVE_UP)
            .unwrap_or_else(|_| panic!("hung: {what} ({i} of {count} done)"));
    }
}

/// async-lock `stress`: 50 threads, each on its own executor, acquire and release one
/// of 5 permits many times (async-lock: 10,000 each; here 1,000, which keeps the run
/// to a second on two shared cores). Afterwards exactly 5 can be taken, and a dropped
/// one can be taken again. Adds what async-lock leaves implicit: no more than 5 are
/// ever held at once.
#[test]
fn async_lock_stress() {
    const THREADS: u64 = 50;
    const COUNT: u64 = 1_000;
    let sem = Arc::new(Semaphore::new(5));
    let held = Arc::new(AtomicU64::new(0));
    let (done, finished) = mpsc::channel();
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (sem, held, done) = (sem.clone(), held.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0xa5 ^ i);
                tokio_test::block_on(async {
                    for _ in 0..COUNT {
                        let permit = sem.acquire(1).await.unwrap();
                        let now = held.fetch_add(1, SeqCst) + 1;
                        assert!(now <= 5, "{now} held of 5");
                        if rng.below(4) == 0 {
                            tokio::task::yield_now().await;
                        }
                        held.fetch_sub(1, SeqCst);
                        drop(permit);
                    }
                });
                done.send(()).unwrap();
            })
        })
        .collect();
    recv_all(&finished, THREADS as usize, "stress");
    for thread in threads {
        thread.join().unwrap();
    }
    let _g1 = sem.try_acquire(1).unwrap();
    let g2 = sem.try_acquire(1).unwrap();
    let _g3 = sem.try_acquire(1).unwrap();
    let _g4 = sem.try_acquire(1).unwrap();
    let _g5 = sem.try_acquire(1).unwrap();
    assert!(sem.try_acquire(1).is_err());
    drop(g2);
    assert!(sem.try_acquire(1).is_ok());
}

/// async-lock `as_mutex`: a semaphore of 1 used as a mutex by two threads, each on
/// its own executor; both get it, in turn.
#[test]
fn async_lock_as_mutex() {
    let sem = Arc::new(Semaphore::new(1));
    let other = std::thread::spawn({
        let sem = sem.clone();
        move || tokio_test::block_on(async { drop(sem.acquire(1).await.unwrap()) })
    });
    tokio_test::block_on(async { drop(sem.acquire(1).await.unwrap()) });
    other.join().unwrap();
    assert_eq!(sem.available(), 1);
}

/// async-lock `multi_resource`: with 2 permits, two threads hold one each at the same
/// time (each waits, holding its permit, for the other to signal).
#[test]
fn async_lock_multi_resource() {
    let sem = Arc::new(Semaphore::new(2));
    let (tx1, rx1) = mpsc::channel();
    let (tx2, rx2) = mpsc::channel();
    let other = std::thread::spawn({
        let sem = sem.clone();
        move || {
            tokio_test::block_on(async {
                let _g = sem.acquire(1).await.unwrap();
                rx2.recv_timeout(GIVE_UP)
                    .expect("hung: the main thread's permit");
                tx1.send(()).unwrap();
            })
        }
    });
    tokio_test::block_on(async {
        let _g = sem.acquire(1).await.unwrap();
        tx2.send(()).unwrap();
        rx1.recv_timeout(GIVE_UP)
            .expect("hung: the other thread's permit");
    });
    other.join().unwrap();
    assert_eq!(sem.available(), 2);
}

/// async-lock `lifetime`: an owned acquire future keeps the semaphore alive after
/// every other handle is gone, and still works: polled, it takes a permit from the
/// semaphore it keeps; dropped while queued, it withdraws and frees the semaphore.
#[test]
fn async_lock_lifetime() {
    let fut = {
        let sem = Arc::new(Semaphore::new(2));
        sem.acquire_owned(1)
    };
    let mut fut = spawn(fut);
    let permit = assert_ready_ok!(fut.poll());
    assert_eq!(permit.semaphore().available(), 1);
    assert_eq!(Arc::strong_count(permit.semaphore()), 1);

    // Queued, with only the future (and a permit) holding the semaphore.
    let weak = Arc::downgrade(permit.semaphore());
    let mut queued = spawn(permit.semaphore().clone().acquire_owned(2));
    assert_pending!(queued.poll());
    drop(permit);
    assert!(queued.is_woken());
    let both = assert_ready_ok!(queued.poll());
    drop(queued);
    assert_eq!(both.count(), 2);
    drop(both);
    assert!(
        weak.upgrade().is_none(),
        "the semaphore outlived its last handle"
    );
}

/// A waker that records that it was woken (async-lock's `waker_fn` flag).
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

/// async-lock `check_yields_when_contended`: with the only permit held, an acquire
/// returns `Pending` (it does not spin); dropping the holder wakes it, and the next
/// poll is ready.
fn check_yields_when_contended<G, F: Future>(holder: G, acquire: F) {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut acquire = pin!(acquire);
    assert!(acquire.as_mut().poll(&mut cx).is_pending());
    drop(holder);
    assert!(flag.0.load(SeqCst), "not woken by the release");
    assert!(acquire.poll(&mut cx).is_ready());
}

/// async-lock `yields_when_contended`, for the borrowed and owned acquires as
/// async-lock has them, plus corral's timed and poll-style ones.
#[tokio::test]
async fn async_lock_yields_when_contended() {
    let sem = Arc::new(Semaphore::new(1));
    check_yields_when_contended(sem.try_acquire(1).unwrap(), sem.acquire(1));
    check_yields_when_contended(sem.try_acquire_owned(1).unwrap(), sem.acquire_owned(1));
    let long = std::time::Duration::from_secs(3_600);
    check_yields_when_contended(sem.try_acquire(1).unwrap(), sem.acquire_timeout(1, long));
    check_yields_when_contended(
        sem.try_acquire(1).unwrap(),
        sem.acquire_owned_timeout(1, long),
    );
    let mut poll = PollSemaphore::new(sem.clone());
    check_yields_when_contended(
        sem.try_acquire(1).unwrap(),
        poll_fn(|cx| poll.poll_acquire(cx, 1)),
    );
    assert_eq!((sem.available(), sem.waiters()), (1, 0));
}

/// async-lock `add_permits`: 50 threads wait on a semaphore, each keeps the permit it
/// gets (`mem::forget` there, `forget` here); adding 50 permits lets all of them
/// through. async-lock starts from 0 permits; in corral a request above the capacity
/// fails at once, so the semaphore has 1 permit, held, and "adding 50" is growing the
/// capacity to 51. Each `forget` lowers the capacity again while other threads still
/// wait: none of them may be refused or stranded, and the capacity ends at 1.
#[test]
fn async_lock_add_permits() {
    const THREADS: usize = 50;
    let counter = Arc::new(AtomicU64::new(0));
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire_owned(1).unwrap();
    let (done, finished) = mpsc::channel();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (sem, counter, done) = (sem.clone(), counter.clone(), done.clone());
            std::thread::spawn(move || {
                tokio_test::block_on(async {
                    sem.acquire(1).await.unwrap().forget();
                    counter.fetch_add(1, SeqCst);
                });
                done.send(()).unwrap();
            })
        })
        .collect();
    corral_test_support::eventually_blocking("every thread queues", || sem.waiters() == THREADS);
    assert_eq!(counter.load(SeqCst), 0);
    sem.set_capacity(1 + THREADS as u64);
    recv_all(&finished, THREADS, "add_permits");
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(counter.load(SeqCst), THREADS as u64);
    assert_eq!((sem.capacity(), sem.available(), sem.waiters()), (1, 0, 0));
    drop(held);
    assert_eq!(sem.available(), 1);
}

rt_test! {
    /// async-lock `add_permits`, as tasks of one runtime, with the permits added in
    /// seeded random steps after some waiters were cancelled (their tasks aborted):
    /// every waiter left is let through, each by a permit added for it. The tasks hand
    /// their permits to the main task instead of forgetting them, so only the main task
    /// changes the capacity: `set_capacity(capacity() + n)` is a read-modify-write,
    /// and a concurrent `forget` between the read and the write would be undone (see
    /// `set_capacity`'s docs).
    async fn async_lock_add_permits_tasks() {
        const TASKS: u64 = 20;
        let mut rng = Rng(0xadd);
        for round in 0..100 {
            let sem = Arc::new(Semaphore::new(1));
            let held = sem.try_acquire_owned(1).unwrap();
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    tokio::spawn(async move { sem.acquire_owned(1).await.unwrap() })
                })
                .collect();
            corral_test_support::eventually("every task queues", || {
                sem.waiters() == TASKS as usize
            })
            .await;
            let mut cancelled = 0;
            for task in &tasks {
                if rng.below(5) == 0 {
                    task.abort();
                    cancelled += 1;
                }
            }
            let wanted = TASKS - cancelled;
            let mut added = 0;
            while added < wanted {
                let n = 1 + rng.below(wanted - added);
                sem.set_capacity(sem.capacity() + n);
                added += n;
                tokio::task::yield_now().await;
            }
            let mut permits = Vec::new();
            for task in tasks {
                match tokio::time::timeout(GIVE_UP, task).await.expect("hung") {
                    Ok(permit) => permits.push(permit),
                    Err(e) => assert!(e.is_cancelled(), "round {round}: {e}"),
                }
            }
            // An aborted task was idle in the queue, so it is dropped without being
            // polled again; a grant that reached it first is handed back to the next.
            assert_eq!(permits.len() as u64, wanted, "round {round}");
            let books = (sem.capacity(), sem.available(), sem.waiters());
            assert_eq!(books, (1 + wanted, 0, 0), "round {round}");
            drop((permits, held));
            assert_eq!(sem.available(), 1 + wanted, "round {round}");
        }
    }
}

/// async-lock `add_permits_2`: two acquires wait on a semaphore; adding one permit
/// grants the first, and the second keeps waiting. (Capacity 1, held, grown to 2.)
#[test]
fn async_lock_add_permits_2() {
    let sem = Semaphore::new(1);
    let _held = sem.try_acquire(1).unwrap();
    let mut first = spawn(sem.acquire(1));
    let mut second = spawn(sem.acquire(1));
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    sem.set_capacity(2);
    let _g = assert_ready_ok!(first.poll());
    assert_pending!(second.poll());
    assert!(!second.is_woken());
}

/// async-lock `set_size_shrink`: 2 permits, both held, a third acquire waits; the size
/// shrinks to 1; the waiter stays pending when the second holder leaves (its permit
/// goes to the shrink) and is granted when the first leaves.
#[test]
fn async_lock_set_size_shrink() {
    let sem = Semaphore::new(2);
    let g1 = sem.try_acquire(1).unwrap();
    let g2 = sem.try_acquire(1).unwrap();
    let mut third = spawn(sem.acquire(1));
    assert_pending!(third.poll());
    sem.set_capacity(1);
    assert_pending!(third.poll());
    drop(g2);
    assert_pending!(third.poll());
    drop(g1);
    assert!(third.is_woken());
    let g3 = assert_ready_ok!(third.poll());
    assert_eq!((sem.capacity(), sem.available()), (1, 0));
    drop(g3);
    assert_eq!(sem.available(), 1);
}

/// async-lock `set_size_grow`: 2 permits, both held, a third acquire waits; growing
/// to 3 grants it at once.
#[test]
fn async_lock_set_size_grow() {
    let sem = Semaphore::new(2);
    let _g1 = sem.try_acquire(1).unwrap();
    let _g2 = sem.try_acquire(1).unwrap();
    let mut third = spawn(sem.acquire(1));
    assert_pending!(third.poll());
    sem.set_capacity(3);
    assert!(third.is_woken());
    let _g3 = assert_ready_ok!(third.poll());
}

/// async-lock `set_size_try_acquire_shrink`: 2 held, shrunk to 1; `try_acquire` fails
/// until both holders are gone (the first return pays the shrink).
#[test]
fn async_lock_set_size_try_acquire_shrink() {
    let sem = Semaphore::new(2);
    let g1 = sem.try_acquire(1).unwrap();
    let g2 = sem.try_acquire(1).unwrap();
    sem.set_capacity(1);
    assert!(sem.try_acquire(1).is_err());
    drop(g1);
    assert!(sem.try_acquire(1).is_err());
    drop(g2);
    assert!(sem.try_acquire(1).is_ok());
}

/// async-lock `set_size_try_acquire_grow`: 1 held; growing to 2 lets `try_acquire`
/// succeed.
#[test]
fn async_lock_set_size_try_acquire_grow() {
    let sem = Semaphore::new(1);
    let _g1 = sem.try_acquire(1).unwrap();
    assert!(sem.try_acquire(1).is_err());
    sem.set_capacity(2);
    assert!(sem.try_acquire(1).is_ok());
}

rt_test! {
    /// async-lock `set_size_shrink` and `set_size_grow` under load: tasks hold and
    /// release one permit each while the size moves between 1 and 6 at random
    /// (seeded). No more than 6 are ever held at once, every task keeps getting
    /// permits, and at the end every permit is back and nobody waits.
    async fn async_lock_set_size_under_load() {
        const TASKS: u64 = 8;
        const MOST: u64 = 6;
        let sem = Arc::new(Semaphore::new(4));
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicU64::new(0));
        let got = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let (sem, stop) = (sem.clone(), stop.clone());
                let (held, got) = (held.clone(), got.clone());
                tokio::spawn(async move {
                    let mut rng = Rng(0x5e7 ^ i);
                    while !stop.load(SeqCst) {
                        let p = sem.acquire(1).await.unwrap();
                        let now = held.fetch_add(1, SeqCst) + 1;
                        assert!(now <= MOST, "{now} held, the size never exceeds {MOST}");
                        got.fetch_add(1, SeqCst);
                        for _ in 0..rng.below(3) {
                            tokio::task::yield_now().await;
                        }
                        held.fetch_sub(1, SeqCst);
                        drop(p);
                    }
                })
            })
            .collect();
        let mut rng = Rng(0x512e);
        for step in 0..500 {
            sem.set_capacity(1 + rng.below(MOST));
            for _ in 0..rng.below(4) {
                tokio::task::yield_now().await;
            }
            if step % 100 == 99 {
                // Progress, whatever the size: the waiters are never stranded.
                let before = got.load(SeqCst);
                corral_test_support::eventually("permits keep flowing", || {
                    got.load(SeqCst) > before
                })
                .await;
            }
        }
        sem.set_capacity(4);
        stop.store(true, SeqCst);
        for task in tasks {
            tokio::time::timeout(GIVE_UP, task).await.expect("hung").unwrap();
        }
        assert_eq!((sem.capacity(), sem.available(), sem.waiters()), (4, 4, 0));
    }
}
