//! A Lambda Runtime API peer on loopback, for testing and benchmarking a Lambda function's
//! binary outside Lambda.
//!
//! A Lambda function built on a custom runtime (lambda_runtime in Rust) asks the Runtime API at
//! `AWS_LAMBDA_RUNTIME_API` for its next invocation and posts the answer back. This crate plays
//! the Runtime API's part: [`RuntimeApiPeer::start`] listens on `127.0.0.1`, the function is
//! started with [`RuntimeApiPeer::lambda_env`] in its environment, and [`RuntimeApiPeer::invoke`]
//! hands it one payload and returns what it answered, with timings.
//!
//! ```no_run
//! use runtime_api_peer::RuntimeApiPeer;
//!
//! let peer = RuntimeApiPeer::start()?;
//! let mut child = std::process::Command::new("target/release/bootstrap")
//!     .envs(peer.lambda_env())
//!     .spawn()?;
//! let outcome = peer.invoke(br#"{"items": []}"#.to_vec())?;
//! assert!(outcome.is_response(), "{}", outcome.body_text());
//! child.kill()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Endpoints served (all under `/2018-06-01/runtime`):
//!
//! | request | what the peer does |
//! | --- | --- |
//! | `GET /invocation/next` | blocks until an invocation is queued, answers with its payload and the `Lambda-Runtime-*` headers |
//! | `POST /invocation/{id}/response` | records the answer as a response; 202 |
//! | `POST /invocation/{id}/error` | records the answer as an error, with its `Lambda-Runtime-Function-Error-Type` header; 202 |
//! | `POST /init/error` | records the init error; 202 |
//!
//! Anything else, and an answer for a request id that is not waiting for one, gets a 4xx
//! status and is recorded in [`RuntimeApiPeer::problems`], so that a test can assert that the
//! function spoke the protocol cleanly.
//!
//! The peer can also misbehave on purpose ([`RuntimeApiPeer::inject`] a [`Fault`]): answer
//! `/next` with an error status, cut an invocation's body off mid-way, or send it slowly.
//!
//! The server is std only: one thread accepts, one thread serves each connection, and a
//! connection stays open across requests (lambda_runtime's client keeps it alive).

mod http;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use http::{Writes, MAX_BODY};

/// The prefix of every Runtime API path.
pub const API_PREFIX: &str = "/2018-06-01/runtime";

/// The `Lambda-Runtime-Invoked-Function-Arn` sent unless [`Options::function_arn`] says otherwise.
pub const DEFAULT_FUNCTION_ARN: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:function-under-test";

/// How long [`RuntimeApiPeer::invoke`] waits for an answer before giving up with
/// [`InvokeError::TimedOut`]: generous, so that a loaded machine does not fail a test, yet
/// finite, so that a function that never answers fails it instead of hanging it.
pub const DEFAULT_INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// The deadline given to an invocation, counted from when it is queued: Lambda's longest
/// function timeout.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(900);

/// How often a `/next` request that is waiting for an invocation checks that its client is
/// still connected, so that an invocation is never handed to a client that went away.
const LIVENESS_POLL: Duration = Duration::from_millis(50);

/// Settings of a peer.
#[derive(Clone, Debug)]
pub struct Options {
    /// Sent as `Lambda-Runtime-Invoked-Function-Arn`; its last `:` part names the function in
    /// [`RuntimeApiPeer::lambda_env`].
    pub function_arn: String,
    /// See [`DEFAULT_INVOKE_TIMEOUT`].
    pub invoke_timeout: Duration,
    /// See [`DEFAULT_DEADLINE`].
    pub deadline: Duration,
    /// How responses, an invocation's payload above all, are written (see [`Writes`]).
    pub writes: Writes,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            function_arn: DEFAULT_FUNCTION_ARN.to_string(),
            invoke_timeout: DEFAULT_INVOKE_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            writes: Writes::default(),
        }
    }
}

/// A way for the peer to misbehave, queued with [`RuntimeApiPeer::inject`] and applied, in
/// order, to the `/next` requests that follow, so that a test can see how a function copes
/// with a Runtime API that fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The next `/next` request is answered at once with this status and an error body, and no
    /// invocation is handed out (the Runtime API answers 500 when the execution environment is
    /// broken, and expects the runtime to exit).
    NextStatus(u16),
    /// The next invocation handed out is cut off: its head announces the full length, `after`
    /// bytes of the payload follow, then the connection is closed. The invocation goes back to
    /// the front of the queue, as if never handed out, so a function that carries on gets it
    /// again, whole.
    DropMidBody { after: usize },
    /// The next invocation handed out is written slowly: `chunk` bytes at a time (its head
    /// included), with `pause` after each.
    Trickle { chunk: usize, pause: Duration },
}

/// Whether the function answered through `/response` or `/error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    Response,
    Error,
}

/// What the function answered to one invocation, and when.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The `Lambda-Runtime-Aws-Request-Id` the peer gave the invocation.
    pub request_id: String,
    pub kind: OutcomeKind,
    /// The `Lambda-Runtime-Function-Error-Type` header of the answer, if it had one.
    pub error_type: Option<String>,
    /// The answer's body: the response, or the error object.
    pub body: Vec<u8>,
    /// The `Lambda-Runtime-Deadline-Ms` the invocation was sent with (ms since the Unix epoch).
    pub deadline_ms: u64,
    /// The `Lambda-Runtime-Trace-Id` the invocation was sent with.
    pub trace_id: String,
    /// Whether the answer carried the `Lambda-Runtime-Invocation-Id` the invocation was sent
    /// with, as the Runtime API asks so that it can refuse a late answer to an invocation it
    /// timed out. (One that carries another id is a protocol problem.)
    pub invocation_id_echoed: bool,
    /// When the invocation was queued.
    pub queued_at: Instant,
    /// When a `/next` request was answered with it (just before its bytes were written).
    pub handed_out_at: Instant,
    /// When the answer's request had been read in full.
    pub answered_at: Instant,
}

impl Outcome {
    pub fn is_response(&self) -> bool {
        self.kind == OutcomeKind::Response
    }

    pub fn is_error(&self) -> bool {
        self.kind == OutcomeKind::Error
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }

    /// The body as text, for messages (invalid UTF-8 replaced).
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// From handing the invocation out to receiving the answer: the function's time plus the
    /// transfer of the payload and the answer over loopback.
    pub fn function_time(&self) -> Duration {
        self.answered_at.duration_since(self.handed_out_at)
    }

    /// From queueing the invocation to receiving the answer.
    pub fn round_trip(&self) -> Duration {
        self.answered_at.duration_since(self.queued_at)
    }
}

/// A `POST /init/error` the function made.
#[derive(Clone, Debug)]
pub struct InitError {
    /// The `Lambda-Runtime-Function-Error-Type` header, if any.
    pub error_type: Option<String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the function reported an init error (type {}): {}",
            self.error_type.as_deref().unwrap_or("none"),
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// Why no answer came.
#[derive(Clone, Debug)]
pub enum InvokeError {
    /// No answer within the timeout. `handed_out` tells whether the function had asked for the
    /// invocation at all (if not, it never reached `/next`: it failed to start, or is stuck).
    TimedOut {
        request_id: String,
        waited: Duration,
        handed_out: bool,
    },
    /// The function posted to `/init/error`.
    Init(InitError),
    /// [`RuntimeApiPeer::abort`] was called, typically because the function's process exited.
    Aborted(String),
    /// The request id was never queued, or its outcome was already taken.
    UnknownRequest(String),
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvokeError::TimedOut {
                request_id,
                waited,
                handed_out: true,
            } => write!(
                f,
                "invocation {request_id}: no answer {waited:?} after queueing it; the function \
                 took it from /next but never posted a response or an error"
            ),
            InvokeError::TimedOut {
                request_id,
                waited,
                handed_out: false,
            } => write!(
                f,
                "invocation {request_id}: no answer {waited:?} after queueing it; the function \
                 never asked /next for it (did it start, with AWS_LAMBDA_RUNTIME_API set?)"
            ),
            InvokeError::Init(init) => init.fmt(f),
            InvokeError::Aborted(reason) => write!(f, "the peer was aborted: {reason}"),
            InvokeError::UnknownRequest(id) => {
                write!(f, "no invocation {id} is queued or waiting for an answer")
            }
        }
    }
}

impl std::error::Error for InvokeError {}

/// An invocation waiting for a `/next` request.
struct Queued {
    request_id: String,
    payload: Arc<[u8]>,
    deadline_ms: u64,
    trace_id: String,
    queued_at: Instant,
}

/// An invocation handed out and not yet answered.
struct InFlight {
    deadline_ms: u64,
    trace_id: String,
    invocation_id: String,
    queued_at: Instant,
    handed_out_at: Instant,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    in_flight: HashMap<String, InFlight>,
    /// The most invocations handed out and not yet answered at any one time.
    max_in_flight: usize,
    /// `/next` requests waiting for an invocation.
    waiting_next: usize,
    outcomes: HashMap<String, Outcome>,
    answered: HashSet<String>,
    first_next_at: Option<Instant>,
    next_requests: u64,
    init_errors: Vec<InitError>,
    problems: Vec<String>,
    faults: VecDeque<Fault>,
    applied_faults: Vec<Fault>,
    fixed_trace_id: Option<String>,
    aborted: Option<String>,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    options: Options,
    started_at: Instant,
    /// Distinguishes this peer's request ids from other peers'.
    seed: u64,
    next_id: AtomicU64,
    /// Every open connection, to be shut down with the peer.
    connections: Mutex<HashMap<u64, TcpStream>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the whole peer with it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn problem(&self, problem: String) {
        let mut state = self.lock();
        if !state.shutdown {
            state.problems.push(problem);
        }
    }
}

/// The Runtime API peer. Dropping it stops the server and closes every connection.
pub struct RuntimeApiPeer {
    shared: Arc<Shared>,
    address: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl RuntimeApiPeer {
    /// Starts a peer with the default [`Options`] on `127.0.0.1` at a free port.
    pub fn start() -> io::Result<RuntimeApiPeer> {
        RuntimeApiPeer::start_with(Options::default())
    }

    /// Starts a peer on `127.0.0.1` at a free port.
    pub fn start_with(options: Options) -> io::Result<RuntimeApiPeer> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let address = listener.local_addr()?;
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 40)
            ^ u64::from(address.port());
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            options,
            started_at: Instant::now(),
            seed,
            next_id: AtomicU64::new(1),
            connections: Mutex::new(HashMap::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("runtime-api-accept".into())
                .spawn(move || accept(listener, shared))?
        };
        Ok(RuntimeApiPeer {
            shared,
            address,
            acceptor: Some(acceptor),
        })
    }

    /// `host:port`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.address
    }

    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// When the peer started listening.
    pub fn started_at(&self) -> Instant {
        self.shared.started_at
    }

    /// The environment lambda_runtime needs (it panics without any of these):
    /// `AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME` (from the function ARN),
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (`128`, Lambda's default; set it again after these to
    /// change it) and `AWS_LAMBDA_FUNCTION_VERSION` (`$LATEST`).
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        let name = self
            .shared
            .options
            .function_arn
            .rsplit(':')
            .next()
            .unwrap_or("function")
            .to_string();
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", name),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ]
    }

    /// Queues `payload` with the default deadline and waits for the function's answer, at
    /// most [`Options::invoke_timeout`].
    pub fn invoke(&self, payload: impl Into<Vec<u8>>) -> Result<Outcome, InvokeError> {
        let request_id = self.enqueue(payload, None);
        self.wait(&request_id, self.shared.options.invoke_timeout)
    }

    /// Like [`invoke`](Self::invoke), with `Lambda-Runtime-Deadline-Ms: deadline_ms` (ms since
    /// the Unix epoch; any value, including one long past such as the 600000 that
    /// `cargo lambda watch` sends).
    pub fn invoke_with_deadline(
        &self,
        payload: impl Into<Vec<u8>>,
        deadline_ms: u64,
    ) -> Result<Outcome, InvokeError> {
        let request_id = self.enqueue(payload, Some(deadline_ms));
        self.wait(&request_id, self.shared.options.invoke_timeout)
    }

    /// Queues an invocation without waiting, and returns its fresh request id. `deadline_ms`
    /// defaults to now plus [`Options::deadline`].
    pub fn enqueue(&self, payload: impl Into<Vec<u8>>, deadline_ms: Option<u64>) -> String {
        self.enqueue_shared(Arc::from(payload.into()), deadline_ms)
    }

    /// [`enqueue`](Self::enqueue) for a payload the caller keeps too: queueing it copies nothing,
    /// so that an open arrival schedule of megabyte events keeps its clock.
    pub fn enqueue_shared(&self, payload: Arc<[u8]>, deadline_ms: Option<u64>) -> String {
        let (request_id, n) = self.fresh_request_id();
        let now_ms = epoch_ms();
        let deadline_ms =
            deadline_ms.unwrap_or_else(|| now_ms + self.shared.options.deadline.as_millis() as u64);
        let mut state = self.shared.lock();
        // As Lambda sends them: a fresh trace id for every invocation. Its parts tell where it
        // came from: the seconds and (as the parent segment) the millisecond it was queued at,
        // and the bits of the request id (the seed's high half and the counter).
        let trace_id = state.fixed_trace_id.clone().unwrap_or_else(|| {
            format!(
                "Root=1-{:08x}-{:08x}{:016x};Parent={:016x};Sampled=0",
                now_ms / 1000,
                (self.shared.seed >> 32) as u32,
                n,
                now_ms
            )
        });
        state.queue.push_back(Queued {
            request_id: request_id.clone(),
            payload,
            deadline_ms,
            trace_id,
            queued_at: Instant::now(),
        });
        drop(state);
        self.shared.changed.notify_all();
        request_id
    }

    /// Waits for the answer to the invocation `request_id` (from [`enqueue`](Self::enqueue)),
    /// at most `timeout`. Returns early with an error when the function reports an init error
    /// or the peer is aborted. An invocation that times out before any `/next` took it is
    /// withdrawn from the queue.
    pub fn wait(&self, request_id: &str, timeout: Duration) -> Result<Outcome, InvokeError> {
        let started = Instant::now();
        let mut state = self.shared.lock();
        loop {
            if let Some(outcome) = state.outcomes.remove(request_id) {
                return Ok(outcome);
            }
            if let Some(reason) = &state.aborted {
                return Err(InvokeError::Aborted(reason.clone()));
            }
            if let Some(init) = state.init_errors.first() {
                return Err(InvokeError::Init(init.clone()));
            }
            let queued = state.queue.iter().position(|q| q.request_id == request_id);
            let handed_out = state.in_flight.contains_key(request_id);
            if queued.is_none() && !handed_out {
                return Err(InvokeError::UnknownRequest(request_id.to_string()));
            }
            let waited = started.elapsed();
            if waited >= timeout {
                if let Some(index) = queued {
                    state.queue.remove(index);
                }
                return Err(InvokeError::TimedOut {
                    request_id: request_id.to_string(),
                    waited,
                    handed_out,
                });
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, timeout - waited)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// When the first `/next` request arrived: the function's init ended then.
    pub fn first_next_at(&self) -> Option<Instant> {
        self.shared.lock().first_next_at
    }

    /// Waits until the first `/next` request has arrived, at most `timeout`, and returns when it
    /// did. Errors like [`wait`](Self::wait) (a timeout reports an empty request id).
    pub fn wait_for_first_next(&self, timeout: Duration) -> Result<Instant, InvokeError> {
        let started = Instant::now();
        let mut state = self.shared.lock();
        loop {
            if let Some(at) = state.first_next_at {
                return Ok(at);
            }
            if let Some(reason) = &state.aborted {
                return Err(InvokeError::Aborted(reason.clone()));
            }
            if let Some(init) = state.init_errors.first() {
                return Err(InvokeError::Init(init.clone()));
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(InvokeError::TimedOut {
                    request_id: String::new(),
                    waited,
                    handed_out: false,
                });
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, timeout - waited)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// How many `/next` requests have arrived (a function that answered `n` invocations and
    /// is ready for more has made `n + 1`).
    pub fn next_requests(&self) -> u64 {
        self.shared.lock().next_requests
    }

    /// The most invocations that were handed out and not yet answered at one time, since the
    /// peer started or since [`reset_max_in_flight`](Self::reset_max_in_flight).
    pub fn max_in_flight(&self) -> usize {
        self.shared.lock().max_in_flight
    }

    /// How many invocations are handed out and not yet answered now.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().in_flight.len()
    }

    /// Starts counting [`max_in_flight`](Self::max_in_flight) afresh from the invocations in
    /// flight now.
    pub fn reset_max_in_flight(&self) {
        let mut state = self.shared.lock();
        state.max_in_flight = state.in_flight.len();
    }

    /// How many `/next` requests are waiting for an invocation now: a function serving `n`
    /// invocations at once holds up to `n` of them when idle.
    pub fn waiting_next_requests(&self) -> usize {
        self.shared.lock().waiting_next
    }

    /// Every `POST /init/error` so far.
    pub fn init_errors(&self) -> Vec<InitError> {
        self.shared.lock().init_errors.clone()
    }

    /// Protocol problems seen so far: unknown paths, answers for request ids that were not
    /// waiting for one, second answers, malformed HTTP.
    pub fn problems(&self) -> Vec<String> {
        self.shared.lock().problems.clone()
    }

    /// Queues a fault: the `/next` requests that follow apply the queued faults in order (see
    /// [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// Sends `trace_id` as the `Lambda-Runtime-Trace-Id` of every invocation queued from now
    /// on; `None` goes back to a fresh one for each (as Lambda sends).
    pub fn set_fixed_trace_id(&self, trace_id: Option<&str>) {
        self.shared.lock().fixed_trace_id = trace_id.map(str::to_string);
    }

    /// The faults applied so far, in order.
    pub fn applied_faults(&self) -> Vec<Fault> {
        self.shared.lock().applied_faults.clone()
    }

    /// Makes every current and later [`wait`](Self::wait) fail at once with `reason`, for
    /// example when the function's process has exited and no answer can come.
    pub fn abort(&self, reason: impl Into<String>) {
        let mut state = self.shared.lock();
        if state.aborted.is_none() {
            state.aborted = Some(reason.into());
        }
        drop(state);
        self.shared.changed.notify_all();
    }

    /// A request id never given before, and the counter it was made from.
    fn fresh_request_id(&self) -> (String, u64) {
        let n = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let seed = self.shared.seed;
        let id = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (seed >> 32) as u32,
            (seed >> 16) as u16,
            seed & 0xfff,
            (n >> 48) & 0xfff,
            n & 0xffff_ffff_ffff
        );
        (id, n)
    }
}

impl Drop for RuntimeApiPeer {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.changed.notify_all();
        for stream in self
            .shared
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wakes the acceptor, which then sees the shutdown.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connection_id = 0u64;
    for stream in listener.incoming() {
        if shared.lock().shutdown {
            return;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                shared.problem(format!("accepting a connection failed: {error}"));
                // Out of descriptors, say: do not spin.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        connection_id += 1;
        let id = connection_id;
        if let Ok(clone) = stream.try_clone() {
            shared
                .connections
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, clone);
        }
        let connection_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("runtime-api-conn-{id}"))
            .spawn(move || {
                serve_connection(&connection_shared, stream);
                connection_shared
                    .connections
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
            });
        if let Err(error) = spawned {
            shared.problem(format!("cannot start a connection thread: {error}"));
        }
    }
}

/// Serves the requests of one connection until the client closes it or asks to.
fn serve_connection(shared: &Shared, stream: TcpStream) {
    let writes = shared.options.writes;
    let _ = stream.set_nodelay(writes.no_delay());
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let request = match http::read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(error) => {
                // A reset or a kill mid-request is the client's business; anything else is a
                // protocol problem worth reporting.
                if error.kind() == io::ErrorKind::InvalidData {
                    shared.problem(format!("malformed request: {error}"));
                    let body = error_body("InvalidRequest", &error.to_string());
                    let _ = http::write_response(&mut writer, 400, JSON, &body, false, writes);
                }
                return;
            }
        };
        let keep_alive = request.keep_alive();
        let written = if request.method == "GET" && request.path == next_path() {
            serve_next(shared, &mut writer, keep_alive)
        } else {
            let (status, body) = route_post(shared, &request);
            http::write_response(&mut writer, status, JSON, &body, keep_alive, writes)
                .map(|()| true)
        };
        match written {
            Ok(true) if keep_alive => continue,
            _ => return,
        }
    }
}

const JSON: &[(&str, &str)] = &[("Content-Type", "application/json")];

fn next_path() -> String {
    format!("{API_PREFIX}/invocation/next")
}

fn error_body(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::json!({ "errorType": error_type, "errorMessage": message })
        .to_string()
        .into_bytes()
}

/// Answers a `/next` request once an invocation is queued. `Ok(false)` when the connection is
/// to be closed without an answer (the peer shuts down, or the client went away).
fn serve_next(shared: &Shared, writer: &mut TcpStream, keep_alive: bool) -> io::Result<bool> {
    let writes = shared.options.writes;
    let mut state = shared.lock();
    state.next_requests += 1;
    if state.first_next_at.is_none() {
        state.first_next_at = Some(Instant::now());
    }
    shared.changed.notify_all();
    if let Some(Fault::NextStatus(status)) = state.faults.front() {
        let status = *status;
        let fault = state.faults.pop_front().expect("the fault just seen");
        state.applied_faults.push(fault);
        drop(state);
        let body = error_body(
            "ServiceException",
            &format!("the test peer answers /next with {status}"),
        );
        return http::write_response(writer, status, JSON, &body, keep_alive, writes)
            .map(|()| true);
    }
    state.waiting_next += 1;
    let invocation = loop {
        if state.shutdown {
            state.waiting_next -= 1;
            return Ok(false);
        }
        if let Some(invocation) = state.queue.pop_front() {
            state.waiting_next -= 1;
            break invocation;
        }
        let (guard, waited) = shared
            .changed
            .wait_timeout(state, LIVENESS_POLL)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state = guard;
        if waited.timed_out() {
            drop(state);
            let connected = client_connected(writer);
            state = shared.lock();
            if !connected {
                state.waiting_next -= 1;
                return Ok(false);
            }
        }
    };
    let fault = match state.faults.front() {
        Some(Fault::DropMidBody { .. } | Fault::Trickle { .. }) => state.faults.pop_front(),
        _ => None,
    };
    if let Some(fault) = &fault {
        state.applied_faults.push(fault.clone());
    }
    let handed_out_at = Instant::now();
    state.in_flight.insert(
        invocation.request_id.clone(),
        InFlight {
            deadline_ms: invocation.deadline_ms,
            trace_id: invocation.trace_id.clone(),
            invocation_id: invocation_id_of(&invocation.request_id),
            queued_at: invocation.queued_at,
            handed_out_at,
        },
    );
    state.max_in_flight = state.max_in_flight.max(state.in_flight.len());
    drop(state);
    let deadline = invocation.deadline_ms.to_string();
    let invocation_id = invocation_id_of(&invocation.request_id);
    let headers = [
        ("Content-Type", "application/json"),
        (
            "Lambda-Runtime-Aws-Request-Id",
            invocation.request_id.as_str(),
        ),
        ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
        (
            "Lambda-Runtime-Invoked-Function-Arn",
            shared.options.function_arn.as_str(),
        ),
        ("Lambda-Runtime-Trace-Id", invocation.trace_id.as_str()),
        ("Lambda-Runtime-Invocation-Id", invocation_id.as_str()),
    ];
    let written = match fault {
        None => http::write_response(
            writer,
            200,
            &headers,
            &invocation.payload,
            keep_alive,
            writes,
        ),
        Some(Fault::DropMidBody { after }) => {
            let head = http::response_head(200, &headers, invocation.payload.len(), keep_alive);
            let cut = &invocation.payload[..after.min(invocation.payload.len())];
            let _ = writer
                .write_all(head.as_bytes())
                .and_then(|()| writer.write_all(cut))
                .and_then(|()| writer.flush());
            let _ = writer.shutdown(Shutdown::Both);
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the test peer cut the invocation off",
            ))
        }
        Some(Fault::Trickle { chunk, pause }) => {
            let head = http::response_head(200, &headers, invocation.payload.len(), keep_alive);
            let mut message = head.into_bytes();
            message.extend_from_slice(&invocation.payload);
            message.chunks(chunk.max(1)).try_for_each(|piece| {
                writer.write_all(piece)?;
                writer.flush()?;
                thread::sleep(pause);
                Ok(())
            })
        }
        Some(Fault::NextStatus(_)) => unreachable!("applied before an invocation is taken"),
    };
    match written {
        Ok(()) => Ok(true),
        Err(error) => {
            // Nobody received it: queue it again for the next `/next`.
            let mut state = shared.lock();
            state.in_flight.remove(&invocation.request_id);
            state.queue.push_front(invocation);
            drop(state);
            shared.changed.notify_all();
            Err(error)
        }
    }
}

/// The `Lambda-Runtime-Invocation-Id` an invocation is handed out with.
fn invocation_id_of(request_id: &str) -> String {
    format!("invocation-{request_id}")
}

/// Whether the client of an idle connection is still there: a closed socket reads as end of
/// input at once, an open one would block.
fn client_connected(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let connected = match stream.peek(&mut [0; 1]) {
        Ok(0) => false,
        Ok(_) => true,
        Err(error) => error.kind() == io::ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).is_ok() && connected
}

/// Handles everything but `/next`: the answers and the init error.
fn route_post(shared: &Shared, request: &http::Request) -> (u16, Vec<u8>) {
    let accepted = || (202, br#"{"status":"OK"}"#.to_vec());
    let error_type = request
        .header("lambda-runtime-function-error-type")
        .map(str::to_string);
    let Some(rest) = request.path.strip_prefix(API_PREFIX) else {
        return not_found(shared, request);
    };
    if rest == "/init/error" {
        if request.method != "POST" {
            return not_found(shared, request);
        }
        let mut state = shared.lock();
        state.init_errors.push(InitError {
            error_type,
            body: request.body.clone(),
            at: Instant::now(),
        });
        drop(state);
        shared.changed.notify_all();
        return accepted();
    }
    let Some(answer) = rest.strip_prefix("/invocation/") else {
        return not_found(shared, request);
    };
    let (request_id, kind) = match answer.rsplit_once('/') {
        Some((id, "response")) => (id, OutcomeKind::Response),
        Some((id, "error")) => (id, OutcomeKind::Error),
        _ => return not_found(shared, request),
    };
    if request.method != "POST" || request_id.is_empty() {
        return not_found(shared, request);
    }
    let answered_at = Instant::now();
    let mut state = shared.lock();
    let Some(in_flight) = state.in_flight.remove(request_id) else {
        let problem = if state.answered.contains(request_id) {
            format!(
                "a second answer for invocation {request_id} ({})",
                request.path
            )
        } else {
            format!("an answer for invocation {request_id}, which was not handed out")
        };
        if !state.shutdown {
            state.problems.push(problem.clone());
        }
        return (400, error_body("InvalidRequestID", &problem));
    };
    state.answered.insert(request_id.to_string());
    let echoed = request.header("lambda-runtime-invocation-id");
    if echoed.is_some_and(|id| id != in_flight.invocation_id) {
        state.problems.push(format!(
            "the answer for invocation {request_id} carries Lambda-Runtime-Invocation-Id {:?}, \
             not the {:?} it was handed out with",
            echoed.unwrap_or_default(),
            in_flight.invocation_id
        ));
    }
    let invocation_id_echoed = echoed == Some(in_flight.invocation_id.as_str());
    state.outcomes.insert(
        request_id.to_string(),
        Outcome {
            request_id: request_id.to_string(),
            kind,
            error_type,
            body: request.body.clone(),
            deadline_ms: in_flight.deadline_ms,
            trace_id: in_flight.trace_id,
            invocation_id_echoed,
            queued_at: in_flight.queued_at,
            handed_out_at: in_flight.handed_out_at,
            answered_at,
        },
    );
    drop(state);
    shared.changed.notify_all();
    accepted()
}

fn not_found(shared: &Shared, request: &http::Request) -> (u16, Vec<u8>) {
    let problem = format!(
        "unexpected request {} {}: the Runtime API has no such endpoint",
        request.method, request.path
    );
    shared.problem(problem.clone());
    (404, error_body("NotFound", &problem))
}
