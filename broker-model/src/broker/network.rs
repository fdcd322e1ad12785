//! A master's network connectors (`crate::bridge`, model/activemq.md §3) applied to its
//! destinations and store: `DiscoveryNetworkConnector` starting one bridge per URI after the
//! transport connectors, each bridge's connection and handshake, demand turned into network
//! consumers on local destinations, forwards acked locally only when the remote answered,
//! duplex mirrors on the responder's side, and the consumer advisories every bridge reads.

use super::*;
use crate::bridge::{
    Bridge, BridgeDown, BridgeEvent, BridgeName, DemandChange, Forwarder, Phase, NETWORK_CONSUMER_BASE,
};
use crate::destination::NetworkConsumer;
use crate::messaging::{AckMode, BrokerId, BrokerInfo, BrokerPath, ConsumerAdvisory, ConsumerInfo};
use crate::transport::{TcpTransport, TransportEvent, TransportTimer};
use serve::{consumed_op, dispatch};
use std::collections::BTreeSet;
use writer::Pending;

/// The network side of one master store.
#[derive(Debug, Clone, Default)]
pub(super) struct Network {
    /// This broker's `BrokerId` (new with every `BrokerService`).
    pub(super) id: Option<BrokerId>,
    /// Its OpenWire listening address (a mirror's name in the history).
    pub(super) listen: Option<Addr>,
    /// Initiator bridges by their `Component::Bridge` id.
    pub(super) bridges: BTreeMap<u32, Bridge>,
    /// Duplex mirrors (the responder's half of a duplex bridge), by their connection.
    pub(super) mirrors: BTreeMap<ConnId, Forwarder>,
    /// Connections with an advisory consumer (`ActiveMQ.Advisory.Consumer.>`).
    pub(super) advisory_subscribers: BTreeSet<ConnId>,
    /// Bridges whose first attempt waits for the one before it: a connector's start walks
    /// its URIs in turn, each blocking in its TCP connect (`networkConnectorStartAsync=false`).
    pub(super) start_queue: VecDeque<u32>,
    /// The bridge whose first attempt is under way (the start queue waits for it).
    pub(super) starting: Option<u32>,
    pub(super) last_consumer: u32,
    /// Set only by tests that show a checker catches a bridge bug.
    pub(super) planted_bug: Option<PlantedBug>,
    /// `brokerName`, for the durable network subscriptions' names.
    pub(super) broker_name: String,
}

/// Why an initiator bridge's attempt or connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    Refused,
    TimedOut,
    Closed,
    Inactive,
}

impl Network {
    fn forwarder(&mut self, conn: ConnId) -> Option<&mut Forwarder> {
        if let Some(Component::Bridge { id }) = conn.owner() {
            return self.bridges.get_mut(&id).and_then(|b| b.forwarder.as_mut()).filter(|f| f.conn == conn);
        }
        self.mirrors.get_mut(&conn)
    }

    fn new_consumer(&mut self) -> u32 {
        self.last_consumer = self.last_consumer.checked_add(1).expect("2^32 network consumers");
        NETWORK_CONSUMER_BASE.checked_add(self.last_consumer).expect("network consumer ids exhausted")
    }

    pub(super) fn invariants(&self, destinations: &Destinations) {
        if self.bridges.is_empty() && self.mirrors.is_empty() {
            return;
        }
        // A bridge's invariants include its forwarder's; a mirror's are checked here.
        for bridge in self.bridges.values() {
            bridge.invariants();
        }
        for mirror in self.mirrors.values() {
            mirror.invariants();
        }
        let forwarders =
            self.bridges.values().filter_map(|b| b.forwarder.as_ref()).chain(self.mirrors.values());
        for f in forwarders {
            for (consumer, demand) in &f.demand {
                let runs = destinations.queues.get(&demand.slot).is_some_and(|q| q.has_consumer(*consumer));
                assert!(runs, "demand for {} without its network consumer", demand.dest);
            }
        }
    }
}

impl Broker {
    /// This broker's `BrokerId` for the running `BrokerService`: fixed by its node id and
    /// instance (no random draw), different on every start.
    pub(super) fn broker_id(&self, instance: u32) -> BrokerId {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.node_id.as_bytes().iter().chain(&instance.to_le_bytes()) {
            hash ^= *byte as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        BrokerId(hash)
    }

    pub(super) fn own_info(&self, id: BrokerId, duplex_config: Option<Rc<ConnectorConfig>>) -> BrokerInfo {
        BrokerInfo {
            id,
            name: self.config.broker_name.clone(),
            network: duplex_config.is_some(),
            duplex: duplex_config.as_ref().is_some_and(|c| c.duplex),
            connector: duplex_config.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
            config: duplex_config,
        }
    }

    /// `startAllConnectors`, after the transport connectors: every connector's bridges, their
    /// first attempts one after another.
    pub(super) fn start_network(&mut self, now: Time, fx: &mut dyn Effects) {
        let own = [self.config.openwire_port, self.config.stomp_port];
        let my_host = self.config.resolver.get(&self.config.hostname).copied();
        let number = self.instance.as_ref().expect("a master").number;
        let id = self.broker_id(number);
        let mut bridges = Vec::new();
        for (c, config) in self.config.network_connectors.iter().enumerate() {
            for (u, target) in config.uris.iter().enumerate() {
                // A URI that is one of this broker's own transport connectors is skipped.
                if Some(target.host) == my_host && own.contains(&target.port) {
                    continue;
                }
                self.last_bridge = self.last_bridge.checked_add(1).expect("2^32 bridges");
                let bridge = Bridge {
                    connector: c,
                    uri: u,
                    target: *target,
                    phase: Phase::Waiting,
                    backoff: crate::bridge::Backoff::new(config.backoff, now),
                    tcp: TcpTransport::new(Component::Bridge { id: self.last_bridge }, true),
                    forwarder: None,
                };
                bridges.push((self.last_bridge, bridge));
            }
        }
        let listen = my_host.map(|host| Addr { host, port: self.config.openwire_port });
        let master = master_of(&mut self.instance).expect("a master");
        master.network.id = Some(id);
        master.network.listen = listen;
        master.network.planted_bug = self.config.planted_bug;
        master.network.broker_name = self.config.broker_name.clone();
        for (bid, bridge) in bridges {
            master.network.bridges.insert(bid, bridge);
            master.network.start_queue.push_back(bid);
        }
        self.start_next_bridge(now, fx);
    }

    fn bridge_name(&self, bridge: &Bridge) -> BridgeName {
        let config = &self.config.network_connectors[bridge.connector];
        BridgeName { connector: config.name.clone(), uri: bridge.target, mirror: false }
    }

    fn observe_bridge(&self, bridge: &Bridge, event: BridgeEvent, fx: &mut dyn Effects) {
        let name = self.bridge_name(bridge);
        fx.push(Effect::Observe { observation: Observation::Bridge { name, event } });
    }

    /// The broker stops: every bridge and mirror that is up goes down with it (the history
    /// hears it; the connections close with the broker's).
    pub(super) fn observe_network_stop(&self, fx: &mut dyn Effects) {
        let Some(master) = self.master_store() else { return };
        for bridge in master.network.bridges.values().filter(|b| b.phase == Phase::Up) {
            self.observe_bridge(bridge, BridgeEvent::Down { reason: BridgeDown::Stopped }, fx);
        }
        let listen = master.network.listen.unwrap_or(Addr { host: HostId(0), port: 0 });
        for mirror in master.network.mirrors.values() {
            let name = BridgeName { connector: mirror.config.name.clone(), uri: listen, mirror: true };
            let event = BridgeEvent::Down { reason: BridgeDown::Stopped };
            fx.push(Effect::Observe { observation: Observation::Bridge { name, event } });
        }
    }

    /// The serial start: the next bridge's first attempt, once the one before it resolved.
    fn start_next_bridge(&mut self, now: Time, fx: &mut dyn Effects) {
        let Some(master) = master_of(&mut self.instance) else { return };
        if master.network.starting.is_some() {
            return;
        }
        let Some(id) = master.network.start_queue.pop_front() else { return };
        master.network.starting = Some(id);
        self.attempt_bridge(now, id, fx);
    }

    fn attempt_bridge(&mut self, now: Time, id: u32, fx: &mut dyn Effects) {
        let Some(master) = master_of(&mut self.instance) else { return };
        let Some(mut bridge) = master.network.bridges.remove(&id) else { return };
        assert_eq!(bridge.phase, Phase::Waiting);
        bridge.backoff.attempt(now);
        bridge.tcp.connect(now, bridge.target, fx);
        bridge.phase = Phase::Connecting;
        self.observe_bridge(&bridge, BridgeEvent::Attempt, fx);
        master_of(&mut self.instance).expect("checked").network.bridges.insert(id, bridge);
    }

    /// The first attempt of `id` resolved (connected or failed): the serial start goes on.
    fn resolved(&mut self, now: Time, id: u32, fx: &mut dyn Effects) {
        let Some(master) = master_of(&mut self.instance) else { return };
        if master.network.starting == Some(id) {
            master.network.starting = None;
            self.start_next_bridge(now, fx);
        }
    }

    pub(super) fn on_bridge_connected(&mut self, now: Time, id: u32, conn: ConnId, fx: &mut dyn Effects) {
        let Some(master) = master_of(&mut self.instance) else {
            fx.push(Effect::Close { conn });
            return;
        };
        let local = master.network.id.expect("a started network");
        let Some(bridge) = master.network.bridges.get_mut(&id).filter(|b| b.tcp.conn() == Some(conn)) else {
            fx.push(Effect::Close { conn });
            return;
        };
        bridge.tcp.on_connected(now, fx);
        bridge.phase = Phase::Handshake;
        let config = Rc::clone(&self.config.network_connectors[bridge.connector]);
        let mut info = self.own_info(local, Some(config));
        info.network = true;
        let message = Message::ToBroker(ToBroker::BrokerInfo(info));
        fx.push(Effect::Send { conn, message });
        self.resolved(now, id, fx);
    }

    /// An attempt or a bridge of `id` failed: its network consumers go (their messages back
    /// to the queue), and the discovery agent waits before the next attempt.
    pub(super) fn on_bridge_failed(&mut self, now: Time, id: u32, failure: Failure, fx: &mut dyn Effects) {
        let Some(master) = master_of(&mut self.instance) else { return };
        let Some(mut bridge) = master.network.bridges.remove(&id) else { return };
        let was_up = bridge.phase == Phase::Up || bridge.phase == Phase::Handshake;
        if let Some(forwarder) = bridge.forwarder.take() {
            master.clients.remove(&forwarder.conn);
            master.network.advisory_subscribers.remove(&forwarder.conn);
            stop_forwarder(master, forwarder, fx);
        }
        bridge.tcp.drop_conn();
        let event = match (failure, was_up) {
            (Failure::Refused, _) => BridgeEvent::Refused,
            (Failure::TimedOut, false) => BridgeEvent::TimedOut,
            (Failure::Inactive, _) | (Failure::TimedOut, true) => {
                BridgeEvent::Down { reason: BridgeDown::Inactive }
            }
            (Failure::Closed, true) => BridgeEvent::Down { reason: BridgeDown::Closed },
            (Failure::Closed, false) => BridgeEvent::Refused,
        };
        self.observe_bridge(&bridge, event, fx);
        let never = self.config.planted_bug == Some(PlantedBug::BridgeNeverRetries) && was_up;
        match bridge.backoff.failed(now).filter(|_| !never) {
            Some(wait) => {
                bridge.phase = Phase::Waiting;
                let timer = bridge.tcp.timer(TransportTimer::Reconnect);
                fx.push(Effect::SetTimer { timer, at: now.add_ms(wait) });
            }
            None => {
                bridge.phase = Phase::Done;
                self.observe_bridge(&bridge, BridgeEvent::GivenUp, fx);
            }
        }
        master_of(&mut self.instance).expect("checked").network.bridges.insert(id, bridge);
        self.resolved(now, id, fx);
    }

    pub(super) fn on_bridge_timer(&mut self, now: Time, id: u32, kind: TransportTimer, fx: &mut dyn Effects) {
        let Some(master) = master_of(&mut self.instance) else { return };
        let Some(bridge) = master.network.bridges.get_mut(&id) else { return };
        match kind {
            TransportTimer::Reconnect => {
                if bridge.phase == Phase::Waiting && !master.network.start_queue.contains(&id) {
                    self.attempt_bridge(now, id, fx);
                }
            }
            _ => match bridge.tcp.on_timer(now, kind, fx) {
                TransportEvent::None => {}
                TransportEvent::ConnectTimedOut => self.on_bridge_failed(now, id, Failure::TimedOut, fx),
                TransportEvent::Inactive => self.on_bridge_failed(now, id, Failure::Inactive, fx),
            },
        }
    }

    /// What the remote broker says on an initiator bridge's connection.
    pub(super) fn on_bridge_reply(
        &mut self,
        now: Time,
        id: u32,
        conn: ConnId,
        reply: FromBroker,
        fx: &mut dyn Effects,
    ) {
        let Some(master) = master_of(&mut self.instance) else { return };
        let local = master.network.id.expect("a started network");
        let Some(bridge) = master.network.bridges.get_mut(&id).filter(|b| b.tcp.conn() == Some(conn)) else {
            return;
        };
        bridge.tcp.on_read(now);
        match reply {
            FromBroker::BrokerInfo(remote) if bridge.phase == Phase::Handshake => {
                if remote.id == local {
                    // A loop: both transports are disposed, and the bridge is not retried.
                    fx.push(Effect::Close { conn });
                    bridge.tcp.drop_conn();
                    bridge.phase = Phase::Done;
                    let bridge = bridge.clone();
                    self.observe_bridge(&bridge, BridgeEvent::Loop, fx);
                    return;
                }
                let config = Rc::clone(&self.config.network_connectors[bridge.connector]);
                let forwarder = Forwarder::new(Rc::clone(&config), conn, local, remote.clone());
                bridge.forwarder = Some(forwarder);
                bridge.phase = Phase::Up;
                if config.duplex {
                    // The remote's mirror speaks to this broker on the same connection.
                    let client = ClientConn { reconnect: false, openwire: false, last_read: now };
                    master.clients.insert(conn, client);
                }
                if !config.static_bridge {
                    fx.push(Effect::Send { conn, message: Message::ToBroker(ToBroker::SubscribeAdvisories) });
                }
                let bridge = master.network.bridges.get(&id).expect("checked").clone();
                self.observe_bridge(&bridge, BridgeEvent::Up { remote: remote.id }, fx);
                let master = master_of(&mut self.instance).expect("checked");
                setup_static_destinations(master, conn, fx);
            }
            FromBroker::BrokerInfo(_) | FromBroker::KeepAlive | FromBroker::Deliver { .. } => {}
            FromBroker::Advisory(advisory) => on_advisory(master, conn, &advisory, fx),
            FromBroker::Response { corr } => on_forward_response(master, conn, corr, fx),
        }
    }
}

/// The running master store, borrowed apart from the rest of the broker.
fn master_of(instance: &mut Option<Instance>) -> Option<&mut MasterStore> {
    match &mut instance.as_mut()?.store {
        Store::Master(master) => Some(master),
        _ => None,
    }
}

/// What a duplex mirror's remote (the initiator's broker) says on the mirror's connection.
pub(super) fn on_mirror_reply(
    master: &mut MasterStore,
    conn: ConnId,
    reply: FromBroker,
    fx: &mut dyn Effects,
) {
    if !master.network.mirrors.contains_key(&conn) {
        return;
    }
    match reply {
        FromBroker::Advisory(advisory) => on_advisory(master, conn, &advisory, fx),
        FromBroker::Response { corr } => on_forward_response(master, conn, corr, fx),
        FromBroker::BrokerInfo(_) | FromBroker::KeepAlive | FromBroker::Deliver { .. } => {}
    }
}

/// `TransportConnection.processBrokerInfo` on the responder: answer with this broker's info;
/// a duplex bridge gets a mirror on the same connection, replacing one of the same name and
/// remote broker.
pub(super) fn on_broker_info(
    master: &mut MasterStore,
    own: BrokerInfo,
    conn: ConnId,
    info: BrokerInfo,
    fx: &mut dyn Effects,
) {
    let listen = master.network.listen.unwrap_or(Addr { host: HostId(0), port: 0 });
    fx.push(Effect::Send { conn, message: Message::FromBroker(FromBroker::BrokerInfo(own.clone())) });
    let Some(config) = info.config.clone().filter(|_| info.network && info.duplex) else { return };
    if info.id == own.id {
        return;
    }
    let same: Vec<ConnId> = master
        .network
        .mirrors
        .iter()
        .filter(|(c, m)| **c != conn && m.remote.id == info.id && m.config.name == config.name)
        .map(|(c, _)| *c)
        .collect();
    for old in same {
        // "Stopping an existing active duplex connection".
        fx.push(Effect::Close { conn: old });
        drop_mirror(master, old, BridgeDown::Replaced, fx);
        master.clients.remove(&old);
        master.network.advisory_subscribers.remove(&old);
        let dests: Vec<Dest> = master.destinations.queues.keys().cloned().collect();
        let removed = master.destinations.remove_connection(old);
        advise_removed(master, removed, fx);
        for dest in dests {
            dispatch(master, &dest, fx);
        }
    }
    let name = BridgeName { connector: config.name.clone(), uri: listen, mirror: true };
    let static_bridge = config.static_bridge;
    let forwarder = Forwarder::new(config, conn, own.id, info.clone());
    master.network.mirrors.insert(conn, forwarder);
    if !static_bridge {
        fx.push(Effect::Send { conn, message: Message::ToBroker(ToBroker::SubscribeAdvisories) });
    }
    fx.push(Effect::Observe {
        observation: Observation::Bridge { name, event: BridgeEvent::Up { remote: info.id } },
    });
    setup_static_destinations(master, conn, fx);
}

/// A mirror's connection is gone: its network consumers go with it.
pub(super) fn drop_mirror(master: &mut MasterStore, conn: ConnId, reason: BridgeDown, fx: &mut dyn Effects) {
    let Some(forwarder) = master.network.mirrors.remove(&conn) else { return };
    let listen = master.network.listen.unwrap_or(Addr { host: HostId(0), port: 0 });
    let name = BridgeName { connector: forwarder.config.name.clone(), uri: listen, mirror: true };
    fx.push(Effect::Observe {
        observation: Observation::Bridge { name, event: BridgeEvent::Down { reason } },
    });
    stop_forwarder(master, forwarder, fx);
}

/// Removes a stopped forwarder's network consumers; what they had in flight goes back to the
/// head of its queue with a higher redelivery count (`Queue.removeSubscription`).
fn stop_forwarder(master: &mut MasterStore, forwarder: Forwarder, fx: &mut dyn Effects) {
    if master.network.planted_bug == Some(PlantedBug::BridgeDropsInflight) {
        for (slot, consumer, id) in forwarder.inflight.values() {
            if let Some(msg) = master.destinations.queue(slot).ack(*consumer, *id) {
                if let Some(op) = consumed_op(master, slot, &msg) {
                    master.writer.queue.push_back(Pending { op, sync: false, reply: None });
                }
            }
        }
    }
    for (consumer, demand) in forwarder.demand {
        remove_network_consumer(master, demand.slot, consumer, fx);
    }
}

fn remove_network_consumer(master: &mut MasterStore, slot: Dest, consumer: u32, fx: &mut dyn Effects) {
    let Some(queue) = master.destinations.queues.get_mut(&slot) else { return };
    queue.remove_consumer(consumer);
    let dest = master.destinations.advertised(&slot);
    advise(master, ConsumerAdvisory::removed(consumer, dest), fx);
    if master.destinations.subs.get(&slot).is_some_and(|s| !s.durable)
        && master.destinations.queues.get(&slot).is_some_and(|q| !q.has_consumers())
    {
        master.destinations.queues.remove(&slot);
        master.destinations.subs.remove(&slot);
    } else {
        dispatch(master, &slot, fx);
    }
}

/// `setupStaticDestinations`: a network consumer on every statically included queue named
/// without wildcards, with no remote consumer behind it.
fn setup_static_destinations(master: &mut MasterStore, conn: ConnId, fx: &mut dyn Effects) {
    let Some(forwarder) = master.network.forwarder(conn) else { return };
    let statics: Vec<Dest> = forwarder
        .config
        .statically_included_destinations
        .iter()
        .filter(|f| !f.topic && !f.pattern.contains('*') && !f.pattern.contains('>'))
        .map(|f| Dest::Queue(f.pattern.as_str().into()))
        .collect();
    for dest in statics {
        let network = forwarder_mut(master, conn).network_consumer(&BrokerPath::default(), 0, Vec::new());
        add_network_consumer(master, conn, dest, None, network, true, TopicSub::NonDurable, fx);
    }
    // Durable network subscriptions this connector left behind are re-activated at once,
    // unless `dynamicOnly` waits for the remote durable subscriber to come back.
    let forwarder = forwarder_mut(master, conn);
    if forwarder.config.dynamic_only {
        return;
    }
    let connector = forwarder.config.name.clone();
    let prefix = ncds_name(&connector, &master.network.broker_name, "");
    let durable: Vec<String> = master
        .destinations
        .subs
        .values()
        .filter(|s| s.durable && s.sub.starts_with(&prefix))
        .map(|s| s.topic.clone())
        .collect();
    for topic in durable {
        let network = forwarder_mut(master, conn).network_consumer(&BrokerPath::default(), 0, Vec::new());
        let dest = Dest::Topic(topic.as_str().into());
        add_network_consumer(master, conn, dest, None, network, true, TopicSub::Durable, fx);
    }
}

fn forwarder_mut(master: &mut MasterStore, conn: ConnId) -> &mut Forwarder {
    master.network.forwarder(conn).expect("a running forwarder")
}

/// A consumer advisory from the remote: demand added or withdrawn.
fn on_advisory(master: &mut MasterStore, conn: ConnId, advisory: &ConsumerAdvisory, fx: &mut dyn Effects) {
    let Some(forwarder) = master.network.forwarder(conn) else { return };
    let change = forwarder.on_advisory(advisory);
    let suppresses = forwarder.suppresses_duplicates(&advisory.dest);
    match change {
        DemandChange::None => {}
        DemandChange::Add { dest, remote_consumer, mut network, .. } => {
            if master.network.planted_bug == Some(PlantedBug::IgnoreNetworkTtl) {
                network.message_ttl = u32::MAX;
            }
            if suppresses && duplicate_suppressed(master, &dest, &network, fx) {
                return;
            }
            let topic_sub = if advisory.durable { TopicSub::Durable } else { TopicSub::NonDurable };
            add_network_consumer(master, conn, dest, Some(remote_consumer), network, false, topic_sub, fx);
        }
        DemandChange::Remove { consumer } => withdraw_demand(master, conn, consumer, fx),
    }
}

/// Demand `consumer` of the forwarder on `conn` is withdrawn: its network consumer goes now,
/// or once its forwards in flight are answered.
fn withdraw_demand(master: &mut MasterStore, conn: ConnId, consumer: u32, fx: &mut dyn Effects) {
    let forwarder = forwarder_mut(master, conn);
    if !forwarder.inflight.has_consumer(consumer) {
        let demand = forwarder.demand.remove(&consumer).expect("a demand");
        remove_network_consumer(master, demand.slot, consumer, fx);
    } else {
        // `waitForCompletion`: nothing new while the forwards in flight are answered.
        let demand = forwarder.demand.get_mut(&consumer).expect("a demand");
        demand.closing = true;
        let slot = demand.slot;
        master.destinations.queue(&slot).drain_consumer(consumer);
    }
}

/// `duplicateSuppressionIsRequired`: another bridge's network consumer already stands for
/// this remote consumer (they share `networkConsumerIds`; in the seed's two-sided duplex each
/// of the two connections between the masters hears of every consumer). The candidate is
/// dropped when the existing one's priority is as high; otherwise the existing one is removed
/// (`removeDuplicateSubscription`, which finds only a connector's own bridges, not a duplex
/// mirror's) and the candidate goes ahead. Returns whether the candidate is suppressed.
fn duplicate_suppressed(
    master: &mut MasterStore,
    dest: &Dest,
    candidate: &NetworkConsumer,
    fx: &mut dyn Effects,
) -> bool {
    // `getRegionSubscriptions`: every subscription of the destination's kind (a topic's
    // subscriptions are slot queues).
    let topic = matches!(dest, Dest::Topic(_));
    let existing = master
        .destinations
        .queues
        .iter()
        .filter(|(slot, _)| master.destinations.subs.contains_key(*slot) == topic)
        .find_map(|(slot, q)| q.network_match(&candidate.ids).map(|(c, p)| (*slot, c, p)));
    let Some((slot, consumer, priority)) = existing else { return false };
    if priority >= candidate.priority {
        return true;
    }
    let owner =
        master.network.bridges.iter().find_map(|(_, b)| {
            b.forwarder.as_ref().filter(|f| f.demand.contains_key(&consumer)).map(|f| f.conn)
        });
    if let Some(conn) = owner {
        assert_eq!(forwarder_mut(master, conn).demand[&consumer].slot, slot);
        withdraw_demand(master, conn, consumer, fx);
    }
    false
}

/// How a network consumer reads a topic: its own non-durable subscription, or the durable
/// `NC-DS_<broker>_<topic>` subscription (`DurableConduitBridge`) that keeps the topic's
/// messages while the bridge is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopicSub {
    NonDurable,
    Durable,
}

/// The durable network subscription's name: the connector (the bridge's client id) and
/// `NC-DS_<localBrokerName>_<topic>`.
fn ncds_name(connector: &str, broker_name: &str, topic: &str) -> String {
    format!("{connector}:NC-DS_{broker_name}_{topic}")
}

#[allow(clippy::too_many_arguments)]
fn add_network_consumer(
    master: &mut MasterStore,
    conn: ConnId,
    dest: Dest,
    remote_consumer: Option<u32>,
    network: NetworkConsumer,
    is_static: bool,
    topic_sub: TopicSub,
    fx: &mut dyn Effects,
) {
    let consumer = master.network.new_consumer();
    let forwarder = forwarder_mut(master, conn);
    let prefetch = forwarder.config.prefetch_size;
    let connector = forwarder.config.name.clone();
    let mut durable_sub = None;
    let slot = match (dest, topic_sub) {
        (Dest::Queue(_), _) => dest,
        (Dest::Topic(topic), TopicSub::NonDurable) => {
            master.destinations.subscribe(&topic, &format!("nc{consumer}"), false).0
        }
        (Dest::Topic(topic), TopicSub::Durable) => {
            let sub = ncds_name(&connector, &master.network.broker_name, &topic);
            let (slot, new) = master.destinations.subscribe(&topic, &sub, true);
            if new {
                // Stored like an application's durable subscription (`addSubscription`).
                let op = LogOp::AddSub { topic: topic.to_string(), sub: sub.clone() };
                master.writer.queue.push_back(Pending { op, sync: true, reply: None });
            }
            durable_sub = Some(sub);
            slot
        }
    };
    let forwarder = forwarder_mut(master, conn);
    forwarder.demand.insert(
        consumer,
        crate::bridge::Demand {
            slot,
            dest,
            remote_consumers: remote_consumer.into_iter().collect(),
            is_static,
            closing: false,
        },
    );
    let info = ConsumerInfo {
        consumer,
        dest,
        prefetch,
        priority: 0,
        ack: AckMode::Client,
        durable: durable_sub.clone(),
    };
    let advisory = ConsumerAdvisory {
        consumer,
        dest,
        priority: network.priority,
        path: network.path.clone(),
        network_ids: network.ids.clone(),
        durable: durable_sub.is_some(),
        added: true,
    };
    master.destinations.queue(&slot).add_network_consumer(conn, info, network);
    advise(master, advisory, fx);
    dispatch(master, &slot, fx);
}

/// The remote stored a forward: the local copy is acked (and its store record removed).
fn on_forward_response(master: &mut MasterStore, conn: ConnId, corr: u64, fx: &mut dyn Effects) {
    let Some(forwarder) = master.network.forwarder(conn) else { return };
    let Some((slot, consumer, id)) = forwarder.inflight.remove(corr) else { return };
    let closing = forwarder.demand.get(&consumer).is_some_and(|d| d.closing)
        && !forwarder.inflight.has_consumer(consumer);
    if let Some(msg) = master.destinations.queue(&slot).ack(consumer, id) {
        if let Some(op) = consumed_op(master, &slot, &msg) {
            master.writer.queue.push_back(Pending { op, sync: false, reply: None });
        }
    }
    if closing {
        forwarder_mut(master, conn).demand.remove(&consumer);
        remove_network_consumer(master, slot, consumer, fx);
    } else {
        dispatch(master, &slot, fx);
    }
}

/// A dispatch to a network consumer: forwarded with this broker on its path. Persistent
/// messages (and all under `alwaysSyncSend`) wait for the remote's response before the local
/// ack; the rest are acked at once.
/// Returns whether the local copy was acked at once (room for the next dispatch).
pub(super) fn forward(master: &mut MasterStore, delivery: Delivery, fx: &mut dyn Effects) -> bool {
    let slot = delivery_slot(master, &delivery);
    let acks_early = master.network.planted_bug == Some(PlantedBug::BridgeAcksBeforeStored);
    let Some(forwarder) = master.network.forwarder(delivery.conn) else { return false };
    let msg = Msg { path: delivery.msg.path.with(forwarder.local), ..delivery.msg };
    let (key, dest, id, hops) = (msg.key, msg.dest, msg.id, msg.path.len() as u32);
    let sync = (msg.persistent || forwarder.config.always_sync_send) && !acks_early;
    let corr = sync.then(|| forwarder.next_corr());
    if let Some(corr) = corr {
        forwarder.inflight.insert(corr, slot, delivery.consumer, id);
    }
    fx.push(Effect::Send { conn: delivery.conn, message: Message::ToBroker(ToBroker::Send { msg, corr }) });
    fx.push(Effect::Observe { observation: Observation::Forwarded { key, dest, hops } });
    if corr.is_none() {
        if let Some(msg) = master.destinations.queue(&slot).ack(delivery.consumer, id) {
            if let Some(op) = consumed_op(master, &slot, &msg) {
                master.writer.queue.push_back(Pending { op, sync: false, reply: None });
            }
        }
    }
    corr.is_none()
}

fn delivery_slot(master: &mut MasterStore, delivery: &Delivery) -> Dest {
    let forwarder = master.network.forwarder(delivery.conn).expect("a network delivery has a forwarder");
    forwarder.demand.get(&delivery.consumer).expect("a network consumer has a demand").slot
}

/// A consumer came or went: every advisory consumer hears of it.
pub(super) fn advise(master: &MasterStore, advisory: ConsumerAdvisory, fx: &mut dyn Effects) {
    for conn in &master.network.advisory_subscribers {
        let message = Message::FromBroker(FromBroker::Advisory(advisory.clone()));
        fx.push(Effect::Send { conn: *conn, message });
    }
}

pub(super) fn advise_removed(master: &MasterStore, removed: Vec<(Dest, u32)>, fx: &mut dyn Effects) {
    for (dest, consumer) in removed {
        advise(master, ConsumerAdvisory::removed(consumer, dest), fx);
    }
}

/// A new advisory consumer: an advisory for every consumer there is, then every change.
pub(super) fn subscribe_advisories(master: &mut MasterStore, conn: ConnId, fx: &mut dyn Effects) {
    master.network.advisory_subscribers.insert(conn);
    for (slot, queue) in &master.destinations.queues {
        let dest = master.destinations.advertised(slot);
        for view in queue.consumer_views() {
            let advisory = ConsumerAdvisory {
                consumer: view.consumer,
                dest,
                priority: view.priority,
                path: view.path,
                network_ids: view.network_ids,
                durable: view.durable,
                added: true,
            };
            fx.push(Effect::Send { conn, message: Message::FromBroker(FromBroker::Advisory(advisory)) });
        }
    }
}
