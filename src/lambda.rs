//! Lambda mode: serving invocations through the Runtime API with lambda_runtime.
//!
//! lambda_runtime deserializes every payload before the handler runs, through
//! serde_path_to_error, which halves serde_json's speed and would read the whole event once
//! before the pool reads it again. [`RawPayloadLayer`] sits outermost in the runtime's tower
//! stack, where an invocation is still its raw `Bytes`: it swaps the body for `null` (the
//! handler takes `LambdaEvent<()>`, so the runtime's serde pass reads four bytes) and hands
//! the raw bytes to the handler's future through a tokio task-local. The handler then sends
//! them to the pool, which parses them once, in parallel.

use std::future::Future;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{layers::TracingLayer, service_fn, LambdaEvent, LambdaInvocation, Runtime};
use tokio::task::futures::TaskLocalFuture;

use crate::error::FunctionError;
use crate::handler::{FrequencyFanout, Reply};
use crate::observability::{self, Metrics};

tokio::task_local! {
    /// The raw payload of the invocation whose handler future is being polled.
    static RAW_PAYLOAD: Bytes;
}

/// Serves invocations until the Runtime API goes away. Needs the Lambda environment
/// (`AWS_LAMBDA_RUNTIME_API` and the function's variables), which lambda_runtime requires.
pub async fn serve(
    function: &FrequencyFanout,
    metrics: Option<&Metrics>,
) -> Result<(), lambda_runtime::Error> {
    let handler = service_fn(move |event: LambdaEvent<()>| handle(function, metrics, event));
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(RawPayloadLayer)
        .run()
        .await
}

/// The handler: takes the raw payload the layer set aside, processes it on the pool, logs one
/// line, and returns the response or the typed error that becomes the Lambda `errorType`.
async fn handle(
    function: &FrequencyFanout,
    metrics: Option<&Metrics>,
    event: LambdaEvent<()>,
) -> Result<Reply, FunctionError> {
    let started = Instant::now();
    // The layer scopes every handler future it calls; without it this would be a wiring bug.
    let payload = RAW_PAYLOAD
        .try_with(Bytes::clone)
        .expect("RawPayloadLayer is installed outermost in serve()");
    let answer = function
        .process(payload.clone(), &event.context.request_id)
        .await;
    observability::record_invocation(&answer, &payload, started.elapsed(), metrics);
    answer.into_reply()
}

/// Tower layer that keeps the raw payload away from lambda_runtime's deserializer.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawPayloadLayer;

impl<S> Layer<S> for RawPayloadLayer {
    type Service = RawPayloadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RawPayloadService { inner }
    }
}

/// See [`RawPayloadLayer`].
#[derive(Clone, Debug)]
pub struct RawPayloadService<S> {
    inner: S,
}

impl<S> Service<LambdaInvocation> for RawPayloadService<S>
where
    S: Service<LambdaInvocation, Response = ()>,
    S::Future: Future<Output = Result<(), S::Error>>,
{
    type Response = ();
    type Error = S::Error;
    type Future = TaskLocalFuture<Bytes, S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        let payload = std::mem::replace(&mut invocation.body, Bytes::from_static(b"null"));
        // The inner services only build the handler's future here; its body, which reads the
        // task-local, runs when the future is polled inside the scope below.
        let future = self.inner.call(invocation);
        RAW_PAYLOAD.scope(payload, future)
    }
}
