//! Goal: every checker catches the bug it exists for. Method: plant the bug, run, and see the
//! violation; run the same seeds without it and see none.

use super::{plant, run_seed, spec};
use broker_model::broker::PlantedBug;
use scenarios::format;
use scenarios::planted::CANARIES;
use sim::spec::{Action, Target};
use sim::Violation;

/// Every row of the documented canary table: the built-in scenario with its overrides passes on
/// its seeds; with the bug planted, the named violation is reported in enough of them.
#[test]
fn every_planted_bug_is_caught_by_its_documented_canary() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/invariants.md")).expect("docs");
    let mut problems = Vec::new();
    for canary in &CANARIES {
        if !docs.contains(&format!("`{}`", canary.command())) {
            problems.push(format!("docs/invariants.md does not list `{}`", canary.command()));
        }
        let mut spec = spec(canary.scenario);
        for assignment in canary.sets {
            format::apply_override(&mut spec, assignment).expect("a valid override");
        }
        let (_, caught) = plant(&spec, canary.bug, canary.seeds.clone(), |v| v.kind() == canary.violation);
        if caught < canary.caught_min {
            problems.push(format!(
                "{}: {} caught in {caught} seeds, expected >= {}",
                canary.command(),
                canary.violation,
                canary.caught_min
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(CANARIES.len(), PlantedBug::ALL.len(), "every planted bug has a canary");
    for bug in PlantedBug::ALL {
        assert!(CANARIES.iter().any(|c| c.bug == bug), "{} has no canary", bug.name());
    }
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

/// Two masters of one group (the planted split brain) both run the group's connector: two
/// bridges to the same URI at once.
#[test]
fn a_split_brain_shows_as_two_bridges_to_one_uri() {
    let spec = spec("master-zk-isolation");
    let (clean, caught) = plant(
        &spec,
        PlantedBug::MasterIgnoresDisconnect,
        0..4,
        |v| matches!(v, Violation::DuplicateBridge { connector, .. } if connector == "group1-broker1"),
    );
    assert!(clean.iter().all(|o| o.passed()));
    assert_eq!(caught, 4, "every seed's two masters bridge to group2's master");
}
