//! What corral-fleet's Redis tests share: the server each test starts, a handle opener,
//! the status readers, the seed, the flavour macro.
#![allow(dead_code, unreachable_pub, unused_macros)] // each test binary uses a different subset

use std::time::Duration;

use corral_fleet::test_server::RedisServer;
use corral_fleet::FleetSemaphore;
use corral_test_support::eventually_async;

/// Generous: far longer than any effect under test needs on a loaded machine.
pub const SLACK: Duration = Duration::from_secs(10);
/// A lease that cannot run out during a test: only drops and releases return permits,
/// and a waiter's heartbeat (a third of it, 20 s) is longer than `SLACK`, so a grant
/// within `SLACK` came from a notification.
pub const LONG: Duration = Duration::from_secs(60);

/// A `redis-server` of the test's own on a free loopback port.
pub fn server() -> RedisServer {
    RedisServer::start().unwrap_or_else(|e| panic!("{e}"))
}

/// A handle on semaphore `name` at `url` (its own connection, as another process has).
pub async fn open(url: &str, name: &str, capacity: u64, lease: Duration) -> FleetSemaphore {
    FleetSemaphore::builder(url, name)
        .capacity(capacity)
        .lease(lease)
        .build()
        .await
        .expect("build")
}

pub async fn available(sem: &FleetSemaphore) -> u64 {
    sem.available().await.expect("available")
}

pub async fn waiters(sem: &FleetSemaphore) -> u64 {
    sem.waiters().await.expect("waiters")
}

/// Waits until the server holds nothing and queues nobody, and its held counter agrees
/// with the sum over its holders.
pub async fn all_back(sem: &FleetSemaphore, capacity: u64, what: &str) {
    eventually_async(what, || async {
        let s = sem.status().await.unwrap();
        s.available == capacity && s.held == 0 && s.waiters == 0
    })
    .await;
    assert_eq!(sem.__held_cross_check().await.unwrap(), (0, 0), "{what}");
}

/// Closes every client connection on the server (as a network blip or a proxy restart
/// does), except the one sending the command.
pub fn kill_connections(server: &RedisServer) {
    for kind in ["normal", "pubsub"] {
        server
            .command(&format!("CLIENT KILL TYPE {kind} SKIPME yes"))
            .unwrap();
    }
}

/// The seven keys of semaphore `name` (see the crate docs, "On the server").
pub fn delete_keys(server: &RedisServer, name: &str) {
    let keys = [
        "meta", "holders", "leases", "fences", "queue", "qreq", "qexp",
    ]
    .map(|k| format!("corral:fleet:{{{name}}}:{k}"))
    .join(" ");
    server.command(&format!("DEL {keys}")).unwrap();
}

/// `CORRAL_FLEET_SEED` if set, else the file's `default`.
pub fn seed(default: u64) -> u64 {
    std::env::var("CORRAL_FLEET_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// One test on both tokio runtime flavours.
macro_rules! flavours {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "current_thread")]
            async fn current_thread() {
                super::$name().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn multi_thread() {
                super::$name().await;
            }
        }
    };
}
