//! The scenario suite: built-in scenarios on fixed seeds, determinism, the checkers shown to catch
//! planted bugs, and the CLI's handling of bad input. One integration binary (faster links).

mod bridges;
mod checkers;
mod cli;
mod determinism;
mod failover;
mod measurements;
mod messages;
mod replay;
mod report;
mod validation;
mod world;

use broker_model::broker::PlantedBug;
use scenarios::builtin;
use sim::{run, Outcome, RunOptions, Spec, Violation};

pub fn spec(name: &str) -> Spec {
    builtin::named(name).expect("a built-in scenario")
}

pub fn run_seed(spec: &Spec, seed: u64) -> Outcome {
    run(spec, seed, RunOptions::default())
}

/// Runs seeds and fails with every failing seed's violations and replay command.
pub fn assert_all_pass(spec: &Spec, seeds: std::ops::Range<u64>) -> Vec<Outcome> {
    let outcomes = scenarios::batch::run_seeds(spec, seeds, 2, &|_| {});
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| {
            format!("seed {}: {:?} (amqsim replay {} --seed {})", o.seed, o.violations, spec.name, o.seed)
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    outcomes
}

/// Shows a checker catching a planted bug: every seed passes without the bug (returned), and the
/// number of seeds with the bug planted in which `caught` matches a violation.
pub fn plant(
    spec: &Spec,
    bug: PlantedBug,
    seeds: std::ops::Range<u64>,
    caught: impl Fn(&Violation) -> bool,
) -> (Vec<Outcome>, usize) {
    let clean = assert_all_pass(spec, seeds.clone());
    let mut buggy = spec.clone();
    buggy.settings.planted_bug = Some(bug);
    let outcomes = scenarios::batch::run_seeds(&buggy, seeds, 2, &|_| {});
    (clean, outcomes.iter().filter(|o| o.violations.iter().any(&caught)).count())
}
