//! Failover timings, measured from the scenario's measured step (the fault):
//! - `fault_to_expired_ms`: the ZooKeeper leader expires a broker's session;
//! - `fault_to_elected_ms`: a head publishes a newly elected master;
//! - `fault_to_serving_ms`: a master opens its client ports;
//! - `fault_to_zk_leader_ms`: a ZooKeeper server starts serving as leader (ZooKeeper faults);
//! - `fault_to_client_reconnect_ms`: every client that lost its connection is connected again;
//! - `fault_to_first_send_ok_ms`: a client that lost its connection has a send acknowledged again;
//! - `no_master_ms`: how long the fault's group (its broker's group, or its ZooKeeper server's
//!   ensemble's) had no serving master after the fault;
//! - `latency_p50_ms:<dest>`, `latency_p99_ms:<dest>`, `latency_max_ms:<dest>`: send → delivery;
//! - `catch_up_ms:<step>`: from a restart step to that broker catching up as a slave, with
//!   `transfer_mb:<step>` (what it downloaded) among the measures;
//! - network bridges, per direction between the groups (`group1->group2`: forwarding from
//!   group1's master, by its own bridge or by a duplex mirror of group2's):
//!   `bridge_outage_ms:<dir>`, the longest time after the fault with no forwarder up that ended with one up again;
//!   `fault_to_bridge_up_ms:<dir>`, from the fault to forwarding again after the fault took it
//!   down (`bridge_not_reconnected:<dir>` among the measures when it never came back); and
//!   with `measure_bridge_waits`, `bridge_wait_ms:<connector>@<host>:<port>#<k>`: the k-th gap
//!   (k ≤ 8) wait after the fault from one of that URI's failures (refused, timed out, down)
//!   to its next attempt: the discovery agent's back-off.
//!
//! The values are typed (`crate::measurements`); these names are their flattened form. The
//! same failover phases are also measured after every fault step, each up to the next one
//! (`Measurements::per_fault`).

use super::{measured_step_time, serving_timeline, Context};
use crate::history::Kind;
use crate::measurements::{BridgeOutage, BridgeWaits, CatchUp, Failover, Latency, Measurements};
use crate::spec::Action;
use broker_model::bridge::{BridgeEvent, BridgeName};
use broker_model::io::ZkRole;
use broker_model::Observation;
use broker_model::Time;
use std::collections::{BTreeMap, BTreeSet};

/// Every measurement of a run.
pub fn measure(context: &Context<'_>) -> Measurements {
    let mut m = Measurements { latency: latency(context), catch_up: catch_up(context), ..Default::default() };
    if let Some(fault_at) = measured_step_time(context) {
        let id =
            context.spec.measure_from.clone().or_else(|| context.spec.steps.first().map(|s| s.id.clone()));
        let step = context
            .history
            .events
            .iter()
            .find(|e| matches!(&e.kind, Kind::Step { id: s } if Some(s) == id.as_ref()));
        m.failover = step.map(|step| failover(context, step, None));
        m.bridges = bridges(context, fault_at, &mut m.bridge_waits);
    }
    m.per_fault = per_fault(context);
    m
}

/// Send → delivery latency percentiles per destination (`latency_p50_ms:queue://orders`): a
/// queue consumed live and a backlog drained at the end are different questions.
fn latency(context: &Context<'_>) -> BTreeMap<String, Latency> {
    let mut by_dest = BTreeMap::new();
    for (dest, latencies) in context.history.ledger.latencies() {
        let mut latencies = latencies.to_vec();
        latencies.sort_unstable();
        let n = latencies.len();
        let rank = |p: f64| latencies[((p * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1000.0;
        by_dest
            .insert(dest.to_string(), Latency { p50_ms: rank(0.5), p99_ms: rank(0.99), max_ms: rank(1.0) });
    }
    by_dest
}

/// The failover phases after every fault step, each measured up to the next fault step.
fn per_fault(context: &Context<'_>) -> Vec<Failover> {
    let is_fault = |id: &str| {
        context.spec.steps.iter().any(|s| {
            s.id == id
                && matches!(
                    s.action,
                    Action::Crash(_) | Action::Pause { .. } | Action::HostCrash(_) | Action::Partition { .. }
                )
        })
    };
    let faults: Vec<&crate::history::Event> = context
        .history
        .events
        .iter()
        .filter(|e| matches!(&e.kind, Kind::Step { id } if is_fault(id)))
        .collect();
    // Each fault step up to the next one that fired later (steps of one instant share a window).
    faults
        .iter()
        .map(|step| {
            let until = faults.iter().map(|f| f.at).find(|at| *at > step.at);
            failover(context, step, until)
        })
        .collect()
}

/// For every broker restart step: the time until that broker caught up, and the bytes it
/// downloaded.
fn catch_up(context: &Context<'_>) -> Vec<CatchUp> {
    let mut caught_up = Vec::new();
    for (i, event) in context.history.events.iter().enumerate() {
        let Kind::Step { id } = &event.kind else { continue };
        let Some(process) = event.process else { continue };
        let is_restart =
            context.spec.steps.iter().any(|s| &s.id == id && matches!(s.action, Action::Restart(_)));
        if !is_restart || context.layout.processes[process].group().is_none() {
            continue;
        }
        let caught = context.history.events[i..].iter().find_map(|e| match &e.kind {
            Kind::Observed(Observation::SlaveCaughtUp { transferred, .. }) if e.process == Some(process) => {
                Some((e.at, *transferred))
            }
            _ => None,
        });
        if let Some((at, bytes)) = caught {
            // A step fires once; a second restart step of the same id cannot happen.
            caught_up.retain(|c: &CatchUp| &c.step != id);
            caught_up.push(CatchUp {
                step: id.clone(),
                ms: at.ms_since(event.at),
                transfer_mb: bytes as f64 / 1e6,
            });
        }
    }
    caught_up
}

/// The failover phases after the fault at `fault_at`, counting only what happened before
/// `until` (the next fault) when given.
fn failover(context: &Context<'_>, step: &crate::history::Event, until: Option<Time>) -> Failover {
    let fault_at = step.at;
    let broker_sessions: BTreeSet<_> = context
        .history
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            Kind::Observed(Observation::BrokerSessionConnected { session }) => Some(*session),
            _ => None,
        })
        .collect();
    // The group the fault hit (a broker's group, or a ZooKeeper server's ensemble): elections
    // and masters elsewhere are not this failover.
    let fault_group = step.process.and_then(|p| context.layout.processes[p].ensemble());
    let mut f = Failover {
        step: match &step.kind {
            Kind::Step { id } => id.clone(),
            _ => String::new(),
        },
        group: fault_group,
        target: step.process.map(|p| context.layout.processes[p].name.clone()),
        ..Default::default()
    };
    let in_group = |p: Option<usize>| {
        fault_group.is_none() || p.and_then(|p| context.layout.processes[p].group()) == fault_group
    };
    let within = |at: Time| at >= fault_at && until.is_none_or(|u| at < u);
    // Clients that lost their connection after the fault, and when each was back.
    let mut cut = BTreeSet::new();
    let mut back = BTreeMap::new();
    let first = |slot: &mut Option<f64>, at: Time| {
        slot.get_or_insert(at.ms_since(fault_at));
    };
    for event in context.history.events.iter().filter(|e| within(e.at)) {
        match &event.kind {
            Kind::Observed(Observation::ZkSessionExpired { session })
                if broker_sessions.contains(session) =>
            {
                first(&mut f.expired_ms, event.at)
            }
            Kind::Observed(Observation::Elected { .. }) if in_group(event.process) => {
                first(&mut f.elected_ms, event.at)
            }
            Kind::Observed(Observation::Serving { on: true }) if in_group(event.process) => {
                first(&mut f.serving_ms, event.at)
            }
            Kind::Observed(Observation::ClientDisconnected) => {
                cut.insert(event.process);
            }
            Kind::Observed(Observation::ClientConnected { .. }) if cut.contains(&event.process) => {
                back.entry(event.process).or_insert(event.at);
            }
            Kind::Observed(Observation::SendAcked { .. }) if back.contains_key(&event.process) => {
                first(&mut f.first_send_ok_ms, event.at)
            }
            Kind::Observed(Observation::ZkRole { role: ZkRole::Leading, serving: true, .. }) => {
                first(&mut f.zk_leader_ms, event.at)
            }
            _ => {}
        }
    }
    // Only when every client that lost its connection came back: a missing one would make the
    // timing look better than it was (it shows as `clients_not_reconnected` instead).
    if back.len() == cut.len() {
        f.client_reconnect_ms = back.values().max().map(|last| last.ms_since(fault_at));
    } else {
        f.clients_not_reconnected = (cut.len() - back.len()) as u32;
    }
    // The group the fault hit (group1 for a ZooKeeper fault of ensemble 1, which both share a
    // number with).
    let timeline = serving_timeline(context, fault_group.unwrap_or(1));
    let mut gap_start = None;
    for (at, serving) in &timeline {
        if !within(*at) {
            continue;
        }
        match (gap_start, serving.is_empty()) {
            (None, true) => gap_start = Some(*at),
            (Some(start), false) => {
                f.no_master_ms = Some(at.ms_since(start));
                break;
            }
            _ => {}
        }
    }
    f
}

/// Forwarding between the groups after the fault, and each URI's attempt gaps.
fn bridges(context: &Context<'_>, fault_at: Time, uri_waits: &mut Vec<BridgeWaits>) -> Vec<BridgeOutage> {
    let mut outages: BTreeMap<u32, BridgeOutage> = BTreeMap::new();
    if context.spec.topology.groups != 2 {
        return Vec::new();
    }
    // Forwarders up, by process; how many per source group.
    let mut up: BTreeMap<usize, BTreeMap<BridgeName, usize>> = BTreeMap::new();
    let mut was_up: BTreeSet<u32> = BTreeSet::new();
    let mut gap_from: BTreeMap<u32, Time> = BTreeMap::new();
    // Per URI of an initiator bridge: when its last attempt failed, and the waits after the fault.
    let mut failed_at: BTreeMap<(String, broker_model::Addr), Time> = BTreeMap::new();
    let mut waits: BTreeMap<(String, broker_model::Addr), Vec<f64>> = BTreeMap::new();
    let count = |up: &BTreeMap<usize, BTreeMap<BridgeName, usize>>, g: u32| -> usize {
        up.iter()
            .filter(|(p, _)| context.layout.processes[**p].group() == Some(g))
            .map(|(_, s)| s.values().sum::<usize>())
            .sum()
    };
    for event in &context.history.events {
        let Some(process) = event.process else { continue };
        let Some(group) = context.layout.processes[process].group() else { continue };
        let before = count(&up, group);
        match &event.kind {
            Kind::Observed(Observation::Bridge { name, event: what }) => {
                let uri = (name.connector.clone(), name.uri);
                match what {
                    BridgeEvent::Up { .. } => {
                        *up.entry(process).or_default().entry(name.clone()).or_default() += 1;
                    }
                    BridgeEvent::Down { .. } => {
                        let names = up.entry(process).or_default();
                        if let Some(n) = names.get_mut(name) {
                            *n -= 1;
                            if *n == 0 {
                                names.remove(name);
                            }
                        }
                    }
                    _ => {}
                }
                match what {
                    _ if name.mirror => {}
                    BridgeEvent::Refused | BridgeEvent::TimedOut | BridgeEvent::Down { .. } => {
                        failed_at.insert(uri, event.at);
                    }
                    BridgeEvent::Attempt if event.at >= fault_at => {
                        if let Some(failed) = failed_at.remove(&uri) {
                            waits.entry(uri).or_default().push(event.at.ms_since(failed));
                        }
                    }
                    _ => {}
                }
            }
            Kind::Crashed => {
                up.remove(&process);
            }
            _ => {}
        }
        let after = count(&up, group);
        if after > 0 {
            was_up.insert(group);
        }
        if event.at < fault_at {
            continue;
        }
        if before > 0 && after == 0 {
            gap_from.insert(group, event.at);
        } else if before == 0 && after > 0 {
            if let Some(from) = gap_from.remove(&group) {
                let outage = event.at.ms_since(from);
                let o = outages.entry(group).or_insert_with(|| BridgeOutage {
                    from_group: group,
                    to_group: 3 - group,
                    ..Default::default()
                });
                o.outage_ms = Some(o.outage_ms.unwrap_or(0.0_f64).max(outage));
                o.fault_to_up_ms.get_or_insert(event.at.ms_since(fault_at));
            }
        }
    }
    for group in gap_from.keys().filter(|g| was_up.contains(g)) {
        let o = outages.entry(*group).or_insert_with(|| BridgeOutage {
            from_group: *group,
            to_group: 3 - *group,
            ..Default::default()
        });
        o.not_reconnected = true;
    }
    if context.spec.measure_bridge_waits {
        for ((connector, uri), waits) in waits {
            let host = context.layout.hosts[uri.host.0 as usize].name.clone();
            let waits_ms = waits.into_iter().take(8).collect();
            uri_waits.push(BridgeWaits { connector, host, port: uri.port, waits_ms });
        }
    }
    outages.into_values().collect()
}
