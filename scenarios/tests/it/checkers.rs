//! Goal: every checker catches the bug it exists for. Method: plant the bug, run, and see the
//! violation; run the same seeds without it and see none.

use super::{plant, run_seed, spec};
use broker_model::broker::PlantedBug;
use sim::spec::{Action, Target};
use sim::Violation;

/// The master alone is cut from ZooKeeper (one host per broker): it must demote itself.
fn lone_master_partition() -> sim::Spec {
    let mut spec = spec("master-zk-partition");
    spec.topology.host_per_broker = true;
    spec
}

#[test]
fn a_master_that_ignores_disconnect_is_caught_as_split_brain() {
    let spec = lone_master_partition();
    let (_, caught) = plant(
        &spec,
        PlantedBug::MasterIgnoresDisconnect,
        0..10,
        |v| matches!(v, Violation::SplitBrain { overlap_ms, .. } if *overlap_ms > 0.0),
    );
    assert!(caught >= 8, "split brain caught in only {caught} of 10 seeds");
}

#[test]
fn a_head_that_never_elects_is_caught_by_liveness() {
    let mut spec = spec("master-crash");
    spec.settings.planted_bug = Some(PlantedBug::HeadNeverElects);
    let outcome = run_seed(&spec, 1);
    assert!(
        outcome.violations.iter().any(|v| matches!(v, Violation::NoSingleMaster { serving: 0, .. })),
        "{:?}",
        outcome.violations
    );
}

#[test]
fn a_scenario_that_stops_exercising_its_fault_fails() {
    // Crashing a slave instead of the master causes no election: `master_elected` must fail.
    let mut spec = spec("master-crash");
    spec.steps[0].action = Action::Crash(Target::RandomSlave(1));
    let outcome = run_seed(&spec, 2);
    assert!(
        outcome.violations.contains(&Violation::NotExercised { what: "master_elected" }),
        "{:?}",
        outcome.violations
    );
    // Its session still expires: that expectation holds, so only the missing one is reported.
    assert!(!outcome.violations.contains(&Violation::NotExercised { what: "session_expired" }));
}

#[test]
fn an_unresolvable_role_target_is_reported() {
    let mut spec = spec("master-crash");
    // At 1 s the brokers are still booting: there is no master to crash.
    spec.steps[0].at.min_ms = 1000;
    spec.steps[0].at.max_ms = 1000;
    let outcome = run_seed(&spec, 0);
    assert!(
        outcome.violations.contains(&Violation::StepUnresolved { step: "crash".into() }),
        "{:?}",
        outcome.violations
    );
}
