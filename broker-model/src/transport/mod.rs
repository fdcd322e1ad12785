//! OpenWire transports as a client side sees them (model/activemq.md §3.10, §4): one TCP
//! connection with its connect timeout and inactivity monitor (`tcp`), and the failover
//! transport's passes over several URIs (`failover`). An application client uses the failover
//! transport; a network bridge's remote connection will use `tcp` under its discovery agent.
//!
//! A transport is an embedded component: its timers are `TimerId::Transport { owner, kind }`
//! with the owner its parent names, and its connections are that owner's.

pub mod failover;
pub mod proto;
pub mod tcp;
#[cfg(test)]
mod tests;

pub use failover::{FailoverEvent, FailoverTransport, ReconnectDelay};
pub use proto::TransportTimer;
pub use tcp::{TcpTransport, TransportEvent};

/// `initialReconnectDelay`, `maxReconnectDelay` of the failover transport.
pub const INITIAL_RECONNECT_MS: u64 = 10;
pub const MAX_RECONNECT_MS: u64 = 30_000;
/// TcpTransport `connectionTimeout`.
pub const CONNECT_TIMEOUT_MS: u64 = 30_000;
/// OpenWire's inactivity monitor sends a `KeepAliveInfo` this often (`maxInactivityDuration`/3).
pub const KEEPALIVE_MS: u64 = 10_000;
/// `maxInactivityDuration`: a connection that read nothing this long has failed.
pub const MAX_INACTIVITY_MS: u64 = 30_000;
