//! Network connectors (model/activemq.md §3): a master's bridges to other brokers.
//!
//! A `<networkConnector uri="static:(u1,u2,...)">` runs one bridge per URI, each reconnecting
//! on its own by the static discovery agent's back-off (`discovery`). A bridge's connection is
//! an OpenWire `TcpTransport` (connect timeout, inactivity monitor); once up it exchanges
//! `BrokerInfo` (a bridge to its own broker is a loop and is dropped for good), subscribes to the
//! remote's consumer advisories, and for each remote consumer it may serve (`consumerTTL`, the
//! include/exclude lists, conduit subscriptions) runs a *network consumer* on the local
//! destination. What the local queue dispatches to that consumer is forwarded to the remote
//! with the local broker added to its path, and acked locally only once the remote answered —
//! after its store, and so after its quorum wait. A duplex bridge's remote builds a mirror
//! bridge on the same connection that forwards the other way (`Forwarder` is the half both
//! share).
//!
//! Pure state: the broker (`broker/network.rs`) applies it to its destinations and store.

pub mod discovery;
pub mod filter;
pub mod proto;

pub use discovery::{Backoff, BackoffConfig};
pub use filter::DestFilter;
pub use proto::{BridgeDown, BridgeEvent, BridgeName, ConnectorConfig};

use crate::destination::NetworkConsumer;
use crate::io::{Addr, ConnId};
use crate::messaging::{BrokerId, BrokerInfo, BrokerPath, ConsumerAdvisory, ConsumerKey, Dest, MsgId};
use crate::transport::TcpTransport;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Network consumers are numbered from here; applications' consumer ids stay below it.
pub const NETWORK_CONSUMER_BASE: u32 = 3_000_000_000;
/// `consumerPriorityBase` of a network consumer under `decreaseNetworkConsumerPriority`.
pub const CONSUMER_PRIORITY_BASE: i32 = -5;

/// Where one initiator bridge is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for its first attempt (connectors start their URIs one after another) or for
    /// the back-off's timer.
    Waiting,
    Connecting,
    /// Connected, our `BrokerInfo` sent, the remote's awaited.
    Handshake,
    Up,
    /// Out of attempts, or a loop: never retried (until the connector restarts).
    Done,
}

/// One bridge of a connector: the initiator side, towards one URI.
#[derive(Debug, Clone)]
pub struct Bridge {
    pub connector: usize,
    pub uri: usize,
    pub target: Addr,
    pub phase: Phase,
    pub backoff: Backoff,
    pub tcp: TcpTransport,
    /// The forwarding half, once the handshake is done.
    pub forwarder: Option<Forwarder>,
}

impl Bridge {
    pub fn invariants(&self) {
        self.tcp.invariants();
        match self.phase {
            Phase::Up => assert!(self.forwarder.is_some() && self.tcp.is_connected(), "up without a link"),
            Phase::Handshake => assert!(self.tcp.is_connected() && self.forwarder.is_none()),
            Phase::Connecting => assert!(self.tcp.conn().is_some() && !self.tcp.is_connected()),
            Phase::Waiting | Phase::Done => {
                assert!(self.tcp.conn().is_none() && self.forwarder.is_none(), "an idle bridge holds a link")
            }
        }
        if let Some(f) = &self.forwarder {
            assert_eq!(Some(f.conn), self.tcp.conn());
            f.invariants();
        }
    }
}

/// A demand subscription: one network consumer on a local destination, and the remote
/// consumers it stands for (several under conduit subscriptions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// The local destination or topic slot the network consumer reads.
    pub slot: Dest,
    /// The destination as advertised.
    pub dest: Dest,
    pub remote_consumers: BTreeSet<u32>,
    /// From `staticallyIncludedDestinations`: kept without remote consumers.
    pub is_static: bool,
    /// No remote consumer is left: the bridge waits for its forwards in flight
    /// (`waitForCompletion`) before it removes the network consumer.
    pub closing: bool,
}

/// The forwarding half of a bridge, on either side of its connection.
#[derive(Debug, Clone)]
pub struct Forwarder {
    pub config: Rc<ConnectorConfig>,
    pub conn: ConnId,
    pub local: BrokerId,
    pub remote: BrokerInfo,
    /// Local network consumer id → its demand.
    pub demand: BTreeMap<u32, Demand>,
    /// Forwards awaiting the remote's response.
    pub inflight: Inflight,
    pub last_corr: u64,
}

/// A forwarder's forwards awaiting the remote's response: correlation id → (slot, network
/// consumer, message id), and per network consumer its slot and how many it has in flight, so
/// that "has this consumer forwards in flight" (`waitForCompletion`) and the invariants do not
/// walk every forward.
#[derive(Debug, Clone, Default)]
pub struct Inflight {
    forwards: BTreeMap<u64, (Dest, u32, MsgId)>,
    by_consumer: BTreeMap<u32, (Dest, usize)>,
}

impl Inflight {
    pub fn insert(&mut self, corr: u64, slot: Dest, consumer: u32, id: MsgId) {
        let previous = self.forwards.insert(corr, (slot, consumer, id));
        assert!(previous.is_none(), "correlation id {corr} forwarded twice");
        let (consumer_slot, count) = self.by_consumer.entry(consumer).or_insert((slot, 0));
        assert!(*consumer_slot == slot, "network consumer {consumer} forwards from two slots");
        *count += 1;
    }

    /// The forward `corr` was answered: (slot, network consumer, message id).
    pub fn remove(&mut self, corr: u64) -> Option<(Dest, u32, MsgId)> {
        let forward = self.forwards.remove(&corr)?;
        let Entry::Occupied(mut entry) = self.by_consumer.entry(forward.1) else {
            panic!("a forward in flight not counted for its consumer");
        };
        entry.get_mut().1 -= 1;
        if entry.get().1 == 0 {
            entry.remove();
        }
        Some(forward)
    }

    /// Whether network consumer `consumer` has forwards awaiting a response.
    pub fn has_consumer(&self, consumer: u32) -> bool {
        self.by_consumer.contains_key(&consumer)
    }

    /// The network consumers with forwards in flight, and their slots.
    pub fn consumers(&self) -> impl Iterator<Item = (u32, &Dest)> {
        self.by_consumer.iter().map(|(consumer, (slot, _))| (*consumer, slot))
    }

    /// The forwards, by correlation id.
    pub fn values(&self) -> impl Iterator<Item = &(Dest, u32, MsgId)> {
        self.forwards.values()
    }

    /// The per-consumer counts add up to the forwards (each kept by `insert` and `remove`
    /// only); `full_check` compares them entry by entry.
    pub fn invariants(&self) {
        let counted: usize = self.by_consumer.values().map(|(_, count)| *count).sum();
        assert_eq!(counted, self.forwards.len(), "forwards in flight miscounted per consumer");
    }

    /// Every forward against its consumer's count and slot: O(forwards), for tests.
    #[cfg(test)]
    pub fn full_check(&self) {
        let mut by_consumer: BTreeMap<u32, (Dest, usize)> = BTreeMap::new();
        for (slot, consumer, _) in self.forwards.values() {
            let (consumer_slot, count) = by_consumer.entry(*consumer).or_insert((*slot, 0));
            assert_eq!(consumer_slot, slot);
            *count += 1;
        }
        assert_eq!(by_consumer, self.by_consumer);
    }
}

/// What a consumer advisory asks of a forwarder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemandChange {
    None,
    /// Start a network consumer (its id is chosen by the broker) on `slot`.
    Add {
        dest: Dest,
        remote_consumer: u32,
        network: NetworkConsumer,
        prefetch: u32,
    },
    /// Stop network consumer `consumer` once its forwards in flight are answered: no remote
    /// consumer is left behind it.
    Remove {
        consumer: u32,
    },
}

impl Forwarder {
    pub fn new(config: Rc<ConnectorConfig>, conn: ConnId, local: BrokerId, remote: BrokerInfo) -> Forwarder {
        Forwarder {
            config,
            conn,
            local,
            remote,
            demand: BTreeMap::new(),
            inflight: Inflight::default(),
            last_corr: 0,
        }
    }

    /// `isPermissableDestination` (5.15 order: excluded first, then static, then dynamic).
    pub fn permits(&self, dest: &Dest) -> bool {
        let c = &self.config;
        if c.excluded_destinations.iter().any(|f| f.matches(dest)) {
            return false;
        }
        if c.statically_included_destinations.iter().any(|f| f.matches(dest)) {
            return true;
        }
        if c.static_bridge {
            return false;
        }
        c.dynamically_included_destinations.is_empty()
            || c.dynamically_included_destinations.iter().any(|f| f.matches(dest))
    }

    /// A network consumer for a remote consumer at `path` with `priority`, standing for `ids`.
    pub fn network_consumer(
        &self,
        path: &BrokerPath,
        priority: i32,
        ids: Vec<ConsumerKey>,
    ) -> NetworkConsumer {
        let path = path.with(self.remote.id);
        let priority = if self.config.decrease_network_consumer_priority {
            let extra = if path.len() > 1 { path.len() as i32 + 1 } else { 0 };
            CONSUMER_PRIORITY_BASE - extra
        } else {
            priority
        };
        NetworkConsumer { path, remote: self.remote.id, message_ttl: self.config.message_ttl, priority, ids }
    }

    /// `serviceRemoteConsumerAdvisory` for one advisory.
    pub fn on_advisory(&mut self, advisory: &ConsumerAdvisory) -> DemandChange {
        if !advisory.added {
            let Some((&consumer, demand)) =
                self.demand.iter_mut().find(|(_, d)| d.remote_consumers.contains(&advisory.consumer))
            else {
                return DemandChange::None;
            };
            demand.remote_consumers.remove(&advisory.consumer);
            if demand.remote_consumers.is_empty() && !demand.is_static {
                demand.closing = true;
                return DemandChange::Remove { consumer };
            }
            return DemandChange::None;
        }
        // consumerTTL: only consumers closer than `consumerTTL` brokers create demand.
        if advisory.path.len() as u64 >= self.config.consumer_ttl as u64 {
            return DemandChange::None;
        }
        if advisory.path.contains(self.local) || !self.permits(&advisory.dest) {
            return DemandChange::None;
        }
        if self.demand.values().any(|d| d.remote_consumers.contains(&advisory.consumer)) {
            return DemandChange::None;
        }
        // Conduit: a remote consumer of a destination that already has demand joins it
        // (`canConduit`: topics, and queues whose remote consumer is not itself a network's).
        if self.config.conduit_subscriptions {
            let can_conduit = matches!(advisory.dest, Dest::Topic(_)) || advisory.path.is_empty();
            if can_conduit {
                if let Some(demand) = self.demand.values_mut().find(|d| d.dest == advisory.dest && !d.closing)
                {
                    demand.remote_consumers.insert(advisory.consumer);
                    return DemandChange::None;
                }
            }
        }
        DemandChange::Add {
            dest: advisory.dest,
            remote_consumer: advisory.consumer,
            network: self.network_consumer(&advisory.path, advisory.priority, self.network_ids(advisory)),
            prefetch: self.config.prefetch_size,
        }
    }

    /// `createDemandSubscription`: the advisory's `networkConsumerIds` plus the remote
    /// consumer's own id.
    pub fn network_ids(&self, advisory: &ConsumerAdvisory) -> Vec<ConsumerKey> {
        let mut ids = advisory.network_ids.clone();
        ids.push(ConsumerKey { broker: self.remote.id, consumer: advisory.consumer });
        ids
    }

    /// `isDuplicateSuppressionOff` for a destination.
    pub fn suppresses_duplicates(&self, dest: &Dest) -> bool {
        match dest {
            Dest::Queue(_) => self.config.suppress_duplicate_queue_subscriptions,
            Dest::Topic(_) => self.config.suppress_duplicate_topic_subscriptions,
        }
    }

    /// The next correlation id of a forward.
    pub fn next_corr(&mut self) -> u64 {
        self.last_corr = self.last_corr.checked_add(1).expect("2^64 forwards");
        self.last_corr
    }

    pub fn invariants(&self) {
        self.inflight.invariants();
        // Every forward in flight belongs to a network consumer the bridge runs, on that
        // consumer's slot: checked per consumer (each has one slot, `Inflight::insert`), not
        // per forward, since thousands can be in flight behind a partition.
        for (consumer, slot) in self.inflight.consumers() {
            assert!(
                self.demand.get(&consumer).is_some_and(|d| d.slot == *slot),
                "a forward in flight for a consumer the bridge does not run"
            );
        }
        for demand in self.demand.values() {
            assert!(
                demand.is_static || demand.closing || !demand.remote_consumers.is_empty(),
                "demand without a remote consumer"
            );
        }
    }
}

#[cfg(test)]
mod tests;
