//! The instrumented build (`--features handler-cycles`): CPU cycles spent in the processes' own
//! handlers (`on_start`, `on_input`) against cycles spent in whole runs (thread, runtime, world,
//! checkers, teardown), read with the time-stamp counter, which madsim does not simulate.
//!
//! It measures, it never decides: nothing a run does reads these counters, and without the
//! feature every function here is empty. `cargo run --release -p benches --example
//! handler_share --features handler-cycles -- <scenario> <seeds>` prints the share.

/// What the counters hold: cycles in handlers, how many handler calls were timed, and cycles
/// in whole runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub handlers: u64,
    pub calls: u64,
    pub runs: u64,
}

#[cfg(all(feature = "handler-cycles", target_arch = "x86_64"))]
mod imp {
    use super::Counts;
    use std::sync::atomic::{AtomicU64, Ordering};

    static HANDLERS: AtomicU64 = AtomicU64::new(0);
    static CALLS: AtomicU64 = AtomicU64::new(0);
    static RUNS: AtomicU64 = AtomicU64::new(0);

    pub fn now() -> u64 {
        // SAFETY: `rdtsc` has no preconditions on x86_64; it only reads a counter.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    pub fn handler_since(start: u64) {
        add_since(&HANDLERS, &CALLS, start);
    }

    /// What timing one handler call does after its first reading.
    #[inline(always)]
    fn add_since(cycles: &AtomicU64, calls: &AtomicU64, start: u64) {
        cycles.fetch_add(now().wrapping_sub(start), Ordering::Relaxed);
        calls.fetch_add(1, Ordering::Relaxed);
    }

    pub fn probe_cost() -> Option<f64> {
        // The same timing as around a handler, on counters of its own.
        static SCRATCH: AtomicU64 = AtomicU64::new(0);
        static SCRATCH_CALLS: AtomicU64 = AtomicU64::new(0);
        const PROBES: u64 = 1 << 20;
        let mut best = u64::MAX;
        for _ in 0..5 {
            let started = now();
            for _ in 0..PROBES {
                add_since(&SCRATCH, &SCRATCH_CALLS, std::hint::black_box(now()));
            }
            best = best.min(now().wrapping_sub(started));
        }
        Some(best as f64 / PROBES as f64)
    }

    pub fn run_since(start: u64) {
        RUNS.fetch_add(now().wrapping_sub(start), Ordering::Relaxed);
    }

    pub fn take() -> Option<Counts> {
        Some(Counts {
            handlers: HANDLERS.swap(0, Ordering::Relaxed),
            calls: CALLS.swap(0, Ordering::Relaxed),
            runs: RUNS.swap(0, Ordering::Relaxed),
        })
    }
}

#[cfg(not(all(feature = "handler-cycles", target_arch = "x86_64")))]
mod imp {
    #[inline(always)]
    pub fn now() -> u64 {
        0
    }

    #[inline(always)]
    pub fn handler_since(_start: u64) {}

    #[inline(always)]
    pub fn run_since(_start: u64) {}

    pub fn probe_cost() -> Option<f64> {
        None
    }

    pub fn take() -> Option<super::Counts> {
        None
    }
}

/// Adds the cycles since `start` to the handlers' total.
pub use imp::handler_since;
/// A counter reading to pass to [`handler_since`] or [`run_since`].
pub use imp::now;
/// Adds the cycles since `start` to the runs' total.
pub use imp::run_since;

/// The cycles one timed handler call adds to a run by being timed (two counter readings and
/// two additions), measured in a loop: the instrumented build's runs are longer than the
/// plain build's by about `calls` × this, all of it outside the handlers. `None` in a build
/// without the feature.
pub use imp::probe_cost;
/// The counts since the last call, or `None` in a build without the feature.
pub use imp::take;
