//! Which built-in scenario, with which `--set`, catches each planted bug: the canaries that show
//! every checker catching the bug it exists for (docs/invariants.md lists the same table, and
//! the test suite runs every row, clean and planted).

use broker_model::broker::PlantedBug;
use std::ops::Range;

pub struct Canary {
    pub bug: PlantedBug,
    pub scenario: &'static str,
    /// Overrides besides `planted_bug` (the clean run uses them too).
    pub sets: &'static [&'static str],
    pub seeds: Range<u64>,
    /// The violation kind (`Violation::kind`) that must be reported.
    pub violation: &'static str,
    /// In at least this many of the seeds.
    pub caught_min: usize,
}

impl Canary {
    /// `amqsim run <scenario> --seeds A..B [--set ...] --set planted_bug=<bug>`.
    pub fn command(&self) -> String {
        let mut words =
            vec![format!("amqsim run {} --seeds {}..{}", self.scenario, self.seeds.start, self.seeds.end)];
        words.extend(self.sets.iter().map(|s| format!("--set {s}")));
        words.push(format!("--set planted_bug={}", self.bug.name()));
        words.join(" ")
    }
}

pub const CANARIES: [Canary; 10] = [
    Canary {
        bug: PlantedBug::MasterIgnoresDisconnect,
        scenario: "master-zk-isolation",
        sets: &[],
        seeds: 0..8,
        violation: "SplitBrain",
        caught_min: 6,
    },
    Canary {
        bug: PlantedBug::HeadNeverElects,
        scenario: "master-crash",
        sets: &[],
        seeds: 0..2,
        violation: "NoSingleMaster",
        caught_min: 2,
    },
    Canary {
        bug: PlantedBug::AckBeforeQuorum,
        scenario: "local-disk-loss",
        sets: &["sync=quorum_mem"],
        seeds: 0..4,
        violation: "AcknowledgedLoss",
        caught_min: 4,
    },
    Canary {
        bug: PlantedBug::SlaveAcksUnwritten,
        scenario: "rolling-slave-restart",
        sets: &[],
        seeds: 0..16,
        violation: "AcknowledgedLoss",
        caught_min: 3,
    },
    Canary {
        bug: PlantedBug::NoProducerAudit,
        scenario: "master-crash",
        sets: &["fsync_us=[20000, 40000]"],
        seeds: 0..6,
        violation: "DuplicateStored",
        caught_min: 4,
    },
    Canary {
        bug: PlantedBug::ZeroDelayTimer,
        scenario: "master-crash",
        sets: &[],
        seeds: 0..2,
        violation: "Livelock",
        caught_min: 2,
    },
    Canary {
        bug: PlantedBug::BridgeAcksBeforeStored,
        scenario: "partition-between-groups",
        sets: &[],
        seeds: 0..10,
        violation: "AcknowledgedLoss",
        caught_min: 7,
    },
    Canary {
        bug: PlantedBug::BridgeDropsInflight,
        scenario: "partition-between-groups",
        sets: &[],
        seeds: 0..10,
        violation: "AcknowledgedLoss",
        caught_min: 4,
    },
    Canary {
        bug: PlantedBug::IgnoreNetworkTtl,
        scenario: "stuck-messages",
        sets: &[],
        seeds: 0..4,
        violation: "NetworkTtl",
        caught_min: 4,
    },
    Canary {
        bug: PlantedBug::BridgeNeverRetries,
        scenario: "partition-between-groups",
        sets: &[],
        seeds: 0..10,
        violation: "BridgeNotUp",
        caught_min: 4,
    },
];
