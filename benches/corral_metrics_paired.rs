//! The `metrics` feature's cost (issue #15), in paired rounds (as `corral_task_paired`):
//! with the feature on and a Prometheus recorder installed as the global recorder, each
//! case runs the same workload in three arms, in rotating order: without reporting (an
//! unnamed semaphore or pool, no census exporter), a control (another unnamed one, with
//! `export_metrics` ticking every second) and with reporting (a named one,
//! `Semaphore::with_name` / `Builder::name`, with the exporter). It prints the median of
//! the per-pair ratios reporting / not and reporting / control; the second is the
//! metrics' own cost. The contended semaphore and the pool are built afresh for every
//! round (outside the timed part), since one long-lived object's placement moved a
//! process's figure by 10-15% on the 2-vCPU VM.
//!
//! Without the feature there is nothing to measure in this binary: the metric fields
//! and calls are compiled out (see each crate's `metrics` module); compare the
//! `corral_semaphore`/`corral_pool_paired`/`corral_task_paired` benches built with and
//! without `--features metrics` for that.
//!
//! Run: `cargo bench -p corral-benches --features metrics --bench corral_metrics_paired -- --rounds 21`

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_pool::{Builder, Pool, DEFAULT_QUEUE_WAIT_SAMPLING};
use corral_semaphore::Semaphore;
use tokio::runtime::Runtime;

#[path = "support/pool.rs"]
#[allow(dead_code)] // shared with the pool benches; this one uses part of it
mod pool_support;
use pool_support::{corral_pool, corral_round, QUEUE, WORKERS};

#[path = "support/task.rs"]
#[allow(dead_code)] // shared with the task benches; this one uses part of it
mod task_support;
use task_support::{spawn_join_corral, TASKS};

#[path = "support/paired.rs"]
mod paired;
use paired::quartiles;

const ACQUIRES: u64 = 200_000;
const CONTENDED_TASKS: u64 = 8;
const CONTENDED_EACH: u64 = 5_000;

fn timed<Fut: Future<Output = ()>>(rt: &Runtime, round: Fut) -> Duration {
    let start = Instant::now();
    rt.block_on(round);
    start.elapsed()
}

/// Acquire and release one permit `ACQUIRES` times on one task (the fast path).
async fn uncontended(sem: &Semaphore) {
    for _ in 0..ACQUIRES {
        drop(std::hint::black_box(sem.acquire(1).await.expect("open")));
    }
}

/// `CONTENDED_TASKS` tasks share 2 permits, holding each across a yield: most
/// acquires queue (the waiters gauge, the waits counter and the sampled wait histogram
/// are exercised).
async fn contended(sem: &Arc<Semaphore>) {
    let tasks: Vec<_> = (0..CONTENDED_TASKS)
        .map(|_| {
            let sem = Arc::clone(sem);
            tokio::spawn(async move {
                for _ in 0..CONTENDED_EACH {
                    let p = sem.acquire(1).await.expect("open");
                    tokio::task::yield_now().await;
                    drop(p);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

/// Which primitive a round uses: the unnamed one, a second unnamed one (another
/// allocation: the control), or the named one.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Plain,
    Other,
    Named,
}

type Round<'a> = Box<dyn Fn(&Runtime, Side) -> Duration + 'a>;

fn main() {
    let mut rounds = 21;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--rounds" {
            rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(rounds);
        }
    }
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0])
        .expect("buckets")
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let plain_sem = Semaphore::new(4);
    let other_sem = Semaphore::new(4);
    let named_sem = Semaphore::with_name(4, "bench");
    type NoopPool = Pool<std::future::Ready<()>>;
    let job = || std::future::ready(());
    // A fresh pool per round (built and dropped outside the timed part): a pool is a
    // handful of allocations and 8 worker tasks whose placement moved a long-lived pool's
    // per-process figure by 10% on this VM; new ones each round average that out.
    let fresh_pool = |rt: &Runtime, side: Side| -> NoopPool {
        rt.block_on(async {
            match side {
                Side::Named => corral_pool("bench", DEFAULT_QUEUE_WAIT_SAMPLING),
                Side::Plain | Side::Other => Builder::new()
                    .workers(WORKERS)
                    .queue_capacity(QUEUE)
                    .queue_wait_sampling(DEFAULT_QUEUE_WAIT_SAMPLING)
                    .build()
                    .expect("pool"),
            }
        })
    };

    let cases: Vec<(&str, u64, Round<'_>)> = vec![
        (
            "semaphore_uncontended",
            ACQUIRES,
            Box::new(|rt, side| {
                let sem: &Semaphore = match side {
                    Side::Plain => &plain_sem,
                    Side::Other => &other_sem,
                    Side::Named => &named_sem,
                };
                timed(rt, uncontended(sem))
            }),
        ),
        (
            "semaphore_contended_mt2",
            CONTENDED_TASKS * CONTENDED_EACH,
            Box::new(|rt, side| {
                // A fresh semaphore per round, like the pool below: one long-lived
                // semaphore's address moved the contended figure by up to 15% per
                // process on this VM.
                let sem = match side {
                    Side::Plain | Side::Other => Arc::new(Semaphore::new(2)),
                    Side::Named => Semaphore::with_name(2, "bench-contended"),
                };
                timed(rt, async move { contended(&sem).await })
            }),
        ),
        (
            "pool_submit_await",
            pool_support::JOBS,
            Box::new(|rt, side| {
                let pool = fresh_pool(rt, side);
                let d = timed(rt, corral_round(&pool, job));
                rt.block_on(async move { drop(pool) });
                d
            }),
        ),
        (
            "spawn_join",
            TASKS as u64,
            Box::new(|rt, _| timed(rt, spawn_join_corral(TASKS))),
        ),
    ];
    println!(
        "{rounds} paired rounds, mt2, Prometheus recorder installed (ns per op, median [quartiles])"
    );
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    // Three arms, in rotating order (a round pays for its predecessor's leftovers, so no
    // arm may always follow the same one):
    // - `not reporting`: the unnamed primitive, no exporter;
    // - `control`: a second unnamed primitive (another allocation), with the census
    //   exporter ticking every second: everything `reporting` changes except the metrics;
    // - `reporting`: the named primitive, with the exporter (it samples the named
    //   semaphores' gauges, flushes the pool, publishes the task census).
    // `reporting / control` is the metrics' own cost. Two objects of the same type on the
    // same workload differ by a few percent on this VM (their addresses), which is why the
    // control exists. Every arm waits 5 ms before its round: the exporter's first tick
    // fires at once and is let pass untimed, so a round of a few milliseconds is not
    // charged a whole tick (a tick costs per second, not per operation).
    #[derive(Clone, Copy, PartialEq)]
    enum Arm {
        Off,
        Control,
        On,
    }
    let run = |round: &Round<'_>, arm: Arm| {
        let exporter = (arm != Arm::Off).then(|| {
            let _in_runtime = rt.enter();
            corral_task::export_metrics(Duration::from_secs(1))
        });
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(5)).await });
        let side = match arm {
            Arm::Off => Side::Plain,
            Arm::Control => Side::Other,
            Arm::On => Side::Named,
        };
        let d = round(&rt, side);
        if let Some(exporter) = exporter {
            exporter.abort();
        }
        d
    };
    for (name, ops, round) in &cases {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        for arm in [Arm::Off, Arm::Control, Arm::On] {
            run(round, arm);
        }
        let per = |d: Duration| d.as_secs_f64() * 1e9 / *ops as f64;
        let (mut off_ns, mut on_ns, mut vs_off, mut vs_control) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for pair in 0..rounds {
            let mut arms = [Arm::Off, Arm::Control, Arm::On];
            arms.rotate_left(pair % 3);
            let (mut off, mut control, mut on) = (0.0, 0.0, 0.0);
            for arm in arms {
                let ns = per(run(round, arm));
                match arm {
                    Arm::Off => off = ns,
                    Arm::Control => control = ns,
                    Arm::On => on = ns,
                }
            }
            off_ns.push(off);
            on_ns.push(on);
            vs_off.push(on / off);
            vs_control.push(on / control);
        }
        let (a25, a50, a75) = quartiles(off_ns);
        let (b25, b50, b75) = quartiles(on_ns);
        let (r25, r50, r75) = quartiles(vs_off);
        let (c25, c50, c75) = quartiles(vs_control);
        println!(
            "{name:<24} not reporting {a50:8.1} ns [{a25:.1}-{a75:.1}]  reporting {b50:8.1} ns [{b25:.1}-{b75:.1}]  \
             reporting/not {r50:.3}x [{r25:.3}-{r75:.3}]  reporting/control {c50:.3}x [{c25:.3}-{c75:.3}]"
        );
    }
    // The recorder saw the named primitives (a sanity check that reporting was on).
    let text = handle.render();
    assert!(text.contains("corral_semaphore_available_permits{semaphore=\"bench\"}"));
    assert!(text.contains("corral_pool_jobs_completed_total{pool=\"bench\"}"));
    assert!(text.contains("corral_task_spawned_total"));
}
