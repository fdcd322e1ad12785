//! What clients and brokers say to each other about messages: a reduced OpenWire (and STOMP,
//! which maps onto the same commands with different rules). model/activemq.md §4.

use crate::time::Time;
use std::fmt;

/// A destination's name, shared by every message copy that names it (a clone is a reference
/// count, not an allocation). Hashes and orders as the string it holds.
pub type Name = std::sync::Arc<str>;

/// A destination. Names are short; the dead-letter queue is `Queue(DLQ)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dest {
    Queue(Name),
    Topic(Name),
}

/// `ActiveMQ.DLQ`, the shared dead-letter queue of the default policy.
pub const DLQ: &str = "ActiveMQ.DLQ";

impl Dest {
    pub fn is_dlq(&self) -> bool {
        matches!(self, Dest::Queue(name) if &**name == DLQ)
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Queue(name) => write!(f, "queue://{name}"),
            Dest::Topic(name) => write!(f, "topic://{name}"),
        }
    }
}

/// The internal queue behind one topic subscription (durable by name, or one consumer's):
/// `orders#audit`. Its messages, acks and redeliveries work as a queue's.
pub fn slot_name(topic: &str, sub: &str) -> Name {
    format!("{topic}#{sub}").into()
}

/// A producer id and its sequence number: OpenWire's `MessageId` (producerId + producerSequenceId).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId {
    pub producer: u32,
    pub seq: u64,
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}:{}", self.producer, self.seq)
    }
}

/// A message as it travels and is stored. `id` is the wire identity the broker audits; `key` is
/// the application's identity (the body), which the checker accounts by. They differ only when a
/// client without failover resends on a new connection (STOMP): new producer id, same body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Msg {
    pub id: MsgId,
    pub key: MsgId,
    pub dest: Dest,
    pub persistent: bool,
    /// Body size in bytes.
    pub size: u32,
    /// When the application handed it to the client library (for end-to-end latency).
    pub sent_at: Time,
}

/// How a consumer acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AckMode {
    /// JMS AUTO_ACKNOWLEDGE: the client acks each message after the listener returns.
    Auto,
    /// JMS CLIENT_ACKNOWLEDGE / STOMP `client-individual`: the application acks after processing.
    Client,
    /// STOMP `ack:auto`: the broker considers a message acked once it is dispatched.
    OnDispatch,
}

/// A consumer: its id is stable across failover reconnects (state replay keeps ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsumerInfo {
    pub consumer: u32,
    pub dest: Dest,
    pub prefetch: u32,
    pub priority: u8,
    pub ack: AckMode,
    /// A durable topic subscription's name (client id + subscription name).
    pub durable: Option<String>,
}

/// Client → broker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ToBroker {
    /// `ConnectionInfo`; `reconnect` is `failoverReconnect` (a failover transport's replay).
    Connect {
        client: u32,
        reconnect: bool,
    },
    Subscribe(ConsumerInfo),
    /// A send; `corr` is set when a response is required (a sync send, a STOMP receipt).
    Send {
        msg: Msg,
        corr: Option<u64>,
    },
    /// A standard (individual) ack. For an `OnDispatch` consumer, which the broker acked at
    /// dispatch, it only returns room in the dispatch window (the socket drained).
    Ack {
        consumer: u32,
        id: MsgId,
    },
    /// The client's duplicate audit rejects a message: the broker moves it to the DLQ.
    PoisonAck {
        consumer: u32,
        id: MsgId,
    },
    /// The inactivity monitor's keepalive.
    KeepAlive,
}

/// Broker → client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FromBroker {
    Response {
        corr: u64,
    },
    /// The inactivity monitor's keepalive.
    KeepAlive,
    Deliver {
        consumer: u32,
        msg: Msg,
        redelivered: u32,
    },
}

/// Bytes a command takes on the wire besides a message body (header, properties, framing).
pub const WIRE_OVERHEAD: u64 = 200;
