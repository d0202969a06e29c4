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
use task::{pin_heap, spawn_join_corral, spawn_join_tokio, TASKS};

#[path = "support/paired.rs"]
mod paired;
use paired::quartiles;

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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A case: its name, how to build its runtime, how many spawners share the work, and
/// whether corral's spawners are tracked tasks.
type Case = (&'static str, fn() -> Runtime, usize, bool);

fn main() {
    let mut rounds = 61;
    let mut only = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--rounds" {
            rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(rounds);
        } else if arg == "--case" {
            only = args.next().unwrap_or_default();
        }
        // Anything else (cargo bench passes `--bench`) is ignored.
    }
    pin_heap();
    let cases: [Case; 4] = [
        (
            "uncontended/ct",
            || {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
            },
            1,
            false,
        ),
        (
            "nested/ct",
            || {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
            },
            1,
            true,
        ),
        (
            "uncontended/mt2",
            || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()
                    .unwrap()
            },
            1,
            false,
        ),
        (
            "contention/mt2x2",
            || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()
                    .unwrap()
            },
            2,
            false,
        ),
    ];
    println!(
        "{rounds} paired rounds of {TASKS} no-op tasks spawned and joined (median [quartiles])"
    );
    for (name, make, spawners, nested) in cases {
        if !name.contains(only.as_str()) {
            continue;
        }
        let rt = make();
        for _ in 0..5 {
            round(&rt, spawners, nested, false);
            round(&rt, spawners, nested, true);
        }
        let (mut tokio, mut corral, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = ms(round(&rt, spawners, nested, false));
            let c = ms(round(&rt, spawners, nested, true));
            tokio.push(t);
            corral.push(c);
            ratio.push(c / t);
        }
        let (t25, t50, t75) = quartiles(tokio);
        let (c25, c50, c75) = quartiles(corral);
        let (r25, r50, r75) = quartiles(ratio);
        println!(
            "{name:<18} tokio {t50:6.2} ms [{t25:.2}-{t75:.2}]  corral {c50:6.2} ms [{c25:.2}-{c75:.2}]  corral/tokio {r50:.3}x [{r25:.3}-{r75:.3}]"
        );
    }
}
