//! What the leak watch's test binaries share: a log of the watch's events and the seed
//! leak driven until the watch flags it.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_task::{Builder, Watch, WatchConfigBuilder, WatchEvent};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The events a watch reported, each with the time since the log was made (tokio's
/// clock, so paused time in most tests).
#[derive(Clone)]
pub(crate) struct EventLog {
    start: Instant,
    events: Arc<Mutex<Vec<(Duration, WatchEvent)>>>,
}

impl EventLog {
    /// Starts a watch with `builder`'s settings and an `on_event` that records into a
    /// new log, whose clock starts now (call it inside the runtime).
    pub(crate) fn watch(builder: WatchConfigBuilder) -> (Watch, EventLog) {
        let log = EventLog {
            start: Instant::now(),
            events: Arc::default(),
        };
        let recording = log.clone();
        let config = builder
            .on_event(move |e| {
                let at = recording.start.elapsed();
                recording.events.lock().unwrap().push((at, e.clone()));
            })
            .build()
            .unwrap();
        (corral_task::watch(config), log)
    }

    /// Every event so far with when it came, oldest first.
    pub(crate) fn events(&self) -> Vec<(Duration, WatchEvent)> {
        self.events.lock().unwrap().clone()
    }
}

/// The seed leak: a worker named `name`, parked on a channel nobody closes, spawned
/// every 20 ms (50 requests/s) until `watch` flags something. Returns the senders:
/// dropping them ends the workers. Bounded by `limit` on tokio's clock (a hang guard
/// under paused time).
pub(crate) async fn leak_until_flagged(
    watch: &Watch,
    name: &str,
    limit: Duration,
) -> Vec<mpsc::Sender<()>> {
    let start = Instant::now();
    let mut senders = Vec::new();
    while watch.suspected() == 0 {
        assert!(start.elapsed() < limit, "not flagged within {limit:?}");
        let (tx, mut rx) = mpsc::channel::<()>(1);
        senders.push(tx);
        Builder::new()
            .name(name)
            .spawn(async move { while rx.recv().await.is_some() {} });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    senders
}
