//! Failover timings, measured from the scenario's measured step (the fault):
//! - `fault_to_expired_ms`: the ZooKeeper leader expires a broker's session;
//! - `fault_to_elected_ms`: a head publishes a newly elected master;
//! - `fault_to_serving_ms`: a master opens its client ports;
//! - `fault_to_zk_leader_ms`: a ZooKeeper server starts serving as leader (ZooKeeper faults);
//! - `no_master_ms`: how long group 1 had no serving master after the fault.

use super::{measured_step_time, serving_timeline, Context};
use crate::history::Kind;
use broker_model::io::ZkRole;
use broker_model::Observation;
use std::collections::{BTreeMap, BTreeSet};

pub fn measure(context: &Context<'_>) -> BTreeMap<String, f64> {
    let mut timings = BTreeMap::new();
    let Some(fault_at) = measured_step_time(context) else {
        return timings;
    };
    let broker_sessions: BTreeSet<_> = context
        .history
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            Kind::Observed(Observation::BrokerSessionConnected { session }) => Some(*session),
            _ => None,
        })
        .collect();
    let after = context.history.events.iter().filter(|e| e.at >= fault_at);
    let mut first = |name: &str, at: broker_model::Time| {
        timings.entry(name.to_string()).or_insert(at.ms_since(fault_at));
    };
    for event in after {
        match &event.kind {
            Kind::Observed(Observation::ZkSessionExpired { session })
                if broker_sessions.contains(session) =>
            {
                first("fault_to_expired_ms", event.at)
            }
            Kind::Observed(Observation::Elected { .. }) => first("fault_to_elected_ms", event.at),
            Kind::Observed(Observation::Serving { on: true }) => first("fault_to_serving_ms", event.at),
            Kind::Observed(Observation::ZkRole { role: ZkRole::Leading, serving: true, .. }) => {
                first("fault_to_zk_leader_ms", event.at)
            }
            _ => {}
        }
    }
    let timeline = serving_timeline(context, 1);
    let mut gap_start = None;
    for (at, serving) in &timeline {
        if *at < fault_at {
            continue;
        }
        match (gap_start, serving.is_empty()) {
            (None, true) => gap_start = Some(*at),
            (Some(start), false) => {
                timings.insert("no_master_ms".to_string(), at.ms_since(start));
                break;
            }
            _ => {}
        }
    }
    timings
}
