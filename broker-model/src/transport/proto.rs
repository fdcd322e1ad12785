//! A transport's own protocol with the world: its timers (inside `TimerId::Transport`).

/// A transport's timers; `attempt` tells a connection attempt's timers from a later one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransportTimer {
    /// The next reconnect pass (failover) or reconnect (a fixed delay).
    Reconnect,
    ConnectTimeout {
        attempt: u64,
    },
    /// The inactivity monitor's read check.
    ReadCheck {
        attempt: u64,
    },
    /// The inactivity monitor's write check: a keepalive to the broker.
    KeepAlive {
        attempt: u64,
    },
}
