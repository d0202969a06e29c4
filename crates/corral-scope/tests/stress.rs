//! Drops 10k scopes at random points (seeded, deterministic choices) while their
//! children run, spawn grandchildren through clones and open nested scopes; then finds
//! zero alive runtime tasks.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Children (at any depth) that started running, across the tests of this file; only
/// checked for a floor, so sharing it between the two tests is harmless.
static STARTED: AtomicUsize = AtomicUsize::new(0);

use common::{assert_no_alive_tasks, Boom};
use corral_scope::{scope, Scope};
use tokio_test::task;

/// xorshift64*: a small seeded PRNG, so every run makes the same choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

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
) -> impl std::future::Future<Output = Result<(), Boom>> + Send + 'static {
    let s = s.clone();
    async move {
        STARTED.fetch_add(1, Ordering::Relaxed);
        match kind {
            // Finishes after a few turns.
            0 | 1 => yields(turns).await,
            // Never finishes on its own.
            2 => std::future::pending::<()>().await,
            // Spawns a grandchild through the cloned handle, then waits.
            3 => {
                let _ = s
                    .spawn(async move {
                        STARTED.fetch_add(1, Ordering::Relaxed);
                        yields(turns).await;
                        std::future::pending::<Result<(), Boom>>().await
                    })
                    .await;
                yields(turns).await;
            }
            // Opens a nested scope with a child of its own.
            4 => {
                let _ = scope(|n: Scope<Boom>| async move {
                    let _ = n
                        .spawn(async move {
                            STARTED.fetch_add(1, Ordering::Relaxed);
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

async fn drop_scopes_at_random_points(seed: u64, scopes: usize) {
    let mut rng = Rng(seed);
    let started_before = STARTED.load(Ordering::Relaxed);
    for _ in 0..scopes {
        let children: Vec<(u64, u64)> = (0..rng.below(5))
            .map(|_| (rng.below(8), rng.below(4)))
            .collect();
        let polls = rng.below(10);
        let mut owner = task::spawn(scope(|s: Scope<Boom>| async move {
            for (kind, turns) in children {
                let fut = child(&s, kind, turns);
                let _ = s.spawn(fut).await;
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
    }
    // Give aborted tasks on the workers time to be dropped.
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
    // The run did exercise children, not just empty scopes.
    let started = STARTED.load(Ordering::Relaxed) - started_before;
    eprintln!("{scopes} scopes, {started} children started");
    assert!(started > scopes / 2, "only {started} children started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_scopes_dropped_at_random_points_leave_nothing_multi_thread() {
    drop_scopes_at_random_points(0x5EED_0001, 10_000).await;
}

#[tokio::test(flavor = "current_thread")]
async fn scopes_dropped_at_random_points_leave_nothing_current_thread() {
    drop_scopes_at_random_points(0x5EED_0002, 3_000).await;
}
