//! Shared by the task benches (included with `#[path]`): pins glibc's heap.

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
