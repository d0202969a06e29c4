//! The brownout run: every system through the same simulated downstream brownouts,
//! deterministic under `tokio::time::pause`. `cargo run --release --example brownout`
//! (`--quick` for a fifth to a tenth of the load over 15 s, `--detail` for per-second
//! tables).
//!
//! Two workloads: the (`C` 200 -> 50, where a fixed limit of 200 is 80 ms,
//! inside the 100 ms SLO, so no adaptive limit can beat it) and a deep brownout
//! (`C` 200 -> 25, where the same fixed limit is 160 ms and answers nothing in time).

use corral_examples::shapes::overload::{per_second, run_all, summary, System, SLO, WORKLOADS};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    for workload in &WORKLOADS {
        let scale = workload.scale(quick);
        let reports = run_all(&System::ALL, scale);
        println!(
            "brownout {}: C {} -> {} at t = {} s -> {} at t = {} s; offered {} req/s; SLO {} ms\n",
            workload.name,
            scale.high,
            scale.low,
            scale.secs / 3,
            scale.high,
            2 * scale.secs / 3,
            scale.per_ms * 1000,
            SLO.as_millis()
        );
        println!("{}", summary(&reports, scale));
        if args.iter().any(|a| a == "--detail") {
            for r in &reports {
                println!("{}", per_second(r));
            }
        }
    }
}
