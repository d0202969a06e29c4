//! Shared by the two scope benches (included with `#[path]`): the workloads of
//! corral-scope and of the peers it replaces, so both measure exactly the same thing.

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Children spawned and joined per round.
pub(crate) const CHILDREN: usize = 100_000;
/// The limit of the `limited` cases.
pub(crate) const LIMIT: usize = 64;
/// Spawners in the `contention` cases, each spawning `CHILDREN / SPAWNERS` children.
pub(crate) const SPAWNERS: usize = 4;

pub(crate) async fn joinset(n: usize) {
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(async {});
    }
    while set.join_next().await.is_some() {}
}

pub(crate) async fn tracker_token(n: usize) {
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    for _ in 0..n {
        let token = token.clone();
        tracker.spawn(async move { token.run_until_cancelled(async {}).await });
    }
    tracker.close();
    tracker.wait().await;
}

/// The like-for-like peer: `TaskTracker` + `CancellationToken` with every task in the
/// corral-task registry, as a scope's children are.
pub(crate) async fn tracker_token_tracked(n: usize) {
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    for _ in 0..n {
        let token = token.clone();
        tracker.spawn(
            corral_task::Builder::new()
                .track(async move { token.run_until_cancelled(async {}).await }),
        );
    }
    tracker.close();
    tracker.wait().await;
}

pub(crate) async fn corral_scope(n: usize) {
    corral_scope::scope(|s| async move {
        for _ in 0..n {
            s.go(async { Ok::<(), ()>(()) });
        }
        Ok::<(), ()>(())
    })
    .await
    .expect("no child fails");
}

pub(crate) async fn joinset_limited(n: usize) {
    let limit = Arc::new(tokio::sync::Semaphore::new(LIMIT));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let permit = limit.clone().acquire_owned().await.expect("open");
        set.spawn(async move { drop(permit) });
        // Reap as we go, like a bounded JoinSet loop would.
        while set.try_join_next().is_some() {}
    }
    while set.join_next().await.is_some() {}
}

pub(crate) async fn corral_scope_limited(config: &corral_scope::ScopeConfig, n: usize) {
    config
        .scope(|s| async move {
            for _ in 0..n {
                s.spawn(async { Ok::<(), ()>(()) })
                    .await
                    .expect("scope is open");
            }
            Ok::<(), ()>(())
        })
        .await
        .expect("no child fails");
}

/// `SPAWNERS` tasks each spawn their share of siblings into one tracker.
pub(crate) async fn tracker_token_fan(n: usize) {
    let tracker = TaskTracker::new();
    let token = CancellationToken::new();
    for _ in 0..SPAWNERS {
        let (t, token) = (tracker.clone(), token.clone());
        tracker.spawn(async move {
            for _ in 0..n / SPAWNERS {
                let token = token.clone();
                t.spawn(async move { token.run_until_cancelled(async {}).await });
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// `SPAWNERS` children each spawn their share of siblings through a cloned handle.
pub(crate) async fn corral_scope_fan(n: usize) {
    corral_scope::scope(|s| async move {
        for _ in 0..SPAWNERS {
            let s2 = s.clone();
            s.go(async move {
                for _ in 0..n / SPAWNERS {
                    s2.go(async { Ok::<(), ()>(()) });
                }
                Ok(())
            });
        }
        Ok::<(), ()>(())
    })
    .await
    .expect("no child fails");
}

/// [`corral_scope`], keeping every child's handle until the scope is over (as a
/// `JoinSet` keeps its tasks' handles): then the owner's thread, not the worker that ran
/// the child, drops the last reference to each task and frees its cell. A diagnostic of
/// the paired bench only (the criterion bench does not run it).
#[allow(dead_code)]
pub(crate) async fn corral_scope_kept_handles(n: usize) {
    let mut handles = Vec::with_capacity(n);
    corral_scope::scope(|s| async move {
        for _ in 0..n {
            handles.push(s.go(async { Ok::<(), ()>(()) }));
        }
        Ok::<_, ()>(handles)
    })
    .await
    .expect("no child fails");
}
