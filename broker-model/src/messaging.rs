//! What clients and brokers say to each other about messages: a reduced OpenWire (and STOMP,
//! which maps onto the same commands with different rules). model/activemq.md §4.

use crate::time::Time;
use std::fmt;

/// A destination's name: interned, so every message copy that names it copies one pointer (no
/// allocation, no reference count to touch). Compares, orders and hashes as the string it holds,
/// so nothing depends on where the string lives.
///
/// Interned names live for the rest of the process: there are as many as the scenarios name
/// destinations, plus one `topic#subscription` slot per durable subscription and per
/// non-durable topic consumer (`topic#c<consumer id>`, whose ids are bounded by the clients'
/// consumers): a few kilobytes.
///
/// A thin pointer (to a leaked `String`), so a `Dest` is 16 bytes and a message 72.
#[derive(Clone, Copy)]
pub struct Name(&'static String);

type Interned = std::collections::BTreeMap<&'static str, &'static String>;
static NAMES: std::sync::Mutex<Interned> = std::sync::Mutex::new(std::collections::BTreeMap::new());

impl Name {
    pub fn new(name: &str) -> Name {
        let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(interned) = names.get(name) {
            return Name(interned);
        }
        let interned: &'static String = Box::leak(Box::new(name.to_owned()));
        names.insert(interned.as_str(), interned);
        Name(interned)
    }

    pub fn as_str(&self) -> &'static str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Name {
        Name::new(name)
    }
}

impl From<String> for Name {
    fn from(name: String) -> Name {
        Name::new(&name)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        // Interned: the same string is the same pointer.
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        if self == other {
            return std::cmp::Ordering::Equal;
        }
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A destination. Names are short; the dead-letter queue is `Queue(DLQ)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// A broker's identity in a network of brokers (`BrokerId`). `RegionBroker.getBrokerId`
/// makes a new one on every broker start (no `brokerId` attribute is set), so a restarted or
/// failed-over broker is a new broker to its peers' loop and origin checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BrokerId(pub u64);

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ID:{:08x}", self.0 as u32)
    }
}

/// A consumer across the cluster: the broker it was advertised by and its id there
/// (ActiveMQ's `ConsumerId` is globally unique; the model's ids are per broker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsumerKey {
    pub broker: BrokerId,
    pub consumer: u32,
}

/// The brokers a message or a consumer advisory crossed, oldest first (`brokerPath`). Empty
/// for everything a client sent or subscribed directly: no allocation then, and one word in
/// every message (a thin pointer: every copy of a message moves through the event queue).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[allow(clippy::box_collection)]
pub struct BrokerPath(Option<Box<Vec<BrokerId>>>);

impl BrokerPath {
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, id: BrokerId) -> bool {
        self.0.as_ref().is_some_and(|p| p.contains(&id))
    }

    /// This path with `id` appended (a bridge forwarding through its broker).
    pub fn with(&self, id: BrokerId) -> BrokerPath {
        let mut ids: Vec<BrokerId> = self.ids().to_vec();
        ids.push(id);
        BrokerPath(Some(Box::new(ids)))
    }

    pub fn ids(&self) -> &[BrokerId] {
        self.0.as_deref().map_or(&[], |ids| ids.as_slice())
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
    /// The brokers that forwarded it here (network bridges), oldest first.
    pub path: BrokerPath,
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

/// What a broker says of itself when a connection starts (`BrokerInfo`); a network bridge
/// sends its own with `network` set, and `duplex` asks the other side for a mirror bridge.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerInfo {
    pub id: BrokerId,
    /// `brokerName` (all six brokers of the seed share one).
    pub name: String,
    pub network: bool,
    pub duplex: bool,
    /// The network connector's `name` (for the duplex mirror's identity).
    pub connector: String,
    /// A duplex bridge's configuration (`networkProperties`): the mirror runs with it.
    pub config: Option<std::rc::Rc<crate::bridge::ConnectorConfig>>,
}

/// A consumer advisory (`ActiveMQ.Advisory.Consumer.<dest>`): a consumer came or went on the
/// broker that sends it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsumerAdvisory {
    pub consumer: u32,
    pub dest: Dest,
    pub priority: i32,
    /// A network consumer's brokers (empty for a client's own consumer).
    pub path: BrokerPath,
    /// The consumers a network consumer stands for (`networkConsumerIds`; empty for a
    /// client's own consumer): how a broker tells two bridges' subscriptions for one remote
    /// consumer apart from two consumers.
    pub network_ids: Vec<ConsumerKey>,
    /// A durable topic subscriber (its bridge keeps a durable `NC-DS_…` subscription for it).
    pub durable: bool,
    /// The consumer is added (a `ConsumerInfo`) or removed (a `RemoveInfo`).
    pub added: bool,
}

impl ConsumerAdvisory {
    /// A `RemoveInfo` advisory: consumer `consumer` of `dest` is gone.
    pub fn removed(consumer: u32, dest: Dest) -> ConsumerAdvisory {
        ConsumerAdvisory {
            consumer,
            dest,
            priority: 0,
            path: BrokerPath::default(),
            network_ids: Vec::new(),
            durable: false,
            added: false,
        }
    }
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
    /// A network bridge (or any connection) introduces its broker.
    BrokerInfo(BrokerInfo),
    /// A bridge's advisory consumer on `ActiveMQ.Advisory.Consumer.>`: the broker answers with
    /// an advisory for every consumer it has, then for every change.
    SubscribeAdvisories,
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
    /// The broker's own `BrokerInfo`, answering a network connection's.
    BrokerInfo(BrokerInfo),
    Advisory(ConsumerAdvisory),
}

/// Bytes a command takes on the wire besides a message body (header, properties, framing).
pub const WIRE_OVERHEAD: u64 = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_interned_and_compare_as_their_strings() {
        let b = Name::from("zz-interned-second");
        let a = Name::from(String::from("aa-interned-first"));
        assert_eq!(Name::from("aa-interned-first"), a);
        assert!(std::ptr::eq(Name::from("aa-interned-first").as_str(), a.as_str()), "one copy");
        assert_ne!(a, b);
        // Ordered by content, not by interning order or address.
        assert!(a < b);
        assert_eq!(Dest::Queue(a).to_string(), "queue://aa-interned-first");
        assert!(Dest::Queue(DLQ.into()).is_dlq());
    }
}
