//! The scenario file format (TOML, documented in docs/scenarios.md) and its translation into a
//! `sim::Spec`. Every error is one line naming the file, the field and the expected form.

use broker_model::broker::{PlantedBug, SyncMode};
use broker_model::client::{ConsumerSpec, ProducerSpec, Protocol};
use broker_model::messaging::{AckMode, Dest};
use serde::Deserialize;
use sim::spec::{Action, At, ClientSpec, Hosts, Settings, Sometimes, Spec, Step, Target, TopologySpec};
use std::fmt;

/// A bad scenario file: `<file>: <field>: <what was expected>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub file: String,
    pub field: String,
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.field, self.message)
    }
}

impl std::error::Error for FormatError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScenario {
    name: String,
    #[serde(default)]
    description: String,
    duration_s: u64,
    liveness_deadline_s: u64,
    measure_from: Option<String>,
    #[serde(default)]
    sometimes: Vec<String>,
    #[serde(default)]
    topology: FileTopology,
    #[serde(default)]
    settings: FileSettings,
    #[serde(default)]
    step: Vec<FileStep>,
    #[serde(default)]
    client: Vec<FileClient>,
    expect_drain: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileClient {
    name: Option<String>,
    group: Option<u32>,
    protocol: Option<String>,
    start_s: Option<f64>,
    stop_s: Option<f64>,
    #[serde(default)]
    producer: Vec<FileProducer>,
    #[serde(default)]
    consumer: Vec<FileConsumer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProducer {
    queue: Option<String>,
    topic: Option<String>,
    rate: f64,
    size: Option<u32>,
    persistent: Option<bool>,
    sync: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConsumer {
    queue: Option<String>,
    topic: Option<String>,
    durable: Option<String>,
    process_ms: Option<u64>,
    ack: Option<String>,
    prefetch: Option<u32>,
    priority: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTopology {
    groups: Option<u32>,
    #[serde(default)]
    host_per_broker: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    tick_time_ms: Option<u64>,
    init_limit: Option<u64>,
    sync_limit: Option<u64>,
    zk_session_timeout_ms: Option<u64>,
    replicas: Option<u32>,
    sync: Option<String>,
    broker_startup_ms: Option<u64>,
    broker_restart_delay_ms: Option<u64>,
    master_recovery_ms: Option<u64>,
    lan_latency_us: Option<[u64; 2]>,
    loopback_latency_us: Option<[u64; 2]>,
    lan_mbit_per_s: Option<u64>,
    loopback_mbit_per_s: Option<u64>,
    fsync_us: Option<[u64; 2]>,
    disk_mb_per_s: Option<u64>,
    log_size: Option<u64>,
    /// A canary: plant a known bug to see a checker catch it.
    planted_bug: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Seconds {
    Exact(f64),
    Range([f64; 2]),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStep {
    id: String,
    after: Option<String>,
    at_s: Seconds,
    action: String,
    target: Option<String>,
    duration_ms: Option<u64>,
    from: Option<Vec<String>>,
    to: Option<Vec<String>>,
    #[serde(default)]
    one_way: bool,
    partition: Option<String>,
    hosts: Option<String>,
}

/// Parses scenario text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Spec, FormatError> {
    let raw: FileScenario = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let error = |field: String, message: String| FormatError { file: file.to_string(), field, message };
    let mut settings = Settings::seed();
    apply_settings(&mut settings, &raw.settings).map_err(|(f, m)| error(f, m))?;
    let groups = raw.topology.groups.unwrap_or(1);
    if !(1..=2).contains(&groups) {
        return Err(error("topology.groups".into(), format!("expected 1 or 2, got {groups}")));
    }
    let mut steps = Vec::new();
    for (i, step) in raw.step.iter().enumerate() {
        let parsed = parse_step(step, &steps, groups).map_err(|(f, m)| error(format!("step[{i}].{f}"), m))?;
        steps.push(parsed);
    }
    let mut sometimes = Vec::new();
    for (i, name) in raw.sometimes.iter().enumerate() {
        let Some(what) = Sometimes::ALL.into_iter().find(|s| s.name() == name) else {
            let names: Vec<&str> = Sometimes::ALL.iter().map(|s| s.name()).collect();
            return Err(error(
                format!("sometimes[{i}]"),
                format!("expected one of {}, got `{name}`", names.join(", ")),
            ));
        };
        sometimes.push(what);
    }
    if let Some(id) = &raw.measure_from {
        if !steps.iter().any(|s: &Step| &s.id == id) {
            return Err(error("measure_from".into(), format!("expected the id of a step, got `{id}`")));
        }
    }
    if raw.duration_s == 0 {
        return Err(error("duration_s".into(), "expected a positive number of seconds".into()));
    }
    let mut workload = Vec::new();
    for (i, client) in raw.client.iter().enumerate() {
        let parsed = parse_client(client, i, groups, raw.duration_s)
            .map_err(|(f, m)| error(format!("client[{i}].{f}"), m))?;
        workload.push(parsed);
        let name = &workload.last().expect("pushed").name;
        let clash = workload[..i].iter().any(|c: &ClientSpec| &c.name == name)
            || name.starts_with("mq") && name[2..].parse::<u32>().is_ok()
            || name.starts_with("zk") && name[2..].parse::<u32>().is_ok();
        if clash {
            return Err(error(
                format!("client[{i}].name"),
                format!("expected a name unique among clients and processes, got `{name}`"),
            ));
        }
    }
    Ok(Spec {
        name: raw.name,
        description: raw.description,
        topology: TopologySpec { groups, host_per_broker: raw.topology.host_per_broker },
        settings,
        duration_ms: raw.duration_s * 1000,
        liveness_deadline_ms: raw.liveness_deadline_s * 1000,
        steps,
        sometimes,
        measure_from: raw.measure_from,
        workload,
        expect_drain: raw.expect_drain.unwrap_or(true),
    })
}

fn destination(queue: &Option<String>, topic: &Option<String>) -> Result<Dest, (String, String)> {
    match (queue, topic) {
        (Some(q), None) if !q.is_empty() => Ok(Dest::Queue(q.clone())),
        (None, Some(t)) if !t.is_empty() => Ok(Dest::Topic(t.clone())),
        _ => Err(("queue".into(), "expected exactly one of queue = \"name\" or topic = \"name\"".into())),
    }
}

fn parse_client(
    raw: &FileClient,
    i: usize,
    groups: u32,
    duration_s: u64,
) -> Result<ClientSpec, (String, String)> {
    let group = raw.group.unwrap_or(1);
    if !(1..=groups).contains(&group) {
        return Err(("group".into(), format!("expected a group in 1..={groups}, got {group}")));
    }
    let protocol = match raw.protocol.as_deref().unwrap_or("openwire") {
        "openwire" => Protocol::Failover,
        "stomp" => Protocol::Stomp,
        other => return Err(("protocol".into(), format!("expected openwire or stomp, got `{other}`"))),
    };
    let start_ms = seconds_to_ms(raw.start_s.unwrap_or(5.0)).map_err(|m| ("start_s".to_string(), m))?;
    // Producers stop early by default so consumers can drain before the end.
    let drain = (duration_s as f64 / 4.0).min(20.0);
    let default_stop = (duration_s as f64 - drain).max(raw.start_s.unwrap_or(5.0));
    let stop_ms = seconds_to_ms(raw.stop_s.unwrap_or(default_stop)).map_err(|m| ("stop_s".to_string(), m))?;
    if stop_ms < start_ms || stop_ms > duration_s * 1000 {
        return Err(("stop_s".into(), format!("expected start_s <= stop_s <= duration_s ({duration_s})")));
    }
    let mut producers = Vec::new();
    for (j, p) in raw.producer.iter().enumerate() {
        let field = |f: &str| format!("producer[{j}].{f}");
        let dest = destination(&p.queue, &p.topic).map_err(|(f, m)| (field(&f), m))?;
        if !(p.rate.is_finite() && p.rate > 0.0) {
            return Err((field("rate"), format!("expected messages per second > 0, got {}", p.rate)));
        }
        let persistent = p.persistent.unwrap_or(true);
        producers.push(ProducerSpec {
            dest,
            rate_per_s: p.rate,
            size: p.size.unwrap_or(1024),
            persistent,
            // OpenWire: a persistent send outside a transaction is synchronous by default.
            sync: p.sync.unwrap_or(persistent),
        });
    }
    let mut consumers = Vec::new();
    for (j, c) in raw.consumer.iter().enumerate() {
        let field = |f: &str| format!("consumer[{j}].{f}");
        let dest = destination(&c.queue, &c.topic).map_err(|(f, m)| (field(&f), m))?;
        let ack = match (c.ack.as_deref().unwrap_or("auto"), protocol) {
            ("auto", Protocol::Failover) => AckMode::Auto,
            ("auto", Protocol::Stomp) => AckMode::OnDispatch,
            ("client", _) => AckMode::Client,
            (other, _) => return Err((field("ack"), format!("expected auto or client, got `{other}`"))),
        };
        if c.durable.is_some() && !matches!(dest, Dest::Topic(_)) {
            return Err((field("durable"), "expected a durable subscription only on a topic".into()));
        }
        if c.durable.as_deref() == Some("") {
            return Err((field("durable"), "expected a subscription name".into()));
        }
        consumers.push(ConsumerSpec {
            durable: c.durable.clone(),
            process_ms: c.process_ms.unwrap_or(0),
            dest,
            ack,
            prefetch: c.prefetch.unwrap_or(1000),
            priority: c.priority.unwrap_or(4),
        });
    }
    Ok(ClientSpec {
        name: raw.name.clone().unwrap_or(format!("app{}", i + 1)),
        group,
        protocol,
        producers,
        consumers,
        start_ms,
        stop_ms,
    })
}

/// The names `--set` accepts: every field of `[settings]`.
pub const SETTINGS: [&str; 17] = [
    "tick_time_ms",
    "init_limit",
    "sync_limit",
    "zk_session_timeout_ms",
    "replicas",
    "sync",
    "broker_startup_ms",
    "broker_restart_delay_ms",
    "master_recovery_ms",
    "lan_latency_us",
    "loopback_latency_us",
    "lan_mbit_per_s",
    "loopback_mbit_per_s",
    "fsync_us",
    "disk_mb_per_s",
    "log_size",
    "planted_bug",
];

/// `--set name=value`: changes one setting of a parsed scenario. The value is TOML (`3000`,
/// `[100, 400]`, `"quorum_disk"`); a bare word is taken as a string.
pub fn apply_override(spec: &mut Spec, assignment: &str) -> Result<(), FormatError> {
    let error =
        |field: &str, message: String| FormatError { file: "--set".into(), field: field.into(), message };
    let Some((name, value)) = assignment.split_once('=') else {
        return Err(error(assignment, "expected <setting>=<value>, e.g. sync=quorum_disk".into()));
    };
    let (name, value) = (name.trim(), value.trim());
    if !SETTINGS.contains(&name) {
        return Err(error(name, format!("unknown setting; expected one of {}", SETTINGS.join(", "))));
    }
    let parsed: Result<toml::Value, _> =
        toml::from_str::<toml::Table>(&format!("v = {value}")).map(|mut t| t.remove("v").expect("v"));
    let value = match parsed {
        Ok(v) => v,
        Err(_) => toml::Value::String(value.to_string()),
    };
    let mut table = toml::Table::new();
    table.insert(name.to_string(), value);
    let raw: FileSettings = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| error(name, e.message().replace('\n', " ")))?;
    apply_settings(&mut spec.settings, &raw).map_err(|(f, m)| error(f.trim_start_matches("settings."), m))?;
    Ok(())
}

/// toml's error as one line: `file: field (line N): message`.
fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> FormatError {
    let (line, field) = match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line_text = text.lines().nth(line - 1).unwrap_or("");
            let field = line_text.split('=').next().unwrap_or("").trim().trim_matches(['[', ']']).to_string();
            (Some(line), field)
        }
        None => (None, String::new()),
    };
    let field = match (line, field.is_empty()) {
        (Some(line), false) => format!("`{field}` (line {line})"),
        (Some(line), true) => format!("line {line}"),
        (None, _) => "file".to_string(),
    };
    let message = e.message().replace('\n', " ");
    FormatError { file: file.to_string(), field, message }
}

fn apply_settings(settings: &mut Settings, raw: &FileSettings) -> Result<(), (String, String)> {
    let positive = |name: &str, value: Option<u64>, into: &mut u64| -> Result<(), (String, String)> {
        if let Some(v) = value {
            if v == 0 {
                return Err((format!("settings.{name}"), "expected a positive integer".into()));
            }
            *into = v;
        }
        Ok(())
    };
    positive("tick_time_ms", raw.tick_time_ms, &mut settings.tick_time_ms)?;
    positive("init_limit", raw.init_limit, &mut settings.init_limit)?;
    positive("sync_limit", raw.sync_limit, &mut settings.sync_limit)?;
    positive("zk_session_timeout_ms", raw.zk_session_timeout_ms, &mut settings.zk_session_timeout_ms)?;
    if let Some(v) = raw.broker_startup_ms {
        settings.broker_startup_ms = v;
    }
    if let Some(v) = raw.broker_restart_delay_ms {
        settings.broker_restart_delay_ms = v;
    }
    if let Some(v) = raw.master_recovery_ms {
        settings.master_recovery_ms = v;
    }
    if let Some(replicas) = raw.replicas {
        if !(1..=3).contains(&replicas) {
            return Err((
                "settings.replicas".into(),
                format!("expected 1..=3 (three brokers per group), got {replicas}"),
            ));
        }
        settings.replicas = replicas;
    }
    if let Some(sync) = &raw.sync {
        settings.sync = SyncMode::parse(sync).ok_or_else(|| {
            let names: Vec<&str> = SyncMode::ALL.iter().map(|m| m.name()).collect();
            ("settings.sync".to_string(), format!("expected one of {}, got `{sync}`", names.join(", ")))
        })?;
    }
    if let Some(bug) = &raw.planted_bug {
        settings.planted_bug = Some(PlantedBug::parse(bug).ok_or_else(|| {
            let names: Vec<&str> = PlantedBug::ALL.iter().map(|b| b.name()).collect();
            ("settings.planted_bug".to_string(), format!("expected one of {}, got `{bug}`", names.join(", ")))
        })?);
    }
    positive("lan_mbit_per_s", raw.lan_mbit_per_s, &mut settings.lan_mbit_per_s)?;
    positive("loopback_mbit_per_s", raw.loopback_mbit_per_s, &mut settings.loopback_mbit_per_s)?;
    positive("disk_mb_per_s", raw.disk_mb_per_s, &mut settings.disk_mb_per_s)?;
    positive("log_size", raw.log_size, &mut settings.log_size)?;
    for (name, value, into) in [
        ("lan_latency_us", raw.lan_latency_us, &mut settings.lan_latency_us),
        ("loopback_latency_us", raw.loopback_latency_us, &mut settings.loopback_latency_us),
        ("fsync_us", raw.fsync_us, &mut settings.fsync_us),
    ] {
        if let Some([low, high]) = value {
            if low > high {
                return Err((
                    format!("settings.{name}"),
                    format!("expected [min, max] with min <= max, got [{low}, {high}]"),
                ));
            }
            *into = (low, high);
        }
    }
    Ok(())
}

fn seconds_to_ms(value: f64) -> Result<u64, String> {
    if !value.is_finite() || value < 0.0 {
        return Err(format!("expected a non-negative number of seconds, got {value}"));
    }
    Ok((value * 1000.0).round() as u64)
}

fn parse_step(step: &FileStep, earlier: &[Step], groups: u32) -> Result<Step, (String, String)> {
    if earlier.iter().any(|s| s.id == step.id) {
        return Err(("id".into(), format!("expected a unique step id, `{}` is used twice", step.id)));
    }
    if let Some(after) = &step.after {
        if !earlier.iter().any(|s| &s.id == after) {
            return Err(("after".into(), format!("expected the id of an earlier step, got `{after}`")));
        }
    }
    let (min_ms, max_ms) = match step.at_s {
        Seconds::Exact(s) => {
            let ms = seconds_to_ms(s).map_err(|m| ("at_s".to_string(), m))?;
            (ms, ms)
        }
        Seconds::Range([low, high]) => {
            let low = seconds_to_ms(low).map_err(|m| ("at_s".to_string(), m))?;
            let high = seconds_to_ms(high).map_err(|m| ("at_s".to_string(), m))?;
            if low > high {
                return Err(("at_s".into(), "expected [min, max] with min <= max".into()));
            }
            (low, high)
        }
    };
    let target = || -> Result<Target, (String, String)> {
        let text = step
            .target
            .as_deref()
            .ok_or(("target".to_string(), "expected a target for this action".to_string()))?;
        parse_target(text, earlier, groups).map_err(|m| ("target".to_string(), m))
    };
    let action = match step.action.as_str() {
        "crash" => Action::Crash(target()?),
        "restart" => Action::Restart(target()?),
        "pause" => {
            let duration_ms = step.duration_ms.ok_or(("duration_ms".to_string(), "expected the pause length in ms".to_string()))?;
            Action::Pause { target: target()?, duration_ms }
        }
        "host-crash" | "host-restart" => {
            let text = step.hosts.as_deref().ok_or(("hosts".to_string(), "expected a host set".to_string()))?;
            let hosts = parse_hosts(text, earlier, groups).map_err(|m| ("hosts".to_string(), m))?;
            if step.action == "host-crash" { Action::HostCrash(hosts) } else { Action::HostRestart(hosts) }
        }
        "partition" => {
            let list = |name: &str, items: &Option<Vec<String>>| -> Result<Vec<Hosts>, (String, String)> {
                let items = items.as_ref().ok_or((name.to_string(), "expected a list of host sets".to_string()))?;
                items
                    .iter()
                    .enumerate()
                    .map(|(i, t)| parse_hosts(t, earlier, groups).map_err(|m| (format!("{name}[{i}]"), m)))
                    .collect()
            };
            Action::Partition { from: list("from", &step.from)?, to: list("to", &step.to)?, one_way: step.one_way }
        }
        "heal" => {
            if let Some(id) = &step.partition {
                if !earlier.iter().any(|s| &s.id == id && matches!(s.action, Action::Partition { .. })) {
                    return Err(("partition".into(), format!("expected the id of an earlier partition step, got `{id}`")));
                }
            }
            Action::Heal { step: step.partition.clone() }
        }
        other => {
            return Err((
                "action".into(),
                format!("expected one of crash, restart, pause, host-crash, host-restart, partition, heal; got `{other}`"),
            ))
        }
    };
    Ok(Step { id: step.id.clone(), at: At { after: step.after.clone(), min_ms, max_ms }, action })
}

const TARGET_FORMS: &str =
    "a process (mq1, zk2, ...) or a role (master:group1, slave:group1, oldest:group1, \
     youngest:group1, zk-leader:ensemble1, zk-follower:ensemble1, step:<id>)";

fn parse_index(text: &str, prefix: &str, max: u32) -> Option<u32> {
    let n: u32 = text.strip_prefix(prefix)?.parse().ok()?;
    (1..=max).contains(&n).then_some(n)
}

/// `mq2`, `zk1`, `master:group1`, `slave:group2`, `oldest:group1`, `youngest:group1`,
/// `zk-leader:ensemble1`, `zk-follower:ensemble1`, `step:<id>`.
pub fn parse_target(text: &str, earlier: &[Step], groups: u32) -> Result<Target, String> {
    let bad = || format!("expected {TARGET_FORMS}, got `{text}`");
    if let Some((role, arg)) = text.split_once(':') {
        if role == "step" {
            return if earlier.iter().any(|s| s.id == arg) {
                Ok(Target::Step(arg.to_string()))
            } else {
                Err(format!("expected step:<id of an earlier step>, got `{text}`"))
            };
        }
        let group = parse_index(arg, "group", groups);
        let ensemble = parse_index(arg, "ensemble", groups);
        return match (role, group, ensemble) {
            ("master", Some(g), _) => Ok(Target::Master(g)),
            ("slave", Some(g), _) => Ok(Target::RandomSlave(g)),
            ("oldest", Some(g), _) => Ok(Target::Oldest(g)),
            ("youngest", Some(g), _) => Ok(Target::Youngest(g)),
            ("zk-leader", _, Some(e)) => Ok(Target::ZkLeader(e)),
            ("zk-follower", _, Some(e)) => Ok(Target::ZkFollower(e)),
            _ => Err(bad()),
        };
    }
    let processes = 3 * groups;
    if parse_index(text, "mq", processes).is_some() || parse_index(text, "zk", processes).is_some() {
        return Ok(Target::Process(text.to_string()));
    }
    Err(bad())
}

/// `zk-hosts`, `broker-hosts`, a host name (`zkhost1`, `mqhost2`), or `host-of:<target>`.
fn parse_hosts(text: &str, earlier: &[Step], groups: u32) -> Result<Hosts, String> {
    match text {
        "zk-hosts" => return Ok(Hosts::ZkHosts),
        "broker-hosts" => return Ok(Hosts::BrokerHosts),
        _ => {}
    }
    if let Some(target) = text.strip_prefix("host-of:") {
        return parse_target(target, earlier, groups).map(Hosts::HostOf);
    }
    let per_broker = text.strip_suffix("-host").and_then(|t| parse_index(t, "mq", 3 * groups));
    if text == "apphost"
        || parse_index(text, "zkhost", 3).is_some()
        || parse_index(text, "mqhost", groups).is_some()
        || per_broker.is_some()
    {
        return Ok(Hosts::Named(text.to_string()));
    }
    Err(format!(
        "expected zk-hosts, broker-hosts, a host (zkhost1..3, mqhost1..{groups}, mq1-host.., apphost) or host-of:<target>, got `{text}`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name = \"x\"\nduration_s = 10\nliveness_deadline_s = 5\n";

    #[test]
    fn every_builtin_parses() {
        for (file, text) in crate::builtin::FILES {
            parse(file, text).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn unknown_field_names_file_field_and_line() {
        let text = format!("{MINIMAL}colour = \"red\"\n");
        let error = parse("bad.toml", &text).unwrap_err().to_string();
        assert!(error.starts_with("bad.toml: `colour` (line 4): unknown field `colour`"), "{error}");
        assert!(!error.contains('\n'));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let text = "name = \"x\"\nduration_s = \"long\"\nliveness_deadline_s = 5\n";
        let error = parse("bad.toml", text).unwrap_err().to_string();
        assert!(error.starts_with("bad.toml: `duration_s` (line 2): invalid type"), "{error}");
    }

    #[test]
    fn bad_target_and_sync_are_explained() {
        let text = format!(
            "{MINIMAL}[[step]]\nid = \"a\"\nat_s = 1\naction = \"crash\"\ntarget = \"boss:group1\"\n"
        );
        let error = parse("f.toml", &text).unwrap_err();
        assert_eq!(error.field, "step[0].target");
        assert!(error.message.contains("master:group1"), "{error}");
        let text = format!("{MINIMAL}[settings]\nsync = \"fast\"\n");
        let error = parse("f.toml", &text).unwrap_err();
        assert_eq!(error.field, "settings.sync");
        assert!(error.message.contains("quorum_mem"), "{error}");
    }

    #[test]
    fn a_workload_parses_with_defaults_and_bad_clients_are_explained() {
        let text = format!(
            "{MINIMAL}[[client]]\n[[client.producer]]\ntopic = \"t\"\nrate = 5\n[[client.consumer]]\ntopic = \"t\"\ndurable = \"d\"\n"
        );
        let spec = parse("w.toml", &text).expect("parses");
        let client = &spec.workload[0];
        assert_eq!((client.name.as_str(), client.group, client.start_ms), ("app1", 1, 5000));
        let producer = &client.producers[0];
        assert!(producer.persistent && producer.sync, "OpenWire's default: persistent sends are sync");
        assert_eq!(client.consumers[0].durable.as_deref(), Some("d"));
        for (extra, field) in [
            ("[[client]]\nprotocol = \"amqp\"\n", "client[0].protocol"),
            ("[[client]]\n[[client.producer]]\nqueue = \"q\"\nrate = 0\n", "client[0].producer[0].rate"),
            (
                "[[client]]\n[[client.consumer]]\nqueue = \"q\"\nack = \"never\"\n",
                "client[0].consumer[0].ack",
            ),
            ("[[client]]\nname = \"zk1\"\n", "client[0].name"),
        ] {
            let error = parse("w.toml", &format!("{MINIMAL}{extra}")).unwrap_err();
            assert_eq!(error.field, field, "{error}");
        }
    }

    #[test]
    fn targets_cover_every_role() {
        let earlier = [Step {
            id: "crash".into(),
            at: At { after: None, min_ms: 0, max_ms: 0 },
            action: Action::Crash(Target::Master(1)),
        }];
        assert_eq!(parse_target("mq2", &earlier, 1), Ok(Target::Process("mq2".into())));
        assert_eq!(parse_target("slave:group1", &earlier, 1), Ok(Target::RandomSlave(1)));
        assert_eq!(parse_target("oldest:group1", &earlier, 1), Ok(Target::Oldest(1)));
        assert_eq!(parse_target("youngest:group1", &earlier, 1), Ok(Target::Youngest(1)));
        assert_eq!(parse_target("zk-follower:ensemble1", &earlier, 1), Ok(Target::ZkFollower(1)));
        assert_eq!(parse_target("step:crash", &earlier, 1), Ok(Target::Step("crash".into())));
        assert!(parse_target("mq4", &earlier, 1).is_err(), "group 2 does not exist with one group");
        assert!(parse_target("master:group2", &earlier, 2).is_ok());
    }
}
