//! The error shape of every call that refuses an item and hands it back.

/// Defines a public error enum whose every variant carries the refused item (a job, a
/// future, a closure), so nothing is lost when a call says no; crossbeam's
/// `TrySendError<T>` is the model.
///
/// The generated enum is generic over the item `F` and gets:
/// - `into_inner(self) -> F`, the item, untouched;
/// - `Debug` that does not require `F: Debug` (it prints `Name::Variant(..)`);
/// - `Display`, one fixed message per variant;
/// - `std::error::Error`;
///
/// Attributes before the name (docs, `#[non_exhaustive]`) and before each variant (docs)
/// are kept.
///
/// ```
/// corral_shared::hand_back_error! {
///     /// Why `try_push` refused an item; the item is inside.
///     pub TryPushError {
///         /// No room left.
///         Full => "queue is full",
///         /// The queue was closed.
///         Closed => "queue is closed",
///     }
/// }
///
/// let err = TryPushError::Full(vec![1, 2]);
/// assert_eq!(err.to_string(), "queue is full");
/// assert_eq!(format!("{err:?}"), "TryPushError::Full(..)");
/// assert_eq!(err.into_inner(), vec![1, 2]);
/// ```
#[macro_export]
macro_rules! hand_back_error {
    (
        $(#[$meta:meta])*
        $vis:vis $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $message:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name<F> {
            $( $(#[$vmeta])* $variant(F), )+
        }

        impl<F> $name<F> {
            /// The refused item, handed back untouched.
            pub fn into_inner(self) -> F {
                match self {
                    $( $name::$variant(item) => item, )+
                }
            }
        }

        impl<F> ::core::fmt::Debug for $name<F> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self {
                    $( $name::$variant(_) => f.write_str(
                        ::core::concat!(::core::stringify!($name), "::", ::core::stringify!($variant), "(..)")
                    ), )+
                }
            }
        }

        impl<F> ::core::fmt::Display for $name<F> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self {
                    $( $name::$variant(_) => f.write_str($message), )+
                }
            }
        }

        impl<F> ::std::error::Error for $name<F> {}
    };
}
