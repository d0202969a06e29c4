//! With the `serde` feature, a snapshot and its census serialize with the fields the
//! crate docs list.
#![cfg(feature = "serde")]

use std::future::pending;

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
