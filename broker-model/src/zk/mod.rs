//! ZooKeeper as ActiveMQ's replicated LevelDB store sees it: a three-server ensemble running Fast
//! Leader Election and ZAB, global sessions expired only by the leader, ephemeral and sequential
//! znodes, one-shot watches, and the Java client library's connection state machine.
//!
//! Source: `../shared/model/zookeeper.md` (§0–3, §6), ZooKeeper 3.4.14 behaviour by default.

pub mod client;
pub mod proto;
pub mod server;
pub mod tree;

#[cfg(test)]
mod election_tests;

use std::fmt;

/// A ZooKeeper session id, `(serverId << 56) | counter` as `SessionTrackerImpl` builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// `(epoch << 32) | counter` (`ZxidUtils.makeZxid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Zxid(pub u64);

impl Zxid {
    pub fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid(((epoch as u64) << 32) | counter as u64)
    }

    pub fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub fn counter(self) -> u32 {
        self.0 as u32
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// The server id from `zoo.cfg` (`server.N`, the `myid` file).
pub type ServerId = u8;

/// The ensemble settings of `zoo.cfg` that change behaviour. Defaults are the seed's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsembleConfig {
    pub tick_time_ms: u64,
    pub init_limit: u64,
    pub sync_limit: u64,
    /// `-1` in zoo.cfg: `None` means 2·tickTime.
    pub min_session_timeout_ms: Option<u64>,
    /// `-1` in zoo.cfg: `None` means 20·tickTime.
    pub max_session_timeout_ms: Option<u64>,
    /// `FastLeaderElection.finalizeWait`.
    pub finalize_wait_ms: u64,
    /// `maxNotificationInterval`.
    pub max_notification_interval_ms: u64,
    /// Wait between a learner's attempts to connect to its leader: 1000 ms in 3.4/3.5.
    pub leader_connect_delay_ms: u64,
}

impl EnsembleConfig {
    /// The seed's `zoo.cfg` (tickTime=2000, initLimit=10, syncLimit=5) on ZooKeeper 3.4.
    pub fn seed() -> EnsembleConfig {
        EnsembleConfig {
            tick_time_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            finalize_wait_ms: 200,
            max_notification_interval_ms: 60_000,
            leader_connect_delay_ms: 1000,
        }
    }

    pub fn min_session_timeout(&self) -> u64 {
        self.min_session_timeout_ms.unwrap_or(2 * self.tick_time_ms)
    }

    pub fn max_session_timeout(&self) -> u64 {
        self.max_session_timeout_ms.unwrap_or(20 * self.tick_time_ms)
    }
}

/// `ZooKeeperServer.processConnectRequest`: the requested timeout clamped to the server bounds.
pub fn negotiate_session_timeout(requested_ms: u64, config: &EnsembleConfig) -> u64 {
    requested_ms.clamp(config.min_session_timeout(), config.max_session_timeout())
}

/// `ExpiryQueue.roundToNextInterval`: the bucket a session touched at `now_ms` (leader clock)
/// with timeout `timeout_ms` expires in: `((now+T)/tick + 1)·tick`, which lies in (now+T, now+T+tick].
pub fn expiry_bucket_ms(now_ms: u64, timeout_ms: u64, tick_ms: u64) -> u64 {
    assert!(tick_ms > 0);
    ((now_ms + timeout_ms) / tick_ms + 1) * tick_ms
}

/// Client timers derived from the negotiated timeout (`ClientCnxn.onConnected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// `readTimeout = T*2/3`: no byte for this long → `Disconnected`.
    pub read_timeout_ms: u64,
    /// Idle time after which the client pings: `readTimeout/2`.
    pub ping_interval_ms: u64,
    /// `connectTimeout = T / #hosts`.
    pub connect_timeout_ms: u64,
}

pub fn client_timeouts(negotiated_ms: u64, host_count: usize) -> ClientTimeouts {
    assert!(host_count > 0);
    let read_timeout_ms = negotiated_ms * 2 / 3;
    ClientTimeouts {
        read_timeout_ms,
        ping_interval_ms: read_timeout_ms / 2,
        connect_timeout_ms: negotiated_ms / host_count as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_3000_with_tick_2000_negotiates_4000() {
        let config = EnsembleConfig::seed();
        assert_eq!(negotiate_session_timeout(3000, &config), 4000);
        assert_eq!(negotiate_session_timeout(10_000, &config), 10_000);
        assert_eq!(negotiate_session_timeout(90_000, &config), 40_000);
    }

    #[test]
    fn expiry_lies_in_t_to_t_plus_tick_after_touch() {
        let (t, tick) = (4000, 2000);
        for touch in [0u64, 1, 1999, 2000, 2001, 3999, 123_456] {
            let expiry = expiry_bucket_ms(touch, t, tick);
            assert!(expiry > touch + t, "touch {touch} expiry {expiry}");
            assert!(expiry <= touch + t + tick, "touch {touch} expiry {expiry}");
            assert_eq!(expiry % tick, 0);
        }
        // On a boundary the session gets the whole extra tick.
        assert_eq!(expiry_bucket_ms(2000, 4000, 2000), 8000);
    }

    #[test]
    fn client_timers_for_negotiated_4000_and_three_hosts() {
        let timeouts = client_timeouts(4000, 3);
        assert_eq!(timeouts.read_timeout_ms, 2666);
        assert_eq!(timeouts.ping_interval_ms, 1333);
        assert_eq!(timeouts.connect_timeout_ms, 1333);
    }

    #[test]
    fn zxid_packs_epoch_and_counter() {
        let zxid = Zxid::new(4, 0x133);
        assert_eq!(zxid.0, 0x4_0000_0133);
        assert_eq!((zxid.epoch(), zxid.counter()), (4, 0x133));
    }
}
