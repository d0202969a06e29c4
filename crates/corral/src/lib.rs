//! corral: make every bound in a concurrent tokio service explicit.
//!
//! This facade re-exports the corral family, each part behind a default-on feature.

#![forbid(unsafe_code)]

#[cfg(feature = "semaphore")]
#[doc(inline)]
pub use corral_semaphore as semaphore;

#[cfg(feature = "task")]
#[doc(inline)]
pub use corral_task as task;

#[cfg(feature = "task")]
pub use corral_task::{snapshot, spawn, Builder};

#[cfg(feature = "leak")]
#[doc(inline)]
pub use corral_leak as leak;

#[cfg(feature = "macros")]
pub use corral_macros::test;

#[doc(hidden)]
pub mod __private {
    pub use tokio;
}
