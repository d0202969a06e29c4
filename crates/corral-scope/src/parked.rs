//! Where a finished child's task memory is freed, on a multi-thread runtime.
//!
//! A child spawned and forgotten (`s.go(..)` with its handle dropped) is freed by the
//! worker that runs it, as soon as it finishes: tokio drops the task's last reference
//! there. With glibc's allocator that worker frees into the *spawner's* arena, under the
//! arena's lock, while the spawner allocates the next children's tasks from it under the
//! same lock; with two workers that contention put whole rounds of the benchmark into a
//! mode ~2.5x slower (BENCHMARKS.md, "Session 6: mt2"). A `JoinSet` does not pay it: it
//! keeps every task's handle, and its owner frees the tasks as it joins them.
//!
//! So on a multi-thread runtime each [`Scope`](crate::Scope) handle keeps its latest
//! [`PARKED`] children referenced (a tokio `AbortHandle` each, never used to abort), and
//! lets go of the oldest as it spawns a new one: a child that has finished by then is
//! freed on the spawning thread, into the arena it came from. A child's output, its
//! handle and its group are untouched by this; only the task's memory block (128 bytes
//! for a small child) outlives the child, by at most `PARKED` spawns through the same
//! handle, or until the handle is dropped, and no more of them than were live at its
//! latest spawn. A current-thread runtime has one thread, so nothing is kept there; nor
//! in a scope with a concurrency limit, whose spawner waits for slots and so never runs
//! ahead of the workers (there the kept frees only lengthened the spawner's path).

use std::collections::VecDeque;

use corral_shared::sync::{AtomicU32, Mutex, Ordering};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::task::AbortHandle;

use crate::child::ChildHandle;

/// How many of its latest children a handle keeps referenced: at most 128 KiB of task
/// memory for small children. 1,024 and 8,192 measured the same; fewer lets a finished
/// child's last reference fall to the worker that ran it again.
pub(crate) const PARKED: usize = 1024;

/// Not decided yet: the handle has not spawned.
const UNKNOWN: u32 = 0;
/// A current-thread runtime: nothing is kept.
const OFF: u32 = 1;
/// A multi-thread runtime: the latest children are kept.
const ON: u32 = 2;

/// One handle's latest children.
#[derive(Debug)]
pub(crate) struct Parked {
    /// [`UNKNOWN`], [`OFF`] or [`ON`], decided at the handle's first spawn from the
    /// runtime it spawns on (a scope's future may be created outside any runtime).
    mode: AtomicU32,
    tasks: Mutex<VecDeque<AbortHandle>>,
}

impl Default for Parked {
    fn default() -> Self {
        Self {
            mode: AtomicU32::new(UNKNOWN),
            tasks: Mutex::new(VecDeque::new()),
        }
    }
}

impl Parked {
    /// Keeps a reference to the task of `child`, just spawned while `live` children of
    /// its group were live (itself included), and lets go of the oldest ones kept
    /// beyond `live` (at most [`PARKED`]).
    ///
    /// Bounded by `live` because a group whose children finish about as fast as they
    /// are spawned gains nothing from keeping more: with `live` children live, the one
    /// spawned `live` spawns back has finished (or had, as far as this count goes), and
    /// kept longer the finished tasks would only widen the memory the spawner touches.
    pub(crate) fn park<T>(&self, child: &ChildHandle<T>, live: usize) {
        if !self.on() {
            return;
        }
        let Some(task) = child.task() else {
            return;
        };
        let keep = live.clamp(1, PARKED);
        let mut tasks = self.tasks.lock();
        tasks.push_back(task);
        let excess = tasks.len().saturating_sub(keep);
        // One out per spawn in the steady state; more only when `live` fell.
        let oldest = if excess == 1 { tasks.pop_front() } else { None };
        let older: Vec<AbortHandle> = if excess > 1 {
            tasks.drain(..excess).collect()
        } else {
            Vec::new()
        };
        drop(tasks);
        // Outside the lock: this may free the oldest children's tasks.
        drop((oldest, older));
    }

    /// Whether this handle keeps its children: it spawns on a multi-thread runtime.
    fn on(&self) -> bool {
        match self.mode.load(Ordering::Relaxed) {
            ON => true,
            OFF => false,
            _ => {
                let multi = Handle::try_current()
                    .is_ok_and(|rt| rt.runtime_flavor() == RuntimeFlavor::MultiThread);
                self.mode
                    .store(if multi { ON } else { OFF }, Ordering::Relaxed);
                multi
            }
        }
    }

    /// How many children are kept (tests).
    #[cfg(all(test, not(corral_loom)))]
    pub(crate) fn len(&self) -> usize {
        self.tasks.lock().len()
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;

    use super::PARKED;
    use crate::{scope, ScopeConfig};

    /// On a multi-thread runtime a handle keeps at most `PARKED` of its latest
    /// children, a clone starts with none, and nothing is kept on a current-thread
    /// runtime; every child still runs and the scope still joins them all.
    #[test]
    fn a_handle_keeps_at_most_its_latest_children_on_a_multi_thread_runtime() {
        for (flavor, rt, expect) in [
            ("mt", corral_test_support::multi_thread(2), PARKED),
            (
                "ct",
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime"),
                0,
            ),
        ] {
            let ran = Arc::new(AtomicUsize::new(0));
            let out = rt.block_on(scope(|s| {
                let ran = ran.clone();
                async move {
                    // Every child stays live until all are spawned.
                    let gate = CancellationToken::new();
                    for _ in 0..PARKED + 100 {
                        let (ran, gate) = (ran.clone(), gate.clone());
                        s.go(async move {
                            gate.cancelled().await;
                            ran.fetch_add(1, Ordering::Relaxed);
                            Ok::<(), ()>(())
                        });
                    }
                    assert_eq!(s.parked.len(), expect, "{flavor}");
                    assert_eq!(s.clone().parked.len(), 0, "{flavor}: a clone keeps none");
                    gate.cancel();
                    Ok(())
                }
            }));
            assert_eq!(out, Ok(()));
            assert_eq!(ran.load(Ordering::Relaxed), PARKED + 100, "{flavor}");
        }
    }

    /// A handle keeps no more children than were live when it spawned the latest one,
    /// and a scope with a limit keeps none.
    #[test]
    fn a_handle_keeps_no_more_than_the_live_children() {
        let rt = corral_test_support::multi_thread(2);
        let out = rt.block_on(scope(|s| async move {
            let gate = CancellationToken::new();
            for _ in 0..3 {
                let gate = gate.clone();
                s.go(async move {
                    gate.cancelled().await;
                    Ok::<(), ()>(())
                });
            }
            assert_eq!(s.parked.len(), 3);
            gate.cancel();
            corral_test_support::eventually("the three children gone", || s.live_children() == 0)
                .await;
            s.go(async { Ok(()) });
            assert_eq!(s.parked.len(), 1, "kept beyond the one live child");
            Ok(())
        }));
        assert_eq!(out, Ok(()));

        let limited = ScopeConfig::builder().limit(4).build().expect("valid");
        let out = rt.block_on(limited.scope(|s| async move {
            for _ in 0..10 {
                s.spawn(async { Ok::<(), ()>(()) }).await.expect("open");
            }
            assert_eq!(s.parked.len(), 0, "a limited scope keeps none");
            Ok(())
        }));
        assert_eq!(out, Ok(()));
    }

    /// What a kept task holds is its memory only: the output of a finished child whose
    /// handle was dropped is dropped as before, while the spawning handle still keeps
    /// the task.
    #[test]
    fn a_kept_child_does_not_keep_its_output() {
        struct Output(Arc<AtomicUsize>);
        impl Drop for Output {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let rt = corral_test_support::multi_thread(2);
        let out = rt.block_on(scope(|s| {
            let dropped = dropped.clone();
            async move {
                let output = Output(dropped.clone());
                drop(s.go(async move { Ok::<_, ()>(output) }));
                assert_eq!(s.parked.len(), 1);
                corral_test_support::eventually("the finished child's output dropped", || {
                    dropped.load(Ordering::SeqCst) == 1
                })
                .await;
                assert_eq!(s.parked.len(), 1, "the task is still kept");
                Ok(())
            }
        }));
        assert_eq!(out, Ok(()));
    }
}
