//! Every path the facade promises exists, with the family's types behind it, and the
//! root calls behave as the crate docs say.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

// Each module path, named through the facade (compile-level: a missing re-export fails
// the build).
use corral::blocking::{BlockingPool, Resolver, DEFAULT_MAX_THREADS};
use corral::leak::{LeakGuard, Report, DEFAULT_BUDGET};
use corral::pool::{BoxJob, Pool, TrySubmitError};
use corral::scope::{Scope, ScopeConfig, ScopeError, ScopeFuture};
use corral::semaphore::{AcquireError, OwnedPermit, Semaphore};
use corral::task::{Builder, Census, Snapshot, TaskInfo};

/// The root functions keep the signatures of the tokio calls they replace.
#[test]
fn root_functions_have_tokio_signatures() {
    let _spawn: fn(std::future::Ready<u8>) -> tokio::task::JoinHandle<u8> = corral::spawn;
    let _spawn_blocking: fn(fn() -> u8) -> tokio::task::JoinHandle<u8> = corral::spawn_blocking;
    // tokio's `lookup_host(impl ToSocketAddrs)`: the same input shapes.
    let _lookup_host: fn(&'static str) -> corral::blocking::LookupHost = corral::lookup_host;
    let _lookup_pair: fn((&'static str, u16)) -> corral::blocking::LookupHost = corral::lookup_host;
}

/// The module `corral::scope` and the function `corral::scope` coexist (a module lives in
/// the type namespace, a function in the value namespace).
#[test]
fn scope_is_both_a_module_and_a_function() {
    type Body = std::future::Ready<Result<u8, ()>>;
    type ScopeFn = fn(fn(Scope<()>) -> Body) -> ScopeFuture<Body, u8, ()>;
    let _root: ScopeFn = corral::scope;
    let _module: ScopeFn = corral::scope::scope;
    let config: ScopeConfig = corral::scope::ScopeConfig::default();
    assert_eq!(config.limit(), None);
}

/// The modules are the family crates themselves, not copies: a type reached through the
/// facade is the family crate's type.
#[test]
fn modules_are_the_family_crates() {
    fn same<T>(_: Option<T>, _: Option<T>) {}
    same::<Semaphore>(None, None::<corral_semaphore::Semaphore>);
    same::<OwnedPermit>(None, None::<corral_semaphore::OwnedPermit>);
    same::<Snapshot>(None, None::<corral_task::Snapshot>);
    same::<Census>(None, None::<corral_task::Census>);
    same::<TaskInfo>(None, None::<corral_task::TaskInfo>);
    same::<Builder>(None, None::<corral_task::Builder>);
    same::<ScopeConfig>(None, None::<corral_scope::ScopeConfig>);
    same::<Report>(None, None::<corral_leak::Report>);
    same::<BlockingPool>(None, None::<corral_blocking::BlockingPool>);
    same::<Pool<BoxJob<u8>>>(None, None::<corral_pool::Pool<corral_pool::BoxJob<u8>>>);
    assert_eq!(DEFAULT_BUDGET, corral_leak::DEFAULT_BUDGET);
    assert_eq!(DEFAULT_MAX_THREADS, corral_blocking::DEFAULT_MAX_THREADS);
}

#[corral::test(start_paused = true)]
async fn root_calls_work_through_the_facade() {
    assert_eq!(corral::spawn(async { 1u8 }).await.unwrap(), 1);
    assert_eq!(corral::spawn_blocking(|| 2u8).await.unwrap(), 2);

    // An IP literal resolves without a lookup.
    let addr: SocketAddr = corral::lookup_host("127.0.0.1:80")
        .await
        .unwrap()
        .next()
        .unwrap();
    assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 80)));

    let sum = corral::scope(|s| async move {
        let a = s.go(async { Ok::<_, ()>(3u8) });
        Ok(a.await.map_err(|_| ())? + 4)
    })
    .await;
    assert_eq!(sum, Ok(7));

    let config = ScopeConfig::builder()
        .timeout(Duration::from_millis(10))
        .build()
        .unwrap();
    let late = config
        .scope(|_s| async { std::future::pending::<Result<(), ()>>().await })
        .await;
    assert_eq!(late, Err(ScopeError::DeadlineExceeded));

    let sem = Arc::new(Semaphore::new(4));
    let held = sem.acquire_owned(3).await.unwrap();
    assert_eq!(sem.available(), 1);
    drop(held);
    assert_eq!(
        sem.acquire(5).await.unwrap_err(),
        AcquireError::TooLarge {
            requested: 5,
            capacity: 4
        }
    );

    let jobs: Pool<BoxJob<u8>> = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .name("facade")
        .build()
        .unwrap();
    let job = jobs.submit(Box::pin(async { 6u8 })).await.unwrap();
    assert_eq!(job.await.unwrap(), 6);
    jobs.close();
    match jobs.try_submit(Box::pin(async { 7u8 })) {
        Err(TrySubmitError::Closed(job)) => assert_eq!(job.await, 7),
        other => panic!("expected Closed, got {other:?}"),
    }

    let pool = BlockingPool::builder().max_threads(1).build().unwrap();
    assert_eq!(pool.run(|| 5u8).await.unwrap(), 5);

    // No timeout: with paused time the runtime's clock jumps ahead while the lookup's
    // thread works, and a timeout would fire at once.
    let resolver = Resolver::builder()
        .no_timeout()
        .lookup_fn(|_host| Ok(vec![[10, 0, 0, 1].into()]))
        .build()
        .unwrap();
    let addr = resolver.lookup_host("db.internal", 5432).await.unwrap();
    assert_eq!(
        addr.collect::<Vec<_>>(),
        [SocketAddr::from(([10, 0, 0, 1], 5432))]
    );
}

#[tokio::test(start_paused = true)]
async fn a_leaked_named_task_is_reported_by_name() {
    let guard = LeakGuard::new();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
    let worker = Builder::new()
        .name("facade-worker")
        .spawn(async move { while rx.recv().await.is_some() {} });
    let report = guard.check().await;
    assert_eq!(report.leaked().len(), 1);
    assert_eq!(report.leaked()[0].task().name(), Some("facade-worker"));
    let text = report.to_string();
    assert!(text.starts_with("leak check failed"), "{text}");
    assert!(text.contains("\"facade-worker\""), "{text}");

    drop(tx);
    worker.await.unwrap();
    assert!(guard.check().await.is_clean());
}

/// The futures the facade hands out can cross threads.
#[test]
fn facade_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let scope = corral::scope(|_s: Scope<()>| async { Ok::<_, ()>(()) });
    send(&scope);
    let lookup = corral::lookup_host(("127.0.0.1", 1));
    send(&lookup);
    fn is_future<F: Future>(_: &F) {}
    is_future(&scope);
    is_future(&lookup);
}
