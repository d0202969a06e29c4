//! `acquire_timeout` under paused tokio time.
#![cfg(feature = "tokio")]

use std::time::Duration;

use corral_semaphore::{AcquireTimeoutError, Semaphore};
use tokio_test::task::spawn;
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok};

#[tokio::test(start_paused = true)]
async fn free_permits_are_taken_even_with_a_zero_timeout() {
    let sem = Semaphore::new(2);
    let p = sem.acquire_timeout(2, Duration::ZERO).await.unwrap();
    assert_eq!(p.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn times_out_and_leaves_the_queue_waking_those_behind() {
    let sem = Semaphore::new(4);
    let held = sem.try_acquire(2).unwrap();
    let mut head = spawn(sem.acquire_timeout(3, Duration::from_millis(100)));
    let mut behind = spawn(sem.acquire(2));
    assert_pending!(head.poll());
    assert_eq!(sem.waiters(), 1);
    assert_pending!(behind.poll());
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(head.is_woken());
    let err = assert_ready_err!(head.poll());
    assert_eq!(
        err,
        AcquireTimeoutError::Timeout {
            requested: 3,
            timeout: Duration::from_millis(100)
        }
    );
    assert_eq!(
        err.to_string(),
        "timed out after 100ms waiting for 3 permits"
    );
    // Left the queue at once, before being dropped: the waiter behind got the 2 free.
    assert!(behind.is_woken());
    let _b = assert_ready_ok!(behind.poll());
    assert_eq!(sem.waiters(), 0);
    drop(head);
    drop(held);
    assert_eq!(sem.available(), 2);
}

#[tokio::test(start_paused = true)]
async fn granted_before_the_deadline() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire(1).unwrap();
    let mut w = spawn(sem.acquire_timeout(1, Duration::from_secs(1)));
    assert_pending!(w.poll());
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_pending!(w.poll());
    drop(held);
    assert!(w.is_woken());
    let p = assert_ready_ok!(w.poll());
    assert_eq!(p.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_grant_arriving_with_the_deadline_is_kept() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire(1).unwrap();
    let mut w = spawn(sem.acquire_timeout(1, Duration::from_millis(10)));
    assert_pending!(w.poll());
    tokio::time::advance(Duration::from_millis(10)).await;
    drop(held);
    let p = assert_ready_ok!(w.poll());
    assert_eq!(p.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn closed_and_too_large_errors() {
    let sem = Semaphore::new(1);
    assert_eq!(
        sem.acquire_timeout(2, Duration::from_secs(1))
            .await
            .unwrap_err(),
        AcquireTimeoutError::TooLarge {
            requested: 2,
            capacity: 1
        }
    );
    let held = sem.try_acquire(1).unwrap();
    let mut w = spawn(sem.acquire_timeout(1, Duration::from_secs(1)));
    assert_pending!(w.poll());
    sem.close();
    assert_eq!(assert_ready_err!(w.poll()), AcquireTimeoutError::Closed);
    drop(held);
    assert!(format!("{w:?}").contains("AcquireTimeout"));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_timed_waiter_that_was_granted_hands_back() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire(1).unwrap();
    let mut w = spawn(sem.acquire_timeout(1, Duration::from_secs(1)));
    let mut next = spawn(sem.acquire(1));
    assert_pending!(w.poll());
    assert_pending!(next.poll());
    drop(held);
    drop(w);
    assert!(next.is_woken());
    let _next = assert_ready_ok!(next.poll());
}

#[test]
fn free_permits_need_no_runtime_and_no_timer() {
    // Created and completed outside any runtime: the timer is only registered when
    // the request has to wait.
    let sem = Semaphore::new(1);
    let mut fut = spawn(sem.acquire_timeout(1, Duration::from_secs(1)));
    let p = assert_ready_ok!(fut.poll());
    assert_eq!(p.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_fixed_at_creation() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire(1).unwrap();
    let mut w = spawn(sem.acquire_timeout(1, Duration::from_millis(100)));
    tokio::time::advance(Duration::from_millis(60)).await;
    assert_pending!(w.poll()); // first poll 60 ms in: 40 ms left, not 100
    tokio::time::advance(Duration::from_millis(40)).await;
    assert!(w.is_woken());
    assert!(matches!(
        assert_ready_err!(w.poll()),
        AcquireTimeoutError::Timeout { requested: 1, .. }
    ));
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn a_huge_timeout_does_not_overflow() {
    let sem = Semaphore::new(1);
    let _held = sem.try_acquire(1).unwrap();
    let mut w = spawn(sem.acquire_timeout(1, Duration::MAX));
    assert_pending!(w.poll());
    tokio::time::advance(Duration::from_secs(86_400)).await;
    assert_pending!(w.poll());
}

#[tokio::test(start_paused = true)]
async fn owned_timeout_grants_times_out_and_hands_back() {
    let sem = std::sync::Arc::new(Semaphore::new(2));
    // Free permits: taken at once.
    let p = sem.acquire_owned_timeout(2, Duration::ZERO).await.unwrap();
    assert_eq!(p.count(), 2);

    // Queued behind `p`: times out and leaves the queue at once.
    let mut w = spawn(sem.acquire_owned_timeout(1, Duration::from_millis(50)));
    let mut behind = spawn(sem.acquire_owned(1));
    assert_pending!(w.poll());
    assert_pending!(behind.poll());
    assert_eq!(sem.waiters(), 2);
    tokio::time::advance(Duration::from_millis(50)).await;
    assert_eq!(
        assert_ready_err!(w.poll()),
        AcquireTimeoutError::Timeout {
            requested: 1,
            timeout: Duration::from_millis(50)
        }
    );
    assert_eq!(sem.waiters(), 1);
    assert!(format!("{w:?}").contains("AcquireOwnedTimeout"));
    drop(w);

    // Granted, then dropped before being polled: the permit moves on to `behind`.
    let mut granted = spawn(sem.acquire_owned_timeout(1, Duration::from_secs(1)));
    assert_pending!(granted.poll());
    drop(p);
    assert!(behind.is_woken());
    let b = assert_ready_ok!(behind.poll());
    drop(granted);
    assert_eq!(sem.available(), 1);
    drop(b);
    assert_eq!(sem.available(), 2);

    // Errors of the request itself.
    assert_eq!(
        sem.acquire_owned_timeout(3, Duration::from_secs(1))
            .await
            .unwrap_err(),
        AcquireTimeoutError::TooLarge {
            requested: 3,
            capacity: 2
        }
    );
    sem.close();
    assert_eq!(
        sem.acquire_owned_timeout(1, Duration::from_secs(1))
            .await
            .unwrap_err(),
        AcquireTimeoutError::Closed
    );
}
