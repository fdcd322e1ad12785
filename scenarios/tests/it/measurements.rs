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

#[test]
fn a_seeds_timeline_shows_the_failover_it_measured() {
    let options = sim::RunOptions { timeline: true, ..Default::default() };
    let outcome = sim::run(&spec("master-crash"), 5, options);
    let t = outcome.timeline.as_ref().expect("asked for");
    let f = outcome.measurements.failover.as_ref().expect("a fault");
    assert_eq!(t.end_ms, 120_000);
    // group1: the old master up to the crash, the new one from its promotion to the end.
    let group1: Vec<_> = t.masters.iter().filter(|s| s.lane == "group1").collect();
    assert_eq!(group1.len(), 2, "{group1:?}");
    assert_ne!(group1[0].label, group1[1].label);
    let gap = group1[1].from_ms - group1[0].to_ms;
    assert!((gap as f64 - f.no_master_ms.expect("a gap")).abs() <= 1.0, "{gap} ms vs {f:?}");
    assert_eq!(group1[1].to_ms, t.end_ms);
    // group2 never failed over.
    assert_eq!(t.masters.iter().filter(|s| s.lane == "group2").count(), 1);
    // The crash, until its restart 30 s later.
    assert_eq!(t.faults.len(), 1);
    assert_eq!((t.faults[0].label.as_str(), t.faults[0].to_ms - t.faults[0].from_ms), ("crash", 30_000));
    assert_eq!(t.faults[0].from_ms, group1[0].to_ms);
    // Each ensemble has a leader throughout; the client was disconnected by the crash.
    for ensemble in ["ensemble1", "ensemble2"] {
        assert_eq!(t.zk_leaders.iter().filter(|s| s.lane == ensemble).count(), 1, "{:?}", t.zk_leaders);
    }
    assert!(t.clients.iter().filter(|s| s.lane == "app1").count() >= 2, "{:?}", t.clients);
    // Throughput: every acknowledged send is in some second, and nothing is acked while group1
    // has no master.
    let counts = outcome.messages.as_ref().expect("a workload");
    assert_eq!(t.acked_per_s.iter().map(|n| *n as u64).sum::<u64>(), counts.acked);
    let (down, up) = (group1[0].to_ms / 1000 + 1, group1[1].from_ms / 1000);
    assert!((down..up).all(|s| t.acked_per_s[s as usize] == 0), "{:?}", &t.acked_per_s[down as usize..]);
    assert!(t.delivered_per_s.iter().map(|n| *n as u64).sum::<u64>() >= counts.delivered);
    // The same seed without a timeline runs identically.
    assert_eq!(run_seed(&spec("master-crash"), 5).trace_hash, outcome.trace_hash);
}

#[test]
fn bridges_are_lanes_of_the_timeline() {
    let options = sim::RunOptions { timeline: true, ..Default::default() };
    let outcome = sim::run(&spec("remote-group-failover"), 0, options);
    let t = outcome.timeline.expect("asked for");
    let lanes: std::collections::BTreeSet<&str> = t.bridges.iter().map(|s| s.lane.as_str()).collect();
    // Each master's own bridge and the other's mirror, before and after group2's failover.
    assert!(lanes.iter().any(|l| l.contains("group1-broker1@mqhost2") && !l.contains("mirror")), "{lanes:?}");
    assert!(lanes.iter().any(|l| l.contains("(mirror)")), "{lanes:?}");
    assert!(t.bridges.iter().any(|s| s.to_ms < t.end_ms), "the crash took a bridge down: {:?}", t.bridges);
}

#[test]
fn fault_steps_of_one_instant_each_get_an_entry() {
    // quorum-loss kills both slaves at the same moment.
    let outcome = run_seed(&spec("quorum-loss"), 0);
    let steps: Vec<&str> = outcome.measurements.per_fault.iter().map(|f| f.step.as_str()).collect();
    assert_eq!(steps, ["slave-a", "slave-b"]);
    let targets: Vec<_> = outcome.measurements.per_fault.iter().map(|f| f.target.clone()).collect();
    assert_ne!(targets[0], targets[1], "two different slaves: {targets:?}");
}
