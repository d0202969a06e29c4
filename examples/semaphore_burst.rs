//! semaphore_burst: arrives with its issue.

fn main() {}
