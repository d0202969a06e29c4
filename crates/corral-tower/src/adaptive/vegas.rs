//! Vegas (Netflix `VegasLimit`).

use std::time::Duration;

use super::{little_target, Algorithm, Guardrails, Sample};

/// Netflix's `VegasLimit`: estimates the queue as `limit x (1 - no_load_rtt / rtt)`,
/// where the no-load latency is the smallest seen. With `l = max(1, floor(log10(limit)))`: a queue of
/// at most `l` grows the limit by `6 l`, under `3 l` by `l`; over `6 l` shrinks it by
/// `l`, as does a drop. Growth stops while the limit is not in use (in flight under
/// half of it).
///
/// With a [`timeout`](Self::timeout), a sample slower than it moves the limit toward
/// the weight that would have answered in time (`inflight x timeout / rtt`, by Little's
/// law), at most halving per sample and never below that target, however many slow
/// answers the old limit sends back: the queue estimate alone cannot bound latency once
/// the no-load latency has been refreshed from a loaded sample.
///
/// The no-load latency is refreshed from a live sample every
/// `probe_multiplier x limit` samples (with jitter), so a lasting change in the
/// downstream is learnt; the probe never touches the limit (no burst is shed to
/// measure, unlike envoyproxy/envoy#8337).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral_tower::{Algorithm, Sample, Vegas};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut vegas = Vegas::new(20).guardrails(5, 500);
/// let admitted = tokio::time::Instant::now();
/// let fast = Sample { rtt: Duration::from_millis(20), inflight: 20, dropped: false, admitted };
/// vegas.update(&fast); // learns the no-load latency
/// assert!(vegas.update(&fast) > 20, "no queue: grows");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Vegas {
    limit: f64,
    // As asked, so `guardrails` can clamp it again whatever the order of the calls.
    initial: u64,
    rails: Guardrails,
    smoothing: f64,
    no_load: Option<Duration>,
    timeout: Duration,
    probe_multiplier: f64,
    probe_count: u64,
    probe_jitter: f64,
    rng: u64,
}

impl Vegas {
    /// Starts at `initial`, guardrails `[1, 1000]`, smoothing 1.0, probe multiplier 30
    /// (Netflix's defaults but the initial limit).
    pub fn new(initial: u64) -> Self {
        let rails = Guardrails::new(1, 1000);
        let mut vegas = Vegas {
            limit: rails.clamp(initial as f64),
            initial,
            rails,
            smoothing: 1.0,
            no_load: None,
            timeout: Duration::MAX,
            probe_multiplier: 30.0,
            probe_count: 0,
            probe_jitter: 1.0,
            rng: 0x9E37_79B9_7F4A_7C15,
        };
        vegas.reset_jitter();
        vegas
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

    /// A sample slower than this counts as a drop (default: none); see the type docs.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Refresh the no-load latency every `multiplier x limit` samples (jittered).
    pub fn probe_multiplier(mut self, multiplier: u32) -> Self {
        self.probe_multiplier = f64::from(multiplier.max(1));
        self
    }

    fn reset_jitter(&mut self) {
        // xorshift64: deterministic jitter in [0.5, 1.0), as Netflix's probe jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.probe_jitter = 0.5 + (self.rng >> 11) as f64 / (1u64 << 53) as f64 * 0.5;
    }
}

impl Algorithm for Vegas {
    fn initial_limit(&self) -> u64 {
        self.limit as u64
    }

    fn update(&mut self, sample: &Sample) -> u64 {
        self.probe_count += 1;
        if self.probe_jitter * self.probe_multiplier * self.limit <= self.probe_count as f64 {
            self.reset_jitter();
            self.probe_count = 0;
            self.no_load = Some(sample.rtt);
            return self.limit as u64;
        }
        let no_load = match self.no_load {
            Some(no_load) if sample.rtt >= no_load => no_load,
            _ => {
                self.no_load = Some(sample.rtt);
                return self.limit as u64;
            }
        };
        let limit = self.limit;
        // Netflix's Log10RootFunction: an integer log10, at least 1.
        let log = limit.log10().floor().max(1.0);
        let next = if sample.dropped {
            limit - log
        } else if let Some(target) = little_target(sample, self.timeout) {
            if target >= limit {
                // Slow because of weight admitted under an older, higher limit.
                return limit as u64;
            }
            target.max(limit * 0.5)
        } else if (sample.inflight as f64) * 2.0 < limit {
            return limit as u64;
        } else {
            let rtt = sample.rtt.as_secs_f64().max(1e-9);
            let queue = (limit * (1.0 - no_load.as_secs_f64() / rtt)).ceil();
            if queue <= log {
                limit + 6.0 * log
            } else if queue < 3.0 * log {
                limit + log
            } else if queue > 6.0 * log {
                limit - log
            } else {
                return limit as u64;
            }
        };
        let next = self.rails.clamp(next);
        self.limit = self
            .rails
            .clamp(limit * (1.0 - self.smoothing) + next * self.smoothing);
        self.limit as u64
    }
}
