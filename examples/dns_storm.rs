//! dns_storm: arrives with its issue.

fn main() {}
