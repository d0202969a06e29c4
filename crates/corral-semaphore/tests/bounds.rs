//! `Send`/`Sync`/`Unpin` bounds of the public types and futures.

use corral_semaphore::{
    Acquire, AcquireError, AcquireOwned, OwnedPermit, Permit, PollSemaphore, Semaphore,
    TryAcquireError,
};

fn send_sync<T: Send + Sync>() {}
fn send_sync_unpin<T: Send + Sync + Unpin>() {}
fn error<T: std::error::Error + Send + Sync + Copy + 'static>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Semaphore>();
    send_sync_unpin::<Permit<'static>>();
    send_sync_unpin::<OwnedPermit>();
    send_sync_unpin::<PollSemaphore>();
    send_sync_unpin::<Acquire<'static>>();
    send_sync_unpin::<AcquireOwned>();
    error::<AcquireError>();
    error::<TryAcquireError>();
    #[cfg(feature = "tokio")]
    {
        send_sync::<corral_semaphore::AcquireTimeout<'static>>();
        send_sync::<corral_semaphore::AcquireOwnedTimeout>();
        error::<corral_semaphore::AcquireTimeoutError>();
    }
}

#[test]
fn futures_of_async_methods_are_send() {
    fn send<T: Send>(_: &T) {}
    let sem = std::sync::Arc::new(Semaphore::new(1));
    send(&sem.acquire(1));
    send(&sem.acquire_owned(1));
    send(&async {
        let p = sem.acquire(1).await;
        drop(p);
    });
}
