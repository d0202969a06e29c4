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

use corral_test_support::multi_thread;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "support/scope.rs"]
mod scope;
use scope::{
    corral_scope, corral_scope_fan, corral_scope_limited, joinset, joinset_limited, tracker_token,
    tracker_token_fan, tracker_token_tracked, CHILDREN, LIMIT,
};

fn contention(c: &mut Criterion) {
    let rt = multi_thread(2);
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
    let rt = multi_thread(2);
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
    let rt = multi_thread(2);
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
