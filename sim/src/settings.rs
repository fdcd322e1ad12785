//! The settings an operator tunes, as one descriptor table: name, form, allowed range, unit and
//! meaning. The scenario file's `[settings]`, `--set`, the JSON summary and docs/scenarios.md
//! all go through it, so a setting is named, bounded and documented in exactly one place.

use crate::spec::Settings;
use broker_model::broker::{PlantedBug, SyncMode};

/// A value as a scenario file or `--set` gives it, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Pair(i64, i64),
    Word(String),
    Bool(bool),
    /// Anything else, named by its type (`a float`, `a table`, ...), so the error can say so.
    Other(&'static str),
}

/// What a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// An integer in `min..=max`.
    Int { min: u64, max: u64 },
    /// `[low, high]` with `min <= low <= high <= max`: a uniform range.
    Range { min: u64, max: u64 },
    /// One of the words.
    Word(&'static [&'static str]),
}

/// A setting's current value, for summaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Int(u64),
    Pair(u64, u64),
    Word(String),
    Unset,
}

/// A checked value, handed to the setter.
enum Checked {
    Int(u64),
    Pair(u64, u64),
    Word(String),
}

pub struct Descriptor {
    pub name: &'static str,
    pub form: Form,
    /// Unit and meaning, with the source of the default.
    pub doc: &'static str,
    set: fn(&mut Settings, Checked),
    get: fn(&Settings) -> Shown,
}

const SYNC_WORDS: &[&str] =
    &["local_mem", "local_disk", "remote_mem", "remote_disk", "quorum_mem", "quorum_disk"];
const BUG_WORDS: &[&str] = &[
    "none",
    "master_ignores_disconnect",
    "head_never_elects",
    "ack_before_quorum",
    "slave_acks_unwritten",
    "no_producer_audit",
    "zero_delay_timer",
    "bridge_acks_before_stored",
    "bridge_drops_inflight",
    "ignore_network_ttl",
    "bridge_never_retries",
];

/// Ten minutes: an upper bound for every modelled delay of a JVM or a store.
const DELAY_MS_MAX: u64 = 600_000;

macro_rules! int {
    ($name:literal, $field:ident, $min:expr, $max:expr, $doc:literal) => {
        Descriptor {
            name: $name,
            form: Form::Int { min: $min, max: $max },
            doc: $doc,
            set: |s, v| {
                if let Checked::Int(v) = v {
                    s.$field = v.try_into().expect("range-checked");
                }
            },
            get: |s| Shown::Int(s.$field as u64),
        }
    };
}

macro_rules! range {
    ($name:literal, $field:ident, $max:expr, $doc:literal) => {
        Descriptor {
            name: $name,
            form: Form::Range { min: 0, max: $max },
            doc: $doc,
            set: |s, v| {
                if let Checked::Pair(low, high) = v {
                    s.$field = (low, high);
                }
            },
            get: |s| Shown::Pair(s.$field.0, s.$field.1),
        }
    };
}

/// Every setting, in the order the docs list them.
pub const DESCRIPTORS: &[Descriptor] = &[
    int!("tick_time_ms", tick_time_ms, 10, 60_000, "ZooKeeper tickTime, ms (seed: 2000)"),
    int!("init_limit", init_limit, 1, 1000, "ZooKeeper initLimit, ticks (seed: 10)"),
    int!("sync_limit", sync_limit, 1, 1000, "ZooKeeper syncLimit, ticks (seed: 5)"),
    int!(
        "zk_session_timeout_ms",
        zk_session_timeout_ms,
        1,
        3_600_000,
        "ActiveMQ zkSessionTimeout, ms; the server clamps it to [2, 20] ticks (seed: 3000)"
    ),
    int!("replicas", replicas, 1, 3, "replicated LevelDB `replicas`; quorum is replicas/2+1 (seed: 3)"),
    Descriptor {
        name: "sync",
        form: Form::Word(SYNC_WORDS),
        doc: "replicated LevelDB `sync` (ActiveMQ default quorum_mem; the seed sets local_disk)",
        set: |s, v| {
            if let Checked::Word(w) = v {
                s.sync = SyncMode::parse(&w).expect("a checked word");
            }
        },
        get: |s| Shown::Word(s.sync.name().to_string()),
    },
    int!(
        "broker_startup_ms",
        broker_startup_ms,
        0,
        DELAY_MS_MAX,
        "JVM and broker start before the store starts, ms (assumption: 2000)"
    ),
    int!(
        "broker_restart_delay_ms",
        broker_restart_delay_ms,
        0,
        DELAY_MS_MAX,
        "in-JVM broker restart after a demotion, ms (assumption: 1000)"
    ),
    int!(
        "broker_stop_ms",
        broker_stop_ms,
        0,
        DELAY_MS_MAX,
        "a demoted master's BrokerService.stop before its ZooKeeper client closes, ms (docs/fidelity.md)"
    ),
    int!(
        "master_recovery_ms",
        master_recovery_ms,
        0,
        DELAY_MS_MAX,
        "LevelDB recovery of a new master, ms (assumption: 100)"
    ),
    range!(
        "lan_latency_us",
        lan_latency_us,
        10_000_000,
        "one-way latency between hosts, [min, max] µs (100-400)"
    ),
    range!(
        "loopback_latency_us",
        loopback_latency_us,
        10_000_000,
        "one-way latency within a host, [min, max] µs (10-30)"
    ),
    int!("lan_mbit_per_s", lan_mbit_per_s, 1, 1_000_000, "link bandwidth between hosts, Mbit/s (1000)"),
    int!(
        "loopback_mbit_per_s",
        loopback_mbit_per_s,
        1,
        1_000_000,
        "link bandwidth within a host, Mbit/s (10000)"
    ),
    range!("fsync_us", fsync_us, 60_000_000, "one fsync, [min, max] µs (300-1500)"),
    int!(
        "disk_mb_per_s",
        disk_mb_per_s,
        1,
        100_000,
        "sequential disk write speed of a slave's download, MB/s (200)"
    ),
    int!(
        "log_size",
        log_size,
        65_536,
        1 << 40,
        "replicated LevelDB logSize, bytes (ActiveMQ default 104857600)"
    ),
    Descriptor {
        name: "network_ttl",
        form: Form::Int { min: 0, max: 16 },
        doc: "every network connector's networkTTL (and so messageTTL and consumerTTL), brokers; 0 keeps each connector's own (ActiveMQ default 1)",
        set: |s, v| {
            if let Checked::Int(t) = v {
                s.network_ttl = (t > 0).then_some(t as u32);
            }
        },
        get: |s| Shown::Int(s.network_ttl.unwrap_or(0) as u64),
    },
    Descriptor {
        name: "decrease_network_consumer_priority",
        form: Form::Word(&["as_configured", "true", "false"]),
        doc: "every network connector's decreaseNetworkConsumerPriority: network consumers at priority -5, below local ones (ActiveMQ default false)",
        set: |s, v| {
            if let Checked::Word(w) = v {
                s.decrease_network_consumer_priority = w.parse().ok();
            }
        },
        get: |s| {
            let word = s.decrease_network_consumer_priority.map(|d| d.to_string());
            Shown::Word(word.unwrap_or_else(|| "as_configured".into()))
        },
    },
    Descriptor {
        name: "planted_bug",
        form: Form::Word(BUG_WORDS),
        doc: "a known bug planted to show a checker catches it (docs/invariants.md); none by default",
        set: |s, v| {
            if let Checked::Word(w) = v {
                s.planted_bug = PlantedBug::parse(&w);
            }
        },
        get: |s| s.planted_bug.map(|b| Shown::Word(b.name().to_string())).unwrap_or(Shown::Unset),
    },
];

/// The descriptor of a setting, if it exists.
pub fn descriptor(name: &str) -> Option<&'static Descriptor> {
    DESCRIPTORS.iter().find(|d| d.name == name)
}

/// Every setting's name, comma-separated, for error messages.
pub fn names() -> String {
    DESCRIPTORS.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
}

impl Form {
    /// The expected form, in words.
    pub fn expected(&self) -> String {
        match self {
            Form::Int { min, max } => format!("an integer in {min}..={max}"),
            Form::Range { min, max } => format!("[min, max] with {min} <= min <= max <= {max}"),
            Form::Word(words) => format!("one of {}", words.join(", ")),
        }
    }
}

/// Sets `name` to `value` after checking it against the descriptor. The error is the expected
/// form, with what was given.
pub fn set(settings: &mut Settings, name: &str, value: Value) -> Result<(), String> {
    let descriptor =
        descriptor(name).ok_or_else(|| format!("unknown setting; expected one of {}", names()))?;
    let bad = |got: String| format!("expected {}, got {got}", descriptor.form.expected());
    let checked = match (descriptor.form, value) {
        (Form::Int { min, max }, Value::Int(v)) => {
            let v = u64::try_from(v)
                .ok()
                .filter(|v| (min..=max).contains(v))
                .ok_or_else(|| bad(v.to_string()))?;
            Checked::Int(v)
        }
        (Form::Range { min, max }, Value::Pair(low, high)) => {
            let within = |v: i64| u64::try_from(v).ok().filter(|v| (min..=max).contains(v));
            match (within(low), within(high)) {
                (Some(l), Some(h)) if l <= h => Checked::Pair(l, h),
                _ => return Err(bad(format!("[{low}, {high}]"))),
            }
        }
        (Form::Word(words), Value::Bool(b)) if words.contains(&if b { "true" } else { "false" }) => {
            Checked::Word(b.to_string())
        }
        (Form::Word(words), Value::Word(w)) => {
            if !words.contains(&w.as_str()) {
                return Err(bad(format!("`{w}`")));
            }
            Checked::Word(w)
        }
        (_, Value::Int(v)) => return Err(bad(v.to_string())),
        (_, Value::Pair(l, h)) => return Err(bad(format!("[{l}, {h}]"))),
        (_, Value::Word(w)) => return Err(bad(format!("`{w}`"))),
        (_, Value::Bool(b)) => return Err(bad(b.to_string())),
        (_, Value::Other(what)) => return Err(bad(what.to_string())),
    };
    (descriptor.set)(settings, checked);
    Ok(())
}

/// Every setting's value, in table order.
pub fn shown(settings: &Settings) -> Vec<(&'static str, Shown)> {
    DESCRIPTORS.iter().map(|d| (d.name, (d.get)(settings))).collect()
}

/// Checks every setting of `settings` against its descriptor (for specs built in code).
pub fn check(settings: &Settings) -> Result<(), (String, String)> {
    for (name, value) in shown(settings) {
        let form = descriptor(name).expect("a descriptor").form;
        let ok = match (form, &value) {
            (Form::Int { min, max }, Shown::Int(v)) => (min..=max).contains(v),
            (Form::Range { min, max }, Shown::Pair(l, h)) => min <= *l && l <= h && *h <= max,
            (Form::Word(words), Shown::Word(w)) => words.contains(&w.as_str()),
            (Form::Word(_), Shown::Unset) => true,
            _ => false,
        };
        if !ok {
            return Err((format!("settings.{name}"), format!("expected {}, got {value:?}", form.expected())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_descriptor_round_trips_the_seed() {
        let seed = Settings::seed();
        check(&seed).expect("the seed's settings are valid");
        let mut copy = Settings::seed();
        for (name, value) in shown(&seed) {
            let value = match value {
                Shown::Int(v) => Value::Int(v as i64),
                Shown::Pair(l, h) => Value::Pair(l as i64, h as i64),
                Shown::Word(w) => Value::Word(w),
                Shown::Unset => Value::Word("none".into()),
            };
            set(&mut copy, name, value).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(copy, seed);
    }

    #[test]
    fn out_of_range_and_wrong_forms_are_refused() {
        let mut s = Settings::seed();
        assert!(set(&mut s, "master_recovery_ms", Value::Int(i64::MAX)).unwrap_err().contains("0..=600000"));
        assert!(set(&mut s, "tick_time_ms", Value::Int(-1)).is_err());
        assert!(set(&mut s, "fsync_us", Value::Pair(9, 1)).unwrap_err().contains("min <= max"));
        assert!(set(&mut s, "sync", Value::Word("fast".into())).unwrap_err().contains("quorum_mem"));
        assert!(set(&mut s, "sync", Value::Int(3)).is_err());
        assert!(set(&mut s, "colour", Value::Int(3)).unwrap_err().contains("unknown setting"));
        assert_eq!(s, Settings::seed(), "a refused value changes nothing");
        set(&mut s, "planted_bug", Value::Word("ack_before_quorum".into())).expect("valid");
        assert_eq!(s.planted_bug, Some(PlantedBug::AckBeforeQuorum));
        set(&mut s, "planted_bug", Value::Word("none".into())).expect("valid");
        assert_eq!(s.planted_bug, None);
    }
}
