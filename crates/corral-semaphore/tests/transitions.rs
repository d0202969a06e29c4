//! Deterministic poll tests for every transition of the semaphore.

use std::sync::Arc;

use corral_semaphore::{AcquireError, PollSemaphore, Semaphore, TryAcquireError};
use tokio_test::task::spawn;
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok};

#[test]
fn uncontended_acquire_and_release() {
    let sem = Semaphore::new(5);
    let mut a = spawn(sem.acquire(3));
    let permit = assert_ready_ok!(a.poll());
    assert_eq!(permit.count(), 3);
    assert_eq!(sem.available(), 2);
    drop(permit);
    assert_eq!(sem.available(), 5);
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn zero_succeeds_at_once_even_behind_a_queue() {
    let sem = Semaphore::new(1);
    let _held = sem.try_acquire(1).unwrap();
    let mut queued = spawn(sem.acquire(1));
    assert_pending!(queued.poll());
    let mut zero = spawn(sem.acquire(0));
    assert_eq!(assert_ready_ok!(zero.poll()).count(), 0);
    assert_eq!(sem.try_acquire(0).unwrap().count(), 0);
}

#[test]
fn too_large_fails_at_once_and_blocks_nobody() {
    let sem = Semaphore::new(4);
    let _held = sem.try_acquire(1).unwrap();
    let mut big = spawn(sem.acquire(5));
    let err = assert_ready_err!(big.poll());
    assert_eq!(
        err,
        AcquireError::TooLarge {
            requested: 5,
            capacity: 4
        }
    );
    assert_eq!(
        err.to_string(),
        "requested 5 permits but the semaphore's capacity is 4"
    );
    assert_eq!(sem.waiters(), 0);
    let mut small = spawn(sem.acquire(3));
    drop(assert_ready_ok!(small.poll()));
    assert_eq!(
        sem.try_acquire(9).unwrap_err(),
        TryAcquireError::TooLarge {
            requested: 9,
            capacity: 4
        }
    );
}

#[test]
fn wake_order_is_fifo_and_large_head_is_not_starved() {
    let sem = Semaphore::new(4);
    let held = sem.try_acquire(4).unwrap();
    let mut big = spawn(sem.acquire(3));
    let mut small1 = spawn(sem.acquire(1));
    let mut small2 = spawn(sem.acquire(1));
    assert_pending!(big.poll());
    assert_pending!(small1.poll());
    assert_pending!(small2.poll());
    assert_eq!(sem.waiters(), 3);

    let mut held = held;
    let one = held.split(1).unwrap();
    drop(one); // 1 free: the head needs 3, so nobody is woken
    assert!(!big.is_woken() && !small1.is_woken() && !small2.is_woken());
    assert_eq!(sem.available(), 1);
    // try_acquire does not jump the queue even though 1 is free.
    assert_eq!(
        sem.try_acquire(1).unwrap_err(),
        TryAcquireError::NoPermits {
            requested: 1,
            available: 1
        }
    );
    drop(held); // 4 free: big (3) then small1 (1)
    assert!(big.is_woken());
    assert!(small1.is_woken());
    assert!(!small2.is_woken());
    let b = assert_ready_ok!(big.poll());
    let s1 = assert_ready_ok!(small1.poll());
    assert_pending!(small2.poll());
    assert_eq!((b.count(), s1.count()), (3, 1));
    drop(s1);
    assert!(small2.is_woken());
    let s2 = assert_ready_ok!(small2.poll());
    drop(b);
    assert_eq!(sem.available(), 3);
    drop(s2);
}

#[test]
fn drop_while_queued_behind_the_head_changes_nothing_else() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire(2).unwrap();
    let mut first = spawn(sem.acquire(2));
    let mut second = spawn(sem.acquire(1));
    let mut third = spawn(sem.acquire(1));
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    assert_pending!(third.poll());
    drop(second);
    assert_eq!(sem.waiters(), 2);
    assert!(!first.is_woken() && !third.is_woken());
    drop(held);
    assert!(first.is_woken());
    let p = assert_ready_ok!(first.poll());
    assert_pending!(third.poll());
    drop(p);
    drop(assert_ready_ok!(third.poll()));
    assert_eq!(sem.available(), 2);
}

#[test]
fn dropping_the_head_wakes_the_waiters_that_now_fit() {
    let sem = Semaphore::new(4);
    let held = sem.try_acquire(2).unwrap();
    let mut head = spawn(sem.acquire(3)); // needs 3, 2 free
    let mut a = spawn(sem.acquire(1));
    let mut b = spawn(sem.acquire(1));
    let mut c = spawn(sem.acquire(1));
    assert_pending!(head.poll());
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_pending!(c.poll());
    drop(head);
    assert!(a.is_woken() && b.is_woken());
    assert!(!c.is_woken());
    let _a = assert_ready_ok!(a.poll());
    let _b = assert_ready_ok!(b.poll());
    assert_pending!(c.poll());
    drop(held);
    assert!(c.is_woken());
    drop(assert_ready_ok!(c.poll()));
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn grant_racing_with_drop_hands_the_permits_back() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire(2).unwrap();
    let mut granted = spawn(sem.acquire(2));
    let mut next = spawn(sem.acquire(1));
    assert_pending!(granted.poll());
    assert_pending!(next.poll());
    drop(held); // grants `granted`, which is never polled again
    assert!(granted.is_woken());
    assert!(!next.is_woken());
    assert_eq!(sem.available(), 0);
    drop(granted); // the grant goes back and on to `next`
    assert!(next.is_woken());
    let p = assert_ready_ok!(next.poll());
    assert_eq!(sem.available(), 1);
    drop(p);
    assert_eq!(sem.available(), 2);
}

#[test]
fn close_fails_waiters_and_later_acquires_but_keeps_held_permits() {
    let sem = Semaphore::new(2);
    let held = sem.try_acquire(2).unwrap();
    let mut w1 = spawn(sem.acquire(1));
    let mut w2 = spawn(sem.acquire(2));
    assert_pending!(w1.poll());
    assert_pending!(w2.poll());
    sem.close();
    assert!(sem.is_closed());
    assert!(w1.is_woken() && w2.is_woken());
    assert_eq!(assert_ready_err!(w1.poll()), AcquireError::Closed);
    assert_eq!(assert_ready_err!(w2.poll()), AcquireError::Closed);
    assert_eq!(sem.waiters(), 0);
    let mut later = spawn(sem.acquire(1));
    assert_eq!(assert_ready_err!(later.poll()), AcquireError::Closed);
    assert_eq!(sem.try_acquire(1).unwrap_err(), TryAcquireError::Closed);
    assert_eq!(held.count(), 2);
    drop(held);
    assert_eq!(sem.available(), 2);
    // Closed wins over every other outcome, including n == 0.
    let mut zero = spawn(sem.acquire(0));
    assert_eq!(assert_ready_err!(zero.poll()), AcquireError::Closed);
    assert_eq!(AcquireError::Closed.to_string(), "semaphore closed");
}

#[test]
fn growing_wakes_waiters() {
    let sem = Semaphore::new(1);
    let _held = sem.try_acquire(1).unwrap();
    let mut a = spawn(sem.acquire(1));
    let mut b = spawn(sem.acquire(1));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(
        sem.try_acquire(3).unwrap_err(),
        TryAcquireError::TooLarge {
            requested: 3,
            capacity: 1
        }
    );
    sem.set_capacity(3);
    assert_eq!(sem.capacity(), 3);
    assert!(a.is_woken() && b.is_woken());
    let _a = assert_ready_ok!(a.poll());
    let _b = assert_ready_ok!(b.poll());
    assert_eq!(sem.available(), 0);
}

#[test]
fn shrinking_is_lazy_and_fails_waiters_that_can_never_fit() {
    let sem = Semaphore::new(10);
    let held = sem.try_acquire(8).unwrap();
    let mut big = spawn(sem.acquire(6));
    let mut small = spawn(sem.acquire(3));
    assert_pending!(big.poll());
    assert_pending!(small.poll());
    sem.set_capacity(4);
    assert_eq!((sem.capacity(), sem.available()), (4, 0));
    assert!(big.is_woken());
    assert_eq!(
        assert_ready_err!(big.poll()),
        AcquireError::TooLarge {
            requested: 6,
            capacity: 4
        }
    );
    assert_pending!(small.poll());
    let mut held = held;
    drop(held.split(4).unwrap()); // absorbed by the shrink
    assert_eq!(sem.available(), 0);
    assert!(!small.is_woken());
    drop(held); // 4 back: small takes 3
    assert!(small.is_woken());
    let p = assert_ready_ok!(small.poll());
    assert_eq!(sem.available(), 1);
    drop(p);
    assert_eq!(sem.available(), 4);
    // Growing again pays off nothing (no debt left) and adds.
    sem.set_capacity(6);
    assert_eq!(sem.available(), 6);
}

#[test]
fn growing_during_debt_pays_the_debt_first() {
    let sem = Semaphore::new(10);
    let held = sem.try_acquire(10).unwrap();
    sem.set_capacity(4); // debt 6
    let mut w = spawn(sem.acquire(1));
    assert_pending!(w.poll());
    sem.set_capacity(8); // pays 4 of the debt, frees nothing
    assert_eq!(sem.available(), 0);
    assert!(!w.is_woken());
    drop(held); // 10 back: 2 pay the rest of the debt, 1 to w
    assert!(w.is_woken());
    let _w = assert_ready_ok!(w.poll());
    assert_eq!(sem.available(), 7);
}

#[test]
fn shrink_with_free_permits_takes_them_at_once() {
    let sem = Semaphore::new(10);
    sem.set_capacity(3);
    assert_eq!(sem.available(), 3);
    let p = sem.try_acquire(3).unwrap();
    drop(p);
    assert_eq!(sem.available(), 3);
}

#[test]
fn forget_shrinks_capacity_and_fails_waiters_that_no_longer_fit() {
    let sem = Semaphore::new(4);
    let mut held = sem.try_acquire(3).unwrap();
    let mut w = spawn(sem.acquire(3));
    assert_pending!(w.poll());
    let part = held.split(2).unwrap();
    part.forget();
    assert_eq!(sem.capacity(), 2);
    assert_eq!(
        assert_ready_err!(w.poll()),
        AcquireError::TooLarge {
            requested: 3,
            capacity: 2
        }
    );
    drop(held);
    assert_eq!(sem.available(), 2);
}

#[test]
fn forget_pays_shrink_debt_first() {
    let sem = Semaphore::new(10);
    let held = sem.try_acquire(10).unwrap();
    sem.set_capacity(6); // debt 4
    held.forget(); // 4 pay the debt, 6 come off the capacity
    assert_eq!((sem.capacity(), sem.available()), (0, 0));
    sem.set_capacity(2);
    assert_eq!(sem.available(), 2);
}

#[test]
fn split_and_merge() {
    let sem = Semaphore::new(10);
    let mut p = sem.try_acquire(6).unwrap();
    assert!(p.split(7).is_none());
    assert_eq!(p.count(), 6);
    let q = p.split(2).unwrap();
    assert_eq!((p.count(), q.count()), (4, 2));
    drop(q);
    assert_eq!(sem.available(), 6);
    let r = sem.try_acquire(1).unwrap();
    p.merge(r);
    assert_eq!(p.count(), 5);
    assert!(std::ptr::eq(p.semaphore(), &sem));
    drop(p);
    assert_eq!(sem.available(), 10);
}

#[test]
fn merging_permits_of_different_semaphores_panics_without_leaking() {
    let a = Semaphore::new(1);
    let b = Semaphore::new(1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut pa = a.try_acquire(1).unwrap();
        let pb = b.try_acquire(1).unwrap();
        pa.merge(pb);
    }));
    assert!(result.is_err());
    assert_eq!((a.available(), b.available()), (1, 1));

    let a = Arc::new(Semaphore::new(1));
    let b = Arc::new(Semaphore::new(1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut pa = a.try_acquire_owned(1).unwrap();
        pa.merge(b.try_acquire_owned(1).unwrap());
    }));
    assert!(result.is_err());
    assert_eq!((a.available(), b.available()), (1, 1));
}

#[test]
fn owned_permits_split_merge_forget() {
    let sem = Arc::new(Semaphore::new(5));
    let mut p = sem.try_acquire_owned(4).unwrap();
    let q = p.split(1).unwrap();
    assert!(p.split(9).is_none());
    assert_eq!((p.count(), q.count()), (3, 1));
    p.merge(q);
    assert_eq!(p.count(), 4);
    assert!(Arc::ptr_eq(p.semaphore(), &sem));
    let f = p.split(1).unwrap();
    f.forget();
    assert_eq!(sem.capacity(), 4);
    drop(p);
    assert_eq!(sem.available(), 4);
}

#[test]
fn owned_acquire_queues_and_cancels() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire_owned(1).unwrap();
    let mut a = spawn(sem.acquire_owned(1));
    let mut b = spawn(sem.acquire_owned(1));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert!(a.is_queued());
    drop(held);
    assert!(a.is_woken());
    drop(a); // granted, dropped: on to b
    assert!(b.is_woken());
    let p = assert_ready_ok!(b.poll());
    assert_eq!(p.count(), 1);
    assert_eq!(
        sem.try_acquire_owned(1).unwrap_err(),
        TryAcquireError::NoPermits {
            requested: 1,
            available: 0
        }
    );
}

#[test]
fn poll_semaphore_reuses_its_place_and_withdraws_on_drop() {
    let sem = Arc::new(Semaphore::new(2));
    let held = sem.try_acquire_owned(2).unwrap();
    let mut ps = PollSemaphore::new(Arc::clone(&sem));
    let mut task = spawn(());
    task.enter(|cx, _| assert!(ps.poll_acquire(cx, 1).is_pending()));
    assert!(ps.is_queued());
    assert_eq!(sem.waiters(), 1);
    // Polling again keeps the same place.
    task.enter(|cx, _| assert!(ps.poll_acquire(cx, 1).is_pending()));
    assert_eq!(sem.waiters(), 1);
    drop(held);
    assert!(task.is_woken());
    let p = task.enter(|cx, _| match ps.poll_acquire(cx, 1) {
        std::task::Poll::Ready(r) => r.unwrap(),
        std::task::Poll::Pending => panic!("granted"),
    });
    assert!(!ps.is_queued());
    assert_eq!(p.count(), 1);
    // Reuse: one more free, then a request for 2 must wait; switching n re-queues.
    task.enter(|cx, _| assert!(ps.poll_acquire(cx, 2).is_pending()));
    let q = task.enter(|cx, _| ps.poll_acquire(cx, 1));
    assert!(matches!(q, std::task::Poll::Ready(Ok(_))));
    assert_eq!(sem.waiters(), 0);
    task.enter(|cx, _| assert!(ps.poll_acquire(cx, 1).is_pending()));
    let clone = ps.clone();
    assert!(!clone.is_queued());
    drop(ps);
    assert_eq!(sem.waiters(), 0);
    assert_eq!(clone.into_inner().available(), 0);
}

#[test]
fn poll_semaphore_errors() {
    let sem = Arc::new(Semaphore::new(1));
    let mut ps = PollSemaphore::new(Arc::clone(&sem));
    let mut task = spawn(());
    task.enter(|cx, _| {
        assert_eq!(
            ps.poll_acquire(cx, 2).map(|r| r.unwrap_err()),
            std::task::Poll::Ready(AcquireError::TooLarge {
                requested: 2,
                capacity: 1
            })
        );
    });
    sem.close();
    task.enter(|cx, _| {
        assert_eq!(
            ps.poll_acquire(cx, 1).map(|r| r.unwrap_err()),
            std::task::Poll::Ready(AcquireError::Closed)
        );
    });
}

#[test]
fn wake_batches_larger_than_one_lock_pass() {
    // More waiters than one wake batch: all are granted by a single release.
    let sem = Semaphore::new(100);
    let held = sem.try_acquire(100).unwrap();
    let mut waiters: Vec<_> = (0..100).map(|_| spawn(sem.acquire(1))).collect();
    for w in &mut waiters {
        assert_pending!(w.poll());
    }
    drop(held);
    for w in &mut waiters {
        assert!(w.is_woken());
        let p = assert_ready_ok!(w.poll());
        p.forget();
    }
    assert_eq!(sem.capacity(), 0);

    // And closing more waiters than one batch fails them all.
    let sem = Semaphore::new(1);
    let _held = sem.try_acquire(1).unwrap();
    let mut waiters: Vec<_> = (0..100).map(|_| spawn(sem.acquire(1))).collect();
    for w in &mut waiters {
        assert_pending!(w.poll());
    }
    sem.close();
    for w in &mut waiters {
        assert!(w.is_woken());
        assert_eq!(assert_ready_err!(w.poll()), AcquireError::Closed);
    }
}

#[test]
fn a_queued_waiter_is_woken_through_its_latest_waker() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire(1).unwrap();
    let mut fut = Box::pin(sem.acquire(1));
    let mut t1 = spawn(());
    let mut t2 = spawn(());
    t1.enter(|cx, _| assert!(fut.as_mut().poll(cx).is_pending()));
    t2.enter(|cx, _| assert!(fut.as_mut().poll(cx).is_pending()));
    drop(held);
    assert!(!t1.is_woken());
    assert!(t2.is_woken());
    t2.enter(|cx, _| assert!(fut.as_mut().poll(cx).is_ready()));
}

#[test]
#[should_panic(expected = "polled after completion")]
fn polling_a_completed_acquire_panics() {
    let sem = Semaphore::new(1);
    let mut fut = spawn(sem.acquire(1));
    let _p = assert_ready_ok!(fut.poll());
    let _ = fut.poll();
}

#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn capacity_above_max_panics() {
    let _ = Semaphore::new(Semaphore::MAX_PERMITS + 1);
}

#[test]
fn max_capacity_works() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    let p = sem.try_acquire(Semaphore::MAX_PERMITS).unwrap();
    assert_eq!(sem.available(), 0);
    drop(p);
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
}

#[test]
fn debug_output_names_the_state() {
    let sem = Semaphore::new(3);
    let s = format!("{sem:?}");
    assert!(
        s.contains("capacity: 3") && s.contains("closed: false"),
        "{s}"
    );
    let fut = sem.acquire(1);
    assert!(format!("{fut:?}").contains("requested: 1"));
    let p = sem.try_acquire(2).unwrap();
    assert!(format!("{p:?}").contains("count: 2"));
    let e = TryAcquireError::NoPermits {
        requested: 2,
        available: 1,
    };
    assert_eq!(
        e.to_string(),
        "requested 2 permits but 1 are available to take without waiting"
    );
}

use std::future::Future;

#[test]
#[should_panic(expected = "polled after completion")]
fn polling_a_completed_acquire_owned_panics() {
    let sem = Arc::new(Semaphore::new(1));
    let mut fut = spawn(sem.acquire_owned(1));
    let _p = assert_ready_ok!(fut.poll());
    let _ = fut.poll();
}

#[test]
fn a_granted_waiter_whose_slot_was_reused_still_gets_its_permits() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire(1).unwrap();
    let mut first = spawn(sem.acquire(1));
    assert_pending!(first.poll());
    drop(held); // grants `first`, whose slot is freed at once
    let mut second = spawn(sem.acquire(1));
    assert_pending!(second.poll()); // reuses the slot
    assert_eq!(sem.waiters(), 1);
    let p = assert_ready_ok!(first.poll());
    assert_pending!(second.poll());
    drop(p);
    assert!(second.is_woken());
    drop(assert_ready_ok!(second.poll()));
    assert_eq!(sem.available(), 1);

    // The same with the granted waiter dropped instead of polled.
    let held = sem.try_acquire(1).unwrap();
    let mut first = spawn(sem.acquire(1));
    assert_pending!(first.poll());
    drop(held);
    let mut second = spawn(sem.acquire(1));
    assert_pending!(second.poll());
    drop(first);
    assert!(second.is_woken());
    drop(assert_ready_ok!(second.poll()));
    assert_eq!(sem.available(), 1);
}

#[test]
fn many_waiters_granted_and_dropped_unpolled_hand_everything_back() {
    // More waiters than have lock-free grant tickets (64): both kinds of slot.
    let sem = Semaphore::new(100);
    let held = sem.try_acquire(100).unwrap();
    let mut waiters: Vec<_> = (0..100).map(|_| spawn(sem.acquire(1))).collect();
    for w in &mut waiters {
        assert_pending!(w.poll());
    }
    let mut held = held;
    drop(held.split(50).unwrap()); // grants the first 50
    assert!(waiters[..50].iter().all(|w| w.is_woken()));
    assert!(!waiters[50].is_woken());
    // Drop all of them: granted ones hand back, queued ones leave, and the handed-back
    // permits flow on to the later waiters, which are dropped too.
    drop(waiters);
    assert_eq!(sem.waiters(), 0);
    assert_eq!(sem.available(), 50);
    drop(held);
    assert_eq!(sem.available(), 100);
}
