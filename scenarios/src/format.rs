//! The scenario file format (TOML, documented in docs/scenarios.md) and its translation into a
//! `sim::Spec`. This module only reads the file's shape; what the values mean (ranges, names,
//! references, timing) is checked by `sim::validate`, so every scenario gets the same checks.
//! Every error is one line: `<file>: <field>: <expected form>`. Parsing is linear in the file.

use broker_model::bridge::{ConnectorConfig, DestFilter};
use broker_model::client::{ConsumerSpec, ProducerSpec, Protocol};
use broker_model::messaging::{AckMode, Dest};
use serde::Deserialize;
use sim::settings::{self, Value};
use sim::spec::{
    Action, At, ClientSpec, ConnectorSpec, Hosts, Settings, Sometimes, Spec, Step, Target, TopologySpec,
};
use sim::validate::{self, indexed, DURATION_MS_MAX, MESSAGE_SIZE_MAX};
use std::collections::BTreeSet;
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
    settings: toml::Table,
    #[serde(default)]
    step: Vec<FileStep>,
    #[serde(default)]
    client: Vec<FileClient>,
    expect_drain: Option<bool>,
    #[serde(default)]
    measure_bridge_waits: bool,
    delivery_deadline_ms: Option<u64>,
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
    size: Option<u64>,
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
    prefetch: Option<u64>,
    priority: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTopology {
    groups: Option<u32>,
    #[serde(default)]
    host_per_broker: bool,
    /// Absent: the seed's two duplex connectors when there are two groups; `[]`: none.
    connector: Option<Vec<FileConnector>>,
}

/// One `[[topology.connector]]`: ActiveMQ's attribute names in snake case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConnector {
    group: u32,
    to_group: u32,
    name: Option<String>,
    duplex: Option<bool>,
    network_ttl: Option<u32>,
    message_ttl: Option<u32>,
    consumer_ttl: Option<u32>,
    conduit_subscriptions: Option<bool>,
    decrease_network_consumer_priority: Option<bool>,
    prefetch_size: Option<u32>,
    dynamic_only: Option<bool>,
    #[serde(default)]
    excluded_destinations: Vec<String>,
    #[serde(default)]
    dynamically_included_destinations: Vec<String>,
    #[serde(default)]
    statically_included_destinations: Vec<String>,
    static_bridge: Option<bool>,
    suppress_duplicate_queue_subscriptions: Option<bool>,
    suppress_duplicate_topic_subscriptions: Option<bool>,
    always_sync_send: Option<bool>,
    initial_reconnect_delay_ms: Option<u64>,
    max_reconnect_delay_ms: Option<u64>,
    use_exponential_back_off: Option<bool>,
    back_off_multiplier: Option<u64>,
    max_reconnect_attempts: Option<u32>,
    min_connect_time_ms: Option<u64>,
}

fn parse_connector(raw: &FileConnector) -> Result<ConnectorSpec, FieldError> {
    let name = raw.name.clone().unwrap_or_else(|| "bridge".to_string());
    let mut config = ConnectorConfig::new(&name, Vec::new());
    let c = &mut config;
    c.duplex = raw.duplex.unwrap_or(c.duplex);
    c.network_ttl = raw.network_ttl.unwrap_or(c.network_ttl);
    // `messageTTL` and `consumerTTL` follow `networkTTL` unless set.
    c.message_ttl = raw.message_ttl.unwrap_or(c.network_ttl);
    c.consumer_ttl = raw.consumer_ttl.unwrap_or(c.network_ttl);
    c.conduit_subscriptions = raw.conduit_subscriptions.unwrap_or(c.conduit_subscriptions);
    c.decrease_network_consumer_priority =
        raw.decrease_network_consumer_priority.unwrap_or(c.decrease_network_consumer_priority);
    c.prefetch_size = raw.prefetch_size.unwrap_or(c.prefetch_size);
    c.dynamic_only = raw.dynamic_only.unwrap_or(c.dynamic_only);
    c.static_bridge = raw.static_bridge.unwrap_or(c.static_bridge);
    c.suppress_duplicate_queue_subscriptions =
        raw.suppress_duplicate_queue_subscriptions.unwrap_or(c.suppress_duplicate_queue_subscriptions);
    c.suppress_duplicate_topic_subscriptions =
        raw.suppress_duplicate_topic_subscriptions.unwrap_or(c.suppress_duplicate_topic_subscriptions);
    c.always_sync_send = raw.always_sync_send.unwrap_or(c.always_sync_send);
    let b = &mut c.backoff;
    b.initial_reconnect_delay_ms = raw.initial_reconnect_delay_ms.unwrap_or(b.initial_reconnect_delay_ms);
    b.max_reconnect_delay_ms = raw.max_reconnect_delay_ms.unwrap_or(b.max_reconnect_delay_ms);
    b.use_exponential_back_off = raw.use_exponential_back_off.unwrap_or(b.use_exponential_back_off);
    b.back_off_multiplier = raw.back_off_multiplier.unwrap_or(b.back_off_multiplier);
    b.max_reconnect_attempts = raw.max_reconnect_attempts.unwrap_or(b.max_reconnect_attempts);
    b.min_connect_time_ms = raw.min_connect_time_ms.unwrap_or(b.min_connect_time_ms);
    let filters = |list: &[String], field: &str| -> Result<Vec<DestFilter>, FieldError> {
        list.iter()
            .enumerate()
            .map(|(i, text)| {
                DestFilter::parse(text).ok_or_else(|| {
                    (
                        format!("{field}[{i}]"),
                        format!("expected queue://name or topic://name (wildcards * and >), got {text:?}"),
                    )
                })
            })
            .collect()
    };
    c.excluded_destinations = filters(&raw.excluded_destinations, "excluded_destinations")?;
    c.dynamically_included_destinations =
        filters(&raw.dynamically_included_destinations, "dynamically_included_destinations")?;
    c.statically_included_destinations =
        filters(&raw.statically_included_destinations, "statically_included_destinations")?;
    Ok(ConnectorSpec { group: raw.group, to_group: raw.to_group, config })
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
    one_way: Option<bool>,
    partition: Option<String>,
    hosts: Option<String>,
}

impl FileStep {
    /// Refuses fields the action does not take (a `target` on a heal would be silently ignored).
    fn check_fields(&self) -> Result<(), FieldError> {
        let allowed: &[&str] = match self.action.as_str() {
            "crash" | "restart" => &["target"],
            "pause" => &["target", "duration_ms"],
            "host-crash" | "host-restart" => &["hosts"],
            "partition" => &["from", "to", "one_way"],
            "heal" => &["partition"],
            _ => return Ok(()),
        };
        let given = [
            ("target", self.target.is_some()),
            ("duration_ms", self.duration_ms.is_some()),
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
            ("one_way", self.one_way.is_some()),
            ("partition", self.partition.is_some()),
            ("hosts", self.hosts.is_some()),
        ];
        for (name, present) in given {
            if present && !allowed.contains(&name) {
                let takes = allowed.join(", ");
                let action = &self.action;
                return Err((
                    name.into(),
                    format!("expected no `{name}` for action `{action}` (it takes {takes})"),
                ));
            }
        }
        Ok(())
    }
}

type FieldError = (String, String);

/// Parses scenario text and validates the result; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Spec, FormatError> {
    let spec = parse_unchecked(file, text)?;
    validate::validate(&spec).map_err(|e| FormatError {
        file: file.into(),
        field: e.field,
        message: e.expected,
    })?;
    Ok(spec)
}

fn parse_unchecked(file: &str, text: &str) -> Result<Spec, FormatError> {
    let raw: FileScenario = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let error = |(field, message): FieldError| FormatError { file: file.to_string(), field, message };
    let mut settings = Settings::seed();
    for (name, value) in &raw.settings {
        settings::set(&mut settings, name, toml_value(value))
            .map_err(|m| error((format!("settings.{name}"), m)))?;
    }
    // The seed's full deployment by default: two groups joined by its duplex connectors.
    let groups = raw.topology.groups.unwrap_or(2);
    let connectors = match &raw.topology.connector {
        None if groups == 2 => ConnectorSpec::seed(),
        None => Vec::new(),
        Some(list) => {
            let mut connectors = Vec::with_capacity(list.len());
            for (i, c) in list.iter().enumerate() {
                let parsed = parse_connector(c)
                    .map_err(|(f, m)| error((format!("topology.connector[{i}].{f}"), m)))?;
                connectors.push(parsed);
            }
            connectors
        }
    };
    let duration_ms = whole_seconds_to_ms(raw.duration_s).map_err(|m| error(("duration_s".into(), m)))?;
    let liveness_deadline_ms =
        whole_seconds_to_ms(raw.liveness_deadline_s).map_err(|m| error(("liveness_deadline_s".into(), m)))?;
    let mut steps = Vec::with_capacity(raw.step.len());
    let mut earlier = BTreeSet::new();
    for (i, step) in raw.step.iter().enumerate() {
        let parsed = parse_step(step, &earlier).map_err(|(f, m)| error((format!("step[{i}].{f}"), m)))?;
        earlier.insert(parsed.id.clone());
        steps.push(parsed);
    }
    let mut sometimes = Vec::new();
    for (i, name) in raw.sometimes.iter().enumerate() {
        let Some(what) = Sometimes::ALL.into_iter().find(|s| s.name() == name) else {
            let names: Vec<&str> = Sometimes::ALL.iter().map(|s| s.name()).collect();
            return Err(error((
                format!("sometimes[{i}]"),
                format!("expected one of {}, got `{name}`", names.join(", ")),
            )));
        };
        sometimes.push(what);
    }
    let mut workload = Vec::new();
    for (i, client) in raw.client.iter().enumerate() {
        let parsed =
            parse_client(client, i, duration_ms).map_err(|(f, m)| error((format!("client[{i}].{f}"), m)))?;
        workload.push(parsed);
    }
    Ok(Spec {
        name: raw.name,
        description: raw.description,
        topology: TopologySpec { groups, host_per_broker: raw.topology.host_per_broker, connectors },
        settings,
        duration_ms,
        liveness_deadline_ms,
        steps,
        sometimes,
        measure_from: raw.measure_from,
        workload,
        expect_drain: raw.expect_drain.unwrap_or(true),
        measure_bridge_waits: raw.measure_bridge_waits,
        delivery_deadline_ms: raw.delivery_deadline_ms,
    })
}

/// A TOML value in the settings table's terms.
fn toml_value(value: &toml::Value) -> Value {
    match value {
        toml::Value::Integer(v) => Value::Int(*v),
        toml::Value::String(s) => Value::Word(s.clone()),
        toml::Value::Array(items) => match items.as_slice() {
            [toml::Value::Integer(low), toml::Value::Integer(high)] => Value::Pair(*low, *high),
            _ => Value::Other("an array that is not two integers"),
        },
        toml::Value::Float(_) => Value::Other("a float"),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(_) => Value::Other("a date"),
        toml::Value::Table(_) => Value::Other("a table"),
    }
}

fn destination(queue: &Option<String>, topic: &Option<String>) -> Result<Dest, FieldError> {
    match (queue, topic) {
        (Some(q), None) => Ok(Dest::Queue(q.as_str().into())),
        (None, Some(t)) => Ok(Dest::Topic(t.as_str().into())),
        _ => Err(("queue".into(), "expected exactly one of queue = \"name\" or topic = \"name\"".into())),
    }
}

fn parse_client(raw: &FileClient, i: usize, duration_ms: u64) -> Result<ClientSpec, FieldError> {
    let protocol = match raw.protocol.as_deref().unwrap_or("openwire") {
        "openwire" => Protocol::Failover,
        "stomp" => Protocol::Stomp,
        other => return Err(("protocol".into(), format!("expected openwire or stomp, got `{other}`"))),
    };
    let start_ms = seconds_to_ms(raw.start_s.unwrap_or(5.0)).map_err(|m| ("start_s".to_string(), m))?;
    // Producers stop early by default so consumers can drain before the end.
    let drain_ms = (duration_ms / 4).min(20_000);
    let stop_ms = match raw.stop_s {
        Some(stop_s) => seconds_to_ms(stop_s).map_err(|m| ("stop_s".to_string(), m))?,
        None => duration_ms.saturating_sub(drain_ms).max(start_ms),
    };
    let mut producers = Vec::new();
    for (j, p) in raw.producer.iter().enumerate() {
        let field = |f: &str| format!("producer[{j}].{f}");
        let dest = destination(&p.queue, &p.topic).map_err(|(f, m)| (field(&f), m))?;
        let size = p.size.unwrap_or(1024);
        let size = u32::try_from(size).ok().filter(|s| *s <= MESSAGE_SIZE_MAX).ok_or_else(|| {
            (
                field("size"),
                format!("expected body bytes in 0..={MESSAGE_SIZE_MAX} (OpenWire maxFrameSize), got {size}"),
            )
        })?;
        let persistent = p.persistent.unwrap_or(true);
        producers.push(ProducerSpec {
            dest,
            rate_per_s: p.rate,
            size,
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
        let bounded = |name: &str, value: u64, max: u64| -> Result<u64, FieldError> {
            if value > max {
                return Err((field(name), format!("expected at most {max}, got {value}")));
            }
            Ok(value)
        };
        consumers.push(ConsumerSpec {
            durable: c.durable.clone(),
            process_ms: c.process_ms.unwrap_or(0),
            dest,
            ack,
            prefetch: bounded("prefetch", c.prefetch.unwrap_or(1000), u32::MAX as u64)? as u32,
            priority: bounded("priority", c.priority.unwrap_or(4), u8::MAX as u64)? as u8,
        });
    }
    Ok(ClientSpec {
        name: raw.name.clone().unwrap_or(format!("app{}", i + 1)),
        group: raw.group.unwrap_or(1),
        protocol,
        producers,
        consumers,
        start_ms,
        stop_ms,
    })
}

/// `--set name=value`: changes one setting of a parsed scenario. The value is TOML (`3000`,
/// `[100, 400]`, `"quorum_disk"`); a bare word is taken as a string.
pub fn apply_override(spec: &mut Spec, assignment: &str) -> Result<(), FormatError> {
    let error =
        |field: &str, message: String| FormatError { file: "--set".into(), field: field.into(), message };
    let Some((name, value)) = assignment.split_once('=') else {
        return Err(error(assignment, "expected <setting>=<value>, e.g. sync=quorum_disk".into()));
    };
    let (name, text) = (name.trim(), value.trim());
    if text.contains(['\n', '\r']) {
        return Err(error(name, "expected a one-line value".into()));
    }
    let value = match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut table) if table.len() == 1 => toml_value(&table.remove("v").expect("v")),
        _ => Value::Word(text.to_string()),
    };
    settings::set(&mut spec.settings, name, value).map_err(|m| error(name, m))?;
    validate::validate(spec).map_err(|e| error(&e.field, e.expected))
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

fn whole_seconds_to_ms(seconds: u64) -> Result<u64, String> {
    seconds
        .checked_mul(1000)
        .filter(|ms| *ms <= DURATION_MS_MAX)
        .ok_or_else(|| format!("expected whole seconds in 0..={}, got {seconds}", DURATION_MS_MAX / 1000))
}

/// Seconds (possibly fractional) to whole milliseconds, refusing what no run could reach.
fn seconds_to_ms(value: f64) -> Result<u64, String> {
    let max_s = (DURATION_MS_MAX / 1000) as f64;
    if !value.is_finite() || !(0.0..=max_s).contains(&value) {
        return Err(format!("expected seconds in 0..={max_s}, got {value}"));
    }
    Ok((value * 1000.0).round() as u64)
}

fn parse_step(step: &FileStep, earlier: &BTreeSet<String>) -> Result<Step, FieldError> {
    step.check_fields()?;
    let (min_ms, max_ms) = match step.at_s {
        Seconds::Exact(s) => {
            let ms = seconds_to_ms(s).map_err(|m| ("at_s".to_string(), m))?;
            (ms, ms)
        }
        Seconds::Range([low, high]) => {
            let low = seconds_to_ms(low).map_err(|m| ("at_s".to_string(), m))?;
            let high = seconds_to_ms(high).map_err(|m| ("at_s".to_string(), m))?;
            (low, high)
        }
    };
    let target = || -> Result<Target, FieldError> {
        let text = step
            .target
            .as_deref()
            .ok_or(("target".to_string(), "expected a target for this action".to_string()))?;
        parse_target(text, earlier).map_err(|m| ("target".to_string(), m))
    };
    let action = match step.action.as_str() {
        "crash" => Action::Crash(target()?),
        "restart" => Action::Restart(target()?),
        "pause" => {
            let duration_ms = step
                .duration_ms
                .ok_or(("duration_ms".to_string(), "expected the pause length in ms".to_string()))?;
            Action::Pause { target: target()?, duration_ms }
        }
        "host-crash" | "host-restart" => {
            let text = step.hosts.as_deref().ok_or(("hosts".to_string(), "expected a host set".to_string()))?;
            let hosts = parse_hosts(text, earlier).map_err(|m| ("hosts".to_string(), m))?;
            if step.action == "host-crash" {
                Action::HostCrash(hosts)
            } else {
                Action::HostRestart(hosts)
            }
        }
        "partition" => {
            let list = |name: &str, items: &Option<Vec<String>>| -> Result<Vec<Hosts>, FieldError> {
                let items =
                    items.as_ref().ok_or((name.to_string(), "expected a list of host sets".to_string()))?;
                items
                    .iter()
                    .enumerate()
                    .map(|(i, t)| parse_hosts(t, earlier).map_err(|m| (format!("{name}[{i}]"), m)))
                    .collect()
            };
            Action::Partition { from: list("from", &step.from)?, to: list("to", &step.to)?, one_way: step.one_way.unwrap_or(false) }
        }
        "heal" => Action::Heal { step: step.partition.clone() },
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

/// `mq2`, `zk1`, `master:group1`, `slave:group2`, `oldest:group1`, `youngest:group1`,
/// `zk-leader:ensemble1`, `zk-follower:ensemble1`, `step:<id>`. Only the form is checked here;
/// `sim::validate` checks that the process, group or step exists.
pub fn parse_target(text: &str, earlier: &BTreeSet<String>) -> Result<Target, String> {
    let bad = || format!("expected {TARGET_FORMS}, got `{text}`");
    if let Some((role, arg)) = text.split_once(':') {
        if role == "step" {
            return if earlier.contains(arg) {
                Ok(Target::Step(arg.to_string()))
            } else {
                Err(format!("expected step:<id of an earlier step>, got `{text}`"))
            };
        }
        let group = indexed(arg, "group");
        let ensemble = indexed(arg, "ensemble");
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
    // A broker, a ZooKeeper server or a client by name (validation checks it exists).
    if !text.is_empty()
        && text.len() <= 64
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Ok(Target::Process(text.to_string()));
    }
    Err(bad())
}

/// `zk-hosts`, `broker-hosts`, a host name (`zkhost1`, `mqhost2`, `mq4-host`, `apphost`), or
/// `host-of:<target>`.
fn parse_hosts(text: &str, earlier: &BTreeSet<String>) -> Result<Hosts, String> {
    match text {
        "zk-hosts" => return Ok(Hosts::ZkHosts),
        "broker-hosts" => return Ok(Hosts::BrokerHosts),
        _ => {}
    }
    if let Some(target) = text.strip_prefix("host-of:") {
        return parse_target(target, earlier).map(Hosts::HostOf);
    }
    let per_broker = text.strip_suffix("-host").and_then(|t| indexed(t, "mq"));
    if text == "apphost"
        || indexed(text, "zkhost").is_some()
        || indexed(text, "mqhost").is_some()
        || per_broker.is_some()
    {
        return Ok(Hosts::Named(text.to_string()));
    }
    Err(format!(
        "expected zk-hosts, broker-hosts, a host (zkhost1..3, mqhost1.., mq1-host.., apphost) or host-of:<target>, got `{text}`"
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
        let earlier: BTreeSet<String> = ["crash".to_string()].into();
        assert_eq!(parse_target("mq2", &earlier), Ok(Target::Process("mq2".into())));
        assert_eq!(parse_target("slave:group1", &earlier), Ok(Target::RandomSlave(1)));
        assert_eq!(parse_target("oldest:group1", &earlier), Ok(Target::Oldest(1)));
        assert_eq!(parse_target("youngest:group1", &earlier), Ok(Target::Youngest(1)));
        assert_eq!(parse_target("zk-follower:ensemble1", &earlier), Ok(Target::ZkFollower(1)));
        assert_eq!(parse_target("step:crash", &earlier), Ok(Target::Step("crash".into())));
        // A name parses; validation checks the process exists (`mq01` does not: `mq1` does).
        assert_eq!(parse_target("mq01", &earlier), Ok(Target::Process("mq01".into())));
        let zero =
            format!("{MINIMAL}[[step]]\nid = \"a\"\nat_s = 1\naction = \"crash\"\ntarget = \"mq01\"\n");
        assert_eq!(parse("f.toml", &zero).unwrap_err().field, "step[0].target");
        assert!(parse_target("mq 1", &earlier).is_err());
        assert!(parse_target("master:group01", &earlier).is_err());
        let crash_mq4 = "[[step]]\nid = \"a\"\nat_s = 1\naction = \"crash\"\ntarget = \"mq4\"\n";
        let one_group = format!("{MINIMAL}[topology]\ngroups = 1\n{crash_mq4}");
        let error = parse("f.toml", &one_group).unwrap_err();
        assert_eq!(error.field, "step[0].target", "mq4 does not exist with one group: {error}");
        // The default is the seed's two groups, where mq4 exists.
        assert!(parse("f.toml", &format!("{MINIMAL}{crash_mq4}")).is_ok());
    }
}
