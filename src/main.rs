//! The `frequency-fanout` binary: reads configuration, builds the pool once, and serves
//! Lambda invocations (with `AWS_LAMBDA_RUNTIME_API` set) or one event from the command line.

use std::process::ExitCode;

use tracing::level_filters::LevelFilter;

use frequency_fanout::local::{self, Command};
use frequency_fanout::{observability, Config, FrequencyFanout};

/// Lambda mode when the Runtime API is given; lambda_runtime panics without the Lambda
/// environment, so local mode must be decided before it is reached.
fn lambda_mode() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

fn main() -> ExitCode {
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
                frequency_fanout::lambda::report_init_error(
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
        serve_lambda(&function)
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

/// One thread for the Runtime API's I/O: the CPU work runs on the rayon pool.
fn serve_lambda(function: &FrequencyFanout) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let metrics = observability::Metrics::from_env();
    match runtime.block_on(frequency_fanout::lambda::serve(function, metrics.as_ref())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("the Lambda runtime stopped: {error}");
            ExitCode::FAILURE
        }
    }
}
