//! tokio's own `spawn_blocking` tests (`tests/task_blocking.rs`, the blocking cases of
//! `tests/rt_common.rs`, `tests/rt_threaded.rs`, `tests/rt_handle_block_on.rs` and
//! `tests/task_id.rs`), ported to run the same assertions against
//! `tokio::task::spawn_blocking` and `corral_blocking::spawn_blocking`, on a
//! current-thread and on a multi-thread runtime each.
//!
//! Each test names the tokio test it ports. Where corral is documented to differ (the
//! cap of `DEFAULT_MAX_THREADS` running jobs, the waiting task when it is reached),
//! the test asserts corral's documentation and names the difference.
//!
//! The cap is process-wide, so the tests that fill it take [`exclusive`]; every other
//! test takes [`shared`], so its jobs always find a free slot (the path documented to
//! be exactly tokio's).

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};

use corral_blocking::{spawn_blocking_metrics, DEFAULT_MAX_THREADS, SPAWN_BLOCKING_WAITER_NAME};
use support::{eventually, eventually_blocking, Latch, OpenOnDrop, Which, BOTH};

static CAP: RwLock<()> = RwLock::new(());

/// For a test whose jobs must each find a free slot.
fn shared() -> RwLockReadGuard<'static, ()> {
    CAP.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// For a test that fills the process-wide cap.
fn exclusive() -> RwLockWriteGuard<'static, ()> {
    CAP.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The two runtime flavours of tokio's `rt_common.rs`: current-thread and multi-thread
/// (two workers), every driver enabled.
fn flavours() -> [(&'static str, Builder); 2] {
    let mut current = Builder::new_current_thread();
    current.enable_all();
    let mut multi = Builder::new_multi_thread();
    multi.worker_threads(2).enable_all();
    [("current_thread", current), ("multi_thread", multi)]
}

/// Runs `test` for each function on each flavour, with the case in every message.
fn each(mut test: impl FnMut(Which, Runtime, &str)) {
    for which in BOTH {
        for (flavour, mut builder) in flavours() {
            let case = format!("{which:?} on {flavour}");
            test(which, builder.build().unwrap(), &case);
        }
    }
}

/// Drives `fut` on the calling thread by parking it, with no tokio context of its own:
/// what tokio's tests do with `futures::executor::block_on` inside a blocking job, to
/// show that the job's runtime context (entered by `spawn_blocking`) is what reaches
/// the drivers.
fn park_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Runs `f` on its own thread and fails if it never returns (a hang is the failure the
/// paused-clock tests look for), instead of hanging the suite.
fn without_hang(what: &'static str, f: impl FnOnce() + Send + 'static) {
    let thread = std::thread::spawn(f);
    eventually_blocking(what, || thread.is_finished());
    thread.join().unwrap();
}

/// tokio `task_blocking::basic_blocking`: a task awaits a blocking job's value, many
/// times in a row.
#[test]
fn basic_blocking() {
    let _cap = shared();
    each(|which, rt, case| {
        rt.block_on(async {
            for _ in 0..50 {
                let out = tokio::spawn(async move {
                    which
                        .spawn(|| {
                            std::thread::yield_now();
                            "hello"
                        })
                        .await
                        .unwrap()
                })
                .await
                .unwrap();
                assert_eq!(out, "hello", "{case}");
            }
        });
    });
}

/// tokio `task_blocking::block_in_blocking`: `block_in_place` inside a blocking job
/// runs its closure in place (a blocking thread is no worker to hand off).
#[test]
fn block_in_blocking() {
    let _cap = shared();
    each(|which, rt, case| {
        let out = rt.block_on(async move {
            tokio::spawn(async move {
                which
                    .spawn(|| {
                        tokio::task::block_in_place(std::thread::yield_now);
                        "hello"
                    })
                    .await
            })
            .await
            .unwrap()
        });
        assert_eq!(out.unwrap(), "hello", "{case}");
    });
}

/// The other way round (tokio `rt_threaded::test_block_in_place*` with a blocking job
/// inside): a worker in `block_in_place` spawns a blocking job and blocks on it through
/// `Handle::block_on`. Multi-thread only: `block_in_place` panics on a current-thread
/// runtime whatever runs inside it.
#[test]
fn spawn_blocking_inside_block_in_place() {
    let _cap = shared();
    for which in BOTH {
        let rt = support::multi_thread(2);
        let out = rt.block_on(async move {
            tokio::spawn(async move {
                tokio::task::block_in_place(|| Handle::current().block_on(which.spawn(|| "hello")))
            })
            .await
            .unwrap()
        });
        assert_eq!(out.unwrap(), "hello", "{which:?}");
    }
}

/// tokio `rt_common::spawn_from_blocking`: a job spawns a task (it runs in the
/// caller's runtime context), whose handle it returns.
#[test]
fn spawn_from_blocking() {
    let _cap = shared();
    each(|which, rt, case| {
        let out = rt.block_on(async move {
            let inner = which
                .spawn(|| tokio::spawn(async move { "hello" }))
                .await
                .unwrap();
            inner.await.unwrap()
        });
        assert_eq!(out, "hello", "{case}");
    });
}

/// tokio `rt_common::spawn_blocking_from_blocking`: a job calls the same
/// `spawn_blocking` and returns that job's handle.
#[test]
fn spawn_blocking_from_blocking() {
    let _cap = shared();
    each(|which, rt, case| {
        let out = rt.block_on(async move {
            let inner = which.spawn(move || which.spawn(|| "hello")).await.unwrap();
            inner.await.unwrap()
        });
        assert_eq!(out, "hello", "{case}");
    });
}

/// tokio `rt_common::sleep_from_blocking`: a job waits on a tokio timer with an
/// executor of its own; the time driver is reached through the runtime context the
/// job runs in. (tokio also checks the wall clock moved on; no timing is asserted here.)
#[test]
fn sleep_from_blocking() {
    let _cap = shared();
    each(|which, rt, case| {
        rt.block_on(async move {
            which
                .spawn(|| park_on(tokio::time::sleep(Duration::from_millis(1))))
                .await
                .unwrap_or_else(|err| panic!("{case}: {err}"));
        });
    });
}

/// tokio `rt_common::socket_from_blocking`: a job connects a tokio `TcpStream` with an
/// executor of its own (the I/O driver through the runtime context) to a listener the
/// runtime accepts on, on 127.0.0.1.
#[test]
fn socket_from_blocking() {
    let _cap = shared();
    each(|which, rt, case| {
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = which.spawn(move || park_on(tokio::net::TcpStream::connect(addr)).map(drop));
            let (_conn, _) = listener.accept().await.unwrap();
            peer.await
                .unwrap()
                .unwrap_or_else(|err| panic!("{case}: {err}"));
        });
    });
}

/// tokio `task_id::task_id_spawn_blocking`: inside a job, `task::id()` works and is
/// the id its `JoinHandle` reports (for corral: a job that found a free slot).
#[test]
fn task_id_inside_the_job() {
    let _cap = shared();
    each(|which, rt, case| {
        rt.block_on(async move {
            let handle = which.spawn(tokio::task::try_id);
            let outside = handle.id();
            assert_eq!(handle.await.unwrap(), Some(outside), "{case}");
        });
    });
}

/// tokio `rt_common::panic_in_task`, for a blocking job (and `task_blocking`'s
/// panicking job): the panic reaches the handle as a `JoinError` that is a panic,
/// carries its payload and names it when printed; the runtime lives on.
#[test]
fn a_panicking_job_is_a_join_error_with_its_payload() {
    let _cap = shared();
    each(|which, rt, case| {
        rt.block_on(async move {
            let err = which
                .spawn(|| -> u8 { std::panic::panic_any("kaboom") })
                .await
                .unwrap_err();
            assert!(err.is_panic() && !err.is_cancelled(), "{case}");
            assert!(err.to_string().contains("kaboom"), "{case}: {err}");
            assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"kaboom"));
            assert_eq!(which.spawn(|| 1).await.unwrap(), 1, "{case}: lives on");
        });
    });
}

/// tokio's `JoinHandle::abort` on a blocking job that has not started (tokio's docs:
/// it may keep the job from starting; it does when the job is still queued behind a
/// busy blocking thread): on a runtime with one blocking thread, held by a first job,
/// a second job aborted while queued never runs and its handle reports cancelled.
#[test]
fn abort_before_the_job_started_means_it_never_runs() {
    let _cap = shared();
    for which in BOTH {
        for (flavour, mut builder) in flavours() {
            let case = format!("{which:?} on {flavour}");
            let rt = builder.max_blocking_threads(1).build().unwrap();
            let (gate, started, ran) = (
                Latch::new(),
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
            );
            let _open = OpenOnDrop(gate.clone());
            rt.block_on(async {
                let first = which.spawn({
                    let (gate, started) = (gate.clone(), started.clone());
                    move || {
                        started.store(true, SeqCst);
                        gate.wait();
                    }
                });
                eventually("first job running", || started.load(SeqCst)).await;
                let second = which.spawn({
                    let ran = ran.clone();
                    move || ran.store(true, SeqCst)
                });
                second.abort();
                gate.open();
                first.await.unwrap();
                assert!(second.await.unwrap_err().is_cancelled(), "{case}");
                // The one thread is free again: anything still queued would have run.
                which.spawn(|| ()).await.unwrap();
            });
            assert!(!ran.load(SeqCst), "{case}: the aborted job ran");
        }
    }
}

/// tokio's `JoinHandle::abort` on a blocking job that is running (tokio's docs: no
/// effect): the job finishes and the handle still yields its value.
#[test]
fn abort_after_the_job_started_keeps_its_value() {
    let _cap = shared();
    each(|which, rt, case| {
        let (gate, started) = (Latch::new(), Arc::new(AtomicBool::new(false)));
        let _open = OpenOnDrop(gate.clone());
        let value = rt.block_on(async {
            let handle = which.spawn({
                let (gate, started) = (gate.clone(), started.clone());
                move || {
                    started.store(true, SeqCst);
                    gate.wait();
                    7
                }
            });
            eventually("job started", || started.load(SeqCst)).await;
            handle.abort();
            gate.open();
            handle.await
        });
        assert_eq!(value.unwrap(), 7, "{case}");
    });
}

/// Starts a detached job on `rt` that runs until the returned latch opens and then
/// sets the returned flag; returns once it runs.
fn started_detached_job(rt: &Runtime, which: Which) -> (Latch, Arc<AtomicBool>) {
    let (gate, started, done) = (
        Latch::new(),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let _enter = rt.enter();
    drop(which.spawn({
        let (gate, started, done) = (gate.clone(), started.clone(), done.clone());
        move || {
            started.store(true, SeqCst);
            gate.wait();
            done.store(true, SeqCst);
        }
    }));
    eventually_blocking("job started", || started.load(SeqCst));
    (gate, done)
}

/// tokio `rt_common::shutdown_timeout` and `shutdown_timeout_0`: a runtime whose
/// blocking job never returns (here: not until the test lets it) still shuts down
/// within `shutdown_timeout`, 100 ms or zero, leaving the job running.
#[test]
fn shutdown_timeout_bounds_the_wait_for_a_started_job() {
    let _cap = shared();
    for timeout in [Duration::from_millis(100), Duration::ZERO] {
        each(|which, rt, case| {
            let (gate, done) = started_detached_job(&rt, which);
            let _open = OpenOnDrop(gate.clone());
            rt.shutdown_timeout(timeout);
            assert!(!done.load(SeqCst), "{case}, {timeout:?}");
            gate.open();
            eventually_blocking("job finished", || done.load(SeqCst));
        });
    }
}

/// tokio's runtime drop (documented: it waits for the blocking jobs it started): a
/// detached job still running when the runtime is dropped finishes before drop returns.
#[test]
fn dropping_the_runtime_waits_for_started_jobs() {
    let _cap = shared();
    each(|which, rt, case| {
        let (gate, done) = started_detached_job(&rt, which);
        let _open = OpenOnDrop(gate.clone());
        let opener = std::thread::spawn({
            let gate = gate.clone();
            move || {
                std::thread::sleep(Duration::from_millis(20));
                gate.open();
            }
        });
        drop(rt);
        assert!(done.load(SeqCst), "{case}: drop returned before the job");
        opener.join().unwrap();
    });
}

/// tokio `rt_handle_block_on::spawn_blocking_started_before_shutdown_continues`: a job
/// started before `shutdown_timeout` finishes, and its handle, driven through the
/// shut-down runtime's handle, yields the value.
#[test]
fn a_job_started_before_shutdown_continues() {
    let _cap = shared();
    each(|which, rt, case| {
        let handle = rt.handle().clone();
        let _enter = handle.enter();
        let (gate, started) = (Latch::new(), Arc::new(AtomicBool::new(false)));
        let _open = OpenOnDrop(gate.clone());
        let job = which.spawn({
            let (gate, started) = (gate.clone(), started.clone());
            move || {
                started.store(true, SeqCst);
                gate.wait();
                42
            }
        });
        eventually_blocking("job started", || started.load(SeqCst));
        let opener = std::thread::spawn({
            let gate = gate.clone();
            move || {
                std::thread::sleep(Duration::from_millis(20));
                gate.open();
            }
        });
        rt.shutdown_timeout(corral_test_support::GIVE_UP);
        assert_eq!(handle.block_on(job).unwrap(), 42, "{case}");
        opener.join().unwrap();
    });
}

/// tokio `rt_handle_block_on::spawn_blocking_after_shutdown_fails`: after the runtime
/// shut down, a job is refused quietly: its handle reports cancelled and it never runs.
#[test]
fn spawn_blocking_after_shutdown_fails() {
    let _cap = shared();
    each(|which, rt, case| {
        let handle = rt.handle().clone();
        rt.shutdown_timeout(Duration::from_secs(1));
        let _enter = handle.enter();
        let ran = Arc::new(AtomicBool::new(false));
        let job = which.spawn({
            let ran = ran.clone();
            move || ran.store(true, SeqCst)
        });
        let err = handle.block_on(job).unwrap_err();
        assert!(err.is_cancelled(), "{case}: {err}");
        assert!(!ran.load(SeqCst), "{case}");
    });
}

/// tokio `task_blocking::blocking_when_paused`, `blocking_task_wakes_paused_runtime`,
/// `unawaited_blocking_task_wakes_paused_runtime` and
/// `panicking_blocking_task_wakes_paused_runtime`: on a paused clock, a running job
/// keeps time from auto-advancing (so timeouts around it do not fire), and its end,
/// awaited or not, returning or panicking, wakes the runtime so paused time moves on.
/// (tokio's also check the wall clock stayed under 10 s; here a hang fails instead.)
/// Current-thread only, as tokio's: the clock can only be paused there.
#[test]
fn blocking_jobs_and_the_paused_clock() {
    let _cap = shared();
    for which in BOTH {
        without_hang("a paused runtime was never woken", move || {
            let rt = Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async move {
                let sleep = |ms| move || std::thread::sleep(Duration::from_millis(ms));
                let timeout = tokio::time::timeout;
                timeout(Duration::from_secs(3), which.spawn(sleep(1)))
                    .await
                    .expect("timeout should not fire")
                    .unwrap();
                // Even when the job runs longer, in real time, than the timeout.
                timeout(Duration::from_millis(1), which.spawn(sleep(50)))
                    .await
                    .unwrap_or_else(|_| panic!("{which:?}: timeout fired around a job"))
                    .unwrap();
                timeout(Duration::from_secs(15), which.spawn(sleep(1)))
                    .await
                    .unwrap()
                    .unwrap();
                let unawaited = which.spawn(sleep(1));
                tokio::time::sleep(Duration::from_secs(15)).await;
                unawaited.await.unwrap();
                let panicked = timeout(
                    Duration::from_secs(15),
                    which.spawn(|| {
                        std::thread::sleep(Duration::from_millis(1));
                        panic!("blocking job panicked");
                    }),
                )
                .await
                .unwrap();
                assert!(panicked.unwrap_err().is_panic(), "{which:?}");
            });
        });
    }
}

/// tokio `rt_threaded::blocking`-style load (there: 1,000 tasks while every worker is
/// in `block_in_place`): 1,000 jobs from 10 tasks, all in flight at once, each value
/// to its own handle. Deliberate difference: corral runs at most
/// `DEFAULT_MAX_THREADS` at once and the rest wait their turn (its high-water mark
/// says so); tokio runs as many as its 512 threads allow.
#[test]
fn many_jobs_all_complete() {
    let _cap = exclusive();
    each(|which, rt, case| {
        rt.block_on(async move {
            let tasks: Vec<_> = (0..10u32)
                .map(|t| {
                    tokio::spawn(async move {
                        let handles: Vec<_> = (0..100u32)
                            .map(|i| {
                                which.spawn(move || {
                                    std::thread::yield_now();
                                    t * 100 + i
                                })
                            })
                            .collect();
                        for (i, handle) in (0..).zip(handles) {
                            assert_eq!(handle.await.unwrap(), t * 100 + i);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap_or_else(|err| panic!("{case}: {err}"));
            }
        });
    });
    let metrics = spawn_blocking_metrics();
    assert!(
        metrics.running_high_water <= DEFAULT_MAX_THREADS,
        "{metrics:?}"
    );
    assert_eq!((metrics.running, metrics.waiting), (0, 0), "{metrics:?}");
}

/// The cap, against tokio (tokio's docs: up to `max_blocking_threads`, 512, run at
/// once): `DEFAULT_MAX_THREADS + 1` jobs that each wait on a latch all start with
/// tokio; with corral, `DEFAULT_MAX_THREADS` start and the last waits in a tracked
/// task named `SPAWN_BLOCKING_WAITER_NAME`, in the live-task registry, until a slot
/// frees. Both deliver every value.
#[test]
fn the_cap_of_64_running_jobs() {
    let _cap = exclusive();
    each(|which, rt, case| {
        let (gate, running) = (Latch::new(), Arc::new(AtomicUsize::new(0)));
        let _open = OpenOnDrop(gate.clone());
        rt.block_on(async {
            let handles: Vec<_> = (0..=DEFAULT_MAX_THREADS)
                .map(|i| {
                    let (gate, running) = (gate.clone(), running.clone());
                    which.spawn(move || {
                        running.fetch_add(1, SeqCst);
                        gate.wait();
                        i
                    })
                })
                .collect();
            match which {
                Which::Tokio => {
                    eventually("all started", || {
                        running.load(SeqCst) == DEFAULT_MAX_THREADS + 1
                    })
                    .await;
                }
                Which::Corral => {
                    eventually("cap reached", || {
                        running.load(SeqCst) == DEFAULT_MAX_THREADS
                    })
                    .await;
                    let metrics = spawn_blocking_metrics();
                    assert_eq!(
                        (metrics.running, metrics.waiting),
                        (DEFAULT_MAX_THREADS, 1),
                        "{case}"
                    );
                    let waiters = corral_task::snapshot()
                        .iter()
                        .filter(|t| t.name() == Some(SPAWN_BLOCKING_WAITER_NAME))
                        .count();
                    assert_eq!(waiters, 1, "{case}");
                    assert_eq!(running.load(SeqCst), DEFAULT_MAX_THREADS, "{case}");
                }
            }
            gate.open();
            for (i, handle) in handles.into_iter().enumerate() {
                assert_eq!(handle.await.unwrap(), i, "{case}");
            }
        });
    });
}

/// tokio `rt_common::spawn_blocking_from_blocking`, with the outer job blocking on
/// the inner one (`Handle::block_on`), `DEFAULT_MAX_THREADS` outer jobs at once. With
/// tokio every inner job runs (its pool has room); with corral the outer jobs hold
/// every slot, so the inner ones wait for a slot that only an outer job's return can
/// free: the deadlock `spawn_blocking`'s docs warn of. Here each outer job also gives
/// up when a latch opens, so the test ends: then the inner jobs run.
#[test]
fn nested_jobs_that_block_on_each_other_and_the_cap() {
    let _cap = exclusive();
    for which in BOTH {
        let rt = support::multi_thread(2);
        let (all_out, give_up) = (Latch::new(), Latch::new());
        let (outer_ran, inner_ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let _open = (OpenOnDrop(all_out.clone()), OpenOnDrop(give_up.clone()));
        rt.block_on(async {
            let outer: Vec<_> = (0..DEFAULT_MAX_THREADS)
                .map(|_| {
                    let (all_out, give_up) = (all_out.clone(), give_up.clone());
                    let (outer_ran, inner_ran) = (outer_ran.clone(), inner_ran.clone());
                    which.spawn(move || {
                        // Every outer job holds its thread before any inner one exists.
                        outer_ran.fetch_add(1, SeqCst);
                        all_out.wait();
                        let inner = which.spawn(move || {
                            inner_ran.fetch_add(1, SeqCst);
                        });
                        Handle::current().block_on(async {
                            tokio::select! {
                                done = inner => done.map(|()| true).unwrap(),
                                () = give_up.opened() => false,
                            }
                        })
                    })
                })
                .collect();
            eventually("outer jobs running", || {
                outer_ran.load(SeqCst) == DEFAULT_MAX_THREADS
            })
            .await;
            all_out.open();
            match which {
                Which::Tokio => {
                    for handle in outer {
                        assert!(handle.await.unwrap(), "tokio: the inner job ran");
                    }
                }
                Which::Corral => {
                    eventually("inner jobs waiting", || {
                        spawn_blocking_metrics().waiting == DEFAULT_MAX_THREADS
                    })
                    .await;
                    assert_eq!(inner_ran.load(SeqCst), 0);
                    give_up.open();
                    // An outer job may still see its inner job finish first, once
                    // the others' slots free; either way it returns.
                    for handle in outer {
                        handle.await.unwrap();
                    }
                    eventually("inner jobs ran once slots freed", || {
                        inner_ran.load(SeqCst) == DEFAULT_MAX_THREADS
                    })
                    .await;
                }
            }
        });
    }
}

/// Fills the cap with jobs on a runtime of their own that hold their slots until the
/// returned latch opens; returns once all of them run.
fn fill_the_cap() -> (Runtime, Latch, Vec<tokio::task::JoinHandle<()>>) {
    let rt = support::multi_thread(1);
    let (hold, running) = (Latch::new(), Arc::new(AtomicUsize::new(0)));
    let holders = {
        let _enter = rt.enter();
        (0..DEFAULT_MAX_THREADS)
            .map(|_| {
                let (hold, running) = (hold.clone(), running.clone());
                corral_blocking::spawn_blocking(move || {
                    running.fetch_add(1, SeqCst);
                    hold.wait();
                })
            })
            .collect()
    };
    eventually_blocking("cap filled", || running.load(SeqCst) == DEFAULT_MAX_THREADS);
    (rt, hold, holders)
}

/// The tests above, for corral jobs that had to wait for a slot (the path that is not
/// tokio's own): once started, such a job runs in its caller's runtime context and
/// inside a task, a panic reaches its handle with the payload, and dropping its
/// runtime waits for it. (Documented differences on this path: the handle is the
/// waiting task's, so aborting it after the job started may report cancelled, see
/// `spawn_blocking_cap.rs`.)
#[test]
fn a_job_that_waited_for_its_slot_behaves_like_tokios() {
    let _cap = exclusive();
    for (flavour, mut builder) in flavours() {
        let rt = builder.build().unwrap();
        let (holders_rt, hold, holders) = fill_the_cap();
        let _open = OpenOnDrop(hold.clone());
        let (context, panicked) = rt.block_on(async {
            let context = corral_blocking::spawn_blocking(|| {
                let id = Handle::try_current().map(|handle| handle.id()).ok();
                (id, tokio::task::try_id().is_some())
            });
            let panicked =
                corral_blocking::spawn_blocking(|| -> u8 { std::panic::panic_any("kaboom") });
            eventually("both waiting", || spawn_blocking_metrics().waiting == 2).await;
            hold.open();
            (context.await.unwrap(), panicked.await.unwrap_err())
        });
        assert_eq!(context, (Some(rt.handle().id()), true), "{flavour}");
        assert!(panicked.is_panic(), "{flavour}");
        assert_eq!(
            panicked.into_panic().downcast_ref::<&str>(),
            Some(&"kaboom")
        );
        holders_rt.block_on(async {
            for holder in holders {
                holder.await.unwrap();
            }
        });

        // Dropping the runtime waits for a started job that had waited for its slot.
        let (holders_rt, hold, holders) = fill_the_cap();
        let _open = OpenOnDrop(hold.clone());
        let (gate, started, done) = (
            Latch::new(),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let _open_gate = OpenOnDrop(gate.clone());
        rt.block_on(async {
            drop(corral_blocking::spawn_blocking({
                let (gate, started, done) = (gate.clone(), started.clone(), done.clone());
                move || {
                    started.store(true, SeqCst);
                    gate.wait();
                    done.store(true, SeqCst);
                }
            }));
            eventually("waiting", || spawn_blocking_metrics().waiting == 1).await;
            hold.open();
            eventually("started", || started.load(SeqCst)).await;
        });
        let opener = std::thread::spawn({
            let gate = gate.clone();
            move || {
                std::thread::sleep(Duration::from_millis(20));
                gate.open();
            }
        });
        drop(rt);
        assert!(done.load(SeqCst), "{flavour}: drop returned before the job");
        opener.join().unwrap();
        holders_rt.block_on(async {
            for holder in holders {
                holder.await.unwrap();
            }
        });
    }
}

/// tokio's runtime shutdown cancels a blocking job that is queued (not started): its
/// handle reports `is_cancelled`, quietly (or the job runs, if a blocking thread that
/// was busy takes it from the queue before it sees the shutdown). The same for corral
/// jobs that waited for a slot and were handed to the runtime's blocking pool just
/// before it shut down: the handle is the waiting task's, and it must report cancelled
/// too (or the value), not a panic of its own (a panic is printed, and aborts the process under `panic = "abort"`). Seeded
/// rounds on a multi-thread runtime whose one spare blocking thread is busy, so the
/// handed-over jobs sit queued when it shuts down.
#[test]
fn jobs_queued_at_shutdown_are_cancelled_quietly() {
    let _cap = exclusive();
    let mut rng = corral_test_support::Rng(0x5_4u64 << 32 | 0xdead);
    let others = support::multi_thread(1);
    let (mut ran, mut cancelled) = (0, 0);
    for round in 0..40 {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let busy = Latch::new();
        let _open_busy = OpenOnDrop(busy.clone());
        let spare = rt.spawn_blocking({
            let busy = busy.clone();
            move || busy.wait()
        });
        let (holders_rt, hold, holders) = fill_the_cap();
        let _open = OpenOnDrop(hold.clone());
        let jobs: Vec<_> = {
            let _enter = rt.enter();
            (0..DEFAULT_MAX_THREADS)
                .map(|_| corral_blocking::spawn_blocking(|| ()))
                .collect()
        };
        eventually_blocking("all waiting", || {
            spawn_blocking_metrics().waiting == DEFAULT_MAX_THREADS
        });
        hold.open();
        for _ in 0..rng.below(200) {
            std::thread::yield_now();
        }
        rt.shutdown_background();
        busy.open();
        others.block_on(async {
            for job in jobs {
                // tokio's own pool may still run a queued job: the spare thread, once
                // its job returns, takes what is queued before it looks at the
                // shutdown flag. So a job either ran or was cancelled; never a panic.
                match job.await {
                    Ok(()) => ran += 1,
                    Err(err) => {
                        assert!(err.is_cancelled(), "round {round}: {err}");
                        cancelled += 1;
                    }
                }
            }
            spare.await.unwrap();
        });
        holders_rt.block_on(async {
            for holder in holders {
                holder.await.unwrap();
            }
        });
        eventually_blocking("slots back", || spawn_blocking_metrics().running == 0);
    }
    eprintln!("jobs queued at shutdown: {cancelled} cancelled, {ran} run by the spare thread");
}

/// `tokio::net::lookup_host` and `corral_blocking::lookup_host` on the same input,
/// each answer as a sorted list.
async fn both_lookups<T>(target: T) -> (Vec<SocketAddr>, Vec<SocketAddr>)
where
    T: tokio::net::ToSocketAddrs + corral_blocking::ToHostPort + Clone,
{
    let mut theirs: Vec<_> = tokio::net::lookup_host(target.clone())
        .await
        .unwrap()
        .collect();
    let mut ours: Vec<_> = corral_blocking::lookup_host(target)
        .await
        .unwrap()
        .collect();
    theirs.sort();
    ours.sort();
    (theirs, ours)
}

/// tokio `net_lookup_host::lookup_socket_addr`, `lookup_str_socket_addr` and
/// `resolve_dns` ("localhost:3000", loopback only), and the other input shapes
/// tokio's `lookup_host` takes: corral's `lookup_host` (the drop-in) gives the same
/// addresses for each, on both runtime flavours.
#[test]
fn lookup_host_answers_as_tokios() {
    for (flavour, mut builder) in flavours() {
        builder.build().unwrap().block_on(async {
            let addr: SocketAddr = "127.0.0.1:8000".parse().unwrap();
            assert_eq!(
                both_lookups(addr).await,
                (vec![addr], vec![addr]),
                "{flavour}"
            );
            let (theirs, ours) = both_lookups("127.0.0.1:8000").await;
            assert_eq!((&theirs, &ours), (&vec![addr], &vec![addr]), "{flavour}");
            let (theirs, ours) = both_lookups("localhost:3000").await;
            assert!(
                !ours.is_empty()
                    && ours
                        .iter()
                        .all(|a| a.ip().is_loopback() && a.port() == 3000)
            );
            assert_eq!(theirs, ours, "{flavour}: localhost:3000");
            let v6: SocketAddr = "[::1]:443".parse().unwrap();
            assert_eq!(
                both_lookups("[::1]:443").await,
                (vec![v6], vec![v6]),
                "{flavour}"
            );
            assert_eq!(
                both_lookups(("localhost", 80)).await.0,
                both_lookups(("localhost", 80)).await.1
            );
            assert_eq!(
                both_lookups(("localhost".to_owned(), 80)).await.0,
                both_lookups(("localhost".to_owned(), 80)).await.1,
            );
            let ip = std::net::IpAddr::from([127, 0, 0, 1]);
            assert_eq!(
                both_lookups((ip, 80)).await,
                (vec![SocketAddr::new(ip, 80)], vec![SocketAddr::new(ip, 80)])
            );
            assert_eq!(
                both_lookups(("::1", 80)).await,
                (
                    vec!["[::1]:80".parse().unwrap()],
                    vec!["[::1]:80".parse().unwrap()]
                ),
                "{flavour}: an IPv6 literal as the host"
            );
            // Not "host:port": both refuse with InvalidInput.
            let theirs = match tokio::net::lookup_host("localhost").await {
                Ok(_) => panic!("tokio accepted a host without a port"),
                Err(err) => err,
            };
            let ours =
                std::io::Error::from(corral_blocking::lookup_host("localhost").await.unwrap_err());
            assert_eq!(
                (theirs.kind(), ours.kind()),
                (
                    std::io::ErrorKind::InvalidInput,
                    std::io::ErrorKind::InvalidInput
                )
            );
        });
    }
}

/// tokio `task_local_set::local_threadpool_blocking_run`: a job spawned from a
/// `LocalSet` task runs off the thread that drives the set, and the task resumes on it.
#[test]
fn a_job_from_a_local_set_runs_off_its_thread() {
    let _cap = shared();
    each(|which, rt, case| {
        let here = std::thread::current().id();
        rt.block_on(tokio::task::LocalSet::new().run_until(async move {
            tokio::task::spawn_local(async move {
                let there = which.spawn(|| std::thread::current().id()).await.unwrap();
                assert_ne!(there, here, "{which:?}: the job ran on the set's thread");
                assert_eq!(std::thread::current().id(), here);
            })
            .await
            .unwrap_or_else(|err| panic!("{case}: {err}"));
        }));
    });
}

/// tokio `task_blocking::blocking_when_paused`, for a job that has not started: tokio
/// holds a paused clock from the moment a blocking job is spawned, so a timeout around
/// a job queued behind a busy blocking thread does not fire. Deliberate difference,
/// documented on `spawn_blocking`: a corral job waiting for one of the cap's slots is
/// not yet a tokio blocking task and does not hold the clock, so on a paused runtime
/// such a timeout fires (here the slots are held by another runtime's jobs). What
/// blocks the job is let go from another thread a little later; the outcome does not
/// depend on when: a held clock waits for the job, a free one fires at once.
#[test]
fn a_job_waiting_for_its_slot_does_not_hold_a_paused_clock() {
    let _cap = exclusive();
    for which in BOTH {
        let rt = Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let busy = Latch::new();
        let _open_busy = OpenOnDrop(busy.clone());
        // tokio: the runtime's one blocking thread is busy; corral: the cap is full
        // (and the runtime runs no blocking job of its own, which would hold the clock).
        let spare = (which == Which::Tokio).then(|| {
            let busy = busy.clone();
            rt.spawn_blocking(move || busy.wait())
        });
        let (holders_rt, hold, holders) = match which {
            Which::Tokio => (support::multi_thread(1), Latch::new(), Vec::new()),
            Which::Corral => fill_the_cap(),
        };
        let _open = OpenOnDrop(hold.clone());
        let opener = std::thread::spawn({
            let (busy, hold) = (busy.clone(), hold.clone());
            move || {
                std::thread::sleep(Duration::from_millis(30));
                busy.open();
                hold.open();
            }
        });
        let fired = rt.block_on(async {
            let job = which.spawn(|| 7);
            match tokio::time::timeout(Duration::from_secs(1), job).await {
                Ok(value) => {
                    assert_eq!(value.unwrap(), 7);
                    false
                }
                Err(_) => true,
            }
        });
        assert_eq!(fired, which == Which::Corral, "{which:?}");
        opener.join().unwrap();
        if let Some(spare) = spare {
            rt.block_on(spare).unwrap();
        }
        holders_rt.block_on(async {
            for holder in holders {
                holder.await.unwrap();
            }
        });
    }
}

/// tokio's `spawn_blocking` outside a runtime panics with "must be called from the
/// context of a Tokio 1.x runtime" (tokio's `rt_common`-style context tests); corral's
/// panics with the same message.
#[test]
fn outside_a_runtime_both_panic_with_tokios_message() {
    let messages: Vec<String> = BOTH
        .into_iter()
        .map(|which| {
            let payload = std::panic::catch_unwind(move || drop(which.spawn(|| ()))).unwrap_err();
            panic_text(payload.as_ref())
        })
        .collect();
    assert!(
        messages[0].contains("must be called from the context of a Tokio 1.x runtime"),
        "{messages:?}"
    );
    assert_eq!(messages[0], messages[1]);
}

/// The text of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}
