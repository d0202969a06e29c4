//! proxy_cancel: arrives with its issue.

fn main() {}
