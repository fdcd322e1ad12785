//! Network bridges (docs/invariants.md §11, §12; model/activemq.md §3.1, §3.7):
//! - liveness: every connector whose group and target group both have a serving master has
//!   its bridge up on that master within the configured back-off bound — checked at the later of
//!   the liveness deadline and the last change of either group's master plus the longest
//!   back-off wait (`maxReconnectDelay`) and 2 s for the attempt and handshake, and at the end
//!   (when the run lasts that long);
//! - at most one forwarding bridge per (connector, URI) at any instant: a connector runs only on
//!   its group's one master, so two would mean two masters forwarding the same stream.

use super::{serving_timeline, Context};
use crate::history::Kind;
use crate::outcome::Violation;
use broker_model::bridge::{BridgeEvent, BridgeName};
use broker_model::{Observation, Time};
use std::collections::{BTreeMap, BTreeSet};

/// The initiator bridges up at `at`, by process.
fn up_at(context: &Context<'_>, at: Time) -> BTreeMap<usize, BTreeSet<BridgeName>> {
    let mut up: BTreeMap<usize, BTreeSet<BridgeName>> = BTreeMap::new();
    for event in context.history.events.iter().take_while(|e| e.at <= at) {
        let Some(process) = event.process else { continue };
        match &event.kind {
            Kind::Observed(Observation::Bridge { name, event: what }) if !name.mirror => match what {
                BridgeEvent::Up { .. } => {
                    up.entry(process).or_default().insert(name.clone());
                }
                BridgeEvent::Down { .. } => {
                    up.entry(process).or_default().remove(name);
                }
                _ => {}
            },
            Kind::Crashed => {
                up.remove(&process);
            }
            _ => {}
        }
    }
    up
}

pub fn check(context: &Context<'_>, violations: &mut Vec<Violation>) {
    if context.spec.topology.connectors.is_empty() {
        return;
    }
    one_bridge_per_uri(context, violations);
    let deadline = context.last_step_at.add_ms(context.spec.liveness_deadline_ms).min(context.end);
    let timelines: BTreeMap<u32, Vec<(Time, BTreeSet<usize>)>> =
        (1..=context.spec.topology.groups).map(|g| (g, serving_timeline(context, g))).collect();
    let bound_ms = context
        .spec
        .topology
        .connectors
        .iter()
        .map(|c| c.config.backoff.max_reconnect_delay_ms)
        .max()
        .unwrap_or(0)
        .saturating_add(2000);
    let masters_settled =
        timelines.values().filter_map(|t| t.last().map(|(at, _)| *at)).max().unwrap_or(Time::ZERO);
    let due = masters_settled.add_ms(bound_ms);
    if due > context.end {
        return; // The run ends before a bridge would have to be up: nothing to judge.
    }
    let deadline = deadline.max(due);
    let serving = |group: u32, at: Time| -> Option<usize> {
        let set = timelines[&group].iter().take_while(|(t, _)| *t <= at).last().map(|(_, s)| s.clone())?;
        (set.len() == 1).then(|| *set.first().expect("one"))
    };
    for at in [deadline, context.end] {
        let up = up_at(context, at);
        for connector in &context.spec.topology.connectors {
            let (Some(master), Some(_)) = (serving(connector.group, at), serving(connector.to_group, at))
            else {
                continue;
            };
            let runs = up
                .get(&master)
                .is_some_and(|names| names.iter().any(|n| n.connector == connector.config.name));
            if !runs {
                violations.push(Violation::BridgeNotUp { connector: connector.config.name.clone(), at });
                return;
            }
        }
    }
}

fn one_bridge_per_uri(context: &Context<'_>, violations: &mut Vec<Violation>) {
    let mut up: BTreeMap<(String, broker_model::Addr), BTreeSet<usize>> = BTreeMap::new();
    for event in &context.history.events {
        let Some(process) = event.process else { continue };
        match &event.kind {
            Kind::Observed(Observation::Bridge { name, event: what }) if !name.mirror => {
                let key = (name.connector.clone(), name.uri);
                match what {
                    BridgeEvent::Up { .. } => {
                        let set = up.entry(key).or_default();
                        set.insert(process);
                        if set.len() > 1 {
                            let uri = context.layout.hosts[name.uri.host.0 as usize].name.clone();
                            violations.push(Violation::DuplicateBridge {
                                connector: name.connector.clone(),
                                uri: format!("{uri}:{}", name.uri.port),
                                at: event.at,
                            });
                            return;
                        }
                    }
                    BridgeEvent::Down { .. } => {
                        up.entry(key).or_default().remove(&process);
                    }
                    _ => {}
                }
            }
            Kind::Crashed => {
                for set in up.values_mut() {
                    set.remove(&process);
                }
            }
            _ => {}
        }
    }
}
