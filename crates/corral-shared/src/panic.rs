use std::any::Any;

/// The message of a panic payload when it is a string (`panic!("..")` gives a
/// `&'static str`, `panic!("{x}")` a `String`); `None` for any other payload.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
/// assert_eq!(corral_shared::panic_message(&*payload), Some("boom 1"));
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}
