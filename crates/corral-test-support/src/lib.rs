//! What corral's tests, benches and examples share, written once: a seeded random
//! generator ([`Rng`]), a gate a test opens ([`Latch`]), bounded condition waits
//! ([`eventually`], [`eventually_async`], [`eventually_blocking`]), a multi-thread
//! runtime for tests that drive their own ([`multi_thread`]) and a slow DNS server on
//! 127.0.0.1 with a blocking client for it ([`dns`]).
//!
//! This crate is internal and dev-only (`publish = false`): the corral crates take it
//! as a dev-dependency, and only the unpublished benches and examples take it as a
//! normal one. Its API may change with any commit.
//!
//! # When not to use this
//!
//! Outside corral's own workspace: reach for `rand`, `tokio::sync::Notify` and your
//! test framework's own helpers instead.
//!
//! # Examples
//!
//! ```
//! use corral_test_support::{eventually_blocking, Latch, Rng};
//!
//! let gate = Latch::new();
//! let worker = std::thread::spawn({
//!     let gate = gate.clone();
//!     move || {
//!         gate.wait(); // held here until the test opens the gate
//!         Rng(7).below(10)
//!     }
//! });
//! gate.open();
//! let drawn = worker.join().unwrap();
//! assert!(drawn < 10);
//! assert_eq!(drawn, Rng(7).below(10), "the same seed draws the same numbers");
//! eventually_blocking("the gate reads open", || gate.is_open());
//! ```

#![forbid(unsafe_code)]

pub mod dns;
mod eventually;
mod latch;
mod metrics;
mod rng;
mod runtime;

pub use eventually::{eventually, eventually_async, eventually_blocking, GIVE_UP};
pub use latch::{Latch, OpenOnDrop, Opened};
pub use metrics::TestRecorder;
pub use rng::Rng;
pub use runtime::multi_thread;
