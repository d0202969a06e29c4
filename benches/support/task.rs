//! Shared by the two task benches (included with `#[path]`): the workload, the
//! runtimes and the heap pinning, so both measure exactly the same thing.

use std::hint::black_box;

use tokio::runtime::Runtime;

/// The multi-thread runtime of the task benches: two workers, no I/O or time driver
/// (spawn + join needs neither).
pub(crate) fn mt2() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// The current-thread runtime of the task benches, no drivers.
pub(crate) fn ct() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Tasks spawned and joined per round.
pub(crate) const TASKS: usize = 100_000;

/// Spawns `n` no-op tasks with `tokio::spawn`, then joins them all.
pub(crate) async fn spawn_join_tokio(n: usize) {
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
    for h in handles {
        black_box(h.await.unwrap());
    }
}

/// The same through `corral_task::spawn`.
pub(crate) async fn spawn_join_corral(n: usize) {
    let handles: Vec<_> = (0..n)
        .map(|i| corral_task::spawn(async move { i }))
        .collect();
    for h in handles {
        black_box(h.await.unwrap());
    }
}

/// Stops glibc from trimming the heap or serving large blocks with `mmap`, so every
/// round of every case finds freed memory where the last one left it.
pub(crate) fn pin_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets two allocator parameters; it is called before any
        // runtime or bench thread exists, and both values are in range (glibc caps the
        // mmap threshold at 32 MiB on 64-bit targets).
        let ok = unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
                && libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
        };
        assert!(ok, "glibc refused to pin the heap");
    }
}
