//! The per-poll cost of a tracked task's span (corral-task feature `tracing`), in
//! paired rounds: `cargo bench -p corral-benches --features tracing --bench
//! corral_task_span_paired`.
//!
//! One round: a tracked task polled `POLLS` times (it yields between polls) on a
//! current-thread runtime, joined. The bare round spawns it with
//! `Builder::span(false)`, the spanned round with `Builder::span(true)`; each pair
//! gives the difference per poll, reported as the median with quartiles. Two
//! subscribers: none (the span is disabled: what a service without a subscriber
//! pays) and one that enables every span and does nothing with it (the floor of
//! what any recording subscriber adds; a real one adds its own work on top).
//!
//! Optional arguments: `--rounds N` (default 41).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use corral_task::Builder;
use tokio::runtime::Runtime;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[path = "support/paired.rs"]
mod paired;
use paired::quartiles;

const POLLS: u32 = 100_000;

/// Enables everything, records nothing.
struct Enabled(AtomicU64);

impl Subscriber for Enabled {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn round(rt: &Runtime, span: bool) -> Duration {
    let start = Instant::now();
    rt.block_on(async {
        Builder::new()
            .name("polled")
            .span(span)
            .spawn(async {
                for _ in 0..POLLS {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .unwrap();
    });
    start.elapsed()
}

fn main() {
    let mut rounds = 41;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--rounds" {
            rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(rounds);
        }
        // Anything else (cargo bench passes `--bench`) is ignored.
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    println!(
        "{rounds} paired rounds of one tracked task polled {POLLS} times (median [quartiles])"
    );
    for subscriber in ["none", "enabled"] {
        let _guard = (subscriber == "enabled")
            .then(|| tracing::subscriber::set_default(Enabled(AtomicU64::new(0))));
        for _ in 0..3 {
            round(&rt, false);
            round(&rt, true);
        }
        let (mut bare, mut spanned, mut delta) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let b = round(&rt, false).as_secs_f64() * 1e9 / f64::from(POLLS);
            let s = round(&rt, true).as_secs_f64() * 1e9 / f64::from(POLLS);
            bare.push(b);
            spanned.push(s);
            delta.push(s - b);
        }
        let (b25, b50, b75) = quartiles(bare);
        let (s25, s50, s75) = quartiles(spanned);
        let (d25, d50, d75) = quartiles(delta);
        println!(
            "subscriber {subscriber:<8} bare {b50:6.1} ns/poll [{b25:.1}-{b75:.1}]  spanned {s50:6.1} ns/poll [{s25:.1}-{s75:.1}]  span cost {d50:+.1} ns/poll [{d25:+.1} to {d75:+.1}]"
        );
    }
}
