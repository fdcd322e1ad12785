//! scenarios — scenario files and the built-in presets, batches of seeds, and the `amqsim` CLI.

pub mod batch;
pub mod builtin;
pub mod format;
