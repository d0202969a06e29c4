//! Tracked spawn next to `tokio::spawn`: spawning and joining 100k no-op tasks, and the
//! cost of a snapshot of 100k live tasks.
//!
//! Groups:
//! - `uncontended`: 100k no-op tasks spawned from one task, then all joined; on a
//!   multi-thread runtime with 2 workers (`mt2`) and on a current-thread runtime
//!   (`ct`). `tokio_spawn` and `corral_spawn` side by side.
//! - `contention`: 2 tasks on a 2-worker runtime each spawn and join 50k no-op tasks at
//!   once, so both workers insert into (their own shards of) the registry together.
//! - `snapshot`: `corral_task::snapshot()` with 100k live tracked tasks parked.
//!
//! The heap is pinned first ([`pin_heap`]): with glibc's defaults, whether the 100k
//! freed tasks go back to the kernel after each round (and fault back in on the next)
//! depends on the allocation history of the process, so the same `tokio::spawn` round
//! took ~20 ms or ~33 ms depending on which bench ran before it, and a ratio measured
//! across two regimes meant nothing (we saw corral at 0.8x tokio). Pinned, every case
//! runs in the fast regime, where tracking's cost weighs the most.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "support/task.rs"]
mod task;
use task::{ct, mt2, pin_heap, spawn_join_corral, spawn_join_tokio, TASKS};

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended");
    group.sample_size(10);
    for (label, rt) in [("mt2", mt2()), ("ct", ct())] {
        group.bench_function(format!("tokio_spawn/{label}"), |b| {
            b.iter(|| rt.block_on(rt.spawn(spawn_join_tokio(TASKS))).unwrap())
        });
        group.bench_function(format!("corral_spawn/{label}"), |b| {
            b.iter(|| rt.block_on(rt.spawn(spawn_join_corral(TASKS))).unwrap())
        });
    }
    group.finish();
}

fn contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("contention");
    group.sample_size(10);
    let rt = mt2();
    group.bench_function("tokio_spawn/mt2x2", |b| {
        b.iter(|| {
            rt.block_on(async {
                let a = tokio::spawn(spawn_join_tokio(TASKS / 2));
                let b = tokio::spawn(spawn_join_tokio(TASKS / 2));
                a.await.unwrap();
                b.await.unwrap();
            })
        })
    });
    group.bench_function("corral_spawn/mt2x2", |b| {
        b.iter(|| {
            rt.block_on(async {
                let a = tokio::spawn(spawn_join_corral(TASKS / 2));
                let b = tokio::spawn(spawn_join_corral(TASKS / 2));
                a.await.unwrap();
                b.await.unwrap();
            })
        })
    });
    group.finish();
}

fn snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    let rt = mt2();
    let (tx, rx) = tokio::sync::watch::channel(());
    let parked: Vec<_> = rt.block_on(async {
        (0..TASKS)
            .map(|_| {
                let mut rx = rx.clone();
                corral_task::Builder::new()
                    .name("parked")
                    .spawn(async move {
                        let _ = rx.changed().await;
                    })
            })
            .collect()
    });
    group.bench_function("corral_snapshot/100k_live", |b| {
        b.iter(|| black_box(corral_task::snapshot().len()))
    });
    group.bench_function("corral_census/100k_live", |b| {
        let snap = corral_task::snapshot();
        b.iter(|| black_box(snap.census().len()))
    });
    group.bench_function("corral_live_count/100k_live", |b| {
        b.iter(|| black_box(corral_task::live_count()))
    });
    group.finish();
    drop(tx);
    rt.block_on(async {
        for h in parked {
            h.await.unwrap();
        }
    });
}

fn pinned(c: &mut Criterion) {
    pin_heap();
    uncontended(c);
    contention(c);
    snapshot(c);
}

criterion_group!(benches, pinned);
criterion_main!(benches);
