//! proxy_cancel: clients leave mid-request; does the upstream work stop?
//!
//! A loopback TCP proxy answers each client request by fanning out to three calls to a
//! slow upstream (2 s per answer). Every client hangs up 100 ms after asking. The
//! proxy's handler notices (its read returns EOF) and returns, dropping its work:
//!
//! - plain tokio: the upstream calls were `tokio::spawn`ed; dropping their `JoinHandle`s
//!   detaches them, so they run on for the rest of the 2 s, holding sockets, for a client
//!   that is gone. Under load they pile up.
//! - corral: the calls are children of a `corral::scope::scope`; dropping the scope
//!   aborts them at once.
//!
//! The workload lives in `src/shapes/cancel.rs`, shared with the tour.
//!
//! `cargo run --release -p corral-examples --example proxy_cancel`

use corral_examples::shapes::cancel::{self, Load, CLIENT_PATIENCE, FAN_OUT, GRACE};
use corral_examples::shapes::Side;

fn main() {
    let load = Load::new(false);
    println!(
        "{} clients each ask once and hang up after {CLIENT_PATIENCE:?}; each request \
         fans out to {FAN_OUT} upstream calls that take {:?}.\n",
        load.clients, load.upstream_delay
    );
    println!(
        "{:<22} {:>16} {:>24} {:>22} {:>18}",
        "proxy",
        "peak live tasks",
        "live after clients left",
        "answers for nobody",
        "tasks drained in"
    );
    for (side, label) in [
        (Side::Tokio, "tokio::spawn"),
        (Side::Corral, "corral::scope::scope"),
    ] {
        let r = cancel::run(side, load);
        println!(
            "{label:<22} {:>16} {:>24} {:>22} {:>15} ms",
            r.cell.peak_tasks.unwrap_or(0),
            r.cell.left_alive.unwrap_or(0),
            r.fetched_for_nobody,
            r.drained_after.as_millis()
        );
    }
    println!(
        "\n(live tasks counted {} ms after the last client left.) With tokio::spawn the \
         upstream calls outlive their clients and finish work nobody reads; in a scope they \
         are aborted when the handler drops its work.",
        GRACE.as_millis()
    );
}
