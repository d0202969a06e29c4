//! tokio's own task tests, run against both `tokio::spawn` and `corral_task::spawn`
//! with the same assertions: `corral::spawn` is a drop-in, so everything a tokio test
//! can observe of a spawned task must hold for a tracked one too.
//!
//! Ported from tokio 1.54's `tests/task_abort.rs`, `tests/task_id.rs`,
//! `tests/rt_common.rs`, `tests/rt_basic.rs`, `tests/rt_threaded.rs` and
//! `tests/join_handle_panic.rs` (the cases about spawning). Each case is a generic
//! function over [`Spawn`] (tokio's spawn or corral's) taking the runtime
//! [`Flavor`]; `parity!` at the end runs every case for both spawns on a
//! current-thread and a multi-thread runtime. Where tokio's test sleeps to let a task
//! get somewhere, the port waits on a signal from the task instead. On top of tokio's
//! assertions, the corral runs check the registry: a task is in it while its future
//! is alive, and gone once its `JoinHandle` resolved.
//!
//! Deliberate differences, asserted as corral documents them:
//! - `corral_task::current()` (corral's own [`TaskId`](corral_task::TaskId), not
//!   tokio's `task::Id`) is `None` inside the spawned future's `Drop`, where tokio's
//!   `task::id()` still answers ([`task_id_future_destructor_completion`]): corral
//!   marks the running task for the length of a poll only.

use std::future::{pending, poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use corral_test_support::{Latch, OpenOnDrop, Rng};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;
use tokio::task::{self, JoinHandle};
use tokio_test::{assert_pending, assert_ready};

// ---------------------------------------------------------------------------------
// The two spawns and the two runtimes.

/// A spawn function under test: tokio's or corral's, same signature.
trait Spawn: 'static {
    /// Whether the spawned tasks are in corral's registry.
    const TRACKED: bool;

    #[track_caller]
    fn spawn<F>(future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// `Handle::spawn` and its corral equivalent, `Builder::spawn_on`.
    #[track_caller]
    fn spawn_on<F>(future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
}

struct Tokio;
struct Corral;

impl Spawn for Tokio {
    const TRACKED: bool = false;

    #[track_caller]
    fn spawn<F>(future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(future)
    }

    #[track_caller]
    fn spawn_on<F>(future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn(future)
    }
}

impl Spawn for Corral {
    const TRACKED: bool = true;

    #[track_caller]
    fn spawn<F>(future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        corral_task::spawn(future)
    }

    #[track_caller]
    fn spawn_on<F>(future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        corral_task::Builder::new().spawn_on(future, handle)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    CurrentThread,
    /// Two workers (the machine this runs on has two cores).
    MultiThread,
}

impl Flavor {
    fn rt(self) -> Runtime {
        match self {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            Flavor::MultiThread => corral_test_support::multi_thread(2),
        }
    }
}

/// Tracked tasks of runtime `id` in corral's registry (always 0 for tokio's spawn).
fn tracked_on(id: tokio::runtime::Id) -> usize {
    corral_task::snapshot()
        .iter()
        .filter(|t| t.runtime() == id)
        .count()
}

/// What the registry should hold for `n` live tasks spawned by `S`.
fn expect<S: Spawn>(n: usize) -> usize {
    if S::TRACKED {
        n
    } else {
        0
    }
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

fn drop_flag() -> (DropFlag, Arc<AtomicBool>) {
    let flag = Arc::new(AtomicBool::new(false));
    (DropFlag(flag.clone()), flag)
}

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("Well what did you expect would happen...");
    }
}

/// Yields until `cond` holds (bounded: a hang fails instead of stalling the run).
async fn yield_until(what: &str, mut cond: impl FnMut() -> bool) {
    corral_test_support::eventually(what, &mut cond).await;
}

// ---------------------------------------------------------------------------------
// tests/task_abort.rs

/// Port of `task_abort.rs::test_abort_without_panic_3157`: a task suspended in a long
/// sleep is aborted; awaiting its handle gives a cancelled `JoinError`, no panic.
fn abort_without_panic_3157<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    rt.block_on(async move {
        let (slept_tx, slept_rx) = oneshot::channel();
        let handle = S::spawn(async move {
            let sleep = tokio::time::sleep(Duration::from_secs(100));
            tokio::pin!(sleep);
            // Registered with the timer, then report it.
            assert!(poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx).is_pending())).await);
            let _ = slept_tx.send(());
            sleep.await;
        });
        slept_rx.await.unwrap();
        assert_eq!(tracked_on(id), expect::<S>(1));
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        assert_eq!(tracked_on(id), 0);
    });
}

/// Port of `task_abort.rs::test_abort_without_panic_3662`: aborted from another
/// thread, the task's future is dropped (on the runtime), and the handle says
/// cancelled.
fn abort_from_another_thread_3662<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    rt.block_on(async move {
        let (check, dropped) = drop_flag();
        let (started_tx, started_rx) = oneshot::channel();
        let j = S::spawn(async move {
            let _check = check;
            let _ = started_tx.send(());
            pending::<()>().await;
        });
        started_rx.await.unwrap();
        let dropped2 = dropped.clone();
        let j = std::thread::spawn(move || {
            assert!(!dropped2.load(SeqCst));
            j.abort();
            j
        })
        .join()
        .unwrap();
        let result = j.await;
        assert!(dropped.load(SeqCst), "dropped before the handle resolved");
        assert!(result.unwrap_err().is_cancelled());
        assert_eq!(tracked_on(id), 0);
        // tokio's test then runs one more task to trigger deferred cleanup.
        S::spawn(task::yield_now()).await.unwrap();
    });
}

/// Port of `task_abort.rs::test_abort_wakes_task_3964`: aborting and dropping the
/// handle at once still drops what the task owns.
fn abort_then_drop_handle_drops_the_future_3964<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    rt.block_on(async move {
        let notify_dropped = Arc::new(());
        let weak = Arc::downgrade(&notify_dropped);
        let (started_tx, started_rx) = oneshot::channel();
        let handle = S::spawn(async move {
            let _notify_dropped = notify_dropped;
            let _ = started_tx.send(());
            tokio::time::sleep(Duration::from_secs(100)).await
        });
        started_rx.await.unwrap();
        handle.abort();
        drop(handle);
        yield_until("the aborted task's future is dropped", || {
            weak.upgrade().is_none()
        })
        .await;
        yield_until("its registry entry is gone", || tracked_on(id) == 0).await;
    });
}

/// Port of `task_abort.rs::test_abort_task_that_panics_on_drop_contained`: a future
/// whose destructor panics, aborted with its handle dropped: the panic stays inside
/// the task, and (corral) the entry still leaves the registry.
fn abort_task_that_panics_on_drop_contained<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    rt.block_on(async move {
        let (started_tx, started_rx) = oneshot::channel();
        let (check, dropped) = drop_flag();
        let handle = S::spawn(async move {
            // Dropped after `_check` (locals drop in reverse).
            let _panic_dropped = PanicOnDrop;
            let _check = check;
            let _ = started_tx.send(());
            tokio::time::sleep(Duration::from_secs(100)).await
        });
        started_rx.await.unwrap();
        handle.abort();
        drop(handle);
        yield_until("the aborted future is dropped", || dropped.load(SeqCst)).await;
        yield_until("its registry entry is gone", || tracked_on(id) == 0).await;
    });
}

/// Port of `task_abort.rs::test_abort_task_that_panics_on_drop_returned`: the same,
/// awaited: the handle reports the destructor's panic, not a cancellation.
fn abort_task_that_panics_on_drop_returned<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    rt.block_on(async move {
        let (started_tx, started_rx) = oneshot::channel();
        let handle = S::spawn(async move {
            let _panic_dropped = PanicOnDrop;
            let _ = started_tx.send(());
            tokio::time::sleep(Duration::from_secs(100)).await
        });
        started_rx.await.unwrap();
        handle.abort();
        let err = handle.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(
            *err.into_panic().downcast::<&str>().unwrap(),
            "Well what did you expect would happen..."
        );
        assert_eq!(tracked_on(id), 0);
    });
}

/// tokio's abort contract (`JoinHandle::abort` docs, and the never-polled case of
/// `task_abort.rs`): aborted before its first poll, the future is dropped without
/// ever being polled and the handle says cancelled. On a multi-thread runtime both
/// workers are held on a latch so the task cannot be polled before the abort.
fn abort_before_first_poll_drops_the_future<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    let hold = Latch::new();
    let mut holders = Vec::new();
    if flavor == Flavor::MultiThread {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        for _ in 0..2 {
            let (hold, started_tx) = (hold.clone(), started_tx.clone());
            // Plain tasks that block their worker until the latch opens.
            holders.push(rt.spawn(async move {
                started_tx.send(()).unwrap();
                hold.wait();
            }));
        }
        started_rx.recv().unwrap();
        started_rx.recv().unwrap();
    }
    let polled = Arc::new(AtomicBool::new(false));
    let (check, dropped) = drop_flag();
    let handle = {
        let _enter = rt.enter();
        let polled = polled.clone();
        S::spawn(async move {
            let _check = check;
            polled.store(true, SeqCst);
        })
    };
    assert_eq!(tracked_on(id), expect::<S>(1));
    handle.abort();
    hold.open();
    let result = rt.block_on(handle);
    assert!(result.unwrap_err().is_cancelled());
    assert!(!polled.load(SeqCst), "never polled");
    assert!(dropped.load(SeqCst), "but dropped");
    assert_eq!(tracked_on(id), 0);
    for h in holders {
        rt.block_on(h).unwrap();
    }
}

/// tokio's `JoinHandle::abort` docs: aborting a task that already completed has no
/// effect; the handle still returns its output, and `is_finished` stays true.
fn abort_of_a_finished_task_keeps_its_output<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    rt.block_on(async move {
        let handle = S::spawn(async { "output" });
        yield_until("the task finishes", || handle.is_finished()).await;
        assert_eq!(tracked_on(id), 0, "gone once finished, before the join");
        handle.abort();
        assert!(handle.is_finished());
        assert_eq!(handle.await.unwrap(), "output");
    });
}

/// tokio's abort contract (`task_abort.rs::test_abort_wakes_task_3964` from the
/// handle's side): a `JoinHandle` already waiting is woken by the abort and resolves
/// to a cancelled error.
fn abort_wakes_a_waiting_join_handle<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    rt.block_on(async move {
        let (started_tx, started_rx) = oneshot::channel();
        let handle = S::spawn(async move {
            let _ = started_tx.send(());
            pending::<()>().await
        });
        started_rx.await.unwrap();
        let abort = handle.abort_handle();
        let mut join = tokio_test::task::spawn(handle);
        assert_pending!(join.poll());
        assert!(!join.is_woken());
        abort.abort();
        yield_until("the abort wakes the handle", || join.is_woken()).await;
        let err = assert_ready!(join.poll()).unwrap_err();
        assert!(err.is_cancelled());
        assert!(abort.is_finished());
    });
}

/// Port of `task_abort.rs::test_join_error_display` and `test_join_error_debug`: a
/// `JoinError` renders the same for a tracked task (its id is tokio's).
fn join_error_display_and_debug<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    rt.block_on(async move {
        let handle = S::spawn(async move {
            let value = 1234;
            panic!("Format-args payload: {value}")
        });
        let id = handle.id();
        let err = handle.await.unwrap_err();
        assert_eq!(err.id(), id);
        assert_eq!(
            err.to_string(),
            format!("task {id} panicked with message \"Format-args payload: 1234\"")
        );
        assert_eq!(
            format!("{err:?}"),
            format!("JoinError::Panic({id:?}, \"Format-args payload: 1234\", ...)")
        );

        let err = S::spawn(async move { panic!("Const payload") })
            .await
            .unwrap_err();
        assert!(err
            .to_string()
            .ends_with(" panicked with message \"Const payload\""));

        let handle = S::spawn(async move { std::panic::panic_any(1234i32) });
        let id = handle.id();
        let err = handle.await.unwrap_err();
        assert_eq!(err.to_string(), format!("task {id} panicked"));
        assert_eq!(format!("{err:?}"), format!("JoinError::Panic({id:?}, ...)"));

        let handle = S::spawn(pending::<()>());
        let id = handle.id();
        handle.abort();
        let err = handle.await.unwrap_err();
        assert_eq!(err.to_string(), format!("task {id} was cancelled"));
        assert_eq!(format!("{err:?}"), format!("JoinError::Cancelled({id:?})"));
    });
}

/// `JoinError`'s accessors (tokio docs for `is_cancelled`, `is_panic`, `into_panic`,
/// `try_into_panic`, `id`) on a panicked and a cancelled task.
fn join_error_accessors<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    rt.block_on(async move {
        let handle = S::spawn(async { std::panic::panic_any(7u8) });
        let id = handle.id();
        let err = handle.await.unwrap_err();
        assert!(err.is_panic() && !err.is_cancelled());
        assert_eq!(err.id(), id);
        assert_eq!(*err.into_panic().downcast::<u8>().unwrap(), 7);

        let handle = S::spawn(pending::<()>());
        handle.abort();
        let err = handle.await.unwrap_err();
        assert!(err.is_cancelled() && !err.is_panic());
        let err = err.try_into_panic().unwrap_err();
        assert!(err.is_cancelled(), "handed back");
    });
}

/// `JoinHandle::is_finished` (tokio docs): false while the task runs, true once it
/// completed, with the output still to be taken.
fn is_finished<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    rt.block_on(async move {
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let handle = S::spawn(async move {
            go_rx.await.unwrap();
            5
        });
        for _ in 0..10 {
            task::yield_now().await;
            assert!(!handle.is_finished());
        }
        assert_eq!(tracked_on(id), expect::<S>(1));
        go_tx.send(()).unwrap();
        yield_until("the task finishes", || handle.is_finished()).await;
        assert_eq!(tracked_on(id), 0);
        assert_eq!(handle.await.unwrap(), 5);
    });
}

// ---------------------------------------------------------------------------------
// tests/task_id.rs

/// Port of `task_id.rs::task_id_spawn` and `task_id_collision_*`: `task::id()` works
/// inside, and two tasks have different ids.
fn task_id_spawn_and_no_collision<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    rt.block_on(async move {
        let h1 = S::spawn(async { task::id() });
        let h2 = S::spawn(async { task::id() });
        let (id1, id2) = tokio::join!(h1, h2);
        assert_ne!(id1.unwrap(), id2.unwrap());
    });
}

/// Port of `task_id.rs::task_ids_match_*`: the id seen inside is the handle's, and
/// the abort handle's; corral's own id of the task is another number space.
fn task_ids_match<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    rt.block_on(async move {
        let (tx, rx) = oneshot::channel();
        let handle = S::spawn(async {
            let id = rx.await.unwrap();
            assert_eq!(id, task::id());
            assert_eq!(Some(id), task::try_id());
            assert_eq!(corral_task::current().is_some(), S::TRACKED);
        });
        assert_eq!(handle.abort_handle().id(), handle.id());
        tx.send(handle.id()).unwrap();
        handle.await.unwrap();
    });
}

/// Port of `task_id.rs::task_id_future_destructor_completion`: the future's
/// destructor runs inside the task (its `task::id()` is the handle's), after it
/// completed. Difference, documented on `corral_task::current`: corral's own id is
/// not set there (it marks a task for the length of a poll).
fn task_id_future_destructor_completion<S: Spawn>(flavor: Flavor) {
    struct MyFuture {
        tx: Option<oneshot::Sender<(task::Id, bool)>>,
    }
    impl Future for MyFuture {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            Poll::Ready(())
        }
    }
    impl Drop for MyFuture {
        fn drop(&mut self) {
            let seen = (task::id(), corral_task::current().is_some());
            let _ = self.tx.take().unwrap().send(seen);
        }
    }
    let rt = flavor.rt();
    rt.block_on(async move {
        let (tx, rx) = oneshot::channel();
        let handle = S::spawn(MyFuture { tx: Some(tx) });
        let id = handle.id();
        handle.await.unwrap();
        assert_eq!(rx.await.unwrap(), (id, false));
    });
}

/// Port of `task_id.rs::task_id_future_destructor_abort`: the same for an aborted
/// future.
fn task_id_future_destructor_abort<S: Spawn>(flavor: Flavor) {
    struct MyFuture {
        tx: Option<oneshot::Sender<task::Id>>,
    }
    impl Future for MyFuture {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }
    impl Drop for MyFuture {
        fn drop(&mut self) {
            let _ = self.tx.take().unwrap().send(task::id());
        }
    }
    let rt = flavor.rt();
    rt.block_on(async move {
        let (tx, rx) = oneshot::channel();
        let handle = S::spawn(MyFuture { tx: Some(tx) });
        let id = handle.id();
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        assert_eq!(rx.await.unwrap(), id);
    });
}

/// Port of `task_id.rs::task_id_output_destructor_handle_dropped_before_completion`
/// and `..._after_completion`: an output nobody takes is dropped inside the task
/// (with its id), whichever comes first, the handle's drop or the completion.
fn task_id_output_destructor<S: Spawn>(flavor: Flavor) {
    struct MyOutput {
        tx: Option<oneshot::Sender<task::Id>>,
    }
    impl Drop for MyOutput {
        fn drop(&mut self) {
            let _ = self.tx.take().unwrap().send(task::id());
        }
    }
    let rt = flavor.rt();
    rt.block_on(async move {
        // Handle dropped before completion.
        let (tx, mut rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let handle = S::spawn(async move {
            let _ = go_rx.await;
            MyOutput { tx: Some(tx) }
        });
        let id = handle.id();
        drop(handle);
        assert!(rx.try_recv().is_err());
        go_tx.send(()).unwrap();
        assert_eq!(rx.await.unwrap(), id);

        // Handle dropped after completion.
        let (tx, mut rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let handle = S::spawn(async move {
            let _ = done_tx.send(());
            MyOutput { tx: Some(tx) }
        });
        let id = handle.id();
        done_rx.await.unwrap();
        yield_until("the task finishes", || handle.is_finished()).await;
        assert!(rx.try_recv().is_err(), "the output waits for the handle");
        drop(handle);
        assert_eq!(rx.await.unwrap(), id);
    });
}

/// Port of `task_id.rs::task_try_id_inside_block_on` and `task_try_id_outside_task`:
/// no task id (tokio's or corral's) in `block_on` or outside a runtime.
fn task_try_id_outside_a_task<S: Spawn>(flavor: Flavor) {
    assert_eq!(task::try_id(), None);
    assert_eq!(corral_task::current(), None);
    let rt = flavor.rt();
    rt.block_on(async {
        assert_eq!(task::try_id(), None);
        assert_eq!(corral_task::current(), None);
        // And inside a spawned one, both (corral's only when tracked).
        let (tokio_id, corral_id) = S::spawn(async { (task::try_id(), corral_task::current()) })
            .await
            .unwrap();
        assert!(tokio_id.is_some());
        assert_eq!(corral_id.is_some(), S::TRACKED);
    });
}

// ---------------------------------------------------------------------------------
// tests/rt_common.rs (spawn cases), rt_basic.rs, rt_threaded.rs

/// Port of `rt_common.rs::spawn_one_bg`, `spawn_one_join` and `spawn_two`.
fn spawn_one_bg_one_join_and_two<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let out = rt.block_on(async {
        let (tx, rx) = oneshot::channel();
        S::spawn(async move { tx.send("ZOMG").unwrap() });
        rx.await.unwrap()
    });
    assert_eq!(out, "ZOMG");
    let out = rt.block_on(async {
        let (tx, rx) = oneshot::channel();
        let handle = S::spawn(async move {
            tx.send("ZOMG").unwrap();
            "DONE"
        });
        let msg = rx.await.unwrap();
        assert_eq!(handle.await.unwrap(), "DONE");
        msg
    });
    assert_eq!(out, "ZOMG");
    let out = rt.block_on(async {
        let (tx1, rx1) = oneshot::channel();
        let (tx2, rx2) = oneshot::channel();
        S::spawn(async move { tx1.send("ZOMG").unwrap() });
        S::spawn(async move { tx2.send(rx1.await.unwrap()).unwrap() });
        rx2.await.unwrap()
    });
    assert_eq!(out, "ZOMG");
}

/// Port of `rt_common.rs::spawn_many_from_block_on` and `spawn_many_from_task`:
/// 200 (500) tasks each woken by a plain thread; every one reports. In the task
/// version under corral, each is a child of the spawning task.
fn spawn_many_from_block_on_and_from_task<S: Spawn>(flavor: Flavor) {
    async fn many<S: Spawn>(n: usize) -> Vec<usize> {
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        let parent = corral_task::current();
        let mut txs = (0..n)
            .map(|i| {
                let (tx, rx) = oneshot::channel();
                let done_tx = done_tx.clone();
                S::spawn(async move {
                    let msg = rx.await.unwrap();
                    assert_eq!(i, msg);
                    done_tx.send(msg).unwrap();
                });
                tx
            })
            .collect::<Vec<_>>();
        drop(done_tx);
        if S::TRACKED {
            let snap = corral_task::snapshot();
            let children = snap
                .iter()
                .filter(|t| t.runtime() == Handle::current().id() && t.parent() == parent)
                .count();
            assert_eq!(children, n, "each recorded with its parent");
        }
        std::thread::spawn(move || {
            for (i, tx) in txs.drain(..).enumerate() {
                tx.send(i).unwrap();
            }
        });
        let mut out = vec![];
        while let Some(i) = done_rx.recv().await {
            out.push(i);
        }
        out.sort_unstable();
        out
    }
    let rt = flavor.rt();
    let id = rt.handle().id();
    let out = rt.block_on(many::<S>(200));
    assert_eq!(out, (0..200).collect::<Vec<_>>());
    let out = rt.block_on(async { S::spawn(many::<S>(500)).await.unwrap() });
    assert_eq!(out, (0..500).collect::<Vec<_>>());
    rt.block_on(yield_until("every task left the registry", || {
        tracked_on(id) == 0
    }));
}

/// Port of `rt_common.rs::spawn_one_from_block_on_called_on_handle` and
/// `enter_and_spawn`: spawning in `Handle::block_on` or under `Runtime::enter`, and
/// awaiting the handle from a later `block_on`.
fn spawn_from_handle_block_on_and_enter<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let (tx, rx) = oneshot::channel();
    #[allow(clippy::async_yields_async)]
    let handle = rt.handle().block_on(async {
        S::spawn(async move {
            tx.send("ZOMG").unwrap();
            "DONE"
        })
    });
    let out = rt.block_on(async {
        let msg = rx.await.unwrap();
        assert_eq!(handle.await.unwrap(), "DONE");
        msg
    });
    assert_eq!(out, "ZOMG");
    let handle = {
        let _enter = rt.enter();
        S::spawn(async {})
    };
    rt.block_on(handle).unwrap();
}

/// Port of `rt_common.rs::spawn_await_chain`, with the parent recorded by corral.
fn spawn_await_chain<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let out = rt.block_on(async {
        S::spawn(async {
            let outer = corral_task::current();
            S::spawn(async move {
                if S::TRACKED {
                    let me = corral_task::current().unwrap();
                    let snap = corral_task::snapshot();
                    assert_eq!(snap.get(me).unwrap().parent(), outer);
                }
                "hello"
            })
            .await
            .unwrap()
        })
        .await
        .unwrap()
    });
    assert_eq!(out, "hello");
}

/// Port of `rt_common.rs::outstanding_tasks_dropped` and
/// `rt_common.rs::eagerly_drops_futures_on_shutdown`: dropping the runtime drops
/// every pending task's future (and, corral, its entry).
fn outstanding_tasks_dropped_on_shutdown<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    let cnt = Arc::new(());
    let (drop_tx, drop_rx) = std::sync::mpsc::channel::<()>();
    rt.block_on(async {
        let cnt = cnt.clone();
        S::spawn(poll_fn(move |_| {
            assert_eq!(2, Arc::strong_count(&cnt));
            Poll::<()>::Pending
        }));
        let (run_tx, run_rx) = oneshot::channel();
        S::spawn(async move {
            let _on_drop = SendOnDrop(drop_tx);
            run_tx.send(()).unwrap();
            pending::<()>().await
        });
        run_rx.await.unwrap();
    });
    assert_eq!(2, Arc::strong_count(&cnt));
    assert_eq!(tracked_on(id), expect::<S>(2));
    drop(rt);
    assert_eq!(1, Arc::strong_count(&cnt));
    drop_rx.recv().unwrap();
    assert_eq!(tracked_on(id), 0);
}

struct SendOnDrop(std::sync::mpsc::Sender<()>);

impl Drop for SendOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Port of `rt_common.rs::spawn_from_blocking`: spawning from a `spawn_blocking`
/// closure.
fn spawn_from_blocking<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let out = rt.block_on(async move {
        let inner = task::spawn_blocking(|| S::spawn(async move { "hello" }))
            .await
            .unwrap();
        inner.await.unwrap()
    });
    assert_eq!(out, "hello");
}

/// Port of `rt_common.rs::spawn_from_other_thread_idle` and `..._under_load`:
/// `Handle::spawn` (corral: `Builder::spawn_on`) from a plain thread, onto an idle and
/// onto a busy runtime.
fn spawn_from_other_thread<S: Spawn>(flavor: Flavor) {
    for load in [false, true] {
        let rt = flavor.rt();
        let handle = rt.handle().clone();
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            S::spawn_on(async move { tx.send(()).unwrap() }, &handle);
        });
        rt.block_on(async move {
            let spin = load.then(|| {
                S::spawn(async {
                    loop {
                        task::yield_now().await;
                    }
                })
            });
            rx.await.unwrap();
            if let Some(spin) = spin {
                spin.abort();
            }
        });
        thread.join().unwrap();
    }
}

/// Port of `rt_common.rs::panic_in_task`: a panicking poll drops the future while
/// the thread unwinds, and the runtime goes on.
fn panic_in_task<S: Spawn>(flavor: Flavor) {
    struct Boom(Option<oneshot::Sender<()>>);
    impl Future for Boom {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            panic!();
        }
    }
    impl Drop for Boom {
        fn drop(&mut self) {
            assert!(std::thread::panicking());
            self.0.take().unwrap().send(()).unwrap();
        }
    }
    let rt = flavor.rt();
    let id = rt.handle().id();
    let (tx, rx) = oneshot::channel();
    let handle = S::spawn_on(Boom(Some(tx)), rt.handle());
    rt.block_on(rx).unwrap();
    assert!(rt.block_on(handle).unwrap_err().is_panic());
    assert_eq!(tracked_on(id), 0);
    // The runtime still runs tasks, and a panicking tracked poll left no current
    // task behind on its thread.
    assert_eq!(
        rt.block_on(S::spawn_on(async { 1 }, rt.handle())).unwrap(),
        1
    );
    assert_eq!(corral_task::current(), None);
}

/// Port of `rt_common.rs::wake_while_rt_is_dropping` and `rt_threaded.rs::
/// wake_during_shutdown`: futures that wake each other from their destructors
/// while the runtime drops them.
fn wake_while_rt_is_dropping<S: Spawn>(flavor: Flavor) {
    struct OnDrop<F: FnMut()>(F);
    impl<F: FnMut()> Drop for OnDrop<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let (tx1, rx1) = oneshot::channel::<()>();
    let (tx2, rx2) = oneshot::channel::<()>();
    let barrier = Arc::new(tokio::sync::Barrier::new(3));
    let rt = flavor.rt();
    let id = rt.handle().id();
    let b1 = barrier.clone();
    S::spawn_on(
        async move {
            let mut tx2 = Some(tx2);
            let _d = OnDrop(move || {
                let _ = tx2.take().unwrap().send(());
            });
            let _ = tokio::join!(rx1, b1.wait());
        },
        rt.handle(),
    );
    let b2 = barrier.clone();
    S::spawn_on(
        async move {
            let mut tx1 = Some(tx1);
            let _d = OnDrop(move || {
                let _ = tx1.take().unwrap().send(());
            });
            let _ = tokio::join!(rx2, b2.wait());
        },
        rt.handle(),
    );
    rt.block_on(barrier.wait());
    assert_eq!(tracked_on(id), expect::<S>(2));
    drop(rt);
    assert_eq!(tracked_on(id), 0);
}

/// Port of `rt_basic.rs::drop_tasks_in_context`, extended to a spawn from a
/// destructor: while the runtime shuts down, a dropped future still sees the runtime
/// (`Handle::try_current`), and a task spawned from its `Drop` is dropped at once,
/// never run: its handle says cancelled, and (corral) no entry stays behind.
fn spawn_during_shutdown<S: Spawn>(flavor: Flavor) {
    type Spawned = Arc<Mutex<Option<(bool, JoinHandle<()>)>>>;
    struct SpawnOnDrop<S: Spawn> {
        spawned: Spawned,
        ran: Arc<AtomicBool>,
        _s: std::marker::PhantomData<fn() -> S>,
    }
    impl<S: Spawn> Drop for SpawnOnDrop<S> {
        fn drop(&mut self) {
            let in_context = Handle::try_current().is_ok();
            let ran = self.ran.clone();
            let handle = S::spawn(async move { ran.store(true, SeqCst) });
            *self.spawned.lock().unwrap() = Some((in_context, handle));
        }
    }
    let rt = flavor.rt();
    let id = rt.handle().id();
    let spawned: Spawned = Arc::default();
    let ran = Arc::new(AtomicBool::new(false));
    let on_drop = SpawnOnDrop::<S> {
        spawned: spawned.clone(),
        ran: ran.clone(),
        _s: std::marker::PhantomData,
    };
    S::spawn_on(
        async move {
            let _on_drop = on_drop;
            pending::<()>().await
        },
        rt.handle(),
    );
    drop(rt);
    let (in_context, handle) = spawned.lock().unwrap().take().expect("dropped");
    assert!(
        in_context,
        "the runtime's context is entered while it drops tasks"
    );
    assert!(!ran.load(SeqCst));
    assert_eq!(tracked_on(id), 0);
    let err = flavor.rt().block_on(handle).unwrap_err();
    assert!(err.is_cancelled());
}

/// Port of tokio's spawn-after-shutdown behaviour (`rt_threaded.rs::spawn_shutdown`,
/// and the `Handle::spawn` docs): spawning through the handle of a runtime that has
/// been dropped drops the future at once and returns a handle that says cancelled.
fn spawn_on_a_dropped_runtime<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let handle = rt.handle().clone();
    let id = handle.id();
    drop(rt);
    let (check, dropped) = drop_flag();
    let join = S::spawn_on(
        async move {
            let _check = check;
        },
        &handle,
    );
    assert!(dropped.load(SeqCst), "dropped at once");
    assert_eq!(tracked_on(id), 0);
    let err = flavor.rt().block_on(join).unwrap_err();
    assert!(err.is_cancelled());
}

/// Port of `rt_common.rs::shutdown_timeout_0` and the `Runtime::shutdown_background`
/// docs: a runtime shut down without waiting (a blocking task still running) drops
/// its pending tasks, and (corral) their entries leave; a spawn through its handle
/// afterwards is dropped at once and says cancelled.
fn shutdown_background_then_spawn<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let handle = rt.handle().clone();
    let id = handle.id();
    let hold = OpenOnDrop(Latch::new());
    let (check, dropped) = drop_flag();
    rt.block_on(async {
        let held = hold.0.clone();
        task::spawn_blocking(move || held.wait());
        S::spawn(async move {
            let _check = check;
            pending::<()>().await
        });
        task::yield_now().await;
    });
    rt.shutdown_background();
    corral_test_support::eventually_blocking("the pending task is dropped", || {
        dropped.load(SeqCst)
    });
    corral_test_support::eventually_blocking("its entry leaves", || tracked_on(id) == 0);
    let late = S::spawn_on(async {}, &handle);
    assert_eq!(tracked_on(id), 0);
    assert!(flavor.rt().block_on(late).unwrap_err().is_cancelled());
    drop(hold);
}

/// Port of `rt_handle.rs::drop_tasks_with_reference_cycle`: two tasks that each own
/// the other's `JoinHandle`, both registered as its waiter, are dropped with their
/// runtime, cycle and all.
fn drop_tasks_with_reference_cycle<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    let (a_check, a_dropped) = drop_flag();
    let (b_check, b_dropped) = drop_flag();
    rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<JoinHandle<()>>(1);
        let barrier = Arc::new(tokio::sync::Barrier::new(3));
        let (barrier_a, barrier_b) = (barrier.clone(), barrier.clone());
        let a = S::spawn(async move {
            let _check = a_check;
            let mut b = rx.recv().await.unwrap();
            // Poll b's handle once: a is now b's waiter.
            tokio::select! {
                biased;
                _ = &mut b => {}
                _ = std::future::ready(()) => {}
            }
            barrier_a.wait().await;
            pending::<()>().await
        });
        let b = S::spawn(async move {
            let _check = b_check;
            let mut a = a;
            tokio::select! {
                biased;
                _ = &mut a => {}
                _ = std::future::ready(()) => {}
            }
            barrier_b.wait().await;
            pending::<()>().await
        });
        tx.send(b).await.unwrap();
        barrier.wait().await;
    });
    assert_eq!(tracked_on(id), expect::<S>(2));
    drop(rt);
    assert!(a_dropped.load(SeqCst) && b_dropped.load(SeqCst));
    assert_eq!(tracked_on(id), 0);
}

/// Port of `rt_basic.rs::acquire_mutex_in_drop` and `wake_in_drop_after_panic`:
/// tasks whose destructors wake each other while the runtime drops them, also while
/// the thread unwinds from a panic in `block_on`.
fn wake_in_drop_while_unwinding<S: Spawn>(flavor: Flavor) {
    struct WakeOnDrop(Option<oneshot::Sender<()>>);
    impl Drop for WakeOnDrop {
        fn drop(&mut self) {
            let _ = self.0.take().unwrap().send(());
        }
    }
    let rt = flavor.rt();
    let id = rt.handle().id();
    let (tx1, rx1) = oneshot::channel::<()>();
    let (tx2, rx2) = oneshot::channel::<()>();
    S::spawn_on(
        async move {
            let _wake_on_drop = WakeOnDrop(Some(tx2));
            let _ = rx1.await;
            pending::<()>().await
        },
        rt.handle(),
    );
    S::spawn_on(
        async move {
            let _wake_on_drop = WakeOnDrop(Some(tx1));
            let _ = rx2.await;
            pending::<()>().await
        },
        rt.handle(),
    );
    let panicked = panic::catch_unwind(AssertUnwindSafe(move || {
        rt.block_on(async {
            task::yield_now().await;
            panic!("boom");
        })
    }));
    assert_eq!(*panicked.unwrap_err().downcast::<&str>().unwrap(), "boom");
    assert_eq!(tracked_on(id), 0);
}

/// Port of `rt_common.rs::runtime_in_thread_local`: a runtime kept in a
/// thread-local, with tasks still pending, is dropped while the thread's locals are
/// torn down; the futures are dropped and (corral) their entries leave.
fn runtime_in_thread_local<S: Spawn>(flavor: Flavor) {
    use std::cell::RefCell;
    thread_local!(static R: RefCell<Option<Runtime>> = const { RefCell::new(None) });
    let (check, dropped) = drop_flag();
    let id = std::thread::spawn(move || {
        let rt = flavor.rt();
        let id = rt.handle().id();
        S::spawn_on(
            async move {
                let _check = check;
                pending::<()>().await
            },
            rt.handle(),
        );
        for _ in 0..100 {
            S::spawn_on(pending::<()>(), rt.handle());
        }
        R.with(|cell| *cell.borrow_mut() = Some(rt));
        let _rt = flavor.rt();
        id
    })
    .join()
    .unwrap();
    assert!(dropped.load(SeqCst));
    assert_eq!(tracked_on(id), 0);
}

/// Port of `join_handle_panic.rs::test_panics_do_not_propagate_when_dropping_join_handle`:
/// an output whose destructor panics, dropped with the handle, does not reach the
/// caller.
fn output_panics_on_drop_with_the_handle<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    rt.block_on(async {
        let handle = S::spawn(async { PanicOnDrop });
        yield_until("the task finishes", || handle.is_finished()).await;
        drop(handle);
    });
}

/// tokio's `spawn` boxes a large future before it becomes a task (tokio's
/// `BOX_FUTURE_THRESHOLD`, from its stack-overflow reports in debug builds), so a
/// spawn takes a few copies of the future on the spawning stack, not more: a 200 KB
/// future spawns from a thread with a 1.3 MB stack. corral's spawn path took the
/// future by value through four calls before tokio boxed it, and a debug build
/// copied it at each: spawning a 150 KB future needed 1.2 MB of stack against
/// tokio's 600 KB (610 KB now), and this test overflowed (its binary aborts).
fn a_large_future_spawns_from_a_small_stack<S: Spawn>(flavor: Flavor) {
    async fn large(n: usize) -> usize {
        let buf = [1u8; 200_000];
        task::yield_now().await;
        buf.iter().map(|&b| usize::from(b)).sum::<usize>() + n
    }
    assert!(std::mem::size_of_val(&large(0)) >= 200_000);
    let thread = std::thread::Builder::new()
        .stack_size(1300 * 1024)
        .spawn(move || {
            let rt = flavor.rt();
            let a = rt.block_on(async { S::spawn(large(1)).await.unwrap() });
            let b = rt.block_on(S::spawn_on(large(2), rt.handle())).unwrap();
            (a, b)
        })
        .unwrap();
    assert_eq!(thread.join().unwrap(), (200_001, 200_002));
}

// ---------------------------------------------------------------------------------
// Races, seeded, on a multi-thread runtime.

/// Abort racing completion (from `task_abort.rs`, many times over): whoever wins,
/// the handle gives the output or a cancellation, the future was dropped before the
/// handle resolved, `is_finished` holds, and (corral) no snapshot taken after the
/// join shows the task (corral's documented ordering).
fn race_abort_against_completion<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    let id = rt.handle().id();
    rt.block_on(async move {
        let mut rng = Rng(0xab07);
        let (mut finished, mut cancelled) = (0, 0);
        for round in 0..ROUNDS {
            let (check, dropped) = drop_flag();
            let task_yields = rng.below(3);
            let handle = S::spawn(async move {
                let _check = check;
                for _ in 0..task_yields {
                    task::yield_now().await;
                }
                round
            });
            for _ in 0..rng.below(3) {
                task::yield_now().await;
            }
            let abort = handle.abort_handle();
            let from_thread = rng.below(4) == 0;
            if from_thread {
                std::thread::spawn(move || abort.abort()).join().unwrap();
            } else {
                abort.abort();
            }
            match handle.await {
                Ok(v) => {
                    assert_eq!(v, round);
                    finished += 1;
                }
                Err(e) => {
                    assert!(e.is_cancelled(), "round {round}: {e}");
                    cancelled += 1;
                }
            }
            assert!(dropped.load(SeqCst), "round {round}: future dropped first");
            assert_eq!(tracked_on(id), 0, "round {round}: joined, so not live");
        }
        assert!(cancelled > 0, "{finished} finished, {cancelled} cancelled");
    });
}

/// The ids race (`task_id.rs`, many times over): a task reads its own ids while the
/// spawner reads them from the handle, on two workers; and corral's registry gives
/// the spawning task as parent every time.
fn race_task_ids<S: Spawn>(flavor: Flavor) {
    let rt = flavor.rt();
    rt.block_on(async move {
        let outer = S::spawn(async move {
            let parent = corral_task::current();
            let mut rng = Rng(0x1d5);
            for round in 0..ROUNDS {
                let (tx, rx) = oneshot::channel();
                let spins = rng.below(3);
                let handle = S::spawn(async move {
                    for _ in 0..spins {
                        task::yield_now().await;
                    }
                    let me = corral_task::current();
                    let recorded = me.and_then(|me| corral_task::snapshot().get(me)?.parent());
                    let _ = tx.send((task::id(), recorded));
                });
                let id = handle.id();
                assert_eq!(handle.abort_handle().id(), id);
                handle.await.unwrap();
                let (seen, recorded) = rx.await.unwrap();
                assert_eq!(seen, id, "round {round}");
                assert_eq!(recorded, parent.filter(|_| S::TRACKED), "round {round}");
            }
        });
        outer.await.unwrap();
    });
}

/// Rounds of each seeded race: enough to catch a one-in-1,000 interleaving with
/// over 99% odds, in well under a second each.
const ROUNDS: usize = 5_000;

/// Spawns racing a runtime's shutdown (`rt_common.rs::shutdown_concurrent_spawn`):
/// a thread spawns through the handle while the runtime drops. Every handle resolves
/// (output or cancelled), every future is dropped, and (corral) no entry survives.
fn race_spawn_against_shutdown<S: Spawn>(flavor: Flavor) {
    let awaiter = Flavor::CurrentThread.rt();
    let mut rng = Rng(0x5d);
    for round in 0..100 {
        let rt = flavor.rt();
        let handle = rt.handle().clone();
        let id = handle.id();
        let dropped = Arc::new(AtomicUsize::new(0));
        let go = Latch::new();
        let per = 50 + rng.index(100);
        let spawner = std::thread::spawn({
            let (dropped, go) = (dropped.clone(), go.clone());
            move || {
                go.wait();
                (0..per)
                    .map(|_| {
                        let dropped = dropped.clone();
                        let counted = CountOnDrop(dropped);
                        S::spawn_on(
                            async move {
                                let _counted = counted;
                                task::yield_now().await;
                            },
                            &handle,
                        )
                    })
                    .collect::<Vec<_>>()
            }
        });
        go.open();
        for _ in 0..rng.below(50) {
            std::hint::spin_loop();
        }
        drop(rt);
        let handles = spawner.join().unwrap();
        awaiter.block_on(async {
            for h in handles {
                if let Err(e) = h.await {
                    assert!(e.is_cancelled(), "round {round}");
                }
            }
        });
        assert_eq!(dropped.load(SeqCst), per, "round {round}");
        assert_eq!(tracked_on(id), 0, "round {round}");
    }
}

struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

// ---------------------------------------------------------------------------------
// Spawning outside a runtime.

/// A panic's message and location, read by a hook that only looks at this thread's
/// panics (tests run in parallel; others' panics go to the hook that was there).
fn panic_message_and_line(f: impl FnOnce()) -> (String, String, u32) {
    type Seen = Arc<Mutex<Option<(String, u32)>>>;
    static HOOK: Mutex<()> = Mutex::new(());
    let _one_at_a_time = HOOK.lock().unwrap();
    let seen: Seen = Arc::default();
    let me = std::thread::current().id();
    let prev: Arc<dyn Fn(&panic::PanicHookInfo<'_>) + Send + Sync> = Arc::from(panic::take_hook());
    panic::set_hook(Box::new({
        let (seen, prev) = (seen.clone(), prev.clone());
        move |info| {
            if std::thread::current().id() == me {
                *seen.lock().unwrap() = info.location().map(|l| (l.file().to_owned(), l.line()));
            } else {
                prev(info);
            }
        }
    }));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    drop(panic::take_hook());
    panic::set_hook(Box::new(move |info| prev(info)));
    let payload = result.expect_err("it panicked");
    let message = corral_shared::panic_message(&*payload)
        .unwrap_or_default()
        .to_owned();
    let (file, line) = seen.lock().unwrap().take().expect("a location");
    (message, file, line)
}

/// tokio's `spawn` docs (# Panics) and `task_panic.rs`'s `*_panic_caller` tests:
/// outside a runtime, spawn panics with tokio's message, at the caller's line.
#[test]
fn spawn_outside_a_runtime_panics_at_the_callers_line_like_tokio() {
    let spawn_tokio = || drop(tokio::spawn(async {}));
    let line = line!() - 1;
    let (tokio_msg, tokio_file, tokio_line) = panic_message_and_line(spawn_tokio);
    assert_eq!((tokio_file.as_str(), tokio_line), (file!(), line));
    let spawn_corral = || drop(corral_task::spawn(async {}));
    let line = line!() - 1;
    let (msg, file, at) = panic_message_and_line(spawn_corral);
    assert_eq!(
        (msg.as_str(), file.as_str(), at),
        (tokio_msg.as_str(), file!(), line)
    );
    let builder = corral_task::Builder::new().name("n");
    let spawn_builder = || drop(builder.spawn(async {}));
    let line = line!() - 1;
    let (msg, file, at) = panic_message_and_line(spawn_builder);
    assert_eq!(
        (msg.as_str(), file.as_str(), at),
        (tokio_msg.as_str(), file!(), line)
    );
    // And through the generic helper, whose `#[track_caller]` passes the line on.
    let spawn_generic = || drop(Corral::spawn(async {}));
    let line = line!() - 1;
    let (msg, file, at) = panic_message_and_line(spawn_generic);
    assert_eq!(
        (msg.as_str(), file.as_str(), at),
        (tokio_msg.as_str(), file!(), line)
    );
}

/// The drop-in's first promise (corral-task README, "same signature"): both coerce
/// to one function pointer type, so replacing the import is the whole migration.
#[test]
fn spawn_has_tokio_spawns_signature() {
    type SpawnFn = fn(std::future::Ready<u8>) -> JoinHandle<u8>;
    let spawns: [SpawnFn; 2] = [tokio::spawn, corral_task::spawn];
    let rt = Flavor::CurrentThread.rt();
    for spawn in spawns {
        assert_eq!(
            rt.block_on(async { spawn(std::future::ready(3)).await.unwrap() }),
            3
        );
    }
}

/// Bad spawns leave nothing behind: a spawn that panicked outside a runtime
/// registered no task.
#[test]
fn a_spawn_that_panicked_registered_nothing() {
    let here =
        |t: &corral_task::TaskInfo| t.location().file() == file!() && t.name() == Some("outside");
    let before = corral_task::snapshot().iter().filter(|t| here(t)).count();
    let _ = panic::catch_unwind(|| {
        drop(corral_task::Builder::new().name("outside").spawn(async {}));
    });
    assert_eq!(
        corral_task::snapshot().iter().filter(|t| here(t)).count(),
        before
    );
    assert_eq!(before, 0);
}

// ---------------------------------------------------------------------------------
// Every case, for both spawns, on both runtimes.

macro_rules! parity {
    ($($case:ident),* $(,)?) => {
        mod tokio_spawn {
            mod current_thread {
                $( #[test] fn $case() { crate::$case::<crate::Tokio>(crate::Flavor::CurrentThread) } )*
            }
            mod multi_thread {
                $( #[test] fn $case() { crate::$case::<crate::Tokio>(crate::Flavor::MultiThread) } )*
            }
        }
        mod corral_spawn {
            mod current_thread {
                $( #[test] fn $case() { crate::$case::<crate::Corral>(crate::Flavor::CurrentThread) } )*
            }
            mod multi_thread {
                $( #[test] fn $case() { crate::$case::<crate::Corral>(crate::Flavor::MultiThread) } )*
            }
        }
    };
}

parity!(
    abort_without_panic_3157,
    abort_from_another_thread_3662,
    abort_then_drop_handle_drops_the_future_3964,
    abort_task_that_panics_on_drop_contained,
    abort_task_that_panics_on_drop_returned,
    abort_before_first_poll_drops_the_future,
    abort_of_a_finished_task_keeps_its_output,
    abort_wakes_a_waiting_join_handle,
    join_error_display_and_debug,
    join_error_accessors,
    is_finished,
    task_id_spawn_and_no_collision,
    task_ids_match,
    task_id_future_destructor_completion,
    task_id_future_destructor_abort,
    task_id_output_destructor,
    task_try_id_outside_a_task,
    spawn_one_bg_one_join_and_two,
    spawn_many_from_block_on_and_from_task,
    spawn_from_handle_block_on_and_enter,
    spawn_await_chain,
    outstanding_tasks_dropped_on_shutdown,
    spawn_from_blocking,
    spawn_from_other_thread,
    panic_in_task,
    wake_while_rt_is_dropping,
    spawn_during_shutdown,
    spawn_on_a_dropped_runtime,
    shutdown_background_then_spawn,
    drop_tasks_with_reference_cycle,
    wake_in_drop_while_unwinding,
    runtime_in_thread_local,
    output_panics_on_drop_with_the_handle,
    a_large_future_spawns_from_a_small_stack,
    race_abort_against_completion,
    race_task_ids,
    race_spawn_against_shutdown,
);
