//! The built-in scenarios: the same TOML format as user files, compiled into the binary.

use crate::format::{self, FormatError};
use sim::Spec;

/// `(file name, text)` of every built-in scenario.
pub const FILES: [(&str, &str); 17] = [
    ("builtin/master-crash.toml", include_str!("../builtin/master-crash.toml")),
    ("builtin/zk-leader-crash.toml", include_str!("../builtin/zk-leader-crash.toml")),
    ("builtin/master-zk-partition.toml", include_str!("../builtin/master-zk-partition.toml")),
    ("builtin/local-disk-loss.toml", include_str!("../builtin/local-disk-loss.toml")),
    ("builtin/quorum-loss.toml", include_str!("../builtin/quorum-loss.toml")),
    ("builtin/slave-catch-up.toml", include_str!("../builtin/slave-catch-up.toml")),
    ("builtin/master-crash-stomp.toml", include_str!("../builtin/master-crash-stomp.toml")),
    ("builtin/topic-master-crash.toml", include_str!("../builtin/topic-master-crash.toml")),
    ("builtin/master-host-crash.toml", include_str!("../builtin/master-host-crash.toml")),
    ("builtin/client-partition.toml", include_str!("../builtin/client-partition.toml")),
    ("builtin/master-zk-isolation.toml", include_str!("../builtin/master-zk-isolation.toml")),
    ("builtin/rolling-slave-restart.toml", include_str!("../builtin/rolling-slave-restart.toml")),
    ("builtin/partition-between-groups.toml", include_str!("../builtin/partition-between-groups.toml")),
    ("builtin/remote-group-failover.toml", include_str!("../builtin/remote-group-failover.toml")),
    ("builtin/stuck-messages.toml", include_str!("../builtin/stuck-messages.toml")),
    ("builtin/bridge-reconnect-backoff.toml", include_str!("../builtin/bridge-reconnect-backoff.toml")),
    ("builtin/seed-stomp-check.toml", include_str!("../builtin/seed-stomp-check.toml")),
];

/// Every built-in scenario, parsed.
pub fn all() -> Vec<Spec> {
    FILES.iter().map(|(file, text)| format::parse(file, text).expect("built-in scenarios parse")).collect()
}

/// A built-in scenario by name.
pub fn named(name: &str) -> Result<Spec, FormatError> {
    all().into_iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<String> = all().into_iter().map(|s| s.name).collect();
        FormatError {
            file: "<built-in>".into(),
            field: "scenario".into(),
            message: format!("expected one of {} (or --scenario-file F), got `{name}`", names.join(", ")),
        }
    })
}
