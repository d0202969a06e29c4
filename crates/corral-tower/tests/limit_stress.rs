//! Seeded stress of `LimitLayer` on a multi-thread runtime: the limit is never
//! exceeded, every request is answered or refused exactly once, and nothing is left
//! reserved or queued.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use corral_test_support::Rng;
use corral_tower::{Aimd, LimitLayer, Overloaded};
use tower::{service_fn, Layer, ServiceExt};

const ROUNDS: u64 = 1_000;
const REQUESTS: u64 = 48;

async fn round(seed: u64, weighted: bool) {
    let limit = 4 + seed % 5;
    // Every fourth round the limit is adaptive (AIMD between 2 and `limit`, samples
    // slower than 1 ms are drops), so it moves while requests wait and run.
    let builder = if seed % 4 == 2 {
        LimitLayer::adaptive(
            Aimd::new(limit)
                .guardrails(2, limit)
                .timeout(Duration::from_millis(1)),
        )
    } else {
        LimitLayer::builder(limit)
    };
    let builder = builder.max_queue((seed % 7) as usize);
    let builder = if seed % 3 == 0 {
        builder.max_wait(Duration::from_micros(50 + seed % 200))
    } else {
        builder
    };
    let layer = builder.build().unwrap();
    let running = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let (answered, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let inner = {
        let (running, peak) = (running.clone(), peak.clone());
        service_fn(move |(weight, spins): (u64, u64)| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(weight, SeqCst) + weight;
                peak.fetch_max(now, SeqCst);
                for _ in 0..spins {
                    tokio::task::yield_now().await;
                }
                running.fetch_sub(weight, SeqCst);
                Ok::<_, std::convert::Infallible>(())
            }
        })
    };
    let mut rng = Rng(seed);
    let mut tasks = Vec::new();
    for _ in 0..REQUESTS {
        let weight = if weighted { 1 + rng.next() % 3 } else { 1 };
        let spins = rng.next() % 4;
        let (answered, refused) = (answered.clone(), refused.clone());
        let out = if weighted {
            let svc = layer
                .clone()
                .weight(|req: &(u64, u64)| req.0)
                .layer(inner.clone());
            tokio::spawn(async move { svc.oneshot((weight, spins)).await })
        } else {
            let svc = layer.layer(inner.clone());
            tokio::spawn(async move { svc.oneshot((weight, spins)).await })
        };
        tasks.push(tokio::spawn(async move {
            match out.await.unwrap() {
                Ok(()) => answered.fetch_add(1, SeqCst),
                Err(err) => {
                    assert!(err.is::<Overloaded>(), "only refusals: {err}");
                    refused.fetch_add(1, SeqCst)
                }
            };
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(
        peak.load(SeqCst) <= limit,
        "seed {seed}: peak {} > limit {limit}",
        peak.load(SeqCst)
    );
    assert_eq!(
        answered.load(SeqCst) + refused.load(SeqCst),
        REQUESTS as usize,
        "seed {seed}"
    );
    assert_eq!((layer.in_flight(), layer.queued()), (0, 0), "seed {seed}");
}

#[test]
fn never_over_the_limit_and_every_request_accounted_for() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for seed in 0..ROUNDS {
            round(seed, seed % 2 == 1).await;
        }
    });
}
