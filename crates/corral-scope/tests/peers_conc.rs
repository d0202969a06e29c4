//! sourcegraph/conc's own tests (`pool/*_test.go`, `waitgroup_test.go`,
//! `panics/panics_test.go`, `stream/stream_test.go`, `iter/*_test.go`), ported onto
//! `corral_scope` as a Go user would map them.
//!
//! conc's pools are goroutine groups (every `Go` starts a goroutine, bounded by
//! `WithMaxGoroutines`, and `Wait` joins them all), so the matching primitive is a
//! scope, not `corral-pool`'s long-lived worker pool:
//!
//! | conc | corral |
//! |---|---|
//! | `pool.New()`, `conc.WaitGroup`, `Go`, `Wait` | [`scope`], [`Scope::go`](corral_scope::Scope::go), awaiting the scope |
//! | `WithMaxGoroutines(n)` | [`ScopeBuilder::limit`](corral_scope::ScopeBuilder::limit), `spawn(..).await` |
//! | `WithErrors()` (every error, no cancel) | [`ScopeBuilder::collect_errors`](corral_scope::ScopeBuilder::collect_errors) |
//! | `WithFirstError()` | `collect_errors()` then [`ScopeError::into_failed`] (the first that arrived) |
//! | `WithContext(ctx).WithFailFast()` | the default scope: the first error cancels the rest and is the result |
//! | the pool's `ctx` | [`Scope::token`](corral_scope::Scope::token) |
//! | a pool built on another pool's `ctx` | a scope nested in a child of the other |
//! | `NewWithResults[T]()` | [`Results`] (outputs in submission order) |
//! | a panic re-raised by `Wait` / `WaitAndRecover` | the scope resumes the payload in its owner |
//! | `stream.Stream` | children whose handles the body awaits in submission order |
//! | `iter.Map` | one child per element, joined by [`Results`] |
//!
//! Cases conc shares with errgroup, `JoinSet` and Trio (already ported in `peers.rs`
//! and `peers_trio.rs`: zero limit refused, deadline, cancel from outside, cancel
//! inheritance by nested scopes) are not repeated, except for what conc adds to them
//! (a cancelled child, nested or not, runs nothing past its await of the token, and
//! its destructors see the token cancelled). Every test runs on a current-thread
//! and a 2-worker multi-thread runtime; the race-prone ones also run seeded rounds on
//! the multi-thread one. Where corral's documented contract differs from conc on
//! purpose, the test asserts corral's and says so.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use common::{assert_no_alive_tasks, on_both, panic_of, seeded_multi_thread, seeded_yields, Boom};
use corral_scope::{
    scope, ChildError, ChildHandle, Results, ScopeConfig, ScopeError, SpawnError, TrySpawnError,
};
use corral_test_support::{eventually, Latch, Rng};
use tokio_test::{assert_pending, task};

/// Counts what is in flight now and the most ever seen at once (conc's tests keep a
/// `currentConcurrent` counter and fail when it passes the bound).
#[derive(Clone, Default)]
struct InFlight {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

/// Leaves the in-flight count when dropped, however the child ends.
struct Leave(Arc<AtomicUsize>);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

impl InFlight {
    fn enter(&self) -> Leave {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(now, SeqCst);
        Leave(self.now.clone())
    }

    fn now(&self) -> usize {
        self.now.load(SeqCst)
    }

    fn max(&self) -> usize {
        self.max.load(SeqCst)
    }
}

/// Counts drops: a child holding one was stopped (or finished) once it is counted.
#[derive(Clone, Default)]
struct Drops(Arc<AtomicUsize>);

struct DropMark(Arc<AtomicUsize>);

impl Drop for DropMark {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

impl Drops {
    fn mark(&self) -> DropMark {
        DropMark(self.0.clone())
    }

    fn count(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// A scope with a concurrency limit (`WithMaxGoroutines(limit)`).
fn limited(limit: u64) -> ScopeConfig {
    ScopeConfig::builder().limit(limit).build().expect("valid")
}

/// A scope that keeps every error (`WithErrors()`).
fn collecting() -> ScopeConfig {
    ScopeConfig::builder()
        .collect_errors()
        .build()
        .expect("valid")
}

/// conc's panics carry strings (`panic("super bad thing")`); keeps those this file
/// raises on purpose (they start with `conc:`) out of the test output.
fn quiet_conc_panics() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !text.is_some_and(|text| text.starts_with("conc:")) {
                previous(info);
            }
        }));
    });
}

/// A child that panics with `text`.
async fn panicking(text: &'static str) -> Result<(), Boom> {
    std::panic::panic_any(text)
}

/// The text of a `&str` or `String` panic payload.
fn text_of(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .expect("a string payload")
}

// ---------------------------------------------------------------------------------
// WithMaxGoroutines
// ---------------------------------------------------------------------------------

/// One `limit` case: the bound is reached (a spawn past it waits, `try_spawn` is
/// refused) and never exceeded over `10 * limit` children, whose outputs come back in
/// submission order.
async fn limit_is_reached_never_exceeded_and_ordered(limit: u64) {
    let flight = InFlight::default();
    let gate = Latch::new();
    let tasks = limit * 10;
    let out = limited(limit)
        .scope(|s| {
            let (flight, gate) = (flight.clone(), gate.clone());
            async move {
                let mut results = Results::new();
                // The first `limit` children hold their slot until the gate opens.
                for i in 0..limit {
                    let (flight, gate) = (flight.clone(), gate.clone());
                    let child = s.spawn(async move {
                        let _in = flight.enter();
                        gate.opened().await;
                        Ok::<_, Boom>(i)
                    });
                    results.push(child.await.expect("open"));
                }
                eventually("every slot in flight", || flight.now() == limit as usize).await;
                // At the bound: one more is refused now, and waits in `spawn`.
                let refused = s.try_spawn(async { Ok(u64::MAX) });
                assert!(matches!(refused, Err(TrySpawnError::Full(_))));
                let next = {
                    let flight = flight.clone();
                    async move {
                        let _in = flight.enter();
                        Ok(limit)
                    }
                };
                let mut waiting = task::spawn(s.spawn(next));
                assert_pending!(waiting.poll());
                assert_eq!(
                    flight.now(),
                    limit as usize,
                    "the waiting child has not started"
                );
                gate.open();
                results.push(waiting.await.expect("open"));
                // The rest finish in an order of their own (`i % 3` yields each).
                for i in limit + 1..tasks {
                    let flight = flight.clone();
                    let child = s.spawn(async move {
                        let _in = flight.enter();
                        for _ in 0..i % 3 {
                            tokio::task::yield_now().await;
                        }
                        Ok(i)
                    });
                    results.push(child.await.expect("open"));
                }
                results.join().await.map_err(|_| Boom(0))
            }
        })
        .await;
    assert_eq!(
        out.expect("no child failed"),
        (0..tasks).collect::<Vec<_>>(),
        "limit {limit}: outputs in submission order"
    );
    assert_eq!(
        flight.max(),
        limit as usize,
        "limit {limit}: reached, never exceeded"
    );
    assert_eq!(flight.now(), 0, "limit {limit}: nothing left in flight");
}

/// Ports conc `TestPool/limit`, `TestErrorPool/limit`, `TestContextPool/limit`,
/// `TestResultGroup/limit`, `TestResultErrorPool/limit` and
/// `TestResultContextPool/limit` (limits 1, 10 and 100, ten times as many tasks; the
/// result pools also check the outputs come back in submission order), with
/// `ExamplePool`. conc's tasks sleep a millisecond to overlap; here the first `limit`
/// children are held on a latch, so the test proves the bound is reached (one more
/// spawn waits, `try_spawn` says `Full`) as well as never exceeded.
#[test]
fn conc_limit_is_reached_never_exceeded_and_results_stay_in_order() {
    on_both(|| async {
        for limit in [1, 10, 100] {
            limit_is_reached_never_exceeded_and_ordered(limit).await;
        }
        assert_no_alive_tasks().await;
    });
}

/// The seeded side of `conc_limit_is_reached_never_exceeded_and_results_stay_in_order`:
/// under a random limit, children that finish in a random order (seeded yields) never
/// exceed it, and their outputs still come back in submission order.
#[test]
fn conc_limit_and_result_order_hold_under_seeded_interleavings() {
    seeded_multi_thread(400, |mut rng: Rng| async move {
        let seed = rng.0;
        let limit = 1 + rng.below(6);
        let flight = InFlight::default();
        let out = limited(limit)
            .scope(|s| {
                let flight = flight.clone();
                async move {
                    let mut results = Results::new();
                    for i in 0..40u64 {
                        let flight = flight.clone();
                        let mut rng = Rng(seed * 1_000 + i);
                        let child = s.spawn(async move {
                            let _in = flight.enter();
                            seeded_yields(&mut rng).await;
                            Ok::<_, Boom>(i)
                        });
                        results.push(child.await.expect("open"));
                    }
                    results.join().await.map_err(|_| Boom(0))
                }
            })
            .await;
        assert_eq!(
            out.expect("no child failed"),
            (0..40).collect::<Vec<_>>(),
            "seed {seed}"
        );
        assert!(
            flight.max() <= limit as usize,
            "seed {seed}: {} > {limit}",
            flight.max()
        );
        assert_eq!(flight.now(), 0, "seed {seed}");
    });
}

/// Ports conc iter `TestIterator` "allows more than defaultMaxGoroutines() concurrent
/// tasks": with a bound of 2 x the default (here 2 x the runtime's workers, and 64),
/// every task is in flight at once: each waits until the last one has started, which
/// would hang if fewer ran at once than the bound. Also unlimited.
#[test]
fn conc_every_child_up_to_the_limit_runs_at_once() {
    async fn all_at_once(config: ScopeConfig, want: usize) {
        let flight = InFlight::default();
        let all_in = Latch::new();
        let out = config
            .scope(|s| {
                let (flight, all_in) = (flight.clone(), all_in.clone());
                async move {
                    for _ in 0..want {
                        let (flight, all_in) = (flight.clone(), all_in.clone());
                        let child = s.spawn(async move {
                            let _in = flight.enter();
                            if flight.now() == want {
                                all_in.open();
                            }
                            all_in.opened().await;
                            Ok::<_, Boom>(())
                        });
                        drop(child.await.expect("open"));
                    }
                    Ok(())
                }
            })
            .await;
        assert_eq!(out, Ok(()));
        assert_eq!(flight.max(), want);
    }
    on_both(|| async {
        all_at_once(limited(4), 4).await;
        all_at_once(limited(64), 64).await;
        all_at_once(ScopeConfig::default(), 64).await;
        assert_no_alive_tasks().await;
    });
}

/// Ports conc `TestPool` "panics do not exhaust goroutines" (`WithMaxGoroutines(2)`,
/// ten tasks that all panic: `Wait` panics rather than hanging) with "propagate panic"
/// and `TestErrorPool` "propagates panics" (one of ten panics).
///
/// corral: the first panic cancels the group and closes its limit, so the spawner
/// waiting for a slot is refused (`SpawnError::Closed`, future handed back) instead of
/// waiting for slots the panicking children held; the scope then resumes the payload,
/// unchanged, once every child is down. Unlike conc, whose remaining tasks all run
/// (and all panic), the children not yet admitted are never started.
/// With `WithErrors` (`collect_errors()`), the panic still stops the group and wins
/// over the errors collected so far.
#[test]
fn conc_panics_do_not_exhaust_the_limit() {
    async fn round(mut rng: Rng) {
        let seed = rng.0;
        let started = Arc::new(AtomicUsize::new(0));
        let counted = started.clone();
        let yields = rng.below(3);
        let payload = panic_of(limited(2).scope(move |s| async move {
            for _ in 0..10 {
                let started = counted.clone();
                let child = s.spawn(async move {
                    started.fetch_add(1, SeqCst);
                    for _ in 0..yields {
                        tokio::task::yield_now().await;
                    }
                    std::panic::panic_any(42u64);
                    #[allow(unreachable_code)]
                    Ok::<(), Boom>(())
                });
                // Refused once a panic has cancelled the group (unless the body is
                // dropped first, at the end of its poll).
                if let Err(SpawnError::Closed(_)) = child.await {
                    break;
                }
            }
            Ok::<_, Boom>(())
        }))
        .await;
        assert_eq!(payload.downcast_ref::<u64>(), Some(&42), "seed {seed}");
        let started = started.load(SeqCst);
        assert!(
            (1..=10).contains(&started),
            "seed {seed}: {started} started"
        );
    }
    on_both(|| async {
        for seed in 0..20 {
            round(Rng(seed)).await;
        }
        assert_no_alive_tasks().await;
        // One panic among ten unlimited children: its payload comes out.
        let payload = panic_of(scope(|s| async move {
            for i in 0..10u64 {
                s.go(async move {
                    if i == 5 {
                        std::panic::panic_any(i);
                    }
                    Ok::<(), Boom>(())
                });
            }
            Ok(())
        }))
        .await;
        assert_eq!(payload.downcast_ref::<u64>(), Some(&5));
        // `WithErrors` too: in a scope that collects errors, the panic still stops the
        // group and wins over the errors (`scope`'s docs), whichever came first.
        for error_first in [true, false] {
            let payload = panic_of(collecting().scope(move |s| async move {
                let failed = s.go(async { Err::<(), _>(Boom(1)) });
                if error_first {
                    assert_eq!(failed.await, Err(ChildError::Failed));
                }
                s.go(common::panics_with(5u64));
                s.go(std::future::pending::<Result<(), Boom>>());
                Ok(())
            }))
            .await;
            assert_eq!(payload.downcast_ref::<u64>(), Some(&5));
        }
        assert_no_alive_tasks().await;
    });
    seeded_multi_thread(500, round);
}

// ---------------------------------------------------------------------------------
// WaitGroup, panics.Catcher
// ---------------------------------------------------------------------------------

/// Ports conc `TestWaitGroup` ("all spawned run", and every "panic" case), the
/// `WaitGroup` and `WaitAndRecover` examples, and panics `TestCatcher` "is goroutine
/// safe": catching what the awaited scope resumes plays `WaitAndRecover`, and the value
/// is the very payload (`"super bad thing"`, a `&str`); of two panics one comes out
/// ("one is propagated"); children that return normally never overwrite it; a child
/// that finished before the panic keeps its effect ("non-panics run successfully").
///
/// Deliberate difference: conc runs every goroutine to the end whatever panics; a
/// corral panic cancels the group, so a sibling not yet finished is stopped at its next
/// await (`scope`'s docs). Here the panicking child first waits for its siblings'
/// handles, so both counted before the panic, as in conc's test.
#[test]
fn conc_wait_group_panics_reach_the_waiter_with_their_payload() {
    on_both(|| async {
        quiet_conc_panics();
        // All spawned run.
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let out = scope(|s| async move {
            for _ in 0..100 {
                let count = counted.clone();
                s.go(async move {
                    count.fetch_add(1, SeqCst);
                    Ok::<(), Boom>(())
                });
            }
            Ok(())
        })
        .await;
        assert_eq!((out, count.load(SeqCst)), (Ok(()), 100));

        // Is propagated, with its value.
        let payload = panic_of(scope(|s| async move {
            s.go(panicking("conc: super bad thing"));
            Ok::<_, Boom>(())
        }))
        .await;
        assert_eq!(text_of(&*payload), "conc: super bad thing");

        // One of two is propagated.
        let payload = panic_of(scope(|s| async move {
            s.go(panicking("conc: super bad thing"));
            s.go(panicking("conc: super badder thing"));
            Ok::<_, Boom>(())
        }))
        .await;
        let text = text_of(&*payload);
        assert!(
            text == "conc: super bad thing" || text == "conc: super badder thing",
            "{text}"
        );

        // Non-panics do not overwrite the panic.
        let payload = panic_of(scope(|s| async move {
            s.go(panicking("conc: super bad thing"));
            for _ in 0..10 {
                s.go(async { Ok(()) });
            }
            Ok::<_, Boom>(())
        }))
        .await;
        assert_eq!(text_of(&*payload), "conc: super bad thing");

        // Non-panics that finished first keep their effects.
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let payload = panic_of(scope(|s| async move {
            let bump = || {
                let count = counted.clone();
                async move {
                    count.fetch_add(1, SeqCst);
                    Ok::<(), Boom>(())
                }
            };
            let (a, b) = (s.go(bump()), s.go(bump()));
            s.go(async move {
                let _ = (a.await, b.await);
                panicking("conc: super bad thing").await
            });
            Ok(())
        }))
        .await;
        assert_eq!(text_of(&*payload), "conc: super bad thing");
        assert_eq!(count.load(SeqCst), 2);

        // panics.Catcher "is goroutine safe": one of 100 panics, its value comes out.
        let payload = panic_of(scope(|s| async move {
            for i in 0..100 {
                s.go(async move {
                    if i == 50 {
                        std::panic::panic_any(String::from("conc: 50"));
                    }
                    Ok::<(), Boom>(())
                });
            }
            Ok(())
        }))
        .await;
        assert_eq!(text_of(&*payload), "conc: 50");
        assert_no_alive_tasks().await;
    });
}

// ---------------------------------------------------------------------------------
// WithContext, WithCancelOnError, WithFailFast, WithFirstError
// ---------------------------------------------------------------------------------

/// The children of conc's `WithCancelOnError` tests: `waiters` siblings that wait for
/// the context to be done (and would then return), and one that ends the group,
/// through `end`, once every waiter is waiting.
#[derive(Clone)]
struct CancelOnError {
    waiting: Arc<AtomicUsize>,
    returned: Arc<AtomicUsize>,
    dropped: Drops,
    token_seen: Arc<AtomicUsize>,
}

impl CancelOnError {
    fn new() -> Self {
        Self {
            waiting: Arc::default(),
            returned: Arc::default(),
            dropped: Drops::default(),
            token_seen: Arc::default(),
        }
    }

    /// Runs a scope of limit 4 with `waiters` waiting siblings and one child that
    /// ends the group with `end` once they all wait.
    async fn run<End>(&self, waiters: usize, end: End) -> Result<(), ScopeError<Boom>>
    where
        End: std::future::Future<Output = Result<(), Boom>> + Send + 'static,
    {
        let (waiting, returned, dropped, seen) = (
            self.waiting.clone(),
            self.returned.clone(),
            self.dropped.clone(),
            self.token_seen.clone(),
        );
        let body_seen = self.token_seen.clone();
        limited(4)
            .scope(|s| async move {
                for _ in 0..waiters {
                    let token = s.token();
                    let (waiting, returned, mark) =
                        (waiting.clone(), returned.clone(), dropped.mark());
                    let seen = seen.clone();
                    // Sees the token cancelled from its destructor: the cancel reached
                    // it before it was stopped.
                    let watch = TokenOnDrop(s.token(), seen);
                    let waiter = s.spawn(async move {
                        let _mark = mark;
                        let _watch = watch;
                        cancelled(&token, &waiting).await;
                        returned.fetch_add(1, SeqCst);
                        Ok::<(), Boom>(())
                    });
                    drop(waiter.await.expect("open"));
                }
                let ender = s.spawn(async move {
                    eventually("every waiter waiting", || waiting.load(SeqCst) == waiters).await;
                    end.await
                });
                drop(ender.await.expect("open"));
                // The body waits too, and is stopped with the waiters.
                let _watch = TokenOnDrop(s.token(), body_seen);
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
    }

    fn assert_stopped_at_their_await(&self, waiters: usize, seed: u64) {
        assert_eq!(
            self.dropped.count(),
            waiters,
            "seed {seed}: every waiter stopped"
        );
        assert_eq!(
            self.token_seen.load(SeqCst),
            waiters + 1,
            "seed {seed}: the token was cancelled before the waiters and the body were stopped"
        );
        assert_eq!(
            self.returned.load(SeqCst),
            0,
            "seed {seed}: a stopped child runs nothing past its await"
        );
    }
}

/// Waits for `token`, counting itself in `waiting` once its first poll has returned
/// `Pending`: from then on a cancel can only stop it at its next poll (the crate
/// docs), whereas a cancel during that first poll could let it through. Returns
/// whether it had waited (been `Pending`) before the token was found cancelled.
async fn cancelled(token: &tokio_util::sync::CancellationToken, waiting: &AtomicUsize) -> bool {
    let cancelled = token.cancelled();
    tokio::pin!(cancelled);
    let mut counted = false;
    std::future::poll_fn(|cx| {
        let poll = cancelled.as_mut().poll(cx);
        if poll.is_pending() && !counted {
            counted = true;
            waiting.fetch_add(1, SeqCst);
        }
        poll
    })
    .await;
    counted
}

/// Records, when dropped, whether its token was cancelled by then.
struct TokenOnDrop(tokio_util::sync::CancellationToken, Arc<AtomicUsize>);

impl Drop for TokenOnDrop {
    fn drop(&mut self) {
        if self.0.is_cancelled() {
            self.1.fetch_add(1, SeqCst);
        }
    }
}

/// Ports conc `ExampleContextPool_WithCancelOnError` (`WithMaxGoroutines(4)`, task 2
/// fails, the others wait for `ctx.Done()`), `TestContextPool` "WithCancelOnError" and
/// "WithFailFast", and `TestResultContextPool`'s two: the first error cancels the
/// siblings, which observe it (their token is cancelled before they are dropped), and
/// `Wait` returns that error.
///
/// corral's default scope is conc's `WithFailFast`: the result is the first error alone
/// (`ErrorIs(err1)`, `NotErrorIs(context.Canceled)`). Deliberate difference from plain
/// `WithCancelOnError`, whose siblings return `ctx.Err()` and add `Canceled` to the
/// joined error: a corral child waiting at an await when the group is cancelled is
/// dropped there (the crate docs, "How children are stopped"), so it returns nothing
/// and nothing after its await runs; what it observes is its token and its
/// destructors. A child that cannot be stopped at an await, checking the token in a
/// loop, returns its own error, which the first one outranks:
/// `conc_cancel_on_error_a_busy_sibling_sees_the_token`.
#[test]
fn conc_cancel_on_error_stops_the_waiting_siblings() {
    async fn round(seed: u64) {
        let run = CancelOnError::new();
        let out = run.run(2, async { Err(Boom(2)) }).await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(2))), "seed {seed}");
        run.assert_stopped_at_their_await(2, seed);
    }
    on_both(|| async {
        round(0).await;
        assert_no_alive_tasks().await;
    });
    seeded_multi_thread(300, |rng| round(rng.0));
}

/// Ports conc `TestContextPool` and `TestResultContextPool` "WithCancelOnError and
/// panic": two siblings wait on the context and one panics; `Wait` panics, and both
/// siblings were cancelled by then (conc counts them as they return `ctx.Err()`; here
/// they are dropped at their await with their token cancelled, before the panic resumes
/// in the owner).
#[test]
fn conc_cancel_on_error_and_panic() {
    async fn round(seed: u64) {
        let run = CancelOnError::new();
        // `panic_of` needs a `'static` future: it runs on a clone of the counters.
        let counters = run.clone();
        let payload = panic_of(async move {
            counters
                .run(2, async {
                    std::panic::panic_any(Boom(7));
                    #[allow(unreachable_code)]
                    Ok(())
                })
                .await
        })
        .await;
        assert_eq!(
            payload.downcast_ref::<Boom>(),
            Some(&Boom(7)),
            "seed {seed}"
        );
        run.assert_stopped_at_their_await(2, seed);
    }
    on_both(|| async {
        round(0).await;
        assert_no_alive_tasks().await;
    });
    seeded_multi_thread(300, |rng| round(rng.0));
}

/// The busy-sibling side of `conc_cancel_on_error_stops_the_waiting_siblings` (conc's
/// siblings `return ctx.Err()`): a child in a loop that never awaits cannot be dropped
/// at an await, so it watches the token, sees the cancel and returns its own error;
/// the first error stays the result and the late one is not reported. 100 rounds,
/// multi-thread only: on a current-thread runtime the busy child would hold the only
/// thread.
#[test]
fn conc_cancel_on_error_a_busy_sibling_sees_the_token() {
    // Every round's owner on the test's thread: a task woken from a worker goes to
    // that worker's LIFO slot, where nothing can steal it while the busy child spins
    // there. The failing sibling is spawned from the owner once the busy one spins.
    corral_test_support::multi_thread(2).block_on(async {
        for seed in 0..100 {
            let spinning = Latch::new();
            let saw_cancel = Arc::new(AtomicUsize::new(0));
            let (spun, saw) = (spinning.clone(), saw_cancel.clone());
            let out = scope(|s| async move {
                let token = s.token();
                s.go(async move {
                    spun.open();
                    // Blocking code, as tokio wants it: the worker's other tasks move
                    // to another thread meanwhile.
                    tokio::task::block_in_place(|| {
                        let start = std::time::Instant::now();
                        while !token.is_cancelled() {
                            assert!(
                                start.elapsed() < corral_test_support::GIVE_UP,
                                "the token was never cancelled"
                            );
                            std::thread::yield_now();
                        }
                    });
                    saw.fetch_add(1, SeqCst);
                    Err::<(), _>(Boom(99))
                });
                spinning.opened().await;
                s.go(async { Err::<(), _>(Boom(1)) });
                Ok(())
            })
            .await;
            assert_eq!(out, Err(ScopeError::Failed(Boom(1))), "seed {seed}");
            assert_eq!(saw_cancel.load(SeqCst), 1, "seed {seed}");
        }
    });
}

/// How a `context_cancel_reaches_the_children` round stops its scope.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// conc's parent `ctx` cancelled: the caller stops waiting for the scope (a
    /// `select!` on its own token), which drops it.
    ParentCancelled,
    /// `context.WithTimeout`: the scope's deadline.
    TimedOut,
    /// `cancel()` of the pool's own context: `Scope::cancel`.
    Cancelled,
}

/// Ports conc `TestContextPool` "context error propagates" ("canceled", "timed out")
/// and `TestResultContextPool` "context cancel propagates": tasks waiting on the
/// pool's context see it done when the parent context is cancelled or times out.
///
/// corral has no parent context to pass in; a caller's own cancel drops the scope's
/// future (here a `select!` on the caller's token), a timeout is the scope's deadline,
/// and `Scope::cancel` stops it by hand (each yields its distinct outcome, or none for
/// the dropped scope). In all three the children waiting on the scope's token are
/// stopped with it cancelled: their destructors see it so, on every interleaving
/// (seeded rounds). conc's "return before timed out" (a task done before the deadline
/// leaves `Wait` without error) is Trio's `test_basic_timeout`, ported in
/// `peers_trio.rs`.
#[test]
fn conc_context_cancel_reaches_the_children() {
    async fn round(stop: Stop, seed: u64) {
        let waiting = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(0));
        let dropped = Drops::default();
        let config = match stop {
            Stop::TimedOut => ScopeConfig::builder()
                .timeout(std::time::Duration::from_millis(1))
                .build()
                .expect("valid"),
            Stop::ParentCancelled | Stop::Cancelled => ScopeConfig::default(),
        };
        let parent = tokio_util::sync::CancellationToken::new();
        let (w, sn, d, p) = (
            waiting.clone(),
            seen.clone(),
            dropped.clone(),
            parent.clone(),
        );
        let scoped = config.scope(|s| async move {
            for _ in 0..3 {
                let (token, watch, mark, waiting) = (
                    s.token(),
                    TokenOnDrop(s.token(), sn.clone()),
                    d.mark(),
                    w.clone(),
                );
                s.go(async move {
                    let (_watch, _mark) = (watch, mark);
                    cancelled(&token, &waiting).await;
                    Ok::<(), Boom>(())
                });
            }
            eventually("every child waiting", || w.load(SeqCst) == 3).await;
            match stop {
                Stop::ParentCancelled => p.cancel(),
                Stop::Cancelled => s.cancel(),
                Stop::TimedOut => {}
            }
            std::future::pending::<()>().await;
            Ok(())
        });
        let out = tokio::select! {
            out = scoped => Some(out),
            () = parent.cancelled() => None,
        };
        match (stop, out) {
            (Stop::ParentCancelled, None)
            | (Stop::TimedOut, Some(Err(ScopeError::DeadlineExceeded)))
            | (Stop::Cancelled, Some(Err(ScopeError::Cancelled))) => {}
            (stop, out) => panic!("seed {seed}: {stop:?} ended as {out:?}"),
        }
        // A dropped scope aborts its children without waiting for them.
        eventually("every child dropped", || dropped.count() == 3).await;
        assert_eq!(
            seen.load(SeqCst),
            3,
            "seed {seed}: {stop:?}: token live in a destructor"
        );
    }
    on_both(|| async {
        for stop in [Stop::ParentCancelled, Stop::TimedOut, Stop::Cancelled] {
            round(stop, 0).await;
        }
        assert_no_alive_tasks().await;
    });
    seeded_multi_thread(300, |mut rng| async move {
        let seed = rng.0;
        let stop = [Stop::ParentCancelled, Stop::TimedOut, Stop::Cancelled][rng.index(3)];
        round(stop, seed).await;
    });
}

/// A chain of `depth` scopes nested one in a child of the other; the innermost runs
/// three token waiters (see [`cancelled`]) that count themselves in `waiting`, count
/// in `ran_on` what runs past their await, and check the token in their destructor.
fn nested_waiters(
    depth: usize,
    waiting: Arc<AtomicUsize>,
    ran_on: Arc<AtomicUsize>,
    seen: Arc<AtomicUsize>,
    dropped: Drops,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Boom>> + Send>> {
    Box::pin(async move {
        let out = scope(|s| async move {
            if depth == 0 {
                for _ in 0..3 {
                    let (token, waiting, ran_on) = (s.token(), waiting.clone(), ran_on.clone());
                    let (watch, mark) = (TokenOnDrop(s.token(), seen.clone()), dropped.mark());
                    s.go(async move {
                        let (_watch, _mark) = (watch, mark);
                        cancelled(&token, &waiting).await;
                        ran_on.fetch_add(1, SeqCst);
                        Ok::<(), Boom>(())
                    });
                }
            } else {
                s.go(nested_waiters(depth - 1, waiting, ran_on, seen, dropped));
            }
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
        out.map_err(|_| Boom(9))
    })
}

/// Ports conc's context propagation into a pool built on another pool's context
/// (`pool.New().WithContext(ctx)` inside a task of a `ContextPool`: "context error
/// propagates" one level down): cancelling the outer scope stops the children of
/// scopes nested one and two levels below it, as it stops its own: at their next
/// poll, nothing after their await of the token runs, and their destructors see the
/// token cancelled.
///
/// Found running on: a nested scope's token is a child token of its parent's, so the
/// parent's cancel woke the nested children through it while their own group was not
/// cancelled yet (it was only once the child holding the nested scope was dropped),
/// and they ran on past the await.
#[test]
fn conc_parent_cancel_stops_the_children_of_nested_scopes() {
    async fn round(depth: usize, seed: u64) {
        let waiting = Arc::new(AtomicUsize::new(0));
        let ran_on = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(0));
        let dropped = Drops::default();
        let (w, r, sn, d) = (
            waiting.clone(),
            ran_on.clone(),
            seen.clone(),
            dropped.clone(),
        );
        let out = scope(|s| async move {
            s.go(nested_waiters(depth, w.clone(), r, sn, d));
            eventually("every nested child waiting", || w.load(SeqCst) == 3).await;
            s.cancel();
            Ok::<(), Boom>(())
        })
        .await;
        assert_eq!(out, Err(ScopeError::Cancelled), "seed {seed}");
        assert_eq!(dropped.count(), 3, "seed {seed}: depth {depth}");
        assert_eq!(ran_on.load(SeqCst), 0, "seed {seed}: depth {depth}: ran on");
        assert_eq!(
            seen.load(SeqCst),
            3,
            "seed {seed}: depth {depth}: token live"
        );
    }
    on_both(|| async {
        for depth in [1, 2] {
            round(depth, 0).await;
        }
        assert_no_alive_tasks().await;
    });
    seeded_multi_thread(300, |rng| round(1 + (rng.0 % 2) as usize, rng.0));
}

/// The race side of `conc_parent_cancel_stops_the_children_of_nested_scopes`: a sibling
/// fails the outer scope at a seeded moment while another child is opening a nested
/// scope and starting waiters in it. Whether the nested scope is listed with its
/// parent before the cancel walks the list, or born cancelled after it, no waiter runs
/// past its await of the token once it has waited there (a waiter whose first poll
/// overlaps the cancel may find the token cancelled in that poll; failed twice in
/// four `cargo test --workspace` runs under load before that was allowed), and every
/// one that started is dropped by the time the outer scope returns its error.
#[test]
fn conc_parent_cancel_racing_a_nested_scope_opening() {
    seeded_multi_thread(1_000, |mut rng: Rng| async move {
        let seed = rng.0;
        let (fail_after, open_after) = (rng.below(4), rng.below(4));
        let waiting = Arc::new(AtomicUsize::new(0));
        let ran_on = Arc::new(AtomicUsize::new(0));
        let dropped = Drops::default();
        let started = Arc::new(AtomicUsize::new(0));
        let (w, r, d, st) = (
            waiting.clone(),
            ran_on.clone(),
            dropped.clone(),
            started.clone(),
        );
        let out = scope(|s| async move {
            s.go(async move {
                for _ in 0..open_after {
                    tokio::task::yield_now().await;
                }
                let inner = scope(|n| async move {
                    for _ in 0..2 {
                        let (token, w, r, mark) = (n.token(), w.clone(), r.clone(), d.mark());
                        st.fetch_add(1, SeqCst);
                        n.go(async move {
                            let _mark = mark;
                            // A waiter first polled while the cancel is under way can
                            // find the token cancelled in that very poll and run on: it
                            // never waited, so no "next poll" could stop it (the crate
                            // docs). One that waited must not.
                            if cancelled(&token, &w).await {
                                r.fetch_add(1, SeqCst);
                            }
                            Ok::<(), Boom>(())
                        });
                    }
                    std::future::pending::<()>().await;
                    Ok(())
                })
                .await;
                inner.map_err(|_| Boom(9))
            });
            s.go(async move {
                for _ in 0..fail_after {
                    tokio::task::yield_now().await;
                }
                Err::<(), _>(Boom(1))
            });
            Ok(())
        })
        .await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(1))), "seed {seed}");
        assert_eq!(
            ran_on.load(SeqCst),
            0,
            "seed {seed}: a nested waiter ran on"
        );
        assert_eq!(
            dropped.count(),
            started.load(SeqCst),
            "seed {seed}: a nested child outlived the outer scope"
        );
    });
}

/// Ports conc `TestContextPool` "WithFirstError", `TestResultErrorPool`
/// "WithFirstError" and `TestResultContextPool` "WithFirstError": without a cancel on
/// error, every task runs, and `Wait` returns the error that came first, not the later
/// one. corral: `collect_errors()` keeps every error in arrival order without
/// cancelling, and `ScopeError::into_failed` gives the first that arrived.
///
/// conc's tests sleep 10 to 100 ms to let the first error be registered before the
/// second task returns, and call it a race in the test. Here the second task awaits
/// the first one's handle instead: a child's error is recorded with its group before
/// its handle resolves, so the order is settled without a sleep, on every
/// interleaving (seeded rounds).
#[test]
fn conc_first_error_without_cancel() {
    async fn round(seed: u64) {
        for first_submitted in [true, false] {
            let out = collecting()
                .scope(|s| async move {
                    // `first` fails first; `second` fails once it has seen that.
                    let (tx, rx) = tokio::sync::oneshot::channel::<ChildHandle<()>>();
                    let second = async move {
                        let first = rx.await.expect("sent");
                        assert_eq!(first.await, Err(ChildError::Failed));
                        Err::<(), _>(Boom(2))
                    };
                    let first = async { Err::<(), _>(Boom(1)) };
                    let (first, second) = if first_submitted {
                        let first = s.go(first);
                        (first, s.go(second))
                    } else {
                        let second = s.go(second);
                        (s.go(first), second)
                    };
                    tx.send(first).expect("the second child waits");
                    assert_eq!(second.await, Err(ChildError::Failed));
                    Ok(())
                })
                .await;
            let errors = out.expect_err("both failed");
            assert_eq!(
                errors,
                ScopeError::Errors(vec![Boom(1), Boom(2)]),
                "seed {seed}"
            );
            assert_eq!(errors.into_failed(), Some(Boom(1)), "seed {seed}");
        }
    }
    on_both(|| async {
        round(0).await;
        assert_no_alive_tasks().await;
    });
    seeded_multi_thread(500, |rng| round(rng.0));
}

/// Ports conc `TestContextPool` "no WithCancelOnError", `TestErrorPool` and
/// `TestResultErrorPool` "wait error is all returned errors", `TestResultContextPool`
/// "no WithCancelOnError", and the `ErrorPool` example: a failing task does not cancel
/// the others (their context stays live, `NotErrorIs(context.Canceled)`), `Wait`
/// reports every error, and the result pools keep only the successful tasks' values
/// (`Len(res, 1)`).
///
/// Deliberate difference (documented on `ScopeBuilder::collect_errors`): conc's `Wait`
/// returns the values and the joined error together; a scope that failed yields
/// `ScopeError::Errors` alone and drops its body's value, so the successful outputs
/// leave through the handles (here a channel) or the children return their errors as
/// values (`Ok(Err(e))`), which is also what conc's `WithCollectErrored` (keep the value
/// an erroring task returned next to its error) becomes: a Rust `Err` carries no value
/// of the `Ok` type.
#[test]
fn conc_errors_do_not_cancel_and_successful_values_are_kept() {
    on_both(|| async {
        let (values_tx, mut values_rx) = tokio::sync::mpsc::unbounded_channel();
        let sibling_saw_cancel = Arc::new(AtomicUsize::new(0));
        let saw = sibling_saw_cancel.clone();
        let out = collecting()
            .scope(|s| async move {
                let token = s.token();
                let err1 = s.go(async { Err::<u32, _>(Boom(1)) });
                let err2 = s.go(async { Err::<u32, _>(Boom(2)) });
                // Runs after both failed, with the token still live.
                let ok = s.go(async move {
                    let _ = (err1.await, err2.await);
                    if token.is_cancelled() {
                        saw.fetch_add(1, SeqCst);
                    }
                    Ok(7)
                });
                values_tx
                    .send(ok.await.expect("not cancelled"))
                    .expect("open");
                Ok(())
            })
            .await;
        let mut errors = out.expect_err("two failed").into_errors();
        errors.sort_by_key(|b| b.0);
        assert_eq!(errors, [Boom(1), Boom(2)]);
        assert_eq!(values_rx.recv().await, Some(7));
        assert_eq!(sibling_saw_cancel.load(SeqCst), 0);

        // WithCollectErrored: the errors are values, so every output is kept, in order.
        let out = scope(|s| async move {
            let mut results = Results::new();
            for i in 0..3u32 {
                results.push(
                    s.go(async move { Ok::<_, Boom>(if i == 1 { Ok(i) } else { Err(Boom(i)) }) }),
                );
            }
            results.join().await.map_err(|_| Boom(99))
        })
        .await;
        assert_eq!(out, Ok(vec![Err(Boom(0)), Ok(1), Err(Boom(2))]));
        assert_no_alive_tasks().await;
    });
}

/// Ports conc `TestErrorPool` "reuse", `TestResultGroup` "reuse",
/// `TestResultErrorPool` "reuse" and `TestResultContextPool` "reuse" (conc issue #128:
/// a pool reused after `Wait` reported the first batch's errors and results again),
/// `TestPool` "is reusable", "returns correct MaxGoroutines" and every "panics on
/// configuration after init".
///
/// Deliberate differences: a scope is one-shot (awaiting it consumes it), so what is
/// reused is the `ScopeConfig` it was started from, and each scope reports only what
/// happened in it. And a `ScopeConfig` has no setters after `build()`: the
/// reconfiguration conc refuses with a panic cannot be written.
#[test]
fn conc_reuse_reports_only_the_new_batch() {
    on_both(|| async {
        let config = ScopeConfig::builder()
            .limit(42)
            .collect_errors()
            .build()
            .expect("valid");
        assert_eq!(config.limit(), Some(42));
        let count = Arc::new(AtomicUsize::new(0));
        for batch in 1..=2u32 {
            let counted = count.clone();
            let out = config
                .scope(|s| async move {
                    let mut results = Results::new();
                    for _ in 0..10 {
                        let count = counted.clone();
                        let child = s.spawn(async move {
                            count.fetch_add(1, SeqCst);
                            Ok(batch)
                        });
                        results.push(child.await.expect("open"));
                    }
                    let values = results.join().await.map_err(|_| Boom(0))?;
                    assert_eq!(values, [batch; 10]);
                    let _ = s.spawn(async move { Err::<(), _>(Boom(batch)) }).await;
                    Ok(())
                })
                .await;
            assert_eq!(
                out,
                Err(ScopeError::Errors(vec![Boom(batch)])),
                "batch {batch}"
            );
            assert_eq!(count.load(SeqCst), 10 * batch as usize);
        }
        assert_eq!(config.limit(), Some(42));
        assert_no_alive_tasks().await;
    });
}

// ---------------------------------------------------------------------------------
// stream.Stream
// ---------------------------------------------------------------------------------

/// What a conc stream task returns: a callback run serially in submission order, or
/// none (`nil`).
type Callback = Box<dyn FnOnce() + Send>;

/// conc's `Stream` on a scope: `submit` spawns the tasks (waiting at the limit), the
/// body awaits their handles in submission order and runs each callback as soon as it
/// and every earlier one are done. Producer and consumer both run in the body, so the
/// callbacks run one at a time, on the owner's task.
async fn stream(
    limit: u64,
    tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Option<Callback>> + Send>>>,
) -> Result<(), ScopeError<Boom>> {
    limited(limit)
        .scope(|s| async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ChildHandle<_>>();
            let produce = async {
                for task in tasks {
                    match s.spawn(async move { Ok::<_, Boom>(task.await) }).await {
                        Ok(handle) => tx.send(handle).expect("the consumer waits"),
                        // The group is stopping (a task or a callback panicked).
                        Err(_) => break,
                    }
                }
                drop(tx);
            };
            let consume = async {
                while let Some(handle) = rx.recv().await {
                    if let Some(callback) = handle.await.map_err(|_| Boom(0))? {
                        callback();
                    }
                }
                Ok::<_, Boom>(())
            };
            let ((), consumed) = tokio::join!(produce, consume);
            consumed
        })
        .await
}

/// Ports conc `TestStream` "simple", "nil callback" and "max goroutines", with
/// `ExampleStream` (tasks that take different times print in submission order): at
/// most 5 tasks run at once, the callbacks run one at a time and in submission order
/// however the tasks' finishing order is shuffled (seeded yields), and a task with no
/// callback still ran.
#[test]
fn conc_stream_callbacks_run_serially_in_submission_order() {
    async fn round(seed: u64) {
        let flight = InFlight::default();
        let in_callback = InFlight::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let ran = Arc::new(AtomicUsize::new(0));
        let mut tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>> =
            Vec::new();
        for i in 0..50u64 {
            let (flight, in_callback) = (flight.clone(), in_callback.clone());
            let (order, ran) = (order.clone(), ran.clone());
            let mut rng = Rng(seed * 100 + i);
            tasks.push(Box::pin(async move {
                let _in = flight.enter();
                seeded_yields(&mut rng).await;
                ran.fetch_add(1, SeqCst);
                (i % 7 != 3).then(|| -> Callback {
                    Box::new(move || {
                        let _in = in_callback.enter();
                        order.lock().expect("not poisoned").push(i * 2);
                    })
                })
            }));
        }
        assert_eq!(stream(5, tasks).await, Ok(()), "seed {seed}");
        let expected: Vec<u64> = (0..50).filter(|i| i % 7 != 3).map(|i| i * 2).collect();
        assert_eq!(
            *order.lock().expect("not poisoned"),
            expected,
            "seed {seed}"
        );
        assert_eq!(
            ran.load(SeqCst),
            50,
            "seed {seed}: nil-callback tasks ran too"
        );
        assert!(
            flight.max() <= 5,
            "seed {seed}: {} tasks at once",
            flight.max()
        );
        assert_eq!(in_callback.max(), 1, "seed {seed}: callbacks one at a time");
    }
    on_both(|| async {
        for seed in 0..5 {
            round(seed).await;
        }
        assert_no_alive_tasks().await;
    });
    seeded_multi_thread(200, |rng| round(rng.0));
}

/// Ports conc `TestStream` "panic in task is propagated", "panic in callback is
/// propagated" and "panic in callback does not block producers" (limit 5, one panicking
/// callback, then 100 more tasks: `Wait` panics instead of hanging).
///
/// corral: a task's panic cancels the group; a callback's panic is the body's, which
/// cancels it too. Either way the producer, waiting for a slot or not, stops (refused,
/// or dropped with the body), and the payload resumes in the owner once every task is
/// down. Unlike conc, which runs the remaining tasks, the ones not yet admitted never
/// start.
#[test]
fn conc_stream_panics_propagate_without_blocking_producers() {
    fn tasks(
        panic_in_task: bool,
    ) -> Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Option<Callback>> + Send>>> {
        let mut tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>> =
            Vec::new();
        tasks.push(Box::pin(async move {
            if panic_in_task {
                panic!("conc: something really bad happened in the task");
            }
            Some(
                Box::new(|| panic!("conc: something really bad happened in the callback"))
                    as Callback,
            )
        }));
        for _ in 0..100 {
            tasks.push(Box::pin(async {
                tokio::task::yield_now().await;
                Some(Box::new(|| {}) as Callback)
            }));
        }
        tasks
    }
    async fn round() {
        quiet_conc_panics();
        let payload = panic_of(stream(5, tasks(true))).await;
        assert_eq!(
            text_of(&*payload),
            "conc: something really bad happened in the task"
        );
        let payload = panic_of(stream(5, tasks(false))).await;
        assert_eq!(
            text_of(&*payload),
            "conc: something really bad happened in the callback"
        );
    }
    on_both(|| async {
        round().await;
        assert_no_alive_tasks().await;
    });
    seeded_multi_thread(200, |_| round());
}

// ---------------------------------------------------------------------------------
// iter.Map / iter.ForEach
// ---------------------------------------------------------------------------------

/// conc's `iter.Map` on a scope: one child per element, outputs in input order.
async fn map<T, R>(
    input: Vec<T>,
    f: impl Fn(T) -> Result<R, Boom> + Send + Sync + 'static,
) -> Result<Vec<R>, ScopeError<Boom>>
where
    T: Send + 'static,
    R: Send + 'static,
{
    let f = Arc::new(f);
    scope(|s| async move {
        let mut results = Results::new();
        for item in input {
            let f = f.clone();
            results.push(s.go(async move { f(item) }));
        }
        results.join().await.map_err(|_| Boom(u32::MAX))
    })
    .await
}

/// Ports conc iter `TestMap` and `TestMapErr` "empty" (the function is never called),
/// "basic increment", "huge inputs" (10,000 elements, outputs in input order) and
/// "panic is propagated", with `TestForEach` / `TestForEachIdx`'s same cases.
///
/// corral has no parallel iterator; a scope with `Results` is what a conc user would
/// write for it. Deliberate difference for `MapErr` "error is propagated": conc fills
/// the failed element with the zero value and returns the rest next to the error; the
/// scope fails with the first error and yields no outputs (a Rust `Err` carries no
/// value; see `conc_errors_do_not_cancel_and_successful_values_are_kept` for the
/// errors-as-values form). conc's "mutating inputs is fine" has no counterpart: a
/// child is `'static` and cannot borrow the input (the crate docs, "When not to use
/// this"); it owns its element and hands back a value.
#[test]
fn conc_iter_map_keeps_input_order() {
    on_both(|| async {
        quiet_conc_panics();
        let out = map(Vec::<u32>::new(), |_| -> Result<u32, Boom> {
            panic!("conc: this should never be called")
        })
        .await;
        assert_eq!(out, Ok(vec![]));

        assert_eq!(
            map(vec![1, 2, 3, 4, 5], |v| Ok(v + 1)).await,
            Ok(vec![2, 3, 4, 5, 6])
        );

        let out = map((0..10_000u32).collect(), Ok).await;
        assert_eq!(out, Ok((0..10_000).collect::<Vec<_>>()));

        let out = map(vec![1, 2, 3, 4, 5], |v| {
            if v == 3 {
                Err(Boom(3))
            } else {
                Ok(v + 1)
            }
        })
        .await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(3))));

        let payload = panic_of(map(vec![1u32], |_| -> Result<u32, Boom> {
            panic!("conc: super bad thing happened")
        }))
        .await;
        assert_eq!(text_of(&*payload), "conc: super bad thing happened");
        assert_no_alive_tasks().await;
    });
}
