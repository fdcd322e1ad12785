//! One run as time series in simulated time, for a report's timeline and throughput charts:
//! acknowledged sends and deliveries per second, the serving master of each group, ZooKeeper
//! leaders, bridges up per connector and URI, clients connected, and fault intervals. Built
//! from the history after the run (`RunOptions::timeline`); nothing here changes the run.

use crate::check::{serving_timeline, Context};
use crate::history::Kind;
use crate::spec::Action;
use broker_model::io::ZkRole;
use broker_model::{Observation, Time};
use std::collections::BTreeMap;

/// Something that held from `from_ms` to `to_ms` (the run's end if it still held), on one lane
/// of a chart (`group1`, `ensemble1`, `group1-broker1@mqhost2:61618`, `app1`, `faults`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub lane: String,
    /// What held: the master's or leader's name, `up`, `connected`, a step's id.
    pub label: String,
    pub from_ms: u64,
    pub to_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub end_ms: u64,
    /// Acknowledged sends and deliveries to the application in each simulated second.
    pub acked_per_s: Vec<u32>,
    pub delivered_per_s: Vec<u32>,
    pub masters: Vec<Span>,
    pub zk_leaders: Vec<Span>,
    pub bridges: Vec<Span>,
    pub clients: Vec<Span>,
    pub faults: Vec<Span>,
}

/// Open spans by (lane, label), closed as the history goes.
#[derive(Default)]
struct Open {
    open: BTreeMap<(String, String), u64>,
    done: Vec<Span>,
}

impl Open {
    fn start(&mut self, lane: &str, label: &str, at: Time) {
        self.open.entry((lane.to_string(), label.to_string())).or_insert(at.as_ms());
    }

    fn stop(&mut self, lane: &str, label: &str, at: Time) {
        if let Some(from_ms) = self.open.remove(&(lane.to_string(), label.to_string())) {
            self.done.push(Span {
                lane: lane.to_string(),
                label: label.to_string(),
                from_ms,
                to_ms: at.as_ms(),
            });
        }
    }

    fn stop_lane(&mut self, lane: &str, at: Time) {
        let labels: Vec<String> =
            self.open.keys().filter(|(l, _)| l == lane).map(|(_, s)| s.clone()).collect();
        for label in labels {
            self.stop(lane, &label, at);
        }
    }

    fn finish(mut self, end: Time) -> Vec<Span> {
        for ((lane, label), from_ms) in std::mem::take(&mut self.open) {
            self.done.push(Span { lane, label, from_ms, to_ms: end.as_ms() });
        }
        self.done.sort_by(|a, b| (&a.lane, a.from_ms, &a.label).cmp(&(&b.lane, b.from_ms, &b.label)));
        self.done
    }
}

impl Timeline {
    pub fn build(context: &Context<'_>) -> Timeline {
        let layout = context.layout;
        let name = |p: usize| layout.processes[p].name.clone();
        let (acked_per_s, delivered_per_s) = context.history.ledger.per_second();
        let mut masters = Open::default();
        for group in 1..=context.spec.topology.groups {
            let lane = format!("group{group}");
            let mut previous = std::collections::BTreeSet::new();
            for (at, serving) in serving_timeline(context, group) {
                for p in previous.difference(&serving) {
                    masters.stop(&lane, &name(*p), at);
                }
                for p in serving.difference(&previous) {
                    masters.start(&lane, &name(*p), at);
                }
                previous = serving;
            }
        }
        let (mut leaders, mut bridges, mut clients, mut faults) =
            (Open::default(), Open::default(), Open::default(), Open::default());
        let hosts = &layout.hosts;
        // Fault steps that began an interval, and the process each acted on.
        let mut fault_process: BTreeMap<String, Option<usize>> = BTreeMap::new();
        let is_partition = |id: &str| {
            context.spec.steps.iter().any(|s| s.id == id && matches!(s.action, Action::Partition { .. }))
        };
        for event in &context.history.events {
            let process = event.process;
            let lane_of = |p: usize| match layout.processes[p].ensemble() {
                Some(e) if layout.processes[p].is_zk() => format!("ensemble{e}"),
                _ => name(p),
            };
            match &event.kind {
                Kind::Observed(Observation::ZkRole { role, serving, .. }) => {
                    let Some(p) = process else { continue };
                    let lane = lane_of(p);
                    if *role == ZkRole::Leading && *serving {
                        leaders.start(&lane, &name(p), event.at);
                    } else {
                        leaders.stop(&lane, &name(p), event.at);
                    }
                }
                Kind::Observed(Observation::Bridge { name: bridge, event: what }) => {
                    let Some(p) = process else { continue };
                    let host = hosts.get(bridge.uri.host.0 as usize).map_or("?", |h| h.name.as_str());
                    let side = if bridge.mirror { " (mirror)" } else { "" };
                    let lane = format!("{} {}@{host}:{}{side}", name(p), bridge.connector, bridge.uri.port);
                    match what {
                        broker_model::bridge::BridgeEvent::Up { .. } => bridges.start(&lane, "up", event.at),
                        broker_model::bridge::BridgeEvent::Down { .. } => bridges.stop(&lane, "up", event.at),
                        _ => {}
                    }
                }
                Kind::Observed(Observation::ClientConnected { .. }) => {
                    if let Some(p) = process {
                        clients.start(&name(p), "connected", event.at);
                    }
                }
                Kind::Observed(Observation::ClientDisconnected) => {
                    if let Some(p) = process {
                        clients.stop(&name(p), "connected", event.at);
                    }
                }
                Kind::Started => {
                    // The crash (or host crash) that took this process down is over.
                    for (of, crashed) in &fault_process {
                        if crashed.is_some() && *crashed == process && !is_partition(of) {
                            faults.stop("faults", of, event.at);
                        }
                    }
                }
                Kind::Crashed => {
                    let Some(p) = process else { continue };
                    if layout.processes[p].is_zk() {
                        leaders.stop(&lane_of(p), &name(p), event.at);
                    }
                    clients.stop_lane(&name(p), event.at);
                    let prefix = format!("{} ", name(p));
                    let lanes: Vec<String> = bridges
                        .open
                        .keys()
                        .filter(|(l, _)| l.starts_with(&prefix))
                        .map(|(l, _)| l.clone())
                        .collect();
                    for lane in lanes {
                        bridges.stop(&lane, "up", event.at);
                    }
                }
                Kind::Step { id } => {
                    let Some(step) = context.spec.steps.iter().find(|s| &s.id == id) else { continue };
                    match &step.action {
                        Action::Crash(_) | Action::HostCrash(_) | Action::Partition { .. } => {
                            fault_process.insert(id.clone(), process);
                            faults.start("faults", id, event.at)
                        }
                        Action::Pause { duration_ms, .. } => faults.done.push(Span {
                            lane: "faults".into(),
                            label: id.clone(),
                            from_ms: event.at.as_ms(),
                            to_ms: event.at.as_ms().saturating_add(*duration_ms),
                        }),
                        Action::Heal { step: Some(of) } => faults.stop("faults", of, event.at),
                        Action::Heal { step: None } => {
                            for (of, _) in fault_process.iter().filter(|(of, _)| is_partition(of)) {
                                faults.stop("faults", of, event.at);
                            }
                        }
                        // A crash ends when its process runs again (below); a restart step
                        // that changed nothing ends nothing.
                        Action::Restart(_) => {}
                        Action::HostRestart(_) => {
                            // A host crash that resolved to no single process ends with the
                            // next host restart.
                            for (of, _) in
                                fault_process.iter().filter(|(of, p)| !is_partition(of) && p.is_none())
                            {
                                faults.stop("faults", of, event.at);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let end = context.end;
        Timeline {
            end_ms: end.as_ms(),
            acked_per_s,
            delivered_per_s,
            masters: masters.finish(end),
            zk_leaders: leaders.finish(end),
            bridges: bridges.finish(end),
            clients: clients.finish(end),
            faults: faults.finish(end),
        }
    }
}
