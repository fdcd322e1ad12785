//! How much of a run the processes' own handlers take, from the instrumented build:
//! `cargo run --release -p benches --example handler_share --features handler-cycles --
//! master-crash 20` runs seeds 0..20 of a built-in scenario one after another and prints the
//! handlers' cycles against the runs' (docs/performance.md).

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "master-crash".into());
    let seeds: u64 = args.next().map_or(20, |s| s.parse().expect("seeds: a whole number"));
    let spec = match scenarios::builtin::named(&name) {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let _ = sim::cycles::take();
    for seed in 0..seeds {
        let outcome = sim::run(&spec, seed, sim::RunOptions::default());
        assert!(outcome.violations.is_empty(), "seed {seed}: {:?}", outcome.violations);
    }
    match (sim::cycles::take(), sim::cycles::probe_cost()) {
        (Some(counts), Some(probe)) => {
            let (handlers, runs) = (counts.handlers as f64, counts.runs as f64);
            // The timing itself runs outside the handlers: without it the runs are shorter.
            let timing = counts.calls as f64 * probe;
            println!(
                "{name}, {seeds} seeds: handlers {:.1} % of the runs' cycles ({:.2} G of {:.2} G); \
                 {:.1} % without the timing's own cost ({} handler calls timed at {probe:.0} \
                 cycles each: {:.2} G)",
                100.0 * handlers / runs,
                handlers / 1e9,
                runs / 1e9,
                100.0 * handlers / (runs - timing),
                counts.calls,
                timing / 1e9,
            )
        }
        _ => {
            eprintln!("built without the counters: add --features handler-cycles (x86_64 only)");
            std::process::exit(2);
        }
    }
}
