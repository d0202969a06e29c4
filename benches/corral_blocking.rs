//! corral-blocking bench: arrives with its issue.

fn main() {}
