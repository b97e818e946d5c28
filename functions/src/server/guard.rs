//! The request-head guard: an IO wrapper between the socket and hyper that checks every HTTP/1
//! request head before hyper sees it, so that a head hyper would answer itself (with a bare,
//! bodiless 400/414/431 and no request id) is answered by the API instead.
//!
//! It follows the message framing of the byte stream (head, then a `Content-Length` body or a
//! chunked body, then the next head) so that it can find every head on a kept-alive connection.
//! A head that fails a check is never shown to hyper: the guard drops it, hands hyper a small
//! synthetic request in its place (`GET` [`REJECTED_PATH`] with `connection: close`) and puts
//! the verdict in the connection's [`RejectSlot`]; the connection's service finds it there and
//! the router answers with the JSON error, request id and log line of every other error. Going
//! through hyper keeps responses in order on pipelined connections and lets hyper close the
//! connection itself once the answer is written.
//!
//! The checks are hyper's own (same `httparse` parser, same `Content-Length` and
//! `Transfer-Encoding` rules, a URI `http::Uri` accepts), made at least as strict, with the
//! API's limits on URI and head size below hyper's so hyper's never trigger.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Path of the synthetic request that stands for a rejected head.
pub const REJECTED_PATH: &str = "/.topten/rejected-request";

/// Most headers in one request (hyper's default cap is the same, so hyper never answers 431).
pub const MAX_HEADERS: usize = 100;

/// Bytes after a rejected head that are read and discarded (so that the client is not reset
/// before it reads the answer), at most.
const DRAIN_LIMIT: usize = 1 << 20;

/// Size limits of a request head.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Longest request target (path and query), in bytes: longer is a 414.
    pub max_uri_bytes: usize,
    /// Largest head (request line and headers), in bytes: larger is a 431.
    pub max_head_bytes: usize,
}

/// Why a head was refused: the status, stable code and message of the API's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// HTTP status (400, 414 or 431).
    pub status: u16,
    /// Stable error code.
    pub code: &'static str,
    /// What was wrong.
    pub message: String,
}

/// Where the guard of one connection leaves its verdict for that connection's service.
pub type RejectSlot = Arc<Mutex<Option<Rejected>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size { any: bool, value: u64 },
    SizeWs { value: u64 },
    Ext { value: u64 },
    SizeLf { value: u64 },
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerLf,
    EndLf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The next byte starts a request head.
    Head,
    /// Inside a body of known length: this many bytes left.
    Body(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// Bytes go through unchecked: after an upgrade (CONNECT) or a chunked body the guard could
    /// not follow (hyper then fails the body and closes the connection).
    Passthrough,
    /// A head was refused; nothing more is handed to hyper.
    Rejected,
}

/// The IO wrapper (see the module documentation).
pub struct Guarded<IO> {
    io: IO,
    buf: BytesMut,
    /// `buf[..ready]` has been checked and may be handed to hyper.
    ready: usize,
    state: State,
    limits: HeadLimits,
    slot: RejectSlot,
    eof: bool,
    drained: usize,
}

impl<IO> Guarded<IO> {
    /// Wraps `io`; verdicts go to `slot`.
    pub fn new(io: IO, limits: HeadLimits, slot: RejectSlot) -> Self {
        Guarded {
            io,
            buf: BytesMut::with_capacity(8192),
            ready: 0,
            state: State::Head,
            limits,
            slot,
            eof: false,
            drained: 0,
        }
    }

    /// Moves `ready` over everything buffered that can be checked now.
    fn check(&mut self) {
        let mut pos = self.ready;
        while pos < self.buf.len() {
            match self.state {
                State::Head => match check_head(&self.buf[pos..], &self.limits) {
                    Head::Partial => break,
                    Head::Ok { len, next } => {
                        pos += len;
                        self.state = next;
                    }
                    Head::Bad(rejected, request_id) => {
                        self.reject(pos, rejected, request_id);
                        return;
                    }
                },
                State::Body(left) => {
                    let take = left.min((self.buf.len() - pos) as u64);
                    pos += take as usize;
                    self.state = if take == left {
                        State::Head
                    } else {
                        State::Body(left - take)
                    };
                }
                State::Chunked(c) => {
                    let (used, next) = scan_chunked(c, &self.buf[pos..]);
                    pos += used;
                    self.state = next;
                }
                State::Passthrough => pos = self.buf.len(),
                State::Rejected => return,
            }
        }
        self.ready = pos;
    }

    /// Drops the head at `at` and what follows, and queues the synthetic request instead.
    fn reject(&mut self, at: usize, rejected: Rejected, request_id: Option<String>) {
        self.buf.truncate(at);
        let id = request_id
            .map(|id| format!("x-request-id: {id}\r\n"))
            .unwrap_or_default();
        let synthetic = format!("GET {REJECTED_PATH} HTTP/1.1\r\nconnection: close\r\n{id}\r\n");
        self.buf.extend_from_slice(synthetic.as_bytes());
        self.ready = self.buf.len();
        *self.slot.lock().unwrap() = Some(rejected);
        self.state = State::Rejected;
    }
}

impl<IO: AsyncRead + Unpin> Guarded<IO> {
    /// Reads more bytes into `buf`; `Ok(0)` at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // Read into the spare capacity as it is (no zeroing of 8 KiB per read).
        self.buf.reserve(8192);
        let start = self.buf.len();
        let mut rb = ReadBuf::uninit(self.buf.spare_capacity_mut());
        let res = Pin::new(&mut self.io).poll_read(cx, &mut rb);
        let n = rb.filled().len();
        // SAFETY: `ReadBuf` guarantees its first `filled().len()` bytes were initialised by the
        // read, and they are the bytes right after `start` in `buf`'s allocation.
        unsafe { self.buf.set_len(start + n) };
        match res {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(n)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready > 0 {
                let n = this.ready.min(out.remaining());
                out.put_slice(&this.buf[..n]);
                this.buf.advance(n);
                this.ready -= n;
                return Poll::Ready(Ok(()));
            }
            if this.state == State::Rejected {
                // Read and discard what the client still sends, never ending the stream: an
                // end of stream here would make hyper drop the answer it is writing.
                this.buf.clear();
                while this.drained < DRAIN_LIMIT && !this.eof {
                    match this.poll_fill(cx) {
                        Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => this.eof = true,
                        Poll::Ready(Ok(n)) => {
                            this.drained += n;
                            this.buf.clear();
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
                return Poll::Pending;
            }
            if this.eof {
                // A partial head at the end of the stream is dropped, not handed to hyper (it
                // would answer a partial head it can already tell is malformed itself).
                return Poll::Ready(Ok(()));
            }
            match this.poll_fill(cx) {
                Poll::Ready(Ok(0)) => this.eof = true,
                Poll::Ready(Ok(_)) => this.check(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

enum Head {
    Partial,
    Ok { len: usize, next: State },
    Bad(Rejected, Option<String>),
}

fn bad(status: u16, code: &'static str, message: impl Into<String>) -> Rejected {
    Rejected {
        status,
        code,
        message: message.into(),
    }
}

/// How the body after a parsed head is framed (Transfer-Encoding, else Content-Length), or why
/// the framing is refused: an HTTP/1.0 Transfer-Encoding, a Transfer-Encoding not ending in
/// `chunked`, a Content-Length that is not one number or that disagrees with another.
fn body_framing(req: &httparse::Request<'_, '_>) -> Result<State, Rejected> {
    let http11 = req.version == Some(1);
    let mut chunked = None;
    let mut length: Option<u64> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Err(bad(
                    400,
                    "invalid_transfer_encoding",
                    "HTTP/1.0 requests cannot carry Transfer-Encoding",
                ));
            }
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let v = h.value.trim_ascii();
            let parsed = (!v.is_empty() && v.len() <= 19 && v.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
                .flatten();
            let Some(n) = parsed else {
                return Err(bad(
                    400,
                    "invalid_content_length",
                    "Content-Length must be one decimal number of bytes",
                ));
            };
            if length.is_some_and(|prev| prev != n) {
                return Err(bad(
                    400,
                    "invalid_content_length",
                    "several Content-Length headers that disagree",
                ));
            }
            length = Some(n);
        }
    }
    let next = match chunked {
        Some(false) => {
            return Err(bad(
                400,
                "invalid_transfer_encoding",
                "Transfer-Encoding must end with chunked",
            ))
        }
        Some(true) => State::Chunked(Chunk::Size {
            any: false,
            value: 0,
        }),
        None if req.method == Some("CONNECT") => State::Passthrough,
        None => match length {
            Some(n) if n > 0 => State::Body(n),
            _ => State::Head,
        },
    };
    Ok(next)
}

/// A caller's request id that can be copied into the synthetic head as it is.
fn safe_request_id(value: &[u8]) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b));
    ok.then(|| String::from_utf8_lossy(value).into_owned())
}

/// Checks the head at the start of `bytes`.
fn check_head(bytes: &[u8], limits: &HeadLimits) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if bytes.len() <= limits.max_head_bytes {
                return Head::Partial;
            }
            // Too long without an end: a 414 while the request line itself is unfinished.
            let line_done = bytes
                .iter()
                .take(limits.max_uri_bytes + 32)
                .any(|&b| b == b'\n');
            return Head::Bad(
                if line_done {
                    too_large(limits)
                } else {
                    uri_too_long(limits)
                },
                None,
            );
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Head::Bad(
                bad(
                    431,
                    "headers_too_large",
                    format!("more than {MAX_HEADERS} request headers"),
                ),
                None,
            )
        }
        Err(e) => {
            return Head::Bad(
                bad(
                    400,
                    "malformed_request",
                    format!("malformed HTTP request head: {e}"),
                ),
                None,
            )
        }
    };
    let request_id = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("x-request-id"))
        .and_then(|h| safe_request_id(h.value));
    let fail = |r: Rejected| Head::Bad(r, request_id.clone());
    let path = req.path.unwrap_or("");
    if path.len() > limits.max_uri_bytes {
        return fail(uri_too_long(limits));
    }
    if len > limits.max_head_bytes {
        return fail(too_large(limits));
    }
    if path.parse::<axum::http::Uri>().is_err() {
        return fail(bad(
            400,
            "malformed_request",
            "the request target is not a valid URI",
        ));
    }
    if axum::http::Method::from_bytes(req.method.unwrap_or("").as_bytes()).is_err() {
        return fail(bad(400, "malformed_request", "invalid method"));
    }
    match body_framing(&req) {
        Ok(next) => Head::Ok { len, next },
        Err(r) => fail(r),
    }
}

fn uri_too_long(limits: &HeadLimits) -> Rejected {
    bad(
        414,
        "uri_too_long",
        format!(
            "the request target is longer than {} bytes",
            limits.max_uri_bytes
        ),
    )
}

fn too_large(limits: &HeadLimits) -> Rejected {
    bad(
        431,
        "headers_too_large",
        format!(
            "the request head is larger than {} bytes",
            limits.max_head_bytes
        ),
    )
}

/// Follows a chunked body through `bytes`: how many bytes belong to it and the state after
/// them ([`State::Head`] once the body ended, [`State::Passthrough`] on framing the guard
/// cannot follow, which hyper then rejects).
fn scan_chunked(mut c: Chunk, bytes: &[u8]) -> (usize, State) {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        c = match c {
            Chunk::Data(n) => {
                let take = n.min((bytes.len() - i) as u64);
                i += take as usize;
                c = if take == n {
                    Chunk::DataCr
                } else {
                    Chunk::Data(n - take)
                };
                continue;
            }
            Chunk::Size { any, value } => match (b as char).to_digit(16) {
                Some(d) => match value.checked_mul(16).and_then(|v| v.checked_add(d as u64)) {
                    Some(v) => Chunk::Size {
                        any: true,
                        value: v,
                    },
                    None => return (bytes.len(), State::Passthrough),
                },
                None if !any => return (bytes.len(), State::Passthrough),
                None => match b {
                    b'\r' => Chunk::SizeLf { value },
                    b' ' | b'\t' => Chunk::SizeWs { value },
                    b';' => Chunk::Ext { value },
                    _ => return (bytes.len(), State::Passthrough),
                },
            },
            // Whitespace after the size, then extensions: skipped.
            Chunk::SizeWs { value } => match b {
                b'\r' => Chunk::SizeLf { value },
                b' ' | b'\t' => c,
                b';' => Chunk::Ext { value },
                _ => return (bytes.len(), State::Passthrough),
            },
            Chunk::Ext { value } => match b {
                b'\r' => Chunk::SizeLf { value },
                b'\n' => return (bytes.len(), State::Passthrough),
                _ => c,
            },
            Chunk::SizeLf { value } => match b {
                b'\n' if value == 0 => Chunk::TrailerStart,
                b'\n' => Chunk::Data(value),
                _ => return (bytes.len(), State::Passthrough),
            },
            Chunk::DataCr => match b {
                b'\r' => Chunk::DataLf,
                _ => return (bytes.len(), State::Passthrough),
            },
            Chunk::DataLf => match b {
                b'\n' => Chunk::Size {
                    any: false,
                    value: 0,
                },
                _ => return (bytes.len(), State::Passthrough),
            },
            Chunk::TrailerStart => match b {
                b'\r' => Chunk::EndLf,
                _ => Chunk::TrailerLine,
            },
            Chunk::TrailerLine => match b {
                b'\r' => Chunk::TrailerLf,
                _ => c,
            },
            Chunk::TrailerLf => match b {
                b'\n' => Chunk::TrailerStart,
                _ => return (bytes.len(), State::Passthrough),
            },
            Chunk::EndLf => match b {
                b'\n' => return (i + 1, State::Head),
                _ => return (bytes.len(), State::Passthrough),
            },
        };
        i += 1;
    }
    (i, State::Chunked(c))
}
