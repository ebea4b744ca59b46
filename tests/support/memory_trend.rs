//! Judging a process's resident memory over a long run: as a trend, never as two samples.
//!
//! An allocator grows its heap in steps (glibc by a megabyte or so, now and then, when a new
//! arena or a larger top is needed), and a test that compares one sample after warm-up with
//! one at the end fails a correct program whenever a step falls between them. A leak is a
//! steady climb instead. [`Trend::judge`] fits the samples with the Theil–Sen estimator (the
//! median of the slopes between every pair of samples), which a single step barely moves, and
//! turns the slope into the growth it predicts over the run. Included by tests/soak.rs with
//! `#[path]`.

// Each test crate that includes this file uses only some of its items.
#![allow(dead_code)]

/// The most growth over a run that still counts as flat. A one-off allocator step of up to
/// 2 MiB estimates at most about 2.5 MiB (a step halfway through the run moves the median
/// slope most), so it passes; a leak of 50 bytes per invocation over 150,000 invocations is
/// 7.2 MiB, over 200,000 it is 9.5 MiB, so it fails, even with 2 MiB given back halfway.
pub const FLAT_BYTES: f64 = 4.0 * 1024.0 * 1024.0;

/// Resident memory samples: `(invocations served, VmRSS in bytes)`.
#[derive(Clone, Debug, Default)]
pub struct Trend {
    pub samples: Vec<(u64, u64)>,
}

/// What the samples say.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Theil–Sen slope, bytes per invocation.
    pub bytes_per_invocation: f64,
    /// The slope times the invocations the samples span: the growth the trend predicts.
    pub growth_bytes: f64,
    pub first_kb: u64,
    pub last_kb: u64,
    pub min_kb: u64,
    pub max_kb: u64,
}

impl Verdict {
    pub fn is_flat(&self) -> bool {
        self.growth_bytes < FLAT_BYTES
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trend {:+.1} bytes per invocation, {:+.2} MiB over the run (flat below {:.0} MiB); \
             VmRSS first {} kB, last {} kB, between {} and {} kB",
            self.bytes_per_invocation,
            self.growth_bytes / 1024.0 / 1024.0,
            FLAT_BYTES / 1024.0 / 1024.0,
            self.first_kb,
            self.last_kb,
            self.min_kb,
            self.max_kb
        )
    }
}

impl Trend {
    pub fn push(&mut self, invocations: u64, rss_bytes: u64) {
        self.samples.push((invocations, rss_bytes));
    }

    /// The trend of the samples; at least three are needed.
    pub fn judge(&self) -> Verdict {
        assert!(self.samples.len() >= 3, "too few samples to judge a trend");
        let mut slopes = Vec::with_capacity(self.samples.len() * self.samples.len() / 2);
        for (i, &(x0, y0)) in self.samples.iter().enumerate() {
            for &(x1, y1) in &self.samples[i + 1..] {
                if x1 != x0 {
                    slopes.push((y1 as f64 - y0 as f64) / (x1 as f64 - x0 as f64));
                }
            }
        }
        slopes.sort_by(f64::total_cmp);
        let middle = slopes.len() / 2;
        let slope = if slopes.len() % 2 == 1 {
            slopes[middle]
        } else {
            (slopes[middle - 1] + slopes[middle]) / 2.0
        };
        let span = (self.samples.last().unwrap().0 - self.samples[0].0) as f64;
        let kb = |bytes: u64| bytes / 1024;
        let rss = self.samples.iter().map(|&(_, rss)| rss);
        Verdict {
            bytes_per_invocation: slope,
            growth_bytes: slope * span,
            first_kb: kb(self.samples[0].1),
            last_kb: kb(self.samples.last().unwrap().1),
            min_kb: kb(rss.clone().min().unwrap()),
            max_kb: kb(rss.max().unwrap()),
        }
    }
}

/// `VmRSS` of a live process, in bytes.
pub fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// Synthetic runs that show what the judge passes and what it fails.
#[cfg(test)]
pub mod synthetic {
    use super::*;

    /// 200 samples over `span` invocations: a base of 20 MB, `leak` bytes per invocation,
    /// `step` bytes from `step_at` (a fraction of the run) on, and a deterministic wobble of
    /// ±300 kB (pages the allocator gives back and takes again).
    pub fn run(span: u64, leak: f64, step: f64, step_at: f64) -> Trend {
        let mut trend = Trend::default();
        let mut wobble: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..200u64 {
            let x = span * i / 199;
            wobble = wobble
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let noise = ((wobble >> 33) % 600_000) as f64 - 300_000.0;
            let stepped = if x as f64 >= step_at * span as f64 {
                step
            } else {
                0.0
            };
            let y = 20e6 + leak * x as f64 + stepped + noise;
            trend.push(x, y as u64);
        }
        trend
    }
}
