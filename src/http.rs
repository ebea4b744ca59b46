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
pub use crate::event::HttpFormat;
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
    format: HttpFormat,
    request_id: &str,
    evaluate: impl FnOnce(&[u8]) -> Result<Response, FunctionError>,
) -> Result<(HttpReply, Result<Response, FunctionError>), InvalidEvent> {
    let request = read_request(payload, format)?;
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

fn read_request(payload: &[u8], format: HttpFormat) -> Result<HttpRequest, InvalidEvent> {
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
    let bytes = if request.is_base64_encoded {
        Cow::Owned(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|error| InvalidEvent {
                    path: "body".into(),
                    problem: Problem::BadBody(format!(
                        "expected base64 text, found {}",
                        error.to_string().trim_end_matches('.').to_lowercase()
                    )),
                })?,
        )
    } else {
        Cow::Borrowed(body.as_bytes())
    };
    if let Err(error) = std::str::from_utf8(&bytes) {
        return Err(InvalidEvent {
            path: "body".into(),
            problem: Problem::BadBody(format!(
                "expected UTF-8 text once base64-decoded, found an invalid byte at offset {}",
                error.valid_up_to()
            )),
        });
    }
    Ok(bytes)
}
