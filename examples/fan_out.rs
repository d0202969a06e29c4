//! fan_out: arrives with its issue.

fn main() {}
