//! Percentiles of latency samples, by the nearest-rank method: the reported value is always one
//! that was measured, and p99 of 50 samples is the slowest one rather than an interpolation.

use std::time::Duration;

/// The `percent`-th percentile (0..=100) of `samples` by nearest rank; `None` when empty.
pub fn percentile(samples: &[Duration], percent: u32) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let count = sorted.len();
    let percent = usize::try_from(percent.min(100)).unwrap_or(100);
    // Nearest rank: ceil(percent / 100 * count), at least 1.
    let rank = (percent * count).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// A duration in microseconds, for reports.
pub fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// A duration in milliseconds to one decimal place, for reports.
pub fn millis(duration: Duration) -> f64 {
    round(duration.as_secs_f64() * 1000.0)
}

/// One decimal place, for reports.
pub fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// `a / b` to two decimal places; 0 when `b` is 0 (nothing to compare with).
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        (a / b * 100.0).round() / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_of_fifty_samples() {
        let samples: Vec<Duration> = (1..=50).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50), Some(Duration::from_millis(25)));
        assert_eq!(percentile(&samples, 99), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&samples, 100), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&samples, 0), Some(Duration::from_millis(1)));
    }

    #[test]
    fn small_and_empty_sets() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&ms(&[7]), 99), Some(Duration::from_millis(7)));
        assert_eq!(
            percentile(&ms(&[15, 20, 35, 40, 50]), 30),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            percentile(&ms(&[15, 20, 35, 40, 50]), 40),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            percentile(&ms(&[15, 20, 35, 40, 50]), 50),
            Some(Duration::from_millis(35))
        );
    }
}
