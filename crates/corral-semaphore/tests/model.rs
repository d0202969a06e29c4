//! Seeded random sequences of every operation (try_acquire, queued acquire, drop of a
//! permit or of a waiting future, forget, split/merge, set_capacity, close), checked
//! after each step against the contract: strict FIFO, no barging, a head that fits is
//! never left waiting, `available == capacity - held` at rest, and everything comes
//! back at the end. Deterministic: a fixed seed range, no threads, no time.

use std::sync::Arc;
use std::task::Poll;

use corral_semaphore::{AcquireError, AcquireOwned, OwnedPermit, Semaphore};
use corral_test_support::Rng;
use tokio_test::task::{spawn, Spawn};

struct Run {
    seed: u64,
    sem: Arc<Semaphore>,
    held: Vec<OwnedPermit>,
    /// Waiting futures, oldest first, with the weight each asked for.
    waiting: Vec<(u64, Spawn<AcquireOwned>)>,
    closed: bool,
}

impl Run {
    fn step(&mut self, r: &mut Rng) {
        match r.below(20) {
            0 | 1 => {
                let n = r.below(6);
                if let Ok(p) = self.sem.try_acquire_owned(n) {
                    assert!(
                        n == 0 || self.waiting.is_empty(),
                        "seed {}: barged",
                        self.seed
                    );
                    self.held.push(p);
                }
            }
            4 | 5 if !self.held.is_empty() => {
                let p = self.held.swap_remove(r.index(self.held.len()));
                if r.below(4) == 0 {
                    p.forget();
                } else {
                    drop(p);
                }
            }
            6 if !self.waiting.is_empty() => {
                let i = r.index(self.waiting.len());
                drop(self.waiting.remove(i));
            }
            7 => self.sem.set_capacity(r.below(8)),
            8 if !self.held.is_empty() => {
                let i = r.index(self.held.len());
                if let Some(part) = self.held[i].split(r.below(3)) {
                    self.held.push(part);
                }
                if self.held.len() >= 2 && r.below(2) == 0 {
                    let last = self.held.pop().expect("len >= 2");
                    self.held[0].merge(last);
                }
            }
            9 if r.below(40) == 0 => {
                self.sem.close();
                self.closed = true;
            }
            4..=9 => {}
            _ => {
                let n = r.below(6);
                self.waiting
                    .push((n, spawn(Arc::clone(&self.sem).acquire_owned(n))));
            }
        }
    }

    /// Polls every waiting future, oldest first, and checks the contract.
    fn settle_and_check(&mut self) {
        let seed = self.seed;
        let mut k = 0;
        while k < self.waiting.len() {
            let (n, fut) = &mut self.waiting[k];
            match fut.poll() {
                Poll::Pending => k += 1,
                Poll::Ready(Ok(p)) => {
                    assert_eq!(p.count(), *n);
                    assert!(
                        *n == 0 || k == 0,
                        "seed {seed}: granted past an older waiter"
                    );
                    self.held.push(p);
                    drop(self.waiting.remove(k));
                }
                Poll::Ready(Err(AcquireError::Closed)) => {
                    assert!(self.closed, "seed {seed}: Closed while open");
                    drop(self.waiting.remove(k));
                }
                Poll::Ready(Err(AcquireError::TooLarge {
                    requested,
                    capacity,
                })) => {
                    assert!(requested > capacity, "seed {seed}: TooLarge that fits");
                    drop(self.waiting.remove(k));
                }
            }
        }
        let held: u64 = self.held.iter().map(OwnedPermit::count).sum();
        let capacity = self.sem.capacity();
        let available = self.sem.available();
        assert_eq!(available, capacity.saturating_sub(held), "seed {seed}");
        assert_eq!(self.sem.waiters(), self.waiting.len(), "seed {seed}");
        if let Some((n, _)) = self.waiting.first() {
            assert!(*n > available, "seed {seed}: the head fits but waits");
            assert!(
                *n <= capacity,
                "seed {seed}: a waiter that can never fit waits"
            );
        }
    }
}

#[test]
fn random_operation_sequences_keep_the_contract() {
    for seed in 0..600 {
        let mut r = Rng(seed);
        let mut run = Run {
            seed,
            sem: Arc::new(Semaphore::new(r.below(8))),
            held: Vec::new(),
            waiting: Vec::new(),
            closed: false,
        };
        // Long enough for more than 64 simultaneous waiters, so slots with and
        // without a lock-free grant ticket are mixed.
        for _ in 0..300 {
            run.step(&mut r);
            run.settle_and_check();
        }
        drop(run.waiting);
        drop(run.held);
        assert_eq!(run.sem.available(), run.sem.capacity(), "seed {seed}");
        assert_eq!(run.sem.waiters(), 0, "seed {seed}");
    }
}
