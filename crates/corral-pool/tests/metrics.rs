//! The `metrics` feature (issue #15): a named pool's series equal its own `metrics()`
//! snapshot, read back through a recorder.
#![cfg(feature = "metrics")]

mod common;

use common::{gated, ready, BoxJobU32};
use corral_pool::{BoxJob, Builder, JobError, Pool, TrySubmitError};
use corral_test_support::{eventually, multi_thread, Rng, TestRecorder};
use tokio::time::Instant;

const L: &[(&str, &str)] = &[("pool", "img")];

fn v(rec: &TestRecorder, name: &str) -> f64 {
    rec.value(name, L)
        .unwrap_or_else(|| panic!("{name} not registered: {:?}", rec.series()))
}

/// A census tick: flushes the batched series of every named pool.
fn tick() {
    corral_task::TaskMetrics::new(0).sample();
}

/// Every series, as the pool's own snapshot says it should be (after a census tick
/// when the pool is busy: a busy pool publishes in batches).
fn assert_published(rec: &TestRecorder, pool: &Pool<BoxJobU32>) {
    let m = pool.metrics();
    let want = [
        ("corral_pool_running_jobs", m.running as f64),
        ("corral_pool_queued_jobs", m.queued as f64),
        ("corral_pool_workers", m.workers as f64),
        ("corral_pool_jobs_submitted_total", m.submitted as f64),
        ("corral_pool_jobs_completed_total", m.completed as f64),
        ("corral_pool_jobs_failed_total", m.failed as f64),
        ("corral_pool_jobs_cancelled_total", m.cancelled as f64),
        ("corral_pool_jobs_rejected_total", m.rejected as f64),
        ("corral_pool_jobs_handed_back_total", m.handed_back as f64),
    ];
    for (name, value) in want {
        assert_eq!(v(rec, name), value, "{name}: {m:?}");
    }
}

fn named(rec: &TestRecorder) -> Pool<BoxJobU32> {
    built(
        rec,
        Builder::new()
            .workers(2)
            .queue_capacity(2)
            .queue_wait_sampling(1),
    )
}

/// The pool `builder` describes, named `img`, its series registered with `rec`.
fn built(rec: &TestRecorder, builder: Builder) -> Pool<BoxJobU32> {
    let _g = rec.install();
    builder.name("img").build().unwrap()
}

#[test]
fn every_family_follows_the_pool() {
    let rec = TestRecorder::new();
    multi_thread(2).block_on(async {
        let pool = named(&rec);
        assert_eq!(v(&rec, "corral_pool_workers"), 2.0);
        let (go1, j1) = gated(1);
        let (go2, rx2) = tokio::sync::oneshot::channel::<()>();
        let j2: BoxJobU32 = Box::pin(async move {
            let _ = rx2.await;
            panic!("job two fails")
        });
        let h1 = pool.submit(j1).await.unwrap();
        let h2 = pool.submit(j2).await.unwrap();
        eventually("both run", || pool.metrics().running == 2).await;
        let (_go3, j3) = gated(3);
        let (_go4, j4) = gated(4);
        let h3 = pool.submit(j3).await.unwrap();
        let h4 = pool.submit(j4).await.unwrap();
        assert!(matches!(
            pool.try_submit(ready(5)),
            Err(TrySubmitError::Full(_))
        ));
        // Busy: published in batches, flushed by the census tick.
        tick();
        assert_eq!(v(&rec, "corral_pool_running_jobs"), 2.0);
        assert_eq!(v(&rec, "corral_pool_queued_jobs"), 2.0);
        assert_eq!(v(&rec, "corral_pool_jobs_rejected_total"), 1.0);
        assert_published(&rec, &pool);
        go1.send(()).unwrap();
        assert_eq!(h1.await.unwrap(), 1);
        go2.send(()).unwrap();
        assert!(matches!(h2.await, Err(JobError::Panicked(_))));
        eventually("3 and 4 run", || pool.metrics().running == 2).await;
        // Both waited in the queue, and every job is sampled; the pool is busy, so its
        // samples reach the histogram with the next batch (the census tick here).
        tick();
        assert!(rec.samples("corral_pool_queue_wait_seconds", L).len() >= 2);
        let (_go5, j5) = gated(5);
        let _h5 = pool.submit(j5).await.unwrap();
        let handed = pool.shutdown_now();
        assert_eq!(handed.len(), 1);
        assert!(matches!(h3.await, Err(JobError::Cancelled)));
        assert!(matches!(h4.await, Err(JobError::Cancelled)));
        pool.drain(Instant::now() + std::time::Duration::from_secs(5))
            .await
            .unwrap();
        assert_published(&rec, &pool);
        assert_eq!(v(&rec, "corral_pool_jobs_completed_total"), 1.0);
        assert_eq!(v(&rec, "corral_pool_jobs_failed_total"), 1.0);
        assert_eq!(v(&rec, "corral_pool_jobs_cancelled_total"), 2.0);
        assert_eq!(v(&rec, "corral_pool_jobs_handed_back_total"), 1.0);
        assert_eq!(v(&rec, "corral_pool_workers"), 0.0);
        assert_eq!(v(&rec, "corral_pool_running_jobs"), 0.0);
    });
}

/// A busy pool publishes without a census tick once every 1,024 submissions (and
/// completions), and its sampled queue waits reach the histogram in batches: all of
/// them once the pool is idle.
#[test]
fn a_busy_pool_publishes_in_batches_of_1024() {
    let rec = TestRecorder::new();
    multi_thread(2).block_on(async {
        let pool = built(
            &rec,
            Builder::new()
                .workers(1)
                .queue_capacity(2048)
                .queue_wait_sampling(1),
        );
        let (go, j) = gated(0);
        let first = pool.submit(j).await.unwrap();
        eventually("the gated job runs", || pool.metrics().running == 1).await;
        let mut handles = vec![first];
        for n in 1..1024 {
            handles.push(pool.try_submit(ready(n)).unwrap());
        }
        // The 1,024th submission published, with no tick and the pool still busy.
        assert_eq!(pool.metrics().submitted, 1024);
        assert_eq!(v(&rec, "corral_pool_jobs_submitted_total"), 1024.0);
        assert_eq!(v(&rec, "corral_pool_queued_jobs"), 1023.0);
        go.send(()).unwrap();
        for (n, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), n as u32);
        }
        eventually("idle", || pool.metrics().running == 0).await;
        let m = pool.metrics();
        assert_eq!(m.queue_wait.count, 1024);
        assert_eq!(
            rec.samples("corral_pool_queue_wait_seconds", L).len(),
            1024,
            "every sampled wait is recorded once the pool is idle"
        );
        assert_published(&rec, &pool);
    });
}

#[test]
fn an_unnamed_pool_reports_nothing() {
    let rec = TestRecorder::new();
    multi_thread(2).block_on(async {
        let _g = rec.install();
        let pool: Pool<BoxJob<u32>> = Builder::new().workers(1).build().unwrap();
        assert_eq!(pool.submit(ready(1)).await.unwrap().await.unwrap(), 1);
    });
    assert!(rec.series().is_empty(), "{:?}", rec.series());
}

/// Seeded stress on the multi-thread runtime: submitters race jobs that finish, panic,
/// get aborted or refused; once drained, every series equals the snapshot.
#[test]
fn series_match_the_snapshot_after_racing_operations() {
    std::panic::set_hook(Box::new(|_| {}));
    for seed in 0..20u64 {
        let rec = TestRecorder::new();
        multi_thread(2).block_on(async {
            let pool = std::sync::Arc::new(named(&rec));
            let mut tasks = Vec::new();
            for t in 0..4u64 {
                let pool = std::sync::Arc::clone(&pool);
                let mut rng = Rng(seed * 10 + t);
                tasks.push(tokio::spawn(async move {
                    for i in 0..40u32 {
                        let job: BoxJobU32 = match rng.below(4) {
                            0 => Box::pin(async move { panic!("job {i}") }),
                            1 => Box::pin(async move {
                                tokio::task::yield_now().await;
                                i
                            }),
                            _ => ready(i),
                        };
                        match rng.below(3) {
                            0 => {
                                if let Ok(h) = pool.try_submit(job) {
                                    h.abort();
                                }
                            }
                            _ => {
                                if let Ok(h) = pool.submit(job).await {
                                    let _ = h.await;
                                }
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            pool.close();
            pool.drain(Instant::now() + std::time::Duration::from_secs(10))
                .await
                .unwrap();
            assert_published(&rec, &pool);
            assert_eq!(v(&rec, "corral_pool_running_jobs"), 0.0, "seed {seed}");
            assert_eq!(v(&rec, "corral_pool_queued_jobs"), 0.0, "seed {seed}");
        });
    }
    let _ = std::panic::take_hook();
}

/// An idle pool's series are exact with no census tick and nobody else taking its
/// lock: a worker's own visits do not publish on release, but the last worker to go
/// idle publishes when it parks. 50 bursts on a multi-thread runtime, each checked
/// from the recorder alone.
#[test]
fn an_idle_pool_is_published_by_its_last_worker_to_park() {
    let rec = TestRecorder::new();
    multi_thread(2).block_on(async {
        let pool = built(&rec, Builder::new().workers(4).queue_capacity(64));
        for burst in 1..=50u32 {
            let handles: Vec<_> = (0..10)
                .map(|n| pool.try_submit(ready(n)).unwrap())
                .collect();
            for (n, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await.unwrap(), n as u32);
            }
            let done = f64::from(burst * 10);
            eventually("the idle pool published", || {
                v(&rec, "corral_pool_jobs_completed_total") == done
                    && v(&rec, "corral_pool_jobs_submitted_total") == done
                    && v(&rec, "corral_pool_running_jobs") == 0.0
                    && v(&rec, "corral_pool_queued_jobs") == 0.0
            })
            .await;
        }
        assert_published(&rec, &pool);
    });
}
