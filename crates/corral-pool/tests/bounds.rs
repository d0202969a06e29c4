//! `Send`/`Sync` bounds of the public types and futures.

use corral_pool::{
    AbortOnDrop, BoxJob, BuildError, Builder, Drain, DrainError, JobError, JobHandle, Metrics,
    Pool, ResizeError, Submit, SubmitError, SubmitTimeoutError, SubmitUntil, TrySubmitError,
};

fn send<T: Send>() {}
fn send_sync<T: Send + Sync>() {}

type Job = BoxJob<u32>;

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Pool<Job>>();
    send_sync::<Builder>();
    send_sync::<JobHandle<u32>>();
    send_sync::<AbortOnDrop<u32>>();
    send_sync::<Metrics>();
    send_sync::<BuildError>();
    send_sync::<ResizeError>();
    send_sync::<DrainError>();
    send::<JobError>();
    send::<TrySubmitError<Job>>();
    send::<SubmitError<Job>>();
    send::<SubmitTimeoutError<Job>>();
}

#[test]
fn futures_are_send() {
    send::<Submit<'static, Job>>();
    send::<SubmitUntil<'static, Job>>();
    send::<Drain<'static, Job>>();
    fn is_static<T: 'static>() {}
    is_static::<Submit<'static, Job>>();
    // Usable from a spawned task that shares the pool.
    fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
    let pool: std::sync::Arc<Pool<Job>> = std::sync::Arc::new(
        Builder::new()
            .workers(1)
            .build_on(
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("runtime")
                    .handle(),
            )
            .expect("valid"),
    );
    spawnable(async move {
        let h = pool.submit(Box::pin(async { 1 })).await;
        drop(h);
    });
}
