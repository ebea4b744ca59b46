//! The HTTP front door: the same function behind a Lambda Function URL or API Gateway.
//!
//! [`crate::event::recognise_request`] decides, in one place, whether a payload is an HTTP
//! request envelope ([`HttpFormat::V2`]: Function URLs and HTTP APIs; [`HttpFormat::V1`]: REST
//! API proxy integrations). Here the envelope is read with `aws_lambda_events` types, its body
//! (base64-decoded when flagged) goes through the direct-invocation contract, and the answer is
//! an HTTP response: `200` with the same JSON as a direct invocation, `400` with the error object
//! for a rejected body, `405` with `allow: POST` for any method but POST. An HTTP caller always
//! gets an HTTP answer, never a failed invocation; the request id is echoed in `x-request-id`.

use std::borrow::Cow;

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::header::{ALLOW, CONTENT_TYPE};
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue, Method};
use base64::Engine;
use serde::Serialize;

use crate::error::{FunctionError, InvalidEvent, Problem};
pub use crate::event::{DecodedBody, Envelope, HttpFormat};
use crate::response::Response;

/// The response header that carries the Lambda request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// An HTTP response in the envelope's own format.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum HttpReply {
    V2(ApiGatewayV2httpResponse),
    V1(ApiGatewayProxyResponse),
}

impl HttpReply {
    /// The length of the body's text.
    pub fn body_len(&self) -> usize {
        let body = match self {
            HttpReply::V2(response) => &response.body,
            HttpReply::V1(response) => &response.body,
        };
        match body {
            Some(Body::Text(text)) => text.len(),
            Some(Body::Binary(bytes)) => bytes.len() * 4 / 3 + 4,
            Some(Body::Empty) | None => 0,
            // Body is non-exhaustive; any other form is small in these replies.
            Some(_) => 0,
        }
    }

    pub fn status(&self) -> i64 {
        match self {
            HttpReply::V2(response) => response.status_code,
            HttpReply::V1(response) => response.status_code,
        }
    }
}

/// What the envelope asks for.
struct HttpRequest {
    method: Method,
    body: Option<String>,
    is_base64_encoded: bool,
}

/// Answers an HTTP request envelope. `evaluate` runs the direct-invocation contract on the
/// body. Returns the reply and the body's own outcome (for the logs). `Err` only when the
/// envelope itself cannot be read, which no HTTP front end sends.
pub fn respond(
    payload: &[u8],
    envelope: Envelope,
    request_id: &str,
    evaluate: impl FnOnce(&[u8]) -> Result<Response, FunctionError>,
) -> Result<(HttpReply, Result<Response, FunctionError>), InvalidEvent> {
    let format = envelope.format;
    let request = read_request(payload, envelope)?;
    let outcome = if request.method != Method::POST {
        Err(FunctionError::MethodNotAllowed(request.method.to_string()))
    } else {
        match decode_body(&request) {
            Ok(body) => evaluate(&body),
            Err(error) => Err(FunctionError::InvalidEvent(error)),
        }
    };
    let (status, body) = match &outcome {
        Ok(response) => (200, serde_json::to_string(response)),
        Err(error) => (
            error.http_status(),
            serde_json::to_string(&error.to_error_object()),
        ),
    };
    // Serializing these plain structs cannot fail: no maps with non-string keys, no I/O.
    let body = body.expect("responses serialize");
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    if matches!(outcome, Err(FunctionError::MethodNotAllowed(_))) {
        headers.insert(ALLOW, HeaderValue::from_static("POST"));
    }
    let reply = match format {
        HttpFormat::V2 => {
            let mut response = ApiGatewayV2httpResponse::default();
            response.status_code = status;
            response.headers = headers;
            response.body = Some(Body::Text(body));
            HttpReply::V2(response)
        }
        HttpFormat::V1 => {
            let mut response = ApiGatewayProxyResponse::default();
            response.status_code = status;
            response.headers = headers;
            response.body = Some(Body::Text(body));
            HttpReply::V1(response)
        }
    };
    Ok((reply, outcome))
}

/// The request the envelope holds. When the walk that recognised it decoded its body, the
/// envelope is read without the body ([`read_request_around_body`]); otherwise, and for every
/// error, as a whole through serde_json.
fn read_request(payload: &[u8], envelope: Envelope) -> Result<HttpRequest, InvalidEvent> {
    let format = envelope.format;
    envelope
        .body
        .and_then(|body| read_request_around_body(payload, format, body))
        .map_or_else(|| read_whole_request(payload, format), Ok)
}

/// The request with the body the walk decoded: the envelope is read through serde_json with
/// its body replaced by `null`, and the decoded text put in its place. The envelope's types
/// (`aws_lambda_events`, which buffer every member before they read it) take a string a byte at
/// a time: a 6 MB JSON body, an escape every few bytes, took 20 ms that way. The result is what
/// [`read_whole_request`] returns for the same payload: the body was decoded as serde_json
/// decodes it. `None` when the rest of the envelope does not read, for [`read_whole_request`]
/// to word the error.
fn read_request_around_body(
    payload: &[u8],
    format: HttpFormat,
    body: DecodedBody,
) -> Option<HttpRequest> {
    let DecodedBody { span, text } = body;
    let mut rest = Vec::with_capacity(payload.len() - span.len() + 4);
    rest.extend_from_slice(&payload[..span.start]);
    rest.extend_from_slice(b"null");
    rest.extend_from_slice(&payload[span.end..]);
    let mut request = read_whole_request(&rest, format).ok()?;
    request.body = Some(text);
    Some(request)
}

fn read_whole_request(payload: &[u8], format: HttpFormat) -> Result<HttpRequest, InvalidEvent> {
    let unreadable = |error: serde_json::Error| InvalidEvent {
        path: "$".into(),
        problem: Problem::BadEnvelope(error.to_string()),
    };
    Ok(match format {
        HttpFormat::V2 => {
            let request: ApiGatewayV2httpRequest =
                serde_json::from_slice(payload).map_err(unreadable)?;
            HttpRequest {
                method: request.request_context.http.method,
                body: request.body,
                is_base64_encoded: request.is_base64_encoded,
            }
        }
        HttpFormat::V1 => {
            let request: ApiGatewayProxyRequest =
                serde_json::from_slice(payload).map_err(unreadable)?;
            HttpRequest {
                method: request.http_method,
                body: request.body,
                is_base64_encoded: request.is_base64_encoded,
            }
        }
    })
}

/// The body's bytes: base64-decoded when the envelope says so, and checked to be UTF-8.
fn decode_body(request: &HttpRequest) -> Result<Cow<'_, [u8]>, InvalidEvent> {
    let Some(body) = request.body.as_deref() else {
        return Err(InvalidEvent {
            path: "body".into(),
            problem: Problem::BadBody(
                "expected an event as the request body, found no body".into(),
            ),
        });
    };
    if !request.is_base64_encoded {
        // The envelope's string: UTF-8 already.
        return Ok(Cow::Borrowed(body.as_bytes()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|error| InvalidEvent {
            path: "body".into(),
            problem: Problem::BadBody(format!(
                "expected base64 text, found {}",
                error.to_string().trim_end_matches('.').to_lowercase()
            )),
        })?;
    if let Err(error) = std::str::from_utf8(&bytes) {
        return Err(InvalidEvent {
            path: "body".into(),
            problem: Problem::BadBody(format!(
                "expected UTF-8 text once base64-decoded, found an invalid byte at offset {}",
                error.valid_up_to()
            )),
        });
    }
    Ok(Cow::Owned(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{self, Recognised};
    use crate::fanout::ItemsPlan;

    /// What a test compares of a request: its method, its body, and whether that is base64.
    type Fields = (Method, Option<String>, bool);

    /// The request as the handler reads it (the body decoded by the walk where it can be), or
    /// the error, beside the same payload read as a whole by serde_json.
    fn both_ways(payload: &str) -> [Result<Fields, InvalidEvent>; 2] {
        let Ok(Recognised::Http(envelope)) =
            event::recognise_request(payload.as_bytes(), ItemsPlan::workers(1))
        else {
            panic!("not an envelope: {payload}");
        };
        let format = envelope.format;
        let fields =
            |request: HttpRequest| (request.method, request.body, request.is_base64_encoded);
        [
            read_request(payload.as_bytes(), envelope).map(fields),
            read_whole_request(payload.as_bytes(), format).map(fields),
        ]
    }

    #[test]
    fn a_body_decoded_apart_reads_as_the_whole_envelope_does() {
        let v2 = std::fs::read_to_string("events/http/function_url_valid.json").expect("event");
        let v1 = std::fs::read_to_string("events/http/rest_api_valid.json").expect("event");
        let bodies = [
            r#""{\"items\": [{\"id\": 1, \"frequency\": 12}], \"threshold\": 10}""#,
            r#""tab\tnew line\nslash\/ back\\ quote\" \b\f\r é \u00e9 \u4E2D""#,
            // A surrogate pair, and a lone surrogate: left to serde_json.
            r#""\ud834\udd1e""#,
            r#""\ud834""#,
            r#""""#,
            "null",
            "5",
            r#"{"nested": "object"}"#,
        ];
        for envelope in [&v2, &v1] {
            let body_at = envelope.find("\"body\": ").expect("a body member") + 8;
            let body_end = body_at + envelope[body_at..].find(",\n").expect("more members");
            for body in bodies {
                let payload = format!("{}{body}{}", &envelope[..body_at], &envelope[body_end..]);
                let [handled, whole] = both_ways(&payload);
                assert_eq!(handled, whole, "{body}");
            }
            // A repeated body, and an error after the body (its position counts in the
            // message): read as a whole.
            let repeated = envelope.replacen("\"body\": ", "\"body\": \"first\", \"body\": ", 1);
            let [handled, whole] = both_ways(&repeated);
            assert_eq!(handled, whole);
            let late_error =
                envelope.replacen("\"isBase64Encoded\": false", "\"isBase64Encoded\": 7", 1);
            assert_ne!(&late_error, envelope);
            let [handled, whole] = both_ways(&late_error);
            assert!(handled.is_err());
            assert_eq!(handled, whole);
        }
    }
}
