//! [`Census`]: live tasks grouped by spawn site.

use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::registry::TaskInfo;

/// Live tasks grouped by spawn site, largest group first; from
/// [`Snapshot::census`](crate::Snapshot::census).
///
/// `Display` renders a table:
///
/// ```text
/// 1003 live tasks at 2 spawn sites
///   count  oldest  spawn site                  name
///    1000   12.4s  src/server.rs:42:9          request-worker
///       3   1.2ms  src/main.rs:10:5            -
/// ```
#[derive(Debug, Clone, Default)]
pub struct Census {
    sites: Vec<Site>,
    total: usize,
}

/// One spawn site in a [`Census`].
#[derive(Debug, Clone)]
pub struct Site {
    location: &'static Location<'static>,
    name: Option<Arc<str>>,
    mixed_names: bool,
    count: usize,
    oldest: Duration,
}

impl Site {
    /// The spawn site.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The name the site's tasks share, if they all have the same one.
    pub fn name(&self) -> Option<&str> {
        if self.mixed_names {
            None
        } else {
            self.name.as_deref()
        }
    }

    /// How many live tasks were spawned here.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The age of the oldest of them.
    pub fn oldest(&self) -> Duration {
        self.oldest
    }
}

impl Census {
    pub(crate) fn from_tasks(tasks: &[TaskInfo]) -> Self {
        let mut index: HashMap<(&'static str, u32, u32), usize> = HashMap::new();
        let mut sites: Vec<Site> = Vec::new();
        for task in tasks {
            let loc = task.location();
            let key = (loc.file(), loc.line(), loc.column());
            let i = *index.entry(key).or_insert_with(|| {
                sites.push(Site {
                    location: loc,
                    name: task.name().map(Arc::from),
                    mixed_names: false,
                    count: 0,
                    oldest: Duration::ZERO,
                });
                sites.len() - 1
            });
            let site = &mut sites[i];
            site.count += 1;
            site.oldest = site.oldest.max(task.age());
            if site.name.as_deref() != task.name() {
                site.mixed_names = true;
            }
        }
        sites.sort_by(|a, b| b.count.cmp(&a.count).then(b.oldest.cmp(&a.oldest)));
        Census {
            sites,
            total: tasks.len(),
        }
    }

    /// The sites, largest count first.
    pub fn iter(&self) -> std::slice::Iter<'_, Site> {
        self.sites.iter()
    }

    /// How many distinct spawn sites have live tasks.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// Whether there are no live tasks.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// How many live tasks in all.
    pub fn total(&self) -> usize {
        self.total
    }
}

impl<'a> IntoIterator for &'a Census {
    type Item = &'a Site;
    type IntoIter = std::slice::Iter<'a, Site>;

    fn into_iter(self) -> Self::IntoIter {
        self.sites.iter()
    }
}

impl fmt::Display for Census {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |n: usize| if n == 1 { "" } else { "s" };
        writeln!(
            f,
            "{} live task{} at {} spawn site{}",
            self.total,
            s(self.total),
            self.sites.len(),
            s(self.sites.len())
        )?;
        if self.sites.is_empty() {
            return Ok(());
        }
        let places: Vec<String> = self.sites.iter().map(|s| s.location.to_string()).collect();
        let width = places.iter().map(String::len).max().unwrap_or(0).max(10);
        writeln!(
            f,
            "  {:>6}  {:>7}  {:<width$}  name",
            "count", "oldest", "spawn site"
        )?;
        for (site, place) in self.sites.iter().zip(&places) {
            let name = match (site.mixed_names, &site.name) {
                (true, _) => "(various)",
                (false, Some(name)) => name,
                (false, None) => "-",
            };
            let age = Age(site.oldest).to_string();
            writeln!(
                f,
                "  {:>6}  {:>7}  {place:<width$}  {name}",
                site.count, age
            )?;
        }
        Ok(())
    }
}

/// Formats a duration with three significant digits and a unit (`850us`, `12.4ms`,
/// `3.20s`, `14m05s`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Age(pub(crate) Duration);

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs_f64();
        if d < Duration::from_millis(1) {
            write!(f, "{}us", d.as_micros())
        } else if d < Duration::from_secs(1) {
            let ms = secs * 1e3;
            if ms < 100.0 {
                write!(f, "{ms:.1}ms")
            } else {
                write!(f, "{ms:.0}ms")
            }
        } else if d < Duration::from_secs(60) {
            write!(f, "{secs:.2}s")
        } else {
            let s = d.as_secs();
            write!(f, "{}m{:02}s", s / 60, s % 60)
        }
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::Age;
    use std::time::Duration;

    #[test]
    fn ages_read_well() {
        let cases = [
            (Duration::from_micros(850), "850us"),
            (Duration::from_micros(12_430), "12.4ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(3_204), "3.20s"),
            (Duration::from_secs(845), "14m05s"),
        ];
        for (d, want) in cases {
            assert_eq!(Age(d).to_string(), want);
        }
    }
}
