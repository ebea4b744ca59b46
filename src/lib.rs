//! frequency-fanout: an AWS Lambda function that counts the items of its event whose
//! `frequency` is above a threshold, parsing the event in parallel on a rayon pool.
//!
//! The data's way through the modules:
//!
//! | step | module |
//! | --- | --- |
//! | bytes in: Lambda Runtime API, raw payload kept from lambda_runtime's serde pass | [`lambda`] |
//! | bytes in: a file or standard input | [`local`] |
//! | an HTTP request (Function URL, API Gateway) unwrapped, answered with HTTP semantics | [`http`] |
//! | event recognised: form, options, where the items are | [`event`] (over the cursor in [`json`]) |
//! | items split at guessed boundaries, parts parsed on the pool, verified, reassembled | [`fanout`] |
//! | one item checked: its `frequency` literal | [`item`] |
//! | frequency compared to the threshold, exactly | [`number`] |
//! | answer out: count, indices, response | [`handler`] |
//!
//! Configuration is read once at init by [`config`]; errors and their Lambda `errorType`
//! live in [`error`]; logs and metrics in [`observability`]; how memory is kept from one
//! invocation to the next in [`memory`]; the worker pool, each worker on a CPU of its own, in
//! [`pool`].

pub mod config;
pub mod error;
pub mod event;
pub mod fanout;
pub mod handler;
pub mod http;
pub mod item;
pub mod json;
pub mod lambda;
pub mod local;
pub mod memory;
pub mod number;
pub mod observability;
pub mod pool;
pub mod response;
pub mod runtime_api;
pub mod sample;
pub mod scan;

pub use config::Config;
pub use error::{ErrorObject, FunctionError, InvalidEvent};
pub use handler::{answer, evaluate, Answer, FrequencyFanout, Reply};
pub use response::{Phases, Response};
