//! corral-scope next to the peers it replaces: spawning and joining many no-op children
//! with `tokio::task::JoinSet`, with tokio-util's `TaskTracker` + `CancellationToken`,
//! and with a corral scope (tracked, fail-fast, abort-on-drop, cancellable).
//!
//! Group `uncontended`: one owner spawns 100k no-op children and joins them all. The
//! `_tracked` peer also registers each task with corral-task, as a scope does for its
//! children: it separates the registry's cost from the scope's own.
//! Group `contention`: 4 spawners (children of the group) spawn 25k siblings each
//! through clones of the handle / tracker, racing the finishing children.
//! Group `limited`: same, through a limit of 64 (corral scope with `limit(64)` next to
//! a `JoinSet` gated by a tokio `Semaphore`).
//!
//! `cargo bench -p corral-benches --bench corral_scope -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const CHILDREN: usize = 100_000;
const LIMIT: usize = 64;
/// Spawners in the `contention` group, each spawning `CHILDREN / SPAWNERS` children.
const SPAWNERS: usize = 4;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build runtime")
}

async fn joinset(n: usize) {
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(async {});
    }
    while set.join_next().await.is_some() {}
}

async fn tracker_token(n: usize) {
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
async fn tracker_token_tracked(n: usize) {
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

async fn corral_scope(n: usize) {
    corral_scope::scope(|s| async move {
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

async fn joinset_limited(n: usize) {
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

async fn corral_scope_limited(config: &corral_scope::ScopeConfig, n: usize) {
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
async fn tracker_token_fan(n: usize) {
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
async fn corral_scope_fan(n: usize) {
    corral_scope::scope(|s| async move {
        for _ in 0..SPAWNERS {
            let s2 = s.clone();
            s.spawn(async move {
                for _ in 0..n / SPAWNERS {
                    s2.spawn(async { Ok::<(), ()>(()) })
                        .await
                        .expect("scope is open");
                }
                Ok(())
            })
            .await
            .expect("scope is open");
        }
        Ok::<(), ()>(())
    })
    .await
    .expect("no child fails");
}

fn contention(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("contention");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CHILDREN as u64));
    group.bench_function("tokio_util_tracker_token_4_spawners_100k", |b| {
        b.to_async(&rt).iter(|| tracker_token_fan(CHILDREN))
    });
    group.bench_function("corral_scope_4_spawners_100k", |b| {
        b.to_async(&rt).iter(|| corral_scope_fan(CHILDREN))
    });
    group.finish();
}

fn uncontended(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("uncontended");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CHILDREN as u64));
    group.bench_function("tokio_joinset_100k", |b| {
        b.to_async(&rt).iter(|| joinset(CHILDREN))
    });
    group.bench_function("tokio_util_tracker_token_100k", |b| {
        b.to_async(&rt).iter(|| tracker_token(CHILDREN))
    });
    group.bench_function("tokio_util_tracker_token_tracked_100k", |b| {
        b.to_async(&rt).iter(|| tracker_token_tracked(CHILDREN))
    });
    group.bench_function("corral_scope_100k", |b| {
        b.to_async(&rt).iter(|| corral_scope(CHILDREN))
    });
    group.finish();
}

fn limited(c: &mut Criterion) {
    let rt = runtime();
    let config = corral_scope::ScopeConfig::builder()
        .limit(LIMIT as u64)
        .build()
        .expect("valid config");
    let mut group = c.benchmark_group("limited");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CHILDREN as u64));
    group.bench_function("tokio_joinset_semaphore_100k", |b| {
        b.to_async(&rt).iter(|| joinset_limited(CHILDREN))
    });
    group.bench_function("corral_scope_limit_100k", |b| {
        b.to_async(&rt)
            .iter(|| corral_scope_limited(&config, CHILDREN))
    });
    group.finish();
}

criterion_group!(benches, uncontended, contention, limited);
criterion_main!(benches);
