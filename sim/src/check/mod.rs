//! Checkers over the history, one file per property, and the measurements.
//! Each property and its source are listed in docs/invariants.md.

pub mod bridges;
pub mod deadline;
pub mod liveness;
pub mod measure;
pub mod messages;
pub mod single_master;
pub mod sometimes;

use crate::history::{History, Kind};
use crate::measurements::MessageCounts;
use crate::outcome::Violation;
use crate::spec::Spec;
use crate::topology::Layout;
use broker_model::messaging::Msg;
use broker_model::{Observation, Time};
use std::collections::BTreeSet;

/// Everything the checkers need besides the history.
pub struct Context<'a> {
    pub spec: &'a Spec,
    pub layout: &'a Layout,
    pub history: &'a History,
    pub end: Time,
    /// When the last step fired (the last fault or heal).
    pub last_step_at: Time,
    /// Messages the serving masters still held at the end, by group.
    pub held: Vec<(u32, Msg)>,
}

/// Runs every checker; returns the violations and the message counts (none without a
/// workload).
pub fn check_all(context: &Context<'_>) -> (Vec<Violation>, Option<MessageCounts>) {
    let mut violations = Vec::new();
    let mut counts = messages::check(context, &mut violations);
    if let Some(counts) = &mut counts {
        deadline::check(context, counts);
    }
    single_master::check(context, &mut violations);
    liveness::check(context, &mut violations);
    bridges::check(context, &mut violations);
    sometimes::check(context, &mut violations);
    for event in &context.history.events {
        match &event.kind {
            Kind::StepUnresolved { id } => violations.push(Violation::StepUnresolved { step: id.clone() }),
            Kind::StepIneffective { id, why } => {
                violations.push(Violation::StepIneffective { step: id.clone(), why })
            }
            _ => {}
        }
    }
    (violations, counts)
}

/// The serving brokers of `group` after every history event, as `(time, set)` transitions. A
/// paused broker serves nothing while paused (its ports accept, but nothing answers).
pub fn serving_timeline(context: &Context<'_>, group: u32) -> Vec<(Time, BTreeSet<usize>)> {
    let mut serving = BTreeSet::new();
    let mut paused_serving = BTreeSet::new();
    let mut timeline = vec![(Time::ZERO, serving.clone())];
    for event in &context.history.events {
        let Some(process) = event.process else { continue };
        if context.layout.processes[process].group() != Some(group) {
            continue;
        }
        let changed = match &event.kind {
            Kind::Observed(Observation::Serving { on: true }) => serving.insert(process),
            Kind::Observed(Observation::Serving { on: false }) | Kind::Crashed => {
                paused_serving.remove(&process);
                serving.remove(&process)
            }
            Kind::Paused => {
                let was = serving.remove(&process);
                if was {
                    paused_serving.insert(process);
                }
                was
            }
            Kind::Resumed => paused_serving.remove(&process) && serving.insert(process),
            _ => false,
        };
        if changed {
            timeline.push((event.at, serving.clone()));
        }
    }
    timeline
}

/// The time the measured step fired, if it did.
pub fn measured_step_time(context: &Context<'_>) -> Option<Time> {
    let id = match &context.spec.measure_from {
        Some(id) => id.clone(),
        None => context.spec.steps.first()?.id.clone(),
    };
    context.history.step_time(&id)
}
