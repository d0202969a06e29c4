//! The tour's plumbing: every (shape, side) cell runs in a fresh child process, so one
//! cell's threads and memory never inflate another's peaks. A cell prints one line,
//! `CELL key=value ...`; the parent collects the lines and prints one table.

use std::fmt::Write as _;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Which side of the comparison a cell runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Plain tokio, as most services are written today.
    Tokio,
    /// The same workload with corral.
    Corral,
}

impl Side {
    /// The side's name on the command line and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Tokio => "tokio",
            Side::Corral => "corral",
        }
    }

    /// Parses `tokio` or `corral`.
    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "tokio" => Some(Side::Tokio),
            "corral" => Some(Side::Corral),
            _ => None,
        }
    }
}

/// What one cell measured. Fields a shape does not measure stay `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    /// Most OS threads at once.
    pub peak_threads: Option<u64>,
    /// Most live tasks at once (the runtime's alive-task count).
    pub peak_tasks: Option<u64>,
    /// Most resident memory, in bytes.
    pub peak_rss: Option<u64>,
    /// p99 round trip of an unrelated endpoint on the same runtime.
    pub p99_unrelated: Option<Duration>,
    /// Tasks still alive when the workload was over.
    pub left_alive: Option<u64>,
    /// Work refused at the door (and handed back or counted).
    pub rejected: Option<u64>,
    /// Whether every unit of accepted work is accounted for.
    pub accounted: Option<bool>,
    /// Wall time of the workload.
    pub wall: Option<Duration>,
    /// A short outcome in words ("DeadlineExceeded after 200 ms", "hung").
    pub outcome: String,
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
                _ => return None,
            }
        }
        Some(cell)
    }
}

/// Runs `exe args...` as a child process and returns the `CELL` line it printed.
///
/// The child is killed after `limit` (the tour's safety timeout): a cell that needs
/// killing reports `None` for everything and the outcome `killed after ...`.
pub fn run_child(exe: &std::path::Path, args: &[&str], limit: Duration) -> Result<Cell, String> {
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let start = Instant::now();
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(_) => break,
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Cell {
                    outcome: format!("killed after {} s", limit.as_secs()),
                    ..Cell::default()
                });
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).map_err(|e| e.to_string())?;
    }
    stdout
        .lines()
        .rev()
        .find_map(Cell::parse_line)
        .ok_or_else(|| format!("child printed no CELL line; stdout was:\n{stdout}"))
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
    /// For corral rows: `Ok` if every bound held, else what broke.
    pub verdict: Result<(), String>,
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
        "wall",
        "outcome",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        let c = &row.cell;
        let mut outcome = c.outcome.clone();
        if let Some(false) = c.accounted {
            outcome.push_str(" [NOT ACCOUNTED]");
        }
        if let Err(why) = &row.verdict {
            outcome.push_str(&format!(" [BOUND BROKEN: {why}]"));
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
        let table = render(&[Row {
            shape: "deadline",
            side: Side::Tokio,
            cell,
            verdict: Err("3 tasks left".into()),
        }]);
        assert!(table.contains("deadline"), "{table}");
        assert!(table.contains("BOUND BROKEN: 3 tasks left"), "{table}");
        assert!(table.lines().nth(2).unwrap().contains(" - "), "{table}");
    }

    #[test]
    fn garbage_is_not_a_cell() {
        assert_eq!(Cell::parse_line("hello"), None);
        assert_eq!(Cell::parse_line("CELL threads=x=y outcome=ok"), None);
    }
}
