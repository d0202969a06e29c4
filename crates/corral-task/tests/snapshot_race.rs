//! A snapshot is consistent with itself whatever starts or ends while it is taken: a
//! runtime seen for the first time during the scan, tasks spawned and ended on it.
//!
//! In a binary of its own: it keeps thousands of tasks alive and starts a runtime per
//! round, which would slow the other registry tests' snapshots.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

/// Live tasks spread over several spawning threads (so over several shards), each
/// thread's runtime kept alive for the whole test.
const SPAWNERS: usize = 6;
const LIVE_PER_SPAWNER: usize = 2_000;
const SNAPSHOTS: usize = 200;

#[test]
fn a_snapshot_never_panics_while_runtimes_start_and_end() {
    let stop = Arc::new(AtomicBool::new(false));
    // Keep the live tasks' runtimes (and their pending tasks) until the end.
    let ready = Arc::new(Barrier::new(SPAWNERS + 1));
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let holders: Vec<_> = (0..SPAWNERS)
        .map(|_| {
            let ready = ready.clone();
            let release_rx = release_rx.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for _ in 0..LIVE_PER_SPAWNER {
                        corral_task::spawn(std::future::pending::<()>());
                    }
                });
                ready.wait();
                let _ = release_rx.lock().unwrap().recv();
                drop(rt);
            })
        })
        .collect();
    ready.wait();

    // Thread A: a new runtime every round, whose first tracked spawn interns it.
    let churner = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async { corral_task::spawn(async {}).await })
                    .unwrap();
                rounds += 1;
            }
            rounds
        }
    });

    // Thread B (this one): snapshots, each of which must hold every live task with a
    // runtime id, and never panic.
    for _ in 0..SNAPSHOTS {
        let snap = corral_task::snapshot();
        assert!(snap.len() >= SPAWNERS * LIVE_PER_SPAWNER, "{}", snap.len());
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = churner.join().unwrap();
    assert!(rounds > 0, "runtimes started during the snapshots");
    for _ in 0..SPAWNERS {
        release_tx.send(()).unwrap();
    }
    for h in holders {
        h.join().unwrap();
    }
}

/// Parents on two workers each spawn a child and end at once, so slots (and their
/// creator crumbs) are reused round after round, while another thread takes
/// snapshots: every child always names its own parent's record, never a stale one
/// left in a reused slot, and tasks spawned from outside any tracked task never have
/// a creator.
#[test]
fn creators_stay_right_while_slots_are_reused_and_snapshots_run() {
    const ROUNDS: usize = 3_000;
    const KINDS: usize = 4;
    let rt = corral_test_support::multi_thread(2);
    let stop = Arc::new(AtomicBool::new(false));
    let check = |snap: &corral_task::Snapshot| {
        for t in snap.iter() {
            let Some(name) = t.name() else { continue };
            if let Some(kind) = name.strip_prefix("reuse-child-") {
                let creator = t.creator().expect("a child names its creator");
                assert_eq!(creator.name(), Some(&*format!("reuse-parent-{kind}")));
                assert!(creator.creator().is_none());
            } else if name == "reuse-plain" {
                assert!(t.creator().is_none(), "{name}");
            }
        }
    };
    let snapshots = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                check(&corral_task::snapshot());
                n += 1;
            }
            n
        }
    });
    rt.block_on(async {
        let (release_tx, release_rx) = tokio::sync::watch::channel(());
        let mut children = Vec::new();
        for round in 0..ROUNDS {
            let kind = round % KINDS;
            let mut rx = release_rx.clone();
            let parent = corral_task::Builder::new()
                .name(format!("reuse-parent-{kind}"))
                .spawn(async move {
                    // Wrapped: the child's handle is returned, not awaited.
                    Some(
                        corral_task::Builder::new()
                            .name(format!("reuse-child-{kind}"))
                            .spawn(async move {
                                let _ = rx.changed().await;
                            }),
                    )
                });
            // A sibling spawned on a worker from a plain tokio task (no crumb
            // written) takes the slots the children leave.
            let plain = tokio::spawn(async {
                corral_task::Builder::new()
                    .name("reuse-plain")
                    .spawn(async {})
                    .await
            });
            children.extend(parent.await.unwrap());
            plain.await.unwrap().unwrap();
            check(&corral_task::snapshot());
            if round % 500 == 499 {
                // Let the children go, so their slots are reused too.
                release_tx.send(()).unwrap();
                for c in children.drain(..) {
                    c.await.unwrap();
                }
            }
        }
        check(&corral_task::snapshot());
    });
    stop.store(true, Ordering::Relaxed);
    assert!(snapshots.join().unwrap() > 0);
}
