//! production_view (issue #15): starts the service in-process on an ephemeral
//! 127.0.0.1 port, scrapes `/metrics` over loopback and finds every corral family with
//! the labels and values the workload must produce. One test: the Prometheus recorder
//! is the process's global one.

use corral_examples::production_view::{
    sample, scrape, start, FILE_READS, JOBS_COMPLETED, LOOKUPS, REQUESTS,
};
use corral_test_support::eventually_async;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_finds_every_family_with_its_labels_and_values() {
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("a corrupt image") {
            eprintln!("{info}");
        }
    }));
    let running = start().await.expect("service starts");
    let addr = running.addr;
    let leaky_site = std::sync::Mutex::new(String::new());
    // The census exporter samples every 50 ms: wait for the leak to show in a scrape.
    eventually_async("the census shows the leaky site", || async {
        let text = scrape(addr).await.expect("scrape");
        let found = text.lines().find(|l| {
            l.starts_with("corral_task_live_tasks{") && l.contains("name=\"session-worker\"")
        });
        if let Some(line) = found {
            *leaky_site.lock().unwrap() = line.to_owned();
        }
        found.is_some_and(|l| l.ends_with(&format!(" {REQUESTS}")))
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
    running.stop();
}
