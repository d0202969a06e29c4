//! Redis restarts (losing every key) while permits are held and requests wait: holders
//! see their lease-lost token fire, waiters resume, and a resource that checks fencing
//! tokens refuses every stale holder. And a pause shorter than the lease: leases renew,
//! no token fires.

use std::sync::Arc;
use std::time::Duration;

use corral_fleet::test_server::RedisServer;
use corral_fleet::FleetSemaphore;
use parking_lot::Mutex;

const LEASE: Duration = Duration::from_millis(900);
const SLACK: Duration = Duration::from_secs(10);

/// The guarded resource: accepts a write only with a fencing token at least as large as
/// every token it accepted before.
#[derive(Default)]
struct Fenced {
    max: u64,
    accepted: Vec<u64>,
    refused: Vec<u64>,
}

impl Fenced {
    fn write(&mut self, fence: u64) -> bool {
        if fence >= self.max {
            self.max = fence;
            self.accepted.push(fence);
            true
        } else {
            self.refused.push(fence);
            false
        }
    }
}

async fn open(url: &str) -> FleetSemaphore {
    FleetSemaphore::builder(url, "restart")
        .capacity(2)
        .lease(LEASE)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_fires_tokens_waiters_resume_fencing_holds() {
    let mut server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let url = server.url();
    let (h1, h2, h3) = (open(&url).await, open(&url).await, open(&url).await);
    let resource = Arc::new(Mutex::new(Fenced::default()));

    let old = [h1.acquire(1).await.unwrap(), h2.acquire(1).await.unwrap()];
    for p in &old {
        assert!(resource.lock().write(p.fencing_token()));
    }
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let h3 = h3.clone();
            tokio::spawn(async move { h3.acquire(1).await })
        })
        .collect();
    let start = tokio::time::Instant::now();
    while h3.waiters().await.unwrap() < 2 {
        assert!(start.elapsed() < SLACK, "waiters did not queue");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    tokio::task::block_in_place(|| server.restart()).unwrap();

    // The holders learn that their leases are gone.
    for p in &old {
        tokio::time::timeout(LEASE + SLACK, p.lease_lost().cancelled())
            .await
            .expect("lease-lost token fires after the restart");
    }
    // The waiters queue again on the fresh server and are granted.
    let mut new = Vec::new();
    for w in waiters {
        let p = tokio::time::timeout(LEASE + SLACK, w)
            .await
            .expect("waiters resume after the restart")
            .unwrap()
            .expect("granted after the restart");
        assert!(!p.is_lost());
        new.push(p);
    }
    let old_max = old.iter().map(|p| p.fencing_token()).max().unwrap();
    // Each new holder writes once, in the order they were granted.
    new.sort_by_key(|p| p.fencing_token());
    for p in &new {
        assert!(
            p.fencing_token() > old_max,
            "fencing token {} after the restart is not above {old_max}",
            p.fencing_token()
        );
        assert!(resource.lock().write(p.fencing_token()));
    }
    // Stale holders that ignore their token are refused by the resource.
    for p in &old {
        assert!(!resource.lock().write(p.fencing_token()));
    }
    {
        let r = resource.lock();
        assert!(r.accepted.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!((r.accepted.len(), r.refused.len()), (4, 2));
    }
    for p in new {
        p.release().await.unwrap();
    }
    assert_eq!(h1.available().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_shorter_than_the_lease_renews() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let sem = FleetSemaphore::builder(server.url(), "pause")
        .capacity(1)
        .lease(Duration::from_millis(1500))
        .build()
        .await
        .unwrap();
    let p = sem.acquire(1).await.unwrap();
    // Every client's commands wait 400 ms: the lease survives, renewal catches up.
    server.command("CLIENT PAUSE 400 ALL").unwrap();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(
        !p.is_lost(),
        "the lease survived the pause, the token must not fire"
    );
    p.release().await.unwrap();
}
