//! How much of a run the processes' own handlers take, from a profile of the plain release
//! build: reads `perf script -F comm,tid,ip,sym` of a `perf record --call-graph dwarf` profile
//! on standard input and prints the handlers' share of the samples (`benches::profile` says
//! how a sample is judged). `benches/handler-share [TARGET] [SEEDS] [FREQUENCY]` records and
//! reads one.
//!
//! Options: `--strict` refuses (exit 3, nothing on standard output) a profile in which over
//! 1 % of the samples are a lone user-mode frame: perf sometimes records a whole profile in
//! which its unwinder gives up on every stack through libc, and those samples — a handler's
//! `memmove` as often as the world's — would all be counted as the world's; the script then
//! records again. `--threads N` names how many threads the run had (a seed is one): a thread
//! perf never sampled is invisible in the profile, so the count of threads seen is not enough
//! to tell whether each was sampled often enough.

/// Above this share of samples not unwound (or, with `--strict`, unwound not at all), a
/// profile is a poor measure (percent).
const CUT_PERCENT_MAX: u64 = 1;

/// perf samples each thread on a clock of its own that starts with the thread, so a thread's
/// last partial period (a seed's checkers and teardown, the world's) is never sampled: half a
/// period a thread on average. Under this many samples a thread, that would bias the share by
/// over 2.5 %.
const SAMPLES_PER_THREAD_MIN: u64 = 20;

fn refuse(code: i32, message: std::fmt::Arguments) -> ! {
    eprintln!("handler_share: {message}");
    std::process::exit(code);
}

fn main() {
    let mut strict = false;
    let mut threads_expected: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--strict" => strict = true,
            "--threads" => match args.next().and_then(|n| n.parse::<u64>().ok()) {
                Some(n) if n > 0 => threads_expected = Some(n),
                _ => refuse(2, format_args!("--threads takes a whole number of threads, 1 or more")),
            },
            other => refuse(2, format_args!("unknown argument {other:?} (expected --strict, --threads N)")),
        }
    }
    let tally = match benches::profile::tally(std::io::stdin().lock()) {
        Ok(tally) => tally,
        Err(error) => refuse(2, format_args!("reading standard input: {error}")),
    };
    let Some((share, error)) = tally.share() else {
        refuse(
            2,
            format_args!(
                "no samples on standard input (expected `perf script -F comm,tid,ip,sym` of a `perf \
                 record --call-graph dwarf` profile)"
            ),
        );
    };
    // Retryable first: a profile whose stacks did not unwind says nothing else reliably.
    if strict && tally.lone * 100 > tally.samples() * CUT_PERCENT_MAX {
        refuse(
            3,
            format_args!(
                "in {} of {} samples the unwinder gave up at the sampled frame: profile refused",
                tally.lone,
                tally.samples()
            ),
        );
    }
    if tally.cut == tally.samples() {
        refuse(2, format_args!("no sample was unwound to its thread's root: record with --call-graph dwarf"));
    }
    if tally.handlers == 0 {
        refuse(
            2,
            format_args!(
                "no sample below sim::world::call_handler, sim::world::build_process or \
                 benches::call_handler: are they still named so and never inlined?"
            ),
        );
    }
    if tally.threads == 0 {
        refuse(
            2,
            format_args!("no thread ids in the profile: read it with `perf script -F comm,tid,ip,sym`"),
        );
    }
    let threads = threads_expected.map_or(tally.threads, |expected| expected.max(tally.threads));
    if tally.samples() < SAMPLES_PER_THREAD_MIN * threads {
        refuse(
            2,
            format_args!(
                "{} samples over {threads} threads ({} of them sampled at all): under \
                 {SAMPLES_PER_THREAD_MIN} a thread, the end of each thread that its sampling clock \
                 never reaches (a seed's checkers and teardown) is too large to ignore; raise the \
                 frequency or run longer seeds",
                tally.samples(),
                tally.threads,
            ),
        );
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
