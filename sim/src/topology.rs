//! The seed's deployment laid out as hosts and processes (seed/: three ZooKeeper hosts, each
//! running one server per ensemble; one broker host per group running three brokers).

use crate::spec::Spec;
use broker_model::bridge::ConnectorConfig;
use broker_model::broker::BrokerConfig;
use broker_model::client::{ClientConfig, Protocol};
use broker_model::zk::server::{PeerAddrs, ServerConfig};
use broker_model::zk::EnsembleConfig;
use broker_model::{Addr, HostId};
use std::collections::BTreeMap;
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub ip: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProcessKind {
    Zk { ensemble: u32, config: ServerConfig },
    Broker { group: u32, config: BrokerConfig },
    Client { group: u32, config: ClientConfig },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    pub name: String,
    pub host: HostId,
    pub kind: ProcessKind,
}

impl Process {
    pub fn group(&self) -> Option<u32> {
        match &self.kind {
            ProcessKind::Broker { group, .. } => Some(*group),
            ProcessKind::Zk { .. } | ProcessKind::Client { .. } => None,
        }
    }

    pub fn is_client(&self) -> bool {
        matches!(self.kind, ProcessKind::Client { .. })
    }

    pub fn ensemble(&self) -> Option<u32> {
        match &self.kind {
            ProcessKind::Zk { ensemble, .. } => Some(*ensemble),
            ProcessKind::Broker { group, .. } => Some(*group),
            ProcessKind::Client { .. } => None,
        }
    }

    pub fn is_zk(&self) -> bool {
        matches!(self.kind, ProcessKind::Zk { .. })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub hosts: Vec<Host>,
    pub processes: Vec<Process>,
}

const ZK_IPS: [&str; 3] = ["192.168.0.240", "192.168.0.250", "192.168.0.225"];
const MQ_IPS: [&str; 2] = ["192.168.0.231", "192.168.0.241"];
/// The application host of the workload's clients.
const APP_IP: &str = "192.168.0.100";
const OPENWIRE_PORTS: [u16; 3] = [61616, 61617, 61618];
const STOMP_PORTS: [u16; 3] = [61613, 61623, 61633];

impl Layout {
    /// Hosts `zkhost1..3` then `mqhost1..G`; processes `zk1..zk3` (ensemble 1), `zk4..zk6`
    /// (ensemble 2), then `mq1..mq3` (group 1) and `mq4..mq6` (group 2).
    pub fn build(spec: &Spec, seed: u64) -> Layout {
        let groups = spec.topology.groups;
        assert!((1..=2).contains(&groups), "groups must be 1 or 2");
        let mut hosts = Vec::new();
        for (i, ip) in ZK_IPS.iter().enumerate() {
            hosts.push(Host { name: format!("zkhost{}", i + 1), ip: ip.to_string() });
        }
        let per_broker = spec.topology.host_per_broker;
        for (g, ip) in MQ_IPS.iter().enumerate().take(groups as usize) {
            if per_broker {
                for b in 0..3 {
                    let (prefix, last) = ip.rsplit_once('.').expect("an IPv4 address");
                    let last: u32 = last.parse().expect("a number");
                    let name = format!("mq{}-host", g * 3 + b + 1);
                    hosts.push(Host { name, ip: format!("{prefix}.{}", last + b as u32) });
                }
            } else {
                hosts.push(Host { name: format!("mqhost{}", g + 1), ip: ip.to_string() });
            }
        }
        let app_host = HostId(hosts.len() as u16);
        if !spec.workload.is_empty() {
            hosts.push(Host { name: "apphost".into(), ip: APP_IP.to_string() });
        }
        let resolver: BTreeMap<String, HostId> =
            hosts.iter().enumerate().map(|(i, h)| (h.ip.clone(), HostId(i as u16))).collect();
        let settings = &spec.settings;
        let ensemble = EnsembleConfig {
            tick_time_ms: settings.tick_time_ms,
            init_limit: settings.init_limit,
            sync_limit: settings.sync_limit,
            ..EnsembleConfig::seed()
        };
        let mut processes = Vec::new();
        for e in 1..=groups {
            let offset = (e - 1) as u16;
            let (client_port, quorum_port, election_port) = (2181 + offset, 2888 + offset, 3888 + offset);
            let peers: BTreeMap<u8, PeerAddrs> = (0..3u8)
                .map(|id| {
                    let host = HostId(id as u16);
                    let quorum = Addr { host, port: quorum_port };
                    let election = Addr { host, port: election_port };
                    (id, PeerAddrs { quorum, election })
                })
                .collect();
            for id in 0..3u8 {
                let name = format!("zk{}", (e - 1) * 3 + id as u32 + 1);
                // Each JVM's monotonic clock has its own origin: a per-server bucket phase.
                let clock_offset_ms = stream_value(seed, &name) % 1_000_000;
                let config = ServerConfig {
                    id,
                    client_port,
                    quorum_port,
                    election_port,
                    peers: peers.clone(),
                    ensemble: ensemble.clone(),
                    clock_offset_ms,
                };
                processes.push(Process {
                    name,
                    host: HostId(id as u16),
                    kind: ProcessKind::Zk { ensemble: e, config },
                });
            }
        }
        for g in 1..=groups {
            let client_port = 2181 + (g - 1) as u16;
            let zk_hosts: Vec<Addr> = (0..3).map(|i| Addr { host: HostId(i), port: client_port }).collect();
            for b in 0..3usize {
                let name = format!("mq{}", (g - 1) * 3 + b as u32 + 1);
                let host = if per_broker {
                    HostId(3 + ((g - 1) * 3) as u16 + b as u16)
                } else {
                    HostId(3 + (g - 1) as u16)
                };
                let config = BrokerConfig {
                    name: name.clone(),
                    broker_name: "activemq-cluster".into(),
                    hostname: hosts[host.0 as usize].ip.clone(),
                    zk_hosts: zk_hosts.clone(),
                    zk_path: format!("/activemq-cluster/leveldb-stores/group{g}"),
                    zk_session_timeout_ms: settings.zk_session_timeout_ms,
                    replicas: settings.replicas,
                    weight: 1,
                    sync: settings.sync,
                    log_size: settings.log_size,
                    disk_bytes_per_s: settings.disk_mb_per_s * 1_000_000,
                    bind_port: 62621,
                    openwire_port: OPENWIRE_PORTS[b],
                    stomp_port: STOMP_PORTS[b],
                    resolver: resolver.clone(),
                    startup_ms: settings.broker_startup_ms,
                    restart_delay_ms: settings.broker_restart_delay_ms,
                    stop_ms: settings.broker_stop_ms,
                    recovery_ms: settings.master_recovery_ms,
                    slave_retry_ms: 1000,
                    network_connectors: Vec::new(),
                    planted_bug: settings.planted_bug,
                };
                processes.push(Process { name, host, kind: ProcessKind::Broker { group: g, config } });
            }
        }
        // Network connectors: `static:(tcp://<each broker of the target group>:<its port>)`.
        for connector in &spec.topology.connectors {
            let uris: Vec<Addr> = processes
                .iter()
                .filter(|p| p.group() == Some(connector.to_group))
                .map(|p| match &p.kind {
                    ProcessKind::Broker { config, .. } => Addr { host: p.host, port: config.openwire_port },
                    _ => unreachable!("a group holds brokers"),
                })
                .collect();
            let mut config = ConnectorConfig { uris, ..connector.config.clone() };
            if let Some(ttl) = settings.network_ttl {
                (config.network_ttl, config.message_ttl, config.consumer_ttl) = (ttl, ttl, ttl);
            }
            if let Some(decrease) = settings.decrease_network_consumer_priority {
                config.decrease_network_consumer_priority = decrease;
            }
            let config = Rc::new(config);
            for p in processes.iter_mut().filter(|p| p.group() == Some(connector.group)) {
                if let ProcessKind::Broker { config: broker, .. } = &mut p.kind {
                    broker.network_connectors.push(Rc::clone(&config));
                }
            }
        }
        for (i, client) in spec.workload.iter().enumerate() {
            // `failover:(tcp://mqhost1:61616,tcp://mqhost1:61617,tcp://mqhost1:61618)`, or the
            // seed's STOMP check against the group's first broker.
            let brokers: Vec<&Process> =
                processes.iter().filter(|p| p.group() == Some(client.group)).collect();
            let uris = match client.protocol {
                Protocol::Failover => brokers
                    .iter()
                    .map(|p| match &p.kind {
                        ProcessKind::Broker { config, .. } => {
                            Addr { host: p.host, port: config.openwire_port }
                        }
                        _ => unreachable!(),
                    })
                    .collect(),
                Protocol::Stomp => match &brokers[0].kind {
                    ProcessKind::Broker { config, .. } => {
                        vec![Addr { host: brokers[0].host, port: config.stomp_port }]
                    }
                    _ => unreachable!(),
                },
            };
            let config = ClientConfig {
                name: client.name.clone(),
                index: i as u32 + 1,
                protocol: client.protocol,
                uris,
                producers: client.producers.clone(),
                consumers: client.consumers.clone(),
                start_ms: client.start_ms,
                stop_ms: client.stop_ms,
            };
            processes.push(Process {
                name: client.name.clone(),
                host: app_host,
                kind: ProcessKind::Client { group: client.group, config },
            });
        }
        Layout { hosts, processes }
    }

    pub fn process_named(&self, name: &str) -> Option<usize> {
        self.processes.iter().position(|p| p.name == name)
    }

    pub fn host_named(&self, name: &str) -> Option<HostId> {
        self.hosts.iter().position(|h| h.name == name).map(|i| HostId(i as u16))
    }
}

/// A deterministic per-name value derived from the seed (FNV-1a over both).
pub fn stream_value(seed: u64, name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.to_le_bytes().iter().chain(name.as_bytes()) {
        hash ^= *byte as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
