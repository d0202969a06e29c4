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
//! whose name contains NAME (to profile one, e.g. `--case mt2`); `--side tokio|corral`
//! runs only that side's rounds, unpaired (to profile one side); `--cpu` times each
//! round by the CPU time of the whole process (`CLOCK_PROCESS_CPUTIME_ID`, Linux/glibc)
//! instead of the wall clock. On a machine shared with other work, a wall-clock round
//! also counts the time its threads waited for a core, which swung per-pair ratios by
//! ±15% at a load average of 9 on 2 vCPUs; CPU time does not count it, and kept the
//! quartiles of `ct` within ±1-2% at the same load. It counts every runtime thread,
//! including a worker spinning while it looks for work, so on `mt2` it measures the
//! work done rather than the latency. Quote wall-clock figures from a quiet machine.

use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

#[path = "support/task.rs"]
mod task;
use task::{ct, mt2, pin_heap, spawn_join_corral, spawn_join_tokio, TASKS};

#[path = "support/paired.rs"]
mod paired;
use paired::{flag, rounds_arg, switch, Pairs, Report, MS};

/// One round: `spawners` tasks each spawning and joining `TASKS / spawners`. With
/// `nested`, corral's spawners are tracked tasks themselves (spawned with
/// `corral_task::spawn`), so every child records its creator (the parent breadcrumb);
/// otherwise they are plain tokio tasks, as a server's accept loop often is.
fn round(rt: &Runtime, spawners: usize, nested: bool, corral: bool, cpu: bool) -> Duration {
    let start = Instant::now();
    let cpu_start = cpu.then(process_cpu_time);
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
    match cpu_start {
        Some(cpu_start) => process_cpu_time().saturating_sub(cpu_start),
        None => start.elapsed(),
    }
}

/// The CPU time the whole process (every thread) has used so far (`--cpu`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable `timespec` owned by this frame; the call writes
    // only through that pointer and keeps no copy of it. The clock exists on every
    // Linux kernel this bench runs on (an error would leave `ts` zeroed).
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Never called: `--cpu` is ignored outside Linux with glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn process_cpu_time() -> Duration {
    Duration::ZERO
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
    // Linux with glibc only (where the bench has `libc`); elsewhere the wall clock.
    let cpu = switch("--cpu") && cfg!(all(target_os = "linux", target_env = "gnu"));
    let side = flag("--side");
    pin_heap();
    let cases: [Case; 4] = [
        ("uncontended/ct", ct, 1, false),
        ("nested/ct", ct, 1, true),
        ("uncontended/mt2", mt2, 1, false),
        ("contention/mt2x2", mt2, 2, false),
    ];
    println!(
        "{rounds} paired rounds of {TASKS} no-op tasks spawned and joined (median [quartiles]){}",
        if cpu {
            ", timed by process CPU time"
        } else {
            ""
        }
    );
    for (name, make, spawners, nested) in cases {
        if !name.contains(only.as_str()) {
            continue;
        }
        let rt = make();
        if let Some(side) = &side {
            // One side's rounds alone (for `perf`): the same rounds, unpaired.
            let corral = side == "corral";
            let mut times: Vec<f64> = (0..rounds)
                .map(|_| MS.per(round(&rt, spawners, nested, corral, cpu), 1))
                .collect();
            times.sort_by(f64::total_cmp);
            println!(
                "{name:<18} {side} alone: median {:.2} ms",
                times[times.len() / 2]
            );
            continue;
        }
        let pairs = Pairs::run(
            5,
            rounds,
            || MS.per(round(&rt, spawners, nested, false, cpu), 1),
            || MS.per(round(&rt, spawners, nested, true, cpu), 1),
        );
        REPORT.print(name, &pairs);
    }
}
