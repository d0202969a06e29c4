//! corral-task bench: arrives with its issue.

fn main() {}
