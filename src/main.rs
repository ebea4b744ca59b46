//! The `frequency-fanout` binary: reads configuration, builds the pool once, and serves
//! Lambda invocations (with `AWS_LAMBDA_RUNTIME_API` set) or one event from the command line.

use std::process::ExitCode;

use frequency_fanout::local::{self, Command};
use frequency_fanout::{observability, Config, FrequencyFanout};

fn main() -> ExitCode {
    observability::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            // One line, in the configured log format, naming the variable and its value.
            tracing::error!("invalid configuration: {error}");
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

    // lambda_runtime panics without the Lambda environment, so local mode must decide first.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        serve_lambda(&function)
    } else {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match local::parse_args(&args) {
            Ok(Command::Run(source)) => local::run(&function, &source),
            Ok(Command::Help) => {
                println!("{}", local::USAGE);
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
