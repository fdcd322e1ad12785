//! An application client's own protocol with the world: its timers. (Its messages to and from a
//! broker are OpenWire and STOMP, in `crate::messaging`.)

/// Timers of an application process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AppTimer {
    Start,
    Produce {
        producer: u32,
    },
    /// The next reconnect pass (failover) or reconnect (STOMP).
    Reconnect,
    ConnectTimeout {
        attempt: u64,
    },
    /// A consumer's listener finished a message.
    Processed {
        consumer: u32,
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
