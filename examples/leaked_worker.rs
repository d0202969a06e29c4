//! leaked_worker: arrives with its issue.

fn main() {}
