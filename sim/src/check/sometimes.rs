//! "Sometimes" properties: what the measured fault must cause, so a scenario that silently stops
//! exercising its fault fails (docs/invariants.md §3; stateright's `Expectation::Sometimes`).

use super::{measured_step_time, Context};
use crate::history::Kind;
use crate::outcome::Violation;
use crate::spec::Sometimes;
use broker_model::bridge::BridgeEvent;
use broker_model::io::ZkRole;
use broker_model::Observation;

pub fn check(context: &Context<'_>, violations: &mut Vec<Violation>) {
    if context.spec.sometimes.is_empty() {
        return;
    }
    let Some(fault_at) = measured_step_time(context) else {
        for what in &context.spec.sometimes {
            violations.push(Violation::NotExercised { what: what.name() });
        }
        return;
    };
    for what in &context.spec.sometimes {
        let happened = context.history.events.iter().filter(|e| e.at >= fault_at).any(|e| {
            matches!(
                (what, &e.kind),
                (Sometimes::MasterElected, Kind::Observed(Observation::Elected { .. }))
                    | (Sometimes::SessionExpired, Kind::Observed(Observation::ZkSessionExpired { .. }))
                    | (Sometimes::MasterDemoted, Kind::Observed(Observation::Demoted { .. }))
                    | (Sometimes::SlaveCaughtUp, Kind::Observed(Observation::SlaveCaughtUp { .. }))
                    | (Sometimes::ClientReconnected, Kind::Observed(Observation::ClientConnected { .. }))
                    | (
                        Sometimes::BridgeReconnected,
                        Kind::Observed(Observation::Bridge { event: BridgeEvent::Up { .. }, .. })
                    )
                    | (
                        Sometimes::ZkLeaderElected,
                        Kind::Observed(Observation::ZkRole { role: ZkRole::Leading, serving: true, .. })
                    )
            )
        });
        if !happened {
            violations.push(Violation::NotExercised { what: what.name() });
        }
    }
}
