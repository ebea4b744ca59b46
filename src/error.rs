//! Errors the function returns, and the one place where each maps to a Lambda `errorType`.

use std::fmt;

use lambda_runtime::Diagnostic;
use serde::Serialize;

/// The kind of a JSON value, named in "expected ..., found ..." messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonKind {
    /// The kind of the value whose first byte is `byte`, for a value serde_json has accepted.
    pub fn of_first_byte(byte: u8) -> JsonKind {
        match byte {
            b'n' => JsonKind::Null,
            b't' | b'f' => JsonKind::Bool,
            b'"' => JsonKind::String,
            b'[' => JsonKind::Array,
            b'{' => JsonKind::Object,
            _ => JsonKind::Number,
        }
    }
}

impl fmt::Display for JsonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonKind::Null => "null",
            JsonKind::Bool => "a boolean",
            JsonKind::Number => "a number",
            JsonKind::String => "a string",
            JsonKind::Array => "an array",
            JsonKind::Object => "an object",
        })
    }
}

/// Why an event was rejected, without the path (see [`InvalidEvent`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The bytes are not JSON: `detail` says what was wrong in plain words
    /// ([`crate::json::plain_words`]), `line`/`column` 1-based.
    Malformed {
        detail: String,
        line: usize,
        column: usize,
    },
    /// A value of the wrong kind.
    WrongKind {
        expected: &'static str,
        found: JsonKind,
    },
    /// A required member is absent.
    Missing {
        expected: &'static str,
        member: &'static str,
    },
    /// A member that may appear once appears again.
    Duplicate { member: &'static str },
    /// The event has no list of items under any name the function knows.
    NoItems,
    /// An HTTP request's body cannot be read as text.
    BadBody(String),
    /// An HTTP request envelope that its reader cannot read.
    BadEnvelope(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Malformed {
                detail,
                line,
                column,
            } => write!(f, "malformed JSON: {detail} at line {line} column {column}"),
            Problem::WrongKind { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            Problem::Missing { expected, member } => {
                write!(f, "expected {expected}, found no \"{member}\" member")
            }
            Problem::Duplicate { member } => {
                write!(f, "expected one \"{member}\" member, found a second one")
            }
            Problem::BadBody(detail) => f.write_str(detail),
            Problem::BadEnvelope(detail) => {
                write!(f, "expected a readable HTTP request envelope: {detail}")
            }
            Problem::NoItems => f.write_str(
                "expected an array of items under \"items\" (or \"Items\" for a Step Functions \
                 batch), or a bare array, found an object with neither member",
            ),
        }
    }
}

/// A rejected event: the JSON path of the offending value and what is wrong with it.
///
/// Its message begins with the path (`items[3].frequency: expected a number, found a string`)
/// so that a caller can find the value without reading the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidEvent {
    /// `items[3].frequency`, `Items[0]`, `[2]`, `BatchInput.threshold`, or `$` for the whole event.
    pub path: String,
    pub problem: Problem,
}

impl fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

impl std::error::Error for InvalidEvent {}

/// The `errorType` of a configuration that stops the function at init (see
/// [`crate::config::ConfigError`]), reported to the Runtime API's `/init/error`.
pub const INVALID_CONFIGURATION: &str = "InvalidConfiguration";

/// Every way an invocation can fail.
#[derive(Debug)]
pub enum FunctionError {
    /// The event breaks the contract; the caller must fix it.
    InvalidEvent(InvalidEvent),
    /// The work panicked on the pool; the process survives and serves the next invocation.
    WorkerPanic(String),
    /// An HTTP request with a method other than POST (only ever an HTTP answer, `405`).
    MethodNotAllowed(String),
}

impl FunctionError {
    /// The Lambda `errorType` of each error: the only place these names are written.
    pub fn error_type(&self) -> &'static str {
        match self {
            FunctionError::InvalidEvent(_) => "InvalidEvent",
            FunctionError::WorkerPanic(_) => "WorkerPanic",
            FunctionError::MethodNotAllowed(_) => "MethodNotAllowed",
        }
    }

    /// The HTTP status of each error, when the event came over HTTP.
    pub fn http_status(&self) -> i64 {
        match self {
            FunctionError::InvalidEvent(_) => 400,
            FunctionError::WorkerPanic(_) => 500,
            FunctionError::MethodNotAllowed(_) => 405,
        }
    }

    /// The error object Lambda returns for a failed invocation, also printed by local mode.
    pub fn to_error_object(&self) -> ErrorObject {
        ErrorObject {
            error_type: self.error_type(),
            error_message: self.to_string(),
        }
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FunctionError::InvalidEvent(invalid) => invalid.fmt(f),
            FunctionError::WorkerPanic(message) => {
                write!(f, "the worker processing this event panicked: {message}")
            }
            FunctionError::MethodNotAllowed(method) => write!(
                f,
                "method {method} is not allowed: POST an event (JSON) as the request body"
            ),
        }
    }
}

impl std::error::Error for FunctionError {}

impl From<InvalidEvent> for FunctionError {
    fn from(invalid: InvalidEvent) -> Self {
        FunctionError::InvalidEvent(invalid)
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(error: FunctionError) -> Diagnostic {
        let object = error.to_error_object();
        Diagnostic {
            error_type: object.error_type.into(),
            error_message: object.error_message,
        }
    }
}

/// `{"errorType": ..., "errorMessage": ...}`, as the Lambda service reports a failed invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorObject {
    pub error_type: &'static str,
    pub error_message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_begins_with_the_path() {
        let error = FunctionError::from(InvalidEvent {
            path: "items[3].frequency".into(),
            problem: Problem::WrongKind {
                expected: "a number",
                found: JsonKind::String,
            },
        });
        let object = error.to_error_object();
        assert_eq!(object.error_type, "InvalidEvent");
        assert_eq!(
            object.error_message,
            "items[3].frequency: expected a number, found a string"
        );
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "InvalidEvent");
    }
}
