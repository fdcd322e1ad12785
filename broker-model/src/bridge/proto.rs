//! A network connector's protocol with the world: its configuration (which travels in a
//! duplex bridge's `BrokerInfo` as `networkProperties`) and what the history learns of it.

use super::discovery::BackoffConfig;
use super::filter::DestFilter;
use crate::io::Addr;
use crate::messaging::BrokerId;

/// One `<networkConnector>` (model/activemq.md §3; defaults are ActiveMQ 5.15's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectorConfig {
    /// `name` (default `bridge`).
    pub name: String,
    /// The `static:(...)` URIs, in order; one bridge each.
    pub uris: Vec<Addr>,
    pub duplex: bool,
    /// `networkTTL` (1); `messageTTL` and `consumerTTL` default to it.
    pub network_ttl: u32,
    pub message_ttl: u32,
    pub consumer_ttl: u32,
    /// `conduitSubscriptions` (true).
    pub conduit_subscriptions: bool,
    /// `decreaseNetworkConsumerPriority` (false).
    pub decrease_network_consumer_priority: bool,
    /// `prefetchSize` (1000).
    pub prefetch_size: u32,
    /// `dynamicOnly` (false).
    pub dynamic_only: bool,
    pub excluded_destinations: Vec<DestFilter>,
    pub dynamically_included_destinations: Vec<DestFilter>,
    pub statically_included_destinations: Vec<DestFilter>,
    /// `staticBridge` (false): no advisories, only the statically included destinations.
    pub static_bridge: bool,
    /// `suppressDuplicateQueueSubscriptions` (false), `suppressDuplicateTopicSubscriptions` (true).
    pub suppress_duplicate_queue_subscriptions: bool,
    pub suppress_duplicate_topic_subscriptions: bool,
    /// `alwaysSyncSend` (true since 5.8, AMQ-3331).
    pub always_sync_send: bool,
    pub backoff: BackoffConfig,
}

impl ConnectorConfig {
    /// A connector with ActiveMQ's defaults.
    pub fn new(name: &str, uris: Vec<Addr>) -> ConnectorConfig {
        ConnectorConfig {
            name: name.to_string(),
            uris,
            duplex: false,
            network_ttl: 1,
            message_ttl: 1,
            consumer_ttl: 1,
            conduit_subscriptions: true,
            decrease_network_consumer_priority: false,
            prefetch_size: 1000,
            dynamic_only: false,
            excluded_destinations: Vec::new(),
            dynamically_included_destinations: Vec::new(),
            statically_included_destinations: Vec::new(),
            static_bridge: false,
            suppress_duplicate_queue_subscriptions: false,
            suppress_duplicate_topic_subscriptions: true,
            always_sync_send: true,
            backoff: BackoffConfig::default(),
        }
    }
}

/// Why a bridge went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BridgeDown {
    /// The remote closed the connection, or its host answered with a reset.
    Closed,
    /// The inactivity monitor: nothing read for `maxInactivityDuration`.
    Inactive,
    /// A duplex initiator replaced this mirror, or the remote said it is this broker (a loop).
    Replaced,
    /// This broker stopped (demoted): its network connectors stop with it.
    Stopped,
}

/// What the history learns of one bridge (per connector and URI on the initiator's side).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BridgeEvent {
    /// The discovery agent starts an attempt.
    Attempt,
    /// The remote host answered, nobody listens (a slave's closed port).
    Refused,
    /// No answer within `connectionTimeout`.
    TimedOut,
    /// The handshake is done: `BrokerInfo` exchanged, advisories subscribed.
    Up {
        remote: BrokerId,
    },
    Down {
        reason: BridgeDown,
    },
    /// `maxReconnectAttempts` quick failures in a row: the URI is not retried.
    GivenUp,
    /// The remote `BrokerInfo` named this broker: disposed without retry.
    Loop,
}

/// The identity of one bridge in the history: the connector, the URI, and which side of the
/// connection (a duplex responder's mirror has the initiator's connector name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BridgeName {
    pub connector: String,
    pub uri: Addr,
    /// The duplex mirror on the responder's side.
    pub mirror: bool,
}
