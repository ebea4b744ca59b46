//! The little HTTP/1.1 the Runtime API needs: requests with a `Content-Length` or chunked
//! body, responses with a `Content-Length` body, and keep-alive connections (lambda_runtime's
//! hyper client keeps one connection open across `/next` and the answer that follows it).

use std::io::{self, BufRead, IoSlice, Read, Write};

/// The longest request line or header line accepted.
const MAX_LINE: usize = 64 * 1024;
/// The most header lines accepted in one request.
const MAX_HEADERS: usize = 128;
/// The largest body accepted: far above Lambda's 6 MB, low enough to refuse garbage.
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// One request as read from a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent, such as `/2018-06-01/runtime/invocation/next`.
    pub path: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Header names and values in the order received; names keep their case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of the header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection stays open after the response: HTTP/1.1 unless the client said
    /// `Connection: close`, HTTP/1.0 only if it said `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let connection = self.header("connection").map(str::to_ascii_lowercase);
        let has = |token: &str| {
            connection
                .as_deref()
                .is_some_and(|c| c.split(',').any(|t| t.trim() == token))
        };
        if self.version == "HTTP/1.0" {
            has("keep-alive")
        } else {
            !has("close")
        }
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads one line ending in LF (a preceding CR is removed). `Ok(None)` at end of input before
/// any byte.
fn read_line<R: BufRead>(reader: &mut R) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let read = reader
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > MAX_LINE {
            invalid("a request line or header line is too long")
        } else {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed mid-line",
            )
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| invalid("a request line or header line is not UTF-8"))
}

/// Reads the next request. `Ok(None)` when the client closed the connection between requests.
pub fn read_request<R: BufRead>(reader: &mut R) -> io::Result<Option<Request>> {
    // RFC 9112 lets a server ignore empty lines before the request line.
    let request_line = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = request_line.split_ascii_whitespace();
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!("malformed request line {request_line:?}")));
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(invalid(format!("unsupported HTTP version {version:?}")));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed in the headers",
            )
        })?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(invalid("too many header lines"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("malformed header line {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut request = Request {
        method: method.to_string(),
        path: path.to_string(),
        version: version.to_string(),
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    request.body = if chunked {
        read_chunked(reader)?
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid(format!("malformed Content-Length {length:?}")))?;
        if length > MAX_BODY {
            return Err(invalid(format!("a body of {length} bytes is too large")));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    } else {
        Vec::new()
    };
    Ok(Some(request))
}

/// Reads a chunked body and its trailer section (whose fields are dropped).
fn read_chunked<R: BufRead>(reader: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed in a chunk",
            )
        })?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("malformed chunk size {line:?}")))?;
        if size == 0 {
            // Trailer fields, then an empty line.
            while !read_line(reader)?.unwrap_or_default().is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("a chunked body is too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
        if crlf != *b"\r\n" {
            return Err(invalid("a chunk does not end in CRLF"));
        }
    }
}

/// The reason phrase of the status codes the peer sends.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// How a response's head and body go onto the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Writes {
    /// Head and body in one write (`writev`), with `TCP_NODELAY` on the connection: what a Go
    /// HTTP server, such as Lambda's Runtime API most likely is, does by default.
    #[default]
    OneWriteNoDelay,
    /// Head, then body, in two writes, with Nagle's algorithm left on: the body's first segment
    /// waits for the head's acknowledgement, which the client may delay.
    TwoWritesNagle,
}

impl Writes {
    /// The name `--writes` takes and the summary line prints: `one` or `two`.
    pub fn name(self) -> &'static str {
        match self {
            Writes::OneWriteNoDelay => "one",
            Writes::TwoWritesNagle => "two",
        }
    }

    /// The way of writing called `name`.
    pub fn from_name(name: &str) -> Option<Writes> {
        [Writes::OneWriteNoDelay, Writes::TwoWritesNagle]
            .into_iter()
            .find(|writes| writes.name() == name)
    }

    /// Whether connections set `TCP_NODELAY`.
    pub fn no_delay(self) -> bool {
        self == Writes::OneWriteNoDelay
    }
}

/// Writes a response with a `Content-Length` body, as `writes` says.
pub fn write_response<W: Write>(
    writer: &mut W,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
    writes: Writes,
) -> io::Result<()> {
    let head = response_head(status, headers, body.len(), keep_alive);
    match writes {
        Writes::OneWriteNoDelay => write_all_vectored(
            writer,
            &mut [IoSlice::new(head.as_bytes()), IoSlice::new(body)],
        )?,
        Writes::TwoWritesNagle => {
            writer.write_all(head.as_bytes())?;
            writer.write_all(body)?;
        }
    }
    writer.flush()
}

/// `write_all` over several buffers: one `writev` when the socket takes it all.
fn write_all_vectored<W: Write>(writer: &mut W, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match writer.write_vectored(slices) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the connection took no more bytes",
                ))
            }
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The status line and headers of a response whose body is `body_len` bytes, with the blank
/// line that ends them.
pub fn response_head(
    status: u16,
    headers: &[(&str, &str)],
    body_len: usize,
    keep_alive: bool,
) -> String {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {body_len}\r\n"));
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> io::Result<Option<Request>> {
        read_request(&mut io::BufReader::new(bytes))
    }

    #[test]
    fn content_length_body_and_keep_alive() {
        let mut reader = io::BufReader::new(
            &b"POST /a HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\n\r\nhello\
               GET /b HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
        );
        let first = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(first.method, "POST");
        assert_eq!(first.path, "/a");
        assert_eq!(first.header("Content-Length"), Some("5"));
        assert_eq!(first.body, b"hello");
        assert!(first.keep_alive());
        let second = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(second.path, "/b");
        assert!(second.body.is_empty());
        assert!(!second.keep_alive());
        assert_eq!(read_request(&mut reader).unwrap(), None);
    }

    #[test]
    fn chunked_body_with_trailers() {
        let request = parse(
            b"POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nLambda-Runtime-Function-Error-Type: x\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(request.body, b"hello world");
    }

    #[test]
    fn http_1_0_closes_unless_asked() {
        let request = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!request.keep_alive());
        let request = parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(request.keep_alive());
    }

    #[test]
    fn malformed_requests_are_errors() {
        for bad in [
            &b"GET\r\n\r\n"[..],
            b"GET / HTTP/2\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"GET / HTTP/1.1\r\nHost: x",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn response_bytes() {
        let mut out = Vec::new();
        write_response(
            &mut out,
            202,
            &[("Content-Type", "application/json")],
            b"{}",
            true,
            Writes::OneWriteNoDelay,
        )
        .unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
        let mut out = Vec::new();
        write_response(&mut out, 404, &[], b"", false, Writes::TwoWritesNagle).unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
}
