//! The leak watch on a healthy service for one simulated hour (paused time): bursty
//! request tasks, long-lived workers, periodic batch jobs (some started all at once,
//! some one by one) and a ten-minute traffic ramp. It must raise no flag. Its own test binary, so no other
//! test's tasks are in its registry.

mod support;

use std::time::Duration;

use corral_task::{Builder, WatchConfig};
use corral_test_support::Rng;
use support::EventLog;
use tokio::time::Instant;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn a_healthy_service_raises_no_flag_in_an_hour() {
    let seed = 0x15_0a7c;
    let (watch, log) = EventLog::watch(WatchConfig::builder());
    let start = Instant::now();

    // Eight long-lived workers, parked on channels closed at the end.
    let mut workers = Vec::new();
    for i in 0..8 {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
        let handle = Builder::new()
            .name(format!("worker-{i}"))
            .spawn(async move { while rx.recv().await.is_some() {} });
        workers.push((tx, handle));
    }

    // Periodic batch jobs: every 5 minutes, 40 jobs at once (20-150 s each), and
    // every 7 minutes a batch started one job every 250 ms for 20 s (10-60 s each).
    let batches = Builder::new().name("batch-scheduler").spawn(async move {
        let mut rng = Rng(seed ^ 1);
        let mut tick = 0u64;
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            tick += 1;
            if tick % 5 == 0 {
                for _ in 0..40 {
                    let secs = 20 + rng.below(131);
                    Builder::new().name("batch-job").spawn(async move {
                        tokio::time::sleep(Duration::from_secs(secs)).await;
                    });
                }
            }
            if tick % 7 == 0 {
                for _ in 0..80 {
                    let secs = 10 + rng.below(51);
                    Builder::new().name("staggered-job").spawn(async move {
                        tokio::time::sleep(Duration::from_secs(secs)).await;
                    });
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    });

    // A morning ramp: from minute 20 to 30 the rate of 20-second uploads climbs from
    // 1/s to 60/s, so their live count rises at every sample for ten minutes; but
    // each upload ends, so the oldest never ages past 20 s. Growth without ageing.
    let ramp = Builder::new().name("ramp-driver").spawn(async move {
        tokio::time::sleep(Duration::from_secs(20 * 60)).await;
        for second in 0..600u64 {
            for _ in 0..1 + second / 10 {
                Builder::new().name("upload").spawn(async move {
                    tokio::time::sleep(Duration::from_secs(20)).await;
                });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });

    // Bursty requests: every 0.5-3 s a burst of 1-80 requests, each 5 ms to 3 s,
    // and a quiet spell of 1-4 minutes now and then.
    let mut rng = Rng(seed);
    let mut requests = 0u64;
    while start.elapsed() < HOUR {
        let burst = 1 + rng.below(80);
        for _ in 0..burst {
            let ms = 5 + rng.below(2996);
            Builder::new().name("request").spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            });
        }
        requests += burst;
        let pause = if rng.below(100) == 0 {
            60_000 + rng.below(180_000)
        } else {
            500 + rng.below(2500)
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }

    let samples = watch.samples();
    let events = log.events();
    println!("{requests} requests, {samples} samples, events: {events:?}");
    assert!(
        samples >= 360,
        "the watch sampled the whole hour: {samples}"
    );
    assert_eq!(watch.suspected(), 0, "seed {seed:#x}: {:?}", watch.flags());
    assert!(
        events.is_empty(),
        "seed {seed:#x}: a healthy service was flagged: {events:?}"
    );
    batches.abort();
    ramp.await.unwrap();
    for (tx, handle) in workers {
        drop(tx);
        handle.await.unwrap();
    }
}
