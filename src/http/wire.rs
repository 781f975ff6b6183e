//! Errors that happen before a request exists. actix-http answers a request
//! it cannot parse (a malformed request line, a 100 kB URI, headers over its
//! buffer) or whose head arrives too slowly with a bare status and an empty
//! body, written by its dispatcher where no middleware can reach. Each
//! connection's stream is wrapped in [`ProblemIo`], which spots such an
//! answer as it is written and writes the same status as problem+json
//! instead, so every error of the service is problem+json.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::PROBLEM_JSON;

/// A connection's stream that rewrites the dispatcher's bare error answers.
#[derive(Debug)]
pub struct ProblemIo<T> {
    inner: T,
    /// A rewritten answer not yet fully written, and the length of the
    /// original write it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> ProblemIo<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// The detail for each status the dispatcher answers by itself.
fn detail(status: u16) -> Option<&'static str> {
    match status {
        400 => Some(
            "The request could not be parsed: a malformed request line or header, \
             or a request line or header too long.",
        ),
        408 => Some("The request head was not received in time; the connection is closed."),
        431 => Some("The request's headers are too large."),
        _ => None,
    }
}

/// If `buf` is exactly a dispatcher error answer (`HTTP/1.1 <status> …`
/// with `content-length: 0` and nothing after the head), the same answer
/// with a problem+json body.
pub fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(buf).ok()?;
    let head = text.strip_suffix("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let reason = parts.next().unwrap_or("Error");
    let detail = detail(status)?;
    let headers: Vec<&str> = lines.collect();
    let empty = headers.iter().any(|h| {
        h.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("content-length") && value.trim() == "0"
        })
    });
    if !empty || headers.iter().any(|h| h.contains("\r") || h.is_empty()) {
        return None;
    }
    let body = serde_json::json!({
        "type": "about:blank",
        "title": reason,
        "status": status,
        "detail": detail,
    })
    .to_string();
    let mut out = format!("{status_line}\r\n");
    for h in &headers {
        let name = h.split(':').next().unwrap_or("");
        if !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("content-type")
            && !name.eq_ignore_ascii_case("connection")
        {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!(
        "content-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\nconnection: close\r\n\
         x-content-type-options: nosniff\r\n\r\n{body}",
        body.len()
    ));
    Some(out.into_bytes())
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> ProblemIo<T> {
    /// Writes what is left of a rewritten answer; Ready once all of it is out.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<usize>>> {
        while let Some((bytes, written, stands_for)) = &mut self.pending {
            if *written == bytes.len() {
                let n = *stands_for;
                self.pending = None;
                return Poll::Ready(Ok(Some(n)));
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(None))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending.is_none()
            && buf.len() < 1024
            && let Some(replacement) = rewrite(buf)
        {
            self.pending = Some((replacement, 0, buf.len()));
        }
        if self.pending.is_some() {
            return match self.drain(cx) {
                Poll::Ready(Ok(Some(n))) => Poll::Ready(Ok(n)),
                Poll::Ready(Ok(None)) => Poll::Ready(Ok(buf.len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_dispatcher_errors_become_problems() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: Sun, 06 Dec 2026 23:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(bare).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains("date: Sun, 06 Dec 2026"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], 400);

        let slow = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n";
        assert!(rewrite(slow).is_some());
        let big = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(rewrite(big).is_some());
    }

    #[test]
    fn other_answers_pass_untouched() {
        let cases: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK",
            b"{\"not\": \"a head\"}",
            b"\xff\xfe",
        ];
        for case in cases {
            assert!(
                rewrite(case).is_none(),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }
}
