//! An unrelated endpoint: a task on the runtime under test that answers pings, and a
//! client on a plain OS thread that pings it every 2 ms and records round trips. When
//! a workload starves the runtime, this is the latency every other request sees.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// A running probe; [`UnrelatedEndpoint::stop`] returns the round trips it saw.
#[derive(Debug)]
#[must_use = "dropping the probe without stop() discards its latencies"]
pub struct UnrelatedEndpoint {
    stop: std_mpsc::Sender<()>,
    round_trips: Arc<Mutex<Vec<Duration>>>,
    client: JoinHandle<()>,
}

impl UnrelatedEndpoint {
    /// Starts the endpoint task on `runtime` and its client thread.
    pub fn start(runtime: &Handle) -> Self {
        let (pings, mut inbox) = mpsc::unbounded_channel::<std_mpsc::Sender<()>>();
        runtime.spawn(async move {
            while let Some(reply) = inbox.recv().await {
                let _ = reply.send(());
            }
        });
        let (stop, stopped) = std_mpsc::channel();
        let round_trips = Arc::new(Mutex::new(Vec::new()));
        let trips = round_trips.clone();
        let client = std::thread::Builder::new()
            .name("endpoint-client".into())
            .spawn(move || {
                // Ping first, then look at the stop flag: every probe has at least one
                // round trip, however early it is stopped.
                loop {
                    let (tx, rx) = std_mpsc::channel();
                    let start = Instant::now();
                    if pings.send(tx).is_err() || rx.recv().is_err() {
                        break;
                    }
                    let trip = start.elapsed();
                    trips.lock().unwrap_or_else(|e| e.into_inner()).push(trip);
                    if stopped.try_recv().is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                // Dropping `pings` ends the endpoint task.
            })
            .expect("spawn endpoint client thread");
        UnrelatedEndpoint {
            stop,
            round_trips,
            client,
        }
    }

    /// The 99th percentile round trip so far, while the probe goes on.
    pub fn p99_so_far(&self) -> Duration {
        let mut trips = self
            .round_trips
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        crate::percentile(&mut trips, 0.99)
    }

    /// Stops the client (the endpoint task ends with it) and returns the round trips.
    pub fn stop(self) -> Vec<Duration> {
        let _ = self.stop.send(());
        self.client.join().expect("endpoint client panicked");
        std::mem::take(&mut *self.round_trips.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stops the probe and returns the 99th percentile round trip.
    pub fn stop_p99(self) -> Duration {
        crate::percentile(&mut self.stop(), 0.99)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_measures_round_trips_and_ends_its_task() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let probe = UnrelatedEndpoint::start(rt.handle());
        let trips = probe.stop();
        assert!(!trips.is_empty());
        // The endpoint task ends once the client is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while rt.metrics().num_alive_tasks() != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(rt.metrics().num_alive_tasks(), 0);
    }
}
