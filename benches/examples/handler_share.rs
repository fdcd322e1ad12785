//! How much of a run the processes' own handlers take, from a profile of the plain release
//! build: reads `perf script -F comm,ip,sym` of a `perf record --call-graph dwarf` profile on
//! standard input and prints the handlers' share of the samples (`benches::profile` says how
//! a sample is judged). `benches/handler-share [TARGET] [SEEDS] [FREQUENCY]` records and
//! reads one.

fn main() {
    let tally = match benches::profile::tally(std::io::stdin().lock()) {
        Ok(tally) => tally,
        Err(error) => {
            eprintln!("handler_share: reading standard input: {error}");
            std::process::exit(2);
        }
    };
    let Some((share, error)) = tally.share() else {
        eprintln!(
            "handler_share: no samples on standard input (expected `perf script -F comm,ip,sym` of a \
             `perf record --call-graph dwarf` profile)"
        );
        std::process::exit(2);
    };
    if tally.handlers == 0 {
        eprintln!(
            "handler_share: no sample below sim::world::call_handler: was the profile recorded with \
             --call-graph dwarf, and is that function still named so and never inlined?"
        );
        std::process::exit(2);
    }
    if tally.cut == tally.samples() {
        eprintln!(
            "handler_share: no sample was unwound to its thread's root: record with --call-graph dwarf"
        );
        std::process::exit(2);
    }
    if tally.cut * 100 > tally.samples() {
        eprintln!(
            "handler_share: {} of {} samples were not unwound to their thread's root (a libc frame \
             without unwind tables, a page fault): counted as the world's, so the share below is a \
             lower bound; among the unwound ones it is {:.1} %",
            tally.cut,
            tally.samples(),
            100.0 * tally.handlers as f64 / (tally.samples() - tally.cut) as f64,
        );
    }
    println!(
        "{} samples: handlers {:.1} % ± {:.1} (one standard error), world {:.1} %; {} samples not \
         unwound to their thread's root, counted as the world's",
        tally.samples(),
        100.0 * share,
        100.0 * error,
        100.0 * (1.0 - share),
        tally.cut,
    );
}
