//! The scenario suite: built-in scenarios on fixed seeds, determinism, the checkers shown to catch
//! planted bugs, and the CLI's handling of bad input. One integration binary (faster links).

mod checkers;
mod cli;
mod determinism;
mod failover;
mod messages;

use scenarios::builtin;
use sim::{run, Outcome, RunOptions, Spec};

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
