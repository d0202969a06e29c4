//! Go x/sync `errgroup`'s own tests, ported onto `corral_scope` as a Go user would map
//! them: `errgroup.Group` is a scope, `Go` is [`Scope::go`] (or `spawn(..).await` in a
//! scope with a limit), `TryGo` is [`Scope::try_spawn`], `SetLimit` is
//! [`ScopeBuilder::limit`](corral_scope::ScopeBuilder::limit), `Wait` is awaiting the
//! scope (or, inside the body, awaiting the children's handles), and the context of
//! `WithContext` is [`Scope::token`].
//!
//! Every test runs on a current-thread and on a multi-thread runtime; the race-prone
//! ones also run in seeded loops on the multi-thread runtime. Where corral's documented
//! contract differs from errgroup on purpose, the test asserts corral's contract and
//! says so. tokio's `JoinSet` tests follow in the second half of this file (the mapping
//! is at its head); Trio's nursery tests are in `peers_trio.rs`.

mod common;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{
    assert_no_alive_tasks, on_both, panic_of, panics_with, seeded_multi_thread, seeded_yields,
    turns, Boom, Probe,
};
use corral_scope::{scope, BuildError, ChildError, Results, ScopeConfig, ScopeError};
use corral_test_support::{eventually, Latch};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_test::{assert_pending, assert_ready, task};

/// errgroup's `func() error { return err }`: a child that returns `err` if there is one.
async fn returns(err: Option<Boom>) -> Result<(), Boom> {
    err.map_or(Ok(()), Err)
}

/// A child held at `gate` until the test opens it (errgroup's tests block on a channel).
fn held(gate: &Latch) -> impl Future<Output = Result<(), Boom>> + Send + 'static {
    let gate = gate.clone();
    async move {
        gate.opened().await;
        Ok(())
    }
}

/// A scope with a concurrency limit (`errgroup.Group` after `SetLimit(limit)`).
fn limited(limit: u64) -> ScopeConfig {
    ScopeConfig::builder()
        .limit(limit)
        .build()
        .expect("a valid limit")
}

/// Ports errgroup `TestZeroGroup`: a zero `Group` needs no setup, and `Wait` after each
/// `Go` returns the first non-nil error so far (later errors never replace it).
///
/// Deliberate difference: errgroup keeps running `Go` calls made after the first error;
/// corral's first error cancels the group, so the body stops there and anything it
/// would spawn later is refused (documented in `scope`). The observable result, the
/// first error, is the same.
#[test]
fn errgroup_zero_group_wait_returns_the_first_error() {
    on_both(|| async {
        let (e1, e2) = (Some(Boom(1)), Some(Boom(2)));
        let cases: [&[Option<Boom>]; 5] = [&[], &[None], &[e1], &[e1, None], &[e1, None, e2]];
        for errs in cases {
            for i in 0..errs.len().max(1) {
                let prefix = errs[..errs.len().min(i + 1)].to_vec();
                let first = prefix.iter().flatten().next().copied();
                let out = scope(|s| async move {
                    for err in prefix {
                        // `g.Go(..)` then `g.Wait()`: the child is joined before the next.
                        let _ = s.go(returns(err)).await;
                    }
                    Ok(())
                })
                .await;
                match first {
                    None => assert_eq!(out, Ok(()), "errs {errs:?}, after {}", i + 1),
                    Some(e) => assert_eq!(out, Err(ScopeError::Failed(e)), "errs {errs:?}"),
                }
            }
        }
    });
}

/// Ports errgroup `TestWithContext` and `TestCancelCause`: `Wait` returns the first
/// error, and the group's context is done once `Wait` has returned, whether or not a
/// goroutine failed.
///
/// `context.Cause(ctx)` has no counterpart (a `CancellationToken` carries no cause); the
/// cause is the scope's result instead: `ScopeError::Failed(e)` for a failure, `Ok` when
/// the scope simply finished.
#[test]
fn errgroup_with_context_token_is_cancelled_once_wait_returns() {
    on_both(|| async {
        let doom = Some(Boom(13));
        let cases: [(&[Option<Boom>], Option<Boom>); 4] = [
            (&[], None),
            (&[None], None),
            (&[doom], doom),
            (&[doom, None], doom),
        ];
        for (errs, want) in cases {
            let errs = errs.to_vec();
            let mut token = None;
            let out = scope(|s| {
                token = Some(s.token());
                async move {
                    for err in errs {
                        s.go(returns(err));
                    }
                    Ok(())
                }
            })
            .await;
            assert_eq!(out, want.map_or(Ok(()), |e| Err(ScopeError::Failed(e))));
            let token = token.expect("the closure ran");
            assert!(token.is_cancelled(), "token not cancelled after {want:?}");
        }
    });
}

/// Ports errgroup `TestTryGo`: with `SetLimit(42)`, 42 `TryGo` calls start and the 43rd
/// is refused; after `Wait` a `TryGo` starts again; with a limit of 1, the second
/// `TryGo` is refused.
///
/// Deliberate differences: a scope's limit is fixed when its config is built (errgroup's
/// `SetLimit` may be called again between `Wait`s), so the "switch limit" step is a
/// second scope; and `SetLimit(0)` (every `Go` blocks forever, every `TryGo` fails) is
/// refused at `build()` with `BuildError::ZeroLimit`, a limit that admits nothing being
/// a configuration mistake in corral's contract. A refused child is handed back, not
/// dropped: `TrySpawnError::Full(future)`.
#[test]
fn errgroup_try_go_respects_the_limit_and_frees_slots_after_wait() {
    on_both(|| async {
        let out = limited(42)
            .scope(|s| async move {
                let gate = Latch::new();
                let mut children = Vec::new();
                for i in 0..42 {
                    match s.try_spawn(held(&gate)) {
                        Ok(child) => children.push(child),
                        Err(e) => panic!("TryGo {i} should start, got {e}"),
                    }
                }
                let refused = s
                    .try_spawn(held(&gate))
                    .expect_err("43rd TryGo at the limit");
                assert!(refused.is_full());
                gate.open();
                // The refused future is handed back intact: it runs to completion.
                refused.into_inner().await.expect("handed back");
                for child in children {
                    child.await.expect("child succeeds");
                }
                // After `Wait`, `TryGo` finds a slot again.
                let again = s.try_spawn(held(&gate)).expect("a slot after the join");
                again.await.expect("child succeeds");
                Ok::<_, Boom>(())
            })
            .await;
        assert_eq!(out, Ok(()));

        let out = limited(1)
            .scope(|s| async move {
                let gate = Latch::new();
                let first = s.try_spawn(held(&gate)).expect("TryGo under a limit of 1");
                assert!(s
                    .try_spawn(held(&gate))
                    .expect_err("second TryGo")
                    .is_full());
                gate.open();
                first.await.expect("child succeeds");
                Ok::<_, Boom>(())
            })
            .await;
        assert_eq!(out, Ok(()));

        let zero = ScopeConfig::builder().limit(0).build();
        assert_eq!(zero.unwrap_err(), BuildError::ZeroLimit);
    });
}

/// Ports the race inside errgroup `TestTryGo` ("TryGo should succeed after all
/// goroutines"): once a child's handle has resolved, its slot is free, on every
/// interleaving of the child's exit with the spawner's next `TryGo`.
#[test]
fn errgroup_try_go_after_wait_always_finds_the_slot_multi_thread() {
    seeded_multi_thread(3_000, |mut rng| async move {
        let out = limited(1)
            .scope(|s| async move {
                for _ in 0..3 {
                    let yields = rng.below(3);
                    let child = s
                        .try_spawn(async move {
                            for _ in 0..yields {
                                tokio::task::yield_now().await;
                            }
                            Ok(())
                        })
                        .expect("the only slot is free");
                    seeded_yields(&mut rng).await;
                    child.await.expect("child succeeds");
                }
                Ok::<_, Boom>(())
            })
            .await;
        assert_eq!(out, Ok(()));
    });
}

/// Ports errgroup's `SetLimit` doc promise ("any subsequent call to the Go method will
/// block until it can add an active goroutine without exceeding the configured limit"):
/// at the limit, `spawn(..)` stays pending and is woken, and admitted, once a running
/// child ends.
#[test]
fn errgroup_go_blocks_at_the_limit_until_a_child_ends() {
    on_both(|| async {
        let out = limited(2)
            .scope(|s| async move {
                let (a, b) = (Latch::new(), Latch::new());
                let first = s.spawn(held(&a)).await.expect("open");
                let second = s.spawn(held(&b)).await.expect("open");
                let mut third = task::spawn(s.spawn(async { Ok(3) }));
                assert_pending!(third.poll());
                turns(10).await;
                assert_pending!(third.poll());
                a.open();
                first.await.expect("child succeeds");
                // The slot was given back before the handle resolved: the waiting spawn
                // is already woken.
                assert!(third.is_woken(), "a freed slot wakes the blocked Go");
                let third = assert_ready!(third.poll()).expect("admitted");
                assert_eq!(third.await, Ok(3));
                b.open();
                second.await.expect("child succeeds");
                Ok::<_, Boom>(())
            })
            .await;
        assert_eq!(out, Ok(()));
    });
}

/// Ports errgroup `TestGoLimit`: with `SetLimit(10)`, 1,025 `Go` calls never have more
/// than 10 goroutines active at once (each child checks and fails the group if it sees
/// more). The sleep that lets others increment becomes a seeded number of yields.
#[test]
fn errgroup_go_limit_is_never_exceeded() {
    async fn round(mut rng: corral_test_support::Rng) {
        const LIMIT: usize = 10;
        let active = Arc::new(AtomicUsize::new(0));
        let out = limited(LIMIT as u64)
            .scope(|s| async move {
                for _ in 0..=1 << 10 {
                    let (active, yields) = (active.clone(), rng.below(3));
                    let child = async move {
                        let n = active.fetch_add(1, Ordering::SeqCst) + 1;
                        if n > LIMIT {
                            return Err(Boom(n as u32));
                        }
                        for _ in 0..yields {
                            tokio::task::yield_now().await;
                        }
                        active.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    };
                    drop(s.spawn(child).await.expect("open"));
                }
                Ok(())
            })
            .await;
        assert_eq!(out, Ok(()), "saw more than {LIMIT} active children");
    }
    on_both(|| round(corral_test_support::Rng(1)));
    seeded_multi_thread(12, round);
}

/// Counts a child out of `active` when its future is dropped, however it ends.
struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Ports errgroup `TestGoLimit` together with `TestWithContext`'s cancel on the first
/// error: under a random limit, one of 40 children fails while the spawner is blocked in
/// `Go` at the limit or about to be. The limit is never exceeded, the blocked spawner is
/// released (refused with its future handed back, so it stops spawning), `Wait` returns
/// that error, and every child that started is gone by then.
#[test]
fn errgroup_go_limit_holds_when_a_child_fails_and_releases_the_blocked_go() {
    seeded_multi_thread(3_000, |mut rng| async move {
        let (limit, fail_at) = (1 + rng.below(4) as usize, rng.below(40) as u32);
        let active = Arc::new(AtomicUsize::new(0));
        let counted = active.clone();
        let out = limited(limit as u64)
            .scope(move |s| async move {
                for i in 0..40 {
                    let (active, yields) = (counted.clone(), rng.below(3));
                    let child = async move {
                        let running = active.fetch_add(1, Ordering::SeqCst) + 1;
                        let _active = Active(active);
                        assert!(
                            running <= limit,
                            "{running} children under a limit of {limit}"
                        );
                        for _ in 0..yields {
                            tokio::task::yield_now().await;
                        }
                        if i == fail_at {
                            return Err(Boom(i));
                        }
                        Ok(())
                    };
                    if s.spawn(child).await.is_err() {
                        break;
                    }
                }
                std::future::pending::<Result<(), Boom>>().await
            })
            .await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(fail_at))));
        assert_eq!(
            active.load(Ordering::SeqCst),
            0,
            "every started child is gone"
        );
    });
}

/// Ports errgroup's "Wait with no goroutines": a group with nothing in it returns at
/// once, at its first poll, with no error.
#[test]
fn errgroup_wait_with_no_goroutines_returns_at_once() {
    on_both(|| async {
        let mut empty = task::spawn(scope(|_s| async { Ok::<_, Boom>(7) }));
        assert_eq!(assert_ready!(empty.poll()), Ok(7));
    });
}

/// Ports errgroup `TestPanic` (both cases, "error" and "any"): a goroutine's panic comes
/// out of `Wait` with the value it panicked with.
///
/// errgroup added this in 506c70f (Jan 2025) and reverted it in 7fad2c9 (Jun 2025), so
/// today's errgroup lets the panic crash the program from the goroutine. corral resumes
/// it in the owner on purpose (ARCHITECTURE.md, `scope`'s docs), after every sibling is
/// down, with the payload unchanged (`resume_unwind`, so `downcast` finds the value).
/// `TestGoexit` has no counterpart (there is no `runtime.Goexit`).
#[test]
fn errgroup_panic_is_propagated_through_wait() {
    async fn round() {
        for case in 0..2 {
            let probe = Probe::new();
            let sibling = probe.forever::<()>();
            let payload = panic_of(scope(move |s| async move {
                s.go(sibling);
                if case == 0 {
                    s.go(panics_with(Boom(7)));
                } else {
                    s.go(panics_with(1_u64));
                }
                std::future::pending::<Result<(), Boom>>().await
            }))
            .await;
            if case == 0 {
                assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));
            } else {
                assert_eq!(payload.downcast_ref::<u64>(), Some(&1));
            }
            assert_eq!(
                probe.dropped(),
                1,
                "the sibling is down before the panic resumes"
            );
        }
    }
    on_both(round);
    seeded_multi_thread(1_500, |_| round());
}

/// Ports errgroup's core promise ("Wait blocks until all function calls from the Go
/// method have returned"): a child that does not return keeps the scope pending, however
/// often it is polled, and the scope completes once the child does.
#[test]
fn errgroup_a_child_that_never_returns_keeps_wait_waiting() {
    on_both(|| async {
        let gate = Latch::new();
        let child = held(&gate);
        let mut group = task::spawn(scope(move |s| async move {
            s.go(child);
            Ok::<_, Boom>(())
        }));
        for _ in 0..5 {
            assert_pending!(group.poll());
            turns(20).await;
        }
        gate.open();
        assert_eq!(group.await, Ok(()));
    });
}

/// Ports errgroup `ExampleGroup_justErrors`: fetch several URLs (simulated: no network),
/// one fails, and `Wait` reports it; the fetches that succeeded ran to completion.
#[test]
fn errgroup_example_just_errors() {
    on_both(|| async {
        let urls = [
            "http://www.golang.org/",
            "http://www.google.com/",
            "http://www.somestupidname.com/",
        ];
        let fetched = Arc::new(AtomicUsize::new(0));
        let counter = fetched.clone();
        let out = scope(move |s| async move {
            for (i, url) in urls.into_iter().enumerate() {
                let fetched = counter.clone();
                s.go(async move {
                    if url.contains("somestupidname") {
                        return Err(Boom(i as u32));
                    }
                    fetched.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            Ok(())
        })
        .await;
        assert_eq!(out, Err(ScopeError::Failed(Boom(2))));
        assert!(fetched.load(Ordering::SeqCst) <= 2);
    });
}

/// Ports errgroup `ExampleGroup_parallel` ("Google Search 2.0"): three searches run in
/// parallel and their results come back by index. corral's `Results` gives them in
/// submission order, the order of errgroup's `results[i]` slice.
#[test]
fn errgroup_example_parallel_results_by_index() {
    on_both(|| async {
        let google = |query: &'static str| {
            scope(move |s| async move {
                let mut results = Results::new();
                for kind in ["web", "image", "video"] {
                    results.push(s.go(async move {
                        tokio::task::yield_now().await;
                        Ok::<_, Boom>(format!("{kind} result for {query:?}"))
                    }));
                }
                results.join().await.map_err(|_| Boom(0))
            })
        };
        let results = google("golang").await.expect("no search fails");
        assert_eq!(
            results,
            [
                r#"web result for "golang""#,
                r#"image result for "golang""#,
                r#"video result for "golang""#
            ]
        );
    });
}

/// The digest of a "file" (errgroup's example uses MD5; any hash shows the pipeline).
fn digest(data: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut hasher);
    hasher.finish()
}

/// errgroup's `MD5All`: one walker feeds paths into an unbuffered channel, 20 digesters
/// read and hash them into a second channel, the owner collects the map. A file whose
/// content is `Err` fails to "read".
async fn md5_all(
    files: Vec<(String, Result<Vec<u8>, Boom>)>,
) -> Result<HashMap<String, u64>, ScopeError<Boom>> {
    scope(|s| async move {
        let files: Arc<HashMap<_, _>> = Arc::new(files.into_iter().collect());
        let (paths_tx, paths_rx) = mpsc::channel::<String>(1);
        let paths_rx = Arc::new(tokio::sync::Mutex::new(paths_rx));
        let walk: Vec<String> = files.keys().cloned().collect();
        s.go(async move {
            for path in walk {
                paths_tx.send(path).await.map_err(|_| Boom(0))?;
            }
            Ok(())
        });
        let (sums_tx, mut sums_rx) = mpsc::channel::<(String, u64)>(1);
        for _ in 0..20 {
            let (paths, sums, files) = (paths_rx.clone(), sums_tx.clone(), files.clone());
            s.go(async move {
                loop {
                    let Some(path) = paths.lock().await.recv().await else {
                        return Ok(());
                    };
                    let data = files[&path].clone()?;
                    sums.send((path, digest(&data)))
                        .await
                        .map_err(|_| Boom(0))?;
                }
            });
        }
        // Go closes `c` after `g.Wait()`; here the channel closes when the last
        // digester drops its sender.
        drop(sums_tx);
        let mut sums = HashMap::new();
        while let Some((path, sum)) = sums_rx.recv().await {
            sums.insert(path, sum);
        }
        Ok(sums)
    })
    .await
}

/// Ports errgroup `ExampleGroup_pipeline` (`MD5All`): a bounded pipeline returns every
/// digest; and when one read fails, `MD5All` returns that error, and (the example's
/// comment: "even in case of error! - we know that all of the goroutines have
/// finished") nothing of the pipeline is left running, though the walker and the
/// digesters were blocked on full channels. Go needs `select` on `ctx.Done()` at every
/// send for that; corral stops them at the await.
#[test]
fn errgroup_example_pipeline_md5_all() {
    on_both(|| async {
        let files: Vec<_> = (0..100u32)
            .map(|i| {
                (
                    format!("dir/file{i}"),
                    Ok(i.to_le_bytes().repeat(i as usize)),
                )
            })
            .collect();
        let want: HashMap<_, _> = files
            .iter()
            .map(|(path, data)| (path.clone(), digest(data.as_ref().expect("readable"))))
            .collect();
        assert_eq!(md5_all(files.clone()).await, Ok(want));
        assert_no_alive_tasks().await;

        let mut broken = files;
        broken[37].1 = Err(Boom(37));
        assert_eq!(md5_all(broken).await, Err(ScopeError::Failed(Boom(37))));
        assert_no_alive_tasks().await;
    });
}

// ---------------------------------------------------------------------------------
// tokio `JoinSet` (`tokio/tests/task_join_set.rs`)
//
// Ported where a scope offers the same operation, as a tokio user would map them:
// `JoinSet::spawn` is `Scope::go` and its `AbortHandle` the returned `ChildHandle`,
// `len()` is `Scope::live_children`, `join_all` is `Results::join`, `abort_all` is
// `Scope::cancel`, and dropping the set is dropping the scope's future.
//
// Not ported, for want of the operation: `join_next` (completion order; a scope joins
// per handle or in submission order), `try_join_next_with_id`, `extend`/`FromIterator`,
// `spawn_local` (children are `Send`), and the coop budget test. `len()` differs on
// purpose: a `JoinSet` counts a task until it is joined, a scope counts a child until
// its future is gone (finished or aborted), so the ports hold children at a gate where
// the peer relies on unjoined tasks staying counted. `detach_all` differs on purpose: a
// scope has no detach (nothing spawned in it outlives it), and dropping a handle leaves
// the child in the group.
//
// Every test runs on a current-thread and on a multi-thread runtime.
// ---------------------------------------------------------------------------------

/// A child held at `gate` until the test opens it, then returning `value`.
fn held_value<T: Send + 'static>(
    gate: &Latch,
    value: T,
) -> impl Future<Output = Result<T, Boom>> + Send + 'static {
    let gate = gate.clone();
    async move {
        gate.opened().await;
        Ok(value)
    }
}

/// Ports `JoinSet` `test_with_sleep` (without `detach_all`; see
/// `joinset_dropping_handles_does_not_detach`): `len` counts each spawn, every output
/// comes back once, the set is empty afterwards, and it can be used again. The sleeps
/// that keep the peer's tasks unfinished are a gate here (a scope counts a child only
/// until it finishes).
#[test]
fn joinset_with_sleep_len_counts_children_and_the_scope_is_reusable() {
    on_both(|| async {
        let out = scope(|s| async move {
            for _ in 0..2 {
                let gate = Latch::new();
                let mut results = Results::new();
                for i in 0..10 {
                    results.push(s.go(held_value(&gate, i)));
                    assert_eq!(s.live_children(), 1 + i);
                }
                gate.open();
                let outputs = results.join().await.map_err(|_| Boom(0))?;
                assert_eq!(outputs, (0..10).collect::<Vec<_>>());
                // A joined child is gone from the count.
                assert_eq!(s.live_children(), 0);
            }
            Ok(())
        })
        .await;
        assert_eq!(out, Ok(()));
    });
}

/// Ports the `detach_all` step of `JoinSet` `test_with_sleep`, where the detached tasks
/// run on, owned by nobody, and the set is empty at once.
///
/// Deliberate difference: a scope has no detach. Dropping every handle leaves the
/// children in the group (`ChildHandle`'s docs): they still count as live, they run
/// to completion, and the scope returns only after them.
#[test]
fn joinset_dropping_handles_does_not_detach() {
    on_both(|| async {
        let (gate, probe) = (Latch::new(), Probe::new());
        let (children_gate, children) = (gate.clone(), probe.clone());
        let mut owner = task::spawn(scope(move |s| async move {
            for i in 0..10 {
                drop(s.go(children.watch(held_value(&children_gate, i))));
            }
            assert_eq!(s.live_children(), 10);
            Ok::<_, Boom>(())
        }));
        assert_pending!(owner.poll());
        gate.open();
        assert_eq!(owner.await, Ok(()));
        assert_eq!((probe.started(), probe.dropped()), (10, 10));
    });
}

/// Ports `JoinSet` `test_abort_on_drop`: dropping the set aborts its 16 never-ending
/// tasks, observed as their `oneshot` senders being dropped.
#[test]
fn joinset_abort_on_drop() {
    on_both(|| async {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..16).map(|_| oneshot::channel::<()>()).unzip();
        let mut owner = task::spawn(scope(move |s| async move {
            for send in senders {
                s.go(async move {
                    std::future::pending::<()>().await;
                    drop(send);
                    Ok::<_, Boom>(())
                });
            }
            std::future::pending::<Result<(), Boom>>().await
        }));
        assert_pending!(owner.poll());
        drop(owner);
        for recv in receivers {
            assert!(
                recv.await.is_err(),
                "the child was aborted and its sender dropped"
            );
        }
    });
}

/// Ports `JoinSet` `alternating`: spawn two, then sixteen times join one and spawn one;
/// `len` is 1 after each join and 2 after each spawn.
#[test]
fn joinset_alternating() {
    on_both(|| async {
        let out = scope(|s| async move {
            let spawn_one = || {
                let (release, released) = oneshot::channel::<()>();
                let child = s.go(async move { released.await.map_err(|_| Boom(0)) });
                (release, child)
            };
            assert_eq!(s.live_children(), 0);
            let mut queue = VecDeque::from([spawn_one()]);
            assert_eq!(s.live_children(), 1);
            queue.push_back(spawn_one());
            assert_eq!(s.live_children(), 2);
            for _ in 0..16 {
                let (release, child) = queue.pop_front().expect("two in the queue");
                release.send(()).expect("the child waits");
                child.await.expect("child succeeds");
                assert_eq!(s.live_children(), 1);
                queue.push_back(spawn_one());
                assert_eq!(s.live_children(), 2);
            }
            for (release, child) in queue {
                release.send(()).expect("the child waits");
                child.await.expect("child succeeds");
            }
            Ok(())
        })
        .await;
        assert_eq!(out, Ok(()));
    });
}

/// Ports `JoinSet` `abort_tasks`: aborting the odd-numbered of 16 tasks through their
/// handles cancels exactly those (each joins as cancelled), and the even ones complete.
/// corral adds what the peer cannot say: aborting one child does not cancel the group.
#[test]
fn joinset_abort_tasks() {
    on_both(|| async {
        let out = scope(|s| async move {
            let gate = Latch::new();
            let mut children = Vec::new();
            for i in 0..16 {
                let child = s.go(held_value(&gate, i));
                if i % 2 != 0 {
                    child.abort();
                }
                children.push(child);
            }
            gate.open();
            let (mut completed, mut cancelled) = (0, 0);
            for (i, child) in children.into_iter().enumerate() {
                match child.await {
                    Ok(value) => {
                        assert_eq!((value, value % 2), (i, 0));
                        completed += 1;
                    }
                    Err(ChildError::Cancelled) => {
                        assert_eq!(i % 2, 1, "only odd children were aborted");
                        cancelled += 1;
                    }
                    Err(other) => panic!("child {i}: {other}"),
                }
            }
            assert_eq!((completed, cancelled), (8, 8));
            assert!(
                !s.is_cancelled(),
                "aborting a child leaves the group running"
            );
            Ok(())
        })
        .await;
        assert_eq!(out, Ok(()));
    });
}

/// Ports `JoinSet` `join_all`: five tasks each returning 1 are joined into five 1s.
#[test]
fn joinset_join_all() {
    on_both(|| async {
        let out = scope(|s| async move {
            let mut results = Results::new();
            for _ in 0..5 {
                results.push(s.go(async { Ok(1) }));
            }
            results.join().await.map_err(|_| Boom(0))
        })
        .await;
        assert_eq!(out, Ok(vec![1; 5]));
    });
}

/// Ports the failure half of `JoinSet::join_all` (it panics at the first task that
/// failed, and the set it consumed aborts the rest): `Results::join` returns the first
/// `ChildError` in submission order as soon as it meets it, without waiting for the
/// children after it.
///
/// Deliberate difference: those children are not aborted, they stay in their group,
/// which still joins them (`Results::join`'s docs). In a scope that collects errors,
/// where a failure cancels nothing, they run to completion.
#[test]
fn joinset_join_all_stops_at_the_first_child_without_output() {
    on_both(|| async {
        let collecting = ScopeConfig::builder()
            .collect_errors()
            .build()
            .expect("valid");
        let (gate, probe) = (Latch::new(), Probe::new());
        let (later_gate, later) = (gate.clone(), probe.clone());
        let out = collecting
            .scope(move |s| async move {
                let mut results = Results::new();
                results.push(s.go(async { Ok(1) }));
                results.push(s.go(async { Err(Boom(2)) }));
                results.push(s.go(later.watch(held_value(&later_gate, 3))));
                assert_eq!(results.join().await, Err(ChildError::Failed));
                assert_eq!(s.live_children(), 1, "the last child is still running");
                later_gate.open();
                Ok(())
            })
            .await;
        assert_eq!(out, Err(ScopeError::Errors(vec![Boom(2)])));
        assert_eq!((probe.started(), probe.dropped()), (1, 1));
    });
}

/// Ports `JoinSet` `task_panics`: `join_all` panics when a task panics, and the other
/// task, which would have sent on a channel later, never sends (`join_all` dropped the
/// set, aborting it). corral: the panic cancels the sibling and resumes in the owner
/// once the sibling is down; the channel is closed unsent by then.
#[test]
fn joinset_task_panics() {
    on_both(|| async {
        let (tx, mut rx) = oneshot::channel::<()>();
        let payload = panic_of(scope(move |s| async move {
            let never = Latch::new();
            let mut results = Results::new();
            results.push(s.go(async move {
                never.opened().await;
                tx.send(()).map_err(|_| Boom(0))
            }));
            results.push(s.go(panics_with(Boom(6))));
            results.join().await.map(drop).map_err(|_| Boom(0))
        }))
        .await;
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(6)));
        assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
    });
}

/// Ports `JoinSet` `abort_all`: with five never-ending and five finished tasks,
/// `abort_all` then joining everything gives the finished ones' outputs and
/// "cancelled" for the rest, and leaves the set empty. corral's `cancel` also ends the
/// body, so the handles are joined outside the scope, after it returned `Cancelled`.
#[test]
fn joinset_abort_all() {
    on_both(|| async {
        let (tx, rx) = oneshot::channel();
        let owner = tokio::spawn(scope(move |s| async move {
            let pending: Vec<_> = (0..5)
                .map(|_| s.go(std::future::pending::<Result<(), Boom>>()))
                .collect();
            let finished: Vec<_> = (0..5).map(|_| s.go(async { Ok(()) })).collect();
            while s.live_children() > 5 {
                tokio::task::yield_now().await;
            }
            tx.send((s.clone(), pending, finished))
                .expect("the test waits for the handles");
            std::future::pending::<Result<(), Boom>>().await
        }));
        let (handle, pending, finished) = rx.await.expect("the body sent its handles");
        handle.cancel();
        assert_eq!(owner.await.expect("no panic"), Err(ScopeError::Cancelled));
        for child in finished {
            assert_eq!(child.await, Ok(()));
        }
        for child in pending {
            assert_eq!(child.await, Err(ChildError::Cancelled));
        }
        assert_eq!(handle.live_children(), 0);
    });
}

/// Ports `JoinSet` `try_join_next`: 1,000 children blocked on a `watch` channel are not
/// finished; once the value is sent and every receiver is gone, each child's output
/// can be taken without waiting (`is_finished`, then one poll that is ready, outside
/// the coop budget like `try_join_next`'s).
///
/// On a multi-thread runtime `is_finished` may lag the drop of the child's future for a
/// moment (documented on `ChildHandle::is_finished`), hence the bounded wait for it.
#[test]
fn joinset_try_join_next() {
    on_both(|| async {
        let (send, recv) = watch::channel(());
        let out = scope(move |s| async move {
            let children: Vec<_> = (0..1_000)
                .map(|_| {
                    let mut recv = recv.clone();
                    s.go(async move { recv.changed().await.map_err(|_| Boom(0)) })
                })
                .collect();
            drop(recv);
            assert!(children.iter().all(|child| !child.is_finished()));
            send.send_replace(());
            send.closed().await;
            for child in children {
                eventually("the child is finished", || child.is_finished()).await;
                // `try_join_next` polls outside the coop budget (tokio's `unconstrained`),
                // or the 129th poll in one go would be pending, finished or not.
                let mut join = task::spawn(tokio::task::unconstrained(child));
                assert_eq!(assert_ready!(join.poll()), Ok(()));
            }
            Ok(())
        })
        .await;
        assert_eq!(out, Ok(()));
    });
}

/// Ports `JoinSet` `runtime_gone`: a task spawned on a runtime that is then dropped
/// joins as cancelled, on another runtime.
///
/// corral: the scope is first polled on one runtime (its child is spawned there), that
/// runtime shuts down (dropping the child's task), and the scope finishes on another:
/// the child's handle yields `Cancelled`, and the scope completes, since its child is
/// gone. Nothing recorded a failure, so the scope yields the body's value, as it does
/// after a child's `abort` (`ChildError::Cancelled`'s docs).
#[test]
fn joinset_runtime_gone() {
    let probe = Probe::new();
    let child = probe.forever::<u32>();
    let mut owner = Box::pin(scope(move |s| async move { Ok(s.go(child).await) }));
    let first = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    first.block_on(async {
        let mut polled = task::spawn(&mut owner);
        assert_pending!(polled.poll());
        turns(5).await;
        assert_eq!(probe.started(), 1);
    });
    drop(first);
    assert_eq!(
        probe.dropped(),
        1,
        "the runtime's shutdown dropped the child"
    );
    let second = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    assert_eq!(second.block_on(owner), Ok(Err(ChildError::Cancelled)));
}
