//! Per-process randomness: a ChaCha8 stream seeded from (run seed, stream id).
//!
//! Each process owns its own stream so that its choices (session-id origin, reconnect jitter,
//! host-list shuffles) do not shift when another process draws more or fewer numbers.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
pub struct Rng {
    inner: ChaCha8Rng,
}

impl Rng {
    /// A stream for `stream` within the run `seed`. Distinct streams are independent.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&stream.to_le_bytes());
        key[16..24].copy_from_slice(b"amqsim\0\0");
        Rng { inner: ChaCha8Rng::from_seed(key) }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[low, high)`. `low < high` is a programmer's promise.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        assert!(low < high, "empty range {low}..{high}");
        let span = high - low;
        // Rejection sampling keeps the distribution exactly uniform.
        let zone = u64::MAX - (u64::MAX % span);
        loop {
            let x = self.inner.next_u64();
            if x < zone {
                return low + x % span;
            }
        }
    }

    /// Uniform in a range prepared once ([`Uniform`]): the same number `range_inclusive` would
    /// draw from the same stream, without recomputing the rejection zone (a division) per draw.
    pub fn draw(&mut self, uniform: &Uniform) -> u64 {
        match uniform.zone {
            None => uniform.low + self.inner.next_u64() % uniform.span,
            Some(zone) => loop {
                let x = self.inner.next_u64();
                if x < zone {
                    return uniform.low + x % uniform.span;
                }
            },
        }
    }

    /// Uniform in `[low, high]` (inclusive), for ranges written as min/max in scenarios.
    pub fn range_inclusive(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "empty range {low}..={high}");
        if high == u64::MAX {
            return low + self.inner.next_u64() % (high - low).max(1);
        }
        self.range(low, high + 1)
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.range(0, i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.range(0, denominator) < numerator
    }
}

/// An inclusive range `[low, high]` prepared for many draws ([`Rng::draw`]): a link's latency,
/// a disk's fsync time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uniform {
    low: u64,
    span: u64,
    /// Draws at or above it are rejected; `None` for the full range (drawn as
    /// `range_inclusive` draws it, by remainder).
    zone: Option<u64>,
}

impl Uniform {
    pub fn inclusive(low: u64, high: u64) -> Uniform {
        assert!(low <= high, "empty range {low}..={high}");
        if high == u64::MAX {
            return Uniform { low, span: (high - low).max(1), zone: None };
        }
        let span = high + 1 - low;
        Uniform { low, span, zone: Some(u64::MAX - (u64::MAX % span)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let mut a = Rng::new(7, 1);
        let mut b = Rng::new(7, 1);
        let mut c = Rng::new(7, 2);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn a_prepared_range_draws_what_range_inclusive_draws() {
        let ranges =
            [(0, 0), (10, 13), (200, 600), (1, 1 << 40), (7, u64::MAX), (0, u64::MAX - 1), (0, u64::MAX)];
        for (low, high) in ranges {
            let mut a = Rng::new(3, 9);
            let mut b = Rng::new(3, 9);
            let uniform = Uniform::inclusive(low, high);
            for _ in 0..500 {
                assert_eq!(a.draw(&uniform), b.range_inclusive(low, high), "{low}..={high}");
            }
        }
    }

    #[test]
    fn range_stays_in_bounds() {
        let mut rng = Rng::new(1, 1);
        for _ in 0..1000 {
            let x = rng.range(10, 13);
            assert!((10..13).contains(&x));
        }
    }
}
