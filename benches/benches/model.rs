//! The model alone against the model in the world, on the same steady traffic.
//!
//! - `model/direct/<case>`: the processes' own handlers on an instant network (`benches::Direct`);
//! - `model/world/<case>`: the same processes, configurations and seed in the world (latency,
//!   bandwidth, fsync times, the history, the ledger, the trace, the checkers).
//!
//! Cases: `replication` is master-crash without its crash (three brokers, a master replicating
//! to two slaves, its client sending and consuming 95 messages/s for 120 simulated s; throughput
//! in application messages delivered); `zookeeper` is the same deployment without the workload
//! (three ZooKeeper servers serving the brokers' sessions: pings, the election's znodes;
//! throughput in process inputs). `cargo bench -p benches --bench model`; benches/README.md
//! explains how to read them.

use benches::{steady, Direct};
use broker_model::Time;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sim::{run, RunOptions, Spec};

fn cases() -> Vec<(&'static str, Spec)> {
    let replication = steady(scenarios::builtin::named("master-crash").expect("built in"));
    let mut zookeeper = replication.clone();
    zookeeper.workload.clear();
    vec![("replication", replication), ("zookeeper", zookeeper)]
}

fn model(c: &mut Criterion) {
    let mut group = c.benchmark_group("model");
    group.sample_size(20);
    for (name, spec) in cases() {
        let end = Time::from_ms(spec.duration_ms);
        // Throughput in what one run does: deliveries with a workload, inputs without.
        let mut probe = Direct::start(&spec, 1);
        probe.run_until(end);
        let per_run = if spec.workload.is_empty() { probe.counts().inputs } else { probe.counts().delivered };
        group.throughput(Throughput::Elements(per_run));
        group.bench_function(format!("direct/{name}"), |b| {
            b.iter(|| {
                let mut direct = Direct::start(&spec, 1);
                direct.run_until(end);
                direct.counts()
            })
        });
        group.bench_function(format!("world/{name}"), |b| b.iter(|| run(&spec, 1, RunOptions::default())));
    }
    group.finish();
}

criterion_group!(benches, model);
criterion_main!(benches);
