//! Trio's nursery tests (`trio/_core/_tests/test_run.py`), ported onto `corral_scope` as
//! a Trio user would map them: `open_nursery()` is [`scope`], `start_soon` is
//! [`Scope::go`], `nursery.cancel_scope.cancel()` is [`Scope::cancel`], an
//! `ExceptionGroup` of every failure is a scope built with
//! [`collect_errors`](corral_scope::ScopeBuilder::collect_errors), and "a cancelled task
//! ran its `except Cancelled` / `finally`" is "its future was dropped" (its destructors
//! ran), observed with a [`Probe`].
//!
//! Every test runs on a current-thread and on a multi-thread runtime; the race-prone
//! ones also run in seeded loops on the multi-thread runtime. Where corral's documented
//! contract differs from Trio on purpose, the test asserts corral's contract and says so.
//! Trio's `start`/`started` has no equivalent in corral and is not ported.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{on_both, seeded_multi_thread, seeded_yields, Boom, Probe};
use corral_scope::{scope, ChildError, Scope, ScopeConfig, ScopeError, SpawnError, TrySpawnError};
use corral_test_support::{eventually, Latch, OpenOnDrop, Rng};
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio_test::{assert_pending, assert_ready, task};

/// Trio's `sleep_forever` in a child or a body of a `Scope<Boom>`.
async fn sleep_forever() -> Result<(), Boom> {
    std::future::pending().await
}

/// A scope that keeps every error (Trio's `ExceptionGroup`).
fn collecting() -> ScopeConfig {
    ScopeConfig::builder()
        .collect_errors()
        .build()
        .expect("a valid config")
}

/// Ports Trio `test_child_crash_basic`, `test_nursery_main_block_error_basic` and
/// `test_nursery_explicit_exception`: the exception a child raises, or the nursery's own
/// block raises, is what leaves the nursery (the very object, not a copy).
///
/// Trio wraps it in an `ExceptionGroup` (strict exception groups); corral's default
/// scope yields the error itself as `ScopeError::Failed` (fail-fast, first error wins).
#[test]
fn trio_child_crash_basic_and_main_block_error() {
    on_both(|| async {
        let out = scope(|s| async move {
            s.go(async { Err::<(), _>(Boom(1)) });
            Ok(())
        })
        .await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(1))));

        let out = scope(|_s| async { Err::<(), _>(Boom(2)) }).await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(2))));
    });
}

/// Ports Trio `test_basic_interleave`: two children that each record three steps and
/// checkpoint between them run interleaved. Trio checks the record step by step on its
/// deterministic scheduler; tokio promises no such order, so the children meet at a
/// barrier after each step instead, which proves they run at the same time (children
/// run one after the other would never pass the first barrier), and the record then
/// has the same shape Trio checks: `{a0, b0}`, `{a1, b1}`, `{a2, b2}`.
#[test]
fn trio_basic_interleave() {
    on_both(|| async {
        let record = Arc::new(Mutex::new(Vec::new()));
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let shared = record.clone();
        let out = scope(move |s| async move {
            for who in ['a', 'b'] {
                let (record, barrier) = (shared.clone(), barrier.clone());
                s.go(async move {
                    for i in 0..3 {
                        record.lock().push((who, i));
                        barrier.wait().await;
                    }
                    Ok::<_, Boom>(())
                });
            }
            Ok(())
        })
        .await;
        assert_eq!(out, Ok(()));
        let record = record.lock().clone();
        for (i, step) in record.chunks(2).enumerate() {
            let mut step = step.to_vec();
            step.sort_unstable();
            assert_eq!(step, [('a', i), ('b', i)], "record {record:?}");
        }
    });
}

/// Ports Trio `test_task_crash_propagation`: a looper that checkpoints forever is
/// cancelled (and runs its cleanup) when a sibling crashes, and the crash leaves the
/// nursery. The crasher waits until the looper is running, as in Trio, where both have
/// started before the crash.
#[test]
fn trio_task_crash_propagation_cancels_the_looper() {
    async fn round(mut rng: Rng) {
        let probe = Probe::new();
        let looping = Latch::new();
        let looper = probe.watch({
            let looping = looping.clone();
            async move {
                looping.open();
                loop {
                    tokio::task::yield_now().await;
                }
                #[allow(unreachable_code)]
                Ok::<(), Boom>(())
            }
        });
        let out = scope(move |s| async move {
            s.go(looper);
            s.go(async move {
                looping.opened().await;
                seeded_yields(&mut rng).await;
                Err::<(), _>(Boom(3))
            });
            Ok(())
        })
        .await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(3))));
        assert_eq!(
            (probe.started(), probe.dropped()),
            (1, 1),
            "looper cancelled"
        );
    }
    on_both(|| round(Rng(0)));
    seeded_multi_thread(3_000, round);
}

/// Ports Trio `test_child_crash_wakes_parent`: a nursery body sleeping forever is woken
/// (and cancelled) by a child's crash, which leaves the nursery.
#[test]
fn trio_child_crash_wakes_parent() {
    on_both(|| async {
        let out = scope(|s| async move {
            s.go(async { Err::<(), _>(Boom(4)) });
            sleep_forever().await
        })
        .await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(4))));
    });
}

/// Ports Trio `test_two_child_crashes`: two children crash, and Trio raises both in one
/// `ExceptionGroup`.
///
/// corral documents two modes and this test holds both: the default scope is fail-fast
/// and "the first cause wins", so it yields exactly one of the two errors (whichever
/// arrived first; the other is dropped, or its child was cancelled before it ran); a
/// scope built with `collect_errors()` yields both, like Trio.
#[test]
fn trio_two_child_crashes() {
    async fn round() {
        let out = scope(|s| async move {
            s.go(async { Err::<(), _>(Boom(1)) });
            s.go(async { Err::<(), _>(Boom(2)) });
            Ok(())
        })
        .await;
        assert!(
            matches!(out, Err(ScopeError::Failed(Boom(1 | 2)))),
            "one of the errors: {out:?}"
        );

        let out = collecting()
            .scope(|s| async move {
                s.go(async { Err::<(), _>(Boom(1)) });
                s.go(async { Err::<(), _>(Boom(2)) });
                Ok(())
            })
            .await;
        let mut errors = out.expect_err("both children failed").into_errors();
        errors.sort_unstable_by_key(|e| e.0);
        assert_eq!(errors, [Boom(1), Boom(2)]);
    }
    on_both(round);
    seeded_multi_thread(1_000, |_| round());
}

/// Ports Trio `test_main_and_task_both_crash`: the nursery body raises after a child
/// crashed, and Trio raises both.
///
/// With `collect_errors()` corral yields both, in arrival order (the child's first: the
/// body waits for it). The default scope is fail-fast and the first cause wins: the
/// child's error alone is the result, and the body's later error is not reported.
///
/// Deliberate difference: Trio delivers the cancel at the body's next checkpoint, so
/// its body never runs past the crash. corral stops the body at the end of the poll in
/// which the cancel arrives (`Scope::cancel`'s docs); on a multi-thread runtime the
/// crasher can fail while that poll is still running, and the body then sees the
/// handle yield `ChildError::Failed` and runs on to its next `Pending` or its return.
#[test]
fn trio_main_and_task_both_crash() {
    async fn round() {
        let out = collecting()
            .scope(|s| async move {
                let crasher = s.go(async { Err::<(), _>(Boom(1)) });
                assert_eq!(crasher.await, Err(ChildError::Failed));
                Err::<(), _>(Boom(2))
            })
            .await;
        assert_eq!(out, Err(ScopeError::Errors(vec![Boom(1), Boom(2)])));

        let out = scope(move |s| async move {
            let crasher = s.go(async { Err::<(), _>(Boom(1)) });
            assert_eq!(crasher.await, Err(ChildError::Failed));
            Err::<(), _>(Boom(2))
        })
        .await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(1))));
    }
    on_both(round);
    seeded_multi_thread(1_000, |_| round());
}

/// Counts its drop after a short pause, so a scope that returned before the cleanup of
/// its cancelled children finished would be caught.
struct SlowCleanup(Arc<AtomicUsize>);

impl Drop for SlowCleanup {
    fn drop(&mut self) {
        for _ in 0..50 {
            std::thread::yield_now();
        }
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Ports the nursery rule behind Trio `test_task_crash_propagation` and
/// `test_cancel_inheritance` ("the nursery waits for all children, even after an
/// error"): when a child fails, the scope returns only after every cancelled sibling's
/// cleanup (its destructors) has run.
#[test]
fn trio_nursery_waits_for_every_cancelled_child_after_an_error() {
    async fn round(mut rng: Rng) {
        let cleaned = Arc::new(AtomicUsize::new(0));
        let siblings = 1 + rng.below(4) as usize;
        let counter = cleaned.clone();
        let out = scope(move |s| async move {
            for _ in 0..siblings {
                let guard = SlowCleanup(counter.clone());
                s.go(async move {
                    let _guard = guard;
                    sleep_forever().await
                });
            }
            s.go(async move {
                seeded_yields(&mut rng).await;
                Err::<(), _>(Boom(5))
            });
            Ok(())
        })
        .await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(5))));
        assert_eq!(
            cleaned.load(Ordering::SeqCst),
            siblings,
            "every cleanup ran first"
        );
    }
    on_both(|| round(Rng(2)));
    seeded_multi_thread(3_000, round);
}

/// Blocks in its destructor until its latch opens: a child holding it stays live, in
/// the middle of stopping, until the test lets it go.
struct SlowStop(Latch);

impl Drop for SlowStop {
    fn drop(&mut self) {
        self.0.wait();
    }
}

/// A scope config with a deadline for Trio's `test_basic_timeout` ports, on either
/// runtime: on the current-thread runtime the clock is paused and jumps, like Trio's
/// `MockClock`; the multi-thread runtime cannot pause its clock, so there the deadline
/// is short and the tests wait for it to pass (nothing asserts how long anything took).
fn with_deadline() -> (std::time::Duration, ScopeConfig) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let paused = Handle::current().runtime_flavor() == RuntimeFlavor::CurrentThread;
    if paused {
        tokio::time::pause();
    }
    let timeout = std::time::Duration::from_millis(if paused { 1_000 } else { 20 });
    let config = ScopeConfig::builder()
        .timeout(timeout)
        .build()
        .expect("valid");
    (timeout, config)
}

/// Ports Trio `test_basic_timeout`, first step: a scope that is done before its
/// deadline is not cancelled by it later (Trio: `not cancel_called` after the clock
/// jumps past it), even when its owner is next polled only after the deadline: here
/// the body returned, its child finished before the deadline, and the owner (like a
/// task not yet rescheduled on a loaded runtime) looks only once it has passed. The
/// work was done in time, so the body's value is the result, as with
/// `tokio::time::timeout`, whose ready value wins over an elapsed deadline.
///
/// Trio's third step (moving a running scope's deadline) has no counterpart: a scope's
/// deadline is fixed when it is created.
#[test]
fn trio_basic_timeout_work_done_in_time_is_not_cancelled_later() {
    on_both(|| async {
        let (timeout, config) = with_deadline();
        let (probe, gate) = (Probe::new(), Latch::new());
        let child = probe.watch({
            let gate = gate.clone();
            async move {
                gate.opened().await;
                Ok::<_, Boom>(())
            }
        });
        let mut handle = None;
        let mut owner = task::spawn(config.scope(|s| {
            handle = Some(s.clone());
            async move {
                s.go(child);
                Ok(5)
            }
        }));
        let handle = handle.expect("the closure ran");
        assert_pending!(owner.poll());
        gate.open();
        eventually("the child is gone", || handle.live_children() == 0).await;
        assert_eq!(probe.dropped(), 1);
        tokio::time::sleep(2 * timeout).await;
        assert_eq!(
            assert_ready!(owner.poll()),
            Ok(5),
            "done before the deadline"
        );
    });
}

/// Ports Trio `test_basic_timeout`, second step: a body sleeping forever past the
/// deadline is cancelled, with its child, and the scope says so (`DeadlineExceeded`,
/// Trio's `cancelled_caught`) once the child is down. Meanwhile the owner sleeps: its
/// own cancel may wake it once, but it does not wake itself at every poll while a
/// child takes its time to stop.
#[test]
fn trio_basic_timeout_cancels_the_sleeping_body_and_waits_quietly() {
    on_both(|| async {
        let (timeout, config) = with_deadline();
        let (probe, stopped) = (Probe::new(), Latch::new());
        // Opens `stopped` if an assertion fails, so the runtime's shutdown cannot hang.
        let _unblock = OpenOnDrop(stopped.clone());
        let guard = SlowStop(stopped.clone());
        let child = probe.watch(async move {
            let _guard = guard;
            sleep_forever().await
        });
        let mut owner = task::spawn(config.scope(move |s| async move {
            s.go(child);
            sleep_forever().await
        }));
        assert_pending!(owner.poll());
        tokio::time::sleep(2 * timeout).await;
        assert!(owner.is_woken(), "the deadline wakes the owner");
        assert_pending!(owner.poll());
        assert_pending!(owner.poll());
        assert!(
            !owner.is_woken(),
            "the owner wakes itself while the child stops"
        );
        stopped.open();
        eventually("the last child wakes the owner", || owner.is_woken()).await;
        assert_eq!(probe.dropped(), 1);
        assert_eq!(
            assert_ready!(owner.poll()),
            Err(ScopeError::DeadlineExceeded)
        );
    });
}

/// The background-child side of `trio_basic_timeout_work_done_in_time_is_not_cancelled_later`:
/// a body that returned `Ok` before the deadline, with only a background child left
/// (stopped when the body returns, not awaited: `ChildBuilder::background`), yields its
/// value even when that child is still stopping once the deadline has passed. Only the
/// multi-thread runtime can hold a child in the middle of stopping (its destructor
/// blocks a worker); on the current-thread runtime it would block the owner's thread.
#[test]
fn trio_basic_timeout_spares_a_body_done_in_time_while_background_children_stop() {
    corral_test_support::multi_thread(2).block_on(async {
        let (timeout, config) = with_deadline();
        let (probe, stopped) = (Probe::new(), Latch::new());
        let _unblock = OpenOnDrop(stopped.clone());
        let guard = SlowStop(stopped.clone());
        let monitor = probe.watch(async move {
            let _guard = guard;
            sleep_forever().await
        });
        let mut owner = task::spawn(config.scope(move |s| async move {
            s.child().background().go(monitor);
            Ok(5)
        }));
        assert_pending!(owner.poll());
        tokio::time::sleep(2 * timeout).await;
        assert_pending!(owner.poll());
        stopped.open();
        eventually("the monitor's end wakes the owner", || owner.is_woken()).await;
        assert_eq!(probe.dropped(), 1);
        assert_eq!(
            assert_ready!(owner.poll()),
            Ok(5),
            "the body was done in time"
        );
    });
}

/// Ports Trio `test_precancelled_task`: Trio starts a task spawned into an
/// already-cancelled nursery and cancels it at its first checkpoint (so it records
/// "started").
///
/// Deliberate difference: corral refuses a spawn into a cancelled group at once
/// (ARCHITECTURE.md: "refused at once, never silently detached or parked"). `go`
/// drops the future unstarted and its handle yields `Cancelled`; `spawn` and
/// `try_spawn` hand the future back. Nothing runs, and the cancel is level-triggered:
/// every later spawn is refused too (Trio `test_cancel_edge_cases`).
#[test]
fn trio_precancelled_task_is_never_started() {
    on_both(|| async {
        let probe = Probe::new();
        let (blocker, again, once_more) = (
            probe.forever::<()>(),
            probe.forever::<()>(),
            probe.forever::<()>(),
        );
        let out = scope(move |s| async move {
            s.cancel();
            s.cancel();
            assert_eq!(s.go(blocker).await, Err::<(), _>(ChildError::Cancelled));
            match s.spawn(again).await {
                Err(SpawnError::Closed(_)) => {}
                Ok(_) => panic!("spawned into a cancelled scope"),
            }
            match s.try_spawn(once_more) {
                Err(TrySpawnError::Closed(_)) => {}
                other => panic!("expected Closed, got {:?}", other.map(|_| ())),
            }
            Ok(())
        })
        .await;
        assert_eq!(out, Err(ScopeError::Cancelled));
        assert_eq!((probe.started(), probe.dropped()), (0, 3));
    });
}

/// Ports Trio `test_cancel_inheritance`: cancelling the outer nursery cancels the
/// leaves of nurseries opened inside its children. Trio's workers start even though
/// the outer nursery is cancelled right away (see `test_precancelled_task`); here the
/// outer body cancels once all four leaves are running, so the same four get
/// cancelled. The outer scope returns `Cancelled` only after every leaf is down.
#[test]
fn trio_cancel_inheritance_reaches_nested_scopes() {
    async fn round(mut rng: Rng) {
        let probe = Probe::new();
        let running = Arc::new(AtomicUsize::new(0));
        let all_running = Latch::new();
        let (leaves, gate) = (probe.clone(), all_running.clone());
        let out = scope(move |s| async move {
            for _ in 0..2 {
                let (probe, running, all) = (leaves.clone(), running.clone(), gate.clone());
                s.go(async move {
                    let inner = scope(move |n| async move {
                        for _ in 0..2 {
                            let (running, all) = (running.clone(), all.clone());
                            n.go(probe.watch(async move {
                                if running.fetch_add(1, Ordering::SeqCst) + 1 == 4 {
                                    all.open();
                                }
                                sleep_forever().await
                            }));
                        }
                        Ok(())
                    })
                    .await;
                    inner.map_err(|_| Boom(99))
                });
            }
            gate.opened().await;
            seeded_yields(&mut rng).await;
            s.cancel();
            sleep_forever().await
        })
        .await;
        assert_eq!(out, Err(ScopeError::Cancelled));
        assert_eq!((probe.started(), probe.dropped()), (4, 4));
    }
    on_both(|| round(Rng(3)));
    seeded_multi_thread(2_000, round);
}

/// Ports Trio `test_nursery_closure`: a child may add tasks to the nursery after the
/// body is done (Trio: "even after entering `__aexit__`, so long as there are still
/// tasks running"), and the nursery waits for them; once the nursery has exited,
/// spawning into it fails at once. corral: `spawn` hands the future back as
/// `SpawnError::Closed`, `go` drops it unstarted.
#[test]
fn trio_nursery_closure() {
    async fn round(mut rng: Rng) {
        let probe = Probe::new();
        let escaped = Arc::new(Mutex::new(None::<Scope<Boom>>));
        let (late, slot) = (probe.clone(), escaped.clone());
        let out = scope(move |s| async move {
            let handle = s.clone();
            s.go(async move {
                seeded_yields(&mut rng).await;
                handle.go(late.watch(async { Ok(()) }));
                *slot.lock() = Some(handle);
                Ok(())
            });
            Ok(())
        })
        .await;
        assert_eq!(out, Ok(()));
        assert_eq!(
            (probe.started(), probe.dropped()),
            (1, 1),
            "the late child ran"
        );

        let escaped = escaped.lock().take().expect("the child ran");
        assert!(escaped.is_closed());
        let late = probe.watch(async { Ok(()) });
        match escaped.spawn(late).await {
            Err(SpawnError::Closed(_)) => {}
            Ok(_) => panic!("spawned into a finished scope"),
        }
        assert_eq!(
            escaped.go(probe.watch(async { Ok(()) })).await,
            Err(ChildError::Cancelled)
        );
        assert_eq!(
            (probe.started(), probe.dropped()),
            (1, 3),
            "refused, never run"
        );
    }
    on_both(|| round(Rng(4)));
    seeded_multi_thread(3_000, round);
}

/// Ports Trio's `nursery.cancel_scope.cancel()` called from outside the nursery (the
/// pattern of `test_nursery_start_with_cancelled_nursery`) and `test_cancel_edge_cases`
/// (cancel twice is idempotent): another task holding the scope's handle cancels it;
/// the body sleeping forever and its children are cancelled, and the scope yields the
/// distinct `Cancelled`. Cancelling a finished scope does nothing.
#[test]
fn trio_cancel_scope_from_outside() {
    on_both(|| async {
        let probe = Probe::new();
        let child = probe.forever::<()>();
        let (tx, rx) = oneshot::channel();
        let owner = tokio::spawn(scope(move |s| async move {
            s.go(child);
            tx.send(s.clone()).expect("the test waits for the handle");
            sleep_forever().await
        }));
        let handle = rx.await.expect("the body sent its handle");
        assert!(!handle.is_cancelled());
        handle.cancel();
        handle.cancel();
        assert!(handle.is_cancelled());
        assert_eq!(owner.await.expect("no panic"), Err(ScopeError::Cancelled));
        assert_eq!(probe.dropped(), 1);
        assert!(handle.is_closed());
        assert_eq!(handle.live_children(), 0);
        handle.cancel();
    });
}

/// Ports Trio `test_task_nursery_stack`: an error raised in a nursery nested in another
/// leaves the inner nursery only; the outer one, which catches it, goes on. And the
/// crash propagation of `test_child_crash_basic` one level down: a panic in a child of
/// a nested scope reaches the outer owner, payload unchanged, after every task of both
/// groups is down.
#[test]
fn trio_nested_nursery_errors_and_panics() {
    async fn round() {
        let out = scope(|_outer| async move {
            let inner = scope(|_inner| async { Err::<(), _>(Boom(1)) }).await;
            assert_eq!(inner, Err(ScopeError::Failed(Boom(1))));
            Ok::<_, Boom>("outer goes on")
        })
        .await;
        assert_eq!(out, Ok("outer goes on"));

        let probe = Probe::new();
        let (outer_sibling, inner_sibling) = (probe.forever::<()>(), probe.forever::<()>());
        let payload = common::panic_of(scope(move |s| async move {
            s.go(outer_sibling);
            s.go(async move {
                scope(move |n| async move {
                    n.go(inner_sibling);
                    n.go(common::panics_with(Boom(77)));
                    sleep_forever().await
                })
                .await
                .map_err(|_| Boom(0))
            });
            sleep_forever().await
        }))
        .await;
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(77)));
        assert_eq!(
            probe.dropped(),
            2,
            "both siblings are down before the panic resumes"
        );
    }
    on_both(round);
    seeded_multi_thread(1_000, |_| round());
}

/// Where Trio and corral's `collect_errors()` part ways: a Trio nursery cancels the
/// other children at the first crash and groups the errors raised while they stop.
///
/// Deliberate difference (documented on `ScopeBuilder::collect_errors`): in a scope that
/// collects errors, a child's error does not cancel the group; the siblings, the body
/// and the token run on, and every error comes out in arrival order once all are done.
#[test]
fn trio_collecting_scope_lets_siblings_finish() {
    on_both(|| async {
        let out = collecting()
            .scope(|s| async move {
                let gate = Latch::new();
                let sibling = s.go({
                    let gate = gate.clone();
                    async move {
                        gate.opened().await;
                        Ok(10)
                    }
                });
                for i in 1..4 {
                    let crasher = s.go(async move { Err::<u32, _>(Boom(i)) });
                    assert_eq!(crasher.await, Err(ChildError::Failed));
                    assert!(!s.is_cancelled() && !s.token().is_cancelled());
                }
                gate.open();
                assert_eq!(sibling.await, Ok(10), "the sibling ran to completion");
                Ok(())
            })
            .await;
        assert_eq!(
            out,
            Err(ScopeError::Errors(vec![Boom(1), Boom(2), Boom(3)]))
        );
    });
}

/// A chain of `depth` nested scopes, each opened by a child of the one above; the
/// innermost child opens `leaf` and waits forever, holding `guard`.
fn nested_chain<G: Send + 'static>(depth: usize, leaf: Latch, guard: G) -> Chain {
    Box::pin(async move {
        if depth == 0 {
            let _guard = guard;
            leaf.open();
            return sleep_forever().await;
        }
        scope(move |s| async move {
            s.go(nested_chain(depth - 1, leaf, guard));
            sleep_forever().await
        })
        .await
        .map_err(|_| Boom(0))
    })
}

type Chain = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Boom>> + Send>>;

/// Panics (with a `Boom` payload) when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        common::quiet_boom_panics();
        std::panic::panic_any(Boom(42));
    }
}

/// Runs `test` on a current-thread and on a 2-worker multi-thread runtime whose
/// threads (the one polling the owner included) have small stacks, so that work
/// recursing once per nesting level overflows at a depth a real program can reach.
fn on_both_with_small_stacks<Fut: std::future::Future<Output = ()>>(
    test: impl Fn() -> Fut + Send + Sync + 'static,
) {
    const STACK: usize = 256 * 1024;
    let test = Arc::new(test);
    for multi_thread in [false, true] {
        let test = test.clone();
        let mut builder = if multi_thread {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        let runtime = builder
            .thread_stack_size(STACK)
            .enable_all()
            .build()
            .expect("a runtime");
        std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || runtime.block_on(test()))
            .expect("a thread")
            .join()
            .expect("the test passed");
    }
}

/// Ports Trio `test_very_deep_cancel_scope_nesting` (5,000 nested cancel scopes, once
/// a `RecursionError` when the outermost was cancelled): cancelling the outermost of
/// 10,000 nested scopes, each opened by a child of the one above, stops the chain and
/// yields `Cancelled`; and a panic from the innermost child's destructor, forwarded up
/// through every abandoned level, resumes at the top. Each level is its own task, so
/// nothing here needs a deep stack, on threads of 256 KiB.
#[test]
fn trio_very_deep_nesting_is_cancelled_without_deep_recursion() {
    const DEPTH: usize = 10_000;
    on_both_with_small_stacks(|| async {
        let leaf = Latch::new();
        let gate = leaf.clone();
        let out = scope(move |s| async move {
            s.go(nested_chain(DEPTH, leaf, ()));
            gate.opened().await;
            s.cancel();
            sleep_forever().await
        })
        .await;
        assert_eq!(out, Err(ScopeError::Cancelled));

        let leaf = Latch::new();
        let gate = leaf.clone();
        let payload = common::panic_of(scope(move |s| async move {
            s.go(nested_chain(DEPTH, leaf, PanicOnDrop));
            gate.opened().await;
            s.cancel();
            sleep_forever().await
        }))
        .await;
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(42)));
    });
}
