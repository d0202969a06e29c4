//! The resolver's optional answer cache: positive and negative entries, each with its
//! own short TTL, at most `capacity` entries.
//!
//! Time is `tokio::time::Instant`, so tests drive expiry with paused time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use corral_shared::sync::Mutex;
use tokio::time::Instant;

use super::Family;
use crate::error::LookupError;

pub(super) type Answer = Result<Addrs, LookupError>;

/// The addresses of an answer.
#[derive(Debug, Clone)]
pub(super) struct Addrs {
    pub(super) ips: Arc<[IpAddr]>,
    /// The IPv6 scope id of a literal whose zone is an interface name
    /// (`"fe80::1%eth0"`), which the OS maps to an index; 0 for everything else.
    pub(super) scope_id: u32,
}

impl Addrs {
    /// Addresses without a scope id.
    pub(super) fn new(ips: Arc<[IpAddr]>) -> Self {
        Addrs { ips, scope_id: 0 }
    }
}

/// Cached answers of one family, by host, with their expiry.
type Entries = HashMap<Arc<str>, (Instant, Answer)>;

#[derive(Debug)]
pub(super) struct Cache {
    positive_ttl: Option<Duration>,
    negative_ttl: Option<Duration>,
    capacity: usize,
    /// One map per [`Family`] (indexed by [`Family::index`]); `capacity` bounds them
    /// together.
    entries: Mutex<[Entries; 3]>,
}

impl Cache {
    pub(super) fn new(
        positive_ttl: Option<Duration>,
        negative_ttl: Option<Duration>,
        capacity: usize,
    ) -> Option<Self> {
        if positive_ttl.is_none() && negative_ttl.is_none() {
            return None;
        }
        Some(Cache {
            positive_ttl,
            negative_ttl,
            capacity,
            entries: Mutex::default(),
        })
    }

    /// The cached answer for `host` and `family`, if fresh.
    pub(super) fn get(&self, host: &str, family: Family) -> Option<Answer> {
        let mut maps = self.entries.lock();
        let entries = &mut maps[family.index()];
        let (expires, answer) = entries.get(host)?;
        if Instant::now() < *expires {
            return Some(answer.clone());
        }
        entries.remove(host);
        None
    }

    /// Caches `answer` if its kind is cached: addresses under the positive TTL; "not
    /// found" under the negative TTL. Other failures (panics, shutdown) are not cached.
    pub(super) fn put(&self, host: &Arc<str>, family: Family, answer: &Answer) {
        let ttl = match answer {
            Ok(_) => self.positive_ttl,
            Err(err) if err.is_not_found() => self.negative_ttl,
            Err(_) => None,
        };
        let Some(ttl) = ttl else { return };
        let now = Instant::now();
        let mut maps = self.entries.lock();
        let len = |maps: &[Entries; 3]| maps.iter().map(HashMap::len).sum::<usize>();
        if len(&maps) >= self.capacity && !maps[family.index()].contains_key(host) {
            for entries in maps.iter_mut() {
                entries.retain(|_, (expires, _)| now < *expires);
            }
            if len(&maps) >= self.capacity {
                // Full of fresh entries: skip rather than evict, the bound holds.
                return;
            }
        }
        maps[family.index()].insert(host.clone(), (now + ttl, answer.clone()));
    }

    pub(super) fn len(&self) -> usize {
        self.entries.lock().iter().map(HashMap::len).sum()
    }
}
