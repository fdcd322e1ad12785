//! sim — the world around the broker-model processes: hosts, connections with faithful failure
//! semantics, per-process disks, faults, the history, the checkers and `run()`.
//!
//! A run is a pure function of (spec, seed, code). It executes inside a fresh madsim runtime on a
//! fresh thread: madsim owns the simulated clock the run advances, and every random choice comes
//! from ChaCha streams derived from the run seed.
//!
//! **Architecture invariant:** this is the only crate that names madsim; `broker-model` never sees
//! a clock, a socket or a runtime.

#[cfg(not(madsim))]
compile_error!(
    "the `sim` crate only builds with `--cfg madsim`: build from the workspace root, whose \
     .cargo/config.toml sets it (an environment RUSTFLAGS overrides that file)"
);

pub mod check;
pub mod history;
pub mod ledger;
pub mod measurements;
pub mod narrate;
pub mod outcome;
mod queue;
pub mod run;
pub mod settings;
#[doc(hidden)] // public for the bare-model driver (benches), not an API
pub mod small_map;
pub mod spec;
pub mod timeline;
pub mod topology;
pub mod trace;
pub mod validate;
mod world;

pub use outcome::{Outcome, Violation};
pub use run::{run, RunOptions};
pub use spec::Spec;
