//! The history of a run: every observation, fault and lifecycle event with its simulated time
//! and process. Checkers and measurements read only this.
//!
//! The per-message observations (sent, acknowledged, delivered) are folded into the
//! [`Ledger`] as they are pushed and kept as events only when asked (`keep_messages`: tests and
//! tools that read them) — except the first acknowledgement after each client (re)connect,
//! which the failover measurements time. Everything else is kept.

use crate::ledger::Ledger;
use broker_model::{Observation, Time};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Observed(Observation),
    /// The process started (first boot or restart).
    Started,
    /// The process died (kill -9 or its host lost power).
    Crashed,
    Paused,
    Resumed,
    /// A schedule step fired; `process` is the one it resolved to, if any.
    Step {
        id: String,
    },
    /// A step's target could not be resolved when it fired (e.g. no serving master).
    StepUnresolved {
        id: String,
    },
    /// A step fired but changed nothing (a restart of a running process, an empty cut).
    StepIneffective {
        id: String,
        why: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: Time,
    /// Index into the layout's processes; `None` for world-level events.
    pub process: Option<usize>,
    pub kind: Kind,
}

#[derive(Debug, Clone, Default)]
pub struct History {
    pub events: Vec<Event>,
    pub ledger: Ledger,
    /// Keep every per-message observation as an event too.
    pub keep_messages: bool,
    /// Clients whose next send acknowledgement is kept (they connected since their last one).
    awaiting_ack: BTreeSet<usize>,
    last_at: Time,
}

impl History {
    /// A history that keeps every observation as an event (for tests and tools that read the
    /// per-message ones).
    pub fn keeping_messages() -> History {
        History { keep_messages: true, ..History::default() }
    }

    pub fn push(&mut self, at: Time, process: Option<usize>, kind: Kind) {
        assert!(self.last_at <= at, "history goes back in time");
        self.last_at = at;
        if let Kind::Observed(observation) = &kind {
            match observation {
                Observation::ClientConnected { .. } => {
                    self.awaiting_ack.extend(process);
                }
                Observation::DeadLettered { key, .. } => self.ledger.dead_lettered(*key),
                _ => {}
            }
            if Ledger::takes(observation) {
                self.ledger.observe(at, observation);
                let first_ack = matches!(observation, Observation::SendAcked { .. })
                    && process.is_some_and(|p| self.awaiting_ack.remove(&p));
                if !self.keep_messages && !first_ack {
                    return;
                }
            }
        }
        self.events.push(Event { at, process, kind });
    }

    pub fn step_time(&self, id: &str) -> Option<Time> {
        self.events.iter().find(|e| matches!(&e.kind, Kind::Step { id: s } if s == id)).map(|e| e.at)
    }
}
