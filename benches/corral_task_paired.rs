//! Tracked spawn next to `tokio::spawn`, in paired rounds: `cargo bench -p
//! corral-benches --bench corral_task_paired`.
//!
//! Same workload as `corral_task.rs` (spawn 100k no-op tasks from one task, then join
//! them all; or two spawners with 50k each), measured differently. On a multi-thread
//! runtime, tokio's own round time is bimodal on a small machine: it depends on
//! whether the second worker joins in, which holds for stretches of rounds. Criterion
//! times each function in its own window, so a ratio of two windows can compare two
//! modes: we saw 0.5x in one run and 2.4x in the next for the same code. Here every
//! round of tokio is followed at once by a round of corral on the same runtime, each
//! pair gives one ratio, and the median of the pairs is reported with its quartiles.
//! Rounds run after a warm-up, with glibc's heap pinned as in `corral_task.rs`.
//!
//! `nested/ct` is `uncontended/ct` with corral's spawner a tracked task itself: each
//! child then also keeps its creator's record (a 16-byte crumb beside its registry
//! entry, the spawner's record made once), the cost of the parent breadcrumb. In the
//! other cases the spawners are plain tokio tasks and the breadcrumb is never touched.
//!
//! Optional arguments: `--rounds N` (default 61); `--case NAME` runs only the cases
//! whose name contains NAME (to profile one, e.g. `--case mt2`).

use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

#[path = "support/task.rs"]
mod task;
use task::{ct, mt2, pin_heap, spawn_join_corral, spawn_join_tokio, TASKS};

#[path = "support/paired.rs"]
mod paired;
use paired::{flag, rounds_arg, Pairs, Report, MS};

/// One round: `spawners` tasks each spawning and joining `TASKS / spawners`. With
/// `nested`, corral's spawners are tracked tasks themselves (spawned with
/// `corral_task::spawn`), so every child records its creator (the parent breadcrumb);
/// otherwise they are plain tokio tasks, as a server's accept loop often is.
fn round(rt: &Runtime, spawners: usize, nested: bool, corral: bool) -> Duration {
    let start = Instant::now();
    rt.block_on(async {
        let each = TASKS / spawners;
        let tasks: Vec<_> = (0..spawners)
            .map(|_| {
                if corral && nested {
                    corral_task::spawn(spawn_join_corral(each))
                } else if corral {
                    tokio::spawn(spawn_join_corral(each))
                } else {
                    tokio::spawn(spawn_join_tokio(each))
                }
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    start.elapsed()
}

/// A case: its name, how to build its runtime, how many spawners share the work, and
/// whether corral's spawners are tracked tasks.
type Case = (&'static str, fn() -> Runtime, usize, bool);

/// The report line of every case.
const REPORT: Report = Report {
    peer: "tokio",
    corral: "corral",
    ratio: "corral/tokio",
    unit: MS,
    width: 18,
};

fn main() {
    let rounds = rounds_arg(61);
    let only = flag("--case").unwrap_or_default();
    pin_heap();
    let cases: [Case; 4] = [
        ("uncontended/ct", ct, 1, false),
        ("nested/ct", ct, 1, true),
        ("uncontended/mt2", mt2, 1, false),
        ("contention/mt2x2", mt2, 2, false),
    ];
    println!(
        "{rounds} paired rounds of {TASKS} no-op tasks spawned and joined (median [quartiles])"
    );
    for (name, make, spawners, nested) in cases {
        if !name.contains(only.as_str()) {
            continue;
        }
        let rt = make();
        let pairs = Pairs::run(
            5,
            rounds,
            || MS.per(round(&rt, spawners, nested, false), 1),
            || MS.per(round(&rt, spawners, nested, true), 1),
        );
        REPORT.print(name, &pairs);
    }
}
