//! corral-blocking next to tokio's blocking pool, same workload, same run.
//!
//! - `uncontended`: one blocking job's round trip: `tokio::task::spawn_blocking` vs
//!   `BlockingPool::run` vs `corral_blocking::spawn_blocking` (the drop-in).
//! - `contention`: 256 concurrent short jobs (50 µs each): tokio's pool (up to 512
//!   threads) vs a corral pool capped at 16.
//! - `dns_storm`: a small storm, 2,000 lookups of 50 names against the loopback DNS
//!   server answering after 20 ms: `spawn_blocking` per lookup (what
//!   `tokio::net::lookup_host` does) vs a coalescing `Resolver` capped at 32. (Below
//!   tokio's 512 threads a storm fits in one round and tokio wins; 2,000 needs four.) The full-size storm (5,000 lookups,
//!   200 ms) with thread and RSS peaks is `examples/dns_storm.rs`.

use std::time::Duration;

use corral_blocking::{BlockingPool, Resolver};
use corral_test_support::{dns, multi_thread};
use criterion::{criterion_group, criterion_main, Criterion};

fn uncontended(c: &mut Criterion) {
    let rt = multi_thread(2);
    let pool = BlockingPool::builder().name("bench").build().expect("pool");
    let mut group = c.benchmark_group("uncontended");
    group.bench_function("tokio_spawn_blocking", |b| {
        b.to_async(&rt)
            .iter(|| async { tokio::task::spawn_blocking(|| 1u64).await.unwrap() })
    });
    group.bench_function("corral_pool_run", |b| {
        b.to_async(&rt)
            .iter(|| async { pool.run(|| 1u64).await.unwrap() })
    });
    group.bench_function("corral_spawn_blocking", |b| {
        b.to_async(&rt)
            .iter(|| async { corral_blocking::spawn_blocking(|| 1u64).await.unwrap() })
    });
    group.finish();
}

fn busy(us: u64) {
    std::thread::sleep(Duration::from_micros(us));
}

fn contention(c: &mut Criterion) {
    const JOBS: usize = 256;
    let rt = multi_thread(2);
    let pool = BlockingPool::builder()
        .name("bench16")
        .max_threads(16)
        .queue_capacity(JOBS)
        .build()
        .expect("pool");
    let mut group = c.benchmark_group("contention");
    group.sample_size(20);
    group.bench_function("tokio_spawn_blocking_256x50us", |b| {
        b.to_async(&rt).iter(|| async {
            let jobs: Vec<_> = (0..JOBS)
                .map(|_| tokio::task::spawn_blocking(|| busy(50)))
                .collect();
            for job in jobs {
                job.await.unwrap();
            }
        })
    });
    group.bench_function("corral_pool_cap16_256x50us", |b| {
        b.to_async(&rt).iter(|| async {
            let jobs: Vec<_> = (0..JOBS)
                .map(|_| pool.try_run(|| busy(50)).unwrap())
                .collect();
            for job in jobs {
                job.await.unwrap();
            }
        })
    });
    group.finish();
}

fn dns_storm(c: &mut Criterion) {
    const LOOKUPS: usize = 2_000;
    const NAMES: usize = 50;
    let server = dns::SlowDnsServer::start(Duration::from_millis(20)).expect("dns server");
    let addr = server.addr();
    let rt = multi_thread(2);
    let names: Vec<String> = (0..NAMES).map(|i| format!("host{i}.bench.test")).collect();
    let mut group = c.benchmark_group("dns_storm");
    group.sample_size(10);
    group.bench_function("tokio_spawn_blocking_2000x50names_20ms", |b| {
        b.to_async(&rt).iter(|| async {
            let lookups: Vec<_> = (0..LOOKUPS)
                .map(|i| {
                    let name = names[i % NAMES].clone();
                    tokio::task::spawn_blocking(move || dns::lookup(addr, &name))
                })
                .collect();
            for lookup in lookups {
                lookup.await.unwrap().unwrap();
            }
        })
    });
    group.bench_function("corral_resolver_cap32_2000x50names_20ms", |b| {
        b.to_async(&rt).iter(|| async {
            // A fresh resolver per iteration: no answer carries over between iterations.
            let resolver = Resolver::builder()
                .max_threads(32)
                .lookup_fn(move |host| dns::lookup(addr, host))
                .build()
                .unwrap();
            let lookups: Vec<_> = (0..LOOKUPS)
                .map(|i| tokio::spawn(resolver.lookup_host(&names[i % NAMES], 80)))
                .collect();
            for lookup in lookups {
                lookup.await.unwrap().unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, uncontended, contention, dns_storm);
criterion_main!(benches);
