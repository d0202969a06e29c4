//! The registry seen through the public API: entries appear at spawn and leave when the
//! future is dropped, whatever the reason.

use std::future::{pending, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use corral_task::{Builder, Census, Snapshot, TaskId, TaskInfo, Tracked};
use tokio::runtime::Handle;
use tokio_test::{assert_pending, assert_ready};

/// Live tracked tasks of the current runtime (tests run in parallel, each on its own
/// runtime).
fn mine() -> Vec<TaskInfo> {
    on(Handle::current().id())
}

/// Live tracked tasks of the runtime `id`.
fn on(id: tokio::runtime::Id) -> Vec<TaskInfo> {
    corral_task::snapshot()
        .into_iter()
        .filter(|t| t.runtime() == id)
        .collect()
}

fn named(name: &str) -> Vec<TaskInfo> {
    mine()
        .into_iter()
        .filter(|t| t.name() == Some(name))
        .collect()
}

#[tokio::test]
async fn entry_records_name_location_runtime_and_leaves_on_completion() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let builder = Builder::new().name("waiter");
    let line = line!() + 1;
    let handle = builder.spawn(async move { rx.await.is_ok() });
    let tasks = named("waiter");
    assert_eq!(tasks.len(), 1);
    let t = &tasks[0];
    assert_eq!(t.location().file(), file!());
    assert_eq!(t.location().line(), line);
    assert_eq!(t.runtime(), Handle::current().id());
    assert_eq!(
        t.parent(),
        None,
        "spawned from block_on, not from a tracked task"
    );
    assert!(t.spawned_at() <= std::time::Instant::now());
    tx.send(()).unwrap();
    assert!(handle.await.unwrap());
    assert!(named("waiter").is_empty());
}

#[tokio::test]
async fn entry_leaves_on_abort() {
    let handle = Builder::new().name("aborted").spawn(pending::<()>());
    assert_eq!(named("aborted").len(), 1);
    handle.abort();
    assert!(handle.await.unwrap_err().is_cancelled());
    assert!(named("aborted").is_empty());
}

#[tokio::test]
async fn entry_leaves_on_panic() {
    let handle = Builder::new().name("panicker").spawn(async {
        tokio::task::yield_now().await;
        panic!("boom");
    });
    assert_eq!(named("panicker").len(), 1);
    assert!(handle.await.unwrap_err().is_panic());
    assert!(named("panicker").is_empty());
}

#[test]
fn entries_leave_on_runtime_shutdown() {
    let rt = corral_test_support::multi_thread(2);
    let id = rt.handle().id();
    rt.block_on(async {
        for _ in 0..10 {
            corral_task::spawn(pending::<()>());
        }
    });
    let count = || tasks_on(id);
    assert_eq!(count(), 10);
    drop(rt);
    assert_eq!(count(), 0);
}

#[test]
fn spawn_on_records_the_target_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let task = Builder::new()
        .name("spawned-on")
        .spawn_on(async { 5 }, &handle);
    let ours = tasks_on(handle.id());
    assert_eq!(ours, 1);
    assert_eq!(rt.block_on(task).unwrap(), 5);
}

#[tokio::test]
async fn children_record_their_parent_and_current_works() {
    assert_eq!(corral_task::current(), None);
    let parent = Builder::new().name("parent").spawn(async {
        let me = corral_task::current().expect("inside a tracked task");
        let child = Builder::new()
            .name("child")
            .spawn(async { corral_task::current() });
        let child_id = child.await.unwrap().expect("child is tracked");
        (me, child_id)
    });
    let (parent_id, child_id) = parent.await.unwrap();
    assert_ne!(parent_id, child_id);
    // The child's parent is recorded even after the parent is gone.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let parent = Builder::new().name("short-parent").spawn(async move {
        Builder::new().name("orphan").spawn(async move {
            let _ = rx.await;
        });
        corral_task::current().unwrap()
    });
    let parent_id: TaskId = parent.await.unwrap();
    let orphan = named("orphan");
    assert_eq!(orphan[0].parent(), Some(parent_id));
    assert!(named("short-parent").is_empty());
    tx.send(()).unwrap();
}

/// A task's slot is reused once it is gone, and a thread remembers the lineage of the
/// task it polls: a later task in the same slot must not be taken for the earlier one
/// (its children would name the wrong parent, and inherit the wrong tree mark).
#[tokio::test(flavor = "current_thread")]
async fn a_reused_slot_never_lends_the_previous_tasks_lineage() {
    // One task at a time, each asking who it is: every one reuses the slot of the one
    // before it.
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(
            corral_task::spawn(async { corral_task::current().unwrap() })
                .await
                .unwrap(),
        );
    }
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "each task sees its own id");
    let mut previous = None;
    for round in 0..50u32 {
        let parent = Builder::new().name("reused").spawn(async move {
            let me = corral_task::current().unwrap();
            let inherited = corral_task::__tree_mark();
            corral_task::__set_tree_mark(round);
            let child = Builder::new()
                .spawn(async { (corral_task::current().unwrap(), corral_task::__tree_mark()) });
            let (child_id, child_tree) = child.await.unwrap();
            (me, inherited, child_id, child_tree)
        });
        let (me, inherited, child_id, child_tree) = parent.await.unwrap();
        assert_eq!(inherited, 0, "spawned from an unmarked context");
        assert_ne!(Some(me), previous, "ids are never reused");
        assert_ne!(child_id, me);
        assert_eq!(child_tree, round, "the child inherits this task's mark");
        previous = Some(me);
    }
    // Children spawned in a later poll of a task that reused a slot still name it.
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let late = Builder::new().name("late-spawner").spawn(async move {
        let me = corral_task::current().unwrap();
        let _ = go_rx.await;
        let child = Builder::new().name("late-child").spawn(async {});
        let _ = seen_tx.send(named("late-child")[0].parent());
        child.await.unwrap();
        me
    });
    tokio::task::yield_now().await;
    go_tx.send(()).unwrap();
    let parent_seen = seen_rx.await.unwrap();
    assert_eq!(parent_seen, Some(late.await.unwrap()));
}

#[tokio::test]
async fn untracked_tasks_have_no_current_and_no_parent() {
    let inner = tokio::spawn(async {
        assert_eq!(corral_task::current(), None);
        corral_task::spawn(async {}).await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        Builder::new().name("from-untracked").spawn(async move {
            let _ = rx.await;
        });
        tx
    });
    let tx = inner.await.unwrap();
    assert_eq!(named("from-untracked")[0].parent(), None);
    tx.send(()).unwrap();
}

#[tokio::test]
async fn census_groups_by_spawn_site() {
    let (tx, rx) = tokio::sync::watch::channel(());
    let mut handles = Vec::new();
    for _ in 0..5 {
        let mut rx = rx.clone();
        handles.push(Builder::new().name("census-a").spawn(async move {
            let _ = rx.changed().await;
        }));
    }
    let mut rx2 = rx.clone();
    handles.push(Builder::new().name("census-b").spawn(async move {
        let _ = rx2.changed().await;
    }));
    let rt = Handle::current().id();
    let mut snap = corral_task::snapshot();
    snap.retain(|t| t.runtime() == rt);
    let census: Census = snap.census();
    assert_eq!(census.total(), 6);
    assert_eq!(census.len(), 2);
    let a = census
        .iter()
        .find(|s| s.name() == Some("census-a"))
        .unwrap();
    assert_eq!(a.count(), 5);
    assert_eq!(a.location().file(), file!());
    let b = census
        .iter()
        .find(|s| s.name() == Some("census-b"))
        .unwrap();
    assert_eq!(b.count(), 1);
    assert!(a.oldest() >= b.oldest() || a.count() > b.count());
    let table = census.to_string();
    assert!(table.contains("census-a"), "{table}");
    assert!(table.contains(&format!("{}:", file!())), "{table}");
    drop(tx);
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test]
async fn track_registers_without_spawning_and_drop_removes() {
    let mut fut =
        tokio_test::task::spawn(Builder::new().name("tracked-only").track(pending::<()>()));
    assert_eq!(named("tracked-only").len(), 1);
    assert_pending!(fut.poll());
    assert_pending!(fut.poll());
    drop(fut);
    assert!(named("tracked-only").is_empty());
}

/// A future that reports the tracked context it is polled in.
struct WhoAmI;

impl Future for WhoAmI {
    type Output = Option<TaskId>;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(corral_task::current())
    }
}

#[tokio::test]
async fn tracked_poll_sets_and_restores_the_current_task() {
    let tracked = Builder::new().track(WhoAmI);
    let id = tracked.id();
    let mut fut = tokio_test::task::spawn(tracked);
    let seen = assert_ready!(fut.poll());
    assert_eq!(seen, Some(id));
    assert_eq!(corral_task::current(), None, "restored after the poll");
}

#[test]
fn many_spawns_across_workers_all_leave() {
    let rt = corral_test_support::multi_thread(2);
    let id = rt.handle().id();
    rt.block_on(async {
        let outer: Vec<_> = (0..8)
            .map(|_| {
                corral_task::spawn(async {
                    let inner: Vec<_> = (0..500)
                        .map(|i| corral_task::spawn(async move { i }))
                        .collect();
                    let mut sum = 0;
                    for h in inner {
                        sum += h.await.unwrap();
                    }
                    sum
                })
            })
            .collect();
        for h in outer {
            assert_eq!(h.await.unwrap(), 500 * 499 / 2);
        }
    });
    assert_eq!(tasks_on(id), 0);
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Snapshot>();
    send_sync::<TaskInfo>();
    send_sync::<TaskId>();
    send_sync::<Census>();
    send_sync::<corral_task::Site>();
    send_sync::<Builder>();
    send_sync::<Tracked<std::future::Ready<u8>>>();
}

#[test]
fn tracking_adds_eight_bytes_to_a_future() {
    let fut = async { 1u64 };
    let plain = std::mem::size_of_val(&fut);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let tracked = Builder::new().track(async { 1u64 });
    assert_eq!(
        std::mem::size_of_val(&tracked),
        plain.next_multiple_of(8) + 8
    );
}

#[test]
fn runtime_is_right_when_one_thread_drives_several_runtimes() {
    let (a, b) = (
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
    );
    for _ in 0..2 {
        for rt in [&a, &b] {
            rt.block_on(async {
                // From block_on, then from inside a plain task and a tracked one.
                let direct = corral_task::spawn(pending::<()>());
                // (The handles come back in a tuple: returning a bare future from
                // an async block is what clippy's async_yields_async flags.)
                let (nested,) = tokio::spawn(async { (corral_task::spawn(pending::<()>()),) })
                    .await
                    .unwrap();
                let (tracked,) =
                    corral_task::spawn(async { (corral_task::spawn(pending::<()>()),) })
                        .await
                        .unwrap();
                assert_eq!(mine().len(), 3, "all three recorded under this runtime");
                for h in [direct, nested, tracked] {
                    h.abort();
                    assert!(h.await.unwrap_err().is_cancelled());
                }
                assert!(mine().is_empty());
            });
        }
    }
}

#[test]
#[should_panic(expected = "must be called from the context of a Tokio 1.x runtime")]
fn spawn_outside_a_runtime_panics_like_tokio() {
    drop(corral_task::spawn(async {}));
}

/// Wraps a future and panics when dropped.
struct PanicsOnDrop<F>(F);

impl<F: Future + Unpin> Future for PanicsOnDrop<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<F> Drop for PanicsOnDrop<F> {
    fn drop(&mut self) {
        panic!("panic in the user's Drop");
    }
}

#[tokio::test]
async fn entry_leaves_when_the_futures_drop_panics() {
    let done = Builder::new()
        .name("drop-panics-done")
        .spawn(PanicsOnDrop(std::future::ready(())));
    let _ = done.await;
    let aborted = Builder::new()
        .name("drop-panics-aborted")
        .spawn(PanicsOnDrop(Box::pin(pending::<()>())));
    tokio::task::yield_now().await;
    aborted.abort();
    let _ = aborted.await;
    assert!(named("drop-panics-done").is_empty());
    assert!(named("drop-panics-aborted").is_empty());
}

#[test]
fn never_polled_entries_leave_on_shutdown_and_on_a_dead_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let id = handle.id();
    for _ in 0..5 {
        Builder::new().spawn_on(pending::<()>(), &handle);
    }
    let count = || tasks_on(id);
    assert_eq!(count(), 5);
    drop(rt);
    assert_eq!(count(), 0);
    drop(Builder::new().spawn_on(pending::<()>(), &handle));
    assert_eq!(
        count(),
        0,
        "tokio drops a task spawned on a dead runtime at once"
    );
}

#[tokio::test]
async fn a_panicking_tracked_poll_restores_the_current_task() {
    let mut fut = Box::pin(Builder::new().track(async { panic!("boom in poll") }));
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let _ = fut.as_mut().poll(&mut cx);
    }));
    assert!(unwound.is_err());
    assert_eq!(corral_task::current(), None);
}

#[tokio::test]
async fn a_tracked_future_polled_inside_a_tracked_task_nests() {
    let outer = Builder::new().spawn(async {
        let outer = corral_task::current();
        let inner = Builder::new().track(async {
            let child = corral_task::spawn(async {});
            (corral_task::current(), child)
        });
        let inner_id = inner.id();
        let (seen, child) = {
            // As `futures::executor::block_on` would poll it.
            let mut inner = Box::pin(inner);
            let mut cx = Context::from_waker(std::task::Waker::noop());
            match inner.as_mut().poll(&mut cx) {
                Poll::Ready(out) => out,
                Poll::Pending => unreachable!("the inner future is ready at once"),
            }
        };
        assert_eq!(seen, Some(inner_id));
        assert_eq!(
            corral_task::current(),
            outer,
            "restored after the inner poll"
        );
        child.await.unwrap();
    });
    outer.await.unwrap();
}

/// A leaf spawned by a handler that has finished, itself spawned by a live acceptor:
/// the leaf still names its creator (name and site) and the creator's creator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_creator_chain_survives_finished_parents() {
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let acceptor_line = line!() + 1;
    let acceptor = Builder::new().name("acceptor").spawn(async move {
        let handler_line = line!() + 1;
        let handler = Builder::new().name("conn-handler").spawn(async move {
            let leaf_line = line!() + 1;
            let leaf = Builder::new().name("leaf-worker").spawn(async move {
                let _ = release_rx.await;
            });
            (leaf, leaf_line)
        });
        let (leaf, leaf_line) = handler.await.unwrap();
        (leaf, leaf_line, handler_line)
    });
    let (leaf, leaf_line, handler_line) = acceptor.await.unwrap();
    // Both ancestors have finished; only the leaf is alive.
    let leaves = named("leaf-worker");
    assert_eq!(leaves.len(), 1);
    let t = &leaves[0];
    assert_eq!(t.location().line(), leaf_line);
    let parent = t.parent().expect("spawned by a tracked task");
    assert!(
        mine().iter().all(|x| x.id() != parent),
        "the handler is gone"
    );
    let handler = t.creator().expect("the creator outlives it");
    assert_eq!(handler.name(), Some("conn-handler"));
    assert_eq!(handler.location().file(), file!());
    assert_eq!(handler.location().line(), handler_line);
    let acceptor = handler.creator().expect("and its creator too");
    assert_eq!(acceptor.name(), Some("acceptor"));
    assert_eq!(acceptor.location().line(), acceptor_line);
    assert!(acceptor.creator().is_none(), "spawned from the test body");
    assert_eq!(
        handler.to_string(),
        format!("\"conn-handler\" at {}", handler.location())
    );
    release_tx.send(()).unwrap();
    leaf.await.unwrap();
}

/// Tasks spawned outside any tracked task have no creator; children spawned from one
/// site by many parents of one site share one record (no per-task growth).
#[tokio::test]
async fn creators_are_per_spawn_path() {
    let root = corral_task::spawn(async {});
    assert!(mine()
        .iter()
        .filter(|t| t.parent().is_none())
        .all(|t| t.creator().is_none()));
    root.await.unwrap();
    let (tx, rx) = tokio::sync::watch::channel(());
    let parents: Vec<_> = (0..50)
        .map(|_| {
            let mut rx = rx.clone();
            Builder::new().name("per-path-parent").spawn(async move {
                // Wrapped: the child's handle is returned, not awaited.
                Some(Builder::new().name("per-path-child").spawn(async move {
                    let _ = rx.changed().await;
                }))
            })
        })
        .collect();
    let mut children = Vec::new();
    for p in parents {
        children.extend(p.await.unwrap());
    }
    let kids = named("per-path-child");
    assert_eq!(kids.len(), 50);
    let first = kids[0].creator().unwrap();
    for k in &kids {
        let c = k.creator().unwrap();
        assert!(std::ptr::eq(c, first), "one shared record per path");
    }
    tx.send(()).unwrap();
    for c in children {
        c.await.unwrap();
    }
}

/// How many live tracked tasks the registry holds for the runtime `id`.
fn tasks_on(id: tokio::runtime::Id) -> usize {
    on(id).len()
}
