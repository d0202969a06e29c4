//! The tour's plumbing: every (shape, side) cell runs in a fresh child process, so one
//! cell's threads and memory never inflate another's peaks. A cell prints `CELL
//! key=value ...` lines (the last one counts, so a cell that may hang prints its
//! progress as it goes); the parent collects them, judges every corral row against its
//! bounds and prints one table.
//!
//! [`main`] is the whole program: `cargo run --release --example tour` and the
//! `examples/tests/tour.rs` test both call it, and it re-runs its own binary for each
//! cell (`<exe> --cell <shape> <side> [--quick]`).

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::shapes::{self, Brownout, Cell, Side};

/// A failure shape as the tour runs it: the shape's own `cell` and `judge`, and the
/// tour's name, line and safety timeout for it.
#[derive(Debug)]
pub struct Shape {
    /// Its name on the command line and in the table.
    pub name: &'static str,
    /// One line saying what the workload is.
    pub about: &'static str,
    /// Runs one side (`quick` shrinks the workload) and measures it.
    pub cell: fn(Side, bool) -> Cell,
    /// Judges the corral cell (given the tokio cell for ratios): `Ok(the bounds it
    /// held)` or `Err(what broke)`.
    pub judge: fn(&Cell, &Cell, bool) -> Result<String, String>,
    /// The tour's safety timeout for a side.
    pub limit: fn(Side, bool) -> Duration,
}

/// Every shape the tour runs, in order.
pub const SHAPES: &[Shape] = &[
    Shape {
        name: "dns",
        about: "blocking DNS storm: a burst of lookups against a DNS server that answers slowly",
        cell: shapes::dns::cell,
        judge: shapes::dns::judge,
        limit: standard_limit,
    },
    Shape {
        name: "fan-out",
        about: "unbounded fan-out: a burst of requests, each calling a slow downstream 3 times",
        cell: shapes::fan_out::cell,
        judge: shapes::fan_out::judge,
        limit: standard_limit,
    },
    Shape {
        name: "leak",
        about: "leaked workers: each request's worker parks on a channel nobody closes",
        cell: shapes::leak::cell,
        judge: shapes::leak::judge,
        limit: standard_limit,
    },
    Shape {
        name: "cancel",
        about: "cancellation not propagated: clients hang up, does the upstream work stop?",
        cell: shapes::cancel::cell,
        judge: shapes::cancel::judge,
        limit: standard_limit,
    },
    Shape {
        name: "overload",
        about: "overload at the door: a downstream brownout (capacity to a quarter, or to an eighth, and back) under twice its load, simulated in paused time",
        cell: shapes::overload::cell,
        judge: shapes::overload::judge,
        limit: shapes::overload::limit,
    },
    Shape {
        name: "deadline",
        about: "call without a deadline: callers of an upstream that accepts and never answers",
        cell: shapes::deadline::cell,
        judge: shapes::deadline::judge,
        limit: shapes::deadline::limit,
    },
    Shape {
        name: "fleet",
        about:
            "a fleet-wide budget on Redis: 3 processes share 6 permits, one holding 2 is SIGKILLed",
        cell: shapes::fleet::cell,
        judge: shapes::fleet::judge,
        limit: shapes::fleet::limit,
    },
];

/// The safety timeout for a shape that always finishes by itself.
fn standard_limit(_side: Side, quick: bool) -> Duration {
    Duration::from_secs(if quick { 15 } else { 30 })
}

fn put<T: std::fmt::Display>(out: &mut String, key: &str, value: Option<T>) {
    if let Some(v) = value {
        let _ = write!(out, " {key}={v}");
    }
}

impl Cell {
    /// The cell as the one line a child process prints.
    pub fn to_line(&self) -> String {
        let mut out = String::from("CELL");
        put(&mut out, "threads", self.peak_threads);
        put(&mut out, "tasks", self.peak_tasks);
        put(&mut out, "rss", self.peak_rss);
        put(
            &mut out,
            "p99_us",
            self.p99_unrelated.map(|d| d.as_micros()),
        );
        put(&mut out, "left", self.left_alive);
        put(&mut out, "rejected", self.rejected);
        put(&mut out, "accounted", self.accounted);
        put(&mut out, "wall_ms", self.wall.map(|d| d.as_millis()));
        for b in &self.brownouts {
            let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            let _ = write!(
                out,
                " brownout={}/{}/{}/{}/{}/{}",
                b.goodput,
                b.oracle,
                opt(b.best_peer),
                opt(b.recovery_s),
                b.admitted,
                b.offered
            );
        }
        // A spawn location has no spaces; keep it one token all the same.
        put(
            &mut out,
            "caught",
            self.caught.as_ref().map(|s| s.replace(' ', "_")),
        );
        put(
            &mut out,
            "watch",
            self.watch_flag
                .as_ref()
                .map(|(site, after)| format!("{}@{}", site.replace(' ', "_"), after.as_millis())),
        );
        // The outcome is last and may contain spaces.
        let _ = write!(out, " outcome={}", self.outcome);
        out
    }

    /// Parses a line printed by [`Cell::to_line`].
    pub fn parse_line(line: &str) -> Option<Cell> {
        let rest = line.strip_prefix("CELL")?;
        let (fields, outcome) = match rest.split_once(" outcome=") {
            Some((fields, outcome)) => (fields, outcome.to_string()),
            None => (rest, String::new()),
        };
        let mut cell = Cell {
            outcome,
            ..Cell::default()
        };
        for field in fields.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            let num = || value.parse::<u64>().ok();
            match key {
                "threads" => cell.peak_threads = Some(num()?),
                "tasks" => cell.peak_tasks = Some(num()?),
                "rss" => cell.peak_rss = Some(num()?),
                "p99_us" => cell.p99_unrelated = Some(Duration::from_micros(num()?)),
                "left" => cell.left_alive = Some(num()?),
                "rejected" => cell.rejected = Some(num()?),
                "accounted" => cell.accounted = Some(value.parse().ok()?),
                "wall_ms" => cell.wall = Some(Duration::from_millis(num()?)),
                "caught" => cell.caught = Some(value.to_string()),
                "watch" => {
                    let (site, ms) = value.rsplit_once('@')?;
                    let after = Duration::from_millis(ms.parse().ok()?);
                    cell.watch_flag = Some((site.to_string(), after));
                }
                "brownout" => cell.brownouts.push(parse_brownout(value)?),
                _ => return None,
            }
        }
        Some(cell)
    }
}

/// Parses `goodput/oracle/best_peer/recovery_s/admitted/offered` (`-` for none).
fn parse_brownout(value: &str) -> Option<Brownout> {
    let mut parts = value.split('/');
    let mut next = || parts.next();
    let num = |v: Option<&str>| v?.parse::<u64>().ok();
    let opt = |v: Option<&str>| match v? {
        "-" => Some(None),
        v => v.parse::<u64>().ok().map(Some),
    };
    let brownout = Brownout {
        goodput: num(next())?,
        oracle: num(next())?,
        best_peer: opt(next())?,
        recovery_s: opt(next())?,
        admitted: num(next())?,
        offered: num(next())?,
    };
    next().is_none().then_some(brownout)
}

/// Runs `exe args...` as a child process and returns the last `CELL` line it printed.
///
/// The child is killed after `limit` (the tour's safety timeout). A killed child's
/// cell is the last progress line it printed (or an empty cell), with
/// [`Cell::stopped_after`] set and the outcome saying it was stopped.
pub fn run_child(exe: &std::path::Path, args: &[&str], limit: Duration) -> Result<Cell, String> {
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    // Read stdout as it comes, so progress lines survive a kill and a chatty child
    // never blocks on a full pipe.
    let stdout = child.stdout.take().ok_or("child has no stdout")?;
    let reader = std::thread::Builder::new()
        .name("cell-stdout".into())
        .spawn(move || {
            let mut last = None;
            let mut text = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(cell) = Cell::parse_line(&line) {
                    last = Some(cell);
                } else {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            (last, text)
        })
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (status, stopped_after) = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break (Some(status), None),
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break (None, Some(start.elapsed()));
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let (last, text) = reader.join().map_err(|_| "stdout reader panicked")?;
    match (stopped_after, last) {
        (Some(after), last) => {
            let mut cell = last.unwrap_or_default();
            let what = if cell.outcome.is_empty() {
                "killed"
            } else {
                cell.outcome.as_str()
            };
            cell.outcome = format!(
                "{what} after {:.1} s, stopped by the tour's safety timeout",
                after.as_secs_f64()
            );
            cell.stopped_after = Some(after);
            // The workload ran until it was stopped.
            cell.wall = Some(after);
            Ok(cell)
        }
        (None, Some(cell)) if status.is_some_and(|s| s.success()) => Ok(cell),
        (None, _) => Err(format!(
            "child {} exited with {status:?}; stdout was:\n{text}",
            args.join(" ")
        )),
    }
}

fn cell_or_dash<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "-".to_string(), show)
}

/// One row of the tour's table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The failure shape.
    pub shape: &'static str,
    /// Which side ran.
    pub side: Side,
    /// What it measured.
    pub cell: Cell,
    /// For corral rows: `Ok(the bounds it was held to)` or `Err(what broke)`; `None`
    /// for tokio rows, which are not judged.
    pub verdict: Option<Result<String, String>>,
}

/// Renders rows as a fixed-width table.
pub fn render(rows: &[Row]) -> String {
    let header = [
        "shape",
        "side",
        "threads",
        "live tasks",
        "peak RSS",
        "p99 other",
        "left alive",
        "rejected",
        "accounted",
        "wall",
        "outcome",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        let c = &row.cell;
        let mut outcome = c.outcome.clone();
        if let Some(Err(_)) = &row.verdict {
            outcome.push_str(" [BOUND BROKEN]");
        }
        table.push(vec![
            row.shape.to_string(),
            row.side.as_str().to_string(),
            cell_or_dash(c.peak_threads, |v| v.to_string()),
            cell_or_dash(c.peak_tasks, |v| v.to_string()),
            cell_or_dash(c.peak_rss, crate::mib),
            cell_or_dash(c.p99_unrelated, |d| {
                format!("{:.1} ms", d.as_secs_f64() * 1e3)
            }),
            cell_or_dash(c.left_alive, |v| v.to_string()),
            cell_or_dash(c.rejected, |v| v.to_string()),
            cell_or_dash(c.accounted, |v| if v { "yes" } else { "NO" }.to_string()),
            cell_or_dash(c.wall, |d| format!("{:.2} s", d.as_secs_f64())),
            outcome,
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (n, row) in table.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (v, w))| {
                if i == row.len() - 1 {
                    v.clone()
                } else {
                    format!("{v:<w$}")
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if n == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            out.push_str(&"-".repeat(total.min(160)));
            out.push('\n');
        }
    }
    out
}

/// The lines under the table: for each corral row, the bounds it was held to, or what
/// broke.
pub fn render_verdicts(rows: &[Row]) -> String {
    let mut out = String::new();
    for row in rows {
        match &row.verdict {
            Some(Ok(bounds)) => {
                let _ = writeln!(out, "  ok      {:<9} {bounds}", row.shape);
            }
            Some(Err(broke)) => {
                let _ = writeln!(out, "  BROKEN  {:<9} {broke}", row.shape);
            }
            None => {}
        }
    }
    out
}

/// Runs both sides of `shape` as children of `exe` and judges the corral side.
pub fn run_shape(exe: &std::path::Path, shape: &Shape, quick: bool) -> [Row; 2] {
    let run = |side: Side| {
        let mut args = vec!["--cell", shape.name, side.as_str()];
        if quick {
            args.push("--quick");
        }
        run_child(exe, &args, (shape.limit)(side, quick)).unwrap_or_else(|err| Cell {
            outcome: format!("cell failed: {err}"),
            ..Cell::default()
        })
    };
    let tokio = run(Side::Tokio);
    let corral = run(Side::Corral);
    let verdict = if corral.stopped_after.is_some() {
        Err("the corral side did not finish by itself".to_string())
    } else {
        (shape.judge)(&corral, &tokio, quick)
    };
    [
        Row {
            shape: shape.name,
            side: Side::Tokio,
            cell: tokio,
            verdict: None,
        },
        Row {
            shape: shape.name,
            side: Side::Corral,
            cell: corral,
            verdict: Some(verdict),
        },
    ]
}

const USAGE: &str =
    "usage: tour [--quick] [shape...]   (shapes: dns, fan-out, leak, cancel, overload, deadline, fleet)
       tour --cell <shape> <tokio|corral> [--quick]";

/// The tour's entry point: with `--cell <shape> <side> [--quick]` runs one cell and
/// prints its line; otherwise runs the named shapes (all by default) in child
/// processes of this same binary, prints the table and the verdicts, and exits with
/// success only if every corral row stayed within its bounds. `force_quick` makes
/// every run quick (the test uses it).
pub fn main(args: Vec<String>, force_quick: bool) -> ExitCode {
    let quick = force_quick || args.iter().any(|a| a == "--quick");
    // The fleet shape's worker processes are children of this binary too.
    if let Some(code) = crate::shapes::fleet::worker_main(&args) {
        return code;
    }
    if let Some(at) = args.iter().position(|a| a == "--cell") {
        let shape = args
            .get(at + 1)
            .and_then(|n| SHAPES.iter().find(|s| s.name == n));
        let side = args.get(at + 2).and_then(|s| Side::parse(s));
        let (Some(shape), Some(side)) = (shape, side) else {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        };
        println!("{}", (shape.cell)(side, quick).to_line());
        return ExitCode::SUCCESS;
    }
    let named: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let Some(unknown) = named.iter().find(|n| !SHAPES.iter().any(|s| s.name == **n)) {
        eprintln!("unknown shape {unknown:?}\n{USAGE}");
        return ExitCode::from(2);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("cannot find this binary to run its cells: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "corral tour{}: each failure shape with plain tokio, then with corral; every cell in \
         a fresh process on a 2-worker runtime, measured on the spot, loopback only.\n",
        if quick { " (quick)" } else { "" }
    );
    let start = Instant::now();
    let mut rows = Vec::new();
    for shape in SHAPES
        .iter()
        .filter(|s| named.is_empty() || named.contains(&s.name))
    {
        println!("  {:<9} {}", shape.name, shape.about);
        rows.extend(run_shape(&exe, shape, quick));
    }
    println!("\n{}", render(&rows));
    println!("bounds each corral row was held to (tokio rows are not judged):");
    print!("{}", render_verdicts(&rows));
    let broken = rows
        .iter()
        .filter(|r| matches!(r.verdict, Some(Err(_))))
        .count();
    println!(
        "\n{} in {:.1} s",
        if broken == 0 {
            "every corral row stayed within its bounds".to_string()
        } else {
            format!("{broken} corral row(s) broke a bound")
        },
        start.elapsed().as_secs_f64()
    );
    if broken == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_line_round_trips() {
        let cell = Cell {
            peak_threads: Some(35),
            peak_tasks: Some(12),
            peak_rss: Some(9 << 20),
            p99_unrelated: Some(Duration::from_micros(1500)),
            left_alive: Some(0),
            rejected: Some(42),
            accounted: Some(true),
            wall: Some(Duration::from_millis(410)),
            caught: Some("examples/src/shapes/leak.rs:10:5".into()),
            watch_flag: Some((
                "examples/src/shapes/leak.rs:10:5".into(),
                Duration::from_millis(70_020),
            )),
            brownouts: vec![
                Brownout {
                    goodput: 220_794,
                    oracle: 225_000,
                    best_peer: None,
                    recovery_s: Some(2),
                    admitted: 230_000,
                    offered: 600_000,
                },
                Brownout {
                    goodput: 205_000,
                    oracle: 212_500,
                    best_peer: Some(200_000),
                    recovery_s: None,
                    admitted: 220_000,
                    offered: 600_000,
                },
            ],
            stopped_after: None,
            outcome: "DeadlineExceeded after 200 ms".into(),
        };
        assert_eq!(Cell::parse_line(&cell.to_line()), Some(cell));
    }

    #[test]
    fn partial_cell_round_trips_and_renders_dashes() {
        let cell = Cell {
            left_alive: Some(3),
            outcome: "hung".into(),
            ..Cell::default()
        };
        assert_eq!(Cell::parse_line(&cell.to_line()), Some(cell.clone()));
        let rows = [Row {
            shape: "deadline",
            side: Side::Corral,
            cell,
            verdict: Some(Err("3 tasks left".into())),
        }];
        let table = render(&rows);
        assert!(table.contains("deadline"), "{table}");
        assert!(table.contains("BOUND BROKEN"), "{table}");
        assert!(table.lines().nth(2).unwrap().contains(" - "), "{table}");
        let verdicts = render_verdicts(&rows);
        assert!(
            verdicts.contains("BROKEN  deadline  3 tasks left"),
            "{verdicts}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_killed_child_keeps_its_last_progress_line() {
        let script = "echo 'CELL left=3 wall_ms=10 outcome=still waiting'; exec sleep 30";
        let cell = run_child(
            std::path::Path::new("/bin/sh"),
            &["-c", script],
            Duration::from_millis(200),
        )
        .expect("the shell runs");
        assert_eq!(cell.left_alive, Some(3));
        let stopped = cell.stopped_after.expect("stopped by the timeout");
        assert_eq!(cell.wall, Some(stopped));
        assert!(
            cell.outcome.starts_with("still waiting after"),
            "{}",
            cell.outcome
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_child_without_a_cell_line_is_an_error() {
        let err = run_child(
            std::path::Path::new("/bin/sh"),
            &["-c", "echo hello"],
            Duration::from_secs(30),
        )
        .unwrap_err();
        assert!(err.contains("hello"), "{err}");
    }

    #[test]
    fn every_shape_has_a_unique_name() {
        for (i, a) in SHAPES.iter().enumerate() {
            assert!(
                SHAPES[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
        }
    }

    #[test]
    fn garbage_is_not_a_cell() {
        assert_eq!(Cell::parse_line("hello"), None);
        assert_eq!(Cell::parse_line("CELL threads=x=y outcome=ok"), None);
    }
}
