//! The environment every harness beside this file clears before it starts the function, so
//! that a test sees only the settings it gives. Included by those harnesses with `#[path]`.

/// Variables of the developer's shell that would change what the function does (or, for
/// `AWS_LAMBDA_RUNTIME_API`, which mode it runs in).
pub const INHERITED_SETTINGS: &[&str] = &[
    "AWS_LAMBDA_RUNTIME_API",
    "MAX_WORKERS",
    "FREQUENCY_THRESHOLD",
    "AWS_LAMBDA_LOG_FORMAT",
    "AWS_LAMBDA_LOG_LEVEL",
    "RUST_LOG",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_MAX_CONCURRENCY",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "METRICS_NAMESPACE",
    "METRICS_DISABLED",
    "_X_AMZN_TRACE_ID",
];
