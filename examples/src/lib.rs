//! The corral examples as a library: the failure shapes the tour and the standalone
//! examples run ([`shapes`]), the tour's runner and table ([`tour`]), and the
//! measuring helpers both use: OS threads, resident memory and latency percentiles,
//! read from `/proc/self` where the platform has it, and an unrelated endpoint whose
//! latency shows what a workload does to everyone else on its runtime
//! ([`UnrelatedEndpoint`]).
//!
//! Every shape reproduces a failure with plain tokio, then shows corral preventing it;
//! one piece of code serves both the tour's cell and the standalone example, so the
//! numbers in the tour's table and in each example's richer report come from the same
//! workload, measured the same way.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// One field of `/proc/self/status` (for example `Threads` or `VmRSS`), as a number.
fn proc_status_field(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The number of OS threads in this process right now (0 where `/proc` is missing).
pub fn os_threads() -> u64 {
    proc_status_field("Threads").unwrap_or(0)
}

/// Resident memory of this process right now, in bytes (0 where `/proc` is missing).
pub fn rss_bytes() -> u64 {
    proc_status_field("VmRSS").map_or(0, |kib| kib * 1024)
}

/// Peaks observed by a [`Sampler`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peaks {
    /// Most OS threads seen at once.
    pub threads: u64,
    /// Most resident memory seen, in bytes.
    pub rss_bytes: u64,
    /// Largest value the sampler's extra probe returned (for example live tasks).
    pub probe: u64,
}

/// Samples threads, RSS and an optional probe on a plain OS thread every millisecond,
/// keeping the peaks, until [`Sampler::stop`].
#[derive(Debug)]
#[must_use = "dropping a Sampler without calling stop() loses its peaks"]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    threads: Arc<AtomicU64>,
    rss: Arc<AtomicU64>,
    probe: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling threads and RSS only.
    pub fn start() -> Self {
        Self::with_probe(|| 0)
    }

    /// Starts sampling threads, RSS and `probe()` (say, a live-task count).
    pub fn with_probe(probe: impl Fn() -> u64 + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = Arc::new(AtomicU64::new(0));
        let rss = Arc::new(AtomicU64::new(0));
        let probe_peak = Arc::new(AtomicU64::new(0));
        let handle = {
            let (stop, threads, rss, probe_peak) = (
                stop.clone(),
                threads.clone(),
                rss.clone(),
                probe_peak.clone(),
            );
            std::thread::Builder::new()
                .name("sampler".into())
                .spawn(move || loop {
                    // The sampler's own thread is not part of what is measured.
                    threads.fetch_max(os_threads().saturating_sub(1), Ordering::Relaxed);
                    rss.fetch_max(rss_bytes(), Ordering::Relaxed);
                    probe_peak.fetch_max(probe(), Ordering::Relaxed);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                })
                .expect("spawn sampler thread")
        };
        Sampler {
            stop,
            threads,
            rss,
            probe: probe_peak,
            handle: Some(handle),
        }
    }

    /// The peaks so far, while sampling goes on.
    pub fn peek(&self) -> Peaks {
        Peaks {
            threads: self.threads.load(Ordering::Relaxed),
            rss_bytes: self.rss.load(Ordering::Relaxed),
            probe: self.probe.load(Ordering::Relaxed),
        }
    }

    /// Stops sampling (after one last sample) and returns the peaks.
    pub fn stop(mut self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            handle.join().expect("sampler thread panicked");
        }
        Peaks {
            threads: self.threads.load(Ordering::Relaxed),
            rss_bytes: self.rss.load(Ordering::Relaxed),
            probe: self.probe.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The `p`-th percentile (0.0..=1.0) of `samples`, sorting them in place.
/// Returns `Duration::ZERO` for no samples.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((samples.len() - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize;
    samples[rank]
}

/// Formats a byte count as MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
pub mod endpoint;
pub mod production_view;
pub mod shapes;
pub mod tour;

pub use endpoint::UnrelatedEndpoint;
