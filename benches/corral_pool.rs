//! corral-pool bench: arrives with its issue.

fn main() {}
