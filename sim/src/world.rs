//! The simulated world: an event queue over simulated time, hosts and processes, connections with
//! the failure semantics of DESIGN.md, per-process disks, faults, the history and the trace.
//!
//! Connection semantics (what a peer observes):
//! - connect to a reachable host with nobody listening → `ConnectFailed(Refused)` after one RTT;
//! - connect into a partition or to a dead host → the SYN is retransmitted after 1, 3, 7, 15, 31
//!   and 63 s (Linux `tcp_syn_retries=6`): a path that heals (or a host that returns) meanwhile
//!   connects; after 127 s the connect fails. Callers' own timeouts usually decide first;
//! - an established connection is FIFO per direction; across a partition its data stalls and
//!   neither side is told, and stalled data is delivered when the path heals;
//! - a crashed process on a reachable host → its peers see a reset within one latency;
//! - a dead or cut-off host → silence; data sent to a connection that no longer exists on a
//!   live host is answered with a reset.

use crate::history::{History, Kind};
use crate::queue::{EventQueue, Lane};
use crate::small_map::{SmallMap, Unordered};
use crate::spec::{Action, Hosts, Settings, Spec, Target};
use crate::topology::{Layout, ProcessKind};
use crate::trace::Trace;
use broker_model::broker::Broker;
use broker_model::client::Client;
use broker_model::io::{CloseReason, ConnectError};
use broker_model::messaging::Msg;
use broker_model::node::Node;
use broker_model::rng::{Rng, Uniform};
use broker_model::zk::server::ZkServer;
use broker_model::{ConnId, Effect, Effects, HostId, Input, Message, Record, Time, TimerId};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::AtomicBool;

/// A process's disk: `records` is what the process wrote (the page cache included, so it
/// survives `kill -9`); `synced_len` of them are on the platter and survive losing the host.
#[derive(Default)]
struct Disk {
    records: Vec<Record>,
    synced_len: usize,
}

struct Proc {
    host: HostId,
    node: Option<Node>,
    incarnation: u32,
    paused: bool,
    /// Inputs that arrived while paused; a timer's firing keeps its generation so that a
    /// backlog input that re-arms or cancels it makes the stale firing void.
    backlog: VecDeque<(Input, Option<u64>)>,
    /// Counts pauses, so a `Resume` ends only its own pause.
    pauses: u64,
    /// Counts host power losses under this process's disk: an fsync in flight when the host
    /// died never completes.
    disk_epoch: u32,
    disk: Disk,
    /// Armed timers (never iterated, so kept in no order).
    timers: Unordered<TimerId, Armed>,
    /// This process's connection ids → index into `World::conns`.
    conns: SmallMap<ConnId, usize>,
}

/// An armed timer. Re-arming one later than its queued fire event (an inactivity timer pushed
/// on by every packet) queues nothing: the fire event, when it comes, is queued again for the
/// timer's time with the insertion number taken when it was re-armed, so it runs exactly where
/// a fresh event queued at the re-arm would have, and the queue holds one event per timer
/// instead of one per re-arm (a re-arm *earlier* than the queued event still queues a fresh one
/// and leaves the old one to be dropped as stale). The livelock cap counts events handled, so it
/// no longer counts those stale firings.
#[derive(Debug, Clone, Copy)]
struct Armed {
    /// The generation the queued fire event carries; a fire event of another is stale.
    generation: u64,
    /// When the timer fires, and the insertion number that orders it among equal times.
    at: Time,
    seq: u64,
    /// The (time, number) its fire event is queued with; `None` once it fired into a paused
    /// process's backlog.
    queued: Option<(Time, u64)>,
}

#[derive(Debug, Clone)]
enum Packet {
    Data(Message),
    Fin,
    Rst,
}

#[derive(Debug, Clone, Copy)]
struct End {
    process: usize,
    /// The process's host (a process never moves).
    host: HostId,
    incarnation: u32,
    local: ConnId,
    /// False once the process closed or lost this end.
    open: bool,
}

#[derive(Debug, Default)]
struct Direction {
    last_arrival: Time,
    /// When the sender's link is free again (bandwidth).
    tx_free: Time,
    /// Packets on the wire, in arrival order: arrivals on one direction never decrease and
    /// equal times keep their order, so each `Deliver` event takes the front one. The packet
    /// waits here instead of riding in the event, which keeps every event small.
    in_flight: VecDeque<Packet>,
    stalled: VecDeque<Packet>,
}

struct Conn {
    ends: [End; 2],
    established: bool,
    /// SYN retransmissions so far.
    syn_retries: u32,
    dirs: [Direction; 2],
    target_host: HostId,
    target_port: u16,
}

enum Event {
    /// An input the world makes for a process at once (rare: a port already taken).
    Input {
        process: usize,
        incarnation: u32,
        input: Box<Input>,
    },
    Timer {
        process: usize,
        incarnation: u32,
        timer: TimerId,
        generation: u64,
        /// The insertion number it is queued with (see [`Armed`]).
        seq: u64,
    },
    SynArrive {
        conn: usize,
    },
    /// The initiator's kernel retransmits an unanswered SYN.
    SynRetry {
        conn: usize,
    },
    SynAck {
        conn: usize,
        refused: bool,
    },
    /// The packet at the front of `conn`'s direction `dir` arrives.
    Deliver {
        conn: usize,
        dir: usize,
    },
    Step {
        index: usize,
    },
    Resume {
        process: usize,
        pause: u64,
    },
    /// An fsync reached the platter: `len` records are durable.
    SyncDone {
        process: usize,
        incarnation: u32,
        disk_epoch: u32,
        len: usize,
        token: u64,
    },
}

/// Events at one simulated instant before the run counts as livelocked: a real run has at most
/// a few thousand (every process booting at once).
pub const EVENTS_PER_INSTANT_MAX: u64 = 200_000;
/// Events per simulated second the run's cap allows, ~30× the busiest built-in scenario.
pub const EVENTS_PER_SIM_S_MAX: u64 = 500_000;
/// Events per message the producers may send (a send, its store batch, WAL frames and acks to
/// two slaves, fsyncs, the response, the delivery and its ack take ~20).
pub const EVENTS_PER_MESSAGE_MAX: u64 = 200;

/// The run's event cap: generous for its duration and its workload.
fn events_max(spec: &Spec) -> u64 {
    let messages: f64 = spec
        .workload
        .iter()
        .flat_map(|c| {
            c.producers
                .iter()
                .map(move |p| p.rate_per_s * c.stop_ms.saturating_sub(c.start_ms) as f64 / 1000.0)
        })
        .sum();
    1_000_000
        + EVENTS_PER_SIM_S_MAX * (spec.duration_ms / 1000)
        + EVENTS_PER_MESSAGE_MAX * messages.ceil() as u64
}

/// How often (in events handled) a run looks whether it was cancelled (Ctrl-C): a few
/// milliseconds of wall time.
pub const CANCEL_CHECK_EVENTS: u64 = 4096;

/// Why [`World::run_until`] stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Livelock(Livelock),
    Cancelled,
}

/// The run stopped making progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Livelock {
    pub at: Time,
    pub events: u64,
    pub same_instant: bool,
}

/// `tcp_syn_retries`: retransmissions of an unanswered SYN (after 1, 2, 4, 8, 16, 32 s).
const SYN_RETRIES: u32 = 6;

pub struct World {
    pub layout: Layout,
    spec: Spec,
    settings: Settings,
    seed: u64,
    now: Time,
    /// Events by (time, insertion order): equal times run in insertion order.
    queue: EventQueue<Event>,
    hosts_alive: Vec<bool>,
    procs: Vec<Proc>,
    listeners: BTreeMap<(HostId, u16), usize>,
    conns: Vec<Conn>,
    next_in_conn: u64,
    /// Directed cuts between hosts, by the step that made them.
    partitions: BTreeMap<String, Vec<(HostId, HostId)>>,
    cuts: BTreeMap<(HostId, HostId), u32>,
    /// The environment's draws: latencies, fsync times.
    rng: Rng,
    /// The settings' ranges of those draws, prepared once.
    loopback_latency: Uniform,
    lan_latency: Uniform,
    fsync: Uniform,
    /// The fault schedule's own draws (step times, random targets), so a seed's faults stay
    /// where they are when the model changes how many latencies it draws.
    faults: Rng,
    timer_generation: u64,
    step_targets: BTreeMap<String, usize>,
    /// For each step, the steps whose `after` names it, in file order.
    followers: Vec<Vec<usize>>,
    /// Set while performing a step that turns out to do nothing, with the reason.
    step_ineffective: Option<&'static str>,
    pub history: History,
    pub trace: Trace,
    pub last_step_at: Time,
    events_handled: u64,
    /// Events handled at the current instant.
    instant_events: u64,
    events_max: u64,
    /// The process whose handler runs now: its node is out of `procs` meanwhile (see
    /// [`Applier`]).
    handling: Option<usize>,
}

/// A handler's effects sink: the world carries out each effect as the process makes it, with
/// the process's node taken out of `procs` for the call. No effect reaches back into the
/// process (its connects, packets, fsyncs and timers answer later as inputs), so applying them
/// during the call does what applying them after it, in order, would; it saves buffering each
/// as a 104-byte value and moving it twice more.
struct Applier<'w> {
    world: &'w mut World,
    process: usize,
}

impl Effects for Applier<'_> {
    /// Never inlined: with [`call_handler`], the frames by which a profile tells the
    /// handlers' time from the world's (`benches::profile`).
    #[inline(never)]
    fn push(&mut self, effect: Effect) {
        self.world.apply_one(self.process, effect);
    }
}

/// Calls one handler of a process. Never inlined and never tail-called, so that a profile can
/// tell the time spent below this frame (the process's own, except below [`Applier::push`])
/// from the world's (`benches::profile`).
#[inline(never)]
fn call_handler(handler: impl FnOnce(&mut Node, &mut dyn Effects), node: &mut Node, fx: &mut Applier) {
    handler(node, fx);
    // Something after the call, so that it is not a tail call: the frame must stay on the stack.
    std::hint::black_box(node);
}

/// Builds a process from its disk: the process's own work, in a frame a profile can tell from
/// the world's, like [`call_handler`].
#[inline(never)]
fn build_process(build: impl FnOnce() -> Node) -> Node {
    let node = build();
    std::hint::black_box(&node);
    node
}

impl World {
    pub fn new(spec: &Spec, seed: u64) -> World {
        let layout = Layout::build(spec, seed);
        let procs = layout
            .processes
            .iter()
            .map(|p| Proc {
                host: p.host,
                node: None,
                incarnation: 0,
                paused: false,
                backlog: VecDeque::new(),
                pauses: 0,
                disk_epoch: 0,
                disk: Disk::default(),
                timers: Unordered::default(),
                conns: SmallMap::default(),
            })
            .collect();
        World {
            hosts_alive: vec![true; layout.hosts.len()],
            layout,
            settings: spec.settings.clone(),
            spec: spec.clone(),
            seed,
            now: Time::ZERO,
            queue: EventQueue::default(),
            procs,
            listeners: BTreeMap::new(),
            conns: Vec::new(),
            next_in_conn: 0,
            partitions: BTreeMap::new(),
            cuts: BTreeMap::new(),
            rng: Rng::new(seed, u64::MAX),
            loopback_latency: uniform(spec.settings.loopback_latency_us),
            lan_latency: uniform(spec.settings.lan_latency_us),
            fsync: uniform(spec.settings.fsync_us),
            faults: Rng::new(seed, u64::MAX - 1),
            timer_generation: 0,
            step_targets: BTreeMap::new(),
            followers: followers(spec),
            step_ineffective: None,
            history: History::default(),
            trace: Trace::default(),
            last_step_at: Time::ZERO,
            events_handled: 0,
            instant_events: 0,
            events_max: events_max(spec),
            handling: None,
        }
    }

    fn schedule(&mut self, at: Time, event: Event) {
        assert!(at >= self.now, "event scheduled in the past");
        self.queue.push(Lane::Soon, at, event);
    }

    /// Starts every process and schedules the steps that have absolute times.
    pub fn boot(&mut self) {
        for process in 0..self.procs.len() {
            self.start_process(process);
        }
        for index in 0..self.spec.steps.len() {
            if self.spec.steps[index].at.after.is_none() {
                let at = self.spec.steps[index].at.clone();
                let delay = self.faults.range_inclusive(at.min_ms, at.max_ms);
                self.schedule(Time::from_ms(delay), Event::Step { index });
            }
        }
    }

    /// Processes every event due at or before `end`, in order, and leaves the clock at `end`.
    /// Stops early with [`Stop::Livelock`] when simulated time stops advancing or the run's
    /// event cap is reached, or with [`Stop::Cancelled`] when `cancel` is set (looked at every
    /// [`CANCEL_CHECK_EVENTS`] events).
    pub fn run_until(&mut self, end: Time, cancel: Option<&AtomicBool>) -> Result<(), Stop> {
        if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
            return Err(Stop::Cancelled);
        }
        while let Some((time, event)) = self.queue.pop_due(end) {
            if time == self.now {
                self.instant_events += 1;
            } else {
                self.instant_events = 1;
            }
            self.events_handled += 1;
            self.now = time;
            if self.instant_events > EVENTS_PER_INSTANT_MAX {
                let stuck = Livelock { at: time, events: self.instant_events, same_instant: true };
                return Err(Stop::Livelock(stuck));
            }
            if self.events_handled > self.events_max {
                let stuck = Livelock { at: time, events: self.events_handled, same_instant: false };
                return Err(Stop::Livelock(stuck));
            }
            if self.events_handled.is_multiple_of(CANCEL_CHECK_EVENTS)
                && cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            {
                return Err(Stop::Cancelled);
            }
            self.handle(event);
        }
        self.now = end;
        Ok(())
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Input { process, incarnation, input } => {
                if self.procs[process].incarnation == incarnation {
                    self.deliver(process, *input);
                }
            }
            Event::Timer { process, incarnation, timer, generation, seq } => {
                let proc = &mut self.procs[process];
                if proc.incarnation != incarnation {
                    return;
                }
                let Entry::Occupied(mut slot) = proc.timers.entry(timer) else {
                    return;
                };
                let armed = slot.get_mut();
                if armed.generation != generation {
                    return;
                }
                if (armed.at, armed.seq) != (self.now, seq) {
                    // Re-armed later meanwhile: on to its time, in its place.
                    assert!(
                        (armed.at, armed.seq) > (self.now, seq),
                        "a timer re-armed earlier is queued anew"
                    );
                    armed.queued = Some((armed.at, armed.seq));
                    let (at, seq) = (armed.at, armed.seq);
                    self.queue.push_numbered(
                        Lane::Timers,
                        at,
                        seq,
                        Event::Timer { process, incarnation, timer, generation, seq },
                    );
                    return;
                }
                if proc.paused {
                    // Fires at resume, unless something before it re-arms or cancels it.
                    armed.queued = None;
                    proc.backlog.push_back((Input::Timer { timer }, Some(generation)));
                    return;
                }
                slot.remove();
                self.deliver(process, Input::Timer { timer });
            }
            Event::SynArrive { conn } => self.on_syn_arrive(conn),
            Event::SynRetry { conn } => self.send_syn(conn),
            Event::SynAck { conn, refused } => self.on_syn_ack(conn, refused),
            Event::Deliver { conn, dir } => {
                let packet =
                    self.conns[conn].dirs[dir].in_flight.pop_front().expect("a packet per Deliver event");
                self.on_packet(conn, dir, packet)
            }
            Event::Step { index } => self.run_step(index),
            Event::Resume { process, pause } => {
                if self.procs[process].pauses == pause {
                    self.resume(process);
                }
            }
            Event::SyncDone { process, incarnation, disk_epoch, len, token } => {
                // The kernel finishes the flush even if the process died meanwhile, but not if
                // the host did.
                if self.procs[process].disk_epoch != disk_epoch {
                    return;
                }
                let disk = &mut self.procs[process].disk;
                disk.synced_len = disk.synced_len.max(len.min(disk.records.len()));
                if self.procs[process].incarnation == incarnation {
                    self.deliver(process, Input::Synced { token });
                }
            }
        }
    }

    // -------------------------------------------------------------------------------------------
    // Processes.

    fn start_process(&mut self, process: usize) {
        assert!(self.handling.is_none(), "a process started from inside a handler");
        let spec = &self.layout.processes[process];
        let proc = &mut self.procs[process];
        assert!(proc.node.is_none(), "{} started twice", spec.name);
        let stream = (process as u64) << 32 | proc.incarnation as u64;
        let disk = &proc.disk.records[..];
        let (seed, incarnation) = (self.seed, proc.incarnation);
        // Recovering from the disk is the process's own work.
        let node = build_process(|| match &spec.kind {
            ProcessKind::Zk { config, .. } => {
                Node::Zk(Box::new(ZkServer::start(config.clone(), (seed, stream), disk)))
            }
            ProcessKind::Broker { config, .. } => {
                Node::Broker(Box::new(Broker::start(config.clone(), (seed, stream), disk)))
            }
            ProcessKind::Client { config, .. } => {
                Node::Client(Box::new(Client::new(config.clone(), (seed, stream), incarnation)))
            }
        });
        proc.node = Some(node);
        proc.paused = false;
        self.history.push(self.now, Some(process), Kind::Started);
        let now = self.now;
        self.trace.record(&(now, process, "start"));
        crate::narrate::lifecycle(now, &self.layout.processes[process].name, format_args!("process started"));
        self.handle_with(process, |node, fx| node.on_start(now, fx));
    }

    /// `kill -9` (`silent = false`) or loss of the host (`silent = true`: no resets are sent).
    fn crash_process(&mut self, process: usize, silent: bool) {
        assert!(self.handling.is_none(), "a process crashed from inside a handler");
        if silent {
            // A dead host loses its page cache, whether or not the process still ran: written
            // but not fsynced is gone, and fsyncs in flight never complete. After `kill -9` the
            // kernel still has it.
            let proc = &mut self.procs[process];
            proc.disk.records.truncate(proc.disk.synced_len);
            proc.disk_epoch += 1;
        }
        if self.procs[process].node.is_none() {
            return;
        }
        let host = self.procs[process].host;
        {
            let proc = &mut self.procs[process];
            proc.node = None;
            proc.incarnation += 1;
            proc.paused = false;
            proc.backlog.clear();
            proc.timers.clear();
        }
        self.listeners.retain(|_, owner| *owner != process);
        let owned = self.procs[process].conns.take();
        for (_, conn) in owned {
            let dir = self.dir_of(conn, process);
            self.conns[conn].ends[dir].open = false;
            if !self.conns[conn].established {
                continue;
            }
            if silent {
                // The host is gone with its kernel: nothing it had queued will ever be sent.
                self.conns[conn].dirs[dir].stalled.clear();
                continue;
            }
            // The kernel answers for the dead process: the peer sees a reset, at once if it is
            // reachable, or after the heal, behind what was already queued.
            let peer_host = self.conns[conn].ends[1 - dir].host;
            if self.path_up(host, peer_host) {
                self.conns[conn].dirs[dir].stalled.clear();
                self.transmit(conn, dir, Packet::Rst);
            } else {
                self.conns[conn].dirs[dir].stalled.push_back(Packet::Rst);
            }
        }
        self.history.push(self.now, Some(process), Kind::Crashed);
        let now = self.now;
        self.trace.record(&(now, process, "crash", silent));
        let how = if silent { "died with its host (peers hear nothing)" } else { "killed (kill -9)" };
        crate::narrate::lifecycle(now, &self.layout.processes[process].name, format_args!("{how}"));
    }

    fn pause(&mut self, process: usize, duration_ms: u64) {
        assert!(self.handling.is_none(), "a process paused from inside a handler");
        if self.procs[process].node.is_none() || self.procs[process].paused {
            return;
        }
        self.procs[process].paused = true;
        self.procs[process].pauses += 1;
        let pause = self.procs[process].pauses;
        self.history.push(self.now, Some(process), Kind::Paused);
        let name = &self.layout.processes[process].name;
        crate::narrate::fault(self.now, name, format_args!("paused for {duration_ms} ms (a GC pause)"));
        let at = self.now.add_ms(duration_ms);
        self.schedule(at, Event::Resume { process, pause });
    }

    fn resume(&mut self, process: usize) {
        if !self.procs[process].paused {
            return;
        }
        self.procs[process].paused = false;
        self.history.push(self.now, Some(process), Kind::Resumed);
        let backlog = self.procs[process].backlog.len();
        let name = &self.layout.processes[process].name;
        crate::narrate::fault(self.now, name, format_args!("resumed with {backlog} inputs queued"));
        let backlog = std::mem::take(&mut self.procs[process].backlog);
        for (input, generation) in backlog {
            if self.procs[process].node.is_none() {
                break;
            }
            if let (Input::Timer { timer }, Some(generation)) = (&input, generation) {
                if self.procs[process].timers.get(timer).map(|a| a.generation) != Some(generation) {
                    continue;
                }
                self.procs[process].timers.remove(timer);
            }
            self.deliver(process, input);
        }
    }

    fn deliver(&mut self, process: usize, input: Input) {
        // Nothing an effect does delivers at once: a handler's node is out of `procs` while it
        // runs, and an input for it would look like one for a dead process.
        assert!(self.handling.is_none(), "an input delivered from inside a handler");
        let proc = &mut self.procs[process];
        if proc.node.is_none() {
            return;
        }
        if proc.paused {
            proc.backlog.push_back((input, None));
            return;
        }
        let now = self.now;
        self.trace.record_input(now, process, &input);
        let name = &self.layout.processes[process].name;
        crate::narrate::input(now, name, || self.peer_name(process, &input), &input);
        self.handle_with(process, |node, fx| node.on_input(now, input, fx));
    }

    /// Runs one handler of `process` (a running one), its effects carried out as it makes them.
    fn handle_with(&mut self, process: usize, handler: impl FnOnce(&mut Node, &mut dyn Effects)) {
        assert!(self.handling.is_none(), "a handler runs inside another");
        let mut node = self.procs[process].node.take().expect("a running process");
        self.handling = Some(process);
        call_handler(handler, &mut node, &mut Applier { world: self, process });
        self.handling = None;
        let slot = &mut self.procs[process].node;
        assert!(slot.is_none(), "an effect restarted the process whose handler made it");
        *slot = Some(node);
    }

    /// Whether `process` runs (its handler may be the one running now).
    fn running(&self, process: usize) -> bool {
        self.procs[process].node.is_some() || self.handling == Some(process)
    }

    fn apply_one(&mut self, process: usize, effect: Effect) {
        let host = self.procs[process].host;
        let incarnation = self.procs[process].incarnation;
        match effect {
            Effect::Listen { port } => match self.listeners.get(&(host, port)) {
                Some(owner) if *owner != process => {
                    let input = Input::ListenFailed { port };
                    self.schedule(self.now, Event::Input { process, incarnation, input: Box::new(input) });
                }
                _ => {
                    self.listeners.insert((host, port), process);
                }
            },
            Effect::Unlisten { port } => {
                if self.listeners.get(&(host, port)) == Some(&process) {
                    self.listeners.remove(&(host, port));
                }
            }
            Effect::Connect { conn: local, target } => {
                let end = End { process, host, incarnation, local, open: true };
                let placeholder = End {
                    process: usize::MAX,
                    host: target.host,
                    incarnation: 0,
                    local: ConnId::In(0),
                    open: false,
                };
                let index = self.conns.len();
                self.conns.push(Conn {
                    ends: [end, placeholder],
                    established: false,
                    syn_retries: 0,
                    dirs: [Direction::default(), Direction::default()],
                    target_host: target.host,
                    target_port: target.port,
                });
                self.procs[process].conns.insert(local, index);
                self.send_syn(index);
            }
            Effect::Send { conn: local, message } => {
                let Some(&conn) = self.procs[process].conns.get(&local) else {
                    return;
                };
                if !self.conns[conn].established {
                    return;
                }
                let dir = self.dir_of(conn, process);
                self.send_packet(conn, dir, Packet::Data(message));
            }
            Effect::Close { conn: local } => {
                let Some(conn) = self.procs[process].conns.remove(&local) else {
                    return;
                };
                let dir = self.dir_of(conn, process);
                self.conns[conn].ends[dir].open = false;
                if self.conns[conn].established {
                    self.send_packet(conn, dir, Packet::Fin);
                }
            }
            Effect::SetTimer { timer, at } => {
                let at = at.max(self.now);
                let seq = self.queue.next_seq();
                let slot = match self.procs[process].timers.entry(timer) {
                    Entry::Occupied(mut armed) if armed.get().queued.is_some_and(|queued| queued.0 <= at) => {
                        // Its queued fire event will carry it on to `at`.
                        let armed = armed.get_mut();
                        armed.at = at;
                        armed.seq = seq;
                        return;
                    }
                    slot => slot,
                };
                self.timer_generation += 1;
                let generation = self.timer_generation;
                let armed = Armed { generation, at, seq, queued: Some((at, seq)) };
                slot.insert_entry(armed);
                self.queue.push_numbered(
                    Lane::Timers,
                    at,
                    seq,
                    Event::Timer { process, incarnation, timer, generation, seq },
                );
            }
            Effect::CancelTimer { timer } => {
                self.procs[process].timers.remove(&timer);
            }
            Effect::Append { record } => {
                let disk = &mut self.procs[process].disk;
                let zk = matches!(record, Record::Zk(_));
                disk.records.push(record);
                // ZooKeeper fsyncs its log before acknowledging: its records are durable at once.
                if zk {
                    disk.synced_len = disk.records.len();
                }
            }
            Effect::Sync { token } => {
                let len = self.procs[process].disk.records.len();
                let at = self.now.add_us(self.rng.draw(&self.fsync));
                let disk_epoch = self.procs[process].disk_epoch;
                self.schedule(at, Event::SyncDone { process, incarnation, disk_epoch, len, token });
            }
            Effect::Observe { observation } => {
                let now = self.now;
                self.trace.record(&(now, process, &observation));
                let hosts = &self.layout.hosts;
                let host = |h: HostId| {
                    hosts.get(h.0 as usize).map_or_else(|| format!("h{}", h.0), |h| h.name.clone())
                };
                crate::narrate::observation(now, &self.layout.processes[process].name, &observation, host);
                self.history.push(now, Some(process), Kind::Observed(observation));
            }
        }
    }

    // -------------------------------------------------------------------------------------------
    // Network.

    fn dir_of(&self, conn: usize, process: usize) -> usize {
        if self.conns[conn].ends[0].process == process {
            0
        } else {
            assert_eq!(self.conns[conn].ends[1].process, process, "not an end of this connection");
            1
        }
    }

    fn path_up(&self, from: HostId, to: HostId) -> bool {
        self.hosts_alive[from.0 as usize]
            && self.hosts_alive[to.0 as usize]
            && (from == to || !self.cuts.contains_key(&(from, to)))
    }

    fn latency(&mut self, from: HostId, to: HostId) -> u64 {
        let range = if from == to { &self.loopback_latency } else { &self.lan_latency };
        self.rng.draw(range)
    }

    /// When a packet of `bytes` sent now on `dir` arrives: it leaves when the link is free,
    /// takes its transmission time at the link's bandwidth, then the latency; FIFO per direction.
    fn arrival(&mut self, conn: usize, dir: usize, bytes: u64) -> Time {
        let from = self.conns[conn].ends[dir].host;
        let to = self.conns[conn].ends[1 - dir].host;
        let mbit = if from == to { self.settings.loopback_mbit_per_s } else { self.settings.lan_mbit_per_s };
        let transmit_us = bytes * 8 / mbit.max(1);
        let depart = self.now.max(self.conns[conn].dirs[dir].tx_free).add_us(transmit_us);
        self.conns[conn].dirs[dir].tx_free = depart;
        let at = depart.add_us(self.latency(from, to)).max(self.conns[conn].dirs[dir].last_arrival);
        self.conns[conn].dirs[dir].last_arrival = at;
        at
    }

    fn send_packet(&mut self, conn: usize, dir: usize, packet: Packet) {
        let from = self.conns[conn].ends[dir].host;
        let to = self.conns[conn].ends[1 - dir].host;
        if !self.conns[conn].dirs[dir].stalled.is_empty() || !self.path_up(from, to) {
            self.conns[conn].dirs[dir].stalled.push_back(packet);
            return;
        }
        self.transmit(conn, dir, packet);
    }

    /// Puts a packet on the wire of `conn`'s direction `dir`. Its arrival comes from
    /// [`World::arrival`], never before the packets already on the wire, so the wire's front
    /// packet is always the next `Deliver` event's.
    fn transmit(&mut self, conn: usize, dir: usize, packet: Packet) {
        let at = self.arrival(conn, dir, packet_size(&packet));
        self.conns[conn].dirs[dir].in_flight.push_back(packet);
        self.schedule(at, Event::Deliver { conn, dir });
    }

    /// Sends (or retransmits) a connection's SYN. SYN and SYN-ACK both need a path and a live
    /// target host; otherwise nothing comes back and the kernel retries with a doubling timeout.
    fn send_syn(&mut self, conn: usize) {
        let initiator = self.conns[conn].ends[0];
        let alive = self.running(initiator.process)
            && self.procs[initiator.process].incarnation == initiator.incarnation;
        if !initiator.open || !alive || self.conns[conn].established {
            return;
        }
        let host = self.procs[initiator.process].host;
        let target = self.conns[conn].target_host;
        if self.path_up(host, target) && self.path_up(target, host) {
            let at = self.now.add_us(self.latency(host, target));
            self.conns[conn].dirs[0].last_arrival = at;
            self.schedule(at, Event::SynArrive { conn });
            return;
        }
        // Retransmissions after 1, 2, 4, .. 32 s; the last one is given 64 s before the connect
        // fails (127 s in all).
        let retries = self.conns[conn].syn_retries;
        if retries <= SYN_RETRIES {
            self.conns[conn].syn_retries += 1;
            self.schedule(self.now.add_ms(1000 << retries), Event::SynRetry { conn });
        } else {
            // ETIMEDOUT, 127 s after the first SYN.
            self.procs[initiator.process].conns.remove(&initiator.local);
            self.conns[conn].ends[0].open = false;
            let input = Input::ConnectFailed { conn: initiator.local, error: ConnectError::TimedOut };
            self.deliver(initiator.process, input);
        }
    }

    fn on_syn_arrive(&mut self, conn: usize) {
        let initiator = self.conns[conn].ends[0];
        let source_host = self.procs[initiator.process].host;
        let target_host = self.conns[conn].target_host;
        if !self.hosts_alive[target_host.0 as usize] {
            // The host died while the SYN was on its way: retransmit later.
            self.send_syn(conn);
            return;
        }
        if !initiator.open {
            return;
        }
        if !self.path_up(target_host, source_host) {
            // The way back was cut while the SYN travelled: the SYN-ACK is lost; retransmit.
            self.send_syn(conn);
            return;
        }
        let port = self.conns[conn].target_port;
        let listener = self.listeners.get(&(target_host, port)).copied();
        // The SYN-ACK (or RST) leaves first: whatever the acceptor sends arrives after it.
        let at = self.now.add_us(self.latency(target_host, source_host));
        self.conns[conn].dirs[1].last_arrival = at;
        self.schedule(at, Event::SynAck { conn, refused: listener.is_none() });
        if let Some(process) = listener {
            self.next_in_conn += 1;
            let local = ConnId::In(self.next_in_conn);
            let incarnation = self.procs[process].incarnation;
            let host = self.procs[process].host;
            self.conns[conn].ends[1] = End { process, host, incarnation, local, open: true };
            self.conns[conn].established = true;
            self.procs[process].conns.insert(local, conn);
            self.deliver(process, Input::Accepted { conn: local, port });
        }
    }

    fn on_syn_ack(&mut self, conn: usize, refused: bool) {
        let initiator = self.conns[conn].ends[0];
        if !initiator.open || self.procs[initiator.process].incarnation != initiator.incarnation {
            return;
        }
        if refused {
            self.procs[initiator.process].conns.remove(&initiator.local);
            self.conns[conn].ends[0].open = false;
            let input = Input::ConnectFailed { conn: initiator.local, error: ConnectError::Refused };
            self.deliver(initiator.process, input);
        } else {
            self.deliver(initiator.process, Input::Connected { conn: initiator.local });
        }
    }

    fn on_packet(&mut self, conn: usize, dir: usize, packet: Packet) {
        let receiver = self.conns[conn].ends[1 - dir];
        let alive = self.procs[receiver.process].node.is_some()
            && self.procs[receiver.process].incarnation == receiver.incarnation;
        if !alive || !receiver.open {
            // Data for a socket that no longer exists: the receiving kernel resets the sender.
            let sender = self.conns[conn].ends[dir];
            let receiver_host = receiver.host;
            let sender_host = sender.host;
            if matches!(packet, Packet::Data(_)) && sender.open && self.path_up(receiver_host, sender_host) {
                self.transmit(conn, 1 - dir, Packet::Rst);
            }
            return;
        }
        match packet {
            Packet::Data(message) => {
                self.deliver(receiver.process, Input::Received { conn: receiver.local, message })
            }
            Packet::Fin | Packet::Rst => {
                let reason =
                    if matches!(packet, Packet::Fin) { CloseReason::Eof } else { CloseReason::Reset };
                self.conns[conn].ends[1 - dir].open = false;
                self.procs[receiver.process].conns.remove(&receiver.local);
                self.deliver(receiver.process, Input::Closed { conn: receiver.local, reason });
            }
        }
    }

    /// Delivers data that stalled behind a partition, now that paths may be up again.
    fn flush_stalled(&mut self) {
        for conn in 0..self.conns.len() {
            for dir in 0..2 {
                if self.conns[conn].dirs[dir].stalled.is_empty() {
                    continue;
                }
                let from = self.conns[conn].ends[dir].host;
                let to = self.conns[conn].ends[1 - dir].host;
                if !self.path_up(from, to) {
                    continue;
                }
                let stalled = std::mem::take(&mut self.conns[conn].dirs[dir].stalled);
                for packet in stalled {
                    self.transmit(conn, dir, packet);
                }
            }
        }
    }

    // -------------------------------------------------------------------------------------------
    // Faults.

    fn run_step(&mut self, index: usize) {
        let step = self.spec.steps[index].clone();
        self.last_step_at = self.now;
        let resolved = self.perform(&step.id, &step.action);
        let now = self.now;
        match resolved {
            Ok(process) => {
                if let Some(process) = process {
                    self.step_targets.insert(step.id.clone(), process);
                }
                self.history.push(now, process, Kind::Step { id: step.id.clone() });
                self.trace.record(&(now, "step", &step.id, process));
                let who = process.map(|p| self.layout.processes[p].name.as_str()).unwrap_or("");
                crate::narrate::fault(now, who, format_args!("step {}: {}", step.id, step.action));
                if let Some(why) = self.step_ineffective.take() {
                    self.history.push(now, process, Kind::StepIneffective { id: step.id.clone(), why });
                    self.trace.record(&(now, "ineffective", &step.id));
                    crate::narrate::fault(now, who, format_args!("step {} had no effect: {why}", step.id));
                }
            }
            Err(()) => {
                self.history.push(now, None, Kind::StepUnresolved { id: step.id.clone() });
                self.trace.record(&(now, "unresolved", &step.id));
                crate::narrate::fault(
                    now,
                    "",
                    format_args!("step {}: {} found no target", step.id, step.action),
                );
            }
        }
        // Steps that follow this one are scheduled relative to it.
        for i in 0..self.followers[index].len() {
            let next = self.followers[index][i];
            let at = self.spec.steps[next].at.clone();
            let delay = self.faults.range_inclusive(at.min_ms, at.max_ms);
            let at = self.now.add_ms(delay);
            self.schedule(at, Event::Step { index: next });
        }
    }

    /// Performs an action; returns the process it acted on, or `Err` if its target was absent.
    fn perform(&mut self, id: &str, action: &Action) -> Result<Option<usize>, ()> {
        match action {
            Action::Crash(target) => {
                let process = self.resolve(target)?;
                self.crash_process(process, false);
                Ok(Some(process))
            }
            Action::Restart(target) => {
                let process = self.resolve(target)?;
                let host_up = self.hosts_alive[self.procs[process].host.0 as usize];
                match (self.procs[process].node.is_some(), host_up) {
                    (false, true) => self.start_process(process),
                    (true, _) => self.step_ineffective = Some("its process was already running"),
                    (false, false) => self.step_ineffective = Some("its process's host is down"),
                }
                Ok(Some(process))
            }
            Action::Pause { target, duration_ms } => {
                let process = self.resolve(target)?;
                self.pause(process, *duration_ms);
                Ok(Some(process))
            }
            Action::HostCrash(hosts) => {
                let (hosts, process) = self.resolve_hosts(hosts)?;
                for host in hosts {
                    self.hosts_alive[host.0 as usize] = false;
                    for p in 0..self.procs.len() {
                        if self.procs[p].host == host {
                            self.crash_process(p, true);
                        }
                    }
                }
                Ok(process)
            }
            Action::HostRestart(hosts) => {
                let (hosts, process) = self.resolve_hosts(hosts)?;
                for host in hosts {
                    self.hosts_alive[host.0 as usize] = true;
                    for p in 0..self.procs.len() {
                        if self.procs[p].host == host && self.procs[p].node.is_none() {
                            self.start_process(p);
                        }
                    }
                }
                self.flush_stalled();
                Ok(process)
            }
            Action::Partition { from, to, one_way } => {
                let mut sources = BTreeSet::new();
                let mut targets = BTreeSet::new();
                let mut first = None;
                for hosts in from {
                    let (set, process) = self.resolve_hosts(hosts)?;
                    first = first.or(process);
                    sources.extend(set);
                }
                for hosts in to {
                    let (set, _) = self.resolve_hosts(hosts)?;
                    targets.extend(set);
                }
                let mut cuts = Vec::new();
                for a in &sources {
                    for b in &targets {
                        if a != b {
                            cuts.push((*a, *b));
                            if !one_way {
                                cuts.push((*b, *a));
                            }
                        }
                    }
                }
                if cuts.is_empty() {
                    self.step_ineffective =
                        Some("its host sets leave nothing to cut (the same hosts on both sides)");
                }
                for cut in &cuts {
                    *self.cuts.entry(*cut).or_insert(0) += 1;
                }
                self.partitions.insert(id.to_string(), cuts);
                Ok(first)
            }
            Action::Heal { step } => {
                let healed: Vec<String> = match step {
                    Some(step) => vec![step.clone()],
                    None => self.partitions.keys().cloned().collect(),
                };
                for step in healed {
                    for cut in self.partitions.remove(&step).unwrap_or_default() {
                        let count = self.cuts.get_mut(&cut).expect("a counted cut");
                        *count -= 1;
                        if *count == 0 {
                            self.cuts.remove(&cut);
                        }
                    }
                }
                self.flush_stalled();
                Ok(None)
            }
        }
    }

    /// The process at the other end of the connection an input is about, for the trace.
    fn peer_name(&self, process: usize, input: &Input) -> Option<String> {
        let local = match input {
            Input::Connected { conn }
            | Input::ConnectFailed { conn, .. }
            | Input::Accepted { conn, .. }
            | Input::Received { conn, .. }
            | Input::Closed { conn, .. } => *conn,
            Input::ListenFailed { .. } | Input::Timer { .. } | Input::Synced { .. } => return None,
        };
        let conn = &self.conns[*self.procs[process].conns.get(&local)?];
        let peer = conn.ends.iter().find(|e| e.process != process && e.process != usize::MAX)?;
        Some(self.layout.processes[peer.process].name.clone())
    }

    fn broker(&self, process: usize) -> Option<&Broker> {
        match self.procs[process].node.as_ref()? {
            Node::Broker(broker) => Some(broker),
            _ => None,
        }
    }

    fn zk(&self, process: usize) -> Option<&ZkServer> {
        match self.procs[process].node.as_ref()? {
            Node::Zk(server) => Some(server),
            _ => None,
        }
    }

    /// Messages held by each group's serving masters now (pending or in flight; a paused master
    /// still holds its), for the final accounting: a message still stored is not lost.
    pub fn held_messages(&self) -> Vec<(u32, Msg)> {
        let mut held = Vec::new();
        for p in 0..self.procs.len() {
            let (Some(group), Some(broker)) = (self.layout.processes[p].group(), self.broker(p)) else {
                continue;
            };
            if broker.is_serving() {
                held.extend(broker.held_messages().into_iter().map(|m| (group, m)));
            }
        }
        held
    }

    fn group_brokers(&self, group: u32) -> Vec<usize> {
        (0..self.procs.len()).filter(|p| self.layout.processes[*p].group() == Some(group)).collect()
    }

    fn ensemble_servers(&self, ensemble: u32) -> Vec<usize> {
        (0..self.procs.len())
            .filter(|p| {
                self.layout.processes[*p].is_zk() && self.layout.processes[*p].ensemble() == Some(ensemble)
            })
            .collect()
    }

    fn pick(&mut self, candidates: Vec<usize>) -> Result<usize, ()> {
        if candidates.is_empty() {
            return Err(());
        }
        let i = self.faults.range(0, candidates.len() as u64) as usize;
        Ok(candidates[i])
    }

    fn resolve(&mut self, target: &Target) -> Result<usize, ()> {
        match target {
            Target::Process(name) => self.layout.process_named(name).ok_or(()),
            Target::Master(group) => {
                let serving: Vec<usize> = self
                    .group_brokers(*group)
                    .into_iter()
                    .filter(|p| self.broker(*p).is_some_and(|b| b.is_serving()))
                    .collect();
                self.pick(serving)
            }
            Target::RandomSlave(group) => {
                let slaves: Vec<usize> = self
                    .group_brokers(*group)
                    .into_iter()
                    .filter(|p| self.broker(*p).is_some_and(|b| !b.is_serving()))
                    .collect();
                self.pick(slaves)
            }
            Target::Oldest(group) | Target::Youngest(group) => {
                let mut members: Vec<(String, usize)> = self
                    .group_brokers(*group)
                    .into_iter()
                    .filter_map(|p| Some((self.broker(p)?.my_eid()?, p)))
                    .collect();
                members.sort();
                let chosen =
                    if matches!(target, Target::Oldest(_)) { members.first() } else { members.last() };
                chosen.map(|(_, p)| *p).ok_or(())
            }
            Target::ZkLeader(ensemble) => {
                let leaders: Vec<usize> = self
                    .ensemble_servers(*ensemble)
                    .into_iter()
                    .filter(|p| self.zk(*p).is_some_and(|s| s.is_leading() && s.is_serving()))
                    .collect();
                self.pick(leaders)
            }
            Target::ZkFollower(ensemble) => {
                let followers: Vec<usize> = self
                    .ensemble_servers(*ensemble)
                    .into_iter()
                    .filter(|p| self.zk(*p).is_some_and(|s| s.is_following() && s.is_serving()))
                    .collect();
                self.pick(followers)
            }
            Target::Step(id) => self.step_targets.get(id).copied().ok_or(()),
        }
    }

    fn resolve_hosts(&mut self, hosts: &Hosts) -> Result<(Vec<HostId>, Option<usize>), ()> {
        match hosts {
            Hosts::Named(name) => Ok((vec![self.layout.host_named(name).ok_or(())?], None)),
            Hosts::HostOf(target) => {
                let process = self.resolve(target)?;
                Ok((vec![self.procs[process].host], Some(process)))
            }
            Hosts::ZkHosts => Ok((self.host_ids(|n| n.starts_with("zkhost")), None)),
            Hosts::BrokerHosts => Ok((self.host_ids(|n| n.starts_with("mq")), None)),
        }
    }

    fn host_ids(&self, keep: impl Fn(&str) -> bool) -> Vec<HostId> {
        (0..self.layout.hosts.len())
            .filter(|i| keep(&self.layout.hosts[*i].name))
            .map(|i| HostId(i as u16))
            .collect()
    }
}

/// For each step, the indices of the steps scheduled after it (linear in the number of steps).
fn followers(spec: &Spec) -> Vec<Vec<usize>> {
    let index: BTreeMap<&str, usize> =
        spec.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let mut followers = vec![Vec::new(); spec.steps.len()];
    for (i, step) in spec.steps.iter().enumerate() {
        if let Some(after) = &step.at.after {
            followers[index[after.as_str()]].push(i);
        }
    }
    followers
}

fn uniform((low, high): (u64, u64)) -> Uniform {
    Uniform::inclusive(low, high)
}

fn packet_size(packet: &Packet) -> u64 {
    match packet {
        Packet::Data(message) => message.wire_size(),
        Packet::Fin | Packet::Rst => 0,
    }
}
