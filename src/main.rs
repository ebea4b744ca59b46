//! The `frequency-fanout` binary: reads configuration, builds the pool once, and serves
//! Lambda invocations (with `AWS_LAMBDA_RUNTIME_API` set) or one event from the command line.

use std::process::ExitCode;
use std::sync::Arc;

use tracing::level_filters::LevelFilter;

use frequency_fanout::lambda;
use frequency_fanout::local::{self, Command};
use frequency_fanout::{memory, observability, Config, FrequencyFanout};

/// Lambda mode when the Runtime API is given; lambda_runtime panics without the Lambda
/// environment, so local mode must be decided before it is reached.
fn lambda_mode() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

fn main() -> ExitCode {
    // First, before any thread or allocation that should follow it.
    memory::keep_memory_for_reuse();
    observability::init_with_default_level(if lambda_mode() {
        LevelFilter::INFO
    } else {
        local::DEFAULT_LOG_LEVEL
    });
    // A panic is reported as one log line (the invocation it happened in fails with
    // errorType WorkerPanic and the process goes on), not as multi-line text on stderr.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        let location = info.location().map(|l| l.to_string()).unwrap_or_default();
        tracing::error!(location, "panic: {message}");
    }));
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            // One line, in the configured log format, naming the variable and its value.
            tracing::error!("invalid configuration: {error}");
            if lambda_mode() {
                lambda::report_init_error(
                    frequency_fanout::error::INVALID_CONFIGURATION,
                    &format!("invalid configuration: {error}"),
                );
            }
            return ExitCode::from(2);
        }
    };
    let function = match FrequencyFanout::new(config) {
        Ok(function) => function,
        Err(error) => {
            tracing::error!("cannot start the worker pool: {error}");
            return ExitCode::from(2);
        }
    };

    if lambda_mode() {
        serve_lambda(function)
    } else {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match local::parse_args(&args) {
            Ok(Command::Run(source)) => local::run(&function, &source),
            Ok(Command::Help) => {
                println!("{}", local::USAGE);
                ExitCode::SUCCESS
            }
            Ok(Command::Version) => {
                println!("{}", local::VERSION);
                ExitCode::SUCCESS
            }
            Err(problem) => {
                eprintln!("frequency-fanout: {problem}\n{}", local::USAGE);
                ExitCode::from(2)
            }
        }
    }
}

/// Serves Lambda invocations. The CPU work runs on the rayon pool; the async runtime's threads
/// receive and answer. One thread serves one invocation at a time; with several in flight
/// (Lambda Managed Instances), two threads let one receive a large payload while the other
/// answers the small ones.
fn serve_lambda(function: FrequencyFanout) -> ExitCode {
    let concurrency = lambda::max_concurrency_from_env();
    let runtime = if concurrency > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("runtime-api")
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let metrics = observability::Metrics::from_env();
    match runtime.block_on(lambda::serve(Arc::new(function), metrics, concurrency)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("the Lambda runtime stopped: {error}");
            ExitCode::FAILURE
        }
    }
}
