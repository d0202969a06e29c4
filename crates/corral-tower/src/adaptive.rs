//! Adaptive limits: the algorithms of Netflix's concurrency-limits, with guardrails.
//!
//! Each algorithm sees one [`Sample`] per completed request (its latency, the weight
//! in flight when it was admitted, and whether it was a drop) and answers the new
//! limit, always within its `[min_limit, max_limit]` guardrails. [`LimitLayer`]
//! applies the answer to its semaphore at once: growing admits waiters, shrinking is
//! absorbed as permits come back.
//!
//! | algorithm | grows when | shrinks when | suits |
//! |---|---|---|---|
//! | [`Aimd`] | a sample succeeds with the limit in use | a drop, or a sample slower than its timeout | a known latency budget |
//! | [`Gradient2`] | latency stays within `tolerance` x its long-run average | latency rises beyond that, or a drop | no known budget, latency that drifts |
//! | [`Vegas`] | the estimated queue (from latency over the no-load latency) is short | it is long, a drop, or a sample slower than its optional timeout | a stable no-load latency |
//!
//! Failure modes of the originals that are avoided, and tested:
//!
//! - Netflix concurrency-limits#137: Gradient2 ignores drops, so under steady timeouts
//!   (only the fast answers are samples) its gradient stays 1 and the limit creeps to
//!   its max. Here every algorithm backs off on a drop, and [`Aimd`] and [`Gradient2`]
//!   take a `timeout` above which a sample counts as a drop ([`Vegas`] too, optionally).
//! - Gradient2 under mild, lasting overload: the long-run average absorbs the queueing
//!   delay, the gradient returns to 1 and the limit creeps to its max, latency with it
//!   (the brownout run shows it). A `timeout` (the latency you can afford, below the SLO)
//!   bounds the creep: past it, samples are drops.
//! - Backoff storms: cutting the limit on every drop cuts it once per request in
//!   flight when a downstream slows, down to the floor. Cuts here happen at most once
//!   per round trip (drops of requests admitted before the last cut are ignored).
//! - Slow recovery from a deep brownout: when the downstream's capacity falls to an
//!   eighth, a limit cut by 0.9 once per round trip needs some 20 round trips to get
//!   down, each longer than the last while the old limit's queue drains: seconds of
//!   answers past the SLO. A sample slower than the `timeout` also says how far over
//!   the limit is: by Little's law `inflight x timeout / rtt` would have answered in
//!   time, so the limit goes straight to that (at most halving per sample, so one
//!   outlier cannot floor it). The target is absolute, so the many slow answers of the
//!   old limit do not compound below it. The brownout run shows the difference
//!   (p99 back under the SLO within 1 s instead of 4 s).
//! - envoyproxy/envoy#8337: Envoy's gradient controller re-measures its minimum RTT by
//!   dropping the limit to a floor for a window, shedding every burst that lands in it.
//!   Nothing here lowers the limit to measure: Vegas refreshes its no-load latency from
//!   live samples, without touching the limit.
//!
//! [`LimitLayer`]: crate::LimitLayer

mod aimd;
mod gradient2;
mod vegas;

use std::fmt::Debug;
use std::time::Duration;

use tokio::time::Instant;

pub use self::aimd::Aimd;
pub use self::gradient2::Gradient2;
pub use self::vegas::Vegas;

/// One completed request, as an adaptive limit sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// From admission to the response.
    pub rtt: Duration,
    /// The weight in flight when the request was admitted, itself included.
    pub inflight: u64,
    /// Whether the response was classified [`Outcome::Dropped`](crate::Outcome::Dropped).
    pub dropped: bool,
    /// When the request was admitted (tokio's clock, so paused time applies).
    pub admitted: Instant,
}

/// An adaptive limit algorithm: [`Aimd`], [`Gradient2`], [`Vegas`], or your own.
pub trait Algorithm: Debug + Send + 'static {
    /// The limit before any sample.
    fn initial_limit(&self) -> u64;

    /// Takes one sample and returns the new limit (at least 1).
    fn update(&mut self, sample: &Sample) -> u64;
}

/// Multiplicative decrease at most once per round trip: a drop from a request admitted
/// before the last decrease was caused by the old limit, which is already cut. Without
/// this, the hundreds of requests in flight when a downstream slows each cut the limit
/// again, and it collapses to its floor.
///
/// A sample slower than the timeout also says how far over the limit is: when the
/// downstream queues, latency grows with the weight in flight, and by Little's law
/// `inflight x timeout / rtt` is the weight that would have answered within the timeout
/// ([`little_target`]). When that target is below the ordinary cut, the limit goes down
/// to it (at most halving per sample, so one outlier cannot floor it), whenever the
/// request was admitted: the target is absolute, so samples of the same old limit do not
/// compound below it. Otherwise the ordinary cut applies, once per round trip.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    ratio: f64,
    last: Option<Instant>,
}

impl Backoff {
    fn new(ratio: f64) -> Self {
        Backoff {
            ratio: ratio.clamp(0.5, 0.999),
            last: None,
        }
    }

    /// The limit after this drop (or slow sample, `timeout` being the latency allowed).
    fn cut(&mut self, limit: f64, rails: &Guardrails, sample: &Sample, timeout: Duration) -> f64 {
        let now = sample.admitted + sample.rtt;
        if let Some(target) = little_target(sample, timeout) {
            if target < limit * self.ratio {
                self.last = Some(self.last.map_or(now, |last| last.max(now)));
                return rails.clamp(target.max(limit * 0.5).floor());
            }
        }
        if self.last.is_some_and(|last| sample.admitted < last) {
            return limit;
        }
        self.last = Some(now);
        rails.clamp((limit * self.ratio).floor())
    }
}

/// For a successful sample slower than `timeout`: the weight in flight that would have
/// answered within it, `inflight x timeout / rtt` (Little's law, with the downstream
/// queueing). `None` for a drop (its latency says nothing) or a sample within the
/// timeout.
fn little_target(sample: &Sample, timeout: Duration) -> Option<f64> {
    (!sample.dropped && sample.rtt > timeout)
        .then(|| sample.inflight as f64 * timeout.as_secs_f64() / sample.rtt.as_secs_f64())
}

/// Guardrails shared by the algorithms: `[min, max]`, with `min >= 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Guardrails {
    min: f64,
    max: f64,
}

impl Guardrails {
    fn new(min: u64, max: u64) -> Self {
        let min = min.max(1);
        Guardrails {
            min: min as f64,
            max: max.max(min) as f64,
        }
    }

    fn clamp(&self, limit: f64) -> f64 {
        limit.clamp(self.min, self.max)
    }
}
