//! The human trace: every event the world handles becomes a `tracing` event with the simulated
//! time, the process, its peer, a phrase in domain words and the raw input as `detail`. Targets
//! are `amqsim::<kind>` (roles, faults, messages, zk, store, net); levels say how routine an
//! event is (INFO important, DEBUG routine, TRACE chatter such as pings). Without a subscriber
//! (batch runs) nothing is formatted: tracing evaluates the fields only for enabled events.
//! Nothing here feeds the trace hash.

use broker_model::describe::{BridgeText, TraceKind, Weight};
use broker_model::{HostId, Input, Observation, Time};
use std::cell::Cell;
use std::fmt;

thread_local! {
    /// The simulated time of the event being narrated, for the subscriber's timer.
    static NOW_US: Cell<u64> = const { Cell::new(0) };
}

/// The simulated time (µs) of the event being narrated on this thread: what a `FormatTime`
/// prints instead of the wall clock.
pub fn sim_now_us() -> u64 {
    NOW_US.with(Cell::get)
}

/// Emits one event at a kind and weight known only at run time (tracing wants both constant per
/// call site, so each combination gets its own).
macro_rules! emit {
    ($kind:expr, $weight:expr, $($rest:tt)*) => {
        match ($kind, $weight) {
            (TraceKind::Roles, Weight::Important) => tracing::info!(target: "amqsim::roles", $($rest)*),
            (TraceKind::Roles, Weight::Routine) => tracing::debug!(target: "amqsim::roles", $($rest)*),
            (TraceKind::Roles, Weight::Chatter) => tracing::trace!(target: "amqsim::roles", $($rest)*),
            (TraceKind::Faults, Weight::Important) => tracing::info!(target: "amqsim::faults", $($rest)*),
            (TraceKind::Faults, Weight::Routine) => tracing::debug!(target: "amqsim::faults", $($rest)*),
            (TraceKind::Faults, Weight::Chatter) => tracing::trace!(target: "amqsim::faults", $($rest)*),
            (TraceKind::Messages, Weight::Important) => tracing::info!(target: "amqsim::messages", $($rest)*),
            (TraceKind::Messages, Weight::Routine) => tracing::debug!(target: "amqsim::messages", $($rest)*),
            (TraceKind::Messages, Weight::Chatter) => tracing::trace!(target: "amqsim::messages", $($rest)*),
            (TraceKind::Zk, Weight::Important) => tracing::info!(target: "amqsim::zk", $($rest)*),
            (TraceKind::Zk, Weight::Routine) => tracing::debug!(target: "amqsim::zk", $($rest)*),
            (TraceKind::Zk, Weight::Chatter) => tracing::trace!(target: "amqsim::zk", $($rest)*),
            (TraceKind::Store, Weight::Important) => tracing::info!(target: "amqsim::store", $($rest)*),
            (TraceKind::Store, Weight::Routine) => tracing::debug!(target: "amqsim::store", $($rest)*),
            (TraceKind::Store, Weight::Chatter) => tracing::trace!(target: "amqsim::store", $($rest)*),
            (TraceKind::Net, Weight::Important) => tracing::info!(target: "amqsim::net", $($rest)*),
            (TraceKind::Net, Weight::Routine) => tracing::debug!(target: "amqsim::net", $($rest)*),
            (TraceKind::Net, Weight::Chatter) => tracing::trace!(target: "amqsim::net", $($rest)*),
            (TraceKind::Bridges, Weight::Important) => tracing::info!(target: "amqsim::bridges", $($rest)*),
            (TraceKind::Bridges, Weight::Routine) => tracing::debug!(target: "amqsim::bridges", $($rest)*),
            (TraceKind::Bridges, Weight::Chatter) => tracing::trace!(target: "amqsim::bridges", $($rest)*),
        }
    };
}

/// Whether any subscriber could want an event at all (every narrated event is INFO or finer):
/// one atomic load, so batch runs skip even classifying the event.
#[inline]
fn wanted() -> bool {
    tracing::level_enabled!(tracing::Level::INFO)
}

/// An input delivered to `process` (from `peer`, when it came over a connection). The level
/// check is inlined into the world's loop; the narration is not.
#[inline]
pub fn input(now: Time, process: &str, peer: impl FnOnce() -> Option<String>, input: &Input) {
    if wanted() {
        narrate_input(now, process, peer, input);
    }
}

#[inline(never)]
fn narrate_input(now: Time, process: &str, peer: impl FnOnce() -> Option<String>, input: &Input) {
    NOW_US.with(|t| t.set(now.as_us()));
    emit!(
        input.trace_kind(),
        input.weight(),
        t_us = now.as_us(),
        process,
        peer = peer().unwrap_or_default(),
        detail = ?input,
        "{input}"
    );
}

/// Something a process reported.
#[inline]
pub fn observation(now: Time, process: &str, observation: &Observation, host: impl Fn(HostId) -> String) {
    if wanted() {
        narrate_observation(now, process, observation, host);
    }
}

#[inline(never)]
fn narrate_observation(now: Time, process: &str, observation: &Observation, host: impl Fn(HostId) -> String) {
    NOW_US.with(|t| t.set(now.as_us()));
    // A bridge's URI by its host's name (`mqhost2:61617`), as an operator's config names it.
    let text = match observation {
        Observation::Bridge { name, event } => {
            let uri = format!("{}:{}", host(name.uri.host), name.uri.port);
            BridgeText { name, event, uri: &uri }.to_string()
        }
        other => other.to_string(),
    };
    emit!(
        observation.trace_kind(),
        observation.weight(),
        t_us = now.as_us(),
        process,
        peer = "",
        detail = ?observation,
        "{text}"
    );
}

/// A fault or lifecycle event of the world (`process` is empty for world-level events).
pub fn fault(now: Time, process: &str, what: fmt::Arguments<'_>) {
    NOW_US.with(|t| t.set(now.as_us()));
    emit!(
        TraceKind::Faults,
        Weight::Important,
        t_us = now.as_us(),
        process,
        peer = "",
        detail = "",
        "{what}"
    );
}

/// A process starting or dying: part of the cluster's roles as an operator reads them.
pub fn lifecycle(now: Time, process: &str, what: fmt::Arguments<'_>) {
    NOW_US.with(|t| t.set(now.as_us()));
    emit!(TraceKind::Roles, Weight::Important, t_us = now.as_us(), process, peer = "", detail = "", "{what}");
}
