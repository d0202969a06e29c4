//! dns_storm: 5,000 concurrent lookups of 50 names against a DNS server that answers
//! in 200 ms, with plain tokio and with corral, side by side.
//!
//! Plain tokio: `tokio::net::lookup_host` runs `getaddrinfo` through `spawn_blocking`,
//! one blocking-pool thread per lookup, up to tokio's 512. So a slow DNS server turns a
//! burst of lookups into hundreds of OS threads, each lookup waiting its own 200 ms.
//! corral: a `Resolver` on a 32-thread pool coalesces identical lookups, so 50 distinct
//! names cost ceil(50 / 32) x 200 ms, on at most 32 threads.
//!
//! Pointing libc's `getaddrinfo` at a local server needs root (a private
//! `/etc/resolv.conf`), so both sides inject the same blocking lookup function: it sends
//! a real DNS query over UDP to a slow server on 127.0.0.1 and blocks its thread until
//! the answer comes, exactly as `getaddrinfo` would. The workload lives in
//! `src/shapes/dns.rs`, shared with the tour.
//!
//! A second part runs 5,000 blocking calls of 100 ms on a pool capped at 64 threads and
//! compares the total with the ideal 5000 / 64 x 100 ms.
//!
//! Run: `cargo run --release -p corral-examples --example dns_storm [-- tokio|corral|cap]`
//! (no argument runs everything; each storm side runs in a fresh child process of this
//! binary, so neither inherits the other's heap or threads).

use corral_examples::mib;
use corral_examples::shapes::dns::{self, Storm};
use corral_examples::shapes::{Cell, Side};

/// What a child reports: the cell, and the RSS it started from.
struct SideReport {
    cell: Cell,
    rss_before: u64,
}

impl SideReport {
    /// Peak resident memory above what the process held when the side started: the
    /// storm's own cost, without the binary's fixed baseline.
    fn rss_growth(&self) -> u64 {
        self.cell
            .peak_rss
            .unwrap_or(0)
            .saturating_sub(self.rss_before)
    }
}

/// Runs one side in a fresh process (`<this binary> <side> --child`).
fn run_isolated(side: Side) -> SideReport {
    let exe = std::env::current_exe().expect("current exe");
    let out = std::process::Command::new(exe)
        .args([side.as_str(), "--child"])
        .output()
        .expect("run child");
    assert!(
        out.status.success(),
        "{} side failed: {out:?}",
        side.as_str()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let cell = stdout
        .lines()
        .find_map(Cell::parse_line)
        .expect("child cell");
    let rss_before = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RSS_BEFORE ")?.parse().ok())
        .expect("child rss");
    SideReport { cell, rss_before }
}

fn print_side(label: &str, r: &SideReport) {
    let c = &r.cell;
    println!(
        "{label:<26} {:>6.2} s {:>8} {:>10} {:>10}  {}",
        c.wall.unwrap_or_default().as_secs_f64(),
        c.peak_threads.unwrap_or(0),
        mib(c.peak_rss.unwrap_or(0)),
        mib(r.rss_growth()),
        c.outcome,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let storm = Storm::new(false);
    // A child runs one side and reports to its parent.
    if args.get(1).map(String::as_str) == Some("--child") {
        let side = Side::parse(&args[0]).expect("tokio or corral");
        let report = dns::run(side, storm);
        println!("RSS_BEFORE {}", report.rss_before);
        println!("{}", report.cell.to_line());
        return;
    }
    let what = args.first().map(String::as_str).unwrap_or("all");
    if matches!(what, "all" | "tokio" | "corral") {
        println!(
            "dns_storm: {} lookups of {} names against a DNS server on 127.0.0.1 that \
             answers after {:?}; each side in a fresh process",
            storm.lookups, storm.names, storm.delay
        );
        println!(
            "note: the slow resolver is injected (a blocking UDP DNS client), since pointing \
             getaddrinfo at a local server needs root; both sides use the same function"
        );
        println!(
            "{:<26} {:>8} {:>8} {:>10} {:>10}  answers",
            "", "wall", "threads", "peak RSS", "RSS growth"
        );
        let tokio = matches!(what, "all" | "tokio").then(|| run_isolated(Side::Tokio));
        if let Some(r) = &tokio {
            print_side("tokio spawn_blocking", r);
        }
        let corral = matches!(what, "all" | "corral").then(|| run_isolated(Side::Corral));
        if let Some(r) = &corral {
            print_side(&format!("corral Resolver (cap {})", storm.cap), r);
        }
        if let (Some(c), Some(t)) = (corral, tokio) {
            let ratio = |a: Option<f64>, b: Option<f64>| a.unwrap_or(0.0) / b.unwrap_or(1.0);
            println!(
                "corral/tokio: wall {:.2}x, threads {:.2}x, peak RSS {:.2}x, RSS growth {:.2}x \
                 (threads include {} runtime workers, main, the endpoint probe and the DNS server's 2)",
                ratio(c.cell.wall.map(|d| d.as_secs_f64()), t.cell.wall.map(|d| d.as_secs_f64())),
                ratio(c.cell.peak_threads.map(|v| v as f64), t.cell.peak_threads.map(|v| v as f64)),
                ratio(c.cell.peak_rss.map(|v| v as f64), t.cell.peak_rss.map(|v| v as f64)),
                c.rss_growth() as f64 / t.rss_growth().max(1) as f64,
                corral_examples::shapes::RUNTIME_WORKERS,
            );
        }
    }
    if matches!(what, "all" | "cap") {
        let r = dns::run_cap(5_000, std::time::Duration::from_millis(100), 64);
        println!(
            "5000 blocking calls of 100 ms, cap 64: {:.2} s vs ideal {:.2} s ({:+.1}%), \
             {} threads at most",
            r.wall.as_secs_f64(),
            r.ideal.as_secs_f64(),
            (r.wall.as_secs_f64() / r.ideal.as_secs_f64() - 1.0) * 100.0,
            r.threads_high_water,
        );
    }
}
