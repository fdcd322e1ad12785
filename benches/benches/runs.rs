//! Whole simulated runs per iteration: seeds per second for each built-in scenario (release).
//! `cargo bench -p benches`; each iteration is one seed of a scenario in a fresh runtime.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sim::{run, RunOptions};
use std::sync::atomic::{AtomicU64, Ordering};

fn whole_runs(c: &mut Criterion) {
    let mut group = c.benchmark_group("run");
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));
    let mut specs = scenarios::builtin::all();
    // The election alone, without a workload: comparable with the numbers before messages.
    let mut bare = scenarios::builtin::named("master-crash").expect("built in");
    bare.name = "master-crash-no-workload".into();
    bare.workload.clear();
    specs.push(bare);
    for spec in specs {
        let seed = AtomicU64::new(0);
        group.sample_size(if spec.name == "slave-catch-up" { 10 } else { 30 });
        group.bench_function(&spec.name, |b| {
            b.iter(|| run(&spec, seed.fetch_add(1, Ordering::Relaxed), RunOptions::default()))
        });
    }
    group.finish();
}

criterion_group!(benches, whole_runs);
criterion_main!(benches);
