//! Whole runs built directly from `Spec` (without scenario files).

use sim::spec::{Action, At, Settings, Sometimes, Spec, Step, Target, TopologySpec};
use sim::{run, RunOptions};

fn master_crash() -> Spec {
    Spec {
        name: "master-crash".into(),
        description: String::new(),
        topology: TopologySpec { groups: 1, host_per_broker: false },
        settings: Settings::seed(),
        duration_ms: 120_000,
        liveness_deadline_ms: 30_000,
        steps: vec![
            Step {
                id: "crash".into(),
                at: At { after: None, min_ms: 20_000, max_ms: 40_000 },
                action: Action::Crash(Target::Master(1)),
            },
            Step {
                id: "restart".into(),
                at: At { after: Some("crash".into()), min_ms: 30_000, max_ms: 30_000 },
                action: Action::Restart(Target::Step("crash".into())),
            },
        ],
        sometimes: vec![Sometimes::MasterElected, Sometimes::SessionExpired],
        measure_from: Some("crash".into()),
    }
}

#[test]
fn master_crash_smoke() {
    let outcome = run(&master_crash(), 1, RunOptions { keep_trace: std::env::var("SHOW").is_ok() });
    if std::env::var("SHOW").is_ok() {
        for line in &outcome.trace {
            if line.contains("!!")
                || line.contains("step")
                || line.contains("crash")
                || line.contains("start")
            {
                println!("{line}");
            }
        }
    }
    println!("{:?} {:?} events={}", outcome.violations, outcome.timings_ms, outcome.events);
    assert!(outcome.passed(), "{:?}", outcome.violations);
}
