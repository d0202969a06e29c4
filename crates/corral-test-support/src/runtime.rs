/// A multi-thread tokio runtime with `workers` worker threads and every driver (time,
/// I/O) enabled: what a test or bench that drives its own runtime (outside
/// `#[tokio::test]`) runs on.
///
/// # Panics
///
/// If `workers` is 0, or the OS refuses the threads.
///
/// ```
/// let rt = corral_test_support::multi_thread(2);
/// assert_eq!(rt.block_on(async { tokio::spawn(async { 1 }).await.unwrap() }), 1);
/// ```
pub fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build a multi-thread tokio runtime")
}
