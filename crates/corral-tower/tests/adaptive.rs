//! The adaptive algorithms' known failure modes, and the layer applying their answers.

use std::time::Duration;

use corral_test_support::Rng;
use corral_tower::{Aimd, Algorithm, BoxError, Gradient2, LimitLayer, Sample, Vegas};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};

fn sample(rtt_ms: u64, inflight: u64, dropped: bool, admitted: Instant) -> Sample {
    Sample {
        rtt: Duration::from_millis(rtt_ms),
        inflight,
        dropped,
        admitted,
    }
}

/// A closed loop: a downstream that serves `c` at once in 20 ms, driven at the limit.
/// Returns the limit after `rounds` round trips of `limit` samples each.
async fn closed_loop(algorithm: &mut dyn Algorithm, c: u64, rounds: u32) -> u64 {
    let mut limit = algorithm.initial_limit();
    for _ in 0..rounds {
        let rtt = 20 * limit.div_ceil(c).max(1);
        let admitted = Instant::now();
        tokio::time::advance(Duration::from_millis(rtt)).await;
        // One round trip: `limit` answers, all admitted together with `limit` in
        // flight; each moves the limit as it comes back.
        let (answers, inflight) = (limit, limit);
        for _ in 0..answers {
            limit = algorithm.update(&sample(rtt, inflight, false, admitted));
        }
    }
    limit
}

#[tokio::test(start_paused = true)]
async fn gradient2_under_steady_timeouts_stays_near_its_floor_not_its_max() {
    // Netflix concurrency-limits#137: only fast answers come back, the rest time out.
    let mut g = Gradient2::new(100).guardrails(5, 1000);
    for _ in 0..200 {
        let admitted = Instant::now();
        tokio::time::advance(Duration::from_millis(10)).await;
        g.update(&sample(10, 100, true, admitted));
        g.update(&sample(10, 100, false, admitted));
    }
    let admitted = Instant::now();
    let limit = g.update(&sample(10, 100, true, admitted));
    assert!(
        limit < 20,
        "held near its floor by the drops, not at its max: {limit}"
    );
}

#[tokio::test(start_paused = true)]
async fn gradient2_under_mild_lasting_overload_creeps_without_a_timeout_not_with_one() {
    // The original rule: the long average absorbs the queueing, the limit goes to max.
    let mut plain = Gradient2::new(20).guardrails(1, 1000);
    assert_eq!(
        closed_loop(&mut plain, 50, 400).await,
        1000,
        "the known failure mode"
    );
    // With a timeout of 50 ms (2.5x the no-load 20 ms), it saws around 2.5 C: over the
    // last 200 round trips it averages 2-3 C and never passes 4 C (80 ms).
    let mut bounded = Gradient2::new(20)
        .guardrails(1, 1000)
        .timeout(Duration::from_millis(50));
    let mut limits = Vec::new();
    for _ in 0..400 {
        limits.push(closed_loop(&mut bounded, 50, 1).await);
    }
    let settled = &limits[200..];
    let mean = settled.iter().sum::<u64>() / settled.len() as u64;
    let max = settled.iter().max().copied().unwrap_or_default();
    assert!(
        (100..=150).contains(&mean) && max <= 200,
        "mean {mean}, max {max}"
    );
}

#[tokio::test(start_paused = true)]
async fn one_cut_per_round_trip_not_one_per_request_in_flight() {
    // 500 requests in flight when the downstream slows: each answer is a drop.
    let mut aimd = Aimd::new(500).guardrails(1, 1000);
    let admitted = Instant::now();
    tokio::time::advance(Duration::from_millis(100)).await;
    let mut limit = 0;
    for _ in 0..500 {
        limit = aimd.update(&sample(100, 500, true, admitted));
    }
    assert_eq!(limit, 450, "one cut (x0.9), not 0.9^500");
    // Requests admitted after that cut may cut again.
    let later = Instant::now();
    tokio::time::advance(Duration::from_millis(100)).await;
    assert_eq!(aimd.update(&sample(100, 450, true, later)), 405);
}

#[tokio::test(start_paused = true)]
async fn a_deep_brownout_cuts_to_what_would_have_met_the_timeout_at_once() {
    // 600 in flight when the downstream falls to an eighth: the old limit's answers take
    // up to 480 ms against a 50 ms timeout. 600 x 50 / 480 = 62 would have made it.
    let timeout = Duration::from_millis(50);
    let algorithms: Vec<Box<dyn Algorithm>> = vec![
        Box::new(Aimd::new(600).guardrails(1, 1000).timeout(timeout)),
        Box::new(Gradient2::new(600).guardrails(1, 1000).timeout(timeout)),
        Box::new(Vegas::new(600).guardrails(1, 1000).timeout(timeout)),
    ];
    for mut algorithm in algorithms {
        let admitted = Instant::now();
        // Vegas first learns its no-load latency from an unloaded answer.
        algorithm.update(&sample(20, 600, false, admitted));
        tokio::time::advance(Duration::from_millis(480)).await;
        let slow = sample(480, 600, false, admitted);
        // At most halving per sample: one outlier cannot floor the limit.
        assert_eq!(algorithm.update(&slow), 300, "{algorithm:?}");
        // More answers of the same old limit reach the target within a few samples, all
        // admitted before the first cut, and never compound below it.
        let mut limit = 0;
        for _ in 0..100 {
            limit = algorithm.update(&slow);
        }
        assert_eq!(limit, 62, "{algorithm:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn vegas_probing_never_lowers_the_limit() {
    // envoyproxy/envoy#8337: probing the no-load latency by dropping the limit sheds
    // bursts. Vegas refreshes it from live samples: steady fast traffic across many
    // probe points only ever grows the limit.
    let mut vegas = Vegas::new(50).guardrails(1, 400).probe_multiplier(1);
    let mut last = vegas.initial_limit();
    for _ in 0..5_000 {
        let admitted = Instant::now();
        let limit = vegas.update(&sample(20, last, false, admitted));
        assert!(limit >= last, "{limit} < {last}");
        last = limit;
    }
    assert_eq!(last, 400);
}

#[tokio::test(start_paused = true)]
async fn guardrails_hold_for_any_samples() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut next = move || rng.next();
    let mut algorithms: Vec<Box<dyn Algorithm>> = vec![
        Box::new(
            Aimd::new(30)
                .guardrails(10, 60)
                .timeout(Duration::from_millis(50)),
        ),
        Box::new(Gradient2::new(30).guardrails(10, 60)),
        Box::new(Vegas::new(30).guardrails(10, 60)),
    ];
    for algorithm in &mut algorithms {
        for _ in 0..20_000 {
            let admitted = Instant::now();
            tokio::time::advance(Duration::from_micros(next() % 1000)).await;
            let s = sample(next() % 300 + 1, next() % 80, next() % 10 == 0, admitted);
            let limit = algorithm.update(&s);
            assert!((10..=60).contains(&limit), "{algorithm:?}: {limit}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_layer_applies_the_algorithms_answer() {
    let layer = LimitLayer::adaptive(
        Aimd::new(4)
            .guardrails(2, 8)
            .timeout(Duration::from_millis(50)),
    )
    .build()
    .unwrap();
    assert_eq!(layer.limit(), 4);
    let fast = layer.layer(service_fn(|()| async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, BoxError>(())
    }));
    // A lone request uses a quarter of the limit: not in use, no growth.
    fast.clone().oneshot(()).await.unwrap();
    assert_eq!(layer.limit(), 4);
    // Four at once: the limit is in use, each success grows it by one, to the max.
    for _ in 0..2 {
        let batch: Vec<_> = (0..4).map(|_| fast.clone().oneshot(())).collect();
        for r in futures_join(batch).await {
            r.unwrap();
        }
    }
    assert_eq!(layer.limit(), 8);
    // Slow answers are drops: one cut per round trip, to the floor over time.
    let slow = layer.layer(service_fn(|()| async {
        tokio::time::sleep(Duration::from_millis(60)).await;
        Ok::<_, BoxError>(())
    }));
    for _ in 0..10 {
        slow.clone().oneshot(()).await.unwrap();
    }
    assert_eq!(layer.limit(), 2);
    assert_eq!(layer.in_flight(), 0);
}

async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out = Vec::new();
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().map(|r| r.expect("done")));
    out
}
