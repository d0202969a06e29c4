//! Deterministic poll tests of the acquire future on the in-process backend (tokio-test
//! `assert_pending!` / `is_woken`): queued while the permits are held, woken by the
//! release, and a dropped queued future hands its place on.

use corral_fleet::FleetSemaphore;
use tokio_test::{assert_pending, assert_ready, task};

async fn memory(capacity: u64) -> FleetSemaphore {
    FleetSemaphore::builder("memory://", "poll")
        .capacity(capacity)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_acquire_is_woken_by_release() {
    let sem = memory(2).await;
    let held = sem.try_acquire(2).await.unwrap();
    let mut waiter = task::spawn(sem.acquire(1));
    assert_pending!(waiter.poll());
    assert_eq!(sem.waiters().await.unwrap(), 1);
    drop(held);
    assert!(waiter.is_woken());
    let permit = assert_ready!(waiter.poll()).unwrap();
    assert_eq!(permit.count(), 1);
    assert!(!permit.is_lost());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_head_hands_its_place_on() {
    let sem = memory(2).await;
    let held = sem.try_acquire(1).await.unwrap();
    let mut head = task::spawn(sem.acquire(2));
    let mut behind = task::spawn(sem.acquire(1));
    assert_pending!(head.poll());
    assert_pending!(behind.poll());
    drop(head);
    assert!(behind.is_woken());
    let p = assert_ready!(behind.poll()).unwrap();
    assert_eq!(sem.available().await.unwrap(), 0);
    drop((p, held));
    assert_eq!(sem.available().await.unwrap(), 2);
}
