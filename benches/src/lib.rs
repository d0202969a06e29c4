//! Criterion benches live in this crate's bench targets; this library is empty.
