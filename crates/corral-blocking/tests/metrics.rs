//! The `metrics` feature (issue #15): blocking pools and resolvers publish their
//! `metrics()` snapshots on each census tick (pull: nothing per job or lookup).
#![cfg(feature = "metrics")]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use corral_blocking::{BlockingPool, Resolver};
use corral_task::TaskMetrics;
use corral_test_support::{multi_thread, Latch, TestRecorder};

#[test]
fn pool_and_resolver_series_follow_their_snapshots_on_each_tick() {
    let rec = TestRecorder::new();
    let _g = rec.install();
    let mut tick = TaskMetrics::new(0);
    let pool = BlockingPool::builder()
        .name("fs")
        .max_threads(2)
        .queue_capacity(1)
        .build()
        .unwrap();
    let resolver = Resolver::builder()
        .pool_name("dns-test")
        .lookup_fn(|_host: &str| Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
        .build()
        .unwrap();
    let fs = [("pool", "fs")];
    multi_thread(2).block_on(async {
        let gate = Latch::new();
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut jobs = Vec::new();
        for _ in 0..2 {
            let (gate, started) = (gate.clone(), Arc::clone(&started));
            jobs.push(pool.run(move || {
                started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                gate.wait();
            }));
        }
        let mut jobs: Vec<_> = jobs.into_iter().map(tokio::spawn).collect();
        corral_test_support::eventually("both run", || pool.metrics().running == 2).await;
        tick.sample();
        assert_eq!(rec.value("corral_blocking_running_jobs", &fs), Some(2.0));
        assert_eq!(rec.value("corral_blocking_threads", &fs), Some(2.0));
        gate.open();
        for j in jobs.drain(..) {
            j.await.unwrap().unwrap();
        }
        for _ in 0..3 {
            resolver.lookup(("example.test", 80)).await.unwrap();
        }
    });
    tick.sample();
    assert_eq!(rec.value("corral_blocking_running_jobs", &fs), Some(0.0));
    assert_eq!(
        rec.value("corral_blocking_jobs_completed_total", &fs),
        Some(2.0)
    );
    let m = resolver.metrics();
    let dns = [("resolver", "dns-test")];
    assert_eq!(
        rec.value("corral_resolver_lookups_total", &dns),
        Some(m.lookups as f64)
    );
    assert!(m.lookups >= 1);
    drop(pool);
    tick.sample();
    assert_eq!(
        rec.value("corral_blocking_threads", &fs),
        Some(0.0),
        "a dropped pool retires"
    );
}
