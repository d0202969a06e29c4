//! With the `serde` feature, a snapshot and its census serialize with the fields the
//! crate docs list.
#![cfg(feature = "serde")]

mod support;

use std::future::pending;
use std::time::Duration;

use corral_task::Builder;

#[tokio::test]
async fn a_snapshot_and_its_census_serialize() {
    let parent = Builder::new().name("accept-loop").spawn(async {
        let a = Builder::new().name("conn").spawn(pending::<()>());
        let b = Builder::new().name("conn").spawn(pending::<()>());
        (a, b)
    });
    let (a, b) = parent.await.unwrap();
    let snap = corral_task::snapshot().for_current_runtime();
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["len"], 2);
    let tasks = json["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    for (t, info) in tasks.iter().zip(snap.iter()) {
        assert_eq!(t["id"], info.id().as_u64());
        assert_eq!(t["name"], "conn");
        assert_eq!(t["site"], info.location().to_string());
        assert!(t["site"].as_str().unwrap().contains("tests/serde.rs:"));
        assert_eq!(t["parent"], info.parent().unwrap().as_u64());
        assert_eq!(
            t["runtime"],
            tokio::runtime::Handle::current().id().to_string()
        );
        assert!(t["age_secs"].as_f64().unwrap() >= 0.0);
        let chain = t["created_by"].as_array().unwrap();
        assert_eq!(chain.len(), 1, "{t}");
        assert_eq!(chain[0]["name"], "accept-loop");
        assert!(chain[0]["site"]
            .as_str()
            .unwrap()
            .contains("tests/serde.rs:"));
    }

    let census = serde_json::to_value(snap.census()).unwrap();
    assert_eq!(census["total"], 2);
    let sites = census["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 2, "two spawn lines: {census}");
    for site in sites {
        assert_eq!(site["name"], "conn");
        assert_eq!(site["count"], 1);
        assert!(site["oldest_secs"].as_f64().unwrap() >= 0.0);
        assert!(site["site"].as_str().unwrap().contains("tests/serde.rs:"));
    }
    // An unnamed task serializes its name as null.
    let anon = corral_task::spawn(pending::<()>());
    let snap = corral_task::snapshot().for_current_runtime();
    let json = serde_json::to_value(&snap).unwrap();
    assert!(json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"].is_null() && t["parent"].is_null()));
    for h in [a, b, anon] {
        h.abort();
    }
}

/// A leak watch's flag and its events serialize flat, with the fields of the watch's
/// `tracing` warning.
#[tokio::test(start_paused = true)]
async fn a_flag_and_its_events_serialize() {
    let (watch, log) =
        support::EventLog::watch(corral_task::WatchConfig::builder().runtime_only(true));
    let leak = support::leak_until_flagged(&watch, "parked", Duration::from_secs(300)).await;
    let flag = watch.flags().remove(0);
    let json = serde_json::to_value(&flag).unwrap();
    assert_eq!(json["site"], flag.location().to_string());
    assert!(json["site"]
        .as_str()
        .unwrap()
        .contains("tests/support/mod.rs:"));
    assert_eq!(json["name"], "parked");
    assert_eq!(json["count"], flag.count());
    assert_eq!(json["growth"], flag.growth());
    assert_eq!(json["oldest_secs"], flag.oldest().as_secs_f64());
    assert_eq!(json.as_object().unwrap().len(), 5, "{json}");

    drop(leak); // the fix: the workers end and the flag clears
    tokio::time::sleep(corral_task::DEFAULT_INTERVAL * 2).await;
    let events: Vec<_> = log
        .events()
        .iter()
        .map(|(_, e)| serde_json::to_value(e).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "flagged, then cleared: {events:?}");
    for (json, kind) in events.iter().zip(["flagged", "cleared"]) {
        assert_eq!(json["event"], kind);
        assert_eq!(json["site"], flag.location().to_string());
        assert_eq!(json["name"], "parked");
        assert_eq!(json.as_object().unwrap().len(), 6, "{json}");
    }
    assert_eq!(events[0]["count"], flag.count());
    assert_eq!(events[0]["growth"], flag.growth());
}
