//! Criterion benchmarks live in `benches/benches/`. This library holds the bare-model driver
//! they share: the model's state machines exchanging their messages directly, without the
//! world.
//!
//! [`Direct`] runs a scenario's processes (the same configurations and seeds the world would
//! give them) on an instant network: a message is delivered at the instant it is sent, in
//! send order; a connect reaches the listener at once or is refused; an fsync completes at
//! once; a timer fires at its time. There are no latencies, bandwidth, faults, disks to keep,
//! history or trace. What a run of it costs is what the model costs for that traffic, which
//! is the yardstick the whole-run benchmarks are read against (benches/README.md).
//!
//! The driver is kept lean, so that it shows what a driver without any fidelity costs: it
//! carries out each effect as the handler makes it (like the world's `Applier`), finds a
//! connection's peer and a process's armed timer in the world's own small maps, and keeps its
//! timers in a binary heap.

pub mod profile;

use broker_model::broker::Broker;
use broker_model::client::Client;
use broker_model::io::{CloseReason, Effects};
use broker_model::node::Node;
use broker_model::zk::server::ZkServer;
use broker_model::{ConnId, Effect, Input, Observation, Time, TimerId};
use sim::small_map::{SmallMap, Unordered};
use sim::topology::{Layout, ProcessKind};
use sim::Spec;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// What a direct run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Inputs handled by the processes.
    pub inputs: u64,
    /// Application messages delivered to consumers.
    pub delivered: u64,
    /// Sends the brokers acknowledged.
    pub acked: u64,
}

/// The scenario's processes on an instant network.
pub struct Direct {
    nodes: Vec<Node>,
    net: Net,
}

/// A timer's firing, ordered by (time, the order it was armed in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Firing {
    at: Time,
    order: u64,
    process: usize,
    timer: TimerId,
}

/// Everything but the processes: what the handlers' effects act on.
struct Net {
    hosts: Vec<broker_model::HostId>,
    now: Time,
    /// Inputs due now, in order.
    ready: VecDeque<(usize, Input)>,
    /// Timers by (time, order); a firing whose order is no longer its timer's is stale.
    timers: BinaryHeap<Reverse<Firing>>,
    /// Each process's armed timers → the order of their live firing.
    armed: Vec<Unordered<TimerId, u64>>,
    order: u64,
    listeners: BTreeMap<(broker_model::HostId, u16), usize>,
    /// Each process's connections → (peer process, the peer's id).
    conns: Vec<SmallMap<ConnId, (usize, ConnId)>>,
    next_in: u64,
    counts: Counts,
}

/// A handler's effects sink: carries out each effect as the process makes it. Never inlined,
/// so that a profile tells the driver's time from the handlers' (`profile`).
struct Wire<'n> {
    net: &'n mut Net,
    process: usize,
}

impl Effects for Wire<'_> {
    #[inline(never)]
    fn push(&mut self, effect: Effect) {
        self.net.apply(self.process, effect);
        // Not a tail call (the effect's drop would jump out of this frame and be counted as
        // the handler's): the frame must stay on the stack.
        std::hint::black_box(&mut *self);
    }
}

impl Direct {
    /// Starts every process of `spec`'s layout with the configurations and random streams the
    /// world would give them for `seed`.
    pub fn start(spec: &Spec, seed: u64) -> Direct {
        let layout = Layout::build(spec, seed);
        let processes = layout.processes.len();
        let mut direct = Direct {
            nodes: Vec::new(),
            net: Net {
                hosts: layout.processes.iter().map(|p| p.host).collect(),
                now: Time::ZERO,
                ready: VecDeque::new(),
                timers: BinaryHeap::new(),
                armed: (0..processes).map(|_| Unordered::default()).collect(),
                order: 0,
                listeners: BTreeMap::new(),
                conns: (0..processes).map(|_| SmallMap::default()).collect(),
                next_in: 0,
                counts: Counts::default(),
            },
        };
        for (i, process) in layout.processes.iter().enumerate() {
            let stream = (i as u64) << 32;
            let node = call_handler(|| match &process.kind {
                ProcessKind::Zk { config, .. } => {
                    Node::Zk(Box::new(ZkServer::start(config.clone(), (seed, stream), &[])))
                }
                ProcessKind::Broker { config, .. } => {
                    Node::Broker(Box::new(Broker::start(config.clone(), (seed, stream), &[])))
                }
                ProcessKind::Client { config, .. } => {
                    Node::Client(Box::new(Client::new(config.clone(), (seed, stream), 0)))
                }
            });
            direct.nodes.push(node);
        }
        for (process, node) in direct.nodes.iter_mut().enumerate() {
            let fx = &mut Wire { net: &mut direct.net, process };
            call_handler(|| node.on_start(Time::ZERO, fx));
        }
        direct
    }

    /// What the run did so far.
    pub fn counts(&self) -> Counts {
        self.net.counts
    }

    /// Runs until `end` (simulated).
    pub fn run_until(&mut self, end: Time) {
        loop {
            while let Some((process, input)) = self.net.ready.pop_front() {
                self.net.counts.inputs += 1;
                let (node, now) = (&mut self.nodes[process], self.net.now);
                let fx = &mut Wire { net: &mut self.net, process };
                call_handler(|| node.on_input(now, input, fx));
            }
            let Some(&Reverse(firing)) = self.net.timers.peek() else {
                return;
            };
            if firing.at > end {
                self.net.now = end;
                return;
            }
            self.net.timers.pop();
            self.net.now = firing.at;
            let armed = &mut self.net.armed[firing.process];
            if armed.get(&firing.timer) == Some(&firing.order) {
                armed.remove(&firing.timer);
                self.net.ready.push_back((firing.process, Input::Timer { timer: firing.timer }));
            }
        }
    }
}

impl Net {
    fn apply(&mut self, process: usize, effect: Effect) {
        match effect {
            Effect::Listen { port } => {
                self.listeners.entry((self.hosts[process], port)).or_insert(process);
            }
            Effect::Unlisten { port } => {
                let key = (self.hosts[process], port);
                if self.listeners.get(&key) == Some(&process) {
                    self.listeners.remove(&key);
                }
            }
            Effect::Connect { conn, target } => match self.listeners.get(&(target.host, target.port)) {
                Some(&peer) => {
                    self.next_in += 1;
                    let theirs = ConnId::In(self.next_in);
                    self.conns[process].insert(conn, (peer, theirs));
                    self.conns[peer].insert(theirs, (process, conn));
                    self.ready.push_back((peer, Input::Accepted { conn: theirs, port: target.port }));
                    self.ready.push_back((process, Input::Connected { conn }));
                }
                None => self.ready.push_back((
                    process,
                    Input::ConnectFailed { conn, error: broker_model::io::ConnectError::Refused },
                )),
            },
            Effect::Send { conn, message } => {
                if let Some(&(peer, theirs)) = self.conns[process].get(&conn) {
                    self.ready.push_back((peer, Input::Received { conn: theirs, message }));
                }
            }
            Effect::Close { conn } => {
                if let Some((peer, theirs)) = self.conns[process].remove(&conn) {
                    self.conns[peer].remove(&theirs);
                    self.ready.push_back((peer, Input::Closed { conn: theirs, reason: CloseReason::Eof }));
                }
            }
            Effect::SetTimer { timer, at } => {
                self.order += 1;
                let order = self.order;
                *self.armed[process].entry(timer).or_default() = order;
                self.timers.push(Reverse(Firing { at: at.max(self.now), order, process, timer }));
            }
            Effect::CancelTimer { timer } => {
                self.armed[process].remove(&timer);
            }
            Effect::Append { .. } => {}
            Effect::Sync { token } => self.ready.push_back((process, Input::Synced { token })),
            Effect::Observe { observation } => match observation {
                Observation::Delivered { .. } => self.counts.delivered += 1,
                Observation::SendAcked { .. } => self.counts.acked += 1,
                _ => {}
            },
        }
    }
}

/// `spec` without its fault schedule: the steady traffic the bare-model benchmarks measure.
pub fn steady(mut spec: Spec) -> Spec {
    spec.steps.clear();
    spec.sometimes.clear();
    spec.measure_from = None;
    spec
}

/// Runs the processes' own code (a handler, or building a process). Never inlined and never
/// tail-called, like the world's `call_handler`, so that a profile of the direct driver tells
/// the handlers' time from the driver's (`profile`).
#[inline(never)]
fn call_handler<R>(process_code: impl FnOnce() -> R) -> R {
    let result = process_code();
    std::hint::black_box(&result);
    result
}
