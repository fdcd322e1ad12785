//! How much of a run the processes' own handlers take, from a profile of the plain release
//! build: reads `perf script -F comm,ip,sym` of a `perf record --call-graph dwarf` profile on
//! standard input and prints the handlers' share of the samples (`benches::profile` says how
//! a sample is judged). `benches/handler-share [TARGET] [SEEDS] [FREQUENCY]` records and
//! reads one.
//!
//! With `--strict`, a profile in which over 1 % of the samples are a lone user-mode frame (the
//! unwinder gave up at once) is refused (exit 3, nothing on standard output): perf sometimes
//! records a whole profile in which no stack unwinds through libc, and those samples — a
//! handler's `memmove` as often as the world's — would all be counted as the world's. The
//! script then records again.

/// Fewer samples a thread than this, and the periods never sampled at each thread's end
/// (half a period each, on average, all the world's) would bias the share by over 2.5 %.
const SAMPLES_PER_THREAD_MIN: u64 = 20;

/// Above this share of samples not unwound (or, with `--strict`, unwound not at all), a
/// profile is a poor measure (percent).
const CUT_PERCENT_MAX: u64 = 1;

fn main() {
    let strict = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--strict") => true,
        Some(other) => {
            eprintln!("handler_share: unknown argument {other:?} (expected nothing or --strict)");
            std::process::exit(2);
        }
    };
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
    if strict && tally.lone * 100 > tally.samples() * CUT_PERCENT_MAX {
        eprintln!(
            "handler_share: in {} of {} samples the unwinder gave up at the sampled frame: profile refused",
            tally.lone,
            tally.samples()
        );
        std::process::exit(3);
    }
    if tally.threads > 0 && tally.samples() < SAMPLES_PER_THREAD_MIN * tally.threads {
        // perf samples each thread on a clock of its own that starts with the thread: a run's
        // last partial period (its checkers and teardown, the world's) is never sampled.
        eprintln!(
            "handler_share: {} samples over {} threads: under {SAMPLES_PER_THREAD_MIN} a thread, the \
             part of each run that the thread's sampling clock never reaches (its last partial \
             period: checkers and teardown) is too large to ignore; raise the frequency",
            tally.samples(),
            tally.threads,
        );
        std::process::exit(2);
    }
    if tally.cut * 100 > tally.samples() * CUT_PERCENT_MAX {
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
