//! Whole runs built directly from `Spec` (without scenario files).

use broker_model::client::{ConsumerSpec, ProducerSpec, Protocol};
use broker_model::messaging::{AckMode, Dest};
use sim::spec::{Action, At, ClientSpec, Settings, Sometimes, Spec, Step, Target, TopologySpec};
use sim::{run, RunOptions};

fn master_crash() -> Spec {
    Spec {
        name: "master-crash".into(),
        description: String::new(),
        topology: TopologySpec::one_group(),
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
        workload: vec![ClientSpec {
            name: "app1".into(),
            group: 1,
            protocol: Protocol::Failover,
            producers: vec![ProducerSpec {
                dest: Dest::Queue("orders".into()),
                rate_per_s: 100.0,
                size: 1024,
                persistent: true,
                sync: true,
            }],
            consumers: vec![ConsumerSpec {
                dest: Dest::Queue("orders".into()),
                ack: AckMode::Auto,
                prefetch: 1000,
                priority: 4,
                durable: None,
                process_ms: 0,
            }],
            start_ms: 5_000,
            stop_ms: 100_000,
        }],
        expect_drain: true,
        measure_bridge_waits: false,
        delivery_deadline_ms: None,
    }
}

#[test]
fn master_crash_smoke() {
    let spec = master_crash();
    sim::validate::validate(&spec).expect("a spec built in code passes the same validation");
    let outcome = run(&spec, 1, RunOptions::default());
    println!(
        "{:?} {:?} {:?} events={}",
        outcome.violations, outcome.timings_ms, outcome.counts, outcome.events
    );
    assert!(outcome.passed(), "{:?}", outcome.violations);
}

#[test]
fn an_invalid_spec_never_reaches_the_world() {
    let mut spec = master_crash();
    spec.steps[0].at.max_ms = 500_000;
    let outcome = run(&spec, 1, RunOptions::default());
    let message = match &outcome.violations[..] {
        [sim::Violation::Panic { message }] => message.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(message.contains("step[0].at_s"), "{message}");
}
