//! `Results`: children's outputs in submission order (Go conc's `ResultPool`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::child::ChildHandle;
use crate::error::ChildError;

/// Collects child handles and yields their outputs in the order they were pushed,
/// whatever order the children finish in. No extra task per child: the handles are
/// awaited one after the other by whoever awaits [`Results::join`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use corral_scope::{scope, Results};
/// let squares = scope(|s| async move {
///     let mut results = Results::new();
///     for i in 0..5u64 {
///         results.push(s.spawn(async move { Ok::<_, corral_scope::ChildError>(i * i) }).await.expect("open"));
///     }
///     results.join().await
/// })
/// .await
/// .unwrap();
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// # }
/// ```
pub struct Results<T> {
    handles: Vec<ChildHandle<T>>,
}

impl<T> Default for Results<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Results<T> {
    /// No handles yet.
    pub fn new() -> Self {
        Self {
            handles: Vec::new(),
        }
    }

    /// Adds the next child in submission order.
    pub fn push(&mut self, handle: ChildHandle<T>) {
        self.handles.push(handle);
    }

    /// Handles pushed so far.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Waits for the children one after the other, in submission order, and returns
    /// their outputs in that order.
    ///
    /// # Errors
    ///
    /// The first [`ChildError`] in submission order (a child failed, panicked, or was
    /// cancelled), as soon as that child's handle yields it: the children after it are
    /// not waited for (their handles are dropped; they stay in their group, which still
    /// joins them). A failed or panicked child has also cancelled its group, unless the
    /// group collects errors
    /// ([`ScopeBuilder::collect_errors`](crate::ScopeBuilder::collect_errors)), where a
    /// child's error cancels nothing.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in the sense that nothing is detached: dropping the future drops the
    /// handles (the children stay in their group); outputs already collected are lost.
    pub fn join(self) -> JoinResults<T> {
        JoinResults {
            handles: self.handles.into_iter(),
            outputs: Vec::new(),
            current: None,
        }
    }
}

impl<T> fmt::Debug for Results<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Results")
            .field("len", &self.handles.len())
            .finish()
    }
}

/// Future returned by [`Results::join`].
///
/// # Cancel safety
///
/// Dropping it drops the remaining handles (their children run on in their group).
#[must_use = "futures do nothing unless awaited"]
pub struct JoinResults<T> {
    handles: std::vec::IntoIter<ChildHandle<T>>,
    outputs: Vec<T>,
    current: Option<ChildHandle<T>>,
}

impl<T> Unpin for JoinResults<T> {}

impl<T> Future for JoinResults<T> {
    type Output = Result<Vec<T>, ChildError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.outputs.capacity() == 0 {
            this.outputs.reserve_exact(this.handles.len() + 1);
        }
        loop {
            if this.current.is_none() {
                match this.handles.next() {
                    Some(handle) => this.current = Some(handle),
                    None => return Poll::Ready(Ok(std::mem::take(&mut this.outputs))),
                }
            }
            let Some(current) = this.current.as_mut() else {
                continue;
            };
            let output = ready!(Pin::new(current).poll(cx));
            this.current = None;
            match output {
                Ok(value) => this.outputs.push(value),
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl<T> fmt::Debug for JoinResults<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinResults")
            .field("done", &self.outputs.len())
            .field(
                "remaining",
                &(self.handles.len() + usize::from(self.current.is_some())),
            )
            .finish()
    }
}
