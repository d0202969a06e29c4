//! What `#[corral::test]` expands to after the test body; not a public API.

use std::fmt::Debug;
use std::future::Future;
use std::panic::Location;

use crate::LeakGuard;

/// A test body's result that failed: `Err` of a `Result`.
pub trait Failed {
    /// The error, rendered as the test harness would, if the body failed.
    fn __corral_failed(&self) -> Option<String>;
}

impl<T, E: Debug> Failed for Result<T, E> {
    fn __corral_failed(&self) -> Option<String> {
        self.as_ref().err().map(|e| format!("{e:?}"))
    }
}

/// Any other result (`()`, `ExitCode`, ...): never a failure. Implemented on `&T`, so
/// method lookup on `&result` picks [`Failed`] first when it applies.
pub trait NotFailed {
    /// Always `None`.
    fn __corral_failed(&self) -> Option<String> {
        None
    }
}

impl<T: ?Sized> NotFailed for &T {}

/// Runs the leak check after a test body. A body that returned an error fails the
/// test anyway: then a leak does not hide that error; the panic shows both. The
/// message ends with the test's place (`#[track_caller]`: the attribute's expansion).
///
/// # Panics
///
/// When something leaked, as [`LeakGuard::assert_clean`] does.
///
/// # Cancel safety
///
/// Dropping the future stops the check without panicking.
#[track_caller]
pub fn finish(guard: LeakGuard, failed: Option<String>) -> impl Future<Output = ()> {
    let caller = Location::caller();
    async move {
        let report = guard.check().await;
        if report.is_clean() {
            return;
        }
        match failed {
            None => panic!("{report}  (leak check of the test at {caller})"),
            Some(error) => panic!(
                "the test returned an error: {error}\nand {report}  (leak check of the test at {caller})"
            ),
        }
    }
}
