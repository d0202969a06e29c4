//! One deterministic test per rule of a scope (current-thread runtime, paused time).

mod common;

use std::time::Duration;

use common::{assert_no_alive_tasks, turns, Boom, Probe};
use corral_leak::LeakGuard;
use corral_scope::{
    current_deadline, scope, BuildError, ChildError, Results, Scope, ScopeConfig, ScopeError,
    SpawnError, TrySpawnError,
};
use tokio::sync::oneshot;
use tokio::time::{sleep, Instant};
use tokio_test::{assert_pending, assert_ready, task};

const HOUR: Duration = Duration::from_secs(3600);

/// A child that sleeps `ms` and succeeds.
async fn nap(ms: u64) -> Result<(), Boom> {
    sleep(Duration::from_millis(ms)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn returns_body_value_after_every_child_finished() {
    let guard = LeakGuard::new();
    let probe = Probe::new();
    let start = Instant::now();
    let p = probe.clone();
    let out = scope(|s| async move {
        // Handle dropped at once: the child is still joined.
        let handle = s
            .spawn(p.watch(async {
                sleep(Duration::from_secs(10)).await;
                Ok::<_, Boom>(())
            }))
            .await
            .expect("open");
        drop(handle);
        let v = s.spawn(async { Ok(7) }).await.expect("open");
        v.await.map_err(|_| Boom(0))
    })
    .await;
    assert_eq!(out, Ok(7));
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!((probe.started(), probe.dropped()), (1, 1));
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn first_error_cancels_siblings_and_is_the_result() {
    let guard = LeakGuard::new();
    let probe = Probe::new();
    let p = probe.clone();
    let (token_tx, token_rx) = oneshot::channel();
    let out = scope(|s: Scope<Boom>| async move {
        token_tx.send(s.token()).expect("receiver alive");
        let slow = s.spawn(p.forever::<u32>()).await.expect("open");
        s.spawn(async {
            sleep(Duration::from_secs(1)).await;
            Err::<(), _>(Boom(1))
        })
        .await
        .expect("open");
        s.spawn(async {
            sleep(Duration::from_secs(2)).await;
            Err::<(), _>(Boom(2))
        })
        .await
        .expect("open");
        // The body is dropped with the group: this never returns.
        let v = slow.await;
        unreachable!("body survived the failure: {v:?}")
    })
    .await;
    assert_eq!(out, Err::<(), _>(ScopeError::Failed(Boom(1))));
    assert_eq!((probe.started(), probe.dropped()), (1, 1));
    assert!(token_rx.await.expect("sent").is_cancelled());
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn body_error_cancels_children() {
    let guard = LeakGuard::new();
    let probe = Probe::new();
    let p = probe.clone();
    let out: Result<(), _> = scope(|s| async move {
        s.spawn(p.forever::<()>()).await.expect("open");
        turns(2).await;
        Err(Boom(9))
    })
    .await;
    assert_eq!(out, Err(ScopeError::Failed(Boom(9))));
    assert_eq!((probe.started(), probe.dropped()), (1, 1));
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn child_handle_reports_where_the_output_went() {
    let guard = LeakGuard::new();
    let (tx, rx) = oneshot::channel();
    let out: Result<(), _> = scope(|s| async move {
        let ok = s.spawn(async { Ok::<_, Boom>(1) }).await.expect("open");
        let aborted = s
            .spawn(std::future::pending::<Result<u32, _>>())
            .await
            .expect("open");
        aborted.abort();
        // Aborting one child does not cancel the group.
        assert_eq!(aborted.await, Err(ChildError::Cancelled));
        assert!(!s.is_cancelled());
        assert_eq!(ok.await, Ok(1));
        let failing = s
            .spawn(async { Err::<u32, _>(Boom(3)) })
            .await
            .expect("open");
        tx.send(failing).expect("receiver alive");
        Ok(())
    })
    .await;
    assert_eq!(out, Err(ScopeError::Failed(Boom(3))));
    let failing = rx.await.expect("sent");
    assert!(failing.is_finished());
    assert_eq!(failing.await, Err(ChildError::Failed));
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn panic_cancels_siblings_and_resumes_in_owner_after_they_are_down() {
    let guard = LeakGuard::new();
    let probe = Probe::new();
    let p = probe.clone();
    let owner = tokio::spawn(scope(|s: Scope<Boom>| async move {
        s.spawn(p.forever::<()>()).await.expect("open");
        s.spawn(async {
            sleep(Duration::from_millis(5)).await;
            if true {
                panic!("child boom");
            }
            Ok(())
        })
        .await
        .expect("open");
        std::future::pending::<Result<(), Boom>>().await
    }));
    let err = owner.await.expect_err("the panic resumes in the owner");
    // The sibling was down before the owner's task finished unwinding.
    assert_eq!((probe.started(), probe.dropped()), (1, 1));
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child boom"));
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

/// The body passes several await points; the owner is dropped after each number of
/// polls in turn. Every child, grandchild (spawned through a clone) and nested scope's
/// child must be gone.
#[tokio::test(start_paused = true)]
async fn owner_drop_at_every_await_point_aborts_everything() {
    let guard = LeakGuard::new();
    let mut completed_at = None;
    let mut dropped_mid_flight = 0;
    for drop_after in 0..60 {
        let probe = Probe::new();
        let p = probe.clone();
        let (token_tx, token_rx) = oneshot::channel();
        let fut = scope(|s: Scope<Boom>| async move {
            let _ = token_tx.send(s.token());
            let s2 = s.clone();
            let p2 = p.clone();
            let _ = s
                .spawn(p.watch(async move {
                    let _ = s2.spawn(p2.watch(nap(300))).await;
                    sleep(Duration::from_millis(400)).await;
                    Ok(())
                }))
                .await;
            sleep(Duration::from_millis(100)).await;
            let _ = s.spawn(p.watch(nap(300))).await;
            let p3 = p.clone();
            scope(|n: Scope<Boom>| async move {
                let _ = n.spawn(p3.watch(nap(300))).await;
                sleep(Duration::from_millis(100)).await;
                Ok(())
            })
            .await
            .map_err(|_| Boom(0))?;
            sleep(Duration::from_millis(100)).await;
            Ok(())
        });
        let mut owner = task::spawn(fut);
        let mut done = false;
        for _ in 0..drop_after {
            if owner.poll().is_ready() {
                done = true;
                break;
            }
            sleep(Duration::from_millis(25)).await;
        }
        let live_children = probe.started() - probe.dropped();
        drop(owner);
        if !done && live_children > 0 {
            dropped_mid_flight += 1;
        }
        if done && completed_at.is_none() {
            completed_at = Some(drop_after);
        }
        assert_no_alive_tasks().await;
        assert_eq!(
            probe.started(),
            probe.dropped(),
            "drop after {drop_after} polls left children alive"
        );
        if let Ok(token) = token_rx.await {
            assert!(
                token.is_cancelled(),
                "token not cancelled (drop after {drop_after})"
            );
        }
    }
    // The loop covered every await point up to completion, most with children running.
    assert!(completed_at.is_some());
    assert!(
        dropped_mid_flight >= 10,
        "only {dropped_mid_flight} drops mid-flight"
    );
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn spawn_after_finish_is_refused_with_the_future_back() {
    let guard = LeakGuard::new();
    let escaped = scope(|s: Scope<Boom>| async move { Ok(s.clone()) })
        .await
        .expect("ok");
    assert!(escaped.is_closed());
    let fut = async { Ok::<_, Boom>(5) };
    let back = match escaped.spawn(fut).await {
        Err(SpawnError::Closed(back)) => back,
        Ok(_) => panic!("spawned on a finished scope"),
    };
    assert_eq!(back.await, Ok(5));
    match escaped.try_spawn(async { Ok::<_, Boom>(6) }) {
        Err(TrySpawnError::Closed(back)) => assert_eq!(back.await, Ok(6)),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        0
    );
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn spawn_on_cancelled_scope_is_refused_and_waiting_spawner_gets_closed() {
    let guard = LeakGuard::new();
    let config = ScopeConfig::builder().limit(1).build().expect("valid");
    let (scope_tx, scope_rx) = oneshot::channel();
    let (gate_tx, gate_rx) = oneshot::channel::<()>();
    let mut owner = task::spawn(config.scope(|s: Scope<Boom>| async move {
        scope_tx.send(s.clone()).expect("receiver alive");
        s.spawn(async move {
            let _ = gate_rx.await;
            Err::<(), _>(Boom(4))
        })
        .await
        .expect("open");
        std::future::pending().await
    }));
    assert_pending!(owner.poll());
    let s = scope_rx.await.expect("sent");
    let mut waiter = task::spawn(s.spawn(async { Ok::<_, Boom>(1) }));
    assert_pending!(waiter.poll());
    gate_tx.send(()).expect("child alive");
    turns(3).await;
    assert!(waiter.is_woken());
    let back = match assert_ready!(waiter.poll()) {
        Err(SpawnError::Closed(back)) => back,
        Ok(_) => panic!("admitted into a cancelled scope"),
    };
    assert_eq!(back.await, Ok(1));
    assert!(matches!(
        s.try_spawn(async { Ok::<_, Boom>(2) }),
        Err(TrySpawnError::Closed(_))
    ));
    assert!(owner.is_woken());
    assert_eq!(
        assert_ready!(owner.poll()),
        Err::<(), _>(ScopeError::Failed(Boom(4)))
    );
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn limit_admits_in_fifo_order_and_try_spawn_hands_back() {
    let guard = LeakGuard::new();
    let config = ScopeConfig::builder().limit(1).build().expect("valid");
    let (scope_tx, scope_rx) = oneshot::channel();
    let mut owner = task::spawn(config.scope(|s: Scope<Boom>| async move {
        scope_tx.send(s.clone()).expect("receiver alive");
        std::future::pending::<Result<(), Boom>>().await
    }));
    assert_pending!(owner.poll());
    let s = scope_rx.await.expect("sent");
    let log = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let child = |id: u32, gate: oneshot::Receiver<()>| {
        let log = log.clone();
        async move {
            log.lock().push(id);
            let _ = gate.await;
            Ok::<_, Boom>(id)
        }
    };
    let (g0, r0) = oneshot::channel();
    let (g1, r1) = oneshot::channel();
    let (_g2, r2) = oneshot::channel();
    let (g3, r3) = oneshot::channel();
    let first = s.try_spawn(child(0, r0)).expect("a slot is free");
    let mut w1 = task::spawn(s.spawn(child(1, r1)));
    let mut w2 = task::spawn(s.spawn(child(2, r2)));
    let mut w3 = task::spawn(s.spawn(child(3, r3)));
    assert_pending!(w1.poll());
    assert_pending!(w2.poll());
    assert_pending!(w3.poll());
    // At the limit: refused, future handed back, nothing queued.
    let back = match s.try_spawn(child(9, oneshot::channel().1)) {
        Err(TrySpawnError::Full(back)) => back,
        other => panic!("expected Full, got {other:?}"),
    };
    drop(back);
    // A waiter that gives up leaves the line.
    drop(w2);
    g0.send(()).expect("child 0 waits");
    assert_eq!(first.await, Ok(0));
    assert!(w1.is_woken());
    assert!(!w3.is_woken());
    assert_pending!(w3.poll());
    let h1 = assert_ready!(w1.poll()).expect("admitted");
    turns(2).await;
    g1.send(()).expect("child 1 waits");
    assert_eq!(h1.await, Ok(1));
    assert!(w3.is_woken());
    let h3 = assert_ready!(w3.poll()).expect("admitted");
    turns(2).await;
    g3.send(()).expect("child 3 waits");
    assert_eq!(h3.await, Ok(3));
    assert_eq!(*log.lock(), [0, 1, 3]);
    drop(owner);
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn deadline_cancels_the_group_with_a_distinct_error() {
    let guard = LeakGuard::new();
    let probe = Probe::new();
    let p = probe.clone();
    let start = Instant::now();
    let config = ScopeConfig::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("valid");
    let (token_tx, token_rx) = oneshot::channel();
    let out: Result<(), _> = config
        .scope(|s: Scope<Boom>| async move {
            token_tx.send(s.token()).expect("receiver alive");
            s.spawn(p.forever::<()>()).await.expect("open");
            sleep(HOUR).await;
            Ok(())
        })
        .await;
    assert_eq!(out, Err(ScopeError::DeadlineExceeded));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!((probe.started(), probe.dropped()), (1, 1));
    assert!(token_rx.await.expect("sent").is_cancelled());
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn nested_scopes_inherit_the_sooner_deadline() {
    let guard = LeakGuard::new();
    let start = Instant::now();
    let parent = ScopeConfig::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("valid");
    let longer = ScopeConfig::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("valid");
    let shorter = ScopeConfig::builder()
        .timeout(Duration::from_millis(10))
        .build()
        .expect("valid");
    let (nested_tx, nested_rx) = oneshot::channel();
    let out: Result<(), _> = parent
        .scope(|s: Scope<Boom>| async move {
            let parent_deadline = s.deadline().expect("has a deadline");
            assert_eq!(parent_deadline, start + Duration::from_millis(100));
            assert_eq!(current_deadline(), Some(parent_deadline));
            s.spawn(async move {
                // In a child: the task-local finds the parent.
                assert_eq!(current_deadline(), Some(parent_deadline));
                let short = shorter
                    .scope(|n: Scope<Boom>| async move {
                        assert_eq!(n.deadline(), Some(start + Duration::from_millis(10)));
                        sleep(HOUR).await;
                        Ok(())
                    })
                    .await;
                assert_eq!(short, Err(ScopeError::DeadlineExceeded));
                assert_eq!(start.elapsed(), Duration::from_millis(10));
                let long = longer
                    .scope(|n: Scope<Boom>| async move {
                        assert_eq!(n.deadline(), Some(parent_deadline));
                        sleep(HOUR).await;
                        Ok(())
                    })
                    .await;
                let _ = nested_tx.send(long);
                Ok(())
            })
            .await
            .expect("open");
            sleep(HOUR).await;
            Ok(())
        })
        .await;
    assert_eq!(out, Err(ScopeError::DeadlineExceeded));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    // The nested scope either reported its own deadline or was aborted with its parent.
    if let Ok(long) = nested_rx.await {
        assert_eq!(long, Err(ScopeError::DeadlineExceeded));
    }
    assert_eq!(current_deadline(), None);
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn token_is_cancelled_on_failure_for_cooperative_children() {
    let guard = LeakGuard::new();
    let (seen_tx, seen_rx) = oneshot::channel();
    let out: Result<(), _> = scope(|s: Scope<Boom>| async move {
        let token = s.token();
        s.spawn(async move {
            // Code that cannot be aborted at an await (think: a blocking section) watches
            // the token; here a thread stands for it.
            let watcher = std::thread::spawn(move || {
                while !token.is_cancelled() {
                    std::thread::yield_now();
                }
                true
            });
            let seen = tokio::task::spawn_blocking(move || watcher.join().expect("joined"));
            let _ = seen_tx.send(seen.await.expect("joined"));
            Ok(())
        })
        .await
        .expect("open");
        s.spawn(async { Err::<(), _>(Boom(5)) })
            .await
            .expect("open");
        Ok(())
    })
    .await;
    assert_eq!(out, Err(ScopeError::Failed(Boom(5))));
    // The cooperative child may have been aborted before it reported; the token did reach
    // the blocking side either way (it is cancelled, so the watcher thread ended).
    let _ = seen_rx.await;
    let token = scope(|s: Scope<Boom>| async move { Ok(s.token()) })
        .await
        .expect("ok");
    assert!(
        token.is_cancelled(),
        "the token is cancelled once the scope is over"
    );
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn results_come_back_in_submission_order() {
    let guard = LeakGuard::new();
    let out = scope(|s| async move {
        let mut results = Results::new();
        for i in 0..5u64 {
            results.push(
                s.spawn(async move {
                    // Later submissions finish first.
                    sleep(Duration::from_millis(50 - i * 10)).await;
                    Ok::<_, ChildError>(i)
                })
                .await
                .expect("open"),
            );
        }
        assert_eq!(results.len(), 5);
        results.join().await
    })
    .await;
    assert_eq!(out, Ok(vec![0, 1, 2, 3, 4]));
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

#[tokio::test]
async fn builder_rejects_nonsense() {
    assert_eq!(
        ScopeConfig::builder().limit(0).build().err(),
        Some(BuildError::ZeroLimit)
    );
    let max = corral_scope::MAX_LIMIT;
    assert_eq!(
        ScopeConfig::builder().limit(max + 1).build().err(),
        Some(BuildError::LimitTooLarge {
            limit: max + 1,
            max
        })
    );
    assert_eq!(
        BuildError::ZeroLimit.to_string(),
        "concurrency limit must be at least 1"
    );
    assert_eq!(
        ScopeConfig::builder().limit(3).build().expect("ok").limit(),
        Some(3)
    );
}

#[test]
fn public_types_are_send_and_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    fn send_val<T: Send>(_: &T) {}
    send::<Scope<Boom>>();
    sync::<Scope<Boom>>();
    send::<corral_scope::ChildHandle<u32>>();
    sync::<corral_scope::ChildHandle<u32>>();
    send::<Results<u32>>();
    send::<corral_scope::JoinResults<u32>>();
    send::<ScopeError<Boom>>();
    sync::<ScopeError<Boom>>();
    send::<ChildError>();
    sync::<ChildError>();
    send::<ScopeConfig>();
    sync::<ScopeConfig>();
    send::<BuildError>();
    let fut = scope(|s: Scope<Boom>| async move {
        let spawn = s.spawn(async { Ok(1) });
        send_val(&spawn);
        let _ = spawn.await;
        Ok(())
    });
    send_val(&fut);
    fn spawn_err<F: Send>() {
        send::<SpawnError<F>>();
        send::<TrySpawnError<F>>();
    }
    spawn_err::<std::future::Ready<Result<(), Boom>>>();
}

#[tokio::test(start_paused = true)]
async fn children_are_tracked_tasks_registered_at_the_call_site() {
    let guard = LeakGuard::new();
    let (tx, rx) = oneshot::channel::<()>();
    let mut owner = task::spawn(scope(|s: Scope<Boom>| async move {
        let h = s
            .spawn(async move {
                let _ = rx.await;
                Ok(())
            })
            .await
            .expect("open");
        h.await.map_err(|_| Boom(0))
    }));
    assert_pending!(owner.poll());
    let here = tokio::runtime::Handle::current().id();
    let snap = corral_task::snapshot();
    let mine: Vec<_> = snap.iter().filter(|t| t.runtime() == here).collect();
    assert_eq!(mine.len(), 1);
    assert!(mine[0].location().file().ends_with("rules.rs"));
    tx.send(()).expect("child waits");
    turns(3).await;
    assert_eq!(assert_ready!(owner.poll()), Ok(()));
    assert_eq!(common::tracked_tasks_here(), 0);
    guard.assert_clean().await;
}

/// The guard used above does see the shape a scope prevents: a child detached from an
/// owner that was dropped (plain spawn inside an aborted task).
#[tokio::test(start_paused = true)]
async fn leak_guard_sees_a_detached_child() {
    let guard = LeakGuard::new();
    let owner = corral_task::spawn(async {
        let _child = corral_task::spawn(std::future::pending::<()>());
        std::future::pending::<()>().await
    });
    turns(2).await;
    owner.abort();
    turns(2).await;
    let report = guard.check().await;
    assert!(!report.is_clean(), "the detached child went unnoticed");
    assert_eq!(report.leaked().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn owner_drop_refuses_a_spawner_waiting_for_a_slot() {
    let guard = LeakGuard::new();
    let config = ScopeConfig::builder().limit(1).build().expect("valid");
    let probe = Probe::new();
    let p = probe.clone();
    let (scope_tx, scope_rx) = oneshot::channel();
    let mut owner = task::spawn(config.scope(|s: Scope<Boom>| async move {
        scope_tx.send(s.clone()).expect("receiver alive");
        s.spawn(p.forever::<()>()).await.expect("open");
        // Inside a scope, the current token is the scope's own.
        assert!(corral_scope::current_token().is_some());
        std::future::pending::<Result<(), Boom>>().await
    }));
    assert_pending!(owner.poll());
    turns(2).await;
    let s = scope_rx.await.expect("sent");
    let mut waiter = task::spawn(s.spawn(async { Ok::<_, Boom>(1) }));
    assert_pending!(waiter.poll());
    drop(owner);
    assert!(waiter.is_woken());
    match assert_ready!(waiter.poll()) {
        Err(SpawnError::Closed(back)) => assert_eq!(back.await, Ok(1)),
        Ok(_) => panic!("admitted after the owner was dropped"),
    }
    assert!(s.is_closed() && s.is_cancelled());
    assert!(s.token().is_cancelled());
    assert!(corral_scope::current_token().is_none());
    assert_no_alive_tasks().await;
    assert_eq!((probe.started(), probe.dropped()), (1, 1));
    guard.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn named_scope_names_its_children_in_the_registry() {
    let guard = LeakGuard::new();
    let config = ScopeConfig::builder()
        .name("upstream-call")
        .build()
        .expect("valid");
    let out = config
        .scope(|s: Scope<Boom>| async move {
            let h = s
                .spawn(async {
                    let here = tokio::runtime::Handle::current().id();
                    let snap = corral_task::snapshot();
                    let named = snap
                        .iter()
                        .filter(|t| t.runtime() == here && t.name() == Some("upstream-call"))
                        .count();
                    Ok(named)
                })
                .await
                .expect("open");
            h.await.map_err(|_| Boom(0))
        })
        .await;
    assert_eq!(out, Ok(1));
    assert_no_alive_tasks().await;
    guard.assert_clean().await;
}

/// Inside its own group too, `spawn` hands the future back with `Closed` at once once
/// the group is cancelled (here: the owner is dropped from inside the child's own
/// poll); it used to stay pending forever. The refused future never starts.
#[tokio::test(start_paused = true)]
async fn spawn_inside_a_cancelled_group_is_refused_at_once() {
    let guard = LeakGuard::new();
    let probe = Probe::new();
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    type Owner =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ScopeError<Boom>>> + Send>>;
    let owner_slot: std::sync::Arc<parking_lot::Mutex<Option<Owner>>> = Default::default();
    let (p, r, slot) = (probe.clone(), refused.clone(), owner_slot.clone());
    let owner: Owner = Box::pin(scope(move |s: Scope<Boom>| async move {
        let s2 = s.clone();
        s.go(async move {
            // Cancel the group synchronously, mid-poll: drop the owner.
            drop(slot.lock().take());
            assert!(s2.is_cancelled());
            let mut spawn = task::spawn(s2.spawn(p.forever::<()>()));
            match assert_ready!(spawn.poll()) {
                Err(SpawnError::Closed(back)) => drop(back),
                Ok(_) => panic!("admitted into a cancelled group"),
            }
            match s2.try_spawn(async { Ok::<_, Boom>(()) }) {
                Err(TrySpawnError::Closed(_)) => {}
                other => panic!("expected Closed, got {other:?}"),
            }
            // `go` drops the refused future unstarted; its handle says so.
            assert_eq!(
                s2.go(async { Ok::<_, Boom>(()) }).await,
                Err(ChildError::Cancelled)
            );
            r.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        });
        std::future::pending::<Result<(), Boom>>().await
    }));
    *owner_slot.lock() = Some(owner);
    // Poll the owner once (through the slot) so the body spawns the child.
    {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut slot = owner_slot.lock();
        let owner = slot.as_mut().expect("owner");
        assert!(owner.as_mut().poll(&mut cx).is_pending());
    }
    turns(3).await;
    assert!(owner_slot.lock().is_none(), "the child dropped the owner");
    assert_no_alive_tasks().await;
    assert!(refused.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!((probe.started(), probe.dropped()), (0, 1));
    guard.assert_clean().await;
}

/// A nested scope's children are part of its parent: when the parent fails, it drops
/// the body holding the nested scope and returns only once the nested scope's child,
/// woken to stop, has been dropped too (the parent used to return at once).
#[tokio::test(start_paused = true)]
async fn failed_parent_waits_for_a_dropped_nested_scopes_children() {
    let probe = Probe::new();
    let p = probe.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let mut owner = task::spawn(scope(|_s: Scope<Boom>| async move {
        let nested = scope(|n: Scope<Boom>| async move {
            n.spawn(p.forever::<()>()).await.expect("open");
            std::future::pending::<()>().await;
            Ok(())
        });
        tokio::select! {
            _ = nested => {}
            _ = rx => {}
        }
        Err::<(), _>(Boom(1))
    }));
    assert_pending!(owner.poll());
    turns(3).await;
    assert_eq!((probe.started(), probe.dropped()), (1, 0));
    tx.send(()).expect("body waits");
    assert!(owner.is_woken());
    // The body fails and drops the nested scope, whose child is woken but still alive.
    assert_pending!(owner.poll());
    assert_eq!(probe.dropped(), 0);
    turns(3).await;
    assert_eq!(probe.dropped(), 1);
    assert!(owner.is_woken());
    assert_eq!(
        assert_ready!(owner.poll()),
        Err(ScopeError::Failed(Boom(1)))
    );
    assert_no_alive_tasks().await;
}

/// A child aborted through its handle before it ever ran gives its slot back: the
/// spawner waiting behind it is admitted, and nothing of it ran.
#[tokio::test(start_paused = true)]
async fn child_aborted_before_it_starts_returns_its_slot() {
    let config = ScopeConfig::builder().limit(1).build().expect("valid");
    let probe = Probe::new();
    let p = probe.clone();
    let out = config
        .scope(|s: Scope<Boom>| async move {
            let first = s.spawn(p.forever::<u32>()).await.expect("a slot is free");
            let mut second = task::spawn(s.spawn(async { Ok(2u32) }));
            assert_pending!(second.poll());
            first.abort();
            assert_eq!(first.await, Err(ChildError::Cancelled));
            assert!(second.is_woken());
            let second = assert_ready!(second.poll()).expect("admitted");
            second.await.map_err(|_| Boom(0))
        })
        .await;
    assert_eq!(out, Ok(2));
    assert_eq!((probe.started(), probe.dropped()), (0, 1));
    assert_no_alive_tasks().await;
}
