//! production_view: corral's bounds as Prometheus metrics (issue #15).
//!
//! Runs a small service (a `db` semaphore, an `images` pool, a healthy request task
//! and a leaky per-request session worker per request), then serves the Prometheus
//! text on 127.0.0.1 and prints where; the census exporter keeps sampling. It prints
//! the corral families once and exits after a few seconds (`--serve` keeps serving).
//! The workload is `src/production_view.rs`, which the test scrapes in-process.
//!
//! Run: `cargo run -p corral-examples --example production_view [-- --serve]`

use std::time::Duration;

use corral_examples::production_view::{scrape, start, CENSUS_INTERVAL};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let serve = std::env::args().any(|a| a == "--serve");
    // One job panics on purpose (`corral_pool_jobs_failed_total`); keep it quiet.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("a corrupt image") {
            default(info);
        }
    }));
    let running = start().await?;
    println!("metrics at http://{}/metrics\n", running.addr);
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
