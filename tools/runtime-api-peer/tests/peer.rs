//! The peer against a small hand-written Runtime API client over std::net.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use runtime_api_peer::{
    Fault, InvokeError, Options, OutcomeKind, RuntimeApiPeer, Writes, API_PREFIX,
};

/// One keep-alive connection to the peer, as a function's runtime would hold.
struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    fn connect(peer: &RuntimeApiPeer) -> Client {
        let writer = TcpStream::connect(peer.address()).expect("the peer accepts connections");
        writer
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Client { writer, reader }
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: peer\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        self.writer.write_all(head.as_bytes()).unwrap();
        self.writer.write_all(body).unwrap();
    }

    /// Reads one response; `None` if the peer closed the connection instead.
    fn receive(&mut self) -> Option<Response> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let status = line.split(' ').nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).ok()?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':')?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let length: usize = response.header("content-length")?.parse().ok()?;
        response.body = vec![0; length];
        self.reader.read_exact(&mut response.body).ok()?;
        Some(response)
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.send(method, path, headers, body);
        self.receive().expect("the peer answers")
    }

    fn next(&mut self) -> Response {
        self.request("GET", &format!("{API_PREFIX}/invocation/next"), &[], b"")
    }
}

fn request_id(next: &Response) -> String {
    next.header("Lambda-Runtime-Aws-Request-Id")
        .expect("a request id header")
        .to_string()
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn quick_peer() -> RuntimeApiPeer {
    RuntimeApiPeer::start_with(Options {
        invoke_timeout: Duration::from_secs(20),
        ..Options::default()
    })
    .unwrap()
}

#[test]
fn invocations_round_trip_over_one_kept_alive_connection() {
    let peer = quick_peer();
    assert!(peer.address().starts_with("127.0.0.1:"));
    assert_eq!(peer.first_next_at(), None);
    let echo = thread::scope(|scope| {
        let function = scope.spawn(|| {
            let mut client = Client::connect(&peer);
            let mut seen = Vec::new();
            for _ in 0..3 {
                let next = client.next();
                assert_eq!(next.status, 200);
                let id = request_id(&next);
                let answer = client.request(
                    "POST",
                    &format!("{API_PREFIX}/invocation/{id}/response"),
                    &[("Content-Type", "application/json")],
                    &next.body,
                );
                assert_eq!(answer.status, 202);
                seen.push(next);
            }
            seen
        });
        let before = epoch_ms();
        let outcomes: Vec<_> = (0..3)
            .map(|i| peer.invoke(format!("{{\"n\": {i}}}")).unwrap())
            .collect();
        (before, outcomes, function.join().unwrap())
    });
    let (before, outcomes, seen) = echo;
    let mut ids = std::collections::HashSet::new();
    for (i, (outcome, next)) in outcomes.iter().zip(&seen).enumerate() {
        assert_eq!(outcome.kind, OutcomeKind::Response);
        assert!(outcome.is_response() && !outcome.is_error());
        assert_eq!(outcome.body, format!("{{\"n\": {i}}}").as_bytes());
        assert_eq!(outcome.json().unwrap()["n"], i);
        assert_eq!(outcome.request_id, request_id(next));
        assert!(
            ids.insert(outcome.request_id.clone()),
            "request ids are fresh"
        );
        assert_eq!(next.header("content-type"), Some("application/json"));
        assert_eq!(
            next.header("Lambda-Runtime-Invoked-Function-Arn"),
            Some(runtime_api_peer::DEFAULT_FUNCTION_ARN)
        );
        assert!(next
            .header("Lambda-Runtime-Trace-Id")
            .is_some_and(|t| t.starts_with("Root=1-")));
        let deadline: u64 = next
            .header("Lambda-Runtime-Deadline-Ms")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(deadline, outcome.deadline_ms);
        assert!(deadline >= before + 899_000 && deadline <= epoch_ms() + 900_000);
        assert!(outcome.queued_at <= outcome.handed_out_at);
        assert!(outcome.handed_out_at <= outcome.answered_at);
        assert!(outcome.function_time() <= outcome.round_trip());
    }
    let first = peer.first_next_at().expect("a /next arrived");
    assert!(first >= peer.started_at() && first <= outcomes[0].handed_out_at);
    assert_eq!(peer.next_requests(), 3);
    assert!(peer.problems().is_empty(), "{:?}", peer.problems());
    assert!(peer.init_errors().is_empty());
}

#[test]
fn an_error_answer_keeps_its_type_header_and_body() {
    let peer = quick_peer();
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut client = Client::connect(&peer);
            let id = request_id(&client.next());
            let answer = client.request(
                "POST",
                &format!("{API_PREFIX}/invocation/{id}/error"),
                &[("Lambda-Runtime-Function-Error-Type", "InvalidEvent")],
                br#"{"errorType":"InvalidEvent","errorMessage":"$: no"}"#,
            );
            assert_eq!(answer.status, 202);
        });
        let outcome = peer.invoke(b"{}".to_vec()).unwrap();
        assert!(outcome.is_error());
        assert_eq!(outcome.error_type.as_deref(), Some("InvalidEvent"));
        assert_eq!(outcome.json().unwrap()["errorMessage"], "$: no");
    });
}

#[test]
fn the_deadline_is_sent_as_given() {
    let peer = quick_peer();
    thread::scope(|scope| {
        let function = scope.spawn(|| {
            let mut client = Client::connect(&peer);
            let next = client.next();
            let id = request_id(&next);
            client.request(
                "POST",
                &format!("{API_PREFIX}/invocation/{id}/response"),
                &[],
                b"null",
            );
            next.header("Lambda-Runtime-Deadline-Ms")
                .unwrap()
                .to_string()
        });
        let outcome = peer.invoke_with_deadline(b"1".to_vec(), 600_000).unwrap();
        assert_eq!(outcome.deadline_ms, 600_000);
        assert_eq!(function.join().unwrap(), "600000");
    });
}

#[test]
fn chunked_answers_are_read() {
    let peer = quick_peer();
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut client = Client::connect(&peer);
            let id = request_id(&client.next());
            let answer = client.request(
                "POST",
                &format!("{API_PREFIX}/invocation/{id}/response"),
                &[("Transfer-Encoding", "chunked")],
                b"3\r\n{\"a\r\n5\r\n\": 1}\r\n0\r\n\r\n",
            );
            assert_eq!(answer.status, 202);
        });
        let outcome = peer.invoke(b"{}".to_vec()).unwrap();
        assert_eq!(outcome.body, br#"{"a": 1}"#);
    });
}

#[test]
fn an_init_error_ends_the_wait_at_once() {
    let peer = quick_peer();
    let started = Instant::now();
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut client = Client::connect(&peer);
            let answer = client.request(
                "POST",
                &format!("{API_PREFIX}/init/error"),
                &[("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")],
                br#"{"errorType":"Config","errorMessage":"bad"}"#,
            );
            assert_eq!(answer.status, 202);
        });
        match peer.invoke(b"{}".to_vec()) {
            Err(InvokeError::Init(init)) => {
                assert_eq!(init.error_type.as_deref(), Some("Runtime.InitError"));
                assert!(init.to_string().contains("bad"), "{init}");
            }
            other => panic!("expected the init error, got {other:?}"),
        }
    });
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(peer.init_errors().len(), 1);
}

#[test]
fn no_answer_times_out_with_an_error_that_says_where_it_stopped() {
    let peer = RuntimeApiPeer::start_with(Options {
        invoke_timeout: Duration::from_millis(200),
        ..Options::default()
    })
    .unwrap();
    match peer.invoke(b"{}".to_vec()) {
        Err(
            error @ InvokeError::TimedOut {
                handed_out: false, ..
            },
        ) => assert!(error.to_string().contains("never asked /next"), "{error}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The withdrawn invocation is not handed out later; a fresh one is.
    let mut client = Client::connect(&peer);
    let id = peer.enqueue(b"2".to_vec(), None);
    let next = client.next();
    assert_eq!(request_id(&next), id);
    assert_eq!(next.body, b"2");
    match peer.wait(&id, Duration::from_millis(100)) {
        Err(InvokeError::TimedOut {
            handed_out: true, ..
        }) => {}
        other => panic!("expected a timeout after hand-out, got {other:?}"),
    }
    assert!(matches!(
        peer.wait("no-such-id", Duration::from_millis(10)),
        Err(InvokeError::UnknownRequest(_))
    ));
}

#[test]
fn abort_wakes_every_wait() {
    let peer = quick_peer();
    let started = Instant::now();
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(Duration::from_millis(100));
            peer.abort("the function exited");
        });
        match peer.invoke(b"{}".to_vec()) {
            Err(InvokeError::Aborted(reason)) => assert_eq!(reason, "the function exited"),
            other => panic!("expected an abort, got {other:?}"),
        }
    });
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(
        peer.wait_for_first_next(Duration::from_secs(5)),
        Err(InvokeError::Aborted(_))
    ));
}

#[test]
fn wrong_requests_are_refused_and_recorded() {
    let peer = quick_peer();
    let mut client = Client::connect(&peer);
    let unknown = client.request(
        "POST",
        &format!("{API_PREFIX}/invocation/nobody/response"),
        &[],
        b"{}",
    );
    assert_eq!(unknown.status, 400);
    let missing = client.request("GET", "/2018-06-01/runtime/nothing", &[], b"");
    assert_eq!(missing.status, 404);
    // The connection survives both.
    let id = peer.enqueue(b"{}".to_vec(), None);
    assert_eq!(request_id(&client.next()), id);
    let path = format!("{API_PREFIX}/invocation/{id}/response");
    assert_eq!(client.request("POST", &path, &[], b"1").status, 202);
    assert_eq!(client.request("POST", &path, &[], b"2").status, 400);
    let outcome = peer.wait(&id, Duration::from_secs(5)).unwrap();
    assert_eq!(outcome.body, b"1");
    let problems = peer.problems();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("nobody"));
    assert!(problems[1].contains("/2018-06-01/runtime/nothing"));
    assert!(problems[2].contains("second answer"));
}

#[test]
fn a_client_that_left_does_not_swallow_an_invocation() {
    let peer = quick_peer();
    {
        let mut gone = Client::connect(&peer);
        gone.send("GET", &format!("{API_PREFIX}/invocation/next"), &[], b"");
        peer.wait_for_first_next(Duration::from_secs(5)).unwrap();
    }
    // Give the peer time to notice the closed connection.
    thread::sleep(Duration::from_millis(300));
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut client = Client::connect(&peer);
            let id = request_id(&client.next());
            client.request(
                "POST",
                &format!("{API_PREFIX}/invocation/{id}/response"),
                &[],
                b"\"second\"",
            );
        });
        let outcome = peer.invoke(b"{}".to_vec()).unwrap();
        assert_eq!(outcome.body, b"\"second\"");
    });
}

#[test]
fn dropping_the_peer_closes_a_waiting_next() {
    let peer = quick_peer();
    let mut client = Client::connect(&peer);
    client.send("GET", &format!("{API_PREFIX}/invocation/next"), &[], b"");
    peer.wait_for_first_next(Duration::from_secs(5)).unwrap();
    let started = Instant::now();
    drop(peer);
    assert!(client.receive().is_none());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn lambda_env_names_what_lambda_runtime_needs() {
    let peer = quick_peer();
    let env = peer.lambda_env();
    let get = |name: &str| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(get("AWS_LAMBDA_RUNTIME_API"), peer.address());
    assert_eq!(get("AWS_LAMBDA_FUNCTION_NAME"), "function-under-test");
    assert_eq!(get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "128");
    assert_eq!(get("AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
}

#[test]
fn an_injected_status_answers_one_next_and_hands_out_nothing() {
    let peer = quick_peer();
    peer.inject(Fault::NextStatus(500));
    let mut client = Client::connect(&peer);
    let refused = client.next();
    assert_eq!(refused.status, 500);
    assert!(refused.header("Lambda-Runtime-Aws-Request-Id").is_none());
    assert_eq!(peer.applied_faults(), vec![Fault::NextStatus(500)]);
    // The next /next is served as usual.
    thread::scope(|scope| {
        scope.spawn(|| {
            let id = request_id(&client.next());
            client.request(
                "POST",
                &format!("{API_PREFIX}/invocation/{id}/response"),
                &[],
                b"1",
            );
        });
        assert_eq!(peer.invoke(b"{}".to_vec()).unwrap().body, b"1");
    });
    assert!(peer.problems().is_empty(), "{:?}", peer.problems());
}

#[test]
fn a_body_cut_off_mid_way_closes_the_connection_and_the_invocation_is_handed_out_again() {
    let peer = quick_peer();
    peer.inject(Fault::DropMidBody { after: 10 });
    let payload = vec![b'7'; 5000];
    let id = peer.enqueue(payload.clone(), None);
    let mut cut = Client::connect(&peer);
    cut.send("GET", &format!("{API_PREFIX}/invocation/next"), &[], b"");
    assert!(cut.receive().is_none(), "the body was cut off");
    let mut client = Client::connect(&peer);
    let whole = client.next();
    assert_eq!(request_id(&whole), id);
    assert_eq!(whole.body, payload);
    client.request(
        "POST",
        &format!("{API_PREFIX}/invocation/{id}/response"),
        &[],
        b"2",
    );
    assert_eq!(peer.wait(&id, Duration::from_secs(5)).unwrap().body, b"2");
    assert_eq!(
        peer.applied_faults(),
        vec![Fault::DropMidBody { after: 10 }]
    );
}

#[test]
fn a_trickled_invocation_arrives_whole_and_slowly() {
    let peer = quick_peer();
    let pause = Duration::from_millis(5);
    peer.inject(Fault::Trickle { chunk: 50, pause });
    let payload: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let id = peer.enqueue(payload.clone(), None);
    let mut client = Client::connect(&peer);
    let started = Instant::now();
    let next = client.next();
    assert!(started.elapsed() >= pause * 20, "{:?}", started.elapsed());
    assert_eq!((request_id(&next), next.body), (id, payload));
}

#[test]
fn a_fixed_trace_id_is_sent_until_it_is_cleared() {
    let peer = quick_peer();
    let fixed = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    peer.set_fixed_trace_id(Some(fixed));
    peer.enqueue(b"1".to_vec(), None);
    peer.enqueue(b"2".to_vec(), None);
    peer.set_fixed_trace_id(None);
    peer.enqueue(b"3".to_vec(), None);
    let mut client = Client::connect(&peer);
    let traces: Vec<String> = (0..3)
        .map(|_| {
            client
                .next()
                .header("Lambda-Runtime-Trace-Id")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(&traces[..2], &[fixed, fixed]);
    assert!(
        traces[2].starts_with("Root=1-") && traces[2] != fixed,
        "{}",
        traces[2]
    );
}

#[test]
fn every_invocation_gets_a_trace_id_of_its_own() {
    // Queued within the same millisecond, as a soak queues them: still all distinct, in the
    // X-Ray format (`Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=0`).
    let peer = quick_peer();
    for n in 0..500 {
        peer.enqueue(n.to_string().into_bytes(), None);
    }
    let mut client = Client::connect(&peer);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..500 {
        let next = client.next();
        let trace = next.header("Lambda-Runtime-Trace-Id").unwrap().to_string();
        let root = trace
            .strip_prefix("Root=1-")
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("{trace}"));
        let (time, id) = root.split_once('-').unwrap_or_else(|| panic!("{trace}"));
        assert!(
            time.len() == 8
                && id.len() == 24
                && (time.to_owned() + id)
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit()),
            "{trace}"
        );
        assert!(seen.insert(trace.clone()), "trace id {trace} given twice");
        let id = request_id(&next);
        client.request(
            "POST",
            &format!("{API_PREFIX}/invocation/{id}/response"),
            &[],
            b"{}",
        );
    }
}

#[test]
fn both_ways_of_writing_deliver_the_same_bytes() {
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    for writes in [Writes::OneWriteNoDelay, Writes::TwoWritesNagle] {
        let peer = RuntimeApiPeer::start_with(Options {
            writes,
            ..Options::default()
        })
        .unwrap();
        let id = peer.enqueue(payload.clone(), None);
        let mut client = Client::connect(&peer);
        let next = client.next();
        assert_eq!(request_id(&next), id, "{writes:?}");
        assert_eq!(next.header("Content-Length"), Some("3000000"), "{writes:?}");
        assert!(
            next.body == payload,
            "{writes:?}: the payload arrived changed"
        );
    }
}

#[test]
fn invocations_in_flight_are_counted_and_their_most_kept() {
    let peer = quick_peer();
    let ids: Vec<String> = (0..3).map(|n| peer.enqueue(vec![b'0' + n], None)).collect();
    assert_eq!((peer.in_flight(), peer.max_in_flight()), (0, 0));
    // Three connections, as three concurrent loops of a function hold: each takes one.
    let mut clients: Vec<Client> = (0..3).map(|_| Client::connect(&peer)).collect();
    let taken: Vec<String> = clients.iter_mut().map(|c| request_id(&c.next())).collect();
    assert_eq!(taken, ids);
    assert_eq!((peer.in_flight(), peer.max_in_flight()), (3, 3));
    for (client, id) in clients.iter_mut().zip(&ids) {
        let answer = client.request(
            "POST",
            &format!("{API_PREFIX}/invocation/{id}/response"),
            &[],
            b"{}",
        );
        assert_eq!(answer.status, 202);
    }
    assert_eq!((peer.in_flight(), peer.max_in_flight()), (0, 3));
    peer.reset_max_in_flight();
    assert_eq!(peer.max_in_flight(), 0);
    // A /next with nothing queued waits, and is counted as waiting.
    let waiting = thread::spawn({
        let address = peer.address();
        move || {
            let mut stream = TcpStream::connect(address).unwrap();
            stream
                .write_all(
                    format!("GET {API_PREFIX}/invocation/next HTTP/1.1\r\nHost: p\r\n\r\n")
                        .as_bytes(),
                )
                .unwrap();
            thread::sleep(Duration::from_millis(300));
        }
    });
    let started = Instant::now();
    while peer.waiting_next_requests() == 0 && started.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(peer.waiting_next_requests(), 1);
    waiting.join().unwrap();
}
