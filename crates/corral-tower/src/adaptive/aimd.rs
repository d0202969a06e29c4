//! AIMD: additive increase, multiplicative decrease (Netflix `AIMDLimit`).

use std::time::Duration;

use super::{Algorithm, Backoff, Guardrails, Sample};

/// Additive increase, multiplicative decrease, as Netflix's `AIMDLimit`: +1 per
/// successful sample while the limit is in use (in flight at least half of it),
/// `x backoff` (default 0.9) on a drop or a sample slower than `timeout`, at most once
/// per round trip. A sample far slower than `timeout` cuts deeper, to the weight in
/// flight that would have answered in time (`inflight x timeout / rtt`), at most
/// halving per sample (see the [module docs](crate::Algorithm)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corral_tower::{Aimd, Algorithm, Sample};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut aimd = Aimd::new(10).guardrails(5, 100).timeout(Duration::from_millis(100));
/// let admitted = tokio::time::Instant::now();
/// let ok = Sample { rtt: Duration::from_millis(20), inflight: 10, dropped: false, admitted };
/// assert_eq!(aimd.update(&ok), 11);
/// let dropped = Sample { dropped: true, ..ok };
/// assert_eq!(aimd.update(&dropped), 9);
/// // Another drop from a request admitted before that cut: no second cut.
/// assert_eq!(aimd.update(&dropped), 9);
/// // A slow answer says how far over the limit is: 10 in flight took 125 ms against a
/// // 100 ms timeout, so 8 would have made it.
/// let slow = Sample { rtt: Duration::from_millis(125), ..ok };
/// assert_eq!(aimd.update(&slow), 8);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: f64,
    // As asked, so `guardrails` can clamp it again whatever the order of the calls.
    initial: u64,
    rails: Guardrails,
    timeout: Duration,
    cuts: Backoff,
}

impl Aimd {
    /// Starts at `initial`, guardrails `[1, 1000]`, backoff 0.9, timeout 5 s (Netflix's
    /// defaults but the initial limit).
    pub fn new(initial: u64) -> Self {
        let rails = Guardrails::new(1, 1000);
        Aimd {
            limit: rails.clamp(initial as f64),
            initial,
            rails,
            timeout: Duration::from_secs(5),
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

    /// The factor applied on a drop, clamped to `[0.5, 1.0)`.
    pub fn backoff(mut self, ratio: f64) -> Self {
        self.cuts = Backoff::new(ratio);
        self
    }

    /// A sample slower than this counts as a drop (the SLO).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl Algorithm for Aimd {
    fn initial_limit(&self) -> u64 {
        self.limit as u64
    }

    fn update(&mut self, sample: &Sample) -> u64 {
        if sample.dropped || sample.rtt > self.timeout {
            self.limit = self.cuts.cut(self.limit, &self.rails, sample, self.timeout);
        } else if sample.inflight as f64 * 2.0 >= self.limit {
            self.limit = self.rails.clamp(self.limit + 1.0);
        }
        self.limit as u64
    }
}
