//! What every paired-rounds bench (`corral_*_paired.rs`) shares: its command line
//! (`--rounds N` and its own flags), the pairs it collects (a peer round and a corral
//! round, in alternating order) and the line it reports: each side's median with its
//! quartiles, and the median of the per-pair ratios corral/peer with its quartiles.

// Each bench includes this file with `#[path]` and uses only part of it.
#![allow(dead_code)]

use std::time::Duration;

/// `--rounds N` from the command line, or `default` when it is absent or not a number.
/// Other arguments (cargo bench passes `--bench`, and each bench has its own flags,
/// read with [`flag`]) are left alone.
pub(crate) fn rounds_arg(default: usize) -> usize {
    flag("--rounds")
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Whether the flag `name` (one without a value, e.g. `--interleave`) is on the command
/// line.
pub(crate) fn switch(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// The value after `name` on the command line (`--case mt2` gives `Some("mt2")`), if
/// `name` is there.
pub(crate) fn flag(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

/// The figures of paired rounds: one peer figure and one corral figure per pair, in
/// the same unit (time per round, per job, per grant...).
#[derive(Debug, Default)]
pub(crate) struct Pairs {
    peer: Vec<f64>,
    corral: Vec<f64>,
}

impl Pairs {
    /// Runs `warmup` unmeasured pairs, then `rounds` measured ones; each returns its
    /// round's figure. Pairs alternate their order (peer then corral, then corral then
    /// peer): a round can pay for what the round before it left behind (allocator
    /// state, a runtime's LIFO slot, cache lines on the other core), and on this VM that
    /// cost swung a round by 20-70% depending on which case ran before it (BENCHMARKS.md,
    /// the scope section), so each side follows the other in half the pairs.
    pub(crate) fn run(
        warmup: usize,
        rounds: usize,
        mut peer: impl FnMut() -> f64,
        mut corral: impl FnMut() -> f64,
    ) -> Self {
        for _ in 0..warmup {
            peer();
            corral();
        }
        let mut pairs = Self::default();
        for i in 0..rounds {
            let (p, c) = if i % 2 == 0 {
                let p = peer();
                (p, corral())
            } else {
                let c = corral();
                (peer(), c)
            };
            pairs.push(p, c);
        }
        pairs
    }

    /// Records one pair (for benches that time their rounds themselves, e.g. in async
    /// code).
    pub(crate) fn push(&mut self, peer: f64, corral: f64) {
        self.peer.push(peer);
        self.corral.push(corral);
    }

    /// The peer's figures: (25th, 50th, 75th percentile).
    pub(crate) fn peer(&self) -> (f64, f64, f64) {
        quartiles(self.peer.clone())
    }

    /// Corral's figures: (25th, 50th, 75th percentile).
    pub(crate) fn corral(&self) -> (f64, f64, f64) {
        quartiles(self.corral.clone())
    }

    /// The per-pair ratios corral / peer: (25th, 50th, 75th percentile).
    pub(crate) fn ratio(&self) -> (f64, f64, f64) {
        quartiles(self.zip(|p, c| c / p))
    }

    /// The per-pair differences peer - corral (positive: corral is faster):
    /// (25th, 50th, 75th percentile).
    pub(crate) fn difference(&self) -> (f64, f64, f64) {
        quartiles(self.zip(|p, c| p - c))
    }

    fn zip(&self, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        self.peer
            .iter()
            .zip(&self.corral)
            .map(|(&p, &c)| f(p, c))
            .collect()
    }
}

/// The unit a bench reports its figures in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unit {
    /// Its symbol, e.g. `"ms"`.
    pub name: &'static str,
    /// How many of it make a second.
    pub per_second: f64,
    /// Decimals printed for figures in it (ratios always get three).
    pub decimals: usize,
}

/// Milliseconds, two decimals.
pub(crate) const MS: Unit = Unit {
    name: "ms",
    per_second: 1e3,
    decimals: 2,
};

/// Microseconds, two decimals.
pub(crate) const US: Unit = Unit {
    name: "µs",
    per_second: 1e6,
    decimals: 2,
};

/// Nanoseconds, one decimal.
pub(crate) const NS: Unit = Unit {
    name: "ns",
    per_second: 1e9,
    decimals: 1,
};

impl Unit {
    /// `elapsed` per item in this unit, for a round of `items` (1: the whole round).
    pub(crate) fn per(self, elapsed: Duration, items: u64) -> f64 {
        elapsed.as_secs_f64() * self.per_second / items as f64
    }
}

/// How a bench labels its report lines.
pub(crate) struct Report {
    /// The peer's label, e.g. `"tokio"`.
    pub peer: &'static str,
    /// Corral's label, e.g. `"corral"`.
    pub corral: &'static str,
    /// The ratio's label, e.g. `"corral/tokio"`.
    pub ratio: &'static str,
    /// The figures' unit.
    pub unit: Unit,
    /// The width the case name is padded to, so the columns line up.
    pub width: usize,
}

impl Report {
    /// One line for the case `name`: `name  tokio 20.51 ms [20.1-21.0]  corral 22.40 ms
    /// [..]  corral/tokio 1.092x [1.071-1.103]` (median [quartiles] each).
    pub(crate) fn line(&self, name: &str, pairs: &Pairs) -> String {
        let Self {
            peer,
            corral,
            ratio,
            unit,
            width,
        } = *self;
        let (unit, d) = (unit.name, unit.decimals);
        let (p25, p50, p75) = pairs.peer();
        let (c25, c50, c75) = pairs.corral();
        let (r25, r50, r75) = pairs.ratio();
        format!(
            "{name:<width$} {peer} {p50:6.d$} {unit} [{p25:.d$}-{p75:.d$}]  \
             {corral} {c50:6.d$} {unit} [{c25:.d$}-{c75:.d$}]  \
             {ratio} {r50:.3}x [{r25:.3}-{r75:.3}]"
        )
    }

    /// Prints [`Report::line`].
    pub(crate) fn print(&self, name: &str, pairs: &Pairs) {
        println!("{}", self.line(name, pairs));
    }
}

/// The 25th, 50th and 75th percentiles of `v` (nearest rank). Panics on an empty `v`.
pub(crate) fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.25), at(0.5), at(0.75))
}
