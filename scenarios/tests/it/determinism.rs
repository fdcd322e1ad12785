//! Goal: a run is a pure function of (scenario, seed, code).

use super::{run_seed, spec};
use sim::{run, RunOptions};

#[test]
fn same_seed_same_hash_different_seed_different_hash() {
    for name in ["master-crash", "zk-leader-crash", "master-zk-partition"] {
        let spec = spec(name);
        let first = run_seed(&spec, 7);
        let second = run_seed(&spec, 7);
        assert_eq!(first.trace_hash, second.trace_hash, "{name}");
        assert_eq!(first.timings_ms, second.timings_ms, "{name}");
        assert!(first.events > 500, "{name}: only {} events", first.events);
        let other = run_seed(&spec, 8);
        assert_ne!(first.trace_hash, other.trace_hash, "{name}");
    }
}

#[test]
fn keeping_the_trace_does_not_change_the_run() {
    let spec = spec("master-crash");
    let quiet = run_seed(&spec, 3);
    let traced = run(&spec, 3, RunOptions { keep_trace: true, ..Default::default() });
    assert_eq!(quiet.trace_hash, traced.trace_hash);
    assert_eq!(traced.trace.len() as u64, traced.events);
}

#[test]
fn results_do_not_depend_on_the_number_of_jobs() {
    let spec = spec("master-crash");
    let one = scenarios::batch::run_seeds(&spec, 0..6, 1, &|_| {});
    let two = scenarios::batch::run_seeds(&spec, 0..6, 2, &|_| {});
    let hashes = |v: &[sim::Outcome]| v.iter().map(|o| (o.seed, o.trace_hash)).collect::<Vec<_>>();
    assert_eq!(hashes(&one), hashes(&two));
}
