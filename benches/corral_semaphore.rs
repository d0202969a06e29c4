//! corral-semaphore next to `tokio::sync::Semaphore` and `async_lock::Semaphore`, same
//! workloads, same run.
//!
//! - `uncontended/acquire`: `acquire(1).await` + drop on a current-thread runtime, no
//!   other task (the fast path: one CAS, one atomic add).
//! - `uncontended/try_acquire`: `try_acquire(1)` + drop.
//! - `contention/64_tasks_8_permits`: 64 tasks on a 2-worker runtime each do `OPS`
//!   rounds of `acquire(1).await`, yield while holding, drop; one iteration is the whole
//!   batch, reported per acquire (throughput = acquires).
//!
//! Run: `cargo bench -p corral-benches --bench corral_semaphore -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::runtime::{Builder, Runtime};

const TASKS: usize = 64;
const PERMITS: usize = 8;
const OPS: usize = 50;

fn current_thread() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

fn two_workers() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn uncontended(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("uncontended");

    let corral = corral_semaphore::Semaphore::new(PERMITS as u64);
    group.bench_function("acquire/corral", |b| {
        b.to_async(&rt).iter(|| async {
            let permit = corral.acquire(1).await.unwrap();
            black_box(&permit);
        })
    });
    let tokio_sem = tokio::sync::Semaphore::new(PERMITS);
    group.bench_function("acquire/tokio", |b| {
        b.to_async(&rt).iter(|| async {
            let permit = tokio_sem.acquire().await.unwrap();
            black_box(&permit);
        })
    });
    let async_lock_sem = async_lock::Semaphore::new(PERMITS);
    group.bench_function("acquire/async_lock", |b| {
        b.to_async(&rt).iter(|| async {
            let guard = async_lock_sem.acquire().await;
            black_box(&guard);
        })
    });

    group.bench_function("try_acquire/corral", |b| {
        b.iter(|| {
            let permit = corral.try_acquire(1).unwrap();
            black_box(&permit);
        })
    });
    group.bench_function("try_acquire/tokio", |b| {
        b.iter(|| {
            let permit = tokio_sem.try_acquire().unwrap();
            black_box(&permit);
        })
    });
    group.bench_function("try_acquire/async_lock", |b| {
        b.iter(|| {
            let guard = async_lock_sem.try_acquire().unwrap();
            black_box(&guard);
        })
    });
    group.finish();
}

fn contention(c: &mut Criterion) {
    let rt = two_workers();
    let mut group = c.benchmark_group("contention");
    group.throughput(Throughput::Elements((TASKS * OPS) as u64));

    group.bench_function("64_tasks_8_permits/corral", |b| {
        b.to_async(&rt).iter(|| async {
            let sem = Arc::new(corral_semaphore::Semaphore::new(PERMITS as u64));
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let sem = Arc::clone(&sem);
                    tokio::spawn(async move {
                        for _ in 0..OPS {
                            let permit = sem.acquire(1).await.unwrap();
                            tokio::task::yield_now().await;
                            drop(permit);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        })
    });
    group.bench_function("64_tasks_8_permits/tokio", |b| {
        b.to_async(&rt).iter(|| async {
            let sem = Arc::new(tokio::sync::Semaphore::new(PERMITS));
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let sem = Arc::clone(&sem);
                    tokio::spawn(async move {
                        for _ in 0..OPS {
                            let permit = sem.acquire().await.unwrap();
                            tokio::task::yield_now().await;
                            drop(permit);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        })
    });
    group.bench_function("64_tasks_8_permits/async_lock", |b| {
        b.to_async(&rt).iter(|| async {
            let sem = Arc::new(async_lock::Semaphore::new(PERMITS));
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let sem = Arc::clone(&sem);
                    tokio::spawn(async move {
                        for _ in 0..OPS {
                            let guard = sem.acquire().await;
                            tokio::task::yield_now().await;
                            drop(guard);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, uncontended, contention);
criterion_main!(benches);
