//! Latency samples per operation. Runs are bounded (by time or count) and one sample is
//! 4 bytes, so every sample is kept and percentiles are exact after one sort.

use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies in microseconds, per operation name, plus the error count.
#[derive(Default, Debug)]
pub struct Samples {
    pub latencies: BTreeMap<&'static str, Vec<u32>>,
    pub errors: BTreeMap<&'static str, u64>,
    pub handshakes: u64,
}

impl Samples {
    pub fn record(&mut self, operation: &'static str, elapsed: Duration) {
        let micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
        self.latencies.entry(operation).or_default().push(micros);
    }

    pub fn error(&mut self, operation: &'static str) {
        *self.errors.entry(operation).or_default() += 1;
    }

    pub fn merge(&mut self, other: Samples) {
        for (operation, mut values) in other.latencies {
            self.latencies
                .entry(operation)
                .or_default()
                .append(&mut values);
        }
        for (operation, count) in other.errors {
            *self.errors.entry(operation).or_default() += count;
        }
        self.handshakes += other.handshakes;
    }
}

/// Percentiles of one operation's latencies, in microseconds.
#[derive(Debug, Clone, Copy, serde::Serialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: u32,
    pub p90_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    pub mean_us: f64,
}

impl Percentiles {
    pub fn of(values: &mut [u32]) -> Percentiles {
        values.sort_unstable();
        let at = |q: f64| -> u32 {
            if values.is_empty() {
                return 0;
            }
            // Nearest rank: the smallest sample with at least q of the samples at or below it.
            let rank = (q * values.len() as f64).ceil() as usize;
            values[rank.clamp(1, values.len()) - 1]
        };
        let sum: u64 = values.iter().map(|v| u64::from(*v)).sum();
        Percentiles {
            count: values.len() as u64,
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            max_us: values.last().copied().unwrap_or(0),
            mean_us: if values.is_empty() {
                0.0
            } else {
                sum as f64 / values.len() as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut values: Vec<u32> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut values);
        assert_eq!(
            (p.count, p.p50_us, p.p90_us, p.p99_us, p.max_us),
            (100, 50, 90, 99, 100)
        );
        assert_eq!(p.mean_us, 50.5);
        let empty = Percentiles::of(&mut []);
        assert_eq!((empty.count, empty.p99_us), (0, 0));
        let mut one = [7];
        assert_eq!(Percentiles::of(&mut one).p50_us, 7);
    }
}
