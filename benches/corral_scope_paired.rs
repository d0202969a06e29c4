//! corral-scope next to `JoinSet` and `TaskTracker` + `CancellationToken`, in paired
//! rounds: `cargo bench -p corral-benches --bench corral_scope_paired`.
//!
//! Same workloads as `corral_scope.rs` (one owner spawns 100k no-op children and joins
//! them; or 4 spawners with 25k each; or through a limit of 64), measured the way
//! `corral_task_paired.rs` measures tracked spawn: on a 2-worker runtime, round times
//! are bimodal (whether the second worker joins in holds for stretches of rounds), so
//! criterion's separate windows can compare two modes. Here each round of the peer is
//! followed at once by a round of the scope on the same runtime, each pair gives one
//! ratio, and the median of the pairs is reported with its quartiles.
//!
//! Each set runs on a 2-worker runtime (`mt2`) and on a current-thread one (`ct`).
//!
//! Optional arguments: `--rounds N` (default 41); `--flavor mt2|ct` runs only that
//! runtime; `--only TEXT` runs only the cases whose name contains `TEXT` (e.g.
//! `--only uncontended` for the two unlimited single-spawner peers and the tracked one);
//! `--solo peer|scope` times only that side (for profiling one side's rounds).
//!
//! Three lines are diagnostics (BENCHMARKS.md, "Session 6: mt2"): `kept handles:
//! JoinSet` is the scope keeping every child's handle until it is over, as a `JoinSet`
//! keeps its tasks' (so the owner's thread, not the worker that ran a child, frees its
//! task); `scope: handles dropped/kept` pairs the scope against that same scope; and
//! `registry: tracker + token, tracked/not` pairs the tracker + token without and with
//! every task in corral-task's registry, the part of a scope child's cost that lives in
//! corral-task.

use std::future::Future;
use std::time::Instant;

use tokio::runtime::Runtime;

#[path = "support/scope.rs"]
mod scope;
#[path = "support/task.rs"]
#[allow(dead_code)]
mod task;

use scope::{CHILDREN, LIMIT};

#[path = "support/paired.rs"]
mod paired;
use paired::{flag, rounds_arg, Pairs, Report, MS};

fn time<F: Future>(rt: &Runtime, fut: F) -> f64 {
    let start = Instant::now();
    rt.block_on(fut);
    MS.per(start.elapsed(), 1)
}

/// The report line of every case.
const REPORT: Report = Report {
    peer: "peer",
    corral: "scope",
    ratio: "scope/peer",
    unit: MS,
    width: 39,
};

/// The report line of the registry's own cost: the tracker + token with and without
/// every task in corral-task's registry (what a scope child pays that the tracker's
/// task does not).
const REGISTRY: Report = Report {
    peer: "plain",
    corral: "tracked",
    ratio: "tracked/plain",
    unit: MS,
    width: 39,
};

/// The report line of where a child's task is freed: the scope with the children's
/// handles dropped at once (the benchmark's workload) and kept until the scope is over
/// (as a `JoinSet` keeps them), so the owner's thread frees every task cell instead of
/// the worker that ran the child.
const KEPT: Report = Report {
    peer: "dropped",
    corral: "kept",
    ratio: "kept/dropped",
    unit: MS,
    width: 39,
};

/// Runs `rounds` pairs (peer, then scope) after a warm-up and prints the medians.
fn pair<P, PF, C, CF>(rt: &Runtime, name: &str, rounds: usize, peer: P, corral: C)
where
    P: Fn() -> PF,
    PF: Future<Output = ()>,
    C: Fn() -> CF,
    CF: Future<Output = ()>,
{
    pair_as(&REPORT, rt, name, rounds, peer, corral);
}

/// [`pair`], reported with `report`'s labels.
fn pair_as<P, PF, C, CF>(
    report: &Report,
    rt: &Runtime,
    name: &str,
    rounds: usize,
    peer: P,
    corral: C,
) where
    P: Fn() -> PF,
    PF: Future<Output = ()>,
    C: Fn() -> CF,
    CF: Future<Output = ()>,
{
    if flag("--only").is_some_and(|only| !name.contains(only.as_str())) {
        return;
    }
    // `--solo peer|scope`: time one side only (its ratio is then meaningless), e.g. to
    // profile one side's rounds.
    let solo = flag("--solo");
    let run_peer = solo.as_deref() != Some("scope");
    let run_scope = solo.as_deref() != Some("peer");
    let pairs = Pairs::run(
        3,
        rounds,
        || if run_peer { time(rt, peer()) } else { 1.0 },
        || if run_scope { time(rt, corral()) } else { 1.0 },
    );
    report.print(name, &pairs);
}

/// A runtime flavor: its name and how to build it.
type Flavor = (&'static str, fn() -> Runtime);

fn main() {
    let rounds = rounds_arg(41);
    task::pin_heap();
    let limited = corral_scope::ScopeConfig::builder()
        .limit(LIMIT as u64)
        .build()
        .expect("valid config");
    let runtimes: [Flavor; 2] = [
        ("mt2", || corral_test_support::multi_thread(2)),
        // One thread: no second worker to join in or not, so the ratio is the per-child
        // cost alone, and steadier on a loaded machine.
        ("ct", || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build runtime")
        }),
    ];
    let only_flavor = flag("--flavor");
    for (flavor, make) in runtimes {
        if only_flavor.as_deref().is_some_and(|f| f != flavor) {
            continue;
        }
        let rt = make();
        println!(
            "{rounds} paired rounds of {CHILDREN} no-op children, {flavor} (median [quartiles])"
        );
        pair(
            &rt,
            "uncontended: JoinSet",
            rounds,
            || scope::joinset(CHILDREN),
            || scope::corral_scope(CHILDREN),
        );
        pair(
            &rt,
            "uncontended: TaskTracker + token",
            rounds,
            || scope::tracker_token(CHILDREN),
            || scope::corral_scope(CHILDREN),
        );
        pair(
            &rt,
            "uncontended: tracker + token, tracked",
            rounds,
            || scope::tracker_token_tracked(CHILDREN),
            || scope::corral_scope(CHILDREN),
        );
        pair(
            &rt,
            "kept handles: JoinSet",
            rounds,
            || scope::joinset(CHILDREN),
            || scope::corral_scope_kept_handles(CHILDREN),
        );
        pair_as(
            &KEPT,
            &rt,
            "scope: handles dropped/kept",
            rounds,
            || scope::corral_scope(CHILDREN),
            || scope::corral_scope_kept_handles(CHILDREN),
        );
        pair_as(
            &REGISTRY,
            &rt,
            "registry: tracker + token, tracked/not",
            rounds,
            || scope::tracker_token(CHILDREN),
            || scope::tracker_token_tracked(CHILDREN),
        );
        pair(
            &rt,
            "contention: tracker + token, 4 spawners",
            rounds,
            || scope::tracker_token_fan(CHILDREN),
            || scope::corral_scope_fan(CHILDREN),
        );
        pair(
            &rt,
            "limited: JoinSet + Semaphore(64)",
            rounds,
            || scope::joinset_limited(CHILDREN),
            || scope::corral_scope_limited(&limited, CHILDREN),
        );
    }
}
