//! Outside a runtime, `spawn` panics as `tokio::spawn` does, at the caller's line.
//!
//! In a binary of its own: it installs a panic hook to read the panic's location.

use std::panic;
use std::sync::{Arc, Mutex};

/// Runs `f`, which must panic, and returns the file and line the panic reported.
fn panic_location(f: impl FnOnce() + panic::UnwindSafe) -> (String, u32) {
    let seen = Arc::new(Mutex::new(None));
    let hook = panic::take_hook();
    panic::set_hook(Box::new({
        let seen = seen.clone();
        move |info| {
            *seen.lock().unwrap() = info.location().map(|l| (l.file().to_owned(), l.line()));
        }
    }));
    let result = panic::catch_unwind(f);
    panic::set_hook(hook);
    assert!(result.is_err(), "it panicked");
    let seen = seen.lock().unwrap().take();
    seen.expect("the panic had a location")
}

#[test]
fn spawn_and_builder_spawn_outside_a_runtime_point_at_the_caller_like_tokio() {
    let tokio_at = panic_location(|| {
        drop(tokio::spawn(async {}));
    });
    let here = file!().to_owned();
    let line = line!() + 2;
    let spawn_at = panic_location(|| {
        drop(corral_task::spawn(async {}));
    });
    assert_eq!(spawn_at, (here.clone(), line), "corral_task::spawn");
    let line = line!() + 2;
    let builder_at = panic_location(|| {
        drop(corral_task::Builder::new().name("x").spawn(async {}));
    });
    assert_eq!(builder_at, (here.clone(), line), "Builder::spawn");
    let line = line!() + 2;
    let track_at = panic_location(|| {
        drop(corral_task::Builder::new().track(async {}));
    });
    assert_eq!(track_at, (here.clone(), line), "Builder::track");
    assert_eq!(tokio_at.0, here, "tokio points at the caller too");
}
