//! A run's measurements as typed values (`check::measure` fills them in from the history). The
//! `timings_ms` and `measures` maps of an [`crate::Outcome`], and so the keys of `run --json`,
//! are flattened from these: [`Measurements::flatten`] is the one place that names them.

use std::collections::BTreeMap;

/// The phases of a failover after one fault, for the group the fault hit, in ms from the
/// fault. `None`: it did not happen (within the window measured).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failover {
    /// The step the times count from.
    pub step: String,
    /// The group its target belongs to (the ensemble's number for a ZooKeeper server); `None`
    /// for a fault without one process (a partition).
    pub group: Option<u32>,
    /// The process it acted on (`mq2`, `zk1`), if one.
    pub target: Option<String>,
    /// Detection: the ZooKeeper leader expired a broker's session.
    pub expired_ms: Option<f64>,
    /// Election: a head published a newly elected master.
    pub elected_ms: Option<f64>,
    /// Promotion: a master opened its client ports.
    pub serving_ms: Option<f64>,
    /// A ZooKeeper server started serving as leader (ZooKeeper faults).
    pub zk_leader_ms: Option<f64>,
    /// Client recovery: every client that lost its connection was connected again (`None` if
    /// one never came back; see `clients_not_reconnected`).
    pub client_reconnect_ms: Option<f64>,
    /// A client that lost its connection had a send acknowledged again.
    pub first_send_ok_ms: Option<f64>,
    /// How long the group had no serving master after the fault.
    pub no_master_ms: Option<f64>,
    pub clients_not_reconnected: u32,
}

impl Failover {
    /// Every phase by its timing name (`run --json`'s `timings_ms` keys), in the order they
    /// happen.
    pub fn phases(&self) -> [(&'static str, Option<f64>); 7] {
        [
            ("fault_to_expired_ms", self.expired_ms),
            ("fault_to_elected_ms", self.elected_ms),
            ("fault_to_serving_ms", self.serving_ms),
            ("fault_to_zk_leader_ms", self.zk_leader_ms),
            ("fault_to_client_reconnect_ms", self.client_reconnect_ms),
            ("fault_to_first_send_ok_ms", self.first_send_ok_ms),
            ("no_master_ms", self.no_master_ms),
        ]
    }
}

/// Send → delivery latency of one destination, ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A restarted broker catching up as a slave.
#[derive(Debug, Clone, PartialEq)]
pub struct CatchUp {
    /// The restart step.
    pub step: String,
    pub ms: f64,
    /// What it downloaded, MB.
    pub transfer_mb: f64,
}

/// Forwarding from one group to the other after the measured fault.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BridgeOutage {
    /// The group that forwards (its master's bridge or a duplex mirror of the other's).
    pub from_group: u32,
    pub to_group: u32,
    /// The longest time with no forwarder up that ended with one up again.
    pub outage_ms: Option<f64>,
    /// From the fault to forwarding again after the fault took it down.
    pub fault_to_up_ms: Option<f64>,
    /// It was up before and never came back.
    pub not_reconnected: bool,
}

impl BridgeOutage {
    pub fn direction(&self) -> String {
        format!("group{}->group{}", self.from_group, self.to_group)
    }
}

/// One URI's waits between a failure and its next attempt (the discovery agent's back-off).
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeWaits {
    pub connector: String,
    pub host: String,
    pub port: u16,
    /// At most the first eight after the fault, ms.
    pub waits_ms: Vec<f64>,
}

/// Every measurement of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurements {
    /// After the measured step (unbounded: the first of each phase after it).
    pub failover: Option<Failover>,
    /// After every fault step (crash, pause, host crash, partition), each up to the next fault
    /// step: the phases per fault, for reports.
    pub per_fault: Vec<Failover>,
    /// By destination (`queue://orders`).
    pub latency: BTreeMap<String, Latency>,
    pub catch_up: Vec<CatchUp>,
    pub bridges: Vec<BridgeOutage>,
    pub bridge_waits: Vec<BridgeWaits>,
}

impl Measurements {
    /// The `timings_ms` and `measures` maps, by the names `run --json` documents
    /// (docs/scenarios.md).
    pub fn flatten(&self) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
        let mut timings = BTreeMap::new();
        let mut measures = BTreeMap::new();
        for (dest, l) in &self.latency {
            timings.insert(format!("latency_p50_ms:{dest}"), l.p50_ms);
            timings.insert(format!("latency_p99_ms:{dest}"), l.p99_ms);
            timings.insert(format!("latency_max_ms:{dest}"), l.max_ms);
        }
        for c in &self.catch_up {
            timings.insert(format!("catch_up_ms:{}", c.step), c.ms);
            measures.insert(format!("transfer_mb:{}", c.step), c.transfer_mb);
        }
        if let Some(f) = &self.failover {
            for (name, value) in f.phases() {
                if let Some(v) = value {
                    timings.insert(name.to_string(), v);
                }
            }
            if f.clients_not_reconnected > 0 {
                measures.insert("clients_not_reconnected".to_string(), f.clients_not_reconnected as f64);
            }
        }
        for b in &self.bridges {
            if let Some(v) = b.outage_ms {
                timings.insert(format!("bridge_outage_ms:{}", b.direction()), v);
            }
            if let Some(v) = b.fault_to_up_ms {
                timings.insert(format!("fault_to_bridge_up_ms:{}", b.direction()), v);
            }
            if b.not_reconnected {
                measures.insert(format!("bridge_not_reconnected:{}", b.direction()), 1.0);
            }
        }
        for w in &self.bridge_waits {
            for (k, wait) in w.waits_ms.iter().enumerate() {
                timings
                    .insert(format!("bridge_wait_ms:{}@{}:{}#{}", w.connector, w.host, w.port, k + 1), *wait);
            }
        }
        (timings, measures)
    }
}

/// The message checker's account of a run (`check::messages`; each count is defined there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageCounts {
    pub sent: u64,
    pub scheduled: u64,
    pub acked: u64,
    pub delivered: u64,
    pub lost: u64,
    pub lost_not_judged: u64,
    pub duplicated: u64,
    pub unexpected: u64,
    pub dlq: u64,
    pub recovered: u64,
    pub held_at_end: u64,
    pub stuck: u64,
    pub vanished: u64,
    pub out_of_order: u64,
    pub topic_missed_non_durable: u64,
    pub topic_missed_across_groups: u64,
    pub resends_suppressed: u64,
    pub duplicates_rejected: u64,
    pub duplicate_sends_stored: u64,
    pub network_duplicates_dlq: u64,
    pub durable_missed_across_groups: u64,
    pub forwarded: u64,
    /// With `delivery_deadline_ms`: how the seed's deadline check ended.
    pub deadline: Option<Deadline>,
}

/// The delivery-deadline check of one seed (`check::deadline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    Met,
    SenderOffline,
    ReceiverOffline,
    Undelivered,
    Late,
}

impl Deadline {
    pub const ALL: [Deadline; 5] = [
        Deadline::Met,
        Deadline::SenderOffline,
        Deadline::ReceiverOffline,
        Deadline::Undelivered,
        Deadline::Late,
    ];

    /// Its count's name in `run --json`.
    pub fn name(self) -> &'static str {
        match self {
            Deadline::Met => "deadline_met",
            Deadline::SenderOffline => "deadline_missed_sender_offline",
            Deadline::ReceiverOffline => "deadline_missed_receiver_offline",
            Deadline::Undelivered => "deadline_missed_undelivered",
            Deadline::Late => "deadline_missed_late",
        }
    }
}

impl MessageCounts {
    /// The `counts` map, by the names `run --json` documents.
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        let named = [
            ("sent", self.sent),
            ("scheduled", self.scheduled),
            ("acked", self.acked),
            ("delivered", self.delivered),
            ("lost", self.lost),
            ("lost_not_judged", self.lost_not_judged),
            ("duplicated", self.duplicated),
            ("unexpected", self.unexpected),
            ("dlq", self.dlq),
            ("recovered", self.recovered),
            ("held_at_end", self.held_at_end),
            ("stuck", self.stuck),
            ("vanished", self.vanished),
            ("out_of_order", self.out_of_order),
            ("topic_missed_non_durable", self.topic_missed_non_durable),
            ("topic_missed_across_groups", self.topic_missed_across_groups),
            ("resends_suppressed", self.resends_suppressed),
            ("duplicates_rejected", self.duplicates_rejected),
            ("duplicate_sends_stored", self.duplicate_sends_stored),
            ("network_duplicates_dlq", self.network_duplicates_dlq),
            ("durable_missed_across_groups", self.durable_missed_across_groups),
            ("forwarded", self.forwarded),
        ];
        let mut map: BTreeMap<String, u64> = named.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        if let Some(reason) = self.deadline {
            for d in Deadline::ALL {
                map.insert(d.name().to_string(), (d == reason) as u64);
            }
        }
        map
    }
}
