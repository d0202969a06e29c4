//! production_view (issue #15): starts the service in-process on an ephemeral
//! 127.0.0.1 port, scrapes `/metrics` over loopback and finds every corral family with
//! the labels and values the workload must produce, and the leak watch's warning and
//! gauge naming the leaky site and never the healthy one. One test: the Prometheus
//! recorder and the `tracing` subscriber are the process's global ones.

use std::io;
use std::sync::{Arc, Mutex};

use corral_examples::production_view::{
    sample, scrape, start, FILE_READS, JOBS_COMPLETED, LOOKUPS, REQUESTS, WATCH_WINDOW,
};
use corral_test_support::{eventually_async, GIVE_UP};

/// What the `tracing` subscriber writes: the example's log, kept for the test to read.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// The watch's warnings, one line each.
    fn warnings(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(" WARN ") && l.contains("corral_task::watch"))
            .map(str::to_owned)
            .collect()
    }
}

/// The value of label `key` in one Prometheus sample line.
fn label<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("{key}=\""))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len()
        + 2;
    let len = line[start..].find('"').expect("closing quote");
    &line[start..start + len]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_finds_every_family_with_its_labels_and_values() {
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("a corrupt image") {
            eprintln!("{info}");
        }
    }));
    let log = Log::default();
    // Plain text whatever features the build unifies (loom's `ansi`, in a workspace
    // build): the checks below read the fields as `key=value`.
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer({
            let log = log.clone();
            move || log.clone()
        })
        .init();
    let running = start().await.expect("service starts");
    let addr = running.addr;
    let leaky_site = std::sync::Mutex::new(String::new());
    // The census exporter samples every 50 ms: wait for the leak to show in a scrape.
    // The traffic after the workload keeps leaking, so at least every request's.
    eventually_async("the census shows the leaky site", || async {
        let text = scrape(addr).await.expect("scrape");
        let found = text.lines().find(|l| {
            l.starts_with("corral_task_live_tasks{") && l.contains("name=\"session-worker\"")
        });
        if let Some(line) = found {
            *leaky_site.lock().unwrap() = line.to_owned();
        }
        found.is_some_and(|l| {
            l.rsplit_once(' ')
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .is_some_and(|v| v >= REQUESTS as f64)
        })
    })
    .await;
    let text = scrape(addr).await.expect("scrape");
    let get = |name: &str, labels: &[(&str, &str)]| {
        sample(&text, name, labels)
            .unwrap_or_else(|| panic!("{name}{labels:?} missing in:\n{text}"))
    };

    // Semaphore families, per name.
    let db = [("semaphore", "db")];
    assert_eq!(get("corral_semaphore_capacity_permits", &db), 4.0);
    assert_eq!(get("corral_semaphore_available_permits", &db), 4.0);
    assert_eq!(get("corral_semaphore_waiters", &db), 0.0);
    assert_eq!(get("corral_semaphore_acquire_timeouts_total", &db), 1.0);
    assert_eq!(get("corral_semaphore_acquire_too_large_total", &db), 1.0);
    assert_eq!(get("corral_semaphore_acquire_waits_total", &db), 1.0);
    assert_eq!(get("corral_semaphore_acquire_wait_seconds_count", &db), 1.0);
    assert!(text.contains("# TYPE corral_semaphore_acquire_wait_seconds histogram"));
    let legacy = [("semaphore", "legacy")];
    assert_eq!(get("corral_semaphore_acquire_closed_total", &legacy), 1.0);
    assert_eq!(get("corral_semaphore_acquire_closed_total", &db), 0.0);
    assert_eq!(get("corral_semaphore_capacity_permits", &legacy), 1.0);

    // Pool families.
    let images = [("pool", "images")];
    assert_eq!(get("corral_pool_workers", &images), 2.0);
    assert_eq!(get("corral_pool_running_jobs", &images), 0.0);
    assert_eq!(get("corral_pool_queued_jobs", &images), 0.0);
    assert_eq!(
        get("corral_pool_jobs_submitted_total", &images),
        JOBS_COMPLETED as f64 + 1.0
    );
    assert_eq!(
        get("corral_pool_jobs_completed_total", &images),
        JOBS_COMPLETED as f64
    );
    assert_eq!(get("corral_pool_jobs_failed_total", &images), 1.0);
    assert_eq!(get("corral_pool_jobs_rejected_total", &images), 1.0);
    assert_eq!(get("corral_pool_jobs_cancelled_total", &images), 0.0);
    assert_eq!(get("corral_pool_jobs_handed_back_total", &images), 0.0);
    assert_eq!(
        get("corral_pool_queue_wait_seconds_count", &images),
        JOBS_COMPLETED as f64 + 1.0,
        "every job sampled"
    );

    // Task families: the leaky site with its count, the healthy request site ended.
    let leaky = leaky_site.into_inner().unwrap();
    assert!(
        leaky.contains("site=\"examples/src/production_view.rs:"),
        "{leaky}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.contains("name=\"request\"") && !l.ends_with(" 0")),
        "the healthy request tasks all ended:\n{text}"
    );
    let spawned = get("corral_task_spawned_total", &[]);
    let ended = get("corral_task_ended_total", &[]);
    assert!(spawned >= (2 * REQUESTS) as f64, "{spawned}");
    assert!(
        ended >= (REQUESTS - 2) as f64,
        "the request tasks ended: {ended}"
    );
    assert_eq!(
        get("corral_task_live_tasks", &[("site", "other"), ("name", "")]),
        0.0
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("corral_task_untracked_tasks{runtime=\"")),
        "untracked per runtime:\n{text}"
    );
    // Blocking pool and resolver, published on the census tick.
    let fs = [("pool", "fs")];
    assert_eq!(
        get("corral_blocking_jobs_completed_total", &fs),
        FILE_READS as f64
    );
    assert_eq!(get("corral_blocking_running_jobs", &fs), 0.0);
    assert_eq!(get("corral_blocking_queued_jobs", &fs), 0.0);
    assert_eq!(get("corral_blocking_abandoned_running_jobs", &fs), 0.0);
    assert!(get("corral_blocking_threads", &fs) >= 1.0);
    let dns = [("resolver", "dns")];
    assert_eq!(get("corral_resolver_lookups_total", &dns), LOOKUPS as f64);
    assert_eq!(get("corral_resolver_errors_total", &dns), 0.0);
    assert_eq!(get("corral_resolver_timeouts_total", &dns), 0.0);
    // One lookup-time sample per lookup function call.
    assert_eq!(
        get("corral_resolver_lookup_seconds_count", &dns),
        LOOKUPS as f64
    );
    assert!(text.contains("# TYPE corral_resolver_lookup_seconds histogram"));
    assert_eq!(
        get("corral_blocking_jobs_completed_total", &[("pool", "dns")]),
        LOOKUPS as f64
    );

    // The leak watch: its warning and its gauge name the leaky site, never the
    // healthy one (the replies, alive beside it all along). The timeout is a hang
    // guard; the time to flag is the example's to print, not the test's to judge.
    tokio::time::timeout(GIVE_UP, running.flagged())
        .await
        .expect("the watch flags within the hang guard")
        .expect("the watch runs");
    let leaky_site = label(&leaky, "site");
    // "Never": the healthy site has had a whole window more of samples to be
    // flagged in (its history starts a sample or two after the leak's).
    let flagged_at = running.watch_samples();
    eventually_async("the watch samples another window", || async {
        running.watch_samples() > flagged_at + WATCH_WINDOW as u64 + 1
    })
    .await;
    let flags = running.flags();
    assert!(
        flags.iter().any(|f| f.location().to_string() == leaky_site),
        "{flags:?}"
    );
    let text = scrape(addr).await.expect("scrape");
    let healthy = text
        .lines()
        .find(|l| l.starts_with("corral_task_live_tasks{") && l.contains("name=\"reply\""))
        .unwrap_or_else(|| panic!("the healthy site is in the census:\n{text}"));
    let healthy_site = label(healthy, "site");
    assert!(healthy_site.starts_with("examples/src/production_view.rs:"));
    let labels = [("site", leaky_site), ("name", "session-worker")];
    assert_eq!(
        sample(&text, "corral_task_suspected_leaks", &labels),
        Some(1.0),
        "{text}"
    );
    let suspected: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("corral_task_suspected_leaks{"))
        .collect();
    assert!(
        suspected.iter().all(|l| label(l, "site") == leaky_site),
        "only the leaky site is suspected: {suspected:?}"
    );
    let warnings = log.warnings();
    assert!(!warnings.is_empty(), "the watch warned");
    for w in &warnings {
        assert!(
            w.contains(&format!("site={leaky_site} ")) && w.contains("name=\"session-worker\""),
            "{w}"
        );
        for field in ["count=", "growth=", "oldest_secs="] {
            assert!(w.contains(field), "{field} in {w}");
        }
        assert!(
            !w.contains(healthy_site) && !w.contains("\"reply\""),
            "the healthy site is never flagged: {w}"
        );
    }
    running.stop();
}
