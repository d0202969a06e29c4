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

/// `corral_resolver_lookup_seconds` gets one sample per call of the lookup function:
/// eight waiters coalesced on one gated lookup are one sample, a failed lookup is
/// timed too, and an IP literal (no lookup) is not.
#[test]
fn lookup_time_is_recorded_once_per_lookup_not_per_waiter() {
    let rec = TestRecorder::new();
    let gate = Latch::new();
    let resolver = {
        let _g = rec.install();
        let gate = gate.clone();
        Resolver::builder()
            .pool_name("dns-timed")
            .lookup_fn(move |host: &str| {
                gate.wait();
                if host == "missing.test" {
                    Err(std::io::Error::other("no such host"))
                } else {
                    Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
                }
            })
            .build()
            .unwrap()
    };
    let dns = [("resolver", "dns-timed")];
    multi_thread(2).block_on(async {
        let waiters: Vec<_> = (0..8)
            .map(|_| tokio::spawn(resolver.lookup(("shared.test", 443))))
            .collect();
        corral_test_support::eventually("all eight joined one lookup", || {
            let m = resolver.metrics();
            m.lookups == 1 && m.coalesced == 7
        })
        .await;
        assert!(rec
            .samples("corral_resolver_lookup_seconds", &dns)
            .is_empty());
        gate.open();
        for w in waiters {
            assert_eq!(w.await.unwrap().unwrap().count(), 1);
        }
        assert_eq!(
            rec.samples("corral_resolver_lookup_seconds", &dns).len(),
            1,
            "one lookup, eight waiters"
        );
        assert!(resolver.lookup(("missing.test", 443)).await.is_err());
        resolver.lookup(("127.0.0.1", 443)).await.unwrap();
    });
    assert_eq!(rec.samples("corral_resolver_lookup_seconds", &dns).len(), 2);
    TaskMetrics::new(0).sample();
    assert_eq!(rec.value("corral_resolver_lookups_total", &dns), Some(2.0));
    assert_eq!(
        rec.value("corral_resolver_coalesced_total", &dns),
        Some(7.0)
    );
    assert_eq!(rec.value("corral_resolver_errors_total", &dns), Some(1.0));
}
