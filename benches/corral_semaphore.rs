//! corral-semaphore next to `tokio::sync::Semaphore` and `async_lock::Semaphore`, same
//! workloads, same run.
//!
//! - `uncontended/acquire`: `acquire(1).await` + drop on a current-thread runtime, no
//!   other task (the fast path: one CAS, one atomic add).
//! - `uncontended/try_acquire`: `try_acquire(1)` + drop.
//! - `uncontended/poll_acquire`: `poll_acquire(cx, 1)` + drop through the poll-style
//!   wrapper a tower `poll_ready` uses (corral `PollSemaphore` vs tokio-util's).
//! - `contention/64_tasks_8_permits`: 64 tasks on a 2-worker runtime each do `OPS`
//!   rounds of `acquire(1).await`, yield while holding, drop; one iteration is the whole
//!   batch, reported per acquire (throughput = acquires).
//! - `contention/weighted_64_tasks_16_permits`: the same with weights 1 to 4 (tokio's
//!   `acquire_many`; async-lock has no weighted acquire).
//!
//! Run: `cargo bench -p corral-benches --bench corral_semaphore -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

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
    let corral_arc = Arc::new(corral_semaphore::Semaphore::new(PERMITS as u64));
    let mut corral_poll = corral_semaphore::PollSemaphore::new(corral_arc);
    let mut cx = Context::from_waker(Waker::noop());
    group.bench_function("poll_acquire/corral", |b| {
        b.iter(|| {
            let Poll::Ready(Ok(permit)) = corral_poll.poll_acquire(&mut cx, 1) else {
                unreachable!("uncontended")
            };
            black_box(&permit);
        })
    });
    let tokio_arc = Arc::new(tokio::sync::Semaphore::new(PERMITS));
    let mut tokio_poll = tokio_util::sync::PollSemaphore::new(tokio_arc);
    group.bench_function("poll_acquire/tokio_util", |b| {
        b.iter(|| {
            let Poll::Ready(Some(permit)) = tokio_poll.poll_acquire(&mut cx) else {
                unreachable!("uncontended")
            };
            black_box(&permit);
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

    let mut group = c.benchmark_group("contention");
    group.throughput(Throughput::Elements((TASKS * OPS) as u64));
    group.bench_function("weighted_64_tasks_16_permits/corral", |b| {
        b.to_async(&rt).iter(|| async {
            let sem = Arc::new(corral_semaphore::Semaphore::new(16));
            let tasks: Vec<_> = (0..TASKS)
                .map(|t| {
                    let sem = Arc::clone(&sem);
                    tokio::spawn(async move {
                        for i in 0..OPS {
                            let permit = sem.acquire(weight(t, i) as u64).await.unwrap();
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
    group.bench_function("weighted_64_tasks_16_permits/tokio", |b| {
        b.to_async(&rt).iter(|| async {
            let sem = Arc::new(tokio::sync::Semaphore::new(16));
            let tasks: Vec<_> = (0..TASKS)
                .map(|t| {
                    let sem = Arc::clone(&sem);
                    tokio::spawn(async move {
                        for i in 0..OPS {
                            let permit = sem.acquire_many(weight(t, i)).await.unwrap();
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
    group.finish();
}

/// Weights 1 to 4, spread over tasks and rounds.
fn weight(task: usize, round: usize) -> u32 {
    ((task * 7 + round * 3) % 4 + 1) as u32
}

criterion_group!(benches, uncontended, contention);
criterion_main!(benches);
