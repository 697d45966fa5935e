//! An answer's body as the agent hands it on: read by the request's
//! deadline and no more than its limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::body::{Body, Frame, Incoming};

use super::BoxError;
use crate::error::TooLarge;

/// An answer's body, read by the request's deadline. The timer is armed
/// only when the body is not all there: a small answer arrives with its
/// head.
pub(super) struct Bounded {
    pub(super) inner: Incoming,
    pub(super) deadline: Instant,
    pub(super) sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Bytes that may still be read, of `limit`.
    pub(super) left: usize,
    pub(super) limit: usize,
}

impl Body for Bounded {
    type Data = bytes::Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let size = frame.data_ref().map_or(0, bytes::Bytes::len);
                if size > self.left {
                    return Poll::Ready(Some(Err(Box::new(TooLarge { limit: self.limit }))));
                }
                self.left -= size;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(BoxError::from))),
            Poll::Pending => {
                let deadline = self.deadline;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the answer's body did not arrive in time",
                    ))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
