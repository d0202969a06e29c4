//! The uncontended paths allocate nothing: checked with a counting global allocator.
//! This file is its own test binary; counts are per thread, so tests running in
//! parallel (and the harness) do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use corral_semaphore::{PollSemaphore, Semaphore};

struct Counting;

thread_local! {
    // `const` init: no lazy initialisation, so no allocation from inside `alloc`.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the slot may be gone while the thread is being torn down.
    let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: defers to `System` for every operation; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs_during(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(fut).poll(&mut cx)
}

#[test]
fn the_counter_sees_allocations() {
    assert_eq!(
        allocs_during(|| drop(std::hint::black_box(Box::new(7u64)))),
        1
    );
}

#[test]
fn uncontended_paths_do_not_allocate() {
    let sem = Arc::new(Semaphore::new(8));
    let mut poll_sem = PollSemaphore::new(Arc::clone(&sem));
    let mut cx = Context::from_waker(Waker::noop());
    let n = allocs_during(|| {
        for _ in 0..1000 {
            let Poll::Ready(Ok(p)) = poll_once(sem.acquire(3)) else {
                panic!("uncontended acquire must be ready")
            };
            drop(p);
            let Poll::Ready(Ok(p)) = poll_once(sem.acquire_owned(2)) else {
                panic!("uncontended acquire_owned must be ready")
            };
            drop(p);
            let mut p = sem.try_acquire(4).unwrap();
            let q = p.split(1).unwrap();
            p.merge(q);
            drop(p);
            drop(sem.try_acquire_owned(1).unwrap());
            let Poll::Ready(Ok(p)) = poll_sem.poll_acquire(&mut cx, 1) else {
                panic!("uncontended poll_acquire must be ready")
            };
            drop(p);
            #[cfg(feature = "tokio")]
            {
                let timeout = std::time::Duration::from_secs(1);
                let Poll::Ready(Ok(p)) = poll_once(sem.acquire_timeout(1, timeout)) else {
                    panic!("uncontended acquire_timeout must be ready")
                };
                drop(p);
                let Poll::Ready(Ok(p)) = poll_once(sem.acquire_owned_timeout(1, timeout)) else {
                    panic!("uncontended acquire_owned_timeout must be ready")
                };
                drop(p);
            }
        }
    });
    assert_eq!(n, 0, "uncontended acquire/release allocated {n} times");
}

#[test]
fn steady_waiting_reuses_slots() {
    // After the slab has grown to the peak number of waiters, waiting allocates nothing.
    let sem = Semaphore::new(1);
    let warm = |sem: &Semaphore| {
        let held = sem.try_acquire(1).unwrap();
        let mut futs = [sem.acquire(1), sem.acquire(1), sem.acquire(1)];
        let mut cx = Context::from_waker(Waker::noop());
        for f in &mut futs {
            assert!(std::pin::Pin::new(f).poll(&mut cx).is_pending());
        }
        drop(held);
        for f in &mut futs {
            let Poll::Ready(Ok(p)) = std::pin::Pin::new(f).poll(&mut cx) else {
                panic!("granted in order")
            };
            drop(p);
        }
    };
    warm(&sem);
    let n = allocs_during(|| {
        for _ in 0..100 {
            warm(&sem);
        }
    });
    assert_eq!(n, 0, "waiting with a warm slab allocated {n} times");
}
