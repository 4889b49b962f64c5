//! The answers hyper writes by itself, before any handler runs — `400` for a request that is
//! not HTTP, `414` for a URI too long, `431` for headers too large — go out with an empty
//! body. This wrapper around a connection's socket recognises those heads as they are
//! written and writes a problem document (`application/problem+json`, with a stable `code`)
//! in their place, so that every answer of the server is one.
//!
//! Recognised: a head of one of those statuses with `content-length: 0`, written at the start
//! of a write. The app itself never answers an error without a body (`ensure_problem`), so
//! nothing else matches.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::problem::ApiError;
use axum::http::StatusCode;

/// A socket whose automatic error answers become problem documents.
pub(crate) struct ProblemAnswers<T> {
    inner: T,
    /// A replacement being written: its bytes, how many went out, and the length of the
    /// write it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> ProblemAnswers<T> {
    pub(crate) fn new(inner: T) -> Self {
        ProblemAnswers { inner, pending: None }
    }
}

/// The problem answer that replaces hyper's own answer in `head`, if it is one.
pub(crate) fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let rest = head.strip_prefix(b"HTTP/1.1 ").or_else(|| head.strip_prefix(b"HTTP/1.0 "))?;
    let (status, code, detail) = match rest.get(..4)? {
        b"400 " => (StatusCode::BAD_REQUEST, "bad_request", "the request could not be read as HTTP/1.1"),
        b"414 " => (StatusCode::URI_TOO_LONG, "uri_too_long", "the request's URI is too long"),
        b"431 " => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large", "the request's headers are too large"),
        _ => return None,
    };
    let text = std::str::from_utf8(head).ok()?;
    let (fields, body) = text.split_once("\r\n\r\n")?;
    if !body.is_empty() || !fields.to_ascii_lowercase().split("\r\n").any(|f| f == "content-length: 0") {
        return None;
    }
    let problem = ApiError::new(status, code, detail).body();
    let reason = status.canonical_reason().unwrap_or("Error");
    Some(
        format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{problem}",
            status.as_u16(),
            problem.len()
        )
        .into_bytes(),
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemAnswers<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemAnswers<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.pending.is_none() {
            match replacement(buf) {
                Some(bytes) => self.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        let this = &mut *self;
        let Some((bytes, sent, stands_for)) = this.pending.as_mut() else { unreachable!("set above") };
        while *sent < bytes.len() {
            match ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*sent..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *sent += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let n = *stands_for;
        this.pending = None;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_own_answers_become_problems() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 07:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(replacement(head).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/problem+json\r\n"), "{out}");
        let body: serde_json::Value = serde_json::from_str(out.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!((body["status"].as_u64(), body["code"].as_str()), (Some(431), Some("headers_too_large")));
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").is_some());
    }

    #[test]
    fn other_answers_pass_unchanged() {
        for head in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"{\"a\": 1}",
        ] {
            assert!(replacement(head).is_none(), "{}", String::from_utf8_lossy(head));
        }
    }
}
