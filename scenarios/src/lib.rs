//! scenarios — scenario files and the built-in presets, batches of seeds, replay commands, the
//! regressions file, the replay trace view, and the `amqsim` CLI.

pub mod batch;
pub mod builtin;
pub mod format;
pub mod origin;
pub mod output;
pub mod planted;
pub mod regressions;
pub mod trace_view;
