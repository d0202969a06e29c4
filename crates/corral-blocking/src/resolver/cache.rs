//! The resolver's optional answer cache: positive and negative entries, each with its
//! own short TTL, at most `capacity` entries.
//!
//! Time is `tokio::time::Instant`, so tests drive expiry with paused time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::error::LookupError;

pub(super) type Answer = Result<Arc<[IpAddr]>, LookupError>;

#[derive(Debug)]
pub(super) struct Cache {
    positive_ttl: Option<Duration>,
    negative_ttl: Option<Duration>,
    capacity: usize,
    entries: Mutex<HashMap<Arc<str>, (Instant, Answer)>>,
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
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// The cached answer for `host`, if fresh.
    pub(super) fn get(&self, host: &str) -> Option<Answer> {
        let mut entries = self.entries.lock();
        let (expires, answer) = entries.get(host)?;
        if Instant::now() < *expires {
            return Some(answer.clone());
        }
        entries.remove(host);
        None
    }

    /// Caches `answer` if its kind is cached: addresses under the positive TTL; "not
    /// found" under the negative TTL. Other failures (panics, shutdown) are not cached.
    pub(super) fn put(&self, host: &Arc<str>, answer: &Answer) {
        let ttl = match answer {
            Ok(_) => self.positive_ttl,
            Err(err) if err.is_not_found() => self.negative_ttl,
            Err(_) => None,
        };
        let Some(ttl) = ttl else { return };
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if entries.len() >= self.capacity && !entries.contains_key(host) {
            entries.retain(|_, (expires, _)| now < *expires);
            if entries.len() >= self.capacity {
                // Full of fresh entries: skip rather than evict, the bound holds.
                return;
            }
        }
        entries.insert(host.clone(), (now + ttl, answer.clone()));
    }

    pub(super) fn len(&self) -> usize {
        self.entries.lock().len()
    }
}
