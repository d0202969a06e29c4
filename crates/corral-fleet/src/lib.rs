//! A fleet-wide weighted FIFO semaphore on Redis (docs: see README section below).
#![forbid(unsafe_code)]

mod error;
mod local;
mod permit;
mod redis;
mod semaphore;

pub use crate::error::{
    AcquireError, AcquireTimeoutError, BuildError, ReleaseError, TryAcquireError, Unreachable,
};
pub use crate::permit::FleetPermit;
pub use crate::semaphore::{Acquire, Builder, FleetSemaphore, Status, DEFAULT_LEASE};
pub use tokio_util::sync::CancellationToken;

#[doc(hidden)]
pub mod test_server;
