//! The leak watch's engine: per-site history of census samples and the rule that
//! flags a site. No runtime and no clock of its own: [`Detector::observe`] is handed
//! each sample and the time it was taken, so tests drive it directly.
//!
//! # Invariants
//!
//! - A site's history holds at most `window + 1` points, one per sample, oldest first;
//!   a site absent from a sample gets a point with count 0 and no oldest task, and a
//!   site absent from a whole window is forgotten (memory stays bounded by the sites
//!   alive in the last window).
//! - A site is flagged only on a full history (`window + 1` points).
//! - `flagged` holds exactly the sites whose last evaluation flagged them.

use std::collections::{HashMap, VecDeque};
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::registry::{Snapshot, TaskId};
use crate::watch::{Flag, WatchEvent};

type SiteKey = (&'static str, u32, u32);

fn key(loc: &'static Location<'static>) -> SiteKey {
    (loc.file(), loc.line(), loc.column())
}

/// One site in one sample.
#[derive(Debug, Clone, Copy)]
struct Point {
    count: usize,
    /// The site's oldest task in this sample and since when the watch has known it
    /// as the oldest (carried over while the same task stays the oldest).
    oldest: Option<(TaskId, Instant)>,
}

#[derive(Debug)]
struct History {
    location: &'static Location<'static>,
    name: Option<Arc<str>>,
    points: VecDeque<Point>,
}

/// What one sample says about one site, gathered from a snapshot.
struct Seen {
    location: &'static Location<'static>,
    name: Option<Arc<str>>,
    mixed: bool,
    count: usize,
    /// (spawned_at, id) of the oldest task: the earliest spawn time.
    oldest: Option<(std::time::Instant, TaskId)>,
}

/// The rule's thresholds (validated by the config's `build`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub(crate) window: usize,
    pub(crate) min_growth: usize,
}

#[derive(Debug)]
pub(crate) struct Detector {
    rule: Rule,
    sites: HashMap<SiteKey, History>,
    flagged: HashMap<SiteKey, Flag>,
}

impl Detector {
    pub(crate) fn new(rule: Rule) -> Self {
        Self {
            rule,
            sites: HashMap::new(),
            flagged: HashMap::new(),
        }
    }

    /// The sites flagged at the last sample.
    pub(crate) fn flags(&self) -> Vec<Flag> {
        let mut flags: Vec<Flag> = self.flagged.values().cloned().collect();
        flags.sort_by_key(|f| std::cmp::Reverse(f.count));
        flags
    }

    /// Takes one sample, taken at `now`, and returns what changed: sites newly
    /// flagged and flags cleared.
    pub(crate) fn observe(&mut self, now: Instant, snapshot: &Snapshot) -> Vec<WatchEvent> {
        // Group the snapshot by site.
        let mut seen: HashMap<SiteKey, Seen> = HashMap::new();
        // The tasks that were their site's oldest at the start of its window: is each
        // still alive, and how old is it by the registry's clock?
        let mut wanted: HashMap<TaskId, Option<Duration>> = HashMap::new();
        for h in self.sites.values() {
            if let Some(Point {
                oldest: Some((id, _)),
                ..
            }) = h.points.front()
            {
                wanted.insert(*id, None);
            }
        }
        for task in snapshot {
            let loc = task.location();
            let s = seen.entry(key(loc)).or_insert_with(|| Seen {
                location: loc,
                name: task.name().map(Arc::from),
                mixed: false,
                count: 0,
                oldest: None,
            });
            s.count += 1;
            if s.name.as_deref() != task.name() {
                s.mixed = true;
            }
            let candidate = (task.spawned_at(), task.id());
            if s.oldest.is_none_or(|o| candidate < o) {
                s.oldest = Some(candidate);
            }
            if let Some(age) = wanted.get_mut(&task.id()) {
                *age = Some(task.age());
            }
        }

        // Append this sample's point to every site's history.
        let cap = self.rule.window + 1;
        for (k, s) in &seen {
            let h = self.sites.entry(*k).or_insert_with(|| History {
                location: s.location,
                name: None,
                points: VecDeque::with_capacity(cap),
            });
            h.name = if s.mixed { None } else { s.name.clone() };
            let since = match (h.points.back(), s.oldest) {
                (
                    Some(Point {
                        oldest: Some((id, since)),
                        ..
                    }),
                    Some((_, now_id)),
                ) if *id == now_id => *since,
                _ => now,
            };
            h.points.push_back(Point {
                count: s.count,
                oldest: s.oldest.map(|(_, id)| (id, since)),
            });
        }
        for (k, h) in self.sites.iter_mut() {
            if !seen.contains_key(k) {
                h.points.push_back(Point {
                    count: 0,
                    oldest: None,
                });
            }
            while h.points.len() > cap {
                h.points.pop_front();
            }
        }
        self.sites
            .retain(|_, h| h.points.iter().any(|p| p.count > 0));

        // Evaluate every site.
        let mut events = Vec::new();
        for (k, h) in &self.sites {
            let verdict = evaluate(self.rule, h, now, &wanted);
            match (verdict, self.flagged.contains_key(k)) {
                (Verdict::Leak(flag), false) => {
                    self.flagged.insert(*k, flag.clone());
                    events.push(WatchEvent::Flagged(flag));
                }
                (Verdict::Leak(flag), true) | (Verdict::Hold(flag), true) => {
                    self.flagged.insert(*k, flag);
                }
                (Verdict::Clear, true) => {
                    if let Some(flag) = self.flagged.remove(k) {
                        events.push(WatchEvent::Cleared(flag));
                    }
                }
                (Verdict::Hold(_), false) | (Verdict::Clear, false) => {}
            }
        }
        // Sites forgotten this sample (gone for a whole window) clear their flag.
        let gone: Vec<SiteKey> = self
            .flagged
            .keys()
            .filter(|k| !self.sites.contains_key(*k))
            .copied()
            .collect();
        for k in gone {
            if let Some(flag) = self.flagged.remove(&k) {
                events.push(WatchEvent::Cleared(flag));
            }
        }
        events
    }
}

enum Verdict {
    /// The rule holds: growing over the window and the oldest task ageing.
    Leak(Flag),
    /// Not a new leak, but a flagged site keeps its flag (still growing).
    Hold(Flag),
    /// No net growth over the window: a flag clears.
    Clear,
}

/// The rule. Over the last `window` steps (the history is full):
/// - the count never went down from one sample to the next,
/// - it went up in at least half of the steps,
/// - it grew by at least `min_growth` in all,
/// - and the task that was the site's oldest at the window's start is still alive.
///
/// A flagged site keeps its flag while it grows at all over the window and clears
/// once it does not (or the site is gone).
fn evaluate(
    rule: Rule,
    h: &History,
    now: Instant,
    wanted: &HashMap<TaskId, Option<Duration>>,
) -> Verdict {
    let (Some(first), Some(last)) = (h.points.front(), h.points.back()) else {
        return Verdict::Clear;
    };
    if h.points.len() < rule.window + 1 || last.count <= first.count {
        return Verdict::Clear;
    }
    let growth = last.count - first.count;
    // How old the window's first oldest task is now, if it is still alive: the
    // larger of the registry's age and the watch's own clock since it first saw it
    // as the oldest (both are lower bounds; the watch's clock is tokio's, so this
    // holds under paused time too).
    let oldest = first.oldest.and_then(|(id, since)| {
        wanted
            .get(&id)
            .copied()
            .flatten()
            .map(|age| age.max(now.saturating_duration_since(since)))
    });
    let flag = |oldest: Duration| Flag {
        location: h.location,
        name: h.name.clone(),
        count: last.count,
        growth,
        oldest,
    };
    let steps: Vec<(usize, usize)> = h
        .points
        .iter()
        .zip(h.points.iter().skip(1))
        .map(|(a, b)| (a.count, b.count))
        .collect();
    let never_down = steps.iter().all(|(a, b)| b >= a);
    let rises = steps.iter().filter(|(a, b)| b > a).count();
    match oldest {
        Some(age) if never_down && rises * 2 >= rule.window && growth >= rule.min_growth => {
            Verdict::Leak(flag(age))
        }
        Some(age) => Verdict::Hold(flag(age)),
        None => Verdict::Hold(flag(last.oldest.map_or(Duration::ZERO, |(_, since)| {
            now.saturating_duration_since(since)
        }))),
    }
}
