//! The `metrics` feature: the leak watch's `corral_task_suspected_leaks` gauge, one
//! series per flagged site, read back through a recorder. Paused time; the recorder is
//! installed on the test's thread, where the current-thread runtime polls the watch.
#![cfg(feature = "metrics")]

mod support;

use std::future::Future;
use std::time::Duration;

use corral_task::{Builder, WatchConfig};
use corral_test_support::TestRecorder;
use support::leak_until_flagged;

const GAUGE: &str = "corral_task_suspected_leaks";

/// Runs `test` on a paused current-thread runtime, with a fresh recorder installed on
/// this thread (where the runtime polls the watch) and the default settings watching
/// this runtime only.
fn run<F: Future<Output = ()>>(test: impl FnOnce(TestRecorder, WatchConfig) -> F) {
    let rec = TestRecorder::new();
    let _installed = rec.install();
    let config = WatchConfig::builder().runtime_only(true).build().unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(test(rec.clone(), config));
}

/// The series of `GAUGE` registered so far, with their values.
fn suspected_series(rec: &TestRecorder) -> Vec<(Vec<(String, String)>, f64)> {
    rec.series()
        .into_iter()
        .filter(|(name, _)| name == GAUGE)
        .map(|(_, labels)| {
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let value = rec.value(GAUGE, &pairs).unwrap();
            (labels, value)
        })
        .collect()
}

#[test]
fn a_flagged_site_is_a_series_at_one_until_its_flag_clears() {
    run(|rec, config| async move {
        let watch = corral_task::watch(config);
        // A healthy site beside the leak: a request every 20 ms that lives 1 s.
        let healthy = Builder::new().name("driver").spawn(async {
            loop {
                Builder::new()
                    .name("request")
                    .spawn(tokio::time::sleep(Duration::from_secs(1)));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let leak = leak_until_flagged(&watch, "parked", Duration::from_secs(300)).await;
        let flag = watch.flags().remove(0);
        let site = flag.location().to_string();
        assert_eq!(flag.name(), Some("parked"));
        let series = suspected_series(&rec);
        assert_eq!(
            series,
            vec![(
                vec![
                    ("name".to_owned(), "parked".to_owned()),
                    ("site".to_owned(), site.clone()),
                ],
                1.0
            )],
            "one series, the leaky site's, at 1"
        );
        assert_eq!(watch.suspected(), 1);

        // The fix: the workers end, the flag clears, the series goes back to 0.
        drop(leak);
        tokio::time::sleep(corral_task::DEFAULT_INTERVAL * 2).await;
        assert_eq!(watch.suspected(), 0);
        let labels = [("site", site.as_str()), ("name", "parked")];
        assert_eq!(rec.value(GAUGE, &labels), Some(0.0));

        // Leaking again raises the same series; stopping the watch lowers it.
        let leak = leak_until_flagged(&watch, "parked", Duration::from_secs(300)).await;
        assert_eq!(rec.value(GAUGE, &labels), Some(1.0));
        drop(watch);
        tokio::task::yield_now().await;
        assert_eq!(
            rec.value(GAUGE, &labels),
            Some(0.0),
            "a stopped watch suspects nothing"
        );
        assert_eq!(suspected_series(&rec).len(), 1, "never the healthy site");
        healthy.abort();
        drop(leak);
    });
}

/// Two watches that flag the same site add up, and each takes back only its own.
#[test]
fn two_watches_add_up() {
    run(|rec, config| async move {
        let first = corral_task::watch(config.clone());
        let second = corral_task::watch(config);
        let leak = leak_until_flagged(&first, "parked", Duration::from_secs(300)).await;
        // Both sample on the same ticks: the second flags in the same sample.
        tokio::task::yield_now().await;
        assert_eq!(second.suspected(), 1);
        let site = first.flags()[0].location().to_string();
        let labels = [("site", site.as_str()), ("name", "parked")];
        assert_eq!(rec.value(GAUGE, &labels), Some(2.0));
        drop(first);
        tokio::task::yield_now().await;
        assert_eq!(rec.value(GAUGE, &labels), Some(1.0));
        drop(second);
        tokio::task::yield_now().await;
        assert_eq!(rec.value(GAUGE, &labels), Some(0.0));
        drop(leak);
    });
}
