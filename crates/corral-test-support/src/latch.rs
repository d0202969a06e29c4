use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A one-shot gate the test opens: threads [`wait`](Latch::wait) and tasks await
/// [`opened`](Latch::opened) until [`open`](Latch::open) is called, then pass at once
/// forever after. Clones share the gate.
///
/// A test holds work at a known point with it, instead of sleeping and hoping the work
/// got there: a blocking job parks its pool thread on `wait()`, an async child parks
/// its task on `opened().await`, and the test decides when they go on.
///
/// ```
/// use corral_test_support::Latch;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let gate = Latch::new();
/// let task = tokio::spawn({
///     let gate = gate.clone();
///     async move { gate.opened().await }
/// });
/// let thread = std::thread::spawn({
///     let gate = gate.clone();
///     move || gate.wait()
/// });
/// gate.open();
/// task.await.unwrap();
/// thread.join().unwrap();
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Latch(Arc<Inner>);

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    /// Blocking waiters sleep here.
    cv: Condvar,
}

#[derive(Default)]
struct State {
    open: bool,
    /// Async waiters, woken (and dropped) by `open`.
    wakers: Vec<Waker>,
}

impl Latch {
    /// A closed latch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the latch: every blocked thread and waiting task goes on, and later waits
    /// pass at once. Opening twice is harmless.
    pub fn open(&self) {
        let wakers = {
            let mut state = self.lock();
            state.open = true;
            std::mem::take(&mut state.wakers)
        };
        self.0.cv.notify_all();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether [`open`](Self::open) was called.
    pub fn is_open(&self) -> bool {
        self.lock().open
    }

    /// Blocks the calling thread until the latch is open.
    ///
    /// # Blocking
    ///
    /// Parks the thread; do not call it on an async runtime's worker (use
    /// [`opened`](Self::opened) there).
    pub fn wait(&self) {
        let mut state = self.lock();
        while !state.open {
            state = self
                .0
                .cv
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// A future that completes once the latch is open.
    ///
    /// # Cancel safety
    ///
    /// Dropping it loses nothing: the latch is untouched and a later `opened()` (or
    /// [`wait`](Self::wait)) sees it open.
    pub fn opened(&self) -> Opened {
        Opened(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread cannot leave `State` half-written (each write is one
        // field), so a poisoned lock still guards consistent data.
        self.0
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for Latch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latch")
            .field("open", &self.is_open())
            .finish()
    }
}

/// The future [`Latch::opened`] returns.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Opened(Latch);

impl Future for Opened {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.lock();
        if state.open {
            return Poll::Ready(());
        }
        // Registered once per distinct waker, so re-polling does not grow the list.
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Opens its latch when dropped, so a failing test never leaves work blocked on it
/// forever (which would hang the other tests sharing a pool or a runtime).
#[must_use = "dropping it opens the latch at once"]
#[derive(Debug)]
pub struct OpenOnDrop(pub Latch);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use tokio_test::{assert_pending, assert_ready, task};

    #[test]
    fn an_async_waiter_is_woken_by_open_and_later_waits_pass_at_once() {
        let gate = Latch::new();
        let mut first = task::spawn(gate.opened());
        let mut second = task::spawn(gate.opened());
        assert_pending!(first.poll());
        assert_pending!(first.poll()); // re-polling registers no second waker
        assert_pending!(second.poll());
        assert_eq!(gate.0.state.lock().unwrap().wakers.len(), 2);
        assert!(!gate.is_open());

        gate.open();
        assert!(first.is_woken() && second.is_woken());
        assert_ready!(first.poll());
        assert_ready!(second.poll());
        assert!(gate.0.state.lock().unwrap().wakers.is_empty());
        assert_ready!(task::spawn(gate.opened()).poll());
        gate.open(); // twice is harmless
        assert!(gate.is_open());
    }

    #[test]
    fn a_blocked_thread_goes_on_only_once_opened() {
        let gate = Latch::new();
        let passed = Arc::new(AtomicBool::new(false));
        let waiter = std::thread::spawn({
            let (gate, passed) = (gate.clone(), passed.clone());
            move || {
                gate.wait();
                passed.store(true, SeqCst);
            }
        });
        // The waiter cannot pass while closed, however long it runs; give it a chance.
        for _ in 0..100 {
            std::thread::yield_now();
        }
        assert!(!passed.load(SeqCst));
        drop(OpenOnDrop(gate.clone()));
        waiter.join().unwrap();
        assert!(passed.load(SeqCst));
        gate.wait(); // open: returns at once
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_and_threads_wait_on_one_latch() {
        let gate = Latch::new();
        let tasks: Vec<_> = (0..8).map(|_| tokio::spawn(gate.opened())).collect();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let gate = gate.clone();
                std::thread::spawn(move || gate.wait())
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(tasks.iter().all(|t| !t.is_finished()));
        gate.open();
        for t in tasks {
            t.await.unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
    }
}
