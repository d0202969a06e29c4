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

/// Says yes to each event with probability `1 / every` (1: every event, 0: none),
/// from its own seeded pseudo-random sequence (xorshift64). Not synchronised: it lives
/// where its owner already has exclusive access (under a lock, or `&mut`).
#[derive(Debug, Clone)]
pub struct Sampler {
    every: u32,
    /// `u64::MAX / every` (0 for `every == 0`): a draw at or below it selects the
    /// event. Computed once, so a draw divides nothing.
    below: u64,
    /// The xorshift64 state; never 0, so no draw is 0 and `every == 0` never selects.
    rng: u64,
}

/// The first state of every sampler: a fixed seed, so a test's draws are reproducible.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

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
            rng: SEED,
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
