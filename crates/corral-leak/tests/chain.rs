//! What a report says about where a leak came from, and the rules that ignore a task
//! and everything it spawned, past finished parents.

use std::future::pending;
use std::time::Duration;

use corral_leak::LeakGuard;
use corral_task::Builder;

/// The line of the acceptor's spawn in [`acceptor_handler_leaf`].
const ACCEPTOR_LINE: u32 = line!() + 7;

/// An acceptor (alive) spawns a handler, which spawns a leaf worker and ends. Returns
/// the acceptor's handle and the lines of the three spawns.
async fn acceptor_handler_leaf() -> (tokio::task::JoinHandle<()>, [u32; 3]) {
    let (lines_tx, lines_rx) = tokio::sync::oneshot::channel();
    let acceptor_line = ACCEPTOR_LINE;
    let acceptor = Builder::new().name("acceptor").spawn(async move {
        let handler_line = line!() + 1;
        let handler = Builder::new().name("conn-handler").spawn(async move {
            let leaf_line = line!() + 1;
            Builder::new().name("leaf-worker").spawn(pending::<()>());
            leaf_line
        });
        let leaf_line = handler.await.unwrap();
        let _ = lines_tx.send([acceptor_line, handler_line, leaf_line]);
        pending::<()>().await
    });
    (acceptor, lines_rx.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_names_the_chain_past_a_finished_parent() {
    let guard = LeakGuard::builder().budget(Duration::ZERO).build();
    let (acceptor, [acceptor_line, handler_line, leaf_line]) = acceptor_handler_leaf().await;
    let report = guard.check().await;
    let leak = report
        .leaked()
        .iter()
        .find(|l| l.task().name() == Some("leaf-worker"))
        .expect("the leaf leaked");
    assert_eq!(leak.task().location().line(), leaf_line);
    assert!(leak.ancestors().is_empty(), "its parent is gone");
    assert!(leak.finished_ancestor().is_some());
    let handler = leak.finished_chain().expect("the handler's record");
    assert_eq!(handler.name(), Some("conn-handler"));
    assert_eq!(handler.location().line(), handler_line);
    let acceptor_rec = handler.creator().expect("the acceptor's record");
    assert_eq!(acceptor_rec.name(), Some("acceptor"));
    assert_eq!(acceptor_rec.location().line(), acceptor_line);

    let text = report.to_string();
    let leaf_at = text.find("\"leaf-worker\"").expect("{text}");
    let handler_at = text[leaf_at..]
        .find(&format!("\"conn-handler\" at {}:{handler_line}:", file!()))
        .map(|i| i + leaf_at)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        text[handler_at..].contains(&format!("\"acceptor\" at {}:{acceptor_line}:", file!())),
        "{text}"
    );
    assert!(text.contains("finished or aborted"), "{text}");
    acceptor.abort();
}

/// Adds one ignore rule to a guard's builder.
type AddRule = fn(corral_leak::Builder, &str) -> corral_leak::Builder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_created_by_hides_a_task_and_everything_it_spawned() {
    let by_site = format!("tests/chain.rs:{ACCEPTOR_LINE}");
    let rules: [(&str, AddRule); 3] = [
        ("acceptor", |b, r| b.ignore_created_by_name(r)),
        (&by_site, |b, r| b.ignore_created_by_location(r)),
        ("conn-handler", |b, r| b.ignore_created_by_name(r)),
    ];
    for (i, (rule, add)) in rules.into_iter().enumerate() {
        let guard = add(LeakGuard::builder(), rule)
            .budget(Duration::ZERO)
            .build();
        let (acceptor, [acceptor_line, ..]) = acceptor_handler_leaf().await;
        assert_eq!(acceptor_line, ACCEPTOR_LINE);
        // Not under any of the rules.
        Builder::new().name("bystander").spawn(pending::<()>());
        let report = guard.check().await;
        let leaked: Vec<_> = report
            .leaked()
            .iter()
            .map(|l| l.task().name().unwrap_or("-"))
            .collect();
        if i < 2 {
            assert_eq!(leaked, ["bystander"], "rule {rule}: {report}");
            assert_eq!(report.ignored(), 2, "acceptor and leaf: {report}");
        } else {
            // Only what the (finished) handler spawned.
            let mut leaked = leaked;
            leaked.sort_unstable();
            assert_eq!(leaked, ["acceptor", "bystander"], "rule {rule}: {report}");
            assert_eq!(report.ignored(), 1, "{report}");
        }
        acceptor.abort();
        let _ = acceptor.await;
    }
}

/// A failing `assert_clean` names the line that called it.
#[tokio::test]
async fn assert_clean_names_its_caller() {
    let line = line!() + 4;
    let err = tokio::spawn(async {
        let guard = LeakGuard::builder().budget(Duration::ZERO).build();
        corral_task::spawn(pending::<()>());
        guard.assert_clean().await;
    })
    .await
    .unwrap_err();
    let message = *err.into_panic().downcast::<String>().unwrap();
    assert!(
        message.contains(&format!("assert_clean at {}:{line}:", file!())),
        "{message}"
    );
}
