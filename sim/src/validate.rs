//! Every check a scenario must pass before it reaches the world, in one place: parsed files,
//! `--set` overrides, specs built in code, generated or shrunk scenarios all go through
//! [`validate`]. A refusal names the field (in the scenario file's terms: `step[2].at_s`,
//! `client[0].producer[1].rate`, `settings.fsync_us`) and the expected form.
//!
//! Limits are generous for real deployments and tight enough that nothing downstream can
//! overflow: every time the world computes is below `DURATION_MS_MAX` plus a bounded delay.

use crate::settings;
use crate::spec::{Action, At, ClientSpec, Hosts, Spec, Step, Target};
use broker_model::messaging::{Dest, DLQ};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One simulated day: the longest run.
pub const DURATION_MS_MAX: u64 = 86_400_000;
pub const STEPS_MAX: usize = 100_000;
pub const CLIENTS_MAX: usize = 64;
pub const PER_CLIENT_MAX: usize = 64;
/// A producer's rate, messages per second (the client computes its interval in µs).
pub const RATE_MAX: f64 = 10_000.0;
pub const RATE_MIN: f64 = 0.001;
/// OpenWire `maxFrameSize` (ActiveMQ 5.15 default 104857600 bytes): a larger message is refused
/// by the broker's transport.
pub const MESSAGE_SIZE_MAX: u32 = 104_857_600;
/// Messages the producers of one run may send in all (the checker's memory grows with it).
pub const MESSAGES_MAX: f64 = 10_000_000.0;
/// `ActiveMQPrefetchPolicy.MAX_PREFETCH_SIZE` (Short.MAX_VALUE).
pub const PREFETCH_MAX: u32 = 32_767;
pub const PROCESS_MS_MAX: u64 = 3_600_000;

/// A refused scenario: the field, and what it should have been.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: String,
    pub expected: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.expected)
    }
}

impl std::error::Error for SpecError {}

fn refuse<T>(field: impl Into<String>, expected: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError { field: field.into(), expected: expected.into() })
}

/// `prefix` followed by a number written without sign or leading zeros: `mq1`, not `mq01`
/// or `mq+1`.
pub fn indexed(text: &str, prefix: &str) -> Option<u32> {
    let digits = text.strip_prefix(prefix)?;
    let exact = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if exact {
        digits.parse().ok()
    } else {
        None
    }
}

/// A name that is safe in a shell command, a file name and a trace: `[A-Za-z0-9._-]`, starting
/// with a letter or digit, at most `max` characters.
pub fn is_plain_name(text: &str, max: usize) -> bool {
    let first_ok = text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && text.len() <= max
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The names the topology defines.
struct Names {
    processes: BTreeSet<String>,
    hosts: BTreeSet<String>,
}

impl Names {
    fn of(spec: &Spec) -> Names {
        let groups = spec.topology.groups;
        let mut processes = BTreeSet::new();
        let mut hosts: BTreeSet<String> = (1..=3).map(|i| format!("zkhost{i}")).collect();
        for i in 1..=3 * groups {
            processes.insert(format!("zk{i}"));
            processes.insert(format!("mq{i}"));
            if spec.topology.host_per_broker {
                hosts.insert(format!("mq{i}-host"));
            }
        }
        if !spec.topology.host_per_broker {
            hosts.extend((1..=groups).map(|g| format!("mqhost{g}")));
        }
        if !spec.workload.is_empty() {
            hosts.insert("apphost".into());
        }
        Names { processes, hosts }
    }
}

/// Network connectors: existing, distinct groups; names unique per group; every attribute in a
/// range ActiveMQ accepts and the model can run without overflow.
fn check_connectors(spec: &Spec) -> Result<(), SpecError> {
    let groups = spec.topology.groups;
    let mut names = std::collections::BTreeSet::new();
    for (i, c) in spec.topology.connectors.iter().enumerate() {
        let field = |f: &str| format!("topology.connector[{i}].{f}");
        if !(1..=groups).contains(&c.group) {
            return refuse(field("group"), format!("expected a group in 1..={groups}, got {}", c.group));
        }
        if !(1..=groups).contains(&c.to_group) || c.to_group == c.group {
            return refuse(
                field("to_group"),
                format!("expected another group in 1..={groups} than group {}, got {}", c.group, c.to_group),
            );
        }
        let config = &c.config;
        if !is_plain_name(&config.name, 64) || !names.insert((c.group, config.name.clone())) {
            return refuse(
                field("name"),
                format!(
                    "expected 1-64 characters of A-Z a-z 0-9 . _ -, unique in its group, got {:?}",
                    config.name
                ),
            );
        }
        for (name, value) in [
            ("network_ttl", config.network_ttl),
            ("message_ttl", config.message_ttl),
            ("consumer_ttl", config.consumer_ttl),
        ] {
            if !(1..=16).contains(&value) {
                return refuse(field(name), format!("expected 1..=16 brokers, got {value}"));
            }
        }
        if !(1..=32_767).contains(&config.prefetch_size) {
            return refuse(
                field("prefetch_size"),
                format!("expected 1..=32767 messages, got {}", config.prefetch_size),
            );
        }
        let b = &config.backoff;
        let hour = 3_600_000;
        if !(1..=hour).contains(&b.initial_reconnect_delay_ms) {
            return refuse(
                field("initial_reconnect_delay_ms"),
                format!("expected 1..={hour} ms, got {}", b.initial_reconnect_delay_ms),
            );
        }
        if !(b.initial_reconnect_delay_ms..=hour).contains(&b.max_reconnect_delay_ms) {
            return refuse(
                field("max_reconnect_delay_ms"),
                format!(
                    "expected initial_reconnect_delay_ms ({})..={hour} ms, got {}",
                    b.initial_reconnect_delay_ms, b.max_reconnect_delay_ms
                ),
            );
        }
        if !(1..=100).contains(&b.back_off_multiplier) {
            return refuse(
                field("back_off_multiplier"),
                format!("expected 1..=100, got {}", b.back_off_multiplier),
            );
        }
        if b.max_reconnect_attempts > 1_000_000 {
            return refuse(
                field("max_reconnect_attempts"),
                format!("expected 0 (unlimited)..=1000000, got {}", b.max_reconnect_attempts),
            );
        }
        if b.min_connect_time_ms > hour {
            return refuse(
                field("min_connect_time_ms"),
                format!("expected 0..={hour} ms, got {}", b.min_connect_time_ms),
            );
        }
    }
    Ok(())
}

/// Checks `spec` completely; the first refusal is returned.
pub fn validate(spec: &Spec) -> Result<(), SpecError> {
    if !is_plain_name(&spec.name, 64) {
        return refuse(
            "name",
            format!(
                "expected 1-64 characters of A-Z a-z 0-9 . _ - (starting with a letter or digit), got {:?}",
                spec.name
            ),
        );
    }
    if spec.description.chars().any(char::is_control) || spec.description.len() > 500 {
        return refuse("description", "expected one line of at most 500 characters");
    }
    if !(1..=2).contains(&spec.topology.groups) {
        return refuse("topology.groups", format!("expected 1 or 2, got {}", spec.topology.groups));
    }
    check_connectors(spec)?;
    if let Some(deadline) = spec.delivery_deadline_ms {
        if !(1..=DURATION_MS_MAX).contains(&deadline) {
            return refuse(
                "delivery_deadline_ms",
                format!("expected 1..={DURATION_MS_MAX} ms, got {deadline}"),
            );
        }
    }
    if !(1000..=DURATION_MS_MAX).contains(&spec.duration_ms) || !spec.duration_ms.is_multiple_of(1000) {
        return refuse(
            "duration_s",
            format!("expected whole seconds in 1..={}, got {} ms", DURATION_MS_MAX / 1000, spec.duration_ms),
        );
    }
    settings::check(&spec.settings).map_err(|(field, expected)| SpecError { field, expected })?;
    let names = Names::of(spec);
    let latest = check_steps(spec, &names)?;
    let last_ms = latest.values().copied().max().unwrap_or(0);
    if spec.liveness_deadline_ms > spec.duration_ms || last_ms + spec.liveness_deadline_ms > spec.duration_ms
    {
        return refuse(
            "liveness_deadline_s",
            format!(
                "expected a deadline that fits after the last step: the last step may fire at {:.3} s, \
                 so at most {:.3} s of the {} s run remain, got {:.3} s",
                last_ms as f64 / 1000.0,
                spec.duration_ms.saturating_sub(last_ms) as f64 / 1000.0,
                spec.duration_ms / 1000,
                spec.liveness_deadline_ms as f64 / 1000.0
            ),
        );
    }
    if let Some(id) = &spec.measure_from {
        if !latest.contains_key(id.as_str()) {
            return refuse("measure_from", format!("expected the id of a step, got `{id}`"));
        }
    }
    let mut seen = BTreeSet::new();
    for (i, what) in spec.sometimes.iter().enumerate() {
        if !seen.insert(what.name()) {
            return refuse(
                format!("sometimes[{i}]"),
                format!("expected each fact once, `{}` is listed twice", what.name()),
            );
        }
    }
    check_workload(spec, &names)
}

/// Checks every step; returns each step's latest firing time in ms.
fn check_steps<'s>(spec: &'s Spec, names: &Names) -> Result<BTreeMap<&'s str, u64>, SpecError> {
    if spec.steps.len() > STEPS_MAX {
        return refuse("step", format!("expected at most {STEPS_MAX} steps, got {}", spec.steps.len()));
    }
    let mut latest: BTreeMap<&str, u64> = BTreeMap::new();
    let mut partitions: BTreeSet<&str> = BTreeSet::new();
    // Steps that act on a process, which `step:<id>` may name.
    let mut process_steps: BTreeSet<&str> = BTreeSet::new();
    for (i, step) in spec.steps.iter().enumerate() {
        let field = |name: &str| format!("step[{i}].{name}");
        if !is_plain_name(&step.id, 64) {
            return refuse(
                field("id"),
                format!("expected 1-64 characters of A-Z a-z 0-9 . _ -, got {:?}", step.id),
            );
        }
        if latest.contains_key(step.id.as_str()) {
            return refuse(field("id"), format!("expected a unique step id, `{}` is used twice", step.id));
        }
        let fires_at =
            check_at(spec, &step.at, &latest).map_err(|(f, e)| SpecError { field: field(f), expected: e })?;
        check_action(spec, step, fires_at, names, &process_steps, &partitions)
            .map_err(|(f, e)| SpecError { field: field(&f), expected: e })?;
        if matches!(step.action, Action::Partition { .. }) {
            partitions.insert(&step.id);
        }
        let bears_process = match &step.action {
            Action::Crash(_) | Action::Restart(_) | Action::Pause { .. } => true,
            Action::HostCrash(hosts) | Action::HostRestart(hosts) => matches!(hosts, Hosts::HostOf(_)),
            Action::Partition { from, .. } => from.iter().any(|h| matches!(h, Hosts::HostOf(_))),
            Action::Heal { .. } => false,
        };
        if bears_process {
            process_steps.insert(&step.id);
        }
        latest.insert(&step.id, fires_at);
    }
    Ok(latest)
}

fn check_at(spec: &Spec, at: &At, latest: &BTreeMap<&str, u64>) -> Result<u64, (&'static str, String)> {
    let base = match &at.after {
        Some(after) => *latest
            .get(after.as_str())
            .ok_or(("after", format!("expected the id of an earlier step, got `{after}`")))?,
        None => 0,
    };
    if at.min_ms > at.max_ms {
        return Err(("at_s", "expected [min, max] with min <= max".into()));
    }
    let fires_at = base.checked_add(at.max_ms).filter(|t| *t < spec.duration_ms);
    fires_at.ok_or((
        "at_s",
        format!(
            "expected a step that fires inside the {} s run, but it may fire at {:.3} s",
            spec.duration_ms / 1000,
            (base as f64 + at.max_ms as f64) / 1000.0
        ),
    ))
}

fn check_action(
    spec: &Spec,
    step: &Step,
    fires_at: u64,
    names: &Names,
    earlier: &BTreeSet<&str>,
    partitions: &BTreeSet<&str>,
) -> Result<(), (String, String)> {
    let target = |t: &Target| check_target(spec, t, names, earlier).map_err(|e| ("target".to_string(), e));
    match &step.action {
        Action::Crash(t) | Action::Restart(t) => target(t),
        Action::Pause { target: t, duration_ms } => {
            target(t)?;
            // The pause must end inside the run, or the run ends while the process is frozen.
            let left = spec.duration_ms - fires_at;
            if !(1..=left).contains(duration_ms) {
                return Err((
                    "duration_ms".into(),
                    format!(
                        "expected a pause of 1..={left} ms (it must end inside the run), got {duration_ms}"
                    ),
                ));
            }
            Ok(())
        }
        Action::HostCrash(hosts) | Action::HostRestart(hosts) => {
            check_hosts(spec, hosts, names, earlier).map_err(|e| ("hosts".to_string(), e))
        }
        Action::Partition { from, to, .. } => {
            for (side, list) in [("from", from), ("to", to)] {
                if list.is_empty() {
                    return Err((side.into(), "expected a non-empty list of host sets".into()));
                }
                for (j, hosts) in list.iter().enumerate() {
                    check_hosts(spec, hosts, names, earlier).map_err(|e| (format!("{side}[{j}]"), e))?;
                }
            }
            Ok(())
        }
        Action::Heal { step: Some(id) } if !partitions.contains(id.as_str()) => {
            Err(("partition".into(), format!("expected the id of an earlier partition step, got `{id}`")))
        }
        Action::Heal { .. } => Ok(()),
    }
}

fn check_target(spec: &Spec, target: &Target, names: &Names, earlier: &BTreeSet<&str>) -> Result<(), String> {
    let groups = spec.topology.groups;
    let (what, index) = match target {
        Target::Process(name) => {
            let client = spec.workload.iter().any(|c| &c.name == name);
            return if names.processes.contains(name) || client {
                Ok(())
            } else {
                let clients = spec.workload.iter().map(|c| c.name.as_str());
                let list: Vec<&str> = names.processes.iter().map(String::as_str).chain(clients).collect();
                Err(format!("expected a process of this topology ({}), got `{name}`", list.join(", ")))
            };
        }
        Target::Step(id) => {
            return if earlier.contains(id.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "expected step:<id of an earlier step that acts on a process (crash, restart, pause, or hosts given as host-of:...)>, got `step:{id}`"
                ))
            };
        }
        Target::Master(g) | Target::RandomSlave(g) | Target::Oldest(g) | Target::Youngest(g) => ("group", *g),
        Target::ZkLeader(e) | Target::ZkFollower(e) => ("ensemble", *e),
    };
    if (1..=groups).contains(&index) {
        Ok(())
    } else {
        Err(format!("expected {what}1..{what}{groups} (this topology has {groups}), got {what}{index}"))
    }
}

fn check_hosts(spec: &Spec, hosts: &Hosts, names: &Names, earlier: &BTreeSet<&str>) -> Result<(), String> {
    match hosts {
        Hosts::Named(name) if names.hosts.contains(name) => Ok(()),
        Hosts::Named(name) => {
            let list: Vec<&str> = names.hosts.iter().map(String::as_str).collect();
            Err(format!("expected a host of this topology ({}), got `{name}`", list.join(", ")))
        }
        Hosts::HostOf(target) => check_target(spec, target, names, earlier),
        Hosts::ZkHosts | Hosts::BrokerHosts => Ok(()),
    }
}

fn check_workload(spec: &Spec, names: &Names) -> Result<(), SpecError> {
    if spec.workload.len() > CLIENTS_MAX {
        return refuse(
            "client",
            format!("expected at most {CLIENTS_MAX} clients, got {}", spec.workload.len()),
        );
    }
    let mut clients = BTreeSet::new();
    let mut messages = 0.0;
    for (i, client) in spec.workload.iter().enumerate() {
        let field = |name: &str| format!("client[{i}].{name}");
        let reserved = names.processes.contains(&client.name)
            || names.hosts.contains(&client.name)
            || indexed(&client.name, "mq").is_some()
            || indexed(&client.name, "zk").is_some();
        if !is_plain_name(&client.name, 32) || reserved || !clients.insert(client.name.as_str()) {
            return refuse(
                field("name"),
                format!("expected a name of 1-32 characters of A-Z a-z 0-9 . _ -, unique among clients, processes and hosts, got {:?}", client.name),
            );
        }
        if !(1..=spec.topology.groups).contains(&client.group) {
            return refuse(
                field("group"),
                format!("expected a group in 1..={}, got {}", spec.topology.groups, client.group),
            );
        }
        if client.start_ms > client.stop_ms || client.stop_ms > spec.duration_ms {
            return refuse(
                field("stop_s"),
                format!(
                    "expected start_s <= stop_s <= duration_s ({} s), got {:.3} and {:.3}",
                    spec.duration_ms / 1000,
                    client.start_ms as f64 / 1000.0,
                    client.stop_ms as f64 / 1000.0
                ),
            );
        }
        messages += check_client(client).map_err(|(f, e)| SpecError { field: field(&f), expected: e })?;
    }
    if messages > MESSAGES_MAX {
        return refuse("client", format!("expected producers that send at most {MESSAGES_MAX:e} messages in a run, these may send {messages:.3e}"));
    }
    Ok(())
}

/// Checks one client's producers and consumers; returns how many messages it may send.
fn check_client(client: &ClientSpec) -> Result<f64, (String, String)> {
    if client.producers.len() > PER_CLIENT_MAX || client.consumers.len() > PER_CLIENT_MAX {
        return Err((
            "producer".into(),
            format!("expected at most {PER_CLIENT_MAX} producers and {PER_CLIENT_MAX} consumers per client"),
        ));
    }
    let mut messages = 0.0;
    let active_s = (client.stop_ms - client.start_ms) as f64 / 1000.0;
    for (j, producer) in client.producers.iter().enumerate() {
        let field = |name: &str| format!("producer[{j}].{name}");
        check_dest(&producer.dest).map_err(|e| (field("queue"), e))?;
        let rate = producer.rate_per_s;
        if !(rate.is_finite() && (RATE_MIN..=RATE_MAX).contains(&rate)) {
            return Err((
                field("rate"),
                format!("expected messages per second in {RATE_MIN}..={RATE_MAX}, got {rate}"),
            ));
        }
        if producer.size > MESSAGE_SIZE_MAX {
            return Err((
                field("size"),
                format!(
                    "expected body bytes in 0..={MESSAGE_SIZE_MAX} (OpenWire maxFrameSize), got {}",
                    producer.size
                ),
            ));
        }
        messages += rate * active_s;
    }
    for (j, consumer) in client.consumers.iter().enumerate() {
        let field = |name: &str| format!("consumer[{j}].{name}");
        check_dest(&consumer.dest).map_err(|e| (field("queue"), e))?;
        if let Some(sub) = &consumer.durable {
            if !matches!(consumer.dest, Dest::Topic(_)) || !is_plain_name(sub, 128) {
                return Err((
                    field("durable"),
                    format!("expected a subscription name of A-Z a-z 0-9 . _ - on a topic, got {sub:?}"),
                ));
            }
        }
        if !(1..=PREFETCH_MAX).contains(&consumer.prefetch) {
            return Err((
                field("prefetch"),
                format!(
                    "expected 1..={PREFETCH_MAX} (prefetch 0, a pull consumer, is not modelled), got {}",
                    consumer.prefetch
                ),
            ));
        }
        if consumer.priority > 127 {
            return Err((
                field("priority"),
                format!("expected a consumer priority in 0..=127, got {}", consumer.priority),
            ));
        }
        if consumer.process_ms > PROCESS_MS_MAX {
            return Err((
                field("process_ms"),
                format!("expected 0..={PROCESS_MS_MAX} ms of work per message, got {}", consumer.process_ms),
            ));
        }
    }
    Ok(messages)
}

fn check_dest(dest: &Dest) -> Result<(), String> {
    let (Dest::Queue(name) | Dest::Topic(name)) = dest;
    if !is_plain_name(name, 128) || &**name == DLQ {
        return Err(format!(
            "expected a destination name of 1-128 characters of A-Z a-z 0-9 . _ - (not {DLQ}), got {name:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_indexed_names() {
        assert_eq!(indexed("mq1", "mq"), Some(1));
        assert_eq!(indexed("mq12", "mq"), Some(12));
        for bad in ["mq01", "mq+1", "mq", "mq1a", "mq-1", "mq 1", "mq1-host"] {
            assert_eq!(indexed(bad, "mq"), None, "{bad}");
        }
        assert!(is_plain_name("master-crash", 64));
        for bad in ["", "-x", "a b", "a\nb", "a/b", "a'b"] {
            assert!(!is_plain_name(bad, 64), "{bad:?}");
        }
    }
}
