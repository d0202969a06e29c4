//! The `metrics` feature's one mechanism (issue #15), shared by every corral crate that
//! reports through the `metrics` facade: the census tick's list of sources, and the
//! shares that publish a primitive's own numbers into series it may share with others.
//!
//! # Why pull, and why shares
//!
//! The `metrics` facade has no callback gauges: a recorder reads the value stored in a
//! handle when it is scraped, so someone must write each gauge. Writing it on every
//! operation costs an atomic read-modify-write on the recorder's storage per acquire or
//! job (the semaphore's fast path went from 15 to 62 ns that way, BENCHMARKS.md), so
//! corral's primitives instead keep the numbers they already track and a *source*
//! registered here reads them on each census tick ([`tick`], run by
//! `corral_task::export_metrics` / `TaskMetrics::sample`). A gauge is therefore as fresh
//! as the last tick.
//!
//! Series are labelled by the user-given name, and two primitives may share a name, so
//! a source never `set`s a gauge: it holds a [`GaugeShare`] that moves the gauge by the
//! difference between its value now and what *this* source published last, so
//! same-named primitives add up; dropping the share takes what it published back out.
//! A [`CounterShare`] moves its counter by the increase of a total the primitive keeps.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
//! use corral_shared::metrics::{register, tick, GaugeShare};
//!
//! let queued = Arc::new(AtomicU64::new(3)); // a primitive's own number
//! let mut share = GaugeShare::new(metrics::gauge!("queued", "pool" => "img"));
//! register(Arc::downgrade(&queued), move |q| share.publish(q.load(Relaxed)));
//! tick(); // the gauge moves by +3
//! queued.store(1, Relaxed);
//! tick(); // by -2
//! drop(queued);
//! tick(); // the source is gone: its share (1) is taken back out
//! ```

use std::sync::{Arc, Weak};

use metrics::{Counter, Gauge};
// parking_lot's, not the loom shim's: statics need a `const` constructor, and the tick
// is never modelled.
use parking_lot::Mutex;

/// A registered source: publishes, and returns false once its primitive is gone.
type Source = Box<dyn FnMut() -> bool + Send>;

/// Sources registered since the last tick. A separate, briefly held lock, so that
/// registering (building a named primitive) never waits for a tick in progress, even
/// when it happens inside one (a primitive dropped by a tick that builds another).
static NEW: Mutex<Vec<Source>> = Mutex::new(Vec::new());

/// The live sources; held for the whole of a tick, so ticks do not interleave and each
/// source publishes from one thread at a time.
static LIVE: Mutex<Vec<Source>> = Mutex::new(Vec::new());

/// Registers a source: on every [`tick`] while `weak` upgrades, `publish` runs with the
/// primitive. At the first tick after the primitive is gone the source is dropped, and
/// with it whatever it captured (its [`GaugeShare`]s take their shares back out).
pub fn register<T>(weak: Weak<T>, mut publish: impl FnMut(Arc<T>) + Send + 'static)
where
    T: Send + Sync + 'static,
{
    NEW.lock().push(Box::new(move || match weak.upgrade() {
        Some(primitive) => {
            publish(primitive);
            true
        }
        None => false,
    }));
}

/// One census tick: every live source publishes; sources whose primitive is gone are
/// dropped. Ticks are serialised.
pub fn tick() {
    let mut live = LIVE.lock();
    // Taken out of `NEW` first and released at once: a source dropped below may
    // register another.
    let new = std::mem::take(&mut *NEW.lock());
    live.extend(new);
    live.retain_mut(|publish| publish());
}

/// One source's share of a gauge series: [`publish`](Self::publish) moves the gauge by
/// the difference from what this share published last, so sources that share a series
/// (primitives given the same name) add up. Dropping the share takes its last published
/// value back out of the series.
#[derive(Debug)]
pub struct GaugeShare {
    gauge: Gauge,
    published: u64,
}

impl GaugeShare {
    /// A share of `gauge` that has published nothing yet.
    pub fn new(gauge: Gauge) -> Self {
        GaugeShare {
            gauge,
            published: 0,
        }
    }

    /// Makes this share's contribution `now`.
    pub fn publish(&mut self, now: u64) {
        if now > self.published {
            self.gauge.increment((now - self.published) as f64);
        } else if now < self.published {
            self.gauge.decrement((self.published - now) as f64);
        }
        self.published = now;
    }
}

impl Drop for GaugeShare {
    fn drop(&mut self) {
        self.publish(0);
    }
}

/// One source's share of a counter series: [`publish`](Self::publish) adds the increase
/// of a total the primitive keeps since this share last published it. A counter never
/// goes down: dropping the share leaves the series as it is.
#[derive(Debug)]
pub struct CounterShare {
    counter: Counter,
    published: u64,
}

impl CounterShare {
    /// A share of `counter` that has published nothing yet.
    pub fn new(counter: Counter) -> Self {
        CounterShare {
            counter,
            published: 0,
        }
    }

    /// Makes this share's contribution `total` (ignored if below what was published).
    pub fn publish(&mut self, total: u64) {
        if total > self.published {
            self.counter.increment(total - self.published);
            self.published = total;
        }
    }
}

/// One source's shares of a family of series under one label: `G` gauges and `C`
/// counters, registered by name, published together. What every corral primitive with
/// metrics holds (a pool's, a blocking pool's, a resolver's, a semaphore's).
#[derive(Debug)]
pub struct Series<const G: usize, const C: usize> {
    gauges: [GaugeShare; G],
    counters: [CounterShare; C],
}

impl<const G: usize, const C: usize> Series<G, C> {
    /// Shares of the gauges and counters named, each labelled `label = value`.
    pub fn new(
        label: &'static str,
        value: &str,
        gauges: [&'static str; G],
        counters: [&'static str; C],
    ) -> Self {
        let labels = [(label, value.to_owned())];
        Series {
            gauges: gauges.map(|name| GaugeShare::new(metrics::gauge!(name, &labels))),
            counters: counters.map(|name| CounterShare::new(metrics::counter!(name, &labels))),
        }
    }

    /// Makes this source's contribution the `gauges` now and the `counters`' totals, in
    /// the order the names were given.
    pub fn publish(&mut self, gauges: [u64; G], counters: [u64; C]) {
        for (share, now) in self.gauges.iter_mut().zip(gauges) {
            share.publish(now);
        }
        for (share, total) in self.counters.iter_mut().zip(counters) {
            share.publish(total);
        }
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use corral_test_support::TestRecorder;

    use super::*;

    const L: &[(&str, &str)] = &[("n", "a")];

    /// Two sources of one series add up; a source whose primitive is gone takes its
    /// gauge share back out at the next tick; counters move by increases only.
    #[test]
    fn shares_add_up_and_a_gone_source_takes_its_share_out() {
        let rec = TestRecorder::new();
        let one = Arc::new(AtomicU64::new(3));
        let two = Arc::new(AtomicU64::new(4));
        for source in [&one, &two] {
            let _g = rec.install();
            let mut gauge = GaugeShare::new(metrics::gauge!("g", "n" => "a"));
            let mut count = CounterShare::new(metrics::counter!("c", "n" => "a"));
            register(Arc::downgrade(source), move |v| {
                gauge.publish(v.load(Relaxed));
                count.publish(v.load(Relaxed));
            });
        }
        assert_eq!(rec.value("g", L), Some(0.0), "nothing before a tick");
        tick();
        assert_eq!(rec.value("g", L), Some(7.0));
        assert_eq!(rec.value("c", L), Some(7.0));
        one.store(1, Relaxed);
        two.store(6, Relaxed);
        tick();
        assert_eq!(rec.value("g", L), Some(7.0));
        // +0 from `one` (a total never goes down), +2 from `two`.
        assert_eq!(rec.value("c", L), Some(9.0));
        drop(two);
        tick();
        assert_eq!(
            rec.value("g", L),
            Some(1.0),
            "the dropped source's 6 is out"
        );
        drop(one);
        tick();
        assert_eq!(rec.value("g", L), Some(0.0));
        assert_eq!(rec.value("c", L), Some(9.0), "counters stay");
    }
}
