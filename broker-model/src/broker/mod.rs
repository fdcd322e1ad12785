//! One ActiveMQ broker process (a JVM run by `bin/activemq`) with a `<replicatedLevelDB>` store:
//! its ZooKeeper client, the `ZooKeeperGroup` member tracking, the `MasterElector`, the replicated
//! store (model/activemq.md §2) and the broker's queues, around one lifecycle (§1.1–1.7).
//!
//! A slave's `BrokerService.start()` blocks in the store's locker, so it opens no client port.
//! A master opens its ports only after its store started (and, with a remote `sync`, after
//! `replicas/2` slaves caught up). A demotion is a broker restart inside the JVM: a new
//! `BrokerService`, a new ZooKeeper session and a new member id.
//!
//! The store has one write thread: operations queue, run in batches (group commit), and a batch
//! that needs a sync waits — for the local fsync and/or `replicas/2` slave acks, by `sync` mode —
//! while everything behind it waits too (§2.5).

use crate::bridge::ConnectorConfig;
use crate::destination::{Delivery, Destinations};
use crate::elector::{self, eid_of_node_name, Member, NodeState};
use crate::io::{
    Addr, Component, ConnId, DemoteReason, Effect, Effects, HostId, Input, Message, Observation, Record,
    TimerId,
};
use crate::messaging::{Dest, FromBroker, Msg, ToBroker, DLQ};
use crate::rng::Rng;
use crate::store::{Entry, Log, LogFile, LogOp};
use crate::time::Time;
use crate::zk::client::{ZkClient, ZkEvent};
use crate::zk::proto::{CreateMode, Op, OpResult, WatchKind, ZkError};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::rc::Rc;

mod group;
mod master;
mod network;
pub mod proto;
mod serve;
mod slave;
#[cfg(test)]
mod tests;
mod writer;

use group::ZkOp;
use master::{MasterPhase, MasterStore, SlaveSession};
pub use proto::{BrokerRecord, BrokerTimer, ReplMsg};
use serve::{drop_client, on_client_command, ClientConn};
use slave::SlaveStore;
use writer::Writer;

/// The broker's side of OpenWire's inactivity monitor uses the same periods as a client's.
pub use crate::transport::{KEEPALIVE_MS, MAX_INACTIVITY_MS};

/// `<replicatedLevelDB sync="...">`: when a store write counts as done (model/activemq.md §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncMode {
    LocalMem,
    LocalDisk,
    RemoteMem,
    RemoteDisk,
    QuorumMem,
    QuorumDisk,
}

impl SyncMode {
    pub const ALL: [SyncMode; 6] = [
        SyncMode::LocalMem,
        SyncMode::LocalDisk,
        SyncMode::RemoteMem,
        SyncMode::RemoteDisk,
        SyncMode::QuorumMem,
        SyncMode::QuorumDisk,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SyncMode::LocalMem => "local_mem",
            SyncMode::LocalDisk => "local_disk",
            SyncMode::RemoteMem => "remote_mem",
            SyncMode::RemoteDisk => "remote_disk",
            SyncMode::QuorumMem => "quorum_mem",
            SyncMode::QuorumDisk => "quorum_disk",
        }
    }

    pub fn parse(text: &str) -> Option<SyncMode> {
        SyncMode::ALL.into_iter().find(|m| m.name() == text)
    }

    /// A remote part makes sync operations (and a new master's start) wait for `replicas/2`
    /// slaves.
    pub fn has_remote(self) -> bool {
        !matches!(self, SyncMode::LocalMem | SyncMode::LocalDisk)
    }

    /// The master fsyncs its own log before acknowledging (the DISK bit).
    pub fn local_fsync(self) -> bool {
        matches!(self, SyncMode::LocalDisk | SyncMode::QuorumDisk)
    }

    /// Slave acks a sync operation waits for: `minSlaveAcks = replicas/2` with a remote part.
    pub fn slave_acks(self, replicas: u32) -> usize {
        if self.has_remote() {
            (replicas / 2) as usize
        } else {
            0
        }
    }

    /// `LogWrite.sync = (syncToMask & SYNC_TO_REMOTE_DISK) != 0`: both remote masks carry that
    /// bit, so slaves msync every frame before acking under every remote mode (the fsync quirk).
    pub fn wal_frame_sync(self) -> bool {
        self.has_remote()
    }
}

impl fmt::Display for SyncMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A deliberate bug, planted only by tests to show that the checkers catch what they exist for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlantedBug {
    /// A master ignores losing ZooKeeper (`Disconnected`) and keeps serving: split brain.
    MasterIgnoresDisconnect,
    /// The head never elects anyone: no master, a liveness failure.
    HeadNeverElects,
    /// The master acknowledges sync sends without waiting for slave acks.
    AckBeforeQuorum,
    /// A slave claims to be caught up at once and acks positions it has not written.
    SlaveAcksUnwritten,
    /// The broker does not drop failover resends it already stored (producer audit off).
    NoProducerAudit,
    /// A serving master re-arms its keepalive timer for the same instant: simulated time stops
    /// advancing (a livelock).
    ZeroDelayTimer,
    /// A bridge acks its local copy as soon as it forwards, before the remote stored it.
    BridgeAcksBeforeStored,
    /// A bridge that drops forgets its unacked forwards instead of requeueing them.
    BridgeDropsInflight,
    /// Network consumers ignore `messageTTL`: a message may cross more bridges than allowed.
    IgnoreNetworkTtl,
    /// A bridge whose connection fails is never retried.
    BridgeNeverRetries,
}

impl PlantedBug {
    pub const ALL: [PlantedBug; 10] = [
        PlantedBug::MasterIgnoresDisconnect,
        PlantedBug::HeadNeverElects,
        PlantedBug::AckBeforeQuorum,
        PlantedBug::SlaveAcksUnwritten,
        PlantedBug::NoProducerAudit,
        PlantedBug::ZeroDelayTimer,
        PlantedBug::BridgeAcksBeforeStored,
        PlantedBug::BridgeDropsInflight,
        PlantedBug::IgnoreNetworkTtl,
        PlantedBug::BridgeNeverRetries,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::MasterIgnoresDisconnect => "master_ignores_disconnect",
            PlantedBug::HeadNeverElects => "head_never_elects",
            PlantedBug::AckBeforeQuorum => "ack_before_quorum",
            PlantedBug::SlaveAcksUnwritten => "slave_acks_unwritten",
            PlantedBug::NoProducerAudit => "no_producer_audit",
            PlantedBug::ZeroDelayTimer => "zero_delay_timer",
            PlantedBug::BridgeAcksBeforeStored => "bridge_acks_before_stored",
            PlantedBug::BridgeDropsInflight => "bridge_drops_inflight",
            PlantedBug::IgnoreNetworkTtl => "ignore_network_ttl",
            PlantedBug::BridgeNeverRetries => "bridge_never_retries",
        }
    }

    pub fn parse(text: &str) -> Option<PlantedBug> {
        PlantedBug::ALL.into_iter().find(|b| b.name() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// The process name in the topology (`mq1`).
    pub name: String,
    /// `brokerName`: the replication set's id in ZooKeeper.
    pub broker_name: String,
    /// `hostname` of `<replicatedLevelDB>`: published in the member's `address`.
    pub hostname: String,
    /// `zkAddress`, in configuration order.
    pub zk_hosts: Vec<Addr>,
    pub zk_path: String,
    pub zk_session_timeout_ms: u64,
    pub replicas: u32,
    pub weight: i32,
    pub sync: SyncMode,
    /// `logSize`: bytes per log file (a differing file is transferred whole).
    pub log_size: u64,
    /// Sequential disk write speed, bytes per second (a slave writing a transfer).
    pub disk_bytes_per_s: u64,
    /// The port of `bind` (the replication server of a master).
    pub bind_port: u16,
    pub openwire_port: u16,
    pub stomp_port: u16,
    /// Host names the broker can resolve (its `/etc/hosts`).
    pub resolver: BTreeMap<String, HostId>,
    /// From process start to the store's `init()` (JVM and Spring context start).
    pub startup_ms: u64,
    /// From the end of `broker.stop()` to the new `BrokerService` starting.
    pub restart_delay_ms: u64,
    /// A demoted master's `BrokerService.stop()` from its start to `zk_group.close`.
    pub stop_ms: u64,
    /// LevelDB recovery of the master store before it binds.
    pub recovery_ms: u64,
    /// A slave retries its replication session after this long (`restart_slave_connections`).
    pub slave_retry_ms: u64,
    /// `<networkConnectors>`: started only on a master, after its transport connectors.
    pub network_connectors: Vec<Rc<ConnectorConfig>>,
    /// `None` in every real run.
    pub planted_bug: Option<PlantedBug>,
}

#[derive(Debug, Clone)]
enum Store {
    Idle,
    Master(Box<MasterStore>),
    Slave(SlaveStore),
}

/// One `BrokerService` with its `ElectingLevelDBStore`: everything a restart throws away.
#[derive(Debug, Clone)]
struct Instance {
    number: u32,
    zk: ZkClient,
    zk_ops: BTreeMap<u64, ZkOp>,
    /// Member znodes by node name (`00000000007`); `None` until their data is read.
    members: BTreeMap<String, Option<NodeState>>,
    my_name: Option<String>,
    joining: bool,
    published: Option<NodeState>,
    /// The head's in-memory choice.
    elected: Option<String>,
    position: i64,
    address: Option<String>,
    connected_address: Option<String>,
    updating_store: bool,
    store: Store,
    serving: bool,
    /// Demoted: `BrokerService.stop()` is running. The elector no longer acts; the ZooKeeper
    /// client keeps its session until the stop reaches `zk_group.close`.
    stopping: bool,
}

#[derive(Debug, Clone)]
pub struct Broker {
    config: BrokerConfig,
    rng: Rng,
    node_id: String,
    /// The store's log, as on disk (page cache included).
    log: Log,
    instances_started: u32,
    instance: Option<Instance>,
    last_conn: u32,
    /// Bridges started so far (each is `Component::Bridge` with the next id).
    last_bridge: u32,
    /// `ZooKeeper` objects made so far (each new one is `Component::ZkClient` with the next
    /// handle).
    zk_handles: u32,
    next_token: u64,
}

impl Broker {
    /// A broker process starting from its disk.
    pub fn start(config: BrokerConfig, rng_seed: (u64, u64), disk: &[Record]) -> Broker {
        let mut rng = Rng::new(rng_seed.0, rng_seed.1);
        let mut node_id = None;
        let mut log = Log::new(config.log_size);
        for record in disk {
            match record {
                Record::Broker(BrokerRecord::NodeId(id)) => node_id = Some(id.clone()),
                Record::Broker(BrokerRecord::Log(entry)) => log.write(entry.clone()),
                Record::Broker(BrokerRecord::Truncate(pos)) => log.truncate(*pos),
                other => panic!("foreign record on a broker disk: {other:?}"),
            }
        }
        let node_id = node_id.unwrap_or_else(|| format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64()));
        Broker {
            config,
            rng,
            node_id,
            log,
            instances_started: 0,
            instance: None,
            last_conn: 0,
            zk_handles: 0,
            last_bridge: 0,
            next_token: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn is_serving(&self) -> bool {
        self.instance.as_ref().is_some_and(|i| i.serving)
    }

    pub fn my_eid(&self) -> Option<String> {
        self.instance.as_ref()?.my_name.as_deref().and_then(eid_of_node_name)
    }

    /// The log's append position.
    pub fn log_end(&self) -> u64 {
        self.log.end()
    }

    /// Messages a serving master holds, by destination (for the final accounting).
    pub fn held_messages(&self) -> Vec<Msg> {
        let Some(Store::Master(master)) = self.instance.as_ref().map(|i| &i.store) else {
            return Vec::new();
        };
        master.destinations.queues.values().flat_map(|q| q.messages().cloned()).collect()
    }

    pub fn on_start(&mut self, now: Time, fx: &mut dyn Effects) {
        fx.push(Effect::Append { record: Record::Broker(BrokerRecord::NodeId(self.node_id.clone())) });
        fx.push(Effect::Sync { token: 0 });
        let at = now.add_ms(self.config.startup_ms);
        fx.push(Effect::SetTimer { timer: TimerId::Broker(BrokerTimer::Startup), at });
    }

    fn master_store(&self) -> Option<&MasterStore> {
        match &self.instance.as_ref()?.store {
            Store::Master(master) => Some(master),
            _ => None,
        }
    }

    fn new_conn(&mut self) -> ConnId {
        ConnId::next_out(Component::Own, &mut self.last_conn)
    }

    /// The handle of a new `ZooKeeper` object.
    fn new_zk_handle(&mut self) -> u32 {
        self.zk_handles = self.zk_handles.checked_add(1).expect("2^32 ZooKeeper handles");
        self.zk_handles
    }

    /// `BrokerService.start()` → `ElectingLevelDBStore.init()`: a new ZooKeeper session.
    fn start_instance(&mut self, now: Time, fx: &mut dyn Effects) {
        assert!(self.instance.is_none());
        self.instances_started += 1;
        let number = self.instances_started;
        fx.push(Effect::Observe { observation: Observation::BrokerStarted { instance: number } });
        let handle = self.new_zk_handle();
        let zk = ZkClient::new(
            now,
            handle,
            self.config.zk_hosts.clone(),
            self.config.zk_session_timeout_ms,
            &mut self.rng,
            fx,
        );
        self.instance = Some(Instance {
            number,
            zk,
            zk_ops: BTreeMap::new(),
            members: BTreeMap::new(),
            my_name: None,
            joining: false,
            published: None,
            elected: None,
            position: self.log.end() as i64,
            address: None,
            connected_address: None,
            updating_store: false,
            store: Store::Idle,
            serving: false,
            stopping: false,
        });
    }

    pub fn on_input(&mut self, now: Time, input: Input, fx: &mut dyn Effects) {
        match input {
            Input::Timer { timer: TimerId::Broker(t) } => self.on_timer(now, t, fx),
            Input::Timer { timer: TimerId::ZkClient { handle, kind } } => {
                let Some(inst) = self.instance.as_mut() else {
                    return self.after_input(fx);
                };
                if inst.zk.owns_timer(handle) {
                    let mut events = Vec::new();
                    inst.zk.on_timer(now, kind, &mut self.rng, fx, &mut events);
                    self.on_zk_events(now, events, fx);
                }
            }
            Input::Timer { timer: TimerId::Transport { owner: Component::Bridge { id }, kind } } => {
                self.on_bridge_timer(now, id, kind, fx)
            }
            Input::Timer { timer } => panic!("foreign timer {timer:?}"),
            Input::Connected { conn: conn @ ConnId::Out { owner: Component::Bridge { id }, .. } } => {
                self.on_bridge_connected(now, id, conn, fx)
            }
            Input::ConnectFailed { conn: ConnId::Out { owner: Component::Bridge { id }, .. }, error } => {
                let failure = match error {
                    crate::io::ConnectError::Refused => network::Failure::Refused,
                    crate::io::ConnectError::TimedOut => network::Failure::TimedOut,
                };
                self.on_bridge_failed(now, id, failure, fx)
            }
            Input::Closed { conn: conn @ ConnId::Out { owner: Component::Bridge { id }, .. }, .. } => {
                let current = self
                    .master_store()
                    .is_some_and(|m| m.network.bridges.get(&id).is_some_and(|b| b.tcp.conn() == Some(conn)));
                if current {
                    self.on_bridge_failed(now, id, network::Failure::Closed, fx)
                }
            }
            Input::Connected { conn } => self.on_connected(now, conn, fx),
            Input::ConnectFailed { conn, .. } | Input::Closed { conn, .. } => {
                self.on_conn_lost(now, conn, fx)
            }
            Input::Accepted { conn, port } => self.on_accepted(now, conn, port, fx),
            Input::Received { conn, message } => self.on_message(now, conn, message, fx),
            Input::ListenFailed { port } => {
                assert_eq!(port, self.config.bind_port, "only the bind port can clash");
                // The bind of a master store: moot if that master already stopped (demoted in
                // the same instant it asked to bind).
                let binding = self
                    .instance
                    .as_ref()
                    .is_some_and(|i| !i.stopping && matches!(i.store, Store::Master(_)));
                if binding {
                    self.demote(now, DemoteReason::BindFailed, fx);
                }
            }
            Input::Synced { token } => self.on_synced(token, fx),
        }
        self.after_input(fx);
    }

    fn after_input(&mut self, fx: &mut dyn Effects) {
        // The write thread runs whatever this input queued, as one batch (group commit).
        self.run_writer(fx);
        self.invariants();
    }

    fn on_timer(&mut self, now: Time, t: BrokerTimer, fx: &mut dyn Effects) {
        match t {
            BrokerTimer::Startup => self.start_instance(now, fx),
            BrokerTimer::Stopped { instance } => {
                if self.instance.as_ref().is_some_and(|i| i.number == instance && i.stopping) {
                    self.finish_stop(now, fx);
                }
            }
            BrokerTimer::Restart { instance } => {
                if self.instance.is_none() && instance == self.instances_started {
                    self.start_instance(now, fx);
                }
            }
            BrokerTimer::MasterRecovered { instance } => self.on_master_recovered(now, instance, fx),
            BrokerTimer::SlaveRetry { instance } => {
                let Some(inst) = self.instance.as_ref() else {
                    return;
                };
                if inst.number != instance {
                    return;
                }
                if let Store::Slave(slave) = &inst.store {
                    if slave.conn.is_none() {
                        let target = slave.target.clone();
                        self.connect_slave(now, target, fx);
                    }
                }
            }
            BrokerTimer::TransferWritten { instance } => self.on_transfer_written(instance, fx),
            BrokerTimer::KeepAlive { instance } => {
                let Some(inst) = self.instance.as_mut() else { return };
                let Store::Master(master) = &mut inst.store else { return };
                if inst.number != instance || !inst.serving {
                    return;
                }
                // The read check: an OpenWire connection silent for `maxInactivityDuration` is
                // closed, and its consumers' messages go back to their queues.
                let silent: Vec<ConnId> = master
                    .clients
                    .iter()
                    .filter(|(_, c)| {
                        c.openwire && now.saturating_sub_us(c.last_read) >= MAX_INACTIVITY_MS * 1000
                    })
                    .map(|(conn, _)| *conn)
                    .collect();
                for conn in silent {
                    fx.push(Effect::Close { conn });
                    drop_client(master, conn, fx);
                }
                for conn in master.clients.keys() {
                    fx.push(Effect::Send {
                        conn: *conn,
                        message: Message::FromBroker(FromBroker::KeepAlive),
                    });
                }
                let timer = TimerId::Broker(BrokerTimer::KeepAlive { instance });
                let livelock = self.config.planted_bug == Some(PlantedBug::ZeroDelayTimer);
                let at = if livelock { now } else { now.add_ms(KEEPALIVE_MS) };
                fx.push(Effect::SetTimer { timer, at });
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Stopping: demotion as an in-JVM restart. (The group and the elector: `group.rs`; the
    // store roles: `master.rs`, `slave.rs`, `writer.rs`; serving clients: `serve.rs`.)

    /// "Demoted to slave": `stop_master` and `broker.requestRestart(); broker.stop()` run at
    /// once (two tasks of the broker's task runner). The connectors and the replication server
    /// close first; the rest of `BrokerService.stop()` takes `broker_stop_ms` before the store's
    /// `doStop` reaches `zk_group.close`, and the ZooKeeper client runs on meanwhile (it may
    /// reconnect). The next `BrokerService` starts `restart_delay_ms` after the stop ends.
    fn demote(&mut self, now: Time, reason: DemoteReason, fx: &mut dyn Effects) {
        fx.push(Effect::Observe { observation: Observation::Demoted { reason } });
        self.close_connectors(fx);
        // `stop_master`'s callback (`address = null; changed`): the member publishes that it
        // no longer serves, with its position if no master is elected, so the others can elect
        // without waiting for the stop to end.
        let master_elected = self.same_name_members().first().and_then(|head| head.state.elected.clone());
        let log_end = self.log.end() as i64;
        let inst = self.instance.as_mut().expect("a demoted instance");
        inst.position = if master_elected.is_some() { -1 } else { log_end };
        self.publish(now, fx);
        let inst = self.instance.as_mut().expect("a demoted instance");
        assert!(!inst.stopping, "demoted twice");
        inst.stopping = true;
        if self.config.stop_ms == 0 {
            self.finish_stop(now, fx);
        } else {
            let timer = TimerId::Broker(BrokerTimer::Stopped { instance: inst.number });
            fx.push(Effect::SetTimer { timer, at: now.add_ms(self.config.stop_ms) });
        }
    }

    /// The start of `BrokerService.stop()` (`stopAllConnectors`) and `stop_master`: client
    /// ports and replication close. Sync operations still waiting end with
    /// `SuppressReplyException`: no response is sent.
    fn close_connectors(&mut self, fx: &mut dyn Effects) {
        self.observe_network_stop(fx);
        let inst = self.instance.as_mut().expect("an instance");
        if inst.serving {
            fx.push(Effect::Unlisten { port: self.config.openwire_port });
            fx.push(Effect::Unlisten { port: self.config.stomp_port });
            fx.push(Effect::Observe { observation: Observation::Serving { on: false } });
            inst.serving = false;
        }
        match &inst.store {
            Store::Master(master) => {
                if master.phase != MasterPhase::Recovering {
                    fx.push(Effect::Unlisten { port: self.config.bind_port });
                }
                for conn in master.sessions.keys().chain(master.clients.keys()) {
                    fx.push(Effect::Close { conn: *conn });
                }
                // The bridges stop with the broker (a duplex one's connection is a client's too).
                for bridge in master.network.bridges.values() {
                    if let Some(conn) = bridge.tcp.conn().filter(|c| !master.clients.contains_key(c)) {
                        fx.push(Effect::Close { conn });
                    }
                }
            }
            Store::Slave(slave) => {
                if let Some(conn) = slave.conn {
                    fx.push(Effect::Close { conn });
                }
            }
            Store::Idle => {}
        }
        inst.store = Store::Idle;
        inst.address = None;
        inst.connected_address = None;
    }

    /// `ElectingLevelDBStore.doStop` → `zk_group.close` → `zk_client.close()`: the member znode
    /// is deleted and the session closed only if the client is connected now; a client still
    /// reconnecting abandons its session, which the leader expires later (3.4 `ClientCnxn`
    /// does not reconnect once `closing` is set). Then the in-JVM restart is scheduled.
    fn finish_stop(&mut self, now: Time, fx: &mut dyn Effects) {
        let Some(mut inst) = self.instance.take() else {
            return;
        };
        assert!(inst.stopping && !inst.serving);
        assert!(matches!(inst.store, Store::Idle));
        if inst.zk.is_connected() {
            if let Some(name) = &inst.my_name {
                let path = format!("{}/{name}", self.config.zk_path);
                let mut events = Vec::new();
                inst.zk.request(now, Op::Delete { path, version: None }, fx, &mut events);
            }
        }
        inst.zk.close(now, fx);
        let at = now.add_ms(self.config.restart_delay_ms);
        let timer = TimerId::Broker(BrokerTimer::Restart { instance: self.instances_started });
        fx.push(Effect::SetTimer { timer, at });
    }

    /// `tcp://host:port` → an address, through the broker's resolver.
    fn resolve(&self, url: &str) -> Option<Addr> {
        let rest = url.strip_prefix("tcp://")?;
        let (host, port) = rest.rsplit_once(':')?;
        let host = *self.config.resolver.get(host)?;
        Some(Addr { host, port: port.parse().ok()? })
    }

    // ---------------------------------------------------------------------------------------
    // Connections.

    fn on_connected(&mut self, now: Time, conn: ConnId, fx: &mut dyn Effects) {
        let node_id = self.node_id.clone();
        let Some(inst) = self.instance.as_mut() else {
            fx.push(Effect::Close { conn });
            return;
        };
        if inst.zk.owns(conn) {
            inst.zk.on_connected(now, conn, fx);
            return;
        }
        if let Store::Slave(slave) = &inst.store {
            if slave.conn == Some(conn) {
                let message = Message::Repl(ReplMsg::Login { node_id });
                fx.push(Effect::Send { conn, message });
                return;
            }
        }
        fx.push(Effect::Close { conn });
    }

    fn on_conn_lost(&mut self, now: Time, conn: ConnId, fx: &mut dyn Effects) {
        let Some(inst) = self.instance.as_mut() else {
            return;
        };
        if inst.zk.owns(conn) {
            let mut events = Vec::new();
            inst.zk.on_conn_lost(now, conn, &mut self.rng, fx, &mut events);
            self.on_zk_events(now, events, fx);
            return;
        }
        match &mut inst.store {
            Store::Slave(slave) if slave.conn == Some(conn) => {
                // Any session error: retry after 1 s (`restart_slave_connections`).
                slave.conn = None;
                slave.caught_up = false;
                let timer = TimerId::Broker(BrokerTimer::SlaveRetry { instance: inst.number });
                fx.push(Effect::SetTimer { timer, at: now.add_ms(self.config.slave_retry_ms) });
            }
            Store::Master(master) => {
                master.sessions.remove(&conn);
                drop_client(master, conn, fx);
            }
            _ => {}
        }
    }

    fn on_accepted(&mut self, now: Time, conn: ConnId, port: u16, fx: &mut dyn Effects) {
        let Some(inst) = self.instance.as_mut() else {
            fx.push(Effect::Close { conn });
            return;
        };
        let serving = inst.serving;
        match &mut inst.store {
            Store::Master(master) if port == self.config.bind_port => {
                let session = SlaveSession { node_id: None, sync_position: None, caught_up: false, acked: 0 };
                master.sessions.insert(conn, session);
            }
            Store::Master(master)
                if serving && (port == self.config.openwire_port || port == self.config.stomp_port) =>
            {
                let openwire = port == self.config.openwire_port;
                master.clients.insert(conn, ClientConn { reconnect: false, openwire, last_read: now });
            }
            _ => fx.push(Effect::Close { conn }),
        }
    }

    fn on_message(&mut self, now: Time, conn: ConnId, message: Message, fx: &mut dyn Effects) {
        let Some(inst) = self.instance.as_mut() else {
            return;
        };
        match message {
            Message::ZkServer(msg) => {
                let mut events = Vec::new();
                inst.zk.on_message(now, conn, msg, fx, &mut events);
                self.on_zk_events(now, events, fx);
            }
            Message::Repl(ReplMsg::Login { node_id }) => {
                let Store::Master(master) = &mut inst.store else { return };
                if !master.sessions.contains_key(&conn) {
                    return;
                }
                // `handle_sync`: a newer session of the same slave replaces the old one.
                let stale: Vec<ConnId> = master
                    .sessions
                    .iter()
                    .filter(|(c, s)| **c != conn && s.node_id.as_deref() == Some(node_id.as_str()))
                    .map(|(c, _)| *c)
                    .collect();
                for old in stale {
                    master.sessions.remove(&old);
                    fx.push(Effect::Close { conn: old });
                }
                let session = master.sessions.get_mut(&conn).expect("checked");
                // Register, reply with the files; streaming starts now.
                session.node_id = Some(node_id);
                let position = self.log.end();
                session.sync_position = Some(position);
                let files = self.log.files();
                fx.push(Effect::Send {
                    conn,
                    message: Message::Repl(ReplMsg::SyncResponse { position, files }),
                });
            }
            Message::Repl(ReplMsg::Get { from }) => {
                let Store::Master(master) = &mut inst.store else { return };
                let Some(to) = master.sessions.get(&conn).and_then(|s| s.sync_position) else { return };
                let entries = self.log.range(from, to).to_vec();
                let bytes = entries.iter().map(Entry::len).sum();
                fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::Transfer { entries, bytes }) });
            }
            Message::Repl(ReplMsg::WalAck { position }) => {
                let Store::Master(master) = &mut inst.store else { return };
                let Some(session) = master.sessions.get_mut(&conn) else { return };
                session.acked = session.acked.max(position);
                session.caught_up = true;
                self.maybe_serve(now, fx);
            }
            Message::Repl(ReplMsg::SyncResponse { position, files }) => {
                self.on_sync_response(conn, position, files, fx)
            }
            Message::Repl(ReplMsg::Transfer { entries, bytes }) => {
                self.on_download(now, conn, entries, bytes, fx)
            }
            Message::Repl(ReplMsg::Wal { entries, sync }) => self.on_wal(conn, entries, sync, fx),
            Message::FromBroker(reply) => {
                if let Some(Component::Bridge { id }) = conn.owner() {
                    return self.on_bridge_reply(now, id, conn, reply, fx);
                }
                let Store::Master(master) = &mut inst.store else { return };
                network::on_mirror_reply(master, conn, reply, fx);
            }
            Message::ToBroker(ToBroker::BrokerInfo(info)) => {
                let number = inst.number;
                let own = self.broker_id(number);
                let own = self.own_info(own, None);
                let inst = self.instance.as_mut().expect("checked");
                let Store::Master(master) = &mut inst.store else { return };
                if !inst.serving || !master.clients.contains_key(&conn) {
                    return;
                }
                if let Some(client) = master.clients.get_mut(&conn) {
                    client.last_read = now;
                }
                network::on_broker_info(master, own, conn, info, fx);
            }
            Message::ToBroker(ToBroker::SubscribeAdvisories) => {
                let Store::Master(master) = &mut inst.store else { return };
                if !inst.serving || !master.clients.contains_key(&conn) {
                    return;
                }
                network::subscribe_advisories(master, conn, fx);
            }
            Message::ToBroker(command) => {
                let no_audit = self.config.planted_bug == Some(PlantedBug::NoProducerAudit);
                let Store::Master(master) = &mut inst.store else { return };
                if !inst.serving {
                    return;
                }
                if let Some(client) = master.clients.get_mut(&conn) {
                    client.last_read = now;
                }
                on_client_command(master, conn, command, no_audit, fx);
            }
            other => panic!("broker got {other:?}"),
        }
    }

    pub fn invariants(&self) {
        let Some(inst) = &self.instance else { return };
        inst.group_invariants();
        assert_eq!(
            inst.serving,
            matches!(&inst.store, Store::Master(m) if m.phase == MasterPhase::Serving),
            "serving exactly while the master store serves"
        );
        let log_end = self.log.end();
        match &inst.store {
            Store::Master(master) => {
                let needed = match self.config.planted_bug {
                    Some(PlantedBug::AckBeforeQuorum) => 0,
                    _ => self.config.sync.slave_acks(self.config.replicas),
                };
                master.invariants(log_end, needed);
            }
            Store::Slave(slave) => {
                assert_eq!(inst.connected_address.as_ref(), Some(&slave.target));
                slave.invariants(log_end);
            }
            Store::Idle => {}
        }
        if inst.address.is_some() {
            assert!(matches!(inst.store, Store::Master(_)), "an address without a master store");
        }
        if inst.stopping {
            assert!(
                !inst.serving && matches!(inst.store, Store::Idle),
                "a stopping broker still serves or stores"
            );
        }
    }
}
