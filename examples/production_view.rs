//! production_view: corral's bounds as Prometheus metrics (issue #15).
//!
//! Runs a small service (a `db` semaphore, an `images` pool, a healthy request task
//! and a leaky per-request session worker per request), then serves the Prometheus
//! text on 127.0.0.1 and prints where; the census exporter keeps sampling. Traffic
//! keeps coming while the leak watch samples the census: its warning (logged through
//! `tracing-subscriber`) names the session workers' site, and the example prints how
//! long it took to flag. It prints the corral families once, the
//! `corral_task_suspected_leaks` gauge among them, and exits after a few seconds
//! (`--serve` keeps serving). The workload is `src/production_view.rs`, which the
//! test scrapes in-process; its docs say why the watch runs with a half-second window
//! here.
//!
//! Run: `cargo run -p corral-examples --example production_view [-- --serve]`

use std::time::Duration;

use corral_examples::production_view::{
    scrape, start, CENSUS_INTERVAL, WATCH_INTERVAL, WATCH_WINDOW,
};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let serve = std::env::args().any(|a| a == "--serve");
    // The leak watch's warning, as a service logs it.
    tracing_subscriber::fmt().init();
    // One job panics on purpose (`corral_pool_jobs_failed_total`); keep it quiet.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("a corrupt image") {
            default(info);
        }
    }));
    let running = start().await?;
    println!("metrics at http://{}/metrics\n", running.addr);
    let window = WATCH_INTERVAL * WATCH_WINDOW as u32;
    match tokio::time::timeout(Duration::from_secs(20), running.flagged()).await {
        Ok(Some(after)) => println!(
            "\nthe leak watch flagged {} after {} ms of traffic (window {} ms)\n",
            running
                .flags()
                .first()
                .map_or_else(|| "a site".into(), |f| f.location().to_string()),
            after.as_millis(),
            window.as_millis()
        ),
        _ => println!("\nthe leak watch flagged nothing within 20 s\n"),
    }
    tokio::time::sleep(CENSUS_INTERVAL * 3).await;
    let text = scrape(running.addr).await?;
    for line in text.lines().filter(|l| l.starts_with("corral_")) {
        if !line.contains("_bucket{") {
            println!("{line}");
        }
    }
    if serve {
        println!("\nserving until interrupted");
        tokio::signal::ctrl_c().await?;
    } else {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    running.stop();
    Ok(())
}
