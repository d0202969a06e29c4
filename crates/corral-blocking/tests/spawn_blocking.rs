//! `spawn_blocking`: the drop-in for `tokio::task::spawn_blocking`. Every behaviour
//! code written for tokio depends on is checked with the same assertions against
//! tokio's function and corral's: here, what tokio's own tests do not cover; tokio's
//! tests themselves (abort after start, runtime drop and `shutdown_timeout`, the paused
//! clock, ...) are ported in `tokio_parity.rs`, on both runtime flavours. (The cap
//! itself, which saturates the process-wide slots, is in `spawn_blocking_cap.rs`, its
//! own process.)

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use corral_blocking::{spawn_blocking, spawn_blocking_metrics, DEFAULT_MAX_THREADS};
use support::{eventually_blocking, multi_thread, BOTH};

#[test]
fn the_runtime_context_is_entered_inside_the_job() {
    for which in BOTH {
        let rt = multi_thread(2);
        let outside = rt.handle().id();
        let (inside, spawned) = rt.block_on(async move {
            which
                .spawn(|| {
                    let handle = Handle::try_current().expect("a runtime context in the job");
                    // What code written for tokio does from a blocking job.
                    let task = tokio::spawn(async { 5 });
                    (handle.id(), handle.block_on(task).unwrap())
                })
                .await
                .unwrap()
        });
        assert_eq!((inside, spawned), (outside, 5), "{which:?}");
    }
}

#[test]
fn a_job_not_started_when_the_runtime_shuts_down_never_runs_and_a_panic_keeps_its_payload() {
    for which in BOTH {
        let rt = multi_thread(2);
        let err = rt
            .block_on(async { which.spawn(|| -> u8 { panic!("kaboom") }).await })
            .unwrap_err();
        assert!(err.is_panic(), "{which:?}");
        assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"kaboom"));
        // Shut down first: the spawn is refused quietly, the job dropped unrun.
        let ran = Arc::new(AtomicBool::new(false));
        let handle = rt.handle().clone();
        rt.shutdown_background();
        let _enter = handle.enter();
        let job = which.spawn({
            let ran = ran.clone();
            move || ran.store(true, Ordering::SeqCst)
        });
        drop(job);
        std::thread::sleep(Duration::from_millis(10));
        assert!(!ran.load(Ordering::SeqCst), "{which:?}");
    }
}

#[test]
fn same_signature_as_tokio() {
    // Both coerce to the same function-pointer type: the import swap is the migration.
    type SpawnBlocking = fn(fn() -> u8) -> JoinHandle<u8>;
    let ours: SpawnBlocking = spawn_blocking;
    let theirs: SpawnBlocking = tokio::task::spawn_blocking;
    let rt = multi_thread(2);
    assert_eq!(
        rt.block_on(async { ours(|| 7).await }).unwrap(),
        rt.block_on(async { theirs(|| 7).await }).unwrap()
    );
}

#[test]
fn the_job_starts_before_its_handle_is_polled() {
    // On a current-thread runtime that this test keeps blocked, no task can run: the
    // job runs only because it went to the blocking pool at once.
    for which in BOTH {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let ran = Arc::new(AtomicBool::new(false));
        let handle = which.spawn({
            let ran = ran.clone();
            move || ran.store(true, Ordering::SeqCst)
        });
        eventually_blocking("job ran", || ran.load(Ordering::SeqCst));
        rt.block_on(handle).unwrap();
    }
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
    // Dropped unrun on the spot: it never reached a pool.
    assert!(dropped.load(Ordering::SeqCst));
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(spawn_blocking_metrics().max_running, DEFAULT_MAX_THREADS);
}
