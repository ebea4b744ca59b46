//! A connection to the Lambda Runtime API: HTTP/1.1 requests, one at a time, over a keep-alive
//! TCP connection that each serving loop has to itself.
//!
//! This, rather than hyper's client (which lambda_runtime uses), for two things measured on the
//! release binary with the 100,000-item event (BENCHMARKS.md, "The Runtime API connection"):
//!
//! - **One copy of the payload.** hyper reads a body into a buffer of its own and hands it out
//!   in pieces, which had then to be copied into the payload buffer: every payload was copied
//!   twice after the kernel's copy. Here the payload is read from the socket straight into the
//!   loop's kept buffer ([`Connection::get`]).
//! - **No wait for a delayed acknowledgement.** A Runtime API that writes a response's head and
//!   body separately with Nagle's algorithm on holds the body back until the head is
//!   acknowledged, and Linux may delay that acknowledgement by 40 ms when it expects to send
//!   data soon (as a client that has just sent a request does). The connection asks the kernel
//!   for an immediate acknowledgement (`TCP_QUICKACK`) after it sends a request and after each
//!   read, so such a peer costs nothing more than one that writes head and body at once.
//!
//! What it speaks is the part of HTTP/1.1 the Runtime API uses (RFC 9112): a body framed by
//! `Content-Length`, by `Transfer-Encoding: chunked`, or by the end of the connection; no body
//! for `1xx`, `204` and `304` answers; the connection kept open unless the answer says
//! otherwise. The response head is parsed by `httparse`, hyper's own parser.

use std::fmt;
use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a response head may take; the Runtime API's are a few hundred bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header lines a response head may have.
const MAX_HEADERS: usize = 64;
/// How many bytes a read of the head, or of a body whose length is not known ahead, asks for.
const READ_BYTES: usize = 16 * 1024;
/// The most a body buffer reserves ahead from `Content-Length` or a chunk's size; a longer
/// body grows it as its bytes arrive, so that a wrong length cannot ask for gigabytes up front.
const RESERVE_AHEAD_BYTES: usize = 64 << 20;
/// Sent with every request, as lambda_runtime sends its own.
const USER_AGENT: &str = concat!(
    "aws-lambda-rust frequency-fanout/",
    env!("CARGO_PKG_VERSION")
);

/// Why a request got no complete answer.
#[derive(Debug)]
pub enum ConnectionError {
    /// The connection could not be made, or failed, or closed before the answer was complete.
    Io(io::Error),
    /// The answer is not HTTP/1.1 as this connection reads it.
    Malformed(String),
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::Io(error) => write!(f, "{error}"),
            ConnectionError::Malformed(problem) => write!(f, "a malformed HTTP answer: {problem}"),
        }
    }
}

impl std::error::Error for ConnectionError {}

impl From<io::Error> for ConnectionError {
    fn from(error: io::Error) -> Self {
        ConnectionError::Io(error)
    }
}

fn malformed(problem: impl Into<String>) -> ConnectionError {
    ConnectionError::Malformed(problem.into())
}

/// The status and headers of an answer; its body went where the request said.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
}

/// Where the Runtime API is, as `AWS_LAMBDA_RUNTIME_API` says: `host:port` on Lambda, or a
/// URL with a path under which the API lies, as `cargo lambda watch` gives it
/// (`http://127.0.0.1:9000/.rt/NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, to connect to and to name in `Host`.
    address: String,
    /// Put before every request's path; empty on Lambda, never ending in `/`.
    base_path: String,
}

impl Endpoint {
    /// Reads the variable's value; `Err` says what is wrong with it.
    pub fn parse(value: &str) -> Result<Endpoint, String> {
        let uri = http::Uri::try_from(value).map_err(|error| error.to_string())?;
        match uri.scheme_str() {
            None | Some("http") => {}
            Some(other) => return Err(format!("the scheme {other:?} is not http")),
        }
        let authority = uri.authority().ok_or("there is no host")?;
        if authority.host().is_empty() {
            return Err("there is no host".into());
        }
        let base_path = match uri.scheme() {
            // A bare `host:port` has no path.
            None => String::new(),
            Some(_) => uri.path().trim_end_matches('/').to_string(),
        };
        // `host:` and a port that is not a number are not addresses.
        let port = match authority.as_str().strip_prefix(authority.host()) {
            Some("") => 80,
            _ => authority.port_u16().ok_or("the port is not a number")?,
        };
        Ok(Endpoint {
            address: format!("{}:{port}", authority.host()),
            base_path,
        })
    }
}

/// One keep-alive connection to the Runtime API, made when the first request is sent and made
/// again after the Runtime API closes it.
pub struct Connection {
    endpoint: Endpoint,
    open: Option<Open>,
}

/// An open connection and what was read from it beyond the last answer's head.
struct Open {
    stream: TcpStream,
    /// Bytes read but not yet used: `read[start..]`.
    read: Vec<u8>,
    start: usize,
    /// Whether an answer has been read on it (a request that fails on a reused connection
    /// before any byte of its answer arrived is sent again on a new one).
    reused: bool,
}

/// How a body is framed (RFC 9112, section 6.3).
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// An answer's head, parsed.
struct Head {
    answer: Answer,
    framing: Framing,
    keep_alive: bool,
}

impl Connection {
    pub fn new(endpoint: Endpoint) -> Connection {
        Connection {
            endpoint,
            open: None,
        }
    }

    /// `GET path` (a path of the API, such as `/2018-06-01/runtime/invocation/next`); the
    /// answer's body is appended to `body`.
    pub async fn get(&mut self, path: &str, body: &mut Vec<u8>) -> Result<Answer, ConnectionError> {
        let mut head = self.request_head("GET", path);
        head.push_str("\r\n");
        self.request(head.as_bytes(), &[], body).await
    }

    /// `POST path` with `headers` and a JSON `payload`; the answer's body is appended to `body`.
    pub async fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
        body: &mut Vec<u8>,
    ) -> Result<Answer, ConnectionError> {
        let mut head = self.request_head("POST", path);
        head.push_str("Content-Type: application/json\r\n");
        head.push_str(&format!("Content-Length: {}\r\n", payload.len()));
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.request(head.as_bytes(), payload, body).await
    }

    /// The request line and the headers every request carries, without the blank line that
    /// ends a head.
    fn request_head(&self, method: &str, path: &str) -> String {
        let Endpoint { address, base_path } = &self.endpoint;
        format!(
            "{method} {base_path}{path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: {USER_AGENT}\r\n"
        )
    }

    /// Sends a request and reads its answer. On a reused connection, a request that fails
    /// before any byte of its answer arrived (the Runtime API closed the idle connection) is
    /// sent once more on a new one.
    async fn request(
        &mut self,
        head: &[u8],
        payload: &[u8],
        body: &mut Vec<u8>,
    ) -> Result<Answer, ConnectionError> {
        let kept = body.len();
        match self.exchange(head, payload, body).await {
            Err((Exchange::BeforeAnswer(_), true)) => {
                body.truncate(kept);
                self.exchange(head, payload, body)
                    .await
                    .map_err(|(error, _)| error.into_error())
            }
            result => result.map_err(|(error, _)| error.into_error()),
        }
    }

    /// One request and its answer; on failure, the connection is closed and the error comes
    /// with whether the connection had served an answer before.
    async fn exchange(
        &mut self,
        head: &[u8],
        payload: &[u8],
        body: &mut Vec<u8>,
    ) -> Result<Answer, (Exchange, bool)> {
        if self.open.is_none() {
            let open = Open::connect(&self.endpoint.address)
                .await
                .map_err(|error| (Exchange::BeforeAnswer(error.into()), false))?;
            self.open = Some(open);
        }
        // Set just above when it was not.
        let open = self.open.as_mut().expect("the connection is open");
        match open.exchange(head, payload, body).await {
            Ok((answer, true)) => {
                open.reused = true;
                Ok(answer)
            }
            // Closed by the answer: the next request makes a new connection.
            Ok((answer, false)) => {
                self.open = None;
                Ok(answer)
            }
            Err(error) => {
                let reused = open.reused;
                self.open = None;
                Err((error, reused))
            }
        }
    }
}

/// Where an exchange failed: before any byte of the answer arrived, or after.
enum Exchange {
    BeforeAnswer(ConnectionError),
    InAnswer(ConnectionError),
}

impl Exchange {
    fn into_error(self) -> ConnectionError {
        match self {
            Exchange::BeforeAnswer(error) | Exchange::InAnswer(error) => error,
        }
    }
}

impl Open {
    async fn connect(address: &str) -> io::Result<Open> {
        let stream = TcpStream::connect(address).await?;
        // A request never waits for the acknowledgement of the one before it.
        stream.set_nodelay(true)?;
        Ok(Open {
            stream,
            read: Vec::with_capacity(READ_BYTES),
            start: 0,
            reused: false,
        })
    }

    /// Sends a request, reads its answer's head, and its body into `body`. Returns the answer
    /// and whether the connection stays open.
    async fn exchange(
        &mut self,
        head: &[u8],
        payload: &[u8],
        body: &mut Vec<u8>,
    ) -> Result<(Answer, bool), Exchange> {
        self.send(head, payload)
            .await
            .map_err(|error| Exchange::BeforeAnswer(error.into()))?;
        let head = self.read_head().await?;
        self.read_body(&head.framing, body)
            .await
            .map_err(Exchange::InAnswer)?;
        let keep_alive = head.keep_alive && !matches!(head.framing, Framing::UntilClose);
        Ok((head.answer, keep_alive))
    }

    async fn send(&mut self, head: &[u8], payload: &[u8]) -> io::Result<()> {
        if payload.len() <= READ_BYTES {
            // One write, one segment for a small request.
            let mut request = Vec::with_capacity(head.len() + payload.len());
            request.extend_from_slice(head);
            request.extend_from_slice(payload);
            self.stream.write_all(&request).await?;
        } else {
            self.stream.write_all(head).await?;
            self.stream.write_all(payload).await?;
        }
        self.ask_for_quick_acks();
        Ok(())
    }

    /// Reads until a whole head is buffered, and parses it.
    async fn read_head(&mut self) -> Result<Head, Exchange> {
        loop {
            let buffered = &self.read[self.start..];
            if !buffered.is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut response = httparse::Response::new(&mut headers);
                match response.parse(buffered) {
                    Ok(httparse::Status::Complete(length)) => {
                        let head = parse_head(&response).map_err(Exchange::InAnswer)?;
                        self.start += length;
                        // An interim answer (`100 Continue`, say) comes before the real one.
                        if (100..200).contains(&head.answer.status) {
                            continue;
                        }
                        return Ok(head);
                    }
                    Ok(httparse::Status::Partial) if buffered.len() < MAX_HEAD_BYTES => {}
                    Ok(httparse::Status::Partial) => {
                        return Err(Exchange::InAnswer(malformed(format!(
                            "a head longer than {MAX_HEAD_BYTES} bytes"
                        ))))
                    }
                    Err(error) => {
                        return Err(Exchange::InAnswer(malformed(format!("{error}"))));
                    }
                }
            }
            // No byte of this answer has arrived while nothing is buffered.
            let nothing_yet = self.start == self.read.len();
            match self.fill().await {
                Ok(0) if nothing_yet => {
                    return Err(Exchange::BeforeAnswer(closed("before answering")))
                }
                Ok(0) => return Err(Exchange::InAnswer(closed("in the answer's head"))),
                Ok(_) => {}
                Err(error) if nothing_yet => return Err(Exchange::BeforeAnswer(error.into())),
                Err(error) => return Err(Exchange::InAnswer(error.into())),
            }
        }
    }

    /// Reads more bytes into the read buffer; 0 at the end of the connection.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.read.len() {
            self.read.clear();
            self.start = 0;
        }
        self.read.reserve(READ_BYTES);
        let read = self.stream.read_buf(&mut self.read).await?;
        self.ask_for_quick_acks();
        Ok(read)
    }

    /// Reads a body framed as `framing` into `body`.
    async fn read_body(
        &mut self,
        framing: &Framing,
        body: &mut Vec<u8>,
    ) -> Result<(), ConnectionError> {
        match *framing {
            Framing::None => Ok(()),
            Framing::Length(length) => self.read_exact_into(body, length).await,
            Framing::Chunked => self.read_chunked_into(body).await,
            Framing::UntilClose => {
                body.extend_from_slice(&self.read[self.start..]);
                self.start = self.read.len();
                loop {
                    body.reserve(READ_BYTES);
                    if self.stream.read_buf(body).await? == 0 {
                        return Ok(());
                    }
                    self.ask_for_quick_acks();
                }
            }
        }
    }

    /// Appends the next `length` bytes to `body`: those already buffered, then the rest read
    /// from the socket straight into `body`.
    async fn read_exact_into(
        &mut self,
        body: &mut Vec<u8>,
        length: usize,
    ) -> Result<(), ConnectionError> {
        body.reserve_exact(length.min(RESERVE_AHEAD_BYTES));
        let buffered = (self.read.len() - self.start).min(length);
        body.extend_from_slice(&self.read[self.start..self.start + buffered]);
        self.start += buffered;
        let mut left = length - buffered;
        while left > 0 {
            if body.capacity() == body.len() {
                body.reserve(left.min(RESERVE_AHEAD_BYTES));
            }
            // At most `left` bytes: what follows them is not this body's.
            let read = (&mut self.stream).take(left as u64).read_buf(body).await?;
            if read == 0 {
                return Err(closed(&format!(
                    "with {left} of the body's {length} bytes still to come"
                )));
            }
            self.ask_for_quick_acks();
            left -= read;
        }
        Ok(())
    }

    /// Appends a chunked body's data to `body` (RFC 9112, section 7.1); extensions and
    /// trailers are read and ignored.
    async fn read_chunked_into(&mut self, body: &mut Vec<u8>) -> Result<(), ConnectionError> {
        loop {
            let line = self.read_line().await?;
            let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
            let size_text = std::str::from_utf8(size_text)
                .map_err(|_| malformed("a chunk size that is not text"))?
                .trim_matches([' ', '\t']);
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| malformed(format!("a chunk size of {size_text:?}")))?;
            if size == 0 {
                // Trailer lines, up to an empty one.
                while !self.read_line().await?.is_empty() {}
                return Ok(());
            }
            // Grown as a vector grows: many small chunks must not each reallocate the body.
            body.reserve(size.min(RESERVE_AHEAD_BYTES));
            self.read_exact_into(body, size).await?;
            if !self.read_line().await?.is_empty() {
                return Err(malformed("a chunk longer than its size"));
            }
        }
    }

    /// The next line, without its CRLF (or LF).
    async fn read_line(&mut self) -> Result<Vec<u8>, ConnectionError> {
        loop {
            let buffered = &self.read[self.start..];
            if let Some(end) = buffered.iter().position(|&b| b == b'\n') {
                let line = buffered[..end]
                    .strip_suffix(b"\r")
                    .unwrap_or(&buffered[..end])
                    .to_vec();
                self.start += end + 1;
                return Ok(line);
            }
            if buffered.len() >= MAX_HEAD_BYTES {
                return Err(malformed(format!(
                    "a chunk line longer than {MAX_HEAD_BYTES} bytes"
                )));
            }
            if self.fill().await? == 0 {
                return Err(closed("in a chunked body"));
            }
        }
    }

    /// Asks the kernel to acknowledge what arrives at once rather than after a delay (Linux; a
    /// mode it leaves again by itself, so asked for after every request and read).
    fn ask_for_quick_acks(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // Best effort: a socket that refuses it only acknowledges as it would anyway.
            let _ = socket2::SockRef::from(&self.stream).set_tcp_quickack(true);
        }
    }
}

fn closed(when: &str) -> ConnectionError {
    ConnectionError::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the Runtime API closed the connection {when}"),
    ))
}

/// The answer, its body's framing and whether the connection stays open, from a parsed head.
fn parse_head(response: &httparse::Response<'_, '_>) -> Result<Head, ConnectionError> {
    // A complete head has both.
    let status = response.code.expect("a complete head has a status");
    let version = response.version.expect("a complete head has a version");
    let mut headers = http::HeaderMap::with_capacity(response.headers.len());
    for header in response.headers.iter() {
        let name = http::HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| malformed(format!("a header named {:?}", header.name)))?;
        let value = http::HeaderValue::from_bytes(header.value)
            .map_err(|_| malformed(format!("a malformed value of header {:?}", header.name)))?;
        headers.append(name, value);
    }
    let has_token = |name: http::header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|text| {
                text.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    let keep_alive = if version >= 1 {
        !has_token(http::header::CONNECTION, "close")
    } else {
        has_token(http::header::CONNECTION, "keep-alive")
    };
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else if has_token(http::header::TRANSFER_ENCODING, "chunked") {
        Framing::Chunked
    } else if let Some(length) = headers.get(http::header::CONTENT_LENGTH) {
        let length = length
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok())
            .ok_or_else(|| malformed(format!("a Content-Length of {length:?}")))?;
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    Ok(Head {
        answer: Answer { status, headers },
        framing,
        keep_alive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream as StdStream};
    use std::thread::JoinHandle;
    use std::time::Duration;

    /// A scripted server on a free port: `script` gets the listener; its result comes back
    /// from `join`.
    fn server<T: Send + 'static>(
        script: impl FnOnce(TcpListener) -> T + Send + 'static,
    ) -> (String, JoinHandle<T>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = listener.local_addr().expect("bound").to_string();
        (address, std::thread::spawn(move || script(listener)))
    }

    fn accept(listener: &TcpListener) -> (BufReader<StdStream>, StdStream) {
        let (stream, _) = listener.accept().expect("a connection");
        // A test that goes wrong fails rather than hangs.
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("a timeout");
        (BufReader::new(stream.try_clone().expect("a clone")), stream)
    }

    /// One request: its head's lines and its body (`Content-Length` framed).
    fn read_request(reader: &mut BufReader<StdStream>) -> Option<(Vec<String>, Vec<u8>)> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end().to_string();
            if line.is_empty() {
                break;
            }
            lines.push(line);
        }
        let length = lines
            .iter()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .map_or(0, |n| n.parse().expect("a length"));
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some((lines, body))
    }

    /// Reads one request (`what` names it if it does not come), writes `answer`, and returns
    /// the request.
    fn respond(
        reader: &mut BufReader<StdStream>,
        stream: &mut StdStream,
        what: &str,
        answer: &[u8],
    ) -> (Vec<String>, Vec<u8>) {
        let request = read_request(reader).expect(what);
        stream.write_all(answer).expect("the answer written");
        request
    }

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn a_body_written_in_pieces_is_read_whole_and_requests_share_one_connection() {
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();
        let (address, server) = server(move |listener| {
            let (mut reader, mut stream) = accept(&listener);
            let (get, _) = read_request(&mut reader).expect("a GET");
            let head = format!(
                "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\nContent-Length: {}\r\n\r\n",
                sent.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            for piece in sent.chunks(70_001) {
                stream.write_all(piece).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
            let (post, body) = respond(
                &mut reader,
                &mut stream,
                "a POST on the same connection",
                b"HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n",
            );
            (get, post, body)
        });
        let (answer, posted) = run(async {
            let mut connection = Connection::new(Endpoint::parse(&address).unwrap());
            let mut body = Vec::new();
            let answer = connection.get("/next", &mut body).await.expect("an answer");
            assert_eq!(body, payload);
            let mut posted = Vec::new();
            let accepted = connection
                .post(
                    "/r1/response",
                    &[("Lambda-Runtime-Invocation-Id", "i1")],
                    b"{\"count\":1}",
                    &mut posted,
                )
                .await
                .expect("accepted");
            assert_eq!(accepted.status, 202);
            (answer, posted)
        });
        assert_eq!(answer.status, 200);
        assert_eq!(answer.headers["lambda-runtime-aws-request-id"], "r1");
        assert_eq!(posted, b"{\"status\":\"OK\"}\n");
        let (get, post, body) = server.join().expect("the server");
        assert_eq!(get[0], "GET /next HTTP/1.1");
        assert!(get.contains(&format!("Host: {address}")), "{get:?}");
        assert!(
            get.iter().any(|line| line.starts_with("User-Agent: ")),
            "{get:?}"
        );
        assert_eq!(post[0], "POST /r1/response HTTP/1.1");
        assert!(
            post.contains(&"Lambda-Runtime-Invocation-Id: i1".to_string()),
            "{post:?}"
        );
        assert!(
            post.contains(&"Content-Type: application/json".to_string()),
            "{post:?}"
        );
        assert_eq!(body, b"{\"count\":1}");
    }

    #[test]
    fn chunked_bodies_are_decoded_and_bodies_until_close_read_to_the_end() {
        let (address, server) = server(|listener| {
            let (mut reader, mut stream) = accept(&listener);
            respond(
                &mut reader,
                &mut stream,
                "a GET",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5;name=value\r\nhello\r\n19\r\n, a chunk of 25 bytes....\r\n\
                  0\r\nTrailer: ignored\r\n\r\n",
            );
            respond(
                &mut reader,
                &mut stream,
                "a second GET on the same connection",
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
            );
            drop((reader, stream));
            // The answer closed the connection: the next request comes on a new one.
            let (mut reader, mut stream) = accept(&listener);
            respond(
                &mut reader,
                &mut stream,
                "a GET on a new connection",
                b"HTTP/1.1 204 No Content\r\n\r\n",
            );
            respond(
                &mut reader,
                &mut stream,
                "a GET after the 204",
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            )
        });
        run(async {
            let mut connection = Connection::new(Endpoint::parse(&address).unwrap());
            let mut body = Vec::new();
            connection.get("/a", &mut body).await.expect("chunked");
            assert_eq!(body, b"hello, a chunk of 25 bytes....");
            body.clear();
            connection.get("/b", &mut body).await.expect("until close");
            assert_eq!(body, b"until the end");
            body.clear();
            let answer = connection.get("/c", &mut body).await.expect("no content");
            assert_eq!((answer.status, body.len()), (204, 0));
            connection
                .get("/d", &mut body)
                .await
                .expect("after the 204");
        });
        let (last, _) = server.join().expect("the server");
        assert_eq!(last[0], "GET /d HTTP/1.1");
    }

    #[test]
    fn a_request_on_a_connection_closed_while_idle_is_sent_once_more_on_a_new_one() {
        let (address, server) = server(|listener| {
            let (mut reader, mut stream) = accept(&listener);
            respond(
                &mut reader,
                &mut stream,
                "a GET",
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            );
            // Closed while idle, as a server that times out idle connections does.
            drop((reader, stream));
            let (mut reader, mut stream) = accept(&listener);
            let (post, body) = respond(
                &mut reader,
                &mut stream,
                "the POST, sent again",
                b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
            );
            (post, body)
        });
        let status = run(async {
            let mut connection = Connection::new(Endpoint::parse(&address).unwrap());
            connection
                .get("/next", &mut Vec::new())
                .await
                .expect("the GET");
            // Let the close arrive before the next request.
            std::thread::sleep(Duration::from_millis(100));
            let answer = connection
                .post("/r/response", &[], b"{}", &mut Vec::new())
                .await
                .expect("the POST, answered on a new connection");
            answer.status
        });
        assert_eq!(status, 202);
        let (post, body) = server.join().expect("the server");
        assert_eq!(
            (post[0].as_str(), body.as_slice()),
            ("POST /r/response HTTP/1.1", &b"{}"[..])
        );
    }

    #[test]
    fn an_answer_cut_short_is_an_error_and_its_request_is_not_sent_again() {
        let (address, server) = server(|listener| {
            let (mut reader, mut stream) = accept(&listener);
            respond(
                &mut reader,
                &mut stream,
                "a GET",
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..",
            );
            drop((reader, stream));
            listener.set_nonblocking(true).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            // No second connection came.
            listener.accept().is_err()
        });
        let error = run(async {
            let mut connection = Connection::new(Endpoint::parse(&address).unwrap());
            let mut body = Vec::new();
            connection
                .get("/next", &mut body)
                .await
                .expect_err("cut short")
        });
        assert!(
            matches!(&error, ConnectionError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("90 of the body's 100 bytes"),
            "{error}"
        );
        assert!(
            server.join().expect("the server"),
            "the request was sent again"
        );
    }

    #[test]
    fn malformed_answers_are_errors_that_say_what_is_wrong() {
        for (answer, expected) in [
            (&b"HTTP/1.1 2x0 OK\r\n\r\n"[..], "malformed HTTP answer"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
                "Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "chunk size",
            ),
        ] {
            let (address, server) = server(move |listener| {
                let (mut reader, mut stream) = accept(&listener);
                respond(&mut reader, &mut stream, "a GET", answer);
            });
            let error = run(async {
                let mut connection = Connection::new(Endpoint::parse(&address).unwrap());
                connection
                    .get("/next", &mut Vec::new())
                    .await
                    .expect_err("malformed")
            });
            assert!(error.to_string().contains(expected), "{error}");
            server.join().expect("the server");
        }
    }

    #[test]
    fn the_endpoint_is_read_as_lambda_and_cargo_lambda_give_it() {
        let endpoint = |address: &str, base_path: &str| Endpoint {
            address: address.into(),
            base_path: base_path.into(),
        };
        for (value, expected) in [
            ("127.0.0.1:9001", endpoint("127.0.0.1:9001", "")),
            ("localhost", endpoint("localhost:80", "")),
            (
                "http://127.0.0.1:9000/.rt/frequency-fanout",
                endpoint("127.0.0.1:9000", "/.rt/frequency-fanout"),
            ),
            ("http://127.0.0.1:9000/", endpoint("127.0.0.1:9000", "")),
            ("http://[::1]:9000", endpoint("[::1]:9000", "")),
        ] {
            assert_eq!(Endpoint::parse(value), Ok(expected), "{value}");
        }
        for value in [
            "",
            "https://127.0.0.1:9000",
            "/just/a/path",
            "127.0.0.1:port",
        ] {
            assert!(Endpoint::parse(value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn requests_go_under_the_endpoint_path() {
        let (address, server) = server(|listener| {
            let (mut reader, mut stream) = accept(&listener);
            let (get, _) = respond(
                &mut reader,
                &mut stream,
                "a GET",
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            );
            get
        });
        let endpoint = Endpoint::parse(&format!("http://{address}/.rt/name/")).unwrap();
        run(async {
            let mut connection = Connection::new(endpoint);
            connection
                .get("/2018-06-01/runtime/invocation/next", &mut Vec::new())
                .await
        })
        .expect("an answer");
        let get = server.join().expect("the server");
        assert_eq!(
            get[0],
            "GET /.rt/name/2018-06-01/runtime/invocation/next HTTP/1.1"
        );
    }
}
