/// A value on cache lines of its own: 128 bytes, because x86's adjacent-line prefetch
/// pulls lines in pairs and Apple/ARM big cores use 128-byte lines. Put around a counter
/// one side writes on every operation, so it never shares a line with what the other
/// side reads (crossbeam's `CachePadded` makes the same choice for the same reason).
///
/// The field is public so a `static` can build one in a `const` context.
///
/// ```
/// use corral_shared::CachePadded;
/// use std::sync::atomic::AtomicU64;
///
/// static COUNTS: [CachePadded<AtomicU64>; 2] =
///     [CachePadded(AtomicU64::new(0)), CachePadded(AtomicU64::new(0))];
/// assert_eq!(std::mem::align_of_val(&COUNTS[0]), 128);
/// ```
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct CachePadded<T>(pub T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}
