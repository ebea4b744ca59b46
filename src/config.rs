//! Configuration from the environment, read and checked once at init.

use std::fmt;
use std::num::NonZeroUsize;

use crate::number::Threshold;

/// Memory per vCPU in Lambda: a function gets one vCPU's worth of CPU at 1,769 MB.
pub const MB_PER_VCPU: u64 = 1_769;
/// The most vCPUs Lambda gives a function (at 10,240 MB).
pub const MAX_LAMBDA_VCPUS: usize = 6;
/// The least memory per vCPU on Lambda Managed Instances (the other choices are 4 and 8 GiB).
pub const MIN_MB_PER_MANAGED_VCPU: u64 = 2_048;
/// `AWS_LAMBDA_INITIALIZATION_TYPE` in a Lambda Managed Instances execution environment.
pub const MANAGED_INSTANCES: &str = "lambda-managed-instances";
/// The widest pool `MAX_WORKERS` may ask for: far beyond any Lambda machine, low enough that a
/// typo cannot start a hundred thousand threads.
pub const MAX_WORKERS_LIMIT: usize = 256;
/// The threshold when neither the event nor `FREQUENCY_THRESHOLD` gives one: the article's.
pub const DEFAULT_THRESHOLD: &str = "10";

/// Settings of the running function.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Width of the rayon pool.
    pub workers: usize,
    /// The threshold used when the event gives none.
    pub default_threshold: Threshold,
}

/// A configuration error: it stops the function at init, naming the variable and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    InvalidMaxWorkers(String),
    InvalidThreshold(String),
    InvalidMemorySize(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidMaxWorkers(value) => write!(
                f,
                "MAX_WORKERS={value:?} is invalid: expected a whole number from 1 to \
                 {MAX_WORKERS_LIMIT}, or unset for automatic"
            ),
            ConfigError::InvalidThreshold(value) => write!(
                f,
                "FREQUENCY_THRESHOLD={value:?} is invalid: expected a JSON number such as 10 or 2.5"
            ),
            ConfigError::InvalidMemorySize(value) => write!(
                f,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE={value:?} is invalid: expected a whole number of MB"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let available = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let workers = match set(lookup("MAX_WORKERS")) {
            Some(value) => parse_max_workers(&value)?,
            None => {
                let megabytes = set(lookup("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
                    .map(|memory| {
                        memory
                            .parse::<u64>()
                            .map_err(|_| ConfigError::InvalidMemorySize(memory))
                    })
                    .transpose()?;
                let managed = lookup("AWS_LAMBDA_INITIALIZATION_TYPE")
                    .is_some_and(|kind| kind.trim() == MANAGED_INSTANCES);
                automatic_workers(megabytes, managed, available)
            }
        };
        // Blank means the default, as for MAX_WORKERS (SAM passes an empty parameter so).
        let default_threshold = match set(lookup("FREQUENCY_THRESHOLD")) {
            Some(value) => Threshold::parse(&value).ok_or(ConfigError::InvalidThreshold(value))?,
            None => Threshold::parse(DEFAULT_THRESHOLD).expect("the default threshold is a number"),
        };
        Ok(Config {
            workers,
            default_threshold,
        })
    }
}

/// A variable that is set and not blank (SAM passes an empty string for "automatic").
fn set(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn parse_max_workers(value: &str) -> Result<usize, ConfigError> {
    match value.parse::<usize>() {
        Ok(workers) if (1..=MAX_WORKERS_LIMIT).contains(&workers) => Ok(workers),
        _ => Err(ConfigError::InvalidMaxWorkers(value.to_string())),
    }
}

/// The pool's width when `MAX_WORKERS` does not set it: as many workers as the environment
/// has vCPUs.
///
/// - Standard Lambda: [`workers_for_memory`], since the CPU share follows the memory size and
///   the cores the process sees do not tell it.
/// - Lambda Managed Instances (`AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`): no
///   variable names the vCPUs, and the memory is the whole environment's, at 2, 4 or 8 GiB per
///   vCPU. The cores the process may run on (`available_parallelism`, which honours the CPU
///   affinity mask and a cgroup CPU quota) are taken, but never more than the memory allows at
///   2 GiB per vCPU (the template also sets `MAX_WORKERS` to the vCPUs it asks for).
/// - Outside Lambda: the cores seen.
pub fn automatic_workers(megabytes: Option<u64>, managed: bool, available: usize) -> usize {
    match (megabytes, managed) {
        (Some(megabytes), true) => {
            let most = (megabytes / MIN_MB_PER_MANAGED_VCPU).max(1) as usize;
            available.clamp(1, most)
        }
        (Some(megabytes), false) => workers_for_memory(megabytes, available),
        (None, _) => available.max(1),
    }
}

/// The pool width Lambda's CPU share supports: one worker per vCPU's worth of memory
/// (rounded, at least one, at most six), and never more than the cores the process sees.
/// `available_parallelism()` alone reports 2 even at 128 MB, where the function has a
/// fraction of one vCPU, and would oversubscribe small functions.
pub fn workers_for_memory(megabytes: u64, available: usize) -> usize {
    let vcpus = (megabytes + MB_PER_VCPU / 2) / MB_PER_VCPU;
    (vcpus as usize)
        .clamp(1, MAX_LAMBDA_VCPUS)
        .min(available.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn max_workers_wins_and_is_checked() {
        assert_eq!(config(&[("MAX_WORKERS", "8")]).unwrap().workers, 8);
        assert_eq!(config(&[("MAX_WORKERS", " 3 ")]).unwrap().workers, 3);
        for bad in ["0", "abc", "100000", "-1", "2.5"] {
            let error = config(&[("MAX_WORKERS", bad)]).unwrap_err();
            assert_eq!(error, ConfigError::InvalidMaxWorkers(bad.to_string()));
            let message = error.to_string();
            assert!(
                message.contains("MAX_WORKERS") && message.contains(bad),
                "{message}"
            );
        }
    }

    #[test]
    fn blank_max_workers_means_automatic() {
        let available = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(config(&[("MAX_WORKERS", "")]).unwrap().workers, available);
        assert_eq!(config(&[]).unwrap().workers, available);
    }

    #[test]
    fn memory_buys_workers() {
        assert_eq!(workers_for_memory(128, 2), 1);
        assert_eq!(workers_for_memory(1_769, 2), 1);
        assert_eq!(workers_for_memory(3_538, 2), 2);
        assert_eq!(workers_for_memory(3_538, 8), 2);
        assert_eq!(workers_for_memory(10_240, 2), 2);
        assert_eq!(workers_for_memory(10_240, 8), 6);
        assert_eq!(workers_for_memory(10_240, 64), 6);
        assert_eq!(
            config(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")])
                .unwrap()
                .workers,
            1
        );
    }

    #[test]
    fn managed_instances_take_the_cores_seen_within_the_memory() {
        let managed = |vars: &[(&str, &str)]| {
            let mut all = vec![("AWS_LAMBDA_INITIALIZATION_TYPE", MANAGED_INSTANCES)];
            all.extend_from_slice(vars);
            config(&all).unwrap().workers
        };
        let available = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        // 8 GiB: at most four vCPUs at 2 GiB each; the cores seen, if fewer.
        assert_eq!(
            managed(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "8192")]),
            available.min(4)
        );
        assert_eq!(managed(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")]), 1);
        assert_eq!(managed(&[("MAX_WORKERS", "3")]), 3);
        assert_eq!(automatic_workers(Some(32_768), true, 64), 16);
        assert_eq!(automatic_workers(Some(32_768), true, 4), 4);
        assert_eq!(automatic_workers(Some(4_096), true, 4), 2);
        assert_eq!(automatic_workers(None, true, 4), 4);
        // Standard Lambda at 4 GiB: the memory rule (two vCPUs' worth), not the cores.
        assert_eq!(automatic_workers(Some(4_096), false, 64), 2);
        assert_eq!(automatic_workers(None, false, 0), 1);
    }

    #[test]
    fn blank_threshold_means_the_default() {
        for blank in ["", "  "] {
            let config = config(&[("FREQUENCY_THRESHOLD", blank)]).unwrap();
            assert_eq!(config.default_threshold.literal(), DEFAULT_THRESHOLD);
        }
        assert_eq!(
            config(&[("FREQUENCY_THRESHOLD", " 2.5 ")])
                .unwrap()
                .default_threshold
                .literal(),
            "2.5"
        );
    }

    #[test]
    fn threshold_from_the_environment() {
        assert_eq!(config(&[]).unwrap().default_threshold.literal(), "10");
        assert_eq!(
            config(&[("FREQUENCY_THRESHOLD", "12.5")])
                .unwrap()
                .default_threshold
                .literal(),
            "12.5"
        );
        let error = config(&[("FREQUENCY_THRESHOLD", "ten")]).unwrap_err();
        assert!(error.to_string().contains("FREQUENCY_THRESHOLD=\"ten\""));
    }
}
