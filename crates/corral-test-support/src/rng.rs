/// A seeded pseudo-random generator (splitmix64), so a stress run makes the same
/// choices every time and a failing seed can be replayed.
///
/// Every seed works, 0 included. Not for anything that needs unpredictability.
///
/// ```
/// use corral_test_support::Rng;
///
/// let mut rng = Rng(0x5eed);
/// let rolls: Vec<u64> = (0..4).map(|_| rng.below(6)).collect();
/// assert!(rolls.iter().all(|&roll| roll < 6));
/// let mut again = Rng(0x5eed);
/// assert_eq!(rolls, (0..4).map(|_| again.below(6)).collect::<Vec<_>>());
/// ```
#[derive(Debug, Clone)]
pub struct Rng(
    /// The state; the seed when constructed.
    pub u64,
);

impl Rng {
    /// The next 64 random bits.
    // Not an `Iterator`: the sequence never ends, and `Option` would only get in the way.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (modulo bias is negligible for the small `n` tests use).
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0): the range 0..0 is empty");
        self.next() % n
    }

    /// An index into a slice of `len` elements.
    ///
    /// # Panics
    ///
    /// If `len` is 0.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::Rng;

    #[test]
    fn splitmix64_reference_values() {
        // The first outputs for seed 1234567, from the reference implementation
        // (Vigna, https://prng.di.unimi.it/splitmix64.c).
        let mut rng = Rng(1_234_567);
        assert_eq!(rng.next(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next(), 3_203_168_211_198_807_973);
        assert_eq!(rng.next(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn seed_zero_is_not_stuck_and_below_stays_in_range() {
        let mut rng = Rng(0);
        let draws: Vec<u64> = (0..1_000).map(|_| rng.below(7)).collect();
        assert!(draws.iter().all(|&d| d < 7));
        // Every value of a small range shows up in 1,000 draws.
        for v in 0..7 {
            assert!(draws.contains(&v), "{v} never drawn");
        }
        let mut rng = Rng(0);
        assert!((0..100).all(|_| rng.index(3) < 3));
    }

    #[test]
    #[should_panic(expected = "Rng::below(0)")]
    fn below_zero_panics() {
        Rng(1).below(0);
    }
}
