//! The three promises a failing group keeps, on the multi-thread runtime: nothing
//! escapes it (a nested scope opened while it fails is born cancelled and waited for),
//! every panic arrives (from a child's drop, from the body), and it arrives only once
//! the children are down.
//!
//! Each test makes the window deterministic with a latch rather than a sleep: a
//! destructor that must finish before the owner returns waits (bounded) for the owner
//! to say it returned. If the owner returned early, the destructor is still waiting when
//! the owner looks, so the early return is seen every run; if the owner waits, the
//! destructor gives up waiting after its bound and the owner finds it done.

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{assert_no_alive_tasks, Boom};
use corral_scope::{scope, Scope, ScopeError};

/// Set by the test once the owner returned; read by slow destructors.
#[derive(Clone, Default)]
struct Latch {
    owner_returned: Arc<AtomicBool>,
    created: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

/// A value whose destructor takes a while: it waits (up to ~`SLOW_DROP_MS` ms) for the
/// owner to return, then counts itself dropped.
struct SlowDrop(Latch);

const SLOW_DROP_MS: u32 = 50;

impl SlowDrop {
    fn new(latch: &Latch) -> Self {
        latch.created.fetch_add(1, SeqCst);
        SlowDrop(latch.clone())
    }
}

impl Drop for SlowDrop {
    fn drop(&mut self) {
        for _ in 0..SLOW_DROP_MS {
            if self.0.owner_returned.load(SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.0.dropped.fetch_add(1, SeqCst);
    }
}

impl Latch {
    /// The owner is back: how many slow values were created and how many were down.
    fn owner_back(&self) -> (usize, usize) {
        let seen = (self.created.load(SeqCst), self.dropped.load(SeqCst));
        self.owner_returned.store(true, SeqCst);
        seen
    }
}

/// Issue 12 #1. A child spins until its group is cancelled by a failing sibling, then
/// opens a nested scope whose child has a slow destructor. The nested scope must be
/// born cancelled (its body never runs, so it spawns nothing) and the parent must not
/// return while anything under it is alive. Before the fix the nested scope was created
/// open and unheld: its grandchild was still being dropped when the parent returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_scope_opened_while_parent_fails_is_born_cancelled_and_waited_for() {
    for round in 0..40 {
        let latch = Latch::default();
        let nested_body_ran = Arc::new(AtomicBool::new(false));
        let nested_result = Arc::new(parking_lot::Mutex::new(None));
        let (l, ran, res) = (
            latch.clone(),
            nested_body_ran.clone(),
            nested_result.clone(),
        );
        let (spinning_tx, spinning_rx) = tokio::sync::oneshot::channel::<()>();
        let out = scope(|s: Scope<Boom>| async move {
            let s2 = s.clone();
            s.go(async move {
                // Spin off the worker (`block_in_place` hands its queue to another
                // thread), so the failing sibling can run whatever worker it landed
                // on; the nested scope is still opened in the same poll as the spin.
                tokio::task::block_in_place(|| {
                    spinning_tx.send(()).expect("sibling waits");
                    while !s2.is_cancelled() {
                        std::hint::spin_loop();
                    }
                });
                let nested = scope(|n: Scope<Boom>| {
                    let (l, ran) = (l.clone(), ran.clone());
                    async move {
                        ran.store(true, SeqCst);
                        let slow = SlowDrop::new(&l);
                        n.go(async move {
                            let _slow = slow;
                            std::future::pending::<Result<(), Boom>>().await
                        });
                        std::future::pending::<Result<(), Boom>>().await
                    }
                })
                .await;
                *res.lock() = Some(nested);
                Ok(())
            });
            s.go(async move {
                spinning_rx.await.expect("spinner started");
                Err::<(), _>(Boom(1))
            });
            std::future::pending::<Result<(), Boom>>().await
        })
        .await;
        let (created, dropped) = latch.owner_back();
        assert_eq!(out, Err(ScopeError::Failed(Boom(1))), "round {round}");
        assert_eq!(
            created, dropped,
            "round {round}: the parent returned while a grandchild was alive"
        );
        assert!(
            !nested_body_ran.load(SeqCst),
            "round {round}: a nested scope created in a cancelled group ran its body"
        );
        assert_eq!(
            *nested_result.lock(),
            Some(Err(ScopeError::Cancelled)),
            "round {round}: the nested scope is born cancelled"
        );
    }
    assert_no_alive_tasks().await;
}

/// Issue 12 #2. A child whose destructor panics while the group cancels it (a sibling
/// failed): the panic resumes in the owner, once the other children are down. Before
/// the fix the scope returned `Failed` and the panic reached only stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_in_a_childs_drop_during_cancellation_resumes_in_the_owner() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    for round in 0..20 {
        let latch = Latch::default();
        let l = latch.clone();
        let owner = tokio::spawn(scope(|s: Scope<Boom>| async move {
            let (armed_tx, armed_rx) = tokio::sync::oneshot::channel::<()>();
            s.go(async move {
                let _bomb = PanicOnDrop;
                armed_tx.send(()).expect("body waits");
                std::future::pending::<Result<(), Boom>>().await
            });
            let slow = SlowDrop::new(&l);
            s.go(async move {
                let _slow = slow;
                std::future::pending::<Result<(), Boom>>().await
            });
            armed_rx.await.expect("armed");
            s.go(async { Err::<(), _>(Boom(1)) });
            std::future::pending::<Result<(), Boom>>().await
        }));
        let err = owner
            .await
            .expect_err("the drop's panic resumes in the owner");
        let (created, dropped) = latch.owner_back();
        assert_eq!(
            created, dropped,
            "round {round}: panic arrived before the rest were down"
        );
        let payload = err.into_panic();
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"drop boom"),
            "round {round}"
        );
    }
    assert_no_alive_tasks().await;
}

/// A child aborted through its handle whose destructor panics: the panic cancels the
/// group and resumes in the owner too (the future is dropped by the task, not by our
/// poll, in this path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_in_an_aborted_childs_drop_resumes_in_the_owner() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("abort drop boom");
        }
    }
    let owner = tokio::spawn(scope(|s: Scope<Boom>| async move {
        let (armed_tx, armed_rx) = tokio::sync::oneshot::channel::<()>();
        let child = s.go(async move {
            let _bomb = PanicOnDrop;
            armed_tx.send(()).expect("body waits");
            std::future::pending::<Result<(), Boom>>().await
        });
        armed_rx.await.expect("armed");
        child.abort();
        assert_eq!(child.await, Err(corral_scope::ChildError::Cancelled));
        std::future::pending::<Result<(), Boom>>().await
    }));
    let payload = owner.await.expect_err("resumed").into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"abort drop boom"));
    assert_no_alive_tasks().await;
}

/// Issue 12 #3. The body panics while four children with slow destructors run: the
/// owner sees the panic only once all four are down (Trio: cancel, wait, then raise).
/// Before the fix it saw the panic with none of them dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_panic_reaches_the_owner_only_after_the_children_are_down() {
    for round in 0..5 {
        let latch = Latch::default();
        let l = latch.clone();
        let caught = AssertUnwindSafe(async {
            let owner = tokio::spawn(scope(|s: Scope<Boom>| async move {
                let (up_tx, mut up_rx) = tokio::sync::mpsc::channel::<()>(4);
                for _ in 0..4 {
                    let (slow, up) = (SlowDrop::new(&l), up_tx.clone());
                    s.go(async move {
                        let _slow = slow;
                        up.send(()).await.expect("body waits");
                        std::future::pending::<Result<(), Boom>>().await
                    });
                }
                for _ in 0..4 {
                    up_rx.recv().await.expect("child up");
                }
                if round < 100 {
                    panic!("body boom");
                }
                Ok(())
            }));
            owner.await
        })
        .await;
        let (created, dropped) = latch.owner_back();
        let payload = caught.expect_err("the body's panic resumes").into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"body boom"));
        assert_eq!((created, dropped), (4, 4), "round {round}");
    }
    assert_no_alive_tasks().await;
}

/// A panic in the body's destructor, run when a child's failure cancels the group, is
/// a panic of the body: it resumes in the owner after the children are down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_in_the_bodys_drop_resumes_after_the_children_are_down() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("body drop boom");
        }
    }
    let latch = Latch::default();
    let l = latch.clone();
    let owner = tokio::spawn(scope(|s: Scope<Boom>| async move {
        let _bomb = PanicOnDrop;
        let slow = SlowDrop::new(&l);
        s.go(async move {
            let _slow = slow;
            std::future::pending::<Result<(), Boom>>().await
        });
        s.go(async { Err::<(), _>(Boom(1)) });
        std::future::pending::<Result<(), Boom>>().await
    }));
    let payload = owner.await.expect_err("resumed").into_panic();
    assert_eq!(latch.owner_back(), (1, 1));
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"body drop boom"));
    assert_no_alive_tasks().await;
}

/// A panic in the closure itself (before it returned the body's future) cannot wait:
/// there is no future yet to wait in. It propagates from `scope()` at once, and the
/// children the closure started are stopped, not left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_in_the_closure_stops_what_it_spawned() {
    let probe = common::Probe::new();
    let p = probe.clone();
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let _never_polled = scope(|s: Scope<Boom>| {
            s.go(p.forever::<()>());
            if true {
                panic!("closure boom");
            }
            async { Ok(()) }
        });
    }));
    assert!(caught.is_err());
    assert_no_alive_tasks().await;
    assert_eq!(probe.dropped(), 1);
}
