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

pub mod profile;

use broker_model::broker::Broker;
use broker_model::client::Client;
use broker_model::io::CloseReason;
use broker_model::node::Node;
use broker_model::zk::server::ZkServer;
use broker_model::{ConnId, Effect, Input, Observation, Time, TimerId};
use sim::topology::{Layout, ProcessKind};
use sim::Spec;
use std::collections::{BTreeMap, VecDeque};

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
    hosts: Vec<broker_model::HostId>,
    now: Time,
    /// Inputs due now, in order.
    ready: VecDeque<(usize, Input)>,
    /// Timers by (time, order): (process, timer, generation).
    timers: BTreeMap<(Time, u64), (usize, TimerId, u64)>,
    armed: Vec<BTreeMap<TimerId, u64>>,
    order: u64,
    listeners: BTreeMap<(broker_model::HostId, u16), usize>,
    /// (process, its id) → (peer process, the peer's id).
    conns: BTreeMap<(usize, ConnId), (usize, ConnId)>,
    next_in: u64,
    pub counts: Counts,
}

impl Direct {
    /// Starts every process of `spec`'s layout with the configurations and random streams the
    /// world would give them for `seed`.
    pub fn start(spec: &Spec, seed: u64) -> Direct {
        let layout = Layout::build(spec, seed);
        let mut direct = Direct {
            nodes: Vec::new(),
            hosts: layout.processes.iter().map(|p| p.host).collect(),
            now: Time::ZERO,
            ready: VecDeque::new(),
            timers: BTreeMap::new(),
            armed: vec![BTreeMap::new(); layout.processes.len()],
            order: 0,
            listeners: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_in: 0,
            counts: Counts::default(),
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
        for i in 0..direct.nodes.len() {
            let mut fx = Vec::new();
            call_handler(|| direct.nodes[i].on_start(Time::ZERO, &mut fx));
            direct.apply(i, &mut fx);
        }
        direct
    }

    /// Runs until `end` (simulated).
    pub fn run_until(&mut self, end: Time) {
        let mut fx = Vec::new();
        loop {
            while let Some((process, input)) = self.ready.pop_front() {
                self.counts.inputs += 1;
                let (node, now) = (&mut self.nodes[process], self.now);
                call_handler(|| node.on_input(now, input, &mut fx));
                self.apply(process, &mut fx);
            }
            let Some((&(at, order), &(process, timer, generation))) = self.timers.iter().next() else {
                return;
            };
            if at > end {
                self.now = end;
                return;
            }
            self.timers.remove(&(at, order));
            self.now = at;
            if self.armed[process].get(&timer) == Some(&generation) {
                self.armed[process].remove(&timer);
                self.ready.push_back((process, Input::Timer { timer }));
            }
        }
    }

    fn apply(&mut self, process: usize, fx: &mut Vec<Effect>) {
        let host = self.hosts[process];
        for effect in fx.drain(..) {
            match effect {
                Effect::Listen { port } => {
                    self.listeners.entry((host, port)).or_insert(process);
                }
                Effect::Unlisten { port } => {
                    if self.listeners.get(&(host, port)) == Some(&process) {
                        self.listeners.remove(&(host, port));
                    }
                }
                Effect::Connect { conn, target } => match self.listeners.get(&(target.host, target.port)) {
                    Some(&peer) => {
                        self.next_in += 1;
                        let theirs = ConnId::In(self.next_in);
                        self.conns.insert((process, conn), (peer, theirs));
                        self.conns.insert((peer, theirs), (process, conn));
                        self.ready.push_back((peer, Input::Accepted { conn: theirs, port: target.port }));
                        self.ready.push_back((process, Input::Connected { conn }));
                    }
                    None => self.ready.push_back((
                        process,
                        Input::ConnectFailed { conn, error: broker_model::io::ConnectError::Refused },
                    )),
                },
                Effect::Send { conn, message } => {
                    if let Some(&(peer, theirs)) = self.conns.get(&(process, conn)) {
                        self.ready.push_back((peer, Input::Received { conn: theirs, message }));
                    }
                }
                Effect::Close { conn } => {
                    if let Some((peer, theirs)) = self.conns.remove(&(process, conn)) {
                        self.conns.remove(&(peer, theirs));
                        self.ready
                            .push_back((peer, Input::Closed { conn: theirs, reason: CloseReason::Eof }));
                    }
                }
                Effect::SetTimer { timer, at } => {
                    self.order += 1;
                    self.armed[process].insert(timer, self.order);
                    self.timers.insert((at.max(self.now), self.order), (process, timer, self.order));
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
