//! Call without a deadline: callers of an upstream that accepts and never answers.
//!
//! The upstream is a loopback TCP server that accepts every connection and then says
//! nothing, the way a wedged backend does.
//!
//! - plain tokio: each caller connects, asks and awaits the answer with no deadline.
//!   Nothing errors; the callers are still waiting when the tour's safety timeout stops
//!   the process, and every one of them is a task left alive.
//! - corral: each call runs in a scope with a deadline
//!   (`ScopeConfig::builder().timeout(..)`); reaching it cancels the call and the
//!   caller gets `ScopeError::DeadlineExceeded`, fast, with nothing left running.
//!
//! The plain side never finishes by itself, so its cell prints a progress line every
//! 200 ms; the tour keeps the last one when it stops the process.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use corral::scope::{ScopeConfig, ScopeError};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{ms, runtime, Bounds, Measure};
use crate::shapes::{Cell, Side};

/// How late past the deadline a corral caller may learn of it.
pub const SLACK: Duration = Duration::from_millis(400);

/// The workload's size.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Concurrent callers.
    pub callers: usize,
    /// corral's deadline per call.
    pub deadline: Duration,
    /// How long the tour lets the plain side wait before stopping it.
    pub patience: Duration,
}

impl Load {
    /// 200 callers, a 500 ms deadline, 3 s of patience; quick: 50, 200 ms, 1.5 s.
    pub fn new(quick: bool) -> Load {
        if quick {
            Load {
                callers: 50,
                deadline: Duration::from_millis(200),
                patience: Duration::from_millis(1_500),
            }
        } else {
            Load {
                callers: 200,
                deadline: Duration::from_millis(500),
                patience: Duration::from_secs(3),
            }
        }
    }
}

/// Starts the hung upstream on a plain OS thread: it accepts every connection, keeps
/// it open and never answers. It lives until the process exits.
pub fn hung_upstream() -> SocketAddr {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind hung upstream");
    let addr = listener.local_addr().expect("hung upstream addr");
    std::thread::Builder::new()
        .name("hung-upstream".into())
        .spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().map_while(Result::ok) {
                held.push(conn);
            }
        })
        .expect("spawn hung upstream");
    addr
}

/// One call: connect, ask, await the answer. Against the hung upstream, it never comes.
async fn call(upstream: SocketAddr) -> std::io::Result<String> {
    let conn = TcpStream::connect(upstream).await?;
    let (read, mut write) = conn.into_split();
    write.write_all(b"query\n").await?;
    let mut answer = String::new();
    BufReader::new(read).read_line(&mut answer).await?;
    Ok(answer)
}

/// Runs one side. The corral side returns its cell; the plain side never returns: it
/// prints a progress `CELL` line every 200 ms until the process is stopped.
pub fn run(side: Side, load: Load) -> Cell {
    let upstream = hung_upstream();
    let rt = runtime();
    let measure = Measure::start(&rt);
    match side {
        Side::Tokio => {
            for _ in 0..load.callers {
                rt.spawn(call(upstream));
            }
            loop {
                std::thread::sleep(Duration::from_millis(200));
                let mut cell = measure.peek();
                cell.accounted = Some(false);
                cell.outcome = format!(
                    "still waiting: {}/{} callers",
                    cell.left_alive.unwrap_or(0),
                    load.callers
                );
                // A parent that went away closed the pipe: stop with it.
                let mut out = std::io::stdout().lock();
                if writeln!(out, "{}", cell.to_line())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    std::process::exit(1);
                }
            }
        }
        Side::Corral => {
            let config = ScopeConfig::builder()
                .timeout(load.deadline)
                .name("upstream-call")
                .build()
                .expect("valid scope config");
            let exceeded = rt.block_on(async {
                let callers: Vec<_> = (0..load.callers)
                    .map(|_| {
                        let config = config.clone();
                        tokio::spawn(async move { config.scope(|_s| call(upstream)).await })
                    })
                    .collect();
                let mut exceeded = 0;
                for caller in callers {
                    let out: Result<String, ScopeError<std::io::Error>> =
                        caller.await.expect("caller task");
                    exceeded += usize::from(matches!(out, Err(ScopeError::DeadlineExceeded)));
                }
                exceeded
            });
            let mut cell = measure.finish();
            cell.accounted = Some(exceeded == load.callers);
            cell.outcome = format!(
                "{exceeded}/{} DeadlineExceeded after {} ms (deadline {} ms)",
                load.callers,
                cell.wall.map_or(0, ms),
                load.deadline.as_millis()
            );
            rt.shutdown_background();
            cell
        }
    }
}

/// One side's cell.
pub fn cell(side: Side, quick: bool) -> Cell {
    run(side, Load::new(quick))
}

/// The plain side is stopped after its patience; the corral side must finish by itself.
pub fn limit(side: Side, quick: bool) -> Duration {
    match side {
        Side::Tokio => Load::new(quick).patience,
        Side::Corral => Duration::from_secs(if quick { 15 } else { 30 }),
    }
}

/// Every caller gets `DeadlineExceeded` within the deadline + slack, and none is left.
pub fn judge(corral: &Cell, _tokio: &Cell, quick: bool) -> Result<String, String> {
    let load = Load::new(quick);
    let mut b = Bounds::default();
    b.check_value(
        "errors",
        corral.accounted,
        |a| a,
        |a| {
            if a {
                format!("all {} callers got DeadlineExceeded", load.callers)
            } else {
                "some callers did not get DeadlineExceeded".into()
            }
        },
    );
    let bound = load.deadline + SLACK;
    b.check_value(
        "wall",
        corral.wall,
        |w| w <= bound,
        |w| {
            format!(
                "within {} ms <= deadline {} + slack {} ms",
                ms(w),
                ms(load.deadline),
                ms(SLACK)
            )
        },
    );
    b.check_value(
        "left alive",
        corral.left_alive,
        |left| left == 0,
        |left| format!("{left} tasks left alive (bound: 0)"),
    );
    b.verdict()
}
