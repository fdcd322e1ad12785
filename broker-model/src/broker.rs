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

use crate::destination::{Delivery, Destinations};
use crate::elector::{self, eid_of_node_name, Member, NodeState};
use crate::io::{Addr, ConnId, DemoteReason, Effect, HostId, Input, Message, Observation, Record, TimerId};
use crate::messaging::{Dest, FromBroker, Msg, ToBroker, DLQ};
use crate::rng::Rng;
use crate::store::{Entry, Log, LogFile, LogOp};
use crate::time::Time;
use crate::zk::client::{ClientTimer, ZkClient, ZkEvent};
use crate::zk::proto::{CreateMode, Op, OpResult, WatchKind, ZkError};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// OpenWire's inactivity monitor sends a `KeepAliveInfo` this often (`maxInactivityDuration`/3).
pub const KEEPALIVE_MS: u64 = 10_000;

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
}

impl PlantedBug {
    pub const ALL: [PlantedBug; 5] = [
        PlantedBug::MasterIgnoresDisconnect,
        PlantedBug::HeadNeverElects,
        PlantedBug::AckBeforeQuorum,
        PlantedBug::SlaveAcksUnwritten,
        PlantedBug::NoProducerAudit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::MasterIgnoresDisconnect => "master_ignores_disconnect",
            PlantedBug::HeadNeverElects => "head_never_elects",
            PlantedBug::AckBeforeQuorum => "ack_before_quorum",
            PlantedBug::SlaveAcksUnwritten => "slave_acks_unwritten",
            PlantedBug::NoProducerAudit => "no_producer_audit",
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
    /// From `broker.stop()` to the new `BrokerService` starting (`bin/activemq` restart loop).
    pub restart_delay_ms: u64,
    /// LevelDB recovery of the master store before it binds.
    pub recovery_ms: u64,
    /// A slave retries its replication session after this long (`restart_slave_connections`).
    pub slave_retry_ms: u64,
    /// `None` in every real run.
    pub planted_bug: Option<PlantedBug>,
}

/// Timers of a broker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BrokerTimer {
    ZkClient {
        generation: u32,
        kind: ClientTimer,
    },
    /// The process finished booting: start the first `BrokerService`.
    Startup,
    /// The in-JVM restart after a demotion.
    Restart {
        instance: u32,
    },
    /// LevelDB recovery of a new master finished.
    MasterRecovered {
        instance: u32,
    },
    SlaveRetry {
        instance: u32,
    },
    /// A slave finished writing the files it downloaded.
    TransferWritten {
        instance: u32,
    },
    /// The inactivity monitor's write check: a `KeepAliveInfo` to every client.
    KeepAlive {
        instance: u32,
    },
}

/// Replicated LevelDB master ↔ slave (§2.1–2.3). The transfer session is folded into the WAL
/// session's connection: `get` and its data travel on the same link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplMsg {
    Login {
        node_id: String,
    },
    /// The master's append position and log files; streaming starts after it.
    SyncResponse {
        position: u64,
        files: Vec<LogFile>,
    },
    /// Download every record from `from` up to the sync position.
    Get {
        from: u64,
    },
    Transfer {
        entries: Vec<Entry>,
        bytes: u64,
    },
    Wal {
        entries: Vec<Entry>,
        sync: bool,
    },
    WalAck {
        position: u64,
    },
}

impl ReplMsg {
    /// Bytes on the wire, for the network's bandwidth.
    pub fn wire_size(&self) -> u64 {
        match self {
            ReplMsg::Transfer { bytes, .. } => 100 + bytes,
            ReplMsg::Wal { entries, .. } => 100 + entries.iter().map(Entry::len).sum::<u64>(),
            ReplMsg::SyncResponse { files, .. } => 200 + 60 * files.len() as u64,
            _ => 100,
        }
    }
}

/// What a broker keeps on disk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BrokerRecord {
    /// `nodeid.txt`.
    NodeId(String),
    /// A log record.
    Log(Entry),
    /// The log was cut back to this position (a slave's stash before a download).
    Truncate(u64),
}

/// What an outstanding ZooKeeper request was for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ZkOp {
    CreateParent,
    Join,
    Update,
    GetChildren,
    GetData { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MasterPhase {
    Recovering,
    /// `wal_sync_to`: waiting for `replicas/2` slaves to catch up.
    WaitingForSlaves,
    Serving,
}

/// A store operation queued for the write thread.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    op: LogOp,
    /// `syncNeeded`: the batch forces (fsync and/or slave acks) before it completes.
    sync: bool,
    /// A response to send when done: (client connection, correlation id).
    reply: Option<(ConnId, u64)>,
}

/// A batch written and waiting for its sync condition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Batch {
    end: u64,
    /// The local fsync still outstanding.
    fsync: Option<u64>,
    ops: Vec<Pending>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Writer {
    queue: VecDeque<Pending>,
    blocked: Option<Batch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SlaveSession {
    node_id: Option<String>,
    /// The sync position given to this slave; WAL frames stream after it.
    sync_position: Option<u64>,
    caught_up: bool,
    acked: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientConn {
    reconnect: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MasterStore {
    phase: MasterPhase,
    /// `wal_sync_to(wal_append_position)` at start: what slaves must reach before serving.
    required: u64,
    /// Replication sessions by connection.
    sessions: BTreeMap<ConnId, SlaveSession>,
    writer: Writer,
    clients: BTreeMap<ConnId, ClientConn>,
    destinations: Destinations,
    /// `producerSequenceIdTracker`: the last sequence id logged per producer.
    producer_seq: BTreeMap<u32, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SlaveStore {
    target: String,
    conn: Option<ConnId>,
    caught_up: bool,
    /// The master's position at sync: what a download covers.
    sync_position: Option<u64>,
    /// WAL frames received while downloading, written once the download is; whether any of
    /// them asked for an msync.
    early_wal: Vec<Entry>,
    early_sync: bool,
    /// Where the download starts: the log is cut back there only once the download is written
    /// (until then the stash — the old log — is what the slave has).
    download_from: Option<u64>,
    download: Option<(Vec<Entry>, u64)>,
    /// msyncs in flight: token → position to ack.
    syncing: BTreeMap<u64, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
    next_conn: u64,
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
            next_conn: 0,
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

    pub fn on_start(&mut self, now: Time, fx: &mut Vec<Effect>) {
        fx.push(Effect::Append { record: Record::Broker(BrokerRecord::NodeId(self.node_id.clone())) });
        fx.push(Effect::Sync { token: 0 });
        let at = now.add_ms(self.config.startup_ms);
        fx.push(Effect::SetTimer { timer: TimerId::Broker(BrokerTimer::Startup), at });
    }

    fn new_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        assert!(self.next_conn < 1 << 32, "broker conn ids overflow into zk client space");
        ConnId::Out(self.next_conn)
    }

    /// `BrokerService.start()` → `ElectingLevelDBStore.init()`: a new ZooKeeper session.
    fn start_instance(&mut self, now: Time, fx: &mut Vec<Effect>) {
        assert!(self.instance.is_none());
        self.instances_started += 1;
        let number = self.instances_started;
        fx.push(Effect::Observe { observation: Observation::BrokerStarted { instance: number } });
        let zk = ZkClient::new(
            now,
            number,
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
        });
    }

    pub fn on_input(&mut self, now: Time, input: Input, fx: &mut Vec<Effect>) {
        match input {
            Input::Timer { timer: TimerId::Broker(t) } => self.on_timer(now, t, fx),
            Input::Timer { timer } => panic!("foreign timer {timer:?}"),
            Input::Connected { conn } => self.on_connected(now, conn, fx),
            Input::ConnectFailed { conn, .. } | Input::Closed { conn, .. } => {
                self.on_conn_lost(now, conn, fx)
            }
            Input::Accepted { conn, port } => self.on_accepted(conn, port, fx),
            Input::Received { conn, message } => self.on_message(now, conn, message, fx),
            Input::ListenFailed { port } => {
                assert_eq!(port, self.config.bind_port, "only the bind port can clash");
                self.demote(now, DemoteReason::BindFailed, fx);
            }
            Input::Synced { token } => self.on_synced(token, fx),
        }
        // The write thread runs whatever this input queued, as one batch (group commit).
        self.run_writer(fx);
        self.invariants();
    }

    fn on_timer(&mut self, now: Time, t: BrokerTimer, fx: &mut Vec<Effect>) {
        match t {
            BrokerTimer::Startup => self.start_instance(now, fx),
            BrokerTimer::Restart { instance } => {
                if self.instance.is_none() && instance == self.instances_started {
                    self.start_instance(now, fx);
                }
            }
            BrokerTimer::ZkClient { generation, kind } => {
                let Some(inst) = self.instance.as_mut() else {
                    return;
                };
                if !inst.zk.owns_timer(generation) {
                    return;
                }
                let mut events = Vec::new();
                inst.zk.on_timer(now, kind, &mut self.rng, fx, &mut events);
                self.on_zk_events(now, events, fx);
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
                let Some(inst) = self.instance.as_ref() else { return };
                let Store::Master(master) = &inst.store else { return };
                if inst.number != instance || !inst.serving {
                    return;
                }
                for conn in master.clients.keys() {
                    fx.push(Effect::Send {
                        conn: *conn,
                        message: Message::FromBroker(FromBroker::KeepAlive),
                    });
                }
                let timer = TimerId::Broker(BrokerTimer::KeepAlive { instance });
                fx.push(Effect::SetTimer { timer, at: now.add_ms(KEEPALIVE_MS) });
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // ZooKeeper group (`ZooKeeperGroup`, `ZooKeeperTreeTracker`, `ClusteredSingleton`).

    fn zk_request(&mut self, now: Time, op: Op, purpose: ZkOp, fx: &mut Vec<Effect>) {
        let inst = self.instance.as_mut().expect("an instance");
        let mut events = Vec::new();
        let xid = inst.zk.request(now, op, fx, &mut events);
        inst.zk_ops.insert(xid, purpose);
        // A request while disconnected fails at once; nothing else to do with it.
        for event in events {
            if let ZkEvent::Reply { xid, .. } = event {
                inst.zk_ops.remove(&xid);
            }
        }
    }

    fn on_zk_events(&mut self, now: Time, events: Vec<ZkEvent>, fx: &mut Vec<Effect>) {
        for event in events {
            if self.instance.is_none() {
                return;
            }
            self.on_zk_event(now, event, fx);
        }
    }

    fn on_zk_event(&mut self, now: Time, event: ZkEvent, fx: &mut Vec<Effect>) {
        match event {
            ZkEvent::SyncConnected { session } => {
                fx.push(Effect::Observe { observation: Observation::BrokerSessionConnected { session } });
                self.on_group_connected(now, fx);
            }
            ZkEvent::Disconnected => {
                let inst = self.instance.as_mut().expect("checked");
                let session = inst.zk.session().expect("was connected");
                fx.push(Effect::Observe { observation: Observation::BrokerSessionDisconnected { session } });
                // `ZooKeeperGroup.onDisconnected`: members = {}.
                inst.members.clear();
                inst.zk_ops.clear();
                self.changed(now, fx);
            }
            ZkEvent::Expired => {
                let inst = self.instance.as_mut().expect("checked");
                if let Some(session) = inst.zk.session() {
                    fx.push(Effect::Observe { observation: Observation::BrokerSessionExpired { session } });
                }
                // `ZKClient`: `_zk = null; tryConnect()` — a new session; the node rejoins with a
                // new, larger eid because its old znode is gone.
                let generation = inst.zk.generation() + 1000;
                inst.zk = ZkClient::new(
                    now,
                    generation,
                    self.config.zk_hosts.clone(),
                    self.config.zk_session_timeout_ms,
                    &mut self.rng,
                    fx,
                );
                inst.my_name = None;
                inst.joining = false;
                inst.published = None;
            }
            ZkEvent::Reply { xid, result } => self.on_zk_reply(now, xid, result, fx),
            ZkEvent::Watch { kind, path } => self.on_watch(now, kind, path, fx),
        }
    }

    fn on_group_connected(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let zk_path = self.config.zk_path.clone();
        // `ZooKeeperGroupFactory.create`: the group path is created with its parents.
        let mut prefix = String::new();
        for part in zk_path.split('/').filter(|p| !p.is_empty()) {
            prefix.push('/');
            prefix.push_str(part);
            let op = Op::Create { path: prefix.clone(), data: String::new(), mode: CreateMode::Persistent };
            self.zk_request(now, op, ZkOp::CreateParent, fx);
        }
        // The tree tracker is rebuilt on every connect (AMQ-5082).
        let op = Op::GetChildren { path: zk_path.clone(), watch: true };
        self.zk_request(now, op, ZkOp::GetChildren, fx);
        let inst = self.instance.as_ref().expect("checked");
        match inst.my_name.clone() {
            None => self.join(now, fx),
            // `ClusteredSingleton.onConnected` → `join(last state)`: update the same eid.
            Some(name) => {
                let state = self.current_state();
                let path = format!("{zk_path}/{name}");
                let op = Op::SetData { path, data: state.to_json(), version: None };
                self.zk_request(now, op, ZkOp::Update, fx);
                self.instance.as_mut().expect("checked").published = Some(state);
            }
        }
        self.changed(now, fx);
    }

    fn join(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let state = self.current_state();
        let path = format!("{}/0", self.config.zk_path);
        let op = Op::Create { path, data: state.to_json(), mode: CreateMode::EphemeralSequential };
        self.zk_request(now, op, ZkOp::Join, fx);
        let inst = self.instance.as_mut().expect("checked");
        inst.joining = true;
        inst.published = Some(state);
    }

    fn on_zk_reply(&mut self, now: Time, xid: u64, result: Result<OpResult, ZkError>, fx: &mut Vec<Effect>) {
        let inst = self.instance.as_mut().expect("checked");
        let Some(purpose) = inst.zk_ops.remove(&xid) else {
            return;
        };
        match (purpose, result) {
            (ZkOp::CreateParent, _) => {}
            (ZkOp::Join, Ok(OpResult::Created { path })) => {
                let name = path.rsplit('/').next().expect("a path").to_string();
                let eid = eid_of_node_name(&name).expect("a member name");
                let session = inst.zk.session().expect("connected");
                inst.my_name = Some(name);
                inst.joining = false;
                fx.push(Effect::Observe { observation: Observation::BrokerJoined { eid, session } });
                self.changed(now, fx);
            }
            (ZkOp::Join, _) => {
                inst.joining = false;
            }
            (ZkOp::Update, Err(ZkError::NoNode)) => {
                // The old znode is gone (its session expired): re-join with a new eid.
                inst.my_name = None;
                self.join(now, fx);
            }
            (ZkOp::Update, _) => {}
            (ZkOp::GetChildren, Ok(OpResult::Children { names })) => {
                let names: Vec<String> =
                    names.into_iter().filter(|n| eid_of_node_name(n).is_some()).collect();
                inst.members.retain(|name, _| names.contains(name));
                let new: Vec<String> = names.into_iter().filter(|n| !inst.members.contains_key(n)).collect();
                for name in &new {
                    inst.members.insert(name.clone(), None);
                }
                for name in new {
                    let path = format!("{}/{name}", self.config.zk_path);
                    self.zk_request(now, Op::GetData { path, watch: true }, ZkOp::GetData { name }, fx);
                }
                self.changed(now, fx);
            }
            (ZkOp::GetChildren, _) => {}
            (ZkOp::GetData { name }, Ok(OpResult::Data { data, .. })) => {
                if let Some(slot) = inst.members.get_mut(&name) {
                    *slot = NodeState::from_json(&data);
                }
                self.changed(now, fx);
            }
            (ZkOp::GetData { name }, Err(ZkError::NoNode)) => {
                inst.members.remove(&name);
                self.changed(now, fx);
            }
            (ZkOp::GetData { .. }, _) => {}
        }
    }

    fn on_watch(&mut self, now: Time, kind: WatchKind, path: String, fx: &mut Vec<Effect>) {
        let zk_path = self.config.zk_path.clone();
        match kind {
            WatchKind::NodeChildrenChanged if path == zk_path => {
                self.zk_request(now, Op::GetChildren { path, watch: true }, ZkOp::GetChildren, fx);
            }
            WatchKind::NodeDataChanged | WatchKind::NodeCreated => {
                let Some(name) = path.strip_prefix(&format!("{zk_path}/")).map(str::to_string) else {
                    return;
                };
                self.zk_request(now, Op::GetData { path, watch: true }, ZkOp::GetData { name }, fx);
            }
            WatchKind::NodeDeleted => {
                if let Some(name) = path.strip_prefix(&format!("{zk_path}/")) {
                    let inst = self.instance.as_mut().expect("checked");
                    inst.members.remove(name);
                    self.changed(now, fx);
                }
            }
            WatchKind::NodeChildrenChanged => {}
        }
    }

    // ---------------------------------------------------------------------------------------
    // `MasterElector.change_listener.changed`.

    /// The members with this broker's name, oldest first.
    fn same_name_members(&self) -> Vec<Member> {
        let inst = self.instance.as_ref().expect("checked");
        inst.members
            .iter()
            .filter_map(|(name, state)| {
                let state = state.as_ref()?;
                (state.id == self.config.broker_name)
                    .then(|| Member { eid: eid_of_node_name(name).expect("filtered"), state: state.clone() })
            })
            .collect()
    }

    fn current_state(&self) -> NodeState {
        let inst = self.instance.as_ref().expect("checked");
        NodeState {
            id: self.config.broker_name.clone(),
            container: None,
            address: inst.address.clone(),
            position: inst.position,
            weight: self.config.weight,
            elected: inst.elected.clone(),
        }
    }

    fn changed(&mut self, now: Time, fx: &mut Vec<Effect>) {
        // Each pass may start or stop a role synchronously; re-run until nothing moves.
        for _ in 0..4 {
            if !self.changed_once(now, fx) {
                return;
            }
        }
    }

    /// One evaluation of the elector; returns whether a store transition ran.
    fn changed_once(&mut self, now: Time, fx: &mut Vec<Effect>) -> bool {
        let Some(inst) = self.instance.as_ref() else {
            return false;
        };
        let members = self.same_name_members();
        let my_eid = inst.my_name.as_deref().and_then(eid_of_node_name);
        let is_head = my_eid.is_some() && members.first().map(|m| &m.eid) == my_eid.as_ref();
        let previous = inst.elected.clone();
        let elected = if is_head && self.config.planted_bug != Some(PlantedBug::HeadNeverElects) {
            elector::elect(&members, self.config.replicas, previous.as_deref()).ok()
        } else {
            None
        };
        if elected.is_some() && elected != previous {
            let eid = elected.clone().expect("checked");
            fx.push(Effect::Observe { observation: Observation::Elected { eid } });
        }
        let master_elected = members.first().and_then(|head| head.state.elected.clone());
        let target = master_elected
            .as_ref()
            .and_then(|eid| members.iter().find(|m| &m.eid == eid))
            .and_then(|m| m.state.address.clone());
        let inst = self.instance.as_mut().expect("checked");
        inst.elected = elected;
        let mut transition = false;
        if master_elected.is_some() {
            inst.position = -1;
        } else if inst.connected_address.is_none() && inst.address.is_none() && !inst.updating_store {
            inst.position = self.log.end() as i64;
        }
        let is_master = matches!(inst.store, Store::Master(_));
        let me = my_eid.is_some() && master_elected == my_eid;
        let ignore_loss =
            self.config.planted_bug == Some(PlantedBug::MasterIgnoresDisconnect) && !inst.zk.is_connected();
        if !me && is_master && !inst.updating_store && !ignore_loss {
            self.demote(now, DemoteReason::NotElected, fx);
            return false;
        }
        if me && !is_master && !inst.updating_store {
            self.promote(now, my_eid.expect("checked"), fx);
            transition = true;
        }
        let inst = self.instance.as_mut().expect("checked");
        if !matches!(inst.store, Store::Master(_)) && target != inst.connected_address {
            match target {
                Some(target) => self.start_slave(now, target, fx),
                None => self.stop_slave(fx),
            }
            transition = true;
        }
        self.publish(now, fx);
        transition
    }

    fn publish(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let inst = self.instance.as_ref().expect("checked");
        if !inst.zk.is_connected() || inst.joining {
            return;
        }
        let Some(name) = inst.my_name.clone() else {
            return;
        };
        let state = self.current_state();
        if inst.published.as_ref() == Some(&state) {
            return;
        }
        let path = format!("{}/{name}", self.config.zk_path);
        let op = Op::SetData { path, data: state.to_json(), version: None };
        self.zk_request(now, op, ZkOp::Update, fx);
        self.instance.as_mut().expect("checked").published = Some(state);
    }

    // ---------------------------------------------------------------------------------------
    // Store roles.

    /// "Promoted to master": `start_master` — recovery, bind, then (remote sync) wait for slaves.
    fn promote(&mut self, now: Time, eid: String, fx: &mut Vec<Effect>) {
        self.stop_slave(fx);
        let inst = self.instance.as_mut().expect("checked");
        inst.updating_store = true;
        inst.store = Store::Master(Box::new(MasterStore {
            phase: MasterPhase::Recovering,
            required: 0,
            sessions: BTreeMap::new(),
            writer: Writer::default(),
            clients: BTreeMap::new(),
            destinations: Destinations::default(),
            producer_seq: BTreeMap::new(),
        }));
        fx.push(Effect::Observe { observation: Observation::Promoted { eid } });
        let at = now.add_ms(self.config.recovery_ms);
        let timer = TimerId::Broker(BrokerTimer::MasterRecovered { instance: inst.number });
        fx.push(Effect::SetTimer { timer, at });
    }

    fn on_master_recovered(&mut self, now: Time, instance: u32, fx: &mut Vec<Effect>) {
        let Some(inst) = self.instance.as_mut() else {
            return;
        };
        if inst.number != instance {
            return;
        }
        let Store::Master(master) = &mut inst.store else {
            return;
        };
        assert_eq!(master.phase, MasterPhase::Recovering);
        // The index is rebuilt from the log: stored messages and the producer audit.
        let recovered = self.log.replay();
        for (topic, sub) in &recovered.durable {
            master.destinations.subscribe(topic, sub, true);
        }
        for (dest, messages) in recovered.messages {
            let queue = master.destinations.queue(&dest);
            for msg in messages {
                queue.enqueue(msg);
            }
        }
        master.producer_seq = recovered.producer_seq;
        master.required = self.log.end();
        // `start_protocol_server`: bind, then publish the address (the callback runs at once).
        fx.push(Effect::Listen { port: self.config.bind_port });
        master.phase = MasterPhase::WaitingForSlaves;
        inst.updating_store = false;
        inst.address = Some(format!("tcp://{}:{}", self.config.hostname, self.config.bind_port));
        // The elector sees the new address first: a master that lost its election meanwhile
        // steps down without ever opening its client ports.
        self.changed(now, fx);
        if self.instance.as_ref().is_some_and(|i| i.number == instance) {
            self.maybe_serve(now, fx);
        }
    }

    /// `wal_sync_to(wal_append_position)` returns once `replicas/2` slaves caught up (skipped
    /// without a remote part); then the locker releases and the broker opens its connectors.
    fn maybe_serve(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let needed = self.config.sync.slave_acks(self.config.replicas);
        let Some(inst) = self.instance.as_mut() else { return };
        let Store::Master(master) = &mut inst.store else {
            return;
        };
        if master.phase != MasterPhase::WaitingForSlaves {
            return;
        }
        let caught_up =
            master.sessions.values().filter(|s| s.caught_up && s.acked >= master.required).count();
        if caught_up < needed {
            return;
        }
        master.phase = MasterPhase::Serving;
        inst.serving = true;
        fx.push(Effect::Listen { port: self.config.openwire_port });
        fx.push(Effect::Listen { port: self.config.stomp_port });
        fx.push(Effect::Observe { observation: Observation::Serving { on: true } });
        let timer = TimerId::Broker(BrokerTimer::KeepAlive { instance: inst.number });
        fx.push(Effect::SetTimer { timer, at: now.add_ms(KEEPALIVE_MS) });
    }

    /// "Demoted to slave": `stop_master`, then `broker.requestRestart(); broker.stop()`.
    fn demote(&mut self, now: Time, reason: DemoteReason, fx: &mut Vec<Effect>) {
        fx.push(Effect::Observe { observation: Observation::Demoted { reason } });
        self.stop_instance(now, fx);
        let at = now.add_ms(self.config.restart_delay_ms);
        let timer = TimerId::Broker(BrokerTimer::Restart { instance: self.instances_started });
        fx.push(Effect::SetTimer { timer, at });
    }

    /// `BrokerService.stop()`: connectors, the store, and the group (`zk_group.close`). Sync
    /// operations still waiting end with `SuppressReplyException`: no response is sent.
    fn stop_instance(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let Some(mut inst) = self.instance.take() else {
            return;
        };
        if inst.serving {
            fx.push(Effect::Unlisten { port: self.config.openwire_port });
            fx.push(Effect::Unlisten { port: self.config.stomp_port });
            fx.push(Effect::Observe { observation: Observation::Serving { on: false } });
        }
        match &inst.store {
            Store::Master(master) => {
                if master.phase != MasterPhase::Recovering {
                    fx.push(Effect::Unlisten { port: self.config.bind_port });
                }
                for conn in master.sessions.keys().chain(master.clients.keys()) {
                    fx.push(Effect::Close { conn: *conn });
                }
            }
            Store::Slave(slave) => {
                if let Some(conn) = slave.conn {
                    fx.push(Effect::Close { conn });
                }
            }
            Store::Idle => {}
        }
        // Deleting our znode and closing the session only reach ZooKeeper while connected.
        if inst.zk.is_connected() {
            if let Some(name) = &inst.my_name {
                let path = format!("{}/{name}", self.config.zk_path);
                let mut events = Vec::new();
                inst.zk.request(now, Op::Delete { path, version: None }, fx, &mut events);
            }
        }
        inst.zk.close(now, fx);
    }

    fn start_slave(&mut self, now: Time, target: String, fx: &mut Vec<Effect>) {
        self.stop_slave(fx);
        let inst = self.instance.as_mut().expect("checked");
        inst.connected_address = Some(target.clone());
        inst.store = Store::Slave(SlaveStore {
            target: target.clone(),
            conn: None,
            caught_up: false,
            sync_position: None,
            early_wal: Vec::new(),
            early_sync: false,
            download_from: None,
            download: None,
            syncing: BTreeMap::new(),
        });
        self.connect_slave(now, target, fx);
    }

    fn connect_slave(&mut self, now: Time, target: String, fx: &mut Vec<Effect>) {
        let addr = self.resolve(&target);
        let conn = self.new_conn();
        let inst = self.instance.as_mut().expect("checked");
        let Store::Slave(slave) = &mut inst.store else { unreachable!() };
        slave.caught_up = false;
        slave.sync_position = None;
        slave.early_wal.clear();
        slave.early_sync = false;
        slave.download_from = None;
        slave.download = None;
        slave.syncing.clear();
        match addr {
            Some(addr) => {
                slave.conn = Some(conn);
                fx.push(Effect::Connect { conn, target: addr });
            }
            // An address it cannot resolve is a session error too: retry later.
            None => {
                let timer = TimerId::Broker(BrokerTimer::SlaveRetry { instance: inst.number });
                fx.push(Effect::SetTimer { timer, at: now.add_ms(self.config.slave_retry_ms) });
            }
        }
    }

    fn stop_slave(&mut self, fx: &mut Vec<Effect>) {
        let inst = self.instance.as_mut().expect("checked");
        if let Store::Slave(slave) = &inst.store {
            if let Some(conn) = slave.conn {
                fx.push(Effect::Close { conn });
            }
            inst.store = Store::Idle;
        }
        inst.connected_address = None;
    }

    /// `tcp://host:port` → an address, through the broker's resolver.
    fn resolve(&self, url: &str) -> Option<Addr> {
        let rest = url.strip_prefix("tcp://")?;
        let (host, port) = rest.rsplit_once(':')?;
        let host = *self.config.resolver.get(host)?;
        Some(Addr { host, port: port.parse().ok()? })
    }

    // ---------------------------------------------------------------------------------------
    // The write thread (`DBManager`, `LevelDBClient.store`, `MasterLevelDBStore.wal_sync_to`).

    /// Runs queued operations: a blocked batch first; then everything queued as one batch,
    /// written, streamed to the slaves, and — if any operation needs a sync — forced.
    fn run_writer(&mut self, fx: &mut Vec<Effect>) {
        let needed = match self.config.planted_bug {
            Some(PlantedBug::AckBeforeQuorum) => 0,
            _ => self.config.sync.slave_acks(self.config.replicas),
        };
        let Some(inst) = self.instance.as_mut() else { return };
        let Store::Master(master) = &mut inst.store else { return };
        loop {
            if let Some(batch) = &master.writer.blocked {
                let acks = master.sessions.values().filter(|s| s.caught_up && s.acked >= batch.end).count();
                if batch.fsync.is_some() || acks < needed {
                    return;
                }
                let batch = master.writer.blocked.take().expect("checked");
                complete(master, batch.ops, fx);
                continue;
            }
            if master.writer.queue.is_empty() {
                return;
            }
            let ops: Vec<Pending> = master.writer.queue.drain(..).collect();
            let mut entries = Vec::with_capacity(ops.len());
            for op in &ops {
                let entry = self.log.append(op.op.clone());
                if let LogOp::Add { msg } = &entry.op {
                    let seq = master.producer_seq.entry(msg.id.producer).or_insert(0);
                    *seq = (*seq).max(msg.id.seq);
                }
                fx.push(Effect::Append { record: Record::Broker(BrokerRecord::Log(entry.clone())) });
                entries.push(entry);
            }
            // `replicate_wal` on every flush, to every slave past its sync.
            let sync = self.config.sync.wal_frame_sync();
            for (conn, session) in &master.sessions {
                if session.sync_position.is_some() {
                    let message = Message::Repl(ReplMsg::Wal { entries: entries.clone(), sync });
                    fx.push(Effect::Send { conn: *conn, message });
                }
            }
            if !ops.iter().any(|op| op.sync) {
                complete(master, ops, fx);
                continue;
            }
            let fsync = if self.config.sync.local_fsync() {
                self.next_token += 1;
                fx.push(Effect::Sync { token: self.next_token });
                Some(self.next_token)
            } else {
                None
            };
            master.writer.blocked = Some(Batch { end: self.log.end(), fsync, ops });
        }
    }

    fn on_synced(&mut self, token: u64, fx: &mut Vec<Effect>) {
        let Some(inst) = self.instance.as_mut() else { return };
        match &mut inst.store {
            Store::Master(master) => {
                if let Some(batch) = &mut master.writer.blocked {
                    if batch.fsync == Some(token) {
                        batch.fsync = None;
                    }
                }
            }
            Store::Slave(slave) => {
                if let Some(position) = slave.syncing.remove(&token) {
                    if let Some(conn) = slave.conn {
                        fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::WalAck { position }) });
                    }
                }
            }
            Store::Idle => {}
        }
    }

    // ---------------------------------------------------------------------------------------
    // Replication: the slave side (`SlaveLevelDBStore`).

    fn on_sync_response(&mut self, conn: ConnId, position: u64, files: Vec<LogFile>, fx: &mut Vec<Effect>) {
        let bug = self.config.planted_bug == Some(PlantedBug::SlaveAcksUnwritten);
        let master_addr = self.slave_target_addr();
        let inst = self.instance.as_mut().expect("checked");
        let Store::Slave(slave) = &mut inst.store else { return };
        if slave.conn != Some(conn) {
            return;
        }
        slave.sync_position = Some(position);
        if bug {
            // Claims the master's position without downloading anything.
            slave.caught_up = true;
            fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::WalAck { position }) });
            if let Some(master) = master_addr {
                fx.push(Effect::Observe {
                    observation: Observation::SlaveCaughtUp { master, transferred: 0 },
                });
            }
            return;
        }
        // Stash: keep the files that match; download from the first that differs.
        let from = Log::first_missing(&self.log.files(), &files).unwrap_or(position);
        slave.download_from = Some(from);
        fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::Get { from }) });
    }

    fn on_download(
        &mut self,
        now: Time,
        conn: ConnId,
        entries: Vec<Entry>,
        bytes: u64,
        fx: &mut Vec<Effect>,
    ) {
        let disk = self.config.disk_bytes_per_s.max(1);
        let inst = self.instance.as_mut().expect("checked");
        let Store::Slave(slave) = &mut inst.store else { return };
        if slave.conn != Some(conn) || slave.caught_up {
            return;
        }
        slave.download = Some((entries, bytes));
        let at = now.add_us(bytes.saturating_mul(1_000_000) / disk);
        fx.push(Effect::SetTimer {
            timer: TimerId::Broker(BrokerTimer::TransferWritten { instance: inst.number }),
            at,
        });
    }

    /// The download is on disk: "Attached", caughtUp = true, ack the append position.
    fn on_transfer_written(&mut self, instance: u32, fx: &mut Vec<Effect>) {
        let master_addr = self.slave_target_addr();
        let Some(inst) = self.instance.as_mut() else { return };
        if inst.number != instance {
            return;
        }
        let Store::Slave(slave) = &mut inst.store else { return };
        let (Some(conn), Some((entries, bytes))) = (slave.conn, slave.download.take()) else { return };
        // The stash is replaced: the log is cut back to where the download starts.
        let from = slave.download_from.take().expect("a download has a start");
        if self.log.end() > from {
            self.log.truncate(from);
            fx.push(Effect::Append { record: Record::Broker(BrokerRecord::Truncate(from)) });
        }
        for entry in entries.into_iter().chain(std::mem::take(&mut slave.early_wal)) {
            if entry.start >= self.log.end() {
                self.log.write(entry.clone());
                fx.push(Effect::Append { record: Record::Broker(BrokerRecord::Log(entry)) });
            }
        }
        slave.caught_up = true;
        let position = self.log.end();
        if std::mem::take(&mut slave.early_sync) {
            // Frames that asked for an msync are acked only once it is done.
            self.next_token += 1;
            slave.syncing.insert(self.next_token, position);
            fx.push(Effect::Sync { token: self.next_token });
        } else {
            fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::WalAck { position }) });
        }
        if let Some(master) = master_addr {
            fx.push(Effect::Observe {
                observation: Observation::SlaveCaughtUp { master, transferred: bytes },
            });
        }
    }

    /// A `wal` frame: written at its offsets (after the download, if one is running), msynced
    /// if the frame says so, then acked.
    fn on_wal(&mut self, conn: ConnId, entries: Vec<Entry>, sync: bool, fx: &mut Vec<Effect>) {
        let inst = self.instance.as_mut().expect("checked");
        let Store::Slave(slave) = &mut inst.store else { return };
        if slave.conn != Some(conn) {
            return;
        }
        if !slave.caught_up {
            slave.early_wal.extend(entries);
            slave.early_sync |= sync;
            return;
        }
        for entry in entries {
            if entry.start >= self.log.end() {
                self.log.write(entry.clone());
                fx.push(Effect::Append { record: Record::Broker(BrokerRecord::Log(entry)) });
            }
        }
        let position = self.log.end();
        if sync {
            self.next_token += 1;
            slave.syncing.insert(self.next_token, position);
            fx.push(Effect::Sync { token: self.next_token });
        } else {
            fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::WalAck { position }) });
        }
    }

    fn slave_target_addr(&self) -> Option<Addr> {
        let inst = self.instance.as_ref()?;
        let Store::Slave(slave) = &inst.store else { return None };
        self.resolve(&slave.target)
    }

    // ---------------------------------------------------------------------------------------
    // Connections.

    fn on_connected(&mut self, now: Time, conn: ConnId, fx: &mut Vec<Effect>) {
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

    fn on_conn_lost(&mut self, now: Time, conn: ConnId, fx: &mut Vec<Effect>) {
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
                if master.clients.remove(&conn).is_some() {
                    // `Queue.removeSubscription`: in-flight messages are requeued.
                    let dests: Vec<Dest> = master.destinations.queues.keys().cloned().collect();
                    master.destinations.remove_connection(conn);
                    for dest in dests {
                        dispatch(master, &dest, fx);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_accepted(&mut self, conn: ConnId, port: u16, fx: &mut Vec<Effect>) {
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
                master.clients.insert(conn, ClientConn { reconnect: false });
            }
            _ => fx.push(Effect::Close { conn }),
        }
    }

    fn on_message(&mut self, now: Time, conn: ConnId, message: Message, fx: &mut Vec<Effect>) {
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
            Message::ToBroker(command) => {
                let no_audit = self.config.planted_bug == Some(PlantedBug::NoProducerAudit);
                let Store::Master(master) = &mut inst.store else { return };
                if !inst.serving {
                    return;
                }
                on_client_command(master, conn, command, no_audit, fx);
            }
            other => panic!("broker got {other:?}"),
        }
    }

    pub fn invariants(&self) {
        let Some(inst) = &self.instance else { return };
        if inst.serving {
            assert!(
                matches!(&inst.store, Store::Master(m) if m.phase == MasterPhase::Serving),
                "serving without a serving master store"
            );
        }
        if let Store::Slave(slave) = &inst.store {
            assert_eq!(inst.connected_address.as_ref(), Some(&slave.target));
        }
        if let Store::Master(master) = &inst.store {
            if let Some(batch) = &master.writer.blocked {
                assert!(batch.end <= self.log.end(), "a batch waits for a position past the log end");
            }
        }
        if inst.address.is_some() {
            assert!(matches!(inst.store, Store::Master(_)), "an address without a master store");
        }
    }
}

// -------------------------------------------------------------------------------------------
// The broker's side of client connections (`TransportConnection`, `Queue`).

fn on_client_command(
    master: &mut MasterStore,
    conn: ConnId,
    command: ToBroker,
    no_audit: bool,
    fx: &mut Vec<Effect>,
) {
    let Some(client) = master.clients.get_mut(&conn) else { return };
    match command {
        ToBroker::Connect { reconnect, .. } => client.reconnect = reconnect,
        ToBroker::Subscribe(info) => {
            let slot = match &info.dest {
                Dest::Queue(_) => info.dest.clone(),
                Dest::Topic(topic) => {
                    let durable = info.durable.is_some();
                    let sub = info.durable.clone().unwrap_or_else(|| format!("c{}", info.consumer));
                    let (slot, new) = master.destinations.subscribe(topic, &sub, durable);
                    if durable && new {
                        // `addSubscription`: stored, and the topic's messages kept for it from now.
                        let op = LogOp::AddSub { topic: topic.clone(), sub };
                        master.writer.queue.push_back(Pending { op, sync: true, reply: None });
                    }
                    slot
                }
            };
            master.destinations.queue(&slot).add_consumer(conn, info);
            dispatch(master, &slot, fx);
        }
        ToBroker::Send { msg, corr } => {
            let reply = corr.map(|c| (conn, c));
            // A topic message is stored only if a durable subscription needs it
            // (`Topic.canOptimizeOutPersistence`).
            let stored = msg.persistent
                && match &msg.dest {
                    Dest::Queue(_) => true,
                    Dest::Topic(topic) => master.destinations.has_durable(topic),
                };
            if !stored {
                deliver_new(master, msg, fx);
                respond(master, reply, fx);
                return;
            }
            // `ProducerBrokerExchange.canDispatch`: a failover resend the store already logged is
            // answered as a success and not stored again.
            let last = master.producer_seq.get(&msg.id.producer).copied().unwrap_or(0);
            if client.reconnect && !no_audit && msg.id.seq <= last {
                fx.push(Effect::Observe { observation: Observation::ResendSuppressed { key: msg.key } });
                respond(master, reply, fx);
                return;
            }
            master.writer.queue.push_back(Pending { op: LogOp::Add { msg }, sync: corr.is_some(), reply });
        }
        ToBroker::Ack { consumer, id } => {
            let Some(slot) = master.destinations.dest_of(consumer) else { return };
            if let Some(msg) = master.destinations.queue(&slot).ack(consumer, id) {
                if let Some(op) = consumed_op(master, &slot, &msg) {
                    master.writer.queue.push_back(Pending { op, sync: false, reply: None });
                }
            }
            dispatch(master, &slot, fx);
        }
        ToBroker::PoisonAck { consumer, id } => {
            let Some(slot) = master.destinations.dest_of(consumer) else { return };
            if let Some(msg) = master.destinations.queue(&slot).ack(consumer, id) {
                let key = msg.key;
                if dead_letter(master, &slot, msg) {
                    fx.push(Effect::Observe { observation: Observation::DeadLettered { key, poison: true } });
                }
            }
            dispatch(master, &slot, fx);
        }
    }
}

/// The store operation that records `slot` consuming `msg`: a remove for a queue, an ack
/// position for a durable subscription, nothing for what was never stored.
fn consumed_op(master: &MasterStore, slot: &Dest, msg: &Msg) -> Option<LogOp> {
    if !msg.persistent {
        return None;
    }
    match master.destinations.subs.get(slot) {
        None => Some(LogOp::Remove { dest: slot.clone(), id: msg.id }),
        Some(sub) if sub.durable => {
            Some(LogOp::SubAck { topic: sub.topic.clone(), sub: sub.sub.clone(), id: msg.id })
        }
        Some(_) => None,
    }
}

fn respond(master: &MasterStore, reply: Option<(ConnId, u64)>, fx: &mut Vec<Effect>) {
    if let Some((conn, corr)) = reply {
        if master.clients.contains_key(&conn) {
            fx.push(Effect::Send { conn, message: Message::FromBroker(FromBroker::Response { corr }) });
        }
    }
}

/// Moves a message out of `slot` into `ActiveMQ.DLQ`; a non-persistent one is discarded
/// (`processNonPersistent=false`). Returns whether it went to the DLQ.
fn dead_letter(master: &mut MasterStore, slot: &Dest, msg: Msg) -> bool {
    if let Some(op) = consumed_op(master, slot, &msg) {
        master.writer.queue.push_back(Pending { op, sync: false, reply: None });
    }
    if !msg.persistent {
        return false;
    }
    let moved = Msg { dest: Dest::Queue(DLQ.to_string()), ..msg };
    master.writer.queue.push_back(Pending { op: LogOp::Add { msg: moved }, sync: false, reply: None });
    true
}

/// A message reaches its destination (stored first, if it is to be stored) and is dispatched:
/// a queue's cursor audit sends a duplicate send to the DLQ; a topic copies it to every
/// subscription.
fn deliver_new(master: &mut MasterStore, msg: Msg, fx: &mut Vec<Effect>) {
    let dest = msg.dest.clone();
    match &dest {
        Dest::Queue(_) if dest.is_dlq() => {
            master.destinations.queue(&dest).enqueue(msg);
        }
        Dest::Queue(_) => {
            if !master.destinations.queue(&dest).enqueue(msg.clone()) {
                let key = msg.key;
                fx.push(Effect::Observe { observation: Observation::DuplicateSend { key } });
                if dead_letter(master, &dest, msg) {
                    fx.push(Effect::Observe {
                        observation: Observation::DeadLettered { key, poison: false },
                    });
                }
            }
            dispatch(master, &dest, fx);
        }
        Dest::Topic(topic) => {
            for slot in master.destinations.slots_of(topic) {
                if !master.destinations.queue(&slot).enqueue(msg.clone()) {
                    // A duplicate for this subscription: dropped, and its stored reference with it.
                    if let Some(op) = consumed_op(master, &slot, &msg) {
                        master.writer.queue.push_back(Pending { op, sync: false, reply: None });
                    }
                }
                dispatch(master, &slot, fx);
            }
        }
    }
}

/// A batch is done: its messages reach their destinations and sync sends get their responses.
fn complete(master: &mut MasterStore, ops: Vec<Pending>, fx: &mut Vec<Effect>) {
    for op in ops {
        match op.op {
            LogOp::Add { msg } => deliver_new(master, msg, fx),
            LogOp::AddSub { topic, sub } => {
                fx.push(Effect::Observe { observation: Observation::DurableSubscribed { topic, sub } });
            }
            LogOp::Remove { .. } | LogOp::SubAck { .. } => {}
        }
        respond(master, op.reply, fx);
    }
}

fn dispatch(master: &mut MasterStore, slot: &Dest, fx: &mut Vec<Effect>) {
    let Some(queue) = master.destinations.queues.get_mut(slot) else { return };
    let (deliveries, consumed) = queue.dispatch();
    for Delivery { conn, consumer, msg, redelivered } in deliveries {
        let message = Message::FromBroker(FromBroker::Deliver { consumer, msg, redelivered });
        fx.push(Effect::Send { conn, message });
    }
    // STOMP `ack:auto`: acked at dispatch.
    for msg in consumed {
        if let Some(op) = consumed_op(master, slot, &msg) {
            master.writer.queue.push_back(Pending { op, sync: false, reply: None });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::MsgId;

    const CLIENT: ConnId = ConnId::In(10);
    const SLAVES: [ConnId; 2] = [ConnId::In(1), ConnId::In(2)];

    fn config(sync: SyncMode) -> BrokerConfig {
        BrokerConfig {
            name: "mq1".into(),
            broker_name: "activemq-cluster".into(),
            hostname: "10.0.0.1".into(),
            zk_hosts: vec![Addr { host: HostId(0), port: 2181 }],
            zk_path: "/g".into(),
            zk_session_timeout_ms: 3000,
            replicas: 3,
            weight: 1,
            sync,
            log_size: 1 << 20,
            disk_bytes_per_s: 100_000_000,
            bind_port: 62621,
            openwire_port: 61616,
            stomp_port: 61613,
            resolver: BTreeMap::new(),
            startup_ms: 0,
            restart_delay_ms: 1000,
            recovery_ms: 0,
            slave_retry_ms: 1000,
            planted_bug: None,
        }
    }

    /// A serving master with two attached, caught-up slaves and one client connection.
    fn serving_master(sync: SyncMode, bug: Option<PlantedBug>) -> Broker {
        let mut broker = Broker::start(BrokerConfig { planted_bug: bug, ..config(sync) }, (1, 1), &[]);
        broker.start_instance(Time::ZERO, &mut Vec::new());
        let inst = broker.instance.as_mut().expect("started");
        let session = SlaveSession { node_id: None, sync_position: Some(0), caught_up: true, acked: 0 };
        inst.store = Store::Master(Box::new(MasterStore {
            phase: MasterPhase::Serving,
            required: 0,
            sessions: SLAVES.iter().map(|c| (*c, session.clone())).collect(),
            writer: Writer::default(),
            clients: BTreeMap::new(),
            destinations: Destinations::default(),
            producer_seq: BTreeMap::new(),
        }));
        inst.serving = true;
        let mut fx = Vec::new();
        broker.on_input(Time::ZERO, Input::Accepted { conn: CLIENT, port: 61616 }, &mut fx);
        assert!(fx.is_empty(), "{fx:?}");
        broker
    }

    fn msg(seq: u64) -> Msg {
        let id = MsgId { producer: 1, seq };
        Msg { id, key: id, dest: Dest::Queue("q".into()), persistent: true, size: 100, sent_at: Time::ZERO }
    }

    fn input(broker: &mut Broker, input: Input) -> Vec<Effect> {
        let mut fx = Vec::new();
        broker.on_input(Time::from_ms(1), input, &mut fx);
        fx
    }

    fn send(broker: &mut Broker, seq: u64, corr: Option<u64>) -> Vec<Effect> {
        let message = Message::ToBroker(ToBroker::Send { msg: msg(seq), corr });
        input(broker, Input::Received { conn: CLIENT, message })
    }

    fn responses(fx: &[Effect]) -> Vec<u64> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Send { conn, message: Message::FromBroker(FromBroker::Response { corr }) } => {
                    assert_eq!(*conn, CLIENT);
                    Some(*corr)
                }
                _ => None,
            })
            .collect()
    }

    fn fsync_token(fx: &[Effect]) -> Option<u64> {
        fx.iter().find_map(|e| match e {
            Effect::Sync { token } => Some(*token),
            _ => None,
        })
    }

    fn wal_frames(fx: &[Effect]) -> Vec<(ConnId, u64, bool)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Send { conn, message: Message::Repl(ReplMsg::Wal { entries, sync }) } => {
                    Some((*conn, entries.last().expect("a frame has records").end(), *sync))
                }
                _ => None,
            })
            .collect()
    }

    fn appends(fx: &[Effect]) -> usize {
        fx.iter().filter(|e| matches!(e, Effect::Append { .. })).count()
    }

    fn ack(broker: &mut Broker, slave: usize, position: u64) -> Vec<Effect> {
        let message = Message::Repl(ReplMsg::WalAck { position });
        input(broker, Input::Received { conn: SLAVES[slave], message })
    }

    /// The acknowledgement rule of every mode, effect by effect: what a sync send emits, and
    /// which of (local fsync done, one slave ack) releases its response.
    #[test]
    fn each_sync_mode_acknowledges_by_its_rule() {
        for mode in SyncMode::ALL {
            let mut broker = serving_master(mode, None);
            let fx = send(&mut broker, 1, Some(7));
            assert_eq!(appends(&fx), 1, "{mode}: one log record");
            let end = broker.log_end();
            // Streamed to both slaves at once; the frame asks slaves to msync under every remote
            // mode (the quirk), never under local modes.
            let frames = wal_frames(&fx);
            assert_eq!(
                frames,
                vec![(SLAVES[0], end, mode.has_remote()), (SLAVES[1], end, mode.has_remote())],
                "{mode}"
            );
            let token = fsync_token(&fx);
            assert_eq!(
                token.is_some(),
                matches!(mode, SyncMode::LocalDisk | SyncMode::QuorumDisk),
                "{mode}: local fsync"
            );
            let immediate = responses(&fx);
            assert_eq!(immediate, if mode == SyncMode::LocalMem { vec![7] } else { vec![] }, "{mode}");
            if mode == SyncMode::LocalMem {
                continue;
            }
            // Local fsync (if any) first: releases local_disk only.
            if let Some(token) = token {
                let fx = input(&mut broker, Input::Synced { token });
                assert_eq!(
                    responses(&fx),
                    if mode == SyncMode::LocalDisk { vec![7] } else { vec![] },
                    "{mode}"
                );
            }
            if mode == SyncMode::LocalDisk {
                continue;
            }
            // An ack short of the position does not count; one slave at the position is
            // replicas/2 = 1 and releases the response.
            assert!(responses(&ack(&mut broker, 0, end - 1)).is_empty(), "{mode}");
            assert_eq!(responses(&ack(&mut broker, 1, end)), vec![7], "{mode}");
        }
    }

    #[test]
    fn quorum_disk_needs_both_the_fsync_and_a_slave() {
        let mut broker = serving_master(SyncMode::QuorumDisk, None);
        let fx = send(&mut broker, 1, Some(7));
        let token = fsync_token(&fx).expect("quorum_disk fsyncs locally");
        let end = broker.log_end();
        assert!(responses(&ack(&mut broker, 0, end)).is_empty(), "a slave ack alone is not enough");
        assert_eq!(responses(&input(&mut broker, Input::Synced { token })), vec![7]);
    }

    /// Async sends and acks never wait; but the one write thread makes them queue behind a
    /// blocked sync batch, so broker persistence stalls as a whole.
    #[test]
    fn async_work_does_not_wait_but_stalls_behind_a_blocked_sync_send() {
        let mut broker = serving_master(SyncMode::QuorumMem, None);
        let fx = send(&mut broker, 1, None);
        assert_eq!(appends(&fx), 1);
        assert!(fsync_token(&fx).is_none() && responses(&fx).is_empty(), "an async send forces nothing");
        // A sync send blocks the writer ...
        let fx = send(&mut broker, 2, Some(8));
        assert_eq!(appends(&fx), 1);
        let blocked_end = broker.log_end();
        // ... and an async send behind it is not even written.
        let fx = send(&mut broker, 3, None);
        assert_eq!(appends(&fx), 0, "queued behind the blocked batch");
        // One slave ack releases the sync send and runs the queued work as the next batch.
        let fx = ack(&mut broker, 0, blocked_end);
        assert_eq!(responses(&fx), vec![8]);
        assert_eq!(appends(&fx), 1);
    }

    #[test]
    fn planted_ack_before_quorum_answers_at_once() {
        let mut broker = serving_master(SyncMode::QuorumMem, Some(PlantedBug::AckBeforeQuorum));
        assert_eq!(responses(&send(&mut broker, 1, Some(7))), vec![7]);
    }

    #[test]
    fn a_failover_resend_the_store_has_is_answered_and_not_stored_again() {
        for bug in [None, Some(PlantedBug::NoProducerAudit)] {
            let mut broker = serving_master(SyncMode::LocalMem, bug);
            let connect = Message::ToBroker(ToBroker::Connect { client: 1, reconnect: true });
            input(&mut broker, Input::Received { conn: CLIENT, message: connect });
            assert_eq!(responses(&send(&mut broker, 1, Some(7))), vec![7]);
            let fx = send(&mut broker, 1, Some(8));
            assert_eq!(responses(&fx), vec![8], "answered either way");
            let stored_again = appends(&fx) > 0;
            assert_eq!(stored_again, bug.is_some(), "{bug:?}");
        }
    }

    /// A slave acks only what it wrote: after a download it acks its append position; under
    /// the planted bug it acks the master's position before downloading anything.
    #[test]
    fn a_slave_acks_only_positions_it_has_written() {
        for bug in [None, Some(PlantedBug::SlaveAcksUnwritten)] {
            let mut master_log = Log::new(1 << 20);
            for seq in 1..=3 {
                master_log.append(LogOp::Add { msg: msg(seq) });
            }
            let config = BrokerConfig { planted_bug: bug, ..config(SyncMode::QuorumMem) };
            let mut broker = Broker::start(config, (1, 1), &[]);
            broker.start_instance(Time::ZERO, &mut Vec::new());
            let master = ConnId::Out(99);
            let inst = broker.instance.as_mut().expect("started");
            inst.connected_address = Some("tcp://10.0.0.2:62621".into());
            inst.store = Store::Slave(SlaveStore {
                target: "tcp://10.0.0.2:62621".into(),
                conn: Some(master),
                caught_up: false,
                sync_position: None,
                early_wal: Vec::new(),
                early_sync: false,
                download_from: None,
                download: None,
                syncing: BTreeMap::new(),
            });
            let position = master_log.end();
            let message = Message::Repl(ReplMsg::SyncResponse { position, files: master_log.files() });
            let fx = input(&mut broker, Input::Received { conn: master, message });
            let acked: Vec<u64> = fx
                .iter()
                .filter_map(|e| match e {
                    Effect::Send { message: Message::Repl(ReplMsg::WalAck { position }), .. } => {
                        Some(*position)
                    }
                    _ => None,
                })
                .collect();
            if bug.is_some() {
                assert_eq!(acked, vec![position]);
                assert_eq!(broker.log_end(), 0, "acked without having written anything");
                continue;
            }
            assert!(acked.is_empty());
            assert!(fx
                .iter()
                .any(|e| matches!(e, Effect::Send { message: Message::Repl(ReplMsg::Get { from: 0 }), .. })));
            let entries = master_log.range(0, position).to_vec();
            let message = Message::Repl(ReplMsg::Transfer { entries, bytes: position });
            let fx = input(&mut broker, Input::Received { conn: master, message });
            assert!(fx.iter().any(|e| matches!(
                e,
                Effect::SetTimer { timer: TimerId::Broker(BrokerTimer::TransferWritten { .. }), .. }
            )));
            let fx = input(
                &mut broker,
                Input::Timer { timer: TimerId::Broker(BrokerTimer::TransferWritten { instance: 1 }) },
            );
            assert_eq!(broker.log_end(), position);
            assert!(fx.iter().any(|e| matches!(e, Effect::Send { message: Message::Repl(ReplMsg::WalAck { position: p }), .. } if *p == position)));
        }
    }

    /// The stash: a slave keeps its old log until the download is written (so a failed session
    /// leaves its data and position as they were), and frames that ask for an msync during the
    /// download are acked only after one.
    // Postmortem: found by review (issue 3). The slave cut its log when the SyncResponse came,
    // so a session that failed mid-download lowered its election position and lost its data;
    // and frames that arrived during the download were acked without the msync they asked for.
    #[test]
    fn a_slave_keeps_its_stash_until_the_download_is_written_and_msyncs_before_acking() {
        let mut master_log = Log::new(1 << 20);
        for seq in 1..=3 {
            master_log.append(LogOp::Add { msg: msg(seq) });
        }
        // The slave is an old master: it has records the new master never had.
        let mut disk: Vec<Record> = Vec::new();
        let mut old = master_log.clone();
        old.truncate(master_log.range(0, u64::MAX)[1].start);
        let theirs = old.append(LogOp::Add { msg: msg(99) });
        for entry in old.range(0, u64::MAX) {
            disk.push(Record::Broker(BrokerRecord::Log(entry.clone())));
        }
        let mut broker = Broker::start(config(SyncMode::QuorumMem), (1, 1), &disk);
        let stash_end = broker.log_end();
        assert_eq!(stash_end, theirs.end());
        broker.start_instance(Time::ZERO, &mut Vec::new());
        let master = ConnId::Out(99);
        let inst = broker.instance.as_mut().expect("started");
        inst.connected_address = Some("tcp://10.0.0.2:62621".into());
        inst.store = Store::Slave(SlaveStore {
            target: "tcp://10.0.0.2:62621".into(),
            conn: Some(master),
            caught_up: false,
            sync_position: None,
            early_wal: Vec::new(),
            early_sync: false,
            download_from: None,
            download: None,
            syncing: BTreeMap::new(),
        });
        let position = master_log.end();
        let message = Message::Repl(ReplMsg::SyncResponse { position, files: master_log.files() });
        input(&mut broker, Input::Received { conn: master, message });
        assert_eq!(broker.log_end(), stash_end, "nothing is cut before the download is written");
        // A frame arrives during the download and asks for an msync.
        let next = master_log.append(LogOp::Add { msg: msg(4) });
        let message = Message::Repl(ReplMsg::Wal { entries: vec![next.clone()], sync: true });
        assert!(input(&mut broker, Input::Received { conn: master, message }).is_empty());
        let entries = master_log.range(0, position).to_vec();
        let message = Message::Repl(ReplMsg::Transfer { entries, bytes: position });
        input(&mut broker, Input::Received { conn: master, message });
        assert_eq!(broker.log_end(), stash_end);
        let timer = TimerId::Broker(BrokerTimer::TransferWritten { instance: 1 });
        let fx = input(&mut broker, Input::Timer { timer });
        assert_eq!(broker.log_end(), next.end(), "the stash is replaced by the master's log");
        assert_eq!(broker.log.replay(), master_log.replay());
        let is_ack =
            |e: &Effect| matches!(e, Effect::Send { message: Message::Repl(ReplMsg::WalAck { .. }), .. });
        assert!(!fx.iter().any(is_ack), "no ack before the msync");
        let token = fsync_token(&fx).expect("an msync");
        let fx = input(&mut broker, Input::Synced { token });
        assert!(fx.iter().any(|e| matches!(e, Effect::Send { message: Message::Repl(ReplMsg::WalAck { position: p }), .. } if *p == next.end())));
    }
}
