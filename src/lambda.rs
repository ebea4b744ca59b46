//! Lambda mode: serving invocations through the Runtime API with lambda_runtime.
//!
//! lambda_runtime deserializes every payload before a handler runs, through
//! serde_path_to_error, which halves serde_json's speed and would read the whole event once
//! before the pool reads it again. So the function runs in a tower layer, [`FunctionLayer`],
//! placed where an invocation is still its raw `Bytes`:
//!
//! - it takes the raw payload, sends it to the pool ([`FrequencyFanout::process`]) and awaits
//!   the answer, leaving the runtime's thread free;
//! - a successful answer goes back through lambda_runtime: the layer hands it to the runtime's
//!   handler through a tokio task-local, with the body swapped for `null` so the runtime's serde
//!   pass reads four bytes, and the runtime posts it to `/response`;
//! - a failed invocation is posted to `/error` by the layer itself, because lambda_runtime 1.5
//!   always sends `Lambda-Runtime-Function-Error-Type: unhandled` and logs every handler error at
//!   ERROR level; here the header carries the real `errorType` (`InvalidEvent`), and a rejected
//!   event logs the one WARN line of its summary.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{
    layers::TracingLayer, service_fn, Diagnostic, LambdaEvent, LambdaInvocation, Runtime,
};
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{build_request, BoxError, PooledClient};

use crate::error::FunctionError;
use crate::handler::{FrequencyFanout, Reply};
use crate::observability::{self, Metrics};

/// The header that tells the Runtime API the type of a function error.
pub const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

tokio::task_local! {
    /// The reply of the invocation whose runtime handler is being polled.
    static REPLY: RefCell<Option<Reply>>;
}

/// Serves invocations until the Runtime API goes away. Needs the Lambda environment
/// (`AWS_LAMBDA_RUNTIME_API` and the function's variables), which lambda_runtime requires.
pub async fn serve(
    function: &FrequencyFanout,
    metrics: Option<&Metrics>,
) -> Result<(), lambda_runtime::Error> {
    // The runtime's handler only returns the reply the layer computed.
    let handler = service_fn(|_: LambdaEvent<()>| async {
        let reply = REPLY
            .try_with(|reply| reply.borrow_mut().take())
            .ok()
            .flatten();
        // The layer scopes every call with the reply it computed; without it this is a bug.
        Ok::<Reply, Infallible>(
            reply.expect("FunctionLayer sets the reply before the handler runs"),
        )
    });
    let errors = Arc::new(PooledClient::builder().build());
    Runtime::new(handler)
        .layer(FunctionLayer {
            function,
            metrics,
            errors,
        })
        // Outermost, so that the invocation's span (request id, X-Ray trace id) covers the work.
        .layer(TracingLayer::new())
        .run()
        .await
}

/// Tower layer that runs the function on the raw payload; see the module's documentation.
pub struct FunctionLayer<'a> {
    function: &'a FrequencyFanout,
    metrics: Option<&'a Metrics>,
    /// A Runtime API client of its own, for `/error`.
    errors: Arc<PooledClient>,
}

impl<'a, S> Layer<S> for FunctionLayer<'a> {
    type Service = FunctionService<'a, S>;

    fn layer(&self, inner: S) -> Self::Service {
        FunctionService {
            inner,
            function: self.function,
            metrics: self.metrics,
            errors: self.errors.clone(),
        }
    }
}

/// See [`FunctionLayer`].
pub struct FunctionService<'a, S> {
    inner: S,
    function: &'a FrequencyFanout,
    metrics: Option<&'a Metrics>,
    errors: Arc<PooledClient>,
}

impl<'a, S> Service<LambdaInvocation> for FunctionService<'a, S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError> + Clone + 'a,
    S::Future: 'a,
{
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + 'a>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        // The service that was polled ready handles this call; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (function, metrics, errors) = (self.function, self.metrics, self.errors.clone());
        Box::pin(async move {
            let started = Instant::now();
            let payload = std::mem::replace(&mut invocation.body, Bytes::from_static(b"null"));
            let request_id = invocation.context.request_id.clone();
            let answer = function.process(payload.clone(), &request_id).await;
            observability::record_invocation(
                &answer,
                &payload,
                started.elapsed(),
                function.workers(),
                metrics,
            );
            match answer.into_reply() {
                Ok(reply) => {
                    REPLY
                        .scope(RefCell::new(Some(reply)), inner.call(invocation))
                        .await
                }
                Err(error) => post_error(&errors, &request_id, error).await,
            }
        })
    }
}

/// Posts a failed invocation to `/error`, with its `errorType` in the body and the header.
async fn post_error(
    client: &PooledClient,
    request_id: &str,
    error: FunctionError,
) -> Result<(), BoxError> {
    let error_type = error.error_type();
    let body = serde_json::to_vec(&Diagnostic::from(error))?;
    let request = build_request()
        .method("POST")
        .uri(format!("/2018-06-01/runtime/invocation/{request_id}/error"))
        .header(ERROR_TYPE_HEADER, error_type)
        .header("content-type", "application/json")
        .body(Body::from(body))?;
    let response = client.call(request).await?;
    if response.status().is_success() {
        Ok(())
    } else {
        let status = response.status();
        tracing::error!(%status, "the Runtime API refused the error report");
        Err(format!("the Runtime API answered {status} to the error report").into())
    }
}

/// Reports an init failure to the Runtime API's `/init/error`, as the Runtime API asks of a
/// function that cannot start; Lambda then shows `error_type` and `message` to the caller.
/// Best effort: the process exits non-zero either way.
pub fn report_init_error(error_type: &str, message: &str) {
    let report = async {
        let client = PooledClient::builder().build();
        let body = serde_json::to_vec(&Diagnostic {
            error_type: error_type.into(),
            error_message: message.into(),
        })?;
        let request = build_request()
            .method("POST")
            .uri("/2018-06-01/runtime/init/error")
            .header(ERROR_TYPE_HEADER, error_type)
            .header("content-type", "application/json")
            .body(Body::from(body))?;
        client.call(request).await.map(|_| ())
    };
    let outcome: Result<(), BoxError> = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BoxError::from)
        .and_then(|runtime| runtime.block_on(report));
    if let Err(error) = outcome {
        tracing::warn!("could not report the init error to the Runtime API: {error}");
    }
}
