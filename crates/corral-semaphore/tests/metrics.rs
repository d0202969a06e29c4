//! The `metrics` feature (issue #15): a named semaphore's gauges (sampled on the census
//! tick, here `sample_metrics`), counters and wait histogram, read back through a
//! debugging recorder. Other tests in this binary tick too, in parallel: a tick only
//! publishes the state of the moment, so each assertion follows a tick of its own, taken
//! while the state it checks holds.
#![cfg(all(feature = "metrics", feature = "tokio"))]

use std::sync::Arc;
use std::time::Duration;

use corral_semaphore::{sample_metrics, AcquireError, Semaphore, DEFAULT_WAIT_SAMPLING};
use corral_test_support::{eventually, multi_thread, Rng, TestRecorder};

const L: &[(&str, &str)] = &[("semaphore", "db")];

/// The three gauges after a census tick.
fn gauges(rec: &TestRecorder) -> (f64, f64, f64) {
    sample_metrics();
    (
        rec.value("corral_semaphore_capacity_permits", L).unwrap(),
        rec.value("corral_semaphore_available_permits", L).unwrap(),
        rec.value("corral_semaphore_waiters", L).unwrap(),
    )
}

#[test]
fn every_family_reports_the_state_and_refusals() {
    let rec = TestRecorder::new();
    let sem = {
        let _g = rec.install();
        Semaphore::with_name(10, "db")
    };
    sem.set_wait_sampling(1);
    assert_eq!(gauges(&rec), (10.0, 10.0, 0.0));
    multi_thread(4).block_on(async {
        let held = sem.acquire(7).await.unwrap();
        assert_eq!(gauges(&rec), (10.0, 3.0, 0.0));
        let waiter = tokio::spawn({
            let sem = Arc::clone(&sem);
            async move { sem.acquire_owned(5).await.map(drop) }
        });
        eventually("the waiter queues", || sem.waiters() == 1).await;
        assert_eq!(gauges(&rec), (10.0, 3.0, 1.0));
        drop(held);
        waiter.await.unwrap().unwrap();
        assert_eq!(gauges(&rec), (10.0, 10.0, 0.0));
        // Only the acquire that waited is timed (every waited one, at rate 1).
        assert_eq!(
            rec.samples("corral_semaphore_acquire_wait_seconds", L)
                .len(),
            1
        );
        assert_eq!(
            rec.value("corral_semaphore_acquire_waits_total", L),
            Some(1.0)
        );
        // Too large, at once and after a shrink.
        assert!(matches!(
            sem.acquire(11).await,
            Err(AcquireError::TooLarge { .. })
        ));
        let held = sem.acquire(8).await.unwrap();
        let big = tokio::spawn({
            let sem = Arc::clone(&sem);
            async move { sem.acquire_owned(9).await.map(drop) }
        });
        eventually("the big request queues", || sem.waiters() == 1).await;
        sem.set_capacity(8);
        assert!(matches!(
            big.await.unwrap(),
            Err(AcquireError::TooLarge { .. })
        ));
        assert_eq!(gauges(&rec), (8.0, 0.0, 0.0));
        assert_eq!(
            rec.value("corral_semaphore_acquire_too_large_total", L),
            Some(2.0)
        );
        drop(held);
        assert_eq!(gauges(&rec), (8.0, 8.0, 0.0));
    });
    // Timeouts, under paused time.
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(async {
            let held = sem.acquire(8).await.unwrap();
            let err = sem.acquire_timeout(1, Duration::from_secs(1)).await;
            assert!(err.is_err());
            drop(held);
        });
    assert_eq!(
        rec.value("corral_semaphore_acquire_timeouts_total", L),
        Some(1.0)
    );
    assert_eq!(gauges(&rec), (8.0, 8.0, 0.0));
    // The refused and timed-out waiters were not granted: neither counted nor timed.
    assert_eq!(
        rec.value("corral_semaphore_acquire_waits_total", L),
        Some(1.0)
    );
    assert_eq!(
        rec.samples("corral_semaphore_acquire_wait_seconds", L)
            .len(),
        1
    );
    sem.close();
    assert!(sem.try_acquire(1).is_err());
    assert_eq!(
        rec.value("corral_semaphore_acquire_closed_total", L),
        Some(1.0)
    );
    drop(sem);
    assert_eq!(
        gauges(&rec),
        (0.0, 0.0, 0.0),
        "a dropped semaphore takes its share out"
    );
}

/// Published at creation, before any tick; afterwards the gauges move only on a tick
/// (no acquire or release touches the recorder).
#[test]
fn gauges_are_published_at_creation_and_sampled_on_the_tick() {
    let rec = TestRecorder::new();
    let sem = {
        let _g = rec.install();
        Semaphore::with_name(5, "created")
    };
    let l = [("semaphore", "created")];
    let read = |name| rec.value(name, &l).unwrap();
    assert_eq!(read("corral_semaphore_capacity_permits"), 5.0);
    assert_eq!(read("corral_semaphore_available_permits"), 5.0);
    let held = sem.try_acquire(3).unwrap();
    sample_metrics();
    assert_eq!(read("corral_semaphore_available_permits"), 2.0);
    sem.set_capacity(7);
    sample_metrics();
    assert_eq!(read("corral_semaphore_capacity_permits"), 7.0);
    assert_eq!(read("corral_semaphore_available_permits"), 4.0);
    drop(held);
    sample_metrics();
    assert_eq!(read("corral_semaphore_available_permits"), 7.0);
}

/// Two semaphores given one name add up into one series; dropping one takes its share
/// back out at once (before any tick), and the survivor keeps publishing.
#[test]
fn same_named_semaphores_add_up_and_a_dropped_one_takes_its_share_out() {
    let rec = TestRecorder::new();
    let (a, b) = {
        let _g = rec.install();
        (
            Semaphore::with_name(4, "shared"),
            Semaphore::with_name(6, "shared"),
        )
    };
    let l = [("semaphore", "shared")];
    let read = |name| rec.value(name, &l).unwrap();
    multi_thread(2).block_on(async {
        let held_a = a.acquire_owned(1).await.unwrap();
        let all_b = b.acquire_owned(6).await.unwrap();
        let queued = tokio::spawn({
            let b = Arc::clone(&b);
            async move { b.acquire_owned(2).await.map(drop) }
        });
        eventually("the waiter queues", || b.waiters() == 1).await;
        sample_metrics();
        assert_eq!(read("corral_semaphore_capacity_permits"), 10.0);
        assert_eq!(read("corral_semaphore_available_permits"), 3.0);
        assert_eq!(read("corral_semaphore_waiters"), 1.0);
        drop(all_b);
        queued.await.unwrap().unwrap();
        sample_metrics();
        assert_eq!(read("corral_semaphore_available_permits"), 9.0);
        assert_eq!(read("corral_semaphore_waiters"), 0.0);
        assert_eq!(
            read("corral_semaphore_acquire_waits_total"),
            1.0,
            "one acquire waited"
        );
        drop(held_a);
    });
    sample_metrics();
    drop(b);
    assert_eq!(read("corral_semaphore_capacity_permits"), 4.0);
    assert_eq!(read("corral_semaphore_available_permits"), 4.0);
    let held = a.try_acquire(3).unwrap();
    sample_metrics();
    assert_eq!(read("corral_semaphore_available_permits"), 1.0);
    drop(held);
    drop(a);
    assert_eq!(read("corral_semaphore_capacity_permits"), 0.0);
    assert_eq!(read("corral_semaphore_available_permits"), 0.0);
    sample_metrics(); // the sources of both are forgotten; nothing is published again
    assert_eq!(read("corral_semaphore_capacity_permits"), 0.0);
}

#[test]
fn unnamed_semaphores_register_nothing() {
    let rec = TestRecorder::new();
    let _g = rec.install();
    let sem = Semaphore::new(3);
    drop(sem.try_acquire(1).unwrap());
    assert!(rec.series().is_empty(), "{:?}", rec.series());
}

/// Seeded stress on the multi-thread runtime: acquires of random weights, some with
/// timeouts, some cancelled, and resizes race; once idle, the gauges equal the state
/// (deltas commute, so no race leaves them stale).
#[test]
fn gauges_match_the_state_after_racing_operations() {
    for seed in 0..40u64 {
        let rec = TestRecorder::new();
        let sem = {
            let _g = rec.install();
            Semaphore::with_name(8, "db")
        };
        multi_thread(4).block_on(async {
            let mut tasks = Vec::new();
            for t in 0..8u64 {
                let sem = Arc::clone(&sem);
                let mut rng = Rng(seed * 100 + t);
                tasks.push(tokio::spawn(async move {
                    for _ in 0..50 {
                        let n = rng.below(4) + 1;
                        match rng.below(5) {
                            0 => {
                                let _ = sem.acquire_timeout(n, Duration::from_micros(50)).await;
                            }
                            1 => {
                                let _ =
                                    tokio::time::timeout(Duration::from_micros(20), sem.acquire(n))
                                        .await;
                            }
                            2 => sem.set_capacity(6 + rng.below(5)),
                            _ => {
                                if let Ok(p) = sem.acquire(n).await {
                                    tokio::task::yield_now().await;
                                    drop(p);
                                }
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        let (cap, avail, waiters) = gauges(&rec);
        assert_eq!(cap, sem.capacity() as f64, "seed {seed}");
        assert_eq!(avail, sem.available() as f64, "seed {seed}");
        assert_eq!(avail, cap, "seed {seed}: idle, so all permits are free");
        assert_eq!(waiters, 0.0, "seed {seed}");
    }
}

/// Makes `sem` (capacity 1, free) queue one acquire and grants it; returns whether the
/// wait histogram got a sample from it. Polled by hand: no runtime, no clock.
fn one_wait(sem: &Semaphore, rec: &TestRecorder, l: &[(&str, &str)]) -> bool {
    let before = rec
        .samples("corral_semaphore_acquire_wait_seconds", l)
        .len();
    let held = sem.try_acquire(1).unwrap();
    let mut acquire = tokio_test::task::spawn(sem.acquire(1));
    tokio_test::assert_pending!(acquire.poll());
    drop(held);
    assert!(acquire.is_woken());
    drop(tokio_test::assert_ready_ok!(acquire.poll()));
    rec.samples("corral_semaphore_acquire_wait_seconds", l)
        .len()
        > before
}

/// By default about one queued acquire in 64 is timed (a random draw per acquire; the
/// bound is 5 standard deviations wide), while the waits counter
/// counts every one; at rate 1 every wait is timed, at rate 0 none.
#[test]
fn the_wait_histogram_samples_one_wait_in_the_rate_and_the_counter_counts_all() {
    let rec = TestRecorder::new();
    let l = [("semaphore", "sampled")];
    let sem = {
        let _g = rec.install();
        Semaphore::with_name(1, "sampled")
    };
    assert_eq!(DEFAULT_WAIT_SAMPLING, 64);
    let timed = (0..12_800).filter(|_| one_wait(&sem, &rec, &l)).count();
    // 200 expected, standard deviation 14.0.
    assert!((130..270).contains(&timed), "{timed} of 12800 timed");
    sample_metrics();
    let waits = |rec: &TestRecorder| rec.value("corral_semaphore_acquire_waits_total", &l);
    assert_eq!(waits(&rec), Some(12_800.0));
    sem.set_wait_sampling(1);
    assert!(
        (0..100).all(|_| one_wait(&sem, &rec, &l)),
        "rate 1 times every wait"
    );
    sem.set_wait_sampling(0);
    assert!(
        (0..100).all(|_| !one_wait(&sem, &rec, &l)),
        "rate 0 times none"
    );
    sample_metrics();
    assert_eq!(waits(&rec), Some(13_000.0));
    assert_eq!(
        rec.samples("corral_semaphore_acquire_wait_seconds", &l)
            .len(),
        timed + 100
    );
}

/// Bursts of 4 acquires queue behind a held permit and are granted one by one (so the
/// later ones in a burst wait longer). Timing every 8th queued acquire by index would
/// time position 0 of every other burst and never the others, and report the shortest
/// wait as the mean; a random draw per acquire times each position alike. Which
/// position was timed is read from the histogram's count after each grant: no clock.
#[test]
fn wait_sampling_is_unbiased_for_bursts() {
    let rec = TestRecorder::new();
    let l = [("semaphore", "bursts")];
    let sem = {
        let _g = rec.install();
        Semaphore::with_name(1, "bursts")
    };
    // One in 8, the rate at which an every-8th-by-index sampler would lock on.
    sem.set_wait_sampling(8);
    let count = || {
        rec.samples("corral_semaphore_acquire_wait_seconds", &l)
            .len()
    };
    let mut by_position = [0u32; 4];
    for _ in 0..800 {
        let mut held = Some(sem.try_acquire(1).unwrap());
        let mut burst: Vec<_> = (0..4)
            .map(|_| tokio_test::task::spawn(sem.acquire(1)))
            .collect();
        for acquire in &mut burst {
            tokio_test::assert_pending!(acquire.poll());
        }
        for (position, acquire) in burst.iter_mut().enumerate() {
            let before = count();
            drop(held.take());
            held = Some(tokio_test::assert_ready_ok!(acquire.poll()));
            by_position[position] += u32::from(count() > before);
        }
    }
    // 100 expected per position, standard deviation 9.4.
    for timed in by_position {
        assert!(
            (60..140).contains(&timed),
            "timed by position: {by_position:?}"
        );
    }
}

/// A waker whose last clone's drop releases the permit it holds.
struct ReleaseOnDrop(#[allow(dead_code)] Option<corral_semaphore::OwnedPermit>);

impl std::task::Wake for ReleaseOnDrop {
    fn wake(self: Arc<Self>) {}
}

/// A grant that lands during the poll that finds the deadline passed is kept (see
/// `peers_jdk.rs`, `jdk_tck_short_timeout_grant_landing_with_the_deadline_is_kept`):
/// it is counted and timed as a wait, and not as a timeout. A plain timeout next to it
/// is a timeout and no wait.
#[test]
fn a_grant_kept_at_the_deadline_is_a_wait_not_a_timeout() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let rec = TestRecorder::new();
    let l = [("semaphore", "deadline")];
    let sem = {
        let _g = rec.install();
        Semaphore::with_name(1, "deadline")
    };
    sem.set_wait_sampling(1);
    let timeout = Duration::from_millis(10);
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(async {
            let holder = Waker::from(Arc::new(ReleaseOnDrop(sem.try_acquire_owned(1).ok())));
            let mut fut = Box::pin(sem.acquire_timeout(1, timeout));
            assert!(fut
                .as_mut()
                .poll(&mut Context::from_waker(&holder))
                .is_pending());
            drop(holder);
            tokio::time::advance(timeout).await;
            let kept = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            assert!(matches!(kept, Poll::Ready(Ok(_))), "{kept:?}");
            drop(kept);

            let held = sem.try_acquire(1).unwrap();
            let late = sem.acquire_timeout(1, timeout).await;
            assert!(late.is_err());
            drop(held);
        });
    sample_metrics();
    assert_eq!(
        rec.value("corral_semaphore_acquire_waits_total", &l),
        Some(1.0)
    );
    assert_eq!(
        rec.samples("corral_semaphore_acquire_wait_seconds", &l)
            .len(),
        1
    );
    assert_eq!(
        rec.value("corral_semaphore_acquire_timeouts_total", &l),
        Some(1.0)
    );
}
