//! The handlers' share of a run, read from a profile of the plain release build (the
//! `handler_share` example and `benches/handler-share` drive it; benches/README.md).
//!
//! The world runs every handler through `sim::world::call_handler`, builds every process from
//! its disk in `sim::world::build_process`, and carries out every effect through
//! `<sim::world::Applier as Effects>::push`, all never inlined and never tail-called (the
//! bare-model driver has its own `benches::call_handler` and `<benches::Wire as
//! Effects>::push`). Walking a sample's stack from its thread's root towards the sampled
//! instruction, the last of those frames decides: below `call_handler` or `build_process` the
//! time is the process's own, below `push` it is the world's again (a send, a timer, an fsync
//! carried out for the handler), and a stack with neither is the
//! world's (event loop, network, disk, checkers, start-up, and teardown — dropping the
//! processes' state included). A stack that was not unwound to its thread's root is counted as
//! the world's and reported apart, so it can only lower the share.

use std::io::BufRead;

/// The outermost frames of a stack unwound whole (a Rust thread's, libc's or `main`'s), as
/// prefixes: perf may add a symbol version (`__libc_start_main@@GLIBC_2.34`).
const ROOTS: [&str; 5] = [
    "std::sys::backtrace::__rust_begin_short_backtrace",
    "start_thread",
    "__libc_start_call_main",
    "__libc_start_main",
    "_start",
];

/// Frames below which the time is the processes' own.
const PROCESS_CODE: [&str; 3] =
    ["sim::world::call_handler", "sim::world::build_process", "benches::call_handler"];

/// Frames below which it is the world's (or the bare-model driver's) again.
const WORLD_CODE: [&str; 2] = [
    "<sim::world::Applier as broker_model::io::Effects>::push",
    "<benches::Wire as broker_model::io::Effects>::push",
];

fn is_root(frame: &str) -> bool {
    ROOTS
        .iter()
        .any(|root| frame == *root || frame.strip_prefix(root).is_some_and(|rest| rest.starts_with('@')))
}

/// Samples by where they were spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub handlers: u64,
    pub world: u64,
    /// Samples whose stack does not reach a thread's root (also counted in `world`): kernel
    /// work with little or no user stack (a thread's creation or exit, a page fault), or a
    /// stack the unwinder gave up on.
    pub cut: u64,
    /// Of those, samples in user code whose stack has only the sampled frame: the unwinder
    /// gave up at once. perf now and then records a whole profile in which no stack unwinds
    /// through libc; this count is how such a profile shows.
    pub lone: u64,
    /// Threads sampled (when the thread lines carry a thread id: `perf script -F comm,tid,…`).
    pub threads: u64,
}

impl Tally {
    /// Counts one sample, its frames' symbols innermost first (as `perf script` prints them).
    pub fn add(&mut self, frames: &[&str]) {
        if frames.is_empty() {
            return;
        }
        let mut handler = false;
        for frame in frames.iter().rev() {
            if PROCESS_CODE.iter().any(|entry| frame.starts_with(entry)) {
                handler = true;
            } else if WORLD_CODE.iter().any(|entry| frame.starts_with(entry)) {
                handler = false;
            }
        }
        if !frames.iter().any(|frame| is_root(frame)) {
            self.cut += 1;
            self.world += 1;
        } else if handler {
            self.handlers += 1;
        } else {
            self.world += 1;
        }
    }

    pub fn samples(&self) -> u64 {
        self.handlers + self.world
    }

    /// The handlers' share of the samples, and its standard error (samples taken as
    /// independent).
    pub fn share(&self) -> Option<(f64, f64)> {
        let total = self.samples();
        if total == 0 {
            return None;
        }
        let share = self.handlers as f64 / total as f64;
        Some((share, (share * (1.0 - share) / total as f64).sqrt()))
    }
}

/// Tallies `perf script --no-inline -F comm,tid,ip,sym` output (the thread id may be left
/// out): a sample is an unindented line (its thread's name and id) followed by one indented
/// `<address> <symbol>` line per frame, innermost first. Without `--no-inline` perf adds the
/// functions inlined into a frame as frames of their own, and the boundaries must be real
/// frames.
pub fn tally(input: impl BufRead) -> std::io::Result<Tally> {
    let mut tally = Tally::default();
    let mut threads = std::collections::BTreeSet::new();
    // Each frame's symbol, and whether its address is the kernel's.
    let mut frames: Vec<(String, bool)> = Vec::new();
    let mut count = |frames: &mut Vec<(String, bool)>| {
        let before = tally.cut;
        tally.add(&frames.iter().map(|(symbol, _)| symbol.as_str()).collect::<Vec<_>>());
        if tally.cut > before && frames.len() == 1 && !frames[0].1 {
            tally.lone += 1;
        }
        frames.clear();
    };
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() || !line.starts_with([' ', '\t']) {
            count(&mut frames);
            if let Some(tid) = line.split_whitespace().nth(1).and_then(|tid| tid.parse::<u64>().ok()) {
                threads.insert(tid);
            }
            continue;
        }
        let (address, symbol) = line.trim_start().split_once(' ').unwrap_or((line.trim_start(), ""));
        // x86-64 kernel addresses are the top half: 16 hex digits from ffff8000_00000000.
        let kernel = address.len() == 16 && address.starts_with("ffff");
        frames.push((symbol.to_string(), kernel));
    }
    count(&mut frames);
    tally.threads = threads.len() as u64;
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANDLER: &str = "\
master-crash-0 
\t          17bc63 broker_model::store::Log::write
\t          1582a7 broker_model::broker::Broker::on_input
\t          3b1db0 sim::world::call_handler
\t          39bea6 sim::world::World::deliver
\t          35c2f1 <core::pin::Pin<P> as core::future::future::Future>::poll
\t          347e2d std::sys::backtrace::__rust_begin_short_backtrace
\tffffffffffffffff [unknown]
";

    /// A send carried out for the handler: the world's time, though under `call_handler`.
    const EFFECT: &str = "\
master-crash-0 
\t          3a176d sim::world::World::transmit
\t          3b1bb2 <sim::world::Applier as broker_model::io::Effects>::push
\t          1683fd broker_model::broker::Broker::after_input
\t          3b1db0 sim::world::call_handler
\t          39bea6 sim::world::World::deliver
\t          347e2d std::sys::backtrace::__rust_begin_short_backtrace
";

    const LOOP: &str = "\
master-crash-0 
\t          35c2f1 <core::pin::Pin<P> as core::future::future::Future>::poll
\t          347e2d std::sys::backtrace::__rust_begin_short_backtrace
";

    /// Unwinding gave up before the root: counted as the world's, and apart.
    const CUT: &str = "\
master-crash-0 
\t          17bc63 broker_model::store::Log::write
\t          3b1db0 sim::world::call_handler
";

    /// The bare-model driver's entry, under `main` (libc's symbol carries its version).
    const DIRECT: &str = "\
model-8e509cea6a 
\t          17bc63 broker_model::store::Log::write
\t          3b1db0 benches::call_handler
\t          3b1000 benches::Direct::run_until
\t            29d90 __libc_start_main@@GLIBC_2.34
";

    /// The direct driver carrying out a handler's send.
    const DIRECT_EFFECT: &str = "\
model-8e509cea6a 
\t          17aa00 alloc::collections::vec_deque::VecDeque<T,A>::grow
\t          3b2200 <benches::Wire as broker_model::io::Effects>::push
\t          17bc63 broker_model::broker::Broker::on_input
\t          3b1db0 benches::call_handler
\t          3b1000 benches::Direct::run_until
\t            29d90 __libc_start_main@@GLIBC_2.34
";

    /// The unwinder gave up at once in user code.
    const LONE: &str = "\
master-crash-0 
\t          16d8d0 __memmove_avx512_unaligned_erms
";

    /// A thread's creation: kernel work with one libc frame.
    const CLONE: &str = "\
amqsim 
\tffffffff8135ee2b copy_process
\tffffffff8135ff19 __do_sys_clone3
\t          1098d9 clone3
";

    fn of(text: &str) -> Tally {
        tally(text.as_bytes()).expect("in memory")
    }

    #[test]
    fn the_last_boundary_on_the_way_down_decides() {
        assert_eq!(of(HANDLER), Tally { handlers: 1, world: 0, cut: 0, lone: 0, threads: 0 });
        assert_eq!(of(EFFECT), Tally { handlers: 0, world: 1, cut: 0, lone: 0, threads: 0 });
        assert_eq!(of(LOOP), Tally { handlers: 0, world: 1, cut: 0, lone: 0, threads: 0 });
        assert_eq!(of(CUT), Tally { handlers: 0, world: 1, cut: 1, lone: 0, threads: 0 });
        assert_eq!(of(DIRECT), Tally { handlers: 1, world: 0, cut: 0, lone: 0, threads: 0 });
        assert_eq!(of(DIRECT_EFFECT), Tally { handlers: 0, world: 1, cut: 0, lone: 0, threads: 0 });
        assert_eq!(of(LONE), Tally { handlers: 0, world: 1, cut: 1, lone: 1, threads: 0 });
        assert_eq!(of(CLONE), Tally { handlers: 0, world: 1, cut: 1, lone: 0, threads: 0 });
    }

    #[test]
    fn a_root_is_a_whole_symbol_or_a_versioned_one() {
        assert!(is_root("start_thread"));
        assert!(is_root("__libc_start_main@@GLIBC_2.34"));
        assert!(!is_root("_start_something"));
        assert!(!is_root("broker_model::broker::Broker::on_start"));
    }

    #[test]
    fn samples_are_split_by_their_thread_line_and_blank_lines() {
        let text = [HANDLER, EFFECT, LOOP, HANDLER].join("\n") + CUT;
        let tally = of(&text);
        assert_eq!(tally, Tally { handlers: 2, world: 3, cut: 1, lone: 0, threads: 0 });
        let (share, error) = tally.share().expect("samples");
        assert!((share - 0.4).abs() < 1e-12);
        assert!(error > 0.0 && error < 0.25);
    }

    #[test]
    fn threads_are_counted_by_their_ids() {
        let text = "master-crash-0 17\n\t 1 std::sys::backtrace::__rust_begin_short_backtrace\n\
                    master-crash-0 17\n\t 1 std::sys::backtrace::__rust_begin_short_backtrace\n\
                    master-crash-1 18\n\t 1 std::sys::backtrace::__rust_begin_short_backtrace\n";
        let tally = of(text);
        assert_eq!((tally.world, tally.threads), (3, 2));
    }

    #[test]
    fn no_samples_no_share() {
        assert_eq!(of("").share(), None);
    }
}
