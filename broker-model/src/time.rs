//! Simulated time: a monotonically increasing count of microseconds since the run started.
//!
//! Only the driver creates `Time` from its clock; the model does arithmetic on it. Durations in
//! configuration are plain milliseconds (`*_ms`), converted with [`Time::add_ms`].

use std::fmt;

/// An instant of simulated time, in microseconds since the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub fn from_ms(ms: u64) -> Time {
        Time(ms * 1000)
    }

    pub fn from_us(us: u64) -> Time {
        Time(us)
    }

    pub fn as_us(self) -> u64 {
        self.0
    }

    /// Whole milliseconds, rounded down (as Java's `System.nanoTime()/1e6`).
    pub fn as_ms(self) -> u64 {
        self.0 / 1000
    }

    pub fn add_ms(self, ms: u64) -> Time {
        Time(self.0 + ms * 1000)
    }

    pub fn add_us(self, us: u64) -> Time {
        Time(self.0 + us)
    }

    /// Milliseconds from `earlier` to `self`, as a float; negative if `earlier` is later.
    pub fn ms_since(self, earlier: Time) -> f64 {
        (self.0 as f64 - earlier.0 as f64) / 1000.0
    }

    pub fn saturating_sub_us(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Time {
    /// Seconds with microsecond precision, e.g. `12.034501s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_arithmetic() {
        let t = Time::from_ms(12_034).add_us(501);
        assert_eq!(t.to_string(), "12.034501s");
        assert_eq!(t.as_ms(), 12_034);
        assert_eq!(Time::from_ms(5).ms_since(Time::from_ms(2)), 3.0);
    }
}
