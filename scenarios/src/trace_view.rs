//! How `amqsim replay` shows a run: a `tracing-subscriber` layer that prints the world's
//! narration (`sim::narrate`) one line per event at simulated time, filtered by process, time
//! window and kind, as text, JSON lines or the raw inputs. `--filter` adds `EnvFilter`
//! directives over the `amqsim::<kind>` targets. None of this touches the run or its hash.

use broker_model::describe::TraceKind;
use clap::ValueEnum;
use serde_json::json;
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::{EnvFilter, Registry};

/// A kind of event, for `--only` (clap's mirror of `TraceKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Only {
    /// Elections, promotions, demotions, ZooKeeper roles.
    Roles,
    /// Crashes, restarts, pauses, partitions and heals.
    Faults,
    /// Application sends, acks and deliveries; broker-client traffic.
    Messages,
    /// ZooKeeper sessions, requests, elections and quorum traffic.
    Zk,
    /// Replication: WAL frames, downloads, fsyncs, catch-up.
    Store,
    /// TCP connections.
    Net,
    /// Network bridges: attempts, handshakes, advisories, drops, forwards.
    Bridges,
}

impl Only {
    /// The model's kind of event this selects (`broker_model::describe::TraceKind`).
    fn kind(self) -> TraceKind {
        match self {
            Only::Roles => TraceKind::Roles,
            Only::Faults => TraceKind::Faults,
            Only::Messages => TraceKind::Messages,
            Only::Zk => TraceKind::Zk,
            Only::Store => TraceKind::Store,
            Only::Net => TraceKind::Net,
            Only::Bridges => TraceKind::Bridges,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    Text,
    Json,
    Debug,
}

#[derive(Debug, Clone)]
pub struct ViewOptions {
    pub processes: Vec<String>,
    pub from_us: Option<u64>,
    pub to_us: Option<u64>,
    pub only: Vec<Only>,
    pub format: TraceFormat,
    pub filter: Option<String>,
}

/// The subscriber for a replay: the view layer, behind the `--filter` directives if any.
pub fn dispatch(options: &ViewOptions) -> Result<tracing::Dispatch, String> {
    let view = View { options: options.clone() };
    match &options.filter {
        Some(directives) => {
            let filter = EnvFilter::builder()
                .parse(directives)
                .map_err(|e| format!("--filter: expected tracing EnvFilter directives such as amqsim::store=debug, got `{directives}`: {e}"))?;
            Ok(tracing::Dispatch::new(Registry::default().with(view.with_filter(filter))))
        }
        None => Ok(tracing::Dispatch::new(Registry::default().with(view))),
    }
}

/// Prints simulated time (seconds, millisecond precision), read from the world's narration.
pub struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let us = sim::narrate::sim_now_us();
        write!(w, "{}.{:03}s", us / 1_000_000, us % 1_000_000 / 1000)
    }
}

struct View {
    options: ViewOptions,
}

/// The fields of one narrated event.
#[derive(Default)]
struct Fields {
    message: String,
    process: String,
    peer: String,
    detail: String,
    t_us: u64,
    want_detail: bool,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "process" => self.process = value.to_string(),
            "peer" => self.peer = value.to_string(),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "t_us" {
            self.t_us = value;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            // The raw input is formatted only for `--format debug`.
            "detail" if self.want_detail => {
                let _ = write!(self.detail, "{value:?}");
            }
            "process" => {
                let _ = write!(self.process, "{value:?}");
            }
            _ => {}
        }
    }
}

impl<S: Subscriber> Layer<S> for View {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let target = event.metadata().target();
        if !target.starts_with("amqsim::") {
            // madsim's own events.
            return;
        }
        let options = &self.options;
        if !options.only.is_empty() {
            let kind = target.strip_prefix("amqsim::").unwrap_or(target);
            if !options.only.iter().any(|o| o.kind().name() == kind) {
                return;
            }
            // `--only` views leave out TRACE chatter (pings, keepalives, timers whose effect is
            // its own line) unless `--filter` asks for it.
            if options.filter.is_none() && *event.metadata().level() == tracing::Level::TRACE {
                return;
            }
        }
        let mut fields = Fields { want_detail: options.format == TraceFormat::Debug, ..Default::default() };
        event.record(&mut fields);
        if options.from_us.is_some_and(|from| fields.t_us < from)
            || options.to_us.is_some_and(|to| fields.t_us > to)
        {
            return;
        }
        let process = if fields.process.is_empty() { "world" } else { fields.process.as_str() };
        if !options.processes.is_empty() && !options.processes.iter().any(|p| p == process) {
            return;
        }
        let mut line = String::with_capacity(96);
        match options.format {
            TraceFormat::Text => {
                let _ = SimTime.format_time(&mut Writer::new(&mut line));
                let _ =
                    write!(line, " {}", if fields.process.is_empty() { "world" } else { &fields.process });
                if !fields.peer.is_empty() {
                    let _ = write!(line, " <- {}:", fields.peer);
                }
                let _ = write!(line, " {}", fields.message);
            }
            TraceFormat::Debug => {
                let _ = SimTime.format_time(&mut Writer::new(&mut line));
                let shown = if fields.detail.is_empty() || fields.detail == "\"\"" {
                    &fields.message
                } else {
                    &fields.detail
                };
                let _ = write!(line, " {} {shown}", fields.process);
            }
            TraceFormat::Json => {
                let kind = target.strip_prefix("amqsim::").unwrap_or(target);
                let value = json!({
                    "t_us": fields.t_us,
                    "process": fields.process,
                    "peer": fields.peer,
                    "kind": kind,
                    "level": event.metadata().level().as_str().to_ascii_lowercase(),
                    "event": fields.message,
                });
                line = value.to_string();
            }
        }
        line.push('\n');
        crate::output::bytes(line.as_bytes());
    }
}
