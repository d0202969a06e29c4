//! `LimitLayer` (fixed limit, uncontended) next to tower's `ConcurrencyLimit`, in
//! paired rounds: `cargo bench -p corral-benches --bench corral_tower_paired`.
//!
//! Each round sends `REQUESTS` requests one after another through one service
//! (`ready().await` then `call(req).await`, the order hyper and axum use) to an inner
//! service that answers at once, so the round measures the limit's own cost per
//! request: reserve in `poll_ready`, hand the permit to the response future, release
//! on completion. Every tower round is followed at once by a corral round on the same
//! runtime; each pair gives one ratio and the median of the pairs is reported with its
//! quartiles (see `corral_task_paired.rs` for why pairs, not criterion windows).
//!
//! Optional arguments: `--rounds N` (default 41).

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::hint::black_box;
use std::time::{Duration, Instant};

use corral_tower::LimitLayer;
use tokio::runtime::Runtime;
use tower::limit::ConcurrencyLimitLayer;
use tower::{service_fn, Layer, Service, ServiceExt};

#[path = "support/paired.rs"]
mod paired;
use paired::{rounds_arg, Pairs, Report, NS};

const REQUESTS: u64 = 200_000;
const LIMIT: u64 = 100;

fn echo(n: u64) -> Ready<Result<u64, Infallible>> {
    ready(Ok(n))
}

async fn drive<S>(mut svc: S) -> u64
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let mut sum = 0;
    for n in 0..REQUESTS {
        let fut = svc.ready().await.unwrap().call(n);
        sum += fut.await.unwrap();
    }
    sum
}

fn round(rt: &Runtime, corral: bool) -> Duration {
    let start = Instant::now();
    let sum = rt.block_on(async {
        if corral {
            let layer = LimitLayer::builder(LIMIT).build().unwrap();
            drive(layer.layer(service_fn(echo))).await
        } else {
            drive(ConcurrencyLimitLayer::new(LIMIT as usize).layer(service_fn(echo))).await
        }
    });
    black_box(sum);
    start.elapsed()
}

/// The report line of both cases.
const REPORT: Report = Report {
    peer: "tower ConcurrencyLimit",
    corral: "corral LimitLayer",
    ratio: "corral/tower",
    unit: NS,
    width: 16,
};

fn main() {
    let rounds = rounds_arg(41);
    type Case = (&'static str, fn() -> Runtime);
    let cases: [Case; 2] = [
        ("uncontended/ct", || {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap()
        }),
        ("uncontended/mt2", || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_time()
                .build()
                .unwrap()
        }),
    ];
    println!("{rounds} paired rounds of {REQUESTS} sequential requests, limit {LIMIT} (ns per request: median [quartiles])");
    for (name, make) in cases {
        let rt = make();
        let pairs = Pairs::run(
            3,
            rounds,
            || NS.per(round(&rt, false), REQUESTS),
            || NS.per(round(&rt, true), REQUESTS),
        );
        REPORT.print(name, &pairs);
    }
}
