//! The history of a run: every observation, fault and lifecycle event with its simulated time
//! and process. Checkers and measurements read only this.

use broker_model::{Observation, Time};

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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    pub fn push(&mut self, at: Time, process: Option<usize>, kind: Kind) {
        if let Some(last) = self.events.last() {
            assert!(last.at <= at, "history goes back in time");
        }
        self.events.push(Event { at, process, kind });
    }

    pub fn step_time(&self, id: &str) -> Option<Time> {
        self.events.iter().find(|e| matches!(&e.kind, Kind::Step { id: s } if s == id)).map(|e| e.at)
    }
}
