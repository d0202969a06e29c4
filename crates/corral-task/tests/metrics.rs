//! The `metrics` feature (issue #15): live tracked tasks per site (top N, the rest as
//! `other`), spawned/ended counters and untracked tasks per runtime. One test in this
//! binary: the registry is process-wide, so the counts are exact only alone.
#![cfg(feature = "metrics")]

use corral_task::TaskMetrics;
use corral_test_support::{eventually, multi_thread, TestRecorder};
use tokio::sync::oneshot;

fn parked(n: usize) -> Vec<oneshot::Sender<()>> {
    (0..n)
        .map(|_| {
            let (tx, rx) = oneshot::channel::<()>();
            corral_task::Builder::new()
                .name("parked")
                .spawn(async move {
                    let _ = rx.await;
                });
            tx
        })
        .collect()
}

fn other_site(n: usize) -> Vec<oneshot::Sender<()>> {
    (0..n)
        .map(|_| {
            let (tx, rx) = oneshot::channel::<()>();
            corral_task::spawn(async move {
                let _ = rx.await;
            });
            tx
        })
        .collect()
}

fn third_site() -> oneshot::Sender<()> {
    let (tx, rx) = oneshot::channel::<()>();
    corral_task::Builder::new().name("third").spawn(async move {
        let _ = rx.await;
    });
    tx
}

#[test]
fn sites_counters_and_untracked_tasks() {
    let rec = TestRecorder::new();
    multi_thread(2).block_on(async {
        let _g = rec.install();
        let mut census = TaskMetrics::new(2);
        let a = parked(5);
        let b = other_site(3);
        let c = third_site();
        let (_untracked_tx, untracked_rx) = oneshot::channel::<()>();
        let plain = tokio::spawn(async move {
            let _ = untracked_rx.await;
        });
        census.sample();
        let series = rec.series();
        let live: Vec<_> = series
            .iter()
            .filter(|(n, _)| n == "corral_task_live_tasks")
            .collect();
        assert_eq!(live.len(), 3, "two top sites and other: {live:?}");
        let site_of = |name: &str| -> String {
            live.iter()
                .find(|(_, l)| l.iter().any(|(k, v)| k == "name" && v == name))
                .and_then(|(_, l)| l.iter().find(|(k, _)| k == "site"))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no site named {name:?}: {live:?}"))
        };
        let site_a = site_of("parked");
        let site_b = site_of("");
        assert!(site_a.contains("tests/metrics.rs:"), "{site_a}");
        let value = |site: &str, name: &str| {
            rec.value("corral_task_live_tasks", &[("site", site), ("name", name)])
        };
        assert_eq!(value(&site_a, "parked"), Some(5.0));
        assert_eq!(value(&site_b, ""), Some(3.0));
        assert_eq!(value("other", ""), Some(1.0), "the third site is summed");
        assert_eq!(rec.value("corral_task_spawned_total", &[]), Some(9.0));
        assert_eq!(rec.value("corral_task_ended_total", &[]), Some(0.0));
        let rt = tokio::runtime::Handle::current().id().to_string();
        assert_eq!(
            rec.value("corral_task_untracked_tasks", &[("runtime", &rt)]),
            Some(1.0)
        );

        drop(a);
        eventually("site a ends", || corral_task::live_count() == 4).await;
        census.sample();
        assert_eq!(value(&site_a, "parked"), Some(0.0), "left the top: zeroed");
        assert_eq!(value(&site_b, ""), Some(3.0));
        assert_eq!(value("other", ""), Some(0.0));
        assert_eq!(rec.value("corral_task_ended_total", &[]), Some(5.0));
        assert_eq!(
            rec.series()
                .iter()
                .filter(|(n, _)| n == "corral_task_live_tasks")
                .count(),
            4,
            "the third site now has its own series"
        );
        drop((b, c));
        plain.abort();
        eventually("all end", || corral_task::live_count() == 0).await;
        census.sample();
        assert_eq!(rec.value("corral_task_ended_total", &[]), Some(9.0));
    });
}
