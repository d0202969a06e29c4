//! [`TestRecorder`]: reads back what a crate's `metrics` feature reported.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, LocalRecorderGuard, Metadata, Recorder, SharedString,
    Unit,
};
use metrics_util::registry::{AtomicStorage, Registry};

/// A `metrics` recorder a test installs for its own thread while it builds the named
/// primitives under test. The handles registered then keep reporting to it from any
/// thread (the multi-thread runtime's workers included), so parallel tests do not
/// share a global recorder. Reading does not reset anything (unlike metrics-util's
/// debugging recorder, whose snapshot swaps every value to zero).
#[derive(Clone)]
pub struct TestRecorder {
    registry: Arc<Registry<Key, AtomicStorage>>,
}

impl std::fmt::Debug for TestRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRecorder").finish_non_exhaustive()
    }
}

impl Default for TestRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry
            .get_or_create_histogram(key, |h| Histogram::from_arc(Arc::clone(h)))
    }
}

impl TestRecorder {
    /// A fresh, empty recorder.
    pub fn new() -> Self {
        TestRecorder {
            registry: Arc::new(Registry::atomic()),
        }
    }

    /// Makes this the current thread's recorder until the guard drops: metric handles
    /// registered meanwhile on this thread report here.
    #[must_use = "the recorder is installed only while the guard lives"]
    pub fn install(&self) -> LocalRecorderGuard<'_> {
        metrics::set_default_local_recorder(self)
    }

    /// The value of the counter or gauge `name` with exactly `labels`, if registered.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let key = key(name, labels);
        if let Some(c) = self.registry.get_counter(&key) {
            return Some(c.load(Ordering::SeqCst) as f64);
        }
        self.registry
            .get_gauge(&key)
            .map(|g| f64::from_bits(g.load(Ordering::SeqCst)))
    }

    /// Every sample recorded into histogram `name` with exactly `labels`; empty if none
    /// or not registered.
    pub fn samples(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.registry
            .get_histogram(&key(name, labels))
            .map(|h| h.data())
            .unwrap_or_default()
    }

    /// Every series registered so far: `(name, sorted labels)`.
    pub fn series(&self) -> Vec<(String, Vec<(String, String)>)> {
        let mut out = Vec::new();
        let mut push = |k: &Key| {
            let mut labels: Vec<(String, String)> = k
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            out.push((k.name().to_owned(), labels));
        };
        self.registry.visit_counters(|k, _| push(k));
        self.registry.visit_gauges(|k, _| push(k));
        self.registry.visit_histograms(|k, _| push(k));
        out.sort();
        out
    }
}

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    let labels: Vec<metrics::Label> = labels
        .iter()
        .map(|(k, v)| metrics::Label::new(k.to_string(), v.to_string()))
        .collect();
    Key::from_parts(name.to_owned(), labels)
}
