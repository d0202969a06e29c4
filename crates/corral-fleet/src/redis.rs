//! The Redis backend: a connection manager (RESP3, so pub/sub notifications arrive on
//! the same connection and are resubscribed after a reconnect), the scripts, and the
//! inbox that routes notifications to this process's waiters and holders.
//!
//! # Invariants
//!
//! - Every id this handle sends is `<owner>.<n>`, unique per handle (`owner` is random
//!   per handle), and is registered in the inbox *before* the script that could grant
//!   it runs, so no notification for it can arrive unrouted.
//! - A waiter never relies on a notification alone: it re-runs the acquire script (its
//!   heartbeat) every third of a lease, and at once after the connection dropped, so a
//!   notification lost with a connection delays a grant by at most that interval.

mod scripts;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use corral_shared::sync::{AtomicU64, Mutex, Ordering::Relaxed};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::{BuildError, Unreachable};
use scripts::Scripts;

/// What the acquire script answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Granted: fencing token, lease time left on the server, count.
    Granted {
        fence: u64,
        lease_left: Duration,
    },
    /// Queued (or still queued).
    Queued,
    Closed,
    TooLarge {
        capacity: u64,
    },
    NoPermits {
        available: u64,
    },
}

/// What a notification told a waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// Granted while queued: fencing token and the lease it was granted with.
    Granted {
        fence: u64,
        lease: Duration,
    },
    Closed,
    TooLarge {
        capacity: u64,
    },
    /// The connection dropped (notifications may have been lost): ask the server.
    Recheck,
}

/// One queued waiter's mailbox.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    event: Mutex<Option<Event>>,
    notify: Notify,
}

impl Slot {
    fn post(&self, event: Event) {
        let mut slot = self.event.lock();
        // A decision (granted / failed) is never overwritten by a mere recheck.
        if event != Event::Recheck || slot.is_none() {
            *slot = Some(event);
        }
        drop(slot);
        self.notify.notify_one();
    }

    /// Waits for the next event, or `None` after `timeout` (the heartbeat).
    pub(crate) async fn next(&self, timeout: Duration) -> Option<Event> {
        loop {
            if let Some(event) = self.event.lock().take() {
                return Some(event);
            }
            if tokio::time::timeout(timeout, self.notify.notified())
                .await
                .is_err()
            {
                return self.event.lock().take();
            }
        }
    }
}

/// Routes notifications to this handle's waiters (by id) and holders (lost leases).
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    waiters: Mutex<HashMap<String, Arc<Slot>>>,
    holders: Mutex<HashMap<String, CancellationToken>>,
}

impl Inbox {
    fn deliver(&self, push: PushInfo) {
        match push.kind {
            PushKind::Disconnection => {
                for slot in self.waiters.lock().values() {
                    slot.post(Event::Recheck);
                }
            }
            PushKind::Message => {
                let Some(payload) = push.data.get(1).and_then(text) else {
                    return;
                };
                let mut parts = payload.split(' ');
                let (Some(kind), Some(id)) = (parts.next(), parts.next()) else {
                    return;
                };
                let num = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok());
                let event = match kind {
                    "L" => {
                        if let Some(token) = self.holders.lock().get(id) {
                            token.cancel();
                        }
                        return;
                    }
                    "G" => match (num(parts.next()), num(parts.next())) {
                        (Some(fence), Some(lease)) => Event::Granted {
                            fence,
                            lease: Duration::from_millis(lease),
                        },
                        _ => Event::Recheck,
                    },
                    "C" => Event::Closed,
                    "T" => Event::TooLarge {
                        capacity: num(parts.next()).unwrap_or(0),
                    },
                    _ => return,
                };
                if let Some(slot) = self.waiters.lock().get(id) {
                    slot.post(event);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn register_waiter(&self, id: &str) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        self.waiters.lock().insert(id.to_owned(), Arc::clone(&slot));
        slot
    }

    pub(crate) fn remove_waiter(&self, id: &str) {
        self.waiters.lock().remove(id);
    }

    pub(crate) fn register_holder(&self, id: &str, token: CancellationToken) {
        self.holders.lock().insert(id.to_owned(), token);
    }

    pub(crate) fn remove_holder(&self, id: &str) {
        self.holders.lock().remove(id);
    }
}

/// The server's view, as the state script reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerState {
    pub(crate) capacity: u64,
    pub(crate) available: u64,
    pub(crate) waiters: u64,
    pub(crate) closed: bool,
    pub(crate) held: u64,
    pub(crate) held_sum: u64,
}

/// The Redis backend of one [`FleetSemaphore`](crate::FleetSemaphore) handle.
pub(crate) struct RedisBackend {
    conn: ConnectionManager,
    keys: [String; 7],
    chan: String,
    owner: String,
    next: AtomicU64,
    init_capacity: u64,
    pub(crate) lease: Duration,
    scripts: Scripts,
    pub(crate) inbox: Arc<Inbox>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("keys", &self.keys[0])
            .field("owner", &self.owner)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// A script's answer, and whether it was sent twice (the connection dropped under the
/// first attempt, which may or may not have run). Running any script twice leaves the
/// state as once: acquire and renew find their id and answer as before, leave and
/// forget find nothing the second time (-1), set_capacity, close and state are
/// idempotent.
struct Call {
    value: Value,
    retried: bool,
}

/// Settings the builder validated.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) capacity: u64,
    pub(crate) lease: Duration,
    pub(crate) response_timeout: Duration,
}

impl RedisBackend {
    pub(crate) async fn connect(config: &Config) -> Result<Self, BuildError> {
        use redis::IntoConnectionInfo as _;
        let invalid = |e: redis::RedisError| BuildError::InvalidUrl {
            url: config.url.clone(),
            reason: e.to_string(),
        };
        let info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(invalid)?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(invalid)?;

        let inbox = Arc::new(Inbox::default());
        let sink = Arc::clone(&inbox);
        let manager = ConnectionManagerConfig::new()
            .set_push_sender(move |push: PushInfo| -> Result<(), redis::aio::SendError> {
                sink.deliver(push);
                Ok(())
            })
            .set_automatic_resubscription()
            .set_connection_timeout(Some(config.response_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(config.response_timeout);
        let mut conn = client
            .get_connection_manager_with_config(manager)
            .await
            .map_err(|e| BuildError::Unreachable(e.into()))?;

        let base = format!("corral:fleet:{{{}}}:", config.name);
        let keys = [
            "meta", "holders", "leases", "fences", "queue", "qreq", "qexp",
        ]
        .map(|k| format!("{base}{k}"));
        let chan = format!("{base}w:");
        let owner = random_owner();
        conn.subscribe(format!("{chan}{owner}"))
            .await
            .map_err(|e| BuildError::Unreachable(e.into()))?;
        let backend = RedisBackend {
            conn,
            keys,
            chan,
            owner,
            next: AtomicU64::new(0),
            init_capacity: config.capacity,
            lease: config.lease,
            scripts: Scripts::new(),
            inbox,
        };
        // Creates the semaphore if it does not exist (and loads the scripts).
        backend.state().await.map_err(BuildError::Unreachable)?;
        Ok(backend)
    }

    /// A fresh id for one request on this handle.
    pub(crate) fn new_id(&self) -> String {
        // Relaxed: uniqueness only; no other memory is ordered by it.
        let n = self.next.fetch_add(1, Relaxed);
        format!("{}.{n}", self.owner)
    }

    /// How often a waiter refreshes its queue entry and a holder renews its lease.
    pub(crate) fn heartbeat(&self) -> Duration {
        self.lease / 3
    }

    /// Runs `script`. A call that failed because the connection had dropped (an idle
    /// connection closed by the server or a proxy, a network blip) is sent once more,
    /// on the connection the manager opens in its place, as Redisson and go-redis
    /// retry: otherwise one drop would fail the next release and keep its permits for
    /// a lease. Every script is safe to run twice (see `Call::retried`).
    async fn call(&self, script: &redis::Script, args: &[&dyn ToArg]) -> Result<Call, Unreachable> {
        let mut inv = script.prepare_invoke();
        for key in &self.keys {
            inv.key(key);
        }
        inv.arg(&self.chan).arg(self.init_capacity);
        for a in args {
            a.push(&mut inv);
        }
        let mut conn = self.conn.clone();
        match inv.invoke_async::<Value>(&mut conn).await {
            Ok(value) => Ok(Call {
                value,
                retried: false,
            }),
            Err(err) if err.is_connection_dropped() => Ok(Call {
                value: inv.invoke_async::<Value>(&mut conn).await?,
                retried: true,
            }),
            Err(err) => Err(err.into()),
        }
    }

    pub(crate) async fn acquire(
        &self,
        id: &str,
        n: u64,
        try_only: bool,
    ) -> Result<Reply, Unreachable> {
        let lease = millis(self.lease);
        let wttl = lease;
        let mode = if try_only { "try" } else { "wait" };
        let v = self
            .call(&self.scripts.acquire, &[&id, &n, &lease, &mode, &wttl])
            .await?
            .value;
        let items = array(&v)?;
        let kind = items
            .first()
            .and_then(text)
            .ok_or_else(|| protocol("acquire"))?;
        let at = |i: usize| {
            items
                .get(i)
                .and_then(int)
                .ok_or_else(|| protocol("acquire"))
        };
        Ok(match kind.as_str() {
            "G" => Reply::Granted {
                fence: at(1)?,
                lease_left: Duration::from_millis(at(2)?),
            },
            "Q" => Reply::Queued,
            "C" => Reply::Closed,
            "T" => Reply::TooLarge { capacity: at(1)? },
            "N" => Reply::NoPermits { available: at(1)? },
            _ => return Err(protocol("acquire")),
        })
    }

    /// Releases a permit or leaves the queue: the count released (0 if the id held
    /// nothing, or if the call was sent twice and the second found nothing), `None` if
    /// the server knew no such id.
    pub(crate) async fn leave(&self, id: &str) -> Result<Option<u64>, Unreachable> {
        let call = self.call(&self.scripts.leave, &[&id]).await?;
        match signed(&call.value, "leave")? {
            // Sent twice: the first may have released it before the connection
            // dropped. Either way the permits are back.
            None if call.retried => Ok(Some(0)),
            left => Ok(left),
        }
    }

    /// Renews a lease: the lease time now left, `None` if the server holds no such
    /// permit (lost).
    pub(crate) async fn renew(&self, id: &str) -> Result<Option<Duration>, Unreachable> {
        let v = self
            .call(&self.scripts.renew, &[&id, &millis(self.lease)])
            .await?
            .value;
        Ok(signed(&v, "renew")?.map(Duration::from_millis))
    }

    pub(crate) async fn forget(&self, id: &str) -> Result<Option<u64>, Unreachable> {
        let v = self.call(&self.scripts.forget, &[&id]).await?.value;
        signed(&v, "forget")
    }

    pub(crate) async fn set_capacity(&self, capacity: u64) -> Result<(), Unreachable> {
        self.call(&self.scripts.set_capacity, &[&capacity]).await?;
        Ok(())
    }

    pub(crate) async fn close(&self) -> Result<(), Unreachable> {
        self.call(&self.scripts.close, &[]).await?;
        Ok(())
    }

    pub(crate) async fn state(&self) -> Result<ServerState, Unreachable> {
        let v = self.call(&self.scripts.state, &[]).await?.value;
        let items = array(&v)?;
        let at = |i: usize| items.get(i).and_then(int).ok_or_else(|| protocol("state"));
        Ok(ServerState {
            capacity: at(0)?,
            available: at(1)?,
            waiters: at(2)?,
            closed: at(3)? == 1,
            held: at(4)?,
            held_sum: at(5)?,
        })
    }
}

/// A script argument (ids, numbers and modes), so one slice can carry them all.
trait ToArg: Sync {
    fn push(&self, inv: &mut redis::ScriptInvocation<'_>);
}

impl ToArg for &str {
    fn push(&self, inv: &mut redis::ScriptInvocation<'_>) {
        inv.arg(*self);
    }
}

impl ToArg for u64 {
    fn push(&self, inv: &mut redis::ScriptInvocation<'_>) {
        inv.arg(*self);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A random id prefix per handle: hex, no `.` (the scripts split ids at the first `.`).
fn random_owner() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

pub(crate) fn protocol(what: &str) -> Unreachable {
    Unreachable::new(redis::RedisError::from((
        redis::ErrorKind::Parse,
        "unexpected reply from a corral-fleet script",
        what.to_owned(),
    )))
}

fn array(v: &Value) -> Result<&[Value], Unreachable> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        _ => Err(protocol("expected an array")),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        _ => text(v)?.parse().ok(),
    }
}

/// A script's count-or-minus-one answer.
fn signed(v: &Value, what: &str) -> Result<Option<u64>, Unreachable> {
    match v {
        Value::Int(i) if *i < 0 => Ok(None),
        Value::Int(i) => Ok(Some(*i as u64)),
        _ => Err(protocol(what)),
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    fn message(payload: &str) -> PushInfo {
        PushInfo {
            kind: PushKind::Message,
            data: vec![
                Value::BulkString(b"chan".to_vec()),
                Value::BulkString(payload.as_bytes().to_vec()),
            ],
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn notifications_reach_their_waiter_only() {
        let inbox = Inbox::default();
        let a = inbox.register_waiter("o.1");
        let b = inbox.register_waiter("o.2");
        inbox.deliver(message("G o.1 77 900"));
        inbox.deliver(message("G o.9 1 1")); // nobody's: ignored
        inbox.deliver(message("garbage"));
        assert_eq!(
            a.next(Duration::from_secs(5)).await,
            Some(Event::Granted {
                fence: 77,
                lease: Duration::from_millis(900)
            })
        );
        assert_eq!(b.next(Duration::from_millis(1)).await, None);
        inbox.deliver(message("T o.2 3"));
        assert_eq!(
            b.next(Duration::from_secs(5)).await,
            Some(Event::TooLarge { capacity: 3 })
        );
        inbox.deliver(message("C o.2"));
        assert_eq!(b.next(Duration::from_secs(5)).await, Some(Event::Closed));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_disconnect_never_overwrites_a_decision() {
        let inbox = Inbox::default();
        let a = inbox.register_waiter("o.1");
        let b = inbox.register_waiter("o.2");
        inbox.deliver(message("G o.1 5 100"));
        inbox.deliver(PushInfo {
            kind: PushKind::Disconnection,
            data: vec![],
        });
        assert!(matches!(
            a.next(Duration::from_secs(5)).await,
            Some(Event::Granted { fence: 5, .. })
        ));
        assert_eq!(b.next(Duration::from_secs(5)).await, Some(Event::Recheck));
        inbox.remove_waiter("o.2");
        inbox.deliver(message("G o.2 6 100"));
        assert_eq!(b.next(Duration::from_millis(1)).await, None);
    }

    #[test]
    fn lost_lease_message_fires_the_holders_token() {
        let inbox = Inbox::default();
        let token = CancellationToken::new();
        inbox.register_holder("o.3", token.clone());
        inbox.deliver(message("L o.4"));
        assert!(!token.is_cancelled());
        inbox.deliver(message("L o.3"));
        assert!(token.is_cancelled());
    }

    #[test]
    fn owners_have_no_dot() {
        let owner = random_owner();
        assert!(!owner.contains('.') && !owner.is_empty());
        assert_ne!(owner, random_owner());
    }
}
