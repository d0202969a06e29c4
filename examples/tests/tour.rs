//! Runs the tour in quick mode and fails if any corral row broke its bounds, so CI
//! keeps `cargo run --example tour` working.
//!
//! This is a test without the libtest harness: the binary is the tour itself and runs
//! each cell as a child process of itself (`--cell <shape> <side> --quick`), exactly as
//! the example does, so no example binary has to be found on disk. In a debug build
//! the quick tour takes well under a minute.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test -- --list` asks what is here; anything else is a filter or a libtest
    // flag, and the tour has one test: itself.
    if args.iter().any(|a| a == "--list") {
        println!("tour: test");
        return ExitCode::SUCCESS;
    }
    let cell = args.iter().any(|a| a == "--cell");
    corral_examples::tour::main(if cell { args } else { Vec::new() }, true)
}
