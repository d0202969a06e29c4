//! Gradient2 (Netflix `Gradient2Limit`), backing off on drops.

use std::time::Duration;

use super::{Algorithm, Backoff, Guardrails, Sample};

/// Netflix's `Gradient2Limit`: compares each sample's latency with a long-run
/// exponential average (window 600 samples, the first 10 a plain mean) and sets
/// `limit = limit x gradient + queue_size`, smoothed, where
/// `gradient = clamp(tolerance x long / sample, 0.5, 1.0)`. Growth stops while the
/// limit is not in use (in flight under half of it); when the long average is over
/// twice the sample (latency back to normal after a long overload), it decays 5% per
/// sample.
///
/// Unlike the original, a drop (or a sample slower than [`timeout`](Self::timeout))
/// multiplies the limit by `backoff` (default 0.9), at most once per round trip:
/// without it, steady timeouts leave only fast samples and the limit creeps to its max
/// (Netflix concurrency-limits#137). A sample far slower than the timeout cuts deeper,
/// to `inflight x timeout / rtt`, at most halving per sample (see the
/// [module docs](crate::Algorithm)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral_tower::{Algorithm, Gradient2, Sample};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let mut g = Gradient2::new(50).guardrails(10, 400);
/// // Steady timeouts, one round trip apart: the limit goes to its floor, not its max.
/// for _ in 0..100 {
///     let admitted = tokio::time::Instant::now();
///     tokio::time::advance(Duration::from_millis(5)).await;
///     g.update(&Sample { rtt: Duration::from_millis(5), inflight: 50, dropped: true, admitted });
/// }
/// let admitted = tokio::time::Instant::now();
/// assert_eq!(g.update(&Sample { rtt: Duration::from_millis(5), inflight: 50, dropped: true, admitted }), 10);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Gradient2 {
    limit: f64,
    // As asked, so `guardrails` can clamp it again whatever the order of the calls.
    initial: u64,
    rails: Guardrails,
    smoothing: f64,
    tolerance: f64,
    queue_size: f64,
    timeout: Duration,
    long: ExpAvg,
    cuts: Backoff,
}

impl Gradient2 {
    /// Starts at `initial`, guardrails `[1, 1000]`, smoothing 0.2, tolerance 1.5,
    /// queue size 4, long window 600 samples (Netflix's defaults but the initial limit
    /// and the guardrails), backoff 0.9 on drops.
    pub fn new(initial: u64) -> Self {
        let rails = Guardrails::new(1, 1000);
        Gradient2 {
            limit: rails.clamp(initial as f64),
            initial,
            rails,
            smoothing: 0.2,
            tolerance: 1.5,
            queue_size: 4.0,
            timeout: Duration::MAX,
            long: ExpAvg::new(600, 10),
            cuts: Backoff::new(0.9),
        }
    }

    /// The limit never leaves `[min, max]` (`min` at least 1). The initial limit is the
    /// one given to `new`, clamped into these guardrails (not into the defaults first).
    pub fn guardrails(mut self, min: u64, max: u64) -> Self {
        self.rails = Guardrails::new(min, max);
        self.limit = self.rails.clamp(self.initial as f64);
        self
    }

    /// How much of a move toward the new estimate each sample makes, in `(0, 1]`.
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing.clamp(0.01, 1.0);
        self
    }

    /// How much slower than the long-run average a sample may be before the limit
    /// shrinks, at least 1.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance.max(1.0);
        self
    }

    /// Room for queueing added on top of `limit x gradient`.
    pub fn queue_size(mut self, queue_size: u64) -> Self {
        self.queue_size = queue_size as f64;
        self
    }

    /// The factor applied on a drop, clamped to `[0.5, 1.0)`.
    pub fn backoff(mut self, ratio: f64) -> Self {
        self.cuts = Backoff::new(ratio);
        self
    }

    /// A sample slower than this counts as a drop (default: none). Set it to the
    /// latency you can afford: it bounds the creep under lasting mild overload, where
    /// the long-run average absorbs the queueing and the gradient alone says "fine".
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl Algorithm for Gradient2 {
    fn initial_limit(&self) -> u64 {
        self.limit as u64
    }

    fn update(&mut self, sample: &Sample) -> u64 {
        if sample.dropped || sample.rtt > self.timeout {
            self.limit = self.cuts.cut(self.limit, &self.rails, sample, self.timeout);
            return self.limit as u64;
        }
        let short = secs(sample.rtt).max(1e-9);
        let mut long = self.long.add(short);
        if long / short > 2.0 {
            long = self.long.scale(0.95);
        }
        if (sample.inflight as f64) < self.limit / 2.0 {
            return self.limit as u64;
        }
        let gradient = (self.tolerance * long / short).clamp(0.5, 1.0);
        let estimate = self.limit * gradient + self.queue_size;
        let next = self.limit * (1.0 - self.smoothing) + estimate * self.smoothing;
        self.limit = self.rails.clamp(next);
        self.limit as u64
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// An exponential average over `window` samples, a plain mean for the first `warmup`.
#[derive(Debug, Clone)]
struct ExpAvg {
    value: f64,
    count: u32,
    window: u32,
    warmup: u32,
}

impl ExpAvg {
    fn new(window: u32, warmup: u32) -> Self {
        ExpAvg {
            value: 0.0,
            count: 0,
            window,
            warmup,
        }
    }

    fn add(&mut self, sample: f64) -> f64 {
        if self.count < self.warmup {
            self.count += 1;
            self.value += (sample - self.value) / f64::from(self.count);
        } else {
            let factor = 2.0 / (f64::from(self.window) + 1.0);
            self.value = self.value * (1.0 - factor) + sample * factor;
        }
        self.value
    }

    fn scale(&mut self, by: f64) -> f64 {
        self.value *= by;
        self.value
    }
}
