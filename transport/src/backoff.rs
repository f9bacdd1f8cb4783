//! How long a client waits before trying a server again: exponential growth up to a cap, with
//! jitter so that many clients cut off by the same server restart do not all return at once.
//!
//! The policy is a pure function of the attempt number and a random fraction the caller draws,
//! so it is tested exactly; [`random_fraction`] is the only source of randomness.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Exponential backoff with "equal jitter": the wait before attempt `n` is between half and all of
/// `min(max, initial * 2^n)`, so it never collapses to zero yet still spreads clients out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait. Default 100 ms.
    pub initial: Duration,
    /// The ceiling no wait exceeds. Default 10 s.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (0 for the first retry), given `fraction` drawn
    /// uniformly from [0, 1); values outside are clamped and NaN counts as 0.
    pub fn delay(&self, attempt: u32, fraction: f64) -> Duration {
        let ceiling = 2u32
            .checked_pow(attempt)
            .and_then(|factor| self.initial.checked_mul(factor))
            .map_or(self.max, |grown| grown.min(self.max));
        let half = ceiling / 2;
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        half + (ceiling - half).mul_f64(fraction)
    }
}

/// A fraction in [0, 1) that differs on every call, from the standard library's randomly keyed
/// hasher; good enough to spread reconnects, and needs no random number crate.
pub fn random_fraction() -> f64 {
    let bits = RandomState::new().build_hasher().finish();
    // The top 53 bits fill an f64 mantissa exactly.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }

    #[test]
    fn waits_double_until_the_cap() {
        let ceilings: Vec<Duration> = (0..8).map(|n| policy().delay(n, 1.0)).collect();
        let ms: Vec<u128> = ceilings.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }

    #[test]
    fn jitter_keeps_at_least_half_of_the_ceiling() {
        assert_eq!(policy().delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(policy().delay(3, 0.5), Duration::from_millis(600));
        assert_eq!(policy().delay(10, 0.0), Duration::from_secs(1));
    }

    #[test]
    fn huge_attempts_and_odd_fractions_stay_in_range() {
        let b = policy();
        assert_eq!(b.delay(u32::MAX, 1.0), b.max);
        assert_eq!(b.delay(40, 7.0), b.max);
        assert_eq!(b.delay(0, -3.0), Duration::from_millis(50));
        assert_eq!(b.delay(0, f64::NAN), Duration::from_millis(50));
    }

    #[test]
    fn random_fractions_are_in_range_and_vary() {
        let draws: Vec<f64> = (0..64).map(|_| random_fraction()).collect();
        assert!(draws.iter().all(|f| (0.0..1.0).contains(f)));
        let first = draws[0];
        assert!(draws.iter().any(|f| *f != first));
    }
}
