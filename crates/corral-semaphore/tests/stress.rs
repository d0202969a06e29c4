//! Multi-threaded stress: held weight never exceeds capacity, and every permit comes
//! back, with acquires cancelled at random points. Bounded to a few seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral_semaphore::Semaphore;
use corral_test_support::Rng;

#[test]
fn held_weight_never_exceeds_capacity_and_every_permit_returns() {
    const CAPACITY: u64 = 16;
    const TASKS: u64 = 32;
    const ROUNDS: u64 = 400;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let sem = Arc::new(Semaphore::new(CAPACITY));
    let held = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let (sem, held, peak) = (sem.clone(), held.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                for _ in 0..ROUNDS {
                    let r = rng.next();
                    let n = r % CAPACITY + 1;
                    let acquire = sem.acquire(n);
                    let permit = match r % 5 {
                        // Cancel after a random short while: may be queued, granted
                        // or granted-and-racing at the drop.
                        0 => match tokio::time::timeout(Duration::from_micros(r % 50), acquire)
                            .await
                        {
                            Ok(p) => p.unwrap(),
                            Err(_) => continue,
                        },
                        1 => match sem.try_acquire(n) {
                            Ok(p) => p,
                            Err(_) => continue,
                        },
                        _ => acquire.await.unwrap(),
                    };
                    let now = held.fetch_add(n, Ordering::SeqCst) + n;
                    assert!(now <= CAPACITY, "held {now} > capacity {CAPACITY}");
                    peak.fetch_max(now, Ordering::Relaxed);
                    if r % 3 == 0 {
                        tokio::task::yield_now().await;
                    }
                    held.fetch_sub(n, Ordering::SeqCst);
                    drop(permit);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(sem.available(), CAPACITY, "every permit came back");
    assert_eq!(sem.waiters(), 0);
    assert!(peak.load(Ordering::Relaxed) > 1);
}

#[test]
fn resize_and_close_under_load_lose_no_permit() {
    const TASKS: u64 = 16;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let sem = Arc::new(Semaphore::new(8));
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let sem = sem.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (t + 1));
                loop {
                    let r = rng.next();
                    let fut = sem.acquire(r % 6 + 1);
                    match tokio::time::timeout(Duration::from_micros(r % 200), fut).await {
                        Ok(Ok(mut p)) => {
                            if r % 7 == 0 {
                                if let Some(part) = p.split(1) {
                                    drop(part);
                                }
                            }
                            tokio::task::yield_now().await;
                        }
                        // Shrunk below the request: fine, try a smaller one.
                        Ok(Err(corral_semaphore::AcquireError::TooLarge { .. })) => {}
                        Ok(Err(corral_semaphore::AcquireError::Closed)) => return,
                        Err(_) => {}
                    }
                }
            }));
        }
        let mut rng = Rng(7);
        for _ in 0..300 {
            sem.set_capacity(rng.next() % 12 + 1);
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        sem.set_capacity(8);
        sem.close();
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(sem.capacity(), 8);
    assert_eq!(
        sem.available(),
        8,
        "every permit came back after lazy shrinks"
    );
    assert_eq!(sem.waiters(), 0);
}
