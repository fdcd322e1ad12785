//! An application client's own protocol with the world: its timers (its transport's are
//! `TimerId::Transport`). (Its messages to and from a
//! broker are OpenWire and STOMP, in `crate::messaging`.)

/// Timers of an application process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AppTimer {
    Start,
    Produce {
        producer: u32,
    },
    /// A consumer's listener finished a message.
    Processed {
        consumer: u32,
    },
}
