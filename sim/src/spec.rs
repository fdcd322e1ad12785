//! A scenario as typed data: topology, settings, the fault schedule, what must sometimes happen
//! and how long the system has to recover. The `scenarios` crate parses files into this.

use broker_model::bridge::ConnectorConfig;
use broker_model::broker::{PlantedBug, SyncMode};
use broker_model::client::{ConsumerSpec, ProducerSpec, Protocol};
use std::fmt;

/// Everything a run needs besides its seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub description: String,
    pub topology: TopologySpec,
    pub settings: Settings,
    /// The run ends at this simulated time.
    pub duration_ms: u64,
    /// After the last step, every group must have exactly one serving master within this long.
    pub liveness_deadline_ms: u64,
    pub steps: Vec<Step>,
    /// What the faults must cause in every seed, or the scenario has stopped testing anything.
    pub sometimes: Vec<Sometimes>,
    /// The step whose time the measurements start from (default: the first step).
    pub measure_from: Option<String>,
    /// Application clients (producers and consumers); empty for election-only scenarios.
    pub workload: Vec<ClientSpec>,
    /// Every message must have left its destination by the end (the consumers drain it).
    pub expect_drain: bool,
    /// Measure the gaps between each bridge URI's attempts after the fault
    /// (`bridge_wait_ms:...`): the discovery agent's back-off, for scenarios about it.
    pub measure_bridge_waits: bool,
    /// Report whether every message was delivered within this long of its send, and why not
    /// (`check::deadline`; the seed's STOMP check).
    pub delivery_deadline_ms: Option<u64>,
}

/// One application process with its producers and consumers, connected to one group.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    pub name: String,
    pub group: u32,
    pub protocol: Protocol,
    pub producers: Vec<ProducerSpec>,
    pub consumers: Vec<ConsumerSpec>,
    pub start_ms: u64,
    /// Producers stop here; consumers drain to the end of the run.
    pub stop_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologySpec {
    /// Broker groups (each with its own ZooKeeper ensemble, as in the seed): 1 or 2.
    pub groups: u32,
    /// False (the seed): a group's three brokers share one host and its ports. True: one host
    /// per broker (`mq1-host`, ...), as the seed's closing advice recommends.
    pub host_per_broker: bool,
    /// `<networkConnector>`s: which group's masters run each and which group it reaches.
    pub connectors: Vec<ConnectorSpec>,
}

impl TopologySpec {
    /// One master/slave group, no network connectors.
    pub fn one_group() -> TopologySpec {
        TopologySpec { groups: 1, host_per_broker: false, connectors: Vec::new() }
    }

    /// The seed's Broker Cluster: two groups, each master with a duplex connector to the
    /// other group's three brokers (`group1-broker1`, `group2-broker1`).
    pub fn seed() -> TopologySpec {
        TopologySpec { groups: 2, host_per_broker: false, connectors: ConnectorSpec::seed() }
    }
}

/// One network connector in the topology: run by the masters of `group`, its `static:(...)`
/// lists every broker of `to_group` (each broker's OpenWire port), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorSpec {
    pub group: u32,
    pub to_group: u32,
    /// Name, duplex and every attribute; its `uris` are filled in by the layout.
    pub config: ConnectorConfig,
}

impl ConnectorSpec {
    /// The seed's two connectors, duplex on both sides.
    pub fn seed() -> Vec<ConnectorSpec> {
        let connector = |group: u32, to_group: u32| {
            let mut config = ConnectorConfig::new(&format!("group{group}-broker1"), Vec::new());
            config.duplex = true;
            ConnectorSpec { group, to_group, config }
        };
        vec![connector(1, 2), connector(2, 1)]
    }
}

/// The settings an operator tunes; defaults are the seed deployment's.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub tick_time_ms: u64,
    pub init_limit: u64,
    pub sync_limit: u64,
    pub zk_session_timeout_ms: u64,
    pub replicas: u32,
    pub sync: SyncMode,
    pub broker_startup_ms: u64,
    pub broker_restart_delay_ms: u64,
    /// A demoted master's `BrokerService.stop()` before its ZooKeeper client is closed.
    pub broker_stop_ms: u64,
    pub master_recovery_ms: u64,
    /// One-way latency between hosts, uniform in [min, max] microseconds.
    pub lan_latency_us: (u64, u64),
    /// One-way latency within a host.
    pub loopback_latency_us: (u64, u64),
    /// Link bandwidth between hosts and within a host, megabits per second.
    pub lan_mbit_per_s: u64,
    pub loopback_mbit_per_s: u64,
    /// Time an fsync takes, uniform in [min, max] microseconds.
    pub fsync_us: (u64, u64),
    /// Sequential disk write speed, megabytes per second.
    pub disk_mb_per_s: u64,
    /// `logSize` in bytes.
    pub log_size: u64,
    /// Overrides every network connector's `networkTTL` (and `messageTTL`, `consumerTTL`).
    pub network_ttl: Option<u32>,
    /// Overrides every network connector's `decreaseNetworkConsumerPriority`.
    pub decrease_network_consumer_priority: Option<bool>,
    /// Set only by tests that show a checker catches a bug.
    pub planted_bug: Option<PlantedBug>,
}

impl Settings {
    /// The seed's deployment: tickTime 2000, zkSessionTimeout 3s, replicas 3, and ActiveMQ's
    /// default `sync="quorum_mem"` (the seed itself sets `local_disk`).
    pub fn seed() -> Settings {
        Settings {
            tick_time_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            zk_session_timeout_ms: 3000,
            replicas: 3,
            sync: SyncMode::QuorumMem,
            broker_startup_ms: 2000,
            broker_restart_delay_ms: 1000,
            broker_stop_ms: 100,
            master_recovery_ms: 100,
            lan_latency_us: (100, 400),
            loopback_latency_us: (10, 30),
            lan_mbit_per_s: 1000,
            loopback_mbit_per_s: 10_000,
            fsync_us: (300, 1500),
            disk_mb_per_s: 200,
            log_size: 104_857_600,
            network_ttl: None,
            decrease_network_consumer_priority: None,
            planted_bug: None,
        }
    }
}

/// When a step fires: uniform in [min, max] ms, from the start or after another step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub after: Option<String>,
    pub min_ms: u64,
    pub max_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    pub at: At,
    pub action: Action,
}

/// A process, named or found by its role when the step fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Process(String),
    /// The serving master of group N (1-based).
    Master(u32),
    /// A random live broker of group N that is not serving.
    RandomSlave(u32),
    /// The live broker of group N with the oldest (smallest) registered member id.
    Oldest(u32),
    Youngest(u32),
    /// The serving leader of ensemble N.
    ZkLeader(u32),
    /// A random serving follower of ensemble N.
    ZkFollower(u32),
    /// The process another step acted on.
    Step(String),
}

/// A set of hosts, for partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    Named(String),
    /// The host of a process (resolved when the step fires).
    HostOf(Target),
    /// Every ZooKeeper host.
    ZkHosts,
    /// Every broker host.
    BrokerHosts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `kill -9`.
    Crash(Target),
    Restart(Target),
    /// A long GC pause: the process stops for `duration_ms`, then resumes with its backlog.
    Pause {
        target: Target,
        duration_ms: u64,
    },
    /// Power loss of the target's host: every process on it dies, peers hear nothing.
    HostCrash(Hosts),
    HostRestart(Hosts),
    /// Cut `from` → `to` (and back unless one-way) until healed.
    Partition {
        from: Vec<Hosts>,
        to: Vec<Hosts>,
        one_way: bool,
    },
    /// Heal the partition made by a step, or every partition.
    Heal {
        step: Option<String>,
    },
}

/// Facts a scenario requires of every seed after its measured step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sometimes {
    /// The head of a group published a newly elected master.
    MasterElected,
    /// The ZooKeeper leader expired a broker's session.
    SessionExpired,
    /// A ZooKeeper server started leading (a new epoch).
    ZkLeaderElected,
    /// A master stepped down (demotion).
    MasterDemoted,
    /// A slave finished attaching (downloaded what it lacked) to a master.
    SlaveCaughtUp,
    /// A client connected again after losing its connection.
    ClientReconnected,
    /// A network bridge (re)established its connection and handshake.
    BridgeReconnected,
}

impl Sometimes {
    pub const ALL: [Sometimes; 7] = [
        Sometimes::MasterElected,
        Sometimes::SessionExpired,
        Sometimes::ZkLeaderElected,
        Sometimes::MasterDemoted,
        Sometimes::SlaveCaughtUp,
        Sometimes::ClientReconnected,
        Sometimes::BridgeReconnected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sometimes::MasterElected => "master_elected",
            Sometimes::SessionExpired => "session_expired",
            Sometimes::ZkLeaderElected => "zk_leader_elected",
            Sometimes::MasterDemoted => "master_demoted",
            Sometimes::SlaveCaughtUp => "slave_caught_up",
            Sometimes::ClientReconnected => "client_reconnected",
            Sometimes::BridgeReconnected => "bridge_reconnected",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Process(name) => write!(f, "{name}"),
            Target::Master(g) => write!(f, "master:group{g}"),
            Target::RandomSlave(g) => write!(f, "slave:group{g}"),
            Target::Oldest(g) => write!(f, "oldest:group{g}"),
            Target::Youngest(g) => write!(f, "youngest:group{g}"),
            Target::ZkLeader(e) => write!(f, "zk-leader:ensemble{e}"),
            Target::ZkFollower(e) => write!(f, "zk-follower:ensemble{e}"),
            Target::Step(id) => write!(f, "step:{id}"),
        }
    }
}

impl fmt::Display for Hosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hosts::Named(name) => write!(f, "{name}"),
            Hosts::HostOf(target) => write!(f, "host-of:{target}"),
            Hosts::ZkHosts => write!(f, "zk-hosts"),
            Hosts::BrokerHosts => write!(f, "broker-hosts"),
        }
    }
}

fn host_list(hosts: &[Hosts]) -> String {
    hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Action {
    /// The action in the scenario file's words, e.g. `crash master:group1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Crash(target) => write!(f, "crash {target} (kill -9)"),
            Action::Restart(target) => write!(f, "restart {target}"),
            Action::Pause { target, duration_ms } => write!(f, "pause {target} for {duration_ms} ms"),
            Action::HostCrash(hosts) => write!(f, "power loss of {hosts}"),
            Action::HostRestart(hosts) => write!(f, "power back on {hosts}"),
            Action::Partition { from, to, one_way } => write!(
                f,
                "partition [{}] {} [{}]",
                host_list(from),
                if *one_way { "->" } else { "<->" },
                host_list(to)
            ),
            Action::Heal { step: Some(id) } => write!(f, "heal partition {id}"),
            Action::Heal { step: None } => write!(f, "heal every partition"),
        }
    }
}
