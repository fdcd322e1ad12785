//! The instrumented build (`--features handler-cycles`): CPU cycles spent in the processes' own
//! handlers (`on_start`, `on_input`) against cycles spent in whole runs (thread, runtime, world,
//! checkers, teardown), read with the time-stamp counter, which madsim does not simulate.
//!
//! It measures, it never decides: nothing a run does reads these counters, and without the
//! feature every function here is empty. `cargo run --release -p benches --example
//! handler_share --features handler-cycles -- <scenario> <seeds>` prints the share.

#[cfg(all(feature = "handler-cycles", target_arch = "x86_64"))]
mod imp {
    use std::sync::atomic::{AtomicU64, Ordering};

    static HANDLERS: AtomicU64 = AtomicU64::new(0);
    static RUNS: AtomicU64 = AtomicU64::new(0);

    pub fn now() -> u64 {
        // SAFETY: `rdtsc` has no preconditions on x86_64; it only reads a counter.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    pub fn handler_since(start: u64) {
        HANDLERS.fetch_add(now().wrapping_sub(start), Ordering::Relaxed);
    }

    pub fn run_since(start: u64) {
        RUNS.fetch_add(now().wrapping_sub(start), Ordering::Relaxed);
    }

    pub fn take() -> Option<(u64, u64)> {
        Some((HANDLERS.swap(0, Ordering::Relaxed), RUNS.swap(0, Ordering::Relaxed)))
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

    pub fn take() -> Option<(u64, u64)> {
        None
    }
}

/// Adds the cycles since `start` to the handlers' total.
pub use imp::handler_since;
/// A counter reading to pass to [`handler_since`] or [`run_since`].
pub use imp::now;
/// Adds the cycles since `start` to the runs' total.
pub use imp::run_since;

/// (handler cycles, run cycles) since the last call, or `None` in a build without the feature.
pub use imp::take;
