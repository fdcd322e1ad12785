//! Goal: a run's measurements are typed values (failover phases per fault, latency per
//! destination, catch-ups, bridge outages, message counts), and the `run --json` maps are
//! exactly their flattened form.

use super::{run_seed, spec};

#[test]
fn failover_phases_are_typed_per_fault_and_flatten_to_the_json_keys() {
    let outcome = run_seed(&spec("master-crash"), 5);
    let m = &outcome.measurements;
    let f = m.failover.as_ref().expect("a measured fault");
    assert_eq!((f.step.as_str(), f.group), ("crash", Some(1)));
    let phases = [f.expired_ms, f.elected_ms, f.serving_ms, f.client_reconnect_ms];
    let phases: Vec<f64> = phases.iter().map(|p| p.expect("every phase happened")).collect();
    assert!(phases.windows(2).all(|w| w[0] <= w[1]), "detection, election, promotion, recovery: {phases:?}");
    assert_eq!(f.no_master_ms, f.serving_ms, "group1 had no master from the crash to the promotion");
    // One fault step, measured up to the end: the same phases.
    assert_eq!(m.per_fault.len(), 1);
    assert_eq!(&m.per_fault[0], f);
    let (timings, measures) = m.flatten();
    assert_eq!(timings, outcome.timings_ms);
    assert_eq!(measures, outcome.measures);
    assert_eq!(outcome.timings_ms["fault_to_elected_ms"], phases[1]);
    let orders = &m.latency["queue://orders"];
    assert!(orders.p50_ms <= orders.p99_ms && orders.p99_ms <= orders.max_ms);
    let counts = outcome.messages.as_ref().expect("a workload");
    assert_eq!(counts.to_map(), outcome.counts);
    assert!(counts.sent > 5000 && counts.lost == 0, "{counts:?}");
}

#[test]
fn every_fault_step_gets_its_own_window_and_every_restart_its_catch_up() {
    let outcome = run_seed(&spec("slave-catch-up"), 2);
    let m = &outcome.measurements;
    let steps: Vec<&str> = m.per_fault.iter().map(|f| f.step.as_str()).collect();
    assert_eq!(steps, ["stop-1", "stop-2", "stop-3", "kill-master"]);
    // A slave's crash elects nobody; the master's does, in its own window only.
    for f in &m.per_fault[..3] {
        assert_eq!((f.elected_ms, f.no_master_ms), (None, None), "{f:?}");
    }
    assert!(m.per_fault[3].elected_ms.is_some());
    assert_eq!(m.failover.as_ref().map(|f| f.step.as_str()), Some("kill-master"));
    let restarts: Vec<&str> = m.catch_up.iter().map(|c| c.step.as_str()).collect();
    assert!(restarts.starts_with(&["restart-1", "restart-2", "restart-3"]), "{restarts:?}");
    // The longer a slave was down, the more it downloaded.
    assert!(m.catch_up[0].transfer_mb < m.catch_up[2].transfer_mb, "{:?}", m.catch_up);
}

#[test]
fn bridge_outages_are_typed_per_direction() {
    // The first seed whose cut outlasts the inactivity monitor: both directions drop.
    let outcome = (0..10)
        .map(|seed| run_seed(&spec("partition-between-groups"), seed))
        .find(|o| !o.measurements.bridges.is_empty())
        .expect("a cut of 5-120 s outlasts 60 s in some of 10 seeds");
    let b = &outcome.measurements.bridges;
    let directions: Vec<String> = b.iter().map(|o| o.direction()).collect();
    assert_eq!(directions, ["group1->group2", "group2->group1"]);
    for o in b {
        let (outage, up) = (o.outage_ms.expect("an outage"), o.fault_to_up_ms.expect("up again"));
        assert!(outage > 1000.0 && up >= outage && !o.not_reconnected, "{o:?}");
    }
    let counts = outcome.messages.as_ref().expect("a workload");
    assert!(counts.topic_missed_across_groups > 0 && counts.forwarded > 1000, "{counts:?}");
}
