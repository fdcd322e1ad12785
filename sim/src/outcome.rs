//! What a run ends with: the verdict, violations, measurements and the trace hash.

use broker_model::Time;
use std::collections::BTreeMap;
use std::fmt;

/// A property a run broke. Each names its source in `docs/invariants.md`.
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    /// More than one broker of a group served as master at the same time.
    SplitBrain { group: u32, at: Time, overlap_ms: f64, brokers: Vec<String> },
    /// After the last fault plus the liveness deadline, a group did not have exactly one master.
    NoSingleMaster { group: u32, at: Time, serving: usize },
    /// The scenario's fault did not cause what it exists to cause.
    NotExercised { what: &'static str },
    /// A step's role target did not exist when it fired (e.g. no serving master).
    StepUnresolved { step: String },
    /// A step fired but did nothing: the run did not test what the scenario says.
    StepIneffective { step: String, why: &'static str },
    /// A model or harness assertion failed: a programmer error, with its message.
    Panic { message: String },
    /// Acknowledged persistent messages were lost although the configuration promises they
    /// survive (a remote `sync` mode, at most a minority of a group down).
    AcknowledgedLoss { count: u64, first: String },
    /// Messages were delivered that no producer sent.
    Unexpected { count: u64, first: String },
    /// A failover resend reached the store a second time (the producer audit should drop it).
    DuplicateStored { at: Time, count: u64, first: String },
    /// Messages were still waiting in a destination at the end of the drain.
    Stuck { count: u64, first: String },
    /// After the liveness deadline (or at the end) a connector whose two groups both had a
    /// serving master had no bridge up.
    BridgeNotUp { connector: String, at: Time },
    /// Two bridges of one connector to one URI were up at once.
    DuplicateBridge { connector: String, uri: String, at: Time },
    /// A bridge forwarded a message that had already crossed `messageTTL` brokers.
    NetworkTtl { hops: u32, ttl: u32, first: String },
    /// The run stopped making progress: too many events at one instant (a zero-delay loop) or
    /// in all. The run was cut off there; nothing after `at` was simulated.
    Livelock { at: Time, events: u64, same_instant: bool },
}

impl Violation {
    /// The variant's name, for counts by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::SplitBrain { .. } => "SplitBrain",
            Violation::NoSingleMaster { .. } => "NoSingleMaster",
            Violation::NotExercised { .. } => "NotExercised",
            Violation::StepUnresolved { .. } => "StepUnresolved",
            Violation::StepIneffective { .. } => "StepIneffective",
            Violation::Panic { .. } => "Panic",
            Violation::AcknowledgedLoss { .. } => "AcknowledgedLoss",
            Violation::Unexpected { .. } => "Unexpected",
            Violation::DuplicateStored { .. } => "DuplicateStored",
            Violation::Stuck { .. } => "Stuck",
            Violation::NetworkTtl { .. } => "NetworkTtl",
            Violation::BridgeNotUp { .. } => "BridgeNotUp",
            Violation::DuplicateBridge { .. } => "DuplicateBridge",
            Violation::Livelock { .. } => "Livelock",
        }
    }

    /// A failure of amqsim itself (a model assertion, a livelock) rather than a finding about
    /// the simulated cluster.
    pub fn is_model_failure(&self) -> bool {
        matches!(self, Violation::Panic { .. } | Violation::Livelock { .. })
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::SplitBrain { group, at, overlap_ms, brokers } => write!(
                f,
                "split brain: group{group} had {} serving masters at {at} for {overlap_ms:.1} ms",
                brokers.join("+")
            ),
            Violation::NoSingleMaster { group, at, serving } => {
                write!(f, "liveness: group{group} had {serving} serving masters at {at}, expected 1")
            }
            Violation::NotExercised { what } => {
                write!(f, "not exercised: `{what}` never happened after the measured fault")
            }
            Violation::StepUnresolved { step } => {
                write!(f, "step `{step}` found no process for its target")
            }
            Violation::StepIneffective { step, why } => write!(f, "step `{step}` had no effect: {why}"),
            Violation::Panic { message } => write!(f, "assertion failed: {message}"),
            Violation::AcknowledgedLoss { count, first } => {
                write!(
                    f,
                    "message loss: {count} acknowledged persistent messages never delivered (first {first})"
                )
            }
            Violation::Unexpected { count, first } => {
                write!(f, "unexpected: {count} delivered messages were never sent (first {first})")
            }
            Violation::Stuck { count, first } => {
                write!(
                    f,
                    "stuck: {count} messages still waiting in a destination after the drain (first {first})"
                )
            }
            Violation::BridgeNotUp { connector, at } => write!(
                f,
                "bridge liveness: connector {connector} had no bridge up at {at} although both its groups had a master"
            ),
            Violation::DuplicateBridge { connector, uri, at } => {
                write!(f, "two bridges of connector {connector} to {uri} were up at {at}")
            }
            Violation::NetworkTtl { hops, ttl, first } => write!(
                f,
                "network TTL: {first} was forwarded across {hops} brokers, more than messageTTL {ttl} allows"
            ),
            Violation::Livelock { at, events, same_instant: true } => write!(
                f,
                "livelock: {events} events at {at} without simulated time advancing (run cut off there)"
            ),
            Violation::Livelock { at, events, same_instant: false } => {
                write!(f, "livelock: the event cap ({events} events) was reached at {at} (run cut off there)")
            }
            Violation::DuplicateStored { at, count, first } => write!(
                f,
                "duplicate stored: {count} failover resends reached the store twice (first {first} at {at})"
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: String,
    pub seed: u64,
    pub violations: Vec<Violation>,
    /// Measurements in milliseconds of simulated time, by name.
    pub timings_ms: BTreeMap<String, f64>,
    /// The message checker's counts (sent, acked, delivered, lost, ...), empty without a
    /// workload: the flattened form of `messages`.
    pub counts: BTreeMap<String, u64>,
    pub messages: Option<crate::measurements::MessageCounts>,
    /// Other measurements (bytes transferred at a catch-up, ...), by name with their unit.
    pub measures: BTreeMap<String, f64>,
    /// The measurements as typed values; `timings_ms` and `measures` are their flattened form.
    pub measurements: crate::measurements::Measurements,
    /// The run as time series, when asked for (`RunOptions::timeline`).
    pub timeline: Option<crate::timeline::Timeline>,
    pub trace_hash: u64,
    /// Events in the trace (inputs delivered, faults, observations).
    pub events: u64,
    pub simulated_ms: u64,
    /// The history, when asked for (`RunOptions::keep_history`).
    pub history: crate::history::History,
    /// The run was cancelled before its end (`RunOptions::cancel`): nothing in it is a result.
    pub interrupted: bool,
}

impl Outcome {
    fn empty(spec: &crate::Spec, seed: u64) -> Outcome {
        Outcome {
            scenario: spec.name.clone(),
            seed,
            violations: Vec::new(),
            timings_ms: BTreeMap::new(),
            counts: BTreeMap::new(),
            messages: None,
            measures: BTreeMap::new(),
            measurements: Default::default(),
            timeline: None,
            trace_hash: 0,
            events: 0,
            simulated_ms: 0,
            history: Default::default(),
            interrupted: false,
        }
    }

    /// A run that panicked outside the model's handling (or whose thread could not start).
    pub fn panicked(spec: &crate::Spec, seed: u64, message: String) -> Outcome {
        Outcome { violations: vec![Violation::Panic { message }], ..Outcome::empty(spec, seed) }
    }

    /// A run stopped from outside before its end.
    pub fn cancelled(spec: &crate::Spec, seed: u64) -> Outcome {
        Outcome { interrupted: true, ..Outcome::empty(spec, seed) }
    }

    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}
