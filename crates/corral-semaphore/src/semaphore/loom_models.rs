//! In-crate loom models: the races of the public models, checked against the engine's
//! private invariants (the `SLOW` flag, the shrink debt, the free-permit count).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use loom::future::block_on;
use loom::thread;

use super::state::{free, SLOW};
use super::Semaphore;

/// Once everyone is gone, the engine is back at rest: no flag, no debt, no waiter,
/// and every permit free.
fn assert_at_rest(sem: &Semaphore) {
    let state = sem.state.load(corral_shared::sync::Ordering::SeqCst);
    let queue = sem.queue.lock();
    assert_eq!(state & SLOW, 0, "SLOW left set");
    assert_eq!(queue.debt, 0);
    assert_eq!(queue.len(), 0);
    assert_eq!(free(state), sem.capacity());
}

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    std::pin::Pin::new(fut).poll(&mut cx)
}

#[test]
fn release_racing_with_enqueue_never_strands_a_waiter() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned(1).unwrap();
        let releaser = thread::spawn(move || drop(held));
        drop(block_on(sem.acquire(1)).unwrap());
        releaser.join().unwrap();
        assert_at_rest(&sem);
    });
}

#[test]
fn cancel_racing_with_grant_returns_the_permit() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let held = sem.try_acquire_owned(2).unwrap();
        let releaser = thread::spawn(move || drop(held));
        let mut fut = sem.acquire(2);
        if let Poll::Ready(p) = poll_once(&mut fut) {
            drop(p.unwrap());
        }
        drop(fut);
        releaser.join().unwrap();
        assert_at_rest(&sem);
    });
}

/// A deadline giving up (`Waiter::withdraw`, the timeout futures' expiry) while a
/// release grants the same waiter: the waiter either keeps the grant (and owns the
/// permits) or leaves the queue with nothing, and the engine is at rest either way.
#[cfg(feature = "tokio")]
#[test]
fn withdraw_racing_with_grant_keeps_it_or_leaves() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let held = sem.try_acquire_owned(2).unwrap();
        let releaser = thread::spawn(move || drop(held));
        let mut waiter = super::Waiter::new(2);
        let mut cx = Context::from_waker(Waker::noop());
        let kept = match waiter.poll(&sem, &mut cx) {
            Poll::Ready(granted) => granted.is_ok(),
            Poll::Pending => match waiter.withdraw(&sem) {
                Some(granted) => granted.is_ok(),
                None => false,
            },
        };
        assert!(!waiter.is_queued());
        releaser.join().unwrap();
        if kept {
            // The permits are the waiter's: nothing is free until it returns them.
            assert_eq!(sem.available(), 0);
            sem.release(2);
        }
        assert_at_rest(&sem);
    });
}

#[test]
fn shrink_debt_is_paid_by_racing_releases() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(3));
        let a = sem.try_acquire_owned(2).unwrap();
        let b = sem.try_acquire_owned(1).unwrap();
        let ta = thread::spawn(move || drop(a));
        let tb = thread::spawn(move || drop(b));
        sem.set_capacity(1);
        ta.join().unwrap();
        tb.join().unwrap();
        assert_eq!(sem.capacity(), 1);
        assert_at_rest(&sem);
    });
}

#[test]
fn close_racing_with_acquire_and_release() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_owned(1).unwrap();
        let acquirer = {
            let sem = sem.clone();
            thread::spawn(move || block_on(sem.acquire(1)).map(drop).is_ok())
        };
        let releaser = thread::spawn(move || drop(held));
        sem.close();
        let _ = acquirer.join().unwrap();
        releaser.join().unwrap();
        assert_at_rest(&sem);
    });
}
