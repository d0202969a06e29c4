//! The corral tour: every failure shape, first with plain tokio and then with corral,
//! measured on the spot and printed as one table.
//!
//! ```text
//! cargo run --release --example tour              # everything, < 60 s on 2 cores
//! cargo run --release --example tour -- --quick   # smaller workloads, < 20 s
//! cargo run --release --example tour -- dns leak  # some shapes only
//! ```
//!
//! Each (shape, side) runs in a fresh child process of this binary, so no cell
//! inherits another's threads or heap. Columns: peak OS threads, peak live tasks on
//! the runtime under test, peak RSS, p99 round trip of an unrelated endpoint on the same
//! runtime, tasks left alive when the workload was over, work rejected at the door,
//! whether all work is accounted for, wall time, outcome. Under the table, one line
//! per corral row names the bounds it was held to. The exit code is 0 only if every
//! corral row stayed within its bounds; tokio rows are expected to look bad and are
//! not judged. Loopback only, no root.

use std::process::ExitCode;

fn main() -> ExitCode {
    corral_examples::tour::main(std::env::args().skip(1).collect(), false)
}
