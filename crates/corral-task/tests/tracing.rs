//! With the `tracing` feature: task spans (per builder and globally) and the leak
//! watch's warning, seen by a small recording subscriber.
#![cfg(feature = "tracing")]

mod support;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_task::{Builder, WatchConfig};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every span's fields, and every event with its fields and the span it was in.
#[derive(Default)]
struct Recorded {
    spans: HashMap<u64, HashMap<String, String>>,
    events: Vec<(HashMap<String, String>, Option<u64>)>,
    stack: Vec<u64>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Recorded>>, Arc<AtomicU64>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.1.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = HashMap::new();
        fields.insert("span.name".into(), attrs.metadata().name().to_string());
        attrs.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().spans.insert(id, fields);
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut r = self.0.lock().unwrap();
        if let Some(fields) = r.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        fields.insert("level".into(), event.metadata().level().to_string());
        event.record(&mut Fields(&mut fields));
        let mut r = self.0.lock().unwrap();
        let current = r.stack.last().copied();
        r.events.push((fields, current));
    }
    fn enter(&self, span: &Id) {
        self.0.lock().unwrap().stack.push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.0.lock().unwrap().stack.pop();
    }
}

/// Runs `test` on a current-thread runtime (its clock paused if `paused`) with a fresh
/// recorder as this thread's subscriber (the runtime polls every task here).
fn recorded<F: std::future::Future<Output = ()>>(paused: bool, test: impl FnOnce(Recorder) -> F) {
    let rec = Recorder::default();
    let _default = tracing::subscriber::set_default(rec.clone());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(paused)
        .build()
        .unwrap()
        .block_on(test(rec));
}

// One test function, so the global span switch is not raced by another test.
#[test]
fn task_spans_per_builder_and_globally() {
    recorded(false, |rec| async move {
        // Opt in on one builder.
        let spanned = Builder::new().name("spanned").span(true).spawn(async {
            tracing::info!(marker = "inside");
            corral_task::current().unwrap().as_u64()
        });
        let id = spanned.await.unwrap();
        // Off by default: a plain spawn has no span.
        corral_task::spawn(async { tracing::info!(marker = "bare") })
            .await
            .unwrap();
        // On globally; a builder can still opt out.
        corral_task::set_spans(true);
        corral_task::spawn(async { tracing::info!(marker = "global") })
            .await
            .unwrap();
        Builder::new()
            .span(false)
            .spawn(async { tracing::info!(marker = "opted-out") })
            .await
            .unwrap();
        corral_task::set_spans(false);

        let r = rec.0.lock().unwrap();
        let span_of = |marker: &str| {
            let (_, span) = r
                .events
                .iter()
                .find(|(f, _)| f.get("marker").map(String::as_str) == Some(marker))
                .unwrap_or_else(|| panic!("no event {marker}"));
            span.map(|s| r.spans[&s].clone())
        };
        let inside = span_of("inside").expect("the event is inside the task's span");
        assert_eq!(inside["span.name"], "task");
        assert_eq!(inside["task.name"], "spanned");
        assert_eq!(inside["task.id"], id.to_string());
        assert!(
            inside["task.site"].contains("tests/tracing.rs:"),
            "{inside:?}"
        );
        assert!(span_of("bare").is_none());
        let global = span_of("global").expect("spans on globally");
        assert!(!global.contains_key("task.name"), "unnamed: {global:?}");
        assert!(global["task.site"].contains("tests/tracing.rs:"));
        assert!(span_of("opted-out").is_none());
    });
}

#[test]
fn a_flag_is_a_warning_naming_the_site() {
    recorded(true, |rec| async move {
        let config = WatchConfig::builder().runtime_only(true).build().unwrap();
        let watch = corral_task::watch(config);
        let senders = support::leak_until_flagged(&watch, "parked", Duration::from_secs(300)).await;
        let r = rec.0.lock().unwrap();
        let warnings: Vec<_> = r
            .events
            .iter()
            .filter(|(f, _)| f["level"] == "WARN")
            .collect();
        assert_eq!(warnings.len(), 1, "{:?}", r.events);
        let w = &warnings[0].0;
        assert!(w["site"].contains("tests/support/mod.rs:"), "{w:?}");
        assert_eq!(w["name"], "parked");
        assert!(w["count"].parse::<usize>().unwrap() > 1000);
        assert!(w["growth"].parse::<usize>().unwrap() >= 32);
        assert!(w["oldest_secs"].parse::<f64>().unwrap() >= 60.0);
        assert!(w["message"].contains("suspected task leak at"), "{w:?}");
        drop(senders);
    });
}
