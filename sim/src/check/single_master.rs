//! At most one serving master per group at any instant (docs/invariants.md §1).
//! Source: model/activemq.md §1.5 — only the elected master's store starts, and a broker opens its
//! transport connectors only after its store started; §1.7 says the normal path has no overlap.
//! Every overlap is reported with its duration.

use super::{serving_timeline, Context};
use crate::outcome::Violation;

pub fn check(context: &Context<'_>, violations: &mut Vec<Violation>) {
    for group in 1..=context.spec.topology.groups {
        let timeline = serving_timeline(context, group);
        let mut overlap_start = None;
        let mut overlap_brokers = Vec::new();
        for (at, serving) in timeline.iter().chain(std::iter::once(&(context.end, Default::default()))) {
            match (overlap_start, serving.len() > 1) {
                (None, true) => {
                    overlap_start = Some(*at);
                    overlap_brokers =
                        serving.iter().map(|p| context.layout.processes[*p].name.clone()).collect();
                }
                // Two masters at one instant and none after it, within one event cascade at the
                // same simulated time, is no window anyone could use: only overlaps with
                // duration count.
                (Some(start), false) if *at == start => {
                    overlap_start = None;
                    overlap_brokers.clear();
                }
                (Some(start), false) => {
                    violations.push(Violation::SplitBrain {
                        group,
                        at: start,
                        overlap_ms: at.ms_since(start),
                        brokers: std::mem::take(&mut overlap_brokers),
                    });
                    overlap_start = None;
                }
                _ => {}
            }
        }
    }
}
