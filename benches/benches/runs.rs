//! Whole simulated runs per iteration: seeds per second for each built-in scenario (release).
//! `cargo bench -p benches`; each iteration is one seed of a 120 s scenario in a fresh runtime.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sim::{run, RunOptions};
use std::sync::atomic::{AtomicU64, Ordering};

fn whole_runs(c: &mut Criterion) {
    let mut group = c.benchmark_group("run");
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));
    for spec in scenarios::builtin::all() {
        let seed = AtomicU64::new(0);
        group.bench_function(&spec.name, |b| {
            b.iter(|| run(&spec, seed.fetch_add(1, Ordering::Relaxed), RunOptions::default()))
        });
    }
    group.finish();
}

criterion_group!(benches, whole_runs);
criterion_main!(benches);
