//! The lock the registry takes; everything else comes from [`corral_shared::sync`].
//!
//! Outside loom, [`Mutex`] is the registry's spin lock ([`crate::spin`]); under loom it
//! is [`corral_shared::sync::Mutex`] (loom's), so the registry's models run on loom's
//! scheduler.

#[cfg(corral_loom)]
pub(crate) use corral_shared::sync::Mutex;
#[cfg(not(corral_loom))]
pub(crate) use crate::spin::SpinMutex as Mutex;
