//! Wakers collected under a lock and woken after it is released.
//!
//! Every engine in corral decides under its lock who must run next and wakes them only
//! once the lock is dropped, so a woken task (possibly on another worker thread) never
//! finds the lock still held by its waker. [`WakeList`] is that sequence's one
//! container: lock, [`push`](WakeList::push) the wakers the state change released,
//! unlock, [`wake_all`](WakeList::wake_all).

use std::task::Waker;

/// How many wakers a [`WakeList`] holds without allocating. Small, because the array is
/// initialised every time a list is made (once per hand-off on the semaphore's hot path).
pub const INLINE: usize = 8;

/// Wakers to wake once a lock is released.
///
/// The first [`INLINE`] wakers live in the list itself; more spill into a `Vec`. A caller
/// that must never allocate (the semaphore's release) checks [`is_full`](Self::is_full)
/// and wakes in batches, releasing the lock between them; the others just push.
///
/// Dropping a list drops its wakers without waking them, so a panic between collecting
/// and waking loses those wake-ups: engines only run their own code in between.
#[derive(Debug, Default)]
pub struct WakeList {
    inline: [Option<Waker>; INLINE],
    len: usize,
    spill: Vec<Waker>,
}

impl WakeList {
    /// An empty list; allocates nothing.
    #[inline]
    pub const fn new() -> Self {
        WakeList {
            inline: [const { None }; INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    /// Adds `waker`, to be woken by [`wake_all`](Self::wake_all).
    #[inline]
    pub fn push(&mut self, waker: Waker) {
        if self.len < INLINE {
            self.inline[self.len] = Some(waker);
            self.len += 1;
        } else {
            self.spill.push(waker);
        }
    }

    /// Adds `waker` if there is one (a waiter that was never polled has none).
    #[inline]
    pub fn push_opt(&mut self, waker: Option<Waker>) {
        if let Some(waker) = waker {
            self.push(waker);
        }
    }

    /// Whether the inline part is full, so the next [`push`](Self::push) would allocate.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == INLINE
    }

    /// How many wakers are waiting to be woken.
    #[inline]
    pub fn len(&self) -> usize {
        self.len + self.spill.len()
    }

    /// Whether the list holds no waker.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Wakes every collected waker, in the order they were pushed, and empties the list
    /// (it can be filled again). Call it with no lock held.
    pub fn wake_all(&mut self) {
        let len = std::mem::take(&mut self.len);
        for slot in &mut self.inline[..len] {
            if let Some(waker) = slot.take() {
                waker.wake();
            }
        }
        for waker in self.spill.drain(..) {
            waker.wake();
        }
    }
}

impl Extend<Waker> for WakeList {
    fn extend<I: IntoIterator<Item = Waker>>(&mut self, iter: I) {
        for waker in iter {
            self.push(waker);
        }
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    /// Records its id in a shared log when woken.
    struct Recorder(usize, Arc<Mutex<Vec<usize>>>);

    impl Wake for Recorder {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[test]
    fn wakes_everything_in_push_order_past_the_inline_part() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut list = WakeList::new();
        for id in 0..INLINE * 3 {
            assert_eq!(list.is_full(), id >= INLINE);
            list.push(Waker::from(Arc::new(Recorder(id, log.clone()))));
        }
        list.push_opt(None);
        assert_eq!(list.len(), INLINE * 3);
        list.wake_all();
        assert!(list.is_empty());
        assert_eq!(list.len(), 0);
        assert_eq!(*log.lock().unwrap(), (0..INLINE * 3).collect::<Vec<_>>());
        // Reusable after waking.
        list.push(Waker::from(Arc::new(Recorder(99, log.clone()))));
        list.wake_all();
        assert_eq!(log.lock().unwrap().last(), Some(&99));
    }

    #[test]
    fn dropping_a_list_drops_its_wakers_unwoken() {
        struct Counted(Arc<AtomicUsize>);
        impl Wake for Counted {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let woken = Arc::new(AtomicUsize::new(0));
        let counted = Arc::new(Counted(woken.clone()));
        let waker = Waker::from(counted.clone());
        let mut list = WakeList::new();
        for _ in 0..INLINE + 2 {
            list.push(waker.clone());
        }
        drop(list);
        assert_eq!(woken.load(Ordering::Relaxed), 0);
        // Only `counted` and `waker` are left: every clone the list held was dropped.
        assert_eq!(Arc::strong_count(&counted), 2);
    }
}
