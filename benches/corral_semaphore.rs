//! corral-semaphore bench: arrives with its issue.

fn main() {}
