//! What a shape measures: one [`Cell`] per [`Side`], the same fields for every shape
//! (those a shape does not measure stay `None`).

use std::time::Duration;

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
    /// Whether every unit of work is accounted for (done, refused or failed, counted).
    pub accounted: Option<bool>,
    /// Wall time of the workload.
    pub wall: Option<Duration>,
    /// A spawn site a leak guard named (`file:line:col`), if one caught something.
    pub caught: Option<String>,
    /// The leak shape: the spawn site the leak watch (`corral::task::watch`) flagged
    /// and how long (tokio's clock) it took.
    pub watch_flag: Option<(String, Duration)>,
    /// The overload shape's brownout runs, one per workload.
    pub brownouts: Vec<Brownout>,
    /// Set by the runner (never printed by a child): a safety timeout stopped
    /// the child after this long.
    pub stopped_after: Option<Duration>,
    /// A short outcome in words ("200/200 DeadlineExceeded after 512 ms").
    pub outcome: String,
}

/// One brownout run of the overload shape, as a cell reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brownout {
    /// Answers within the SLO.
    pub goodput: u64,
    /// The oracle's goodput on the same workload.
    pub oracle: u64,
    /// The best peer's goodput on the same workload, where the cell ran the peers.
    pub best_peer: Option<u64>,
    /// Slowest recovery, in whole seconds after a step in capacity, of p99 back under
    /// the SLO; `None` if it never recovered.
    pub recovery_s: Option<u64>,
    /// Requests admitted.
    pub admitted: u64,
    /// Requests offered.
    pub offered: u64,
}
