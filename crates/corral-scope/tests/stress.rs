//! Drops 10k scopes at random points (seeded, deterministic choices) while their
//! children run, spawn grandchildren through clones and open nested scopes; then finds
//! zero alive runtime tasks.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{assert_no_alive_tasks, Boom};
use corral_leak::LeakGuard;
use corral_scope::{scope, Scope, ScopeError};
use corral_test_support::Rng;
use tokio_test::task;

async fn yields(n: u64) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// A child whose behaviour is picked by `kind`.
fn child(
    s: &Scope<Boom>,
    kind: u64,
    turns: u64,
    started: Arc<AtomicUsize>,
) -> impl std::future::Future<Output = Result<(), Boom>> + Send + 'static {
    let s = s.clone();
    async move {
        started.fetch_add(1, Ordering::Relaxed);
        match kind {
            // Finishes after a few turns.
            0 | 1 => yields(turns).await,
            // Never finishes on its own.
            2 => std::future::pending::<()>().await,
            // Spawns a grandchild through the cloned handle, then waits.
            3 => {
                let started = started.clone();
                let _ = s
                    .spawn(async move {
                        started.fetch_add(1, Ordering::Relaxed);
                        yields(turns).await;
                        std::future::pending::<Result<(), Boom>>().await
                    })
                    .await;
                yields(turns).await;
            }
            // Opens a nested scope with a child of its own.
            4 => {
                let started = started.clone();
                let _ = scope(|n: Scope<Boom>| async move {
                    let _ = n
                        .spawn(async move {
                            started.fetch_add(1, Ordering::Relaxed);
                            yields(turns).await;
                            Ok(())
                        })
                        .await;
                    yields(turns).await;
                    Ok(())
                })
                .await;
            }
            // Fails (cancelling the group).
            5 => {
                yields(turns).await;
                return Err(Boom(5));
            }
            // Waits on the token (cooperative cancellation).
            _ => s.token().cancelled().await,
        }
        Ok(())
    }
}

/// Starts `scopes` scopes and drops each after a random number of polls. Returns
/// (children admitted, futures started at any depth).
async fn drop_scopes_at_random_points(seed: u64, scopes: usize) -> (usize, usize) {
    let mut rng = Rng(seed);
    let started = Arc::new(AtomicUsize::new(0));
    let mut admitted = 0;
    for _ in 0..scopes {
        let children: Vec<(u64, u64)> = (0..rng.below(5))
            .map(|_| (rng.below(8), rng.below(4)))
            .collect();
        let polls = rng.below(10);
        let started_here = started.clone();
        let admitted_here = Arc::new(AtomicUsize::new(0));
        let admitted_in_body = admitted_here.clone();
        let mut owner = task::spawn(scope(|s: Scope<Boom>| async move {
            for (kind, turns) in children {
                let fut = child(&s, kind, turns, started_here.clone());
                if s.spawn(fut).await.is_ok() {
                    admitted_in_body.fetch_add(1, Ordering::Relaxed);
                }
                tokio::task::yield_now().await;
            }
            yields(2).await;
            Ok(())
        }));
        for _ in 0..polls {
            if owner.poll().is_ready() {
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(owner);
        admitted += admitted_here.load(Ordering::Relaxed);
    }
    (admitted, started.load(Ordering::Relaxed))
}

/// Waits for stopped children to be dropped, then finds nothing alive.
async fn assert_all_gone(guard: LeakGuard, scopes: usize, (admitted, started): (usize, usize)) {
    for _ in 0..200 {
        if tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
            == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
    // The run did exercise children, not just empty scopes. (How many got to run before
    // their owner was dropped depends on the scheduler: reported, not checked.)
    eprintln!("{scopes} scopes, {admitted} children admitted, {started} futures started");
    assert!(admitted > scopes / 2, "only {admitted} children admitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_scopes_dropped_at_random_points_leave_nothing_multi_thread() {
    let guard = LeakGuard::new();
    // Driven from a worker, so children land on the workers' queues and run (and get
    // stolen) while their owners are being polled and dropped.
    let counts = tokio::spawn(drop_scopes_at_random_points(0x5EED_0001, 10_000))
        .await
        .expect("driver");
    assert_all_gone(guard, 10_000, counts).await;
}

#[tokio::test(flavor = "current_thread")]
async fn scopes_dropped_at_random_points_leave_nothing_current_thread() {
    let guard = LeakGuard::new();
    let counts = drop_scopes_at_random_points(0x5EED_0002, 3_000).await;
    assert_all_gone(guard, 3_000, counts).await;
}

/// Runs scopes to the end on a multi-thread runtime with children that finish, fail,
/// panic or wait forever (cancelled by a failing sibling), in random mixes: each scope's
/// result must match what its children did, and nothing may be left alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_and_panics_hold_under_parallelism() {
    // Hundreds of expected child panics: keep their messages out of the log (others in
    // this binary still print).
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"child panic") {
                prev(info);
            }
        }));
    });
    let guard = LeakGuard::new();
    let mut rng = Rng(0x5EED_0003);
    for _ in 0..1_000 {
        // 0: ok after turns, 1: fail, 2: panic, 3: forever (needs a failure to end).
        let mut kinds: Vec<(u64, u64)> = (0..1 + rng.below(4))
            .map(|_| (rng.below(4), rng.below(4)))
            .collect();
        let fails = kinds.iter().any(|&(k, _)| k == 1);
        let panics = kinds.iter().any(|&(k, _)| k == 2);
        if !fails && !panics {
            // Without a failure a forever child would hang the scope.
            kinds.retain(|&(k, _)| k != 3);
        }
        let owner = tokio::spawn(scope(|s: Scope<Boom>| async move {
            for (kind, turns) in kinds {
                // A sibling may fail on another worker while the body spawns: `go`
                // then drops the refused child instead of handing it back.
                let _handle = s.go(async move {
                    yields(turns).await;
                    match kind {
                        0 => Ok(()),
                        1 => Err(Boom(1)),
                        2 => panic!("child panic"),
                        _ => std::future::pending().await,
                    }
                });
            }
            Ok(())
        }));
        match owner.await {
            Ok(Ok(())) => assert!(!fails && !panics, "a failing scope returned Ok"),
            Ok(Err(e)) => {
                assert!(fails, "scope failed without a failing child: {e:?}");
                assert_eq!(e, corral_scope::ScopeError::Failed(Boom(1)));
            }
            // A panic may be cut short by a sibling's failure (the panicking child is
            // stopped before it runs), so only its presence is required.
            Err(join) => assert!(panics && join.is_panic(), "unexpected join error"),
        }
    }
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

/// On worker threads, a child running a nested scope is stopped by its parent's
/// failure: the parent returns only after the nested scope's own child is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_parent_outlives_nested_scopes_children_multi_thread() {
    for round in 0..200 {
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let out = scope(|s: Scope<Boom>| async move {
            s.spawn(async move {
                scope(|n: Scope<Boom>| async move {
                    let on_drop = OnDrop(d);
                    n.spawn(async move {
                        let _on_drop = on_drop;
                        std::future::pending::<Result<(), Boom>>().await
                    })
                    .await
                    .expect("open");
                    let _ = tx.send(());
                    std::future::pending::<()>().await;
                    Ok(())
                })
                .await
                .map_err(|_| Boom(9))
            })
            .await
            .expect("open");
            let _ = rx.await;
            s.spawn(async { Err::<(), _>(Boom(1)) })
                .await
                .expect("open");
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
        assert_eq!(out, Err(corral_scope::ScopeError::Failed(Boom(1))));
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "round {round}: a nested scope's child outlived the parent"
        );
    }
    assert_no_alive_tasks().await;
}

struct OnDrop(Arc<AtomicUsize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Counts futures created and dropped at any depth under one scope.
#[derive(Clone, Default)]
struct Census {
    created: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl Census {
    fn watch<F: std::future::Future>(
        &self,
        fut: F,
    ) -> impl std::future::Future<Output = F::Output> {
        self.created.fetch_add(1, Ordering::SeqCst);
        let on_drop = OnDrop(self.dropped.clone());
        async move {
            let _on_drop = on_drop;
            fut.await
        }
    }

    fn alive(&self) -> usize {
        self.created.load(Ordering::SeqCst) - self.dropped.load(Ordering::SeqCst)
    }
}

/// Seeded mixes of children that finish, fail, run forever, run in the background,
/// cancel the group by hand, or open a nested scope whose child runs forever, plus
/// bodies that panic, on the multi-thread runtime: when the owner returns (or its
/// panic arrives), nothing created under it at any depth is alive, and the outcome is
/// the one the mix allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_background_and_nesting_leave_nothing_alive_multi_thread() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"body panic") {
                prev(info);
            }
        }));
    });
    let guard = LeakGuard::new();
    let mut rng = Rng(0x5EED_0004);
    for round in 0..1_000 {
        // 0 ok, 1 fail, 2 forever, 3 background forever, 4 cancel by hand, 5 nested.
        let mut kinds: Vec<(u64, u64)> = (0..1 + rng.below(5))
            .map(|_| (rng.below(6), rng.below(4)))
            .collect();
        let body_panics = rng.below(8) == 0;
        let stops = kinds.iter().any(|&(k, _)| k == 1 || k == 4);
        if !stops {
            for (k, _) in &mut kinds {
                if *k == 2 || *k == 5 {
                    *k = 0;
                }
            }
        }
        let census = Census::default();
        let c = census.clone();
        let owner = tokio::spawn(scope(move |s: Scope<Boom>| async move {
            for (kind, turns) in kinds {
                let (s2, c2) = (s.clone(), c.clone());
                let work = async move {
                    yields(turns).await;
                    match kind {
                        0 => Ok(()),
                        1 => Err(Boom(1)),
                        4 => {
                            s2.cancel();
                            Ok(())
                        }
                        5 => {
                            let c3 = c2.clone();
                            scope(|n: Scope<Boom>| async move {
                                n.go(c3.watch(std::future::pending::<Result<(), Boom>>()));
                                std::future::pending::<Result<(), Boom>>().await
                            })
                            .await
                            .map_err(|_| Boom(5))
                        }
                        _ => std::future::pending().await,
                    }
                };
                if kind == 3 {
                    s.child().background().go(c.watch(work));
                } else {
                    s.go(c.watch(work));
                }
            }
            tokio::task::yield_now().await;
            if body_panics {
                panic!("body panic");
            }
            Ok(())
        }));
        let out = owner.await;
        assert_eq!(
            census.alive(),
            0,
            "round {round}: a future outlived its scope"
        );
        match out {
            Err(join) => assert!(body_panics && join.is_panic(), "round {round}"),
            Ok(Ok(())) => assert!(!stops, "round {round}: a stopped scope returned Ok"),
            Ok(Err(e)) => {
                assert!(stops, "round {round}: scope failed without a cause: {e:?}");
                assert!(
                    matches!(e, ScopeError::Failed(Boom(1)) | ScopeError::Cancelled),
                    "round {round}: {e:?}"
                );
            }
        }
    }
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}
