//! `Snapshot::for_current_runtime` and `Snapshot::in_current_tree`: a test looks at
//! its own runtime or task tree without filtering by hand, while other tests (here,
//! other runtimes on other threads) run beside it.

use std::future::pending;

use corral_task::{snapshot, spawn, Builder};

fn runtime() -> tokio::runtime::Runtime {
    corral_test_support::multi_thread(2)
}

#[test]
fn for_current_runtime_keeps_this_runtimes_tasks_only() {
    let (a, b) = (runtime(), runtime());
    let in_a: Vec<_> = (0..3)
        .map(|_| {
            Builder::new()
                .name("in-a")
                .spawn_on(pending::<()>(), a.handle())
        })
        .collect();
    let in_b = Builder::new()
        .name("in-b")
        .spawn_on(pending::<()>(), b.handle());
    let seen_from_a = a.block_on(async { snapshot().for_current_runtime() });
    assert_eq!(seen_from_a.len(), 3, "{:?}", seen_from_a);
    assert!(seen_from_a.iter().all(|t| t.name() == Some("in-a")));
    assert!(seen_from_a.iter().all(|t| t.runtime() == a.handle().id()));
    let seen_from_b = b.block_on(async { snapshot().for_current_runtime() });
    assert_eq!(seen_from_b.len(), 1);
    assert_eq!(seen_from_b.iter().next().unwrap().name(), Some("in-b"));
    // The whole process sees both.
    assert!(snapshot().len() >= 4);
    for h in in_a {
        h.abort();
    }
    in_b.abort();
}

#[test]
#[should_panic]
fn for_current_runtime_panics_outside_a_runtime() {
    let _ = snapshot().for_current_runtime();
}

#[test]
fn in_current_tree_keeps_the_callers_descendants() {
    let rt = runtime();
    rt.block_on(async {
        let stranger = Builder::new().name("stranger").spawn(pending::<()>());
        let root = spawn(async {
            // A child, and a grandchild whose parent has ended: with no guard's
            // mark, the tree is found through parents still alive.
            let child = Builder::new().name("child").spawn(async {
                let grandchild = Builder::new().name("grandchild").spawn(pending::<()>());
                pending::<()>().await;
                drop(grandchild);
            });
            tokio::task::yield_now().await;
            while snapshot().iter().all(|t| t.name() != Some("grandchild")) {
                tokio::task::yield_now().await;
            }
            let tree = snapshot().in_current_tree();
            let mut names: Vec<_> = tree.iter().map(|t| t.name().unwrap()).collect();
            names.sort();
            assert_eq!(names, ["child", "grandchild"]);
            child.abort();
        });
        root.await.unwrap();
        // Outside any tracked task and any guard, there is no tree.
        assert!(snapshot().in_current_tree().is_empty());
        stranger.abort();
    });
}

#[test]
fn in_current_tree_follows_a_guards_mark_past_finished_parents() {
    let rt = runtime();
    rt.block_on(async {
        let stranger = Builder::new().name("stranger").spawn(pending::<()>());
        // What a leak guard does: mark the test's tree.
        let prev = corral_task::__set_tree_mark(0x5eed);
        let middle = spawn(async { (Builder::new().name("orphan").spawn(pending::<()>()),) });
        let (orphan,) = middle.await.unwrap(); // its parent has ended
        let tree = snapshot().in_current_tree();
        let names: Vec<_> = tree.iter().map(|t| t.name()).collect();
        assert_eq!(names, [Some("orphan")]);
        corral_task::__set_tree_mark(prev);
        orphan.abort();
        stranger.abort();
    });
}
