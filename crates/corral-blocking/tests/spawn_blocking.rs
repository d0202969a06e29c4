//! `spawn_blocking`: the drop-in for `tokio::task::spawn_blocking` on the default pool.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use corral_blocking::{default_pool, spawn_blocking, DEFAULT_MAX_THREADS};
use support::{eventually, Latch, OpenOnDrop};

#[tokio::test]
async fn returns_the_value_on_a_default_pool_thread() {
    let name = spawn_blocking(|| std::thread::current().name().map(str::to_owned))
        .await
        .unwrap()
        .unwrap();
    assert!(name.starts_with("corral-blocking-"), "{name}");
    assert_eq!(default_pool().max_threads(), DEFAULT_MAX_THREADS);
}

#[tokio::test]
async fn a_panic_reaches_the_join_handle_like_tokio() {
    let err = spawn_blocking(|| -> u8 { panic!("kaboom") })
        .await
        .unwrap_err();
    assert!(err.is_panic());
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"kaboom"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_before_the_job_started_means_it_never_runs() {
    // Fill every thread of the default pool, so the next job must queue. (Other tests
    // share the default pool; their jobs just wait behind these.)
    let gate = Latch::new();
    let _open = OpenOnDrop(gate.clone());
    let busy: Vec<_> = (0..DEFAULT_MAX_THREADS)
        .map(|_| {
            let gate = gate.clone();
            spawn_blocking(move || gate.wait())
        })
        .collect();
    eventually("default pool saturated", || {
        default_pool().metrics().running == DEFAULT_MAX_THREADS
    })
    .await;
    let ran = Arc::new(AtomicBool::new(false));
    let queued = spawn_blocking({
        let ran = ran.clone();
        move || ran.store(true, Ordering::SeqCst)
    });
    eventually("job queued", || default_pool().metrics().queued >= 1).await;
    queued.abort();
    assert!(queued.await.unwrap_err().is_cancelled());

    gate.open();
    for job in busy {
        job.await.unwrap();
    }
    // Anything still queued would have run by now: the pool is drained.
    spawn_blocking(|| ()).await.unwrap();
    assert!(!ran.load(Ordering::SeqCst));
    assert!(default_pool().metrics().threads_high_water <= DEFAULT_MAX_THREADS);
}

#[tokio::test]
async fn same_signature_as_tokio() {
    // Both coerce to the same function-pointer type: the import swap is the migration.
    type SpawnBlocking = fn(fn() -> u8) -> tokio::task::JoinHandle<u8>;
    let ours: SpawnBlocking = spawn_blocking;
    let theirs: SpawnBlocking = tokio::task::spawn_blocking;
    assert_eq!(ours(|| 7).await.unwrap(), theirs(|| 7).await.unwrap());
}

#[test]
fn the_job_starts_before_its_handle_is_polled() {
    // On a current-thread runtime that this test keeps blocked, the wrapper task can
    // never be polled: the job runs only because it was offered to the pool at once.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let ran = Arc::new(AtomicBool::new(false));
    let handle = spawn_blocking({
        let ran = ran.clone();
        move || ran.store(true, Ordering::SeqCst)
    });
    support::eventually_blocking("job ran", || ran.load(Ordering::SeqCst));
    rt.block_on(handle).unwrap();
}

#[test]
fn outside_a_runtime_it_panics_before_the_job_is_accepted() {
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let (ran, dropped) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let job = {
        let (ran, guard) = (ran.clone(), Dropped(dropped.clone()));
        move || {
            let _guard = guard;
            ran.store(true, Ordering::SeqCst);
        }
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spawn_blocking(job)));
    assert!(
        outcome.is_err(),
        "spawn_blocking outside a runtime must panic"
    );
    // Dropped unrun on the spot: it never reached the pool.
    assert!(dropped.load(Ordering::SeqCst));
    assert!(!ran.load(Ordering::SeqCst));
}
