//! Liveness: within the deadline after the last step, and at the end of the run, every group has
//! exactly one serving master (docs/invariants.md §2). Source: DESIGN.md "Checkers"; the failover
//! chain of model/activemq.md §1.4 completes in seconds once ZooKeeper has a quorum.

use super::{serving_timeline, Context};
use crate::outcome::Violation;
use broker_model::Time;

pub fn check(context: &Context<'_>, violations: &mut Vec<Violation>) {
    let deadline = context.last_step_at.add_ms(context.spec.liveness_deadline_ms).min(context.end);
    for group in 1..=context.spec.topology.groups {
        let timeline = serving_timeline(context, group);
        for at in [deadline, context.end] {
            let serving = serving_at(&timeline, at);
            if serving != 1 {
                violations.push(Violation::NoSingleMaster { group, at, serving });
                break;
            }
        }
    }
}

fn serving_at(timeline: &[(Time, std::collections::BTreeSet<usize>)], at: Time) -> usize {
    timeline.iter().take_while(|(t, _)| *t <= at).last().map(|(_, s)| s.len()).unwrap_or(0)
}
