//! leaked_worker: a per-request worker parked on a channel nobody closes.
//!
//! The failure shape: each request spawns a worker that serves the request's stream of
//! follow-up messages and exits when its channel closes. A bug keeps every request's
//! sender in a session table that is never pruned, so no channel ever closes and every
//! worker lives forever. Nothing errors; memory and the task count just climb.
//!
//! With plain tokio all you can see is the runtime's alive-task count going up. With
//! corral the same code, spawned through `corral::spawn`, shows in the census with its
//! spawn site, count and oldest age, and a leak-checked test of one request fails
//! naming that site. The workload lives in `src/shapes/leak.rs`, shared with the tour.
//!
//! Run: `cargo run --release -p corral-examples --example leaked_worker`

use corral_examples::shapes::leak::{self, requests};
use corral_examples::shapes::Side;

fn main() {
    let requests = requests(false);
    println!("{requests} requests, each spawning a worker on a channel nobody closes\n");

    println!("plain tokio::spawn:");
    let plain = leak::run(Side::Tokio, requests, |done, alive| {
        println!(
            "  after {done:>6} requests: {alive:>6} alive tasks (which? spawned where? no way to tell)"
        );
    });

    println!("\ncorral::spawn (census of live tracked tasks):");
    let tracked = leak::run(Side::Corral, requests, |done, _| {
        println!("  after {done:>6} requests:");
        for line in corral::task::snapshot().census().to_string().lines() {
            println!("    {line}");
        }
    });
    let guard = tracked.guard.expect("the corral side runs the guard");
    println!("\na leak-checked test of one request (LeakGuard / #[corral::test]):");
    for line in guard.to_string().lines() {
        println!("    {line}");
    }

    println!("\nsummary ({requests} requests):");
    println!(
        "  plain tokio: peak {} alive tasks; the leak shows only as a count",
        plain.cell.peak_tasks.unwrap_or(0)
    );
    println!(
        "  corral:      peak {} live tasks, all at 1 spawn site the census names; the guard fails the test ({} leaked)",
        tracked.cell.peak_tasks.unwrap_or(0),
        guard.leaked().len()
    );
}
