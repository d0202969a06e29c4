//! Tracking must not make tokio allocate a bigger task: tokio rounds a task up to a
//! multiple of 128 bytes, so a wrapper of two words instead of one tips a no-op task
//! from 128 bytes to 256, and spawn + join gets about 1.2x slower from that alone.
//!
//! Its own test binary, because it installs a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Recording;

thread_local! {
    /// Sizes allocated on this thread while `RECORD` is on (tests run on parallel
    /// threads; each records only its own).
    static RECORD: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`; the thread-local bookkeeping
// allocates nothing (const-initialised `Cell`s).
unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = RECORD.try_with(|on| {
            if on.get() {
                LARGEST.with(|l| l.set(l.get().max(layout.size())));
            }
        });
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Recording = Recording;

/// The largest allocation `spawn` makes on this thread.
fn largest_allocation(spawn: impl FnOnce()) -> usize {
    LARGEST.with(|l| l.set(0));
    RECORD.with(|on| on.set(true));
    spawn();
    RECORD.with(|on| on.set(false));
    LARGEST.with(Cell::get)
}

#[test]
fn a_tracked_no_op_task_is_as_big_as_an_untracked_one() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        // Warm up both paths (thread-locals, the registry's first shard slots).
        tokio::spawn(async {}).await.unwrap();
        corral_task::spawn(async {}).await.unwrap();
        let x = std::hint::black_box(7usize);
        let mut handles = Vec::with_capacity(2);
        let plain = largest_allocation(|| handles.push(tokio::spawn(async move { x })));
        let tracked = largest_allocation(|| handles.push(corral_task::spawn(async move { x })));
        assert!(plain > 0 && tracked > 0, "each spawn allocates its task");
        assert_eq!(
            tracked, plain,
            "a tracked no-op task must fit tokio's cell for the untracked one"
        );
        for h in handles {
            assert_eq!(h.await.unwrap(), 7);
        }
    });
}
