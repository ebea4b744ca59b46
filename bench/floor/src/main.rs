//! The transport floor of the whole-process benchmark (`bench/run`): what a Lambda function
//! built on lambda_runtime costs when it does nothing with its event. A tower layer takes the
//! raw payload before lambda_runtime's serde pass, as frequency-fanout's does, swaps it for
//! `null`, and the handler answers `{"payload_bytes": N}` without reading the payload.
//!
//! Whatever frequency-fanout spends beyond this floor is its own work: recognising, parsing
//! and checking the event, and answering. It runs with the same memory setting
//! (`frequency_fanout::memory`).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{service_fn, Error, LambdaEvent, LambdaInvocation, Runtime};

/// lambda_runtime's boxed error, which its services return.
type BoxError = Error;
use serde::Serialize;

tokio::task_local! {
    /// The length of the payload the layer took, for the handler it calls.
    static PAYLOAD_BYTES: Cell<usize>;
}

#[derive(Serialize)]
struct Response {
    payload_bytes: usize,
}

/// Takes the payload, keeps its length, and hands `null` on.
struct RawPayloadLayer;

impl<S> Layer<S> for RawPayloadLayer {
    type Service = RawPayload<S>;

    fn layer(&self, inner: S) -> RawPayload<S> {
        RawPayload { inner }
    }
}

struct RawPayload<S> {
    inner: S,
}

impl<S> Service<LambdaInvocation> for RawPayload<S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError>,
    S::Future: 'static,
{
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        let payload = std::mem::replace(&mut invocation.body, Bytes::from_static(b"null"));
        let call = self.inner.call(invocation);
        Box::pin(PAYLOAD_BYTES.scope(Cell::new(payload.len()), call))
    }
}

fn main() -> Result<(), Error> {
    // The memory setting frequency-fanout runs with, so that the floor is its floor.
    frequency_fanout::memory::keep_memory_for_reuse();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<(), Error> {
    let handler = service_fn(|_: LambdaEvent<()>| async {
        Ok::<_, Error>(Response {
            payload_bytes: PAYLOAD_BYTES.get().get(),
        })
    });
    Runtime::new(handler).layer(RawPayloadLayer).run().await
}
