//! corral-scope bench: arrives with its issue.

fn main() {}
