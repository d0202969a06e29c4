//! The brownout run: every system through the same simulated downstream brownout,
//! deterministic under `tokio::time::pause`. `cargo run --release --example brownout`
//! (`--quick` for a tenth of the load, `--detail` for per-second tables).

use corral_examples::shapes::overload::{per_second, run, summary, System, FULL, QUICK};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scale = if args.iter().any(|a| a == "--quick") {
        QUICK
    } else {
        FULL
    };
    let reports: Vec<_> = System::ALL.iter().map(|&s| run(s, scale)).collect();
    println!(
        "brownout: C {} -> {} at t = {} s -> {} at t = {} s; offered {} req/s; SLO 100 ms\n",
        scale.high,
        scale.low,
        scale.secs / 3,
        scale.high,
        2 * scale.secs / 3,
        scale.per_ms * 1000
    );
    println!("{}", summary(&reports, scale));
    if args.iter().any(|a| a == "--detail") {
        for r in &reports {
            println!("{}", per_second(r));
        }
    }
}
