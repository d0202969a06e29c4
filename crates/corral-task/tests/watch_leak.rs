//! The leak watch on the seed leak: a per-request worker parked on a channel nobody
//! closes, at 50 requests/s. Under paused time (tokio's clock; the watch samples on
//! it), so no assertion depends on the wall clock. Its own test binary: the registry
//! is process-wide, and the healthy shape (`watch_healthy.rs`) must not see these
//! leaks.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_task::{Builder, WatchConfig, WatchConfigError, WatchEvent};
use support::EventLog;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(60); // DEFAULT_INTERVAL * DEFAULT_WINDOW

#[tokio::test(start_paused = true)]
async fn the_seed_leak_is_flagged_within_two_windows_and_cleared_when_fixed() {
    assert_eq!(
        corral_task::DEFAULT_INTERVAL * corral_task::DEFAULT_WINDOW as u32,
        WINDOW
    );
    let start = Instant::now();
    let (watch, log) = EventLog::watch(WatchConfig::builder().runtime_only(true));

    // The service: each request is a short handler task that starts a session
    // worker and hands its sender to a map nobody ever cleans up.
    let senders: Arc<Mutex<Vec<tokio::sync::mpsc::Sender<u32>>>> = Arc::default();
    let mut requests = 0u32;
    while watch.suspected() == 0 && start.elapsed() < 4 * WINDOW {
        let senders = senders.clone();
        Builder::new().name("request").spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
            Builder::new()
                .name("session-worker")
                .spawn(async move { while rx.recv().await.is_some() {} });
            senders.lock().unwrap().push(tx);
            tokio::time::sleep(Duration::from_millis(5)).await;
        });
        requests += 1;
        tokio::time::sleep(Duration::from_millis(20)).await; // 50 requests/s
    }
    let to_flag = start.elapsed();
    println!("seed leak flagged after {to_flag:?} ({requests} requests)");
    assert!(
        to_flag <= 2 * WINDOW,
        "flagged after {to_flag:?}, over two windows"
    );
    let flags = watch.flags();
    assert_eq!(flags.len(), 1, "only the leaky site: {flags:?}");
    let flag = &flags[0];
    assert_eq!(flag.name(), Some("session-worker"));
    assert!(flag.location().file().ends_with("watch_leak.rs"));
    assert!(flag.growth() >= corral_task::DEFAULT_MIN_GROWTH);
    assert!(flag.count() > 2000, "{flag}");
    assert!(flag.oldest() >= WINDOW, "{flag}");
    let text = flag.to_string();
    assert!(
        text.contains("session-worker") && text.contains("watch_leak.rs"),
        "{text}"
    );
    let events = log.events();
    assert_eq!(events.len(), 1, "one event, the flag: {events:?}");
    assert!(matches!(&events[0].1, WatchEvent::Flagged(f) if f.name() == Some("session-worker")));

    // The fix: close every channel. The workers end, the count drops, the flag clears
    // at the next sample.
    senders.lock().unwrap().clear();
    tokio::time::sleep(corral_task::DEFAULT_INTERVAL * 2).await;
    assert_eq!(watch.suspected(), 0);
    assert!(watch.flags().is_empty());
    let events = log.events();
    assert!(
        matches!(events.last(), Some((_, WatchEvent::Cleared(f))) if f.name() == Some("session-worker")),
        "{events:?}"
    );
}

/// A watch of this runtime sampling every `interval` over `window` steps, flagging a
/// growth of 8 tasks or more: for leaks of tens of tasks.
fn small_watch(interval: Duration, window: usize) -> corral_task::Watch {
    let config = WatchConfig::builder()
        .runtime_only(true)
        .interval(interval)
        .window(window)
        .min_growth(8)
        .build()
        .unwrap();
    corral_task::watch(config)
}

#[tokio::test(start_paused = true)]
async fn a_leak_that_stops_growing_is_cleared_after_a_window() {
    let watch = small_watch(Duration::from_secs(1), 4);
    let mut senders = Vec::new();
    let spawn_one = |senders: &mut Vec<_>| {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        senders.push(tx);
        Builder::new()
            .name("stalled")
            .spawn(async move { while rx.recv().await.is_some() {} });
    };
    // 10 a second for 8 s: flagged.
    for _ in 0..80 {
        spawn_one(&mut senders);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(watch.suspected(), 1);
    // It stops leaking; the tasks stay. Once a whole window shows no growth, the
    // flag clears though the tasks are still there.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(watch.suspected(), 0, "{:?}", watch.flags());
    assert_eq!(
        corral_task::snapshot()
            .for_current_runtime()
            .iter()
            .filter(|t| t.name() == Some("stalled"))
            .count(),
        80
    );
    drop(senders);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_watch_stops_its_task() {
    let config = WatchConfig::builder().runtime_only(true).build().unwrap();
    let watch = corral_task::watch(config);
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(watch.samples(), 3, "at 0 s, 10 s and 20 s");
    let watching = || {
        corral_task::snapshot()
            .for_current_runtime()
            .iter()
            .any(|t| t.name() == Some("corral::watch"))
    };
    assert!(watching());
    drop(watch);
    tokio::task::yield_now().await;
    assert!(!watching(), "the watch's task outlived its handle");
}

#[test]
fn nonsense_settings_are_refused() {
    let zero = WatchConfig::builder().interval(Duration::ZERO).build();
    assert_eq!(zero.unwrap_err(), WatchConfigError::ZeroInterval);
    let short = WatchConfig::builder().window(1).build().unwrap_err();
    assert_eq!(short, WatchConfigError::WindowTooShort(1));
    assert_eq!(
        short.to_string(),
        "the watch's window is 1 step(s) but must be at least 2"
    );
    let none = WatchConfig::builder().min_growth(0).build();
    assert_eq!(none.unwrap_err(), WatchConfigError::ZeroGrowth);
}

/// The watch on a multi-thread runtime, on the real clock (paused time needs a
/// current-thread runtime): leaking workers spawned from both worker threads land
/// on different registry shards, and the watch still flags their one site. Only
/// `eventually` bounds it in real time (a hang catcher, not a measurement).
#[test]
fn the_watch_flags_a_leak_spawned_from_every_worker_thread() {
    let rt = corral_test_support::multi_thread(2);
    rt.block_on(async {
        let watch = small_watch(Duration::from_millis(5), 3);
        let senders: Arc<Mutex<Vec<tokio::sync::mpsc::Sender<()>>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spawners: Vec<_> = (0..2)
            .map(|_| {
                let (senders, stop) = (senders.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
                        senders.lock().unwrap().push(tx);
                        Builder::new()
                            .name("mt-leak")
                            .spawn(async move { while rx.recv().await.is_some() {} });
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                })
            })
            .collect();
        corral_test_support::eventually_async("the watch flags the leak", || {
            let flagged = watch.flags().iter().any(|f| f.name() == Some("mt-leak"));
            async move { flagged }
        })
        .await;
        assert!(watch.flags().iter().all(|f| f.name() == Some("mt-leak")));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for s in spawners {
            s.await.unwrap();
        }
        senders.lock().unwrap().clear();
    });
}

/// A site with one long-lived task and a burst at the end of a window: it grew by
/// far more than the minimum and its oldest task aged through the window, but the
/// count rose in one step only, so it is churn, not a leak.
#[tokio::test(start_paused = true)]
async fn a_burst_beside_a_long_lived_task_is_not_flagged() {
    fn request(secs: u64) -> tokio::task::JoinHandle<()> {
        Builder::new()
            .name("handler")
            .spawn(tokio::time::sleep(Duration::from_secs(secs)))
    }
    let (watch, log) = EventLog::watch(WatchConfig::builder().runtime_only(true));
    let long = request(3600); // a long poll, alive throughout
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(55)).await;
        for _ in 0..200 {
            request(12);
        }
        tokio::time::sleep(Duration::from_secs(25)).await;
    }
    assert!(watch.samples() >= 80);
    assert!(log.events().is_empty(), "{:?}", log.events());
    assert_eq!(watch.suspected(), 0, "{:?}", watch.flags());
    long.abort();
}

#[test]
#[should_panic(expected = "timers are disabled")]
fn a_runtime_without_its_timer_panics_at_the_call() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let _watch = corral_task::watch(WatchConfig::default());
    });
}
