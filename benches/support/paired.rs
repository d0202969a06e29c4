//! What every paired-rounds bench (`corral_*_paired.rs`) reports: the median of the
//! per-pair ratios with its quartiles.

/// The 25th, 50th and 75th percentiles of `v` (nearest rank). Panics on an empty `v`.
pub(crate) fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.25), at(0.5), at(0.75))
}
