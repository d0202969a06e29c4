//! Loom models of corral-semaphore's public API: acquire/release, cancel at every
//! point, close, resize. Run with `RUSTFLAGS="--cfg corral_loom"`.
#![cfg(corral_loom)]

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use corral_semaphore::{AcquireError, PollSemaphore, Semaphore};
use loom::cell::UnsafeCell;
use loom::future::block_on;
use loom::thread;

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    std::pin::Pin::new(fut).poll(&mut cx)
}

#[test]
fn two_acquirers_one_permit() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                thread::spawn(move || {
                    let permit = block_on(sem.acquire(1)).unwrap();
                    assert_eq!(sem.available(), 0);
                    drop(permit);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn weighted_waiter_and_small_releases() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let a = sem.try_acquire_owned(1).unwrap();
        let b = sem.try_acquire_owned(1).unwrap();
        let ta = thread::spawn(move || drop(a));
        let tb = thread::spawn(move || drop(b));
        // Needs both permits: completes only once both releases were handed on.
        let both = block_on(sem.acquire(2)).unwrap();
        assert_eq!(both.count(), 2);
        drop(both);
        ta.join().unwrap();
        tb.join().unwrap();
        assert_eq!(sem.available(), 2);
    });
}

#[test]
fn cancel_while_queued_races_with_release() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned(1).unwrap();
        let releaser = thread::spawn(move || drop(held));
        {
            // Queued (or served at once), maybe granted by the racing release, polled
            // again, then dropped: whatever the interleaving, the permit comes back.
            let mut fut = sem.acquire(1);
            if let Poll::Ready(p) = poll_once(&mut fut) {
                drop(p.unwrap());
            } else if let Poll::Ready(p) = poll_once(&mut fut) {
                drop(p.unwrap());
            }
        }
        releaser.join().unwrap();
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn dropped_head_hands_on_to_the_waiter_behind() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let held = sem.try_acquire_owned(1).unwrap();
        let mut head = sem.acquire_owned(2);
        assert!(poll_once(&mut head).is_pending());
        let behind = {
            let sem = sem.clone();
            thread::spawn(move || {
                let p = block_on(sem.acquire(1)).unwrap();
                assert_eq!(p.count(), 1);
            })
        };
        // Dropping the head must wake `behind` (1 free fits it); otherwise loom
        // reports the blocked thread as a deadlock.
        drop(head);
        behind.join().unwrap();
        drop(held);
        assert_eq!(sem.available(), 2);
    });
}

#[test]
fn close_fails_a_blocked_waiter() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned(1).unwrap();
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || block_on(sem.acquire(1)).map(|p| p.count()))
        };
        sem.close();
        assert_eq!(waiter.join().unwrap(), Err(AcquireError::Closed));
        drop(held);
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn grow_and_shrink_race_with_release_and_waiter() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let held = sem.try_acquire_owned(2).unwrap();
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || block_on(sem.acquire(1)).map(|p| p.count()))
        };
        let releaser = thread::spawn(move || drop(held));
        sem.set_capacity(1);
        sem.set_capacity(3);
        assert_eq!(waiter.join().unwrap(), Ok(1));
        releaser.join().unwrap();
        assert_eq!(sem.capacity(), 3);
        assert_eq!(sem.available(), 3);
    });
}

#[test]
fn shrink_fails_a_waiter_that_no_longer_fits() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let held = sem.try_acquire_owned(1).unwrap();
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || block_on(sem.acquire(2)).map(|p| p.count()))
        };
        sem.set_capacity(1);
        drop(held);
        let result = waiter.join().unwrap();
        assert_eq!(
            result,
            Err(AcquireError::TooLarge {
                requested: 2,
                capacity: 1
            })
        );
        assert_eq!(sem.available(), 1);
    });
}

#[test]
fn try_acquire_never_loses_permits() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned(1).unwrap();
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || drop(block_on(sem.acquire(1)).unwrap()))
        };
        let releaser = thread::spawn(move || drop(held));
        if let Ok(p) = sem.try_acquire(1) {
            drop(p);
        }
        waiter.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn poll_semaphore_withdrawn_while_a_release_races() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned(1).unwrap();
        let mut poll_sem = PollSemaphore::new(Arc::clone(&sem));
        let mut cx = Context::from_waker(Waker::noop());
        let first = poll_sem.poll_acquire(&mut cx, 1);
        let releaser = thread::spawn(move || drop(held));
        match first {
            // Queued: poll once more (maybe granted by now), then withdraw by drop.
            Poll::Pending => {
                if let Poll::Ready(p) = poll_sem.poll_acquire(&mut cx, 1) {
                    drop(p.unwrap());
                }
            }
            Poll::Ready(p) => drop(p.unwrap()),
        }
        drop(poll_sem);
        releaser.join().unwrap();
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn head_cancel_release_and_waiter_all_race() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let mut h2 = sem.try_acquire_owned(2).unwrap();
        let h1 = h2.split(1).unwrap();
        let mut head = sem.acquire_owned(2);
        assert!(poll_once(&mut head).is_pending());
        let behind = {
            let sem = sem.clone();
            thread::spawn(move || drop(block_on(sem.acquire(1)).unwrap()))
        };
        let releaser = thread::spawn(move || drop(h1));
        // The head may be granted nothing (1 free is not 2) whatever the order; its
        // drop and the release together must let `behind` through.
        drop(head);
        behind.join().unwrap();
        releaser.join().unwrap();
        drop(h2);
        assert_eq!(sem.available(), 2);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn ticketed_and_unticketed_slots_under_cancel_and_release() {
    // Under loom only the first two waiter slots carry lock-free grant tickets, so the
    // third waiter here takes the locked grant path.
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned(1).unwrap();
        let mut first = sem.acquire_owned(1);
        let mut second = sem.acquire_owned(1);
        assert!(poll_once(&mut first).is_pending());
        assert!(poll_once(&mut second).is_pending());
        let third = {
            let sem = sem.clone();
            thread::spawn(move || drop(block_on(sem.acquire(1)).unwrap()))
        };
        let releaser = thread::spawn(move || drop(held));
        // Whether granted or still queued when dropped, the permit flows on to `third`.
        drop(first);
        drop(second);
        third.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn grantee_sees_the_releasers_writes_even_after_its_slot_is_reused() {
    // The waiter is granted (its ticketed slot is freed at once), another waiter reuses
    // the slot, and only then does the first waiter poll again, with a no-op waker so
    // no wake-up carries the ordering. It must still see what the releaser wrote
    // before returning the permit, as with a mutex.
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let data = loom::sync::Arc::new(UnsafeCell::new(0_u64));
        let held = sem.try_acquire_owned(1).unwrap();
        let mut first = sem.acquire_owned(1);
        assert!(poll_once(&mut first).is_pending());
        let releaser = {
            let data = data.clone();
            thread::spawn(move || {
                // SAFETY: this thread holds the only permit, which guards `data`.
                data.with_mut(|p| unsafe { *p = 1 });
                drop(held);
            })
        };
        let reuser = {
            let sem = sem.clone();
            thread::spawn(move || {
                let mut fut = sem.acquire(1);
                if let Poll::Ready(p) = poll_once(&mut fut) {
                    drop(p.unwrap());
                }
            })
        };
        // Let the others run first (loom schedules the yield's alternatives).
        thread::yield_now();
        if let Poll::Ready(permit) = poll_once(&mut first) {
            // SAFETY: we hold the only permit; loom reports a causality violation if
            // the releaser's write does not happen-before this read.
            assert_eq!(data.with(|p| unsafe { *p }), 1);
            drop(permit.unwrap());
        }
        drop(first);
        releaser.join().unwrap();
        reuser.join().unwrap();
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn capacity_one_guards_data_like_a_mutex() {
    // The `# Memory ordering` contract on every hand-off path (fast path, locked grant,
    // lock-free ticket): each holder's writes happen-before the next holder's reads.
    // Spinning with a no-op waker, so no wake-up adds an edge the semaphore lacks.
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let data = loom::sync::Arc::new(UnsafeCell::new(0_u64));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (sem, data) = (sem.clone(), data.clone());
                thread::spawn(move || {
                    let mut fut = sem.acquire(1);
                    let permit = loop {
                        match poll_once(&mut fut) {
                            Poll::Ready(p) => break p.unwrap(),
                            Poll::Pending => thread::yield_now(),
                        }
                    };
                    // SAFETY: the one permit guards `data`; loom reports a causality
                    // violation if the previous holder's write is not ordered before.
                    data.with_mut(|p| unsafe { *p += 1 });
                    drop(permit);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // SAFETY: both threads were joined.
        assert_eq!(data.with(|p| unsafe { *p }), 2);
        assert_eq!(sem.available(), 1);
    });
}

#[test]
fn a_release_after_close_is_seen_never_grants_an_earlier_waiter() {
    // `close` fails every waiter queued before it. A permit returned only after the
    // closure is visible must not slip to such a waiter while `close` is failing them.
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned(1).unwrap();
        let mut waiter = sem.acquire_owned(1);
        assert!(poll_once(&mut waiter).is_pending());
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || {
                while !sem.is_closed() {
                    thread::yield_now();
                }
                drop(held);
            })
        };
        sem.close();
        releaser.join().unwrap();
        match poll_once(&mut waiter) {
            Poll::Ready(result) => assert_eq!(result.map(|p| p.count()), Err(AcquireError::Closed)),
            Poll::Pending => panic!("a closed semaphore left a waiter queued"),
        }
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}
