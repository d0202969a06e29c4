//! What every corral crate shares, written once: the sync shim that loom swaps out, the
//! list that wakes tasks after a lock is released, a value padded to its own cache
//! lines, the error shape that hands a refused item back, the text of a panic payload,
//! and the sampler that picks which events to time (module `sample`); with the
//! `metrics` feature, the census tick's sources and the shares they publish with
//! (module `metrics`).
//!
//! This crate is internal. It is not re-exported by `corral`, its API may change with
//! any commit, and nothing outside this workspace should depend on it. It plays the part
//! tokio's private `loom` module plays for tokio: one place that decides, under
//! `--cfg corral_loom`, which atomics and locks the engines run on, so a loom model
//! exercises the same code that ships.
//!
//! ```
//! use corral_shared::sync::Mutex;
//! use corral_shared::wake::WakeList;
//!
//! let waiters = Mutex::new(vec![std::task::Waker::noop().clone()]);
//! let mut wakes = WakeList::new();
//! {
//!     // Collect under the lock...
//!     let mut list = waiters.lock();
//!     for waker in list.drain(..) {
//!         wakes.push(waker);
//!     }
//! }
//! // ...wake after it is released, so a woken task never contends for it.
//! assert_eq!(wakes.len(), 1);
//! wakes.wake_all();
//! assert_eq!(wakes.len(), 0);
//! ```

#![forbid(unsafe_code)]

mod error;
#[cfg(feature = "metrics")]
pub mod metrics;
mod pad;

mod panic;
pub mod sample;
pub mod sync;
pub mod wake;

pub use pad::CachePadded;
pub use panic::panic_message;
