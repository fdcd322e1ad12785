//! The static discovery agent's reconnect rule, per URI (`SimpleDiscoveryAgent.serviceFailed`,
//! model/activemq.md §3.7). Every failure of a URI's bridge — a refused or timed-out connect, a
//! failed handshake, a later drop — asks for the wait before the next attempt:
//!
//! - an attempt that failed less than `minConnectTime` (5 s) after it *started* counts as a
//!   connection failure: the wait grows (`reconnectDelay · backOffMultiplier`, capped at
//!   `maxReconnectDelay`; the first is `initialReconnectDelay`), and after
//!   `maxReconnectAttempts` such failures in a row (when > 0) the URI is given up;
//! - one that lived 5 s or more resets the count and waits `initialReconnectDelay`.
//!
//! Consecutive quick failures wait 1, 2, 4, 8, 16, 30, 30, ... s with the defaults.

use crate::time::Time;

/// The static agent's settings (the `static:(...)?...` query and the connector's attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackoffConfig {
    pub initial_reconnect_delay_ms: u64,
    pub max_reconnect_delay_ms: u64,
    pub use_exponential_back_off: bool,
    pub back_off_multiplier: u64,
    /// 0: retry forever.
    pub max_reconnect_attempts: u32,
    pub min_connect_time_ms: u64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial_reconnect_delay_ms: 1000,
            max_reconnect_delay_ms: 30_000,
            use_exponential_back_off: true,
            back_off_multiplier: 2,
            max_reconnect_attempts: 0,
            min_connect_time_ms: 5000,
        }
    }
}

/// One URI's reconnect state (`DiscoveryEvent` with its `connectTime`, `connectFailures`,
/// `reconnectDelay`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    config: BackoffConfig,
    /// When the current attempt started.
    connect_time: Time,
    connect_failures: u32,
    /// `-1` in the agent: no delay chosen yet (a fresh connector).
    reconnect_delay_ms: Option<u64>,
}

impl Backoff {
    /// A fresh connector's URI; its first attempt starts at `now`.
    pub fn new(config: BackoffConfig, now: Time) -> Backoff {
        Backoff { config, connect_time: now, connect_failures: 0, reconnect_delay_ms: None }
    }

    /// The attempt that failed at `now`: the wait before the next one, or `None` once
    /// `maxReconnectAttempts` quick failures in a row gave the URI up.
    pub fn failed(&mut self, now: Time) -> Option<u64> {
        let c = &self.config;
        let lived_us = now.saturating_sub_us(self.connect_time);
        let delay = if lived_us < c.min_connect_time_ms.saturating_mul(1000) {
            self.connect_failures = self.connect_failures.saturating_add(1);
            if c.max_reconnect_attempts > 0 && self.connect_failures >= c.max_reconnect_attempts {
                return None;
            }
            match self.reconnect_delay_ms {
                Some(previous) if c.use_exponential_back_off => {
                    previous.saturating_mul(c.back_off_multiplier).min(c.max_reconnect_delay_ms)
                }
                _ => c.initial_reconnect_delay_ms,
            }
        } else {
            self.connect_failures = 0;
            c.initial_reconnect_delay_ms
        };
        self.reconnect_delay_ms = Some(delay);
        Some(delay)
    }

    /// The next attempt starts (`event.connectTime = now; onServiceAdd`).
    pub fn attempt(&mut self, now: Time) {
        self.connect_time = now;
    }

    pub fn connect_failures(&self) -> u32 {
        self.connect_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attempts that each fail `fail_after_ms` after they start: their start times, in ms.
    fn starts(config: BackoffConfig, fail_after_ms: &[u64]) -> Vec<u64> {
        let mut now = Time::ZERO;
        let mut backoff = Backoff::new(config, now);
        let mut starts = vec![0];
        for after in fail_after_ms {
            now = now.add_ms(*after);
            let Some(wait) = backoff.failed(now) else { break };
            now = now.add_ms(wait);
            backoff.attempt(now);
            starts.push(now.as_ms());
        }
        starts
    }

    #[test]
    fn quick_failures_wait_1_2_4_8_16_30_30_s() {
        let mut now = Time::ZERO;
        let mut backoff = Backoff::new(BackoffConfig::default(), now);
        let mut waits = Vec::new();
        for _ in 0..8 {
            now = now.add_ms(2); // refused within a round trip
            let wait = backoff.failed(now).expect("unlimited attempts");
            waits.push(wait);
            now = now.add_ms(wait);
            backoff.attempt(now);
        }
        assert_eq!(waits, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
        assert_eq!(backoff.connect_failures(), 8);
    }

    #[test]
    fn an_attempt_that_lived_5_s_resets_the_wait_to_1_s() {
        // Three quick failures, a bridge that lives 5 s, then quick failures again.
        let s = starts(BackoffConfig::default(), &[0, 0, 0, 5000, 0, 0]);
        assert_eq!(s, [0, 1000, 3000, 7000, 13_000, 15_000, 19_000]);
    }

    #[test]
    fn an_attempt_that_took_5_s_to_fail_is_not_counted() {
        // A connect into silence fails only at the 30 s connect timeout, counted from the
        // attempt's start: the wait stays at 1 s however many of them come.
        let s = starts(BackoffConfig::default(), &[30_000, 30_000, 30_000]);
        assert_eq!(s, [0, 31_000, 62_000, 93_000]);
        // 4.999 s is still quick.
        let s = starts(BackoffConfig::default(), &[4999, 4999]);
        assert_eq!(s, [0, 5999, 12_998]);
    }

    #[test]
    fn without_exponential_back_off_every_wait_is_the_initial_delay_and_attempts_can_run_out() {
        let config = BackoffConfig {
            use_exponential_back_off: false,
            initial_reconnect_delay_ms: 500,
            max_reconnect_attempts: 3,
            ..BackoffConfig::default()
        };
        // The third quick failure in a row gives the URI up.
        assert_eq!(starts(config, &[0, 0, 0, 0]), [0, 500, 1000]);
    }
}
