//! What a user can observe about jobs: `is_current_worker` for code that must not wait
//! on its own pool, the `on_panic` hook for panics nobody awaits, and metrics that
//! already count a job when its handle resolves, whatever way the job ended.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{gated, multi_thread, pool, ready, settle, BoxJobU32};
use corral_pool::{BoxJob, Builder, JobError, Pool, TrySubmitError};
use tokio::time::Instant;

type Seen = Arc<Mutex<Vec<String>>>;

fn payloads() -> (Seen, impl Fn(Box<dyn std::any::Any + Send>) + Send + Sync) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let hook = move |payload: Box<dyn std::any::Any + Send>| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .unwrap_or_default();
        sink.lock().expect("sink").push(msg);
    };
    (seen, hook)
}

fn quiet_panics() {
    // Keep the deliberate panics' messages out of the output.
    std::panic::set_hook(Box::new(|info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| p.downcast_ref::<String>().map(String::as_str));
        if !msg.is_some_and(|s| s.starts_with("job ")) {
            eprintln!("{info}");
        }
    }));
}

#[tokio::test]
async fn is_current_worker_is_true_only_inside_this_pools_jobs() {
    let pool: Arc<Pool<BoxJob<(bool, bool)>>> = Arc::new(
        Builder::new()
            .workers(2)
            .queue_capacity(2)
            .build()
            .expect("valid"),
    );
    let other: Arc<Pool<BoxJob<(bool, bool)>>> =
        Arc::new(Builder::new().workers(1).build().expect("valid"));
    assert!(!pool.is_current_worker());

    let (mine, theirs) = (Arc::clone(&pool), Arc::clone(&other));
    let inside = pool
        .submit(Box::pin(async move {
            tokio::task::yield_now().await; // still true after a wake-up
            (mine.is_current_worker(), theirs.is_current_worker())
        }))
        .await
        .expect("open");
    assert_eq!(inside.await.expect("ran"), (true, false));

    let (mine, theirs) = (Arc::clone(&pool), Arc::clone(&other));
    let elsewhere = other
        .submit(Box::pin(async move {
            (mine.is_current_worker(), theirs.is_current_worker())
        }))
        .await
        .expect("open");
    assert_eq!(elsewhere.await.expect("ran"), (false, true));
    // A task spawned from inside a job is not the job.
    let mine = Arc::clone(&pool);
    let spawned = pool
        .submit(Box::pin(async move {
            let mine = Arc::clone(&mine);
            let outside = tokio::spawn(async move { mine.is_current_worker() })
                .await
                .expect("task");
            (outside, false)
        }))
        .await
        .expect("open");
    assert_eq!(spawned.await.expect("ran"), (false, false));
    assert!(!pool.is_current_worker());
}

/// The way out of a nested submit that `# Deadlocks` documents: a job that finds the
/// pool full runs the work inline instead of waiting for itself.
#[tokio::test]
async fn a_job_can_avoid_waiting_on_its_own_full_pool() {
    let pool: Arc<Pool<BoxJob<u32>>> = Arc::new(Builder::new().workers(1).build().expect("valid"));
    let inner = Arc::clone(&pool);
    let h = pool
        .submit(Box::pin(async move {
            assert!(inner.is_current_worker());
            match inner.try_submit(Box::pin(async { 2 })) {
                Ok(h) => h.await.expect("ran"),
                Err(TrySubmitError::Full(job) | TrySubmitError::Closed(job)) => job.await,
            }
        }))
        .await
        .expect("open");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), h)
            .await
            .expect("no deadlock")
            .expect("ran"),
        2
    );
}

#[tokio::test]
async fn on_panic_gets_the_panics_nobody_awaits() {
    quiet_panics();
    let (seen, hook) = payloads();
    let pool: Pool<BoxJobU32> = Builder::new()
        .workers(1)
        .queue_capacity(4)
        .on_panic(hook)
        .build()
        .expect("valid");

    // Handle dropped before the job panics: reported by the worker.
    let (gate, _) = gated(0);
    drop(gate);
    drop(
        pool.try_submit(Box::pin(async { panic!("job a") }))
            .expect("room"),
    );
    // Handle kept and awaited: the panic is its outcome, not reported.
    let kept = pool
        .try_submit(Box::pin(async { panic!("job b") }))
        .expect("room");
    // Handle dropped after the job panicked, unobserved: reported by the drop.
    let late = pool
        .try_submit(Box::pin(async { panic!("job c") }))
        .expect("room");
    // A job that does not panic is never reported.
    drop(pool.try_submit(ready(1)).expect("room"));
    settle().await;
    assert_eq!(*seen.lock().expect("seen"), ["job a"]);
    assert!(late.is_finished());
    drop(late);
    assert!(kept.await.expect_err("panicked").is_panic());
    assert_eq!(*seen.lock().expect("seen"), ["job a", "job c"]);
    let m = pool.metrics();
    assert_eq!((m.failed, m.completed), (3, 1));
}

#[test]
fn on_panic_runs_on_a_multi_thread_runtime_for_every_detached_panic() {
    quiet_panics();
    let rt = multi_thread();
    let (seen, hook) = payloads();
    rt.block_on(async {
        let pool: Pool<BoxJobU32> = Builder::new()
            .workers(2)
            .queue_capacity(8)
            .on_panic(hook)
            .build()
            .expect("valid");
        for n in 0..200u32 {
            let job: BoxJobU32 = Box::pin(async move {
                if n % 2 == 0 {
                    panic!("job {n}");
                }
                n
            });
            // Dropped at once: the panic races the drop, and is reported either way.
            drop(pool.submit(job).await.expect("open"));
        }
        pool.drain(Instant::now() + Duration::from_secs(10))
            .await
            .expect("drains");
    });
    assert_eq!(seen.lock().expect("seen").len(), 100);
}

/// A caller that reads `metrics()` right after its handle resolved sees its job
/// counted, however it ended: completed, panicked, aborted while queued or while
/// running, handed back.
#[test]
fn metrics_count_a_job_before_its_handle_resolves_on_a_multi_thread_runtime() {
    quiet_panics();
    let rt = multi_thread();
    rt.block_on(async {
        let pool = Arc::new(pool(2, 4));
        for n in 0..300u32 {
            let before = pool.metrics();
            let ended = before.completed + before.failed + before.cancelled + before.handed_back;
            let job: BoxJobU32 = Box::pin(async move {
                tokio::task::yield_now().await;
                if n % 3 == 0 {
                    panic!("job {n}");
                }
                n
            });
            let h = pool.submit(job).await.expect("open");
            if n % 5 == 0 {
                h.abort();
            }
            let _ = tokio::spawn(h).await.expect("awaited on another task");
            let m = pool.metrics();
            assert_eq!(
                m.completed + m.failed + m.cancelled + m.handed_back,
                ended + 1,
                "job {n} counted by the time its handle resolved"
            );
        }
        let (gate, busy) = gated(0);
        let busy = pool.submit(busy).await.expect("open");
        let (_g2, other) = gated(0);
        let _other = pool.submit(other).await.expect("open");
        while pool.metrics().running < 2 {
            tokio::task::yield_now().await;
        }
        let queued = pool.submit(ready(1)).await.expect("open");
        let back = pool.shutdown_now();
        assert_eq!(back.len(), 1);
        assert!(matches!(queued.await, Err(JobError::HandedBack)));
        assert_eq!(pool.metrics().handed_back, 1);
        assert!(busy.await.expect_err("stopped").is_cancelled());
        drop(gate);
    });
}
