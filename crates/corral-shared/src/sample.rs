//! [`Sampler`]: which events to time when timing every one costs too much.
//!
//! Timing an event costs two clock reads (25-40 ns each on a VM) and, with the
//! `metrics` feature, a histogram record; on a hot queue that is more than the queue
//! operation itself. So corral times a random sample: each event independently with
//! probability `1 / every`. The draw is a Bernoulli trial per event, not "every N-th
//! event": a counter by index locks onto any workload whose bursts have a period
//! dividing N (a burst of 1 running + 3 queued jobs sampled every 8th job always hits
//! the one that never waited), and a random draw does not. The mean of the sampled
//! values is then an unbiased estimate of the mean over all events, and the number of
//! samples is about `1 / every` of the events.
//!
//! Used by the pool's queue-wait statistics and the semaphore's acquire-wait histogram.
//!
//! ```
//! use corral_shared::sample::Sampler;
//!
//! let mut every = Sampler::new(1);
//! assert!((0..100).all(|_| every.sample()));
//! let mut never = Sampler::new(0);
//! assert!((0..100).all(|_| !never.sample()));
//! let mut one_in_8 = Sampler::new(8);
//! let hits = (0..8000).filter(|_| one_in_8.sample()).count();
//! assert!((800..1200).contains(&hits), "{hits}");
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

/// Says yes to each event with probability `1 / every` (1: every event, 0: none),
/// from its own pseudo-random sequence (xorshift64). Not synchronised: it lives
/// where its owner already has exclusive access (under a lock, or `&mut`).
///
/// Each sampler is seeded at its first draw from a process-wide sequence, so samplers
/// do not all pick the same events: with one fixed seed, every new pool or semaphore
/// skipped the same first events (at one in 64, the first 116), and a short-lived one
/// never sampled anything. [`new`](Self::new) stays `const` for `const` semaphores.
#[derive(Debug, Clone)]
pub struct Sampler {
    every: u32,
    /// `u64::MAX / every` (0 for `every == 0`): a draw at or below it selects the
    /// event. Computed once, so a draw divides nothing.
    below: u64,
    /// The xorshift64 state: 0 until the first draw seeds it ([`next_seed`]), never 0
    /// after, so no draw is 0 and `every == 0` never selects.
    rng: u64,
}

/// The process-wide sequence new samplers take their seeds from (one step each).
static SEEDS: AtomicU64 = AtomicU64::new(0);

/// A fresh, never-zero xorshift64 state: the next step of [`SEEDS`] through
/// SplitMix64's finaliser, so consecutive seeds are far apart.
#[cold]
fn next_seed() -> u64 {
    // Relaxed: only that each caller gets its own step matters; no other memory is
    // published through this counter.
    let mut z = SEEDS
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).max(1)
}

impl Sampler {
    /// A sampler selecting each event with probability `1 / every` (0: never).
    pub const fn new(every: u32) -> Self {
        let below = match u64::MAX.checked_div(every as u64) {
            Some(below) => below,
            None => 0,
        };
        Sampler {
            every,
            below,
            rng: 0,
        }
    }

    /// The rate given to [`new`](Self::new): one event in `every` is selected.
    pub const fn every(&self) -> u32 {
        self.every
    }

    /// Whether to time this event: one xorshift64 step and a compare.
    #[inline]
    pub fn sample(&mut self) -> bool {
        let mut x = self.rng;
        if x == 0 {
            x = next_seed();
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x <= self.below
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::Sampler;

    #[test]
    fn selects_about_one_in_every() {
        for every in [2u32, 3, 8, 100] {
            let mut s = Sampler::new(every);
            let n = 100_000;
            let hits = (0..n).filter(|_| s.sample()).count() as f64;
            let expect = f64::from(n) / f64::from(every);
            // 5 standard deviations of a binomial count.
            let sd = (expect * (1.0 - 1.0 / f64::from(every))).sqrt();
            assert!((hits - expect).abs() < 5.0 * sd, "every {every}: {hits}");
            assert_eq!(s.every(), every);
        }
    }

    /// Fresh samplers do not share a sequence: 4,000 of them drawing 16 events each at
    /// one in 64 select about 1,000 (with one fixed seed for all, the first selection
    /// was the 117th draw, so none).
    #[test]
    fn fresh_samplers_select_from_their_first_draws() {
        let hits: usize = (0..4_000)
            .map(|_| {
                let mut s = Sampler::new(64);
                (0..16).filter(|_| s.sample()).count()
            })
            .sum();
        // 1,000 expected, standard deviation 31.4.
        assert!((840..1160).contains(&hits), "{hits}");
    }

    #[test]
    fn rate_one_selects_all_and_zero_none() {
        let (mut all, mut none) = (Sampler::new(1), Sampler::new(0));
        for _ in 0..100_000 {
            assert!(all.sample());
            assert!(!none.sample());
        }
    }

    /// Bursts of 4 events: each position in the burst is selected about as often as
    /// the others (selecting every 8th event by index would pick position 0 of every
    /// other burst and nothing else).
    #[test]
    fn each_position_of_a_burst_is_selected_alike() {
        let mut s = Sampler::new(8);
        let mut by_position = [0u32; 4];
        for _ in 0..8_000 {
            for hits in &mut by_position {
                *hits += u32::from(s.sample());
            }
        }
        // 1,000 expected per position, standard deviation ~30.
        for hits in by_position {
            assert!((850..1150).contains(&hits), "{by_position:?}");
        }
    }
}
