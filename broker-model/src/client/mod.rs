//! An application process: producers and consumers on one connection, over the OpenWire failover
//! transport (model/activemq.md §4) or a plain STOMP connection bound to one broker (§4.7).
//!
//! Failover: on a transport failure the client tries every URI in a randomized order with the
//! failed one last; passes are separated by waits of 10 ms doubling to 30 s. On reconnect it
//! replays its state (`ConnectionInfo` with `failoverReconnect`, consumers with the same ids)
//! and resends every sync send still waiting for its response. Acks and async sends written to a
//! connection that then failed are lost. A per-connection audit poison-acks duplicates (→ DLQ).
//!
//! STOMP: no failover and no audit. The client reconnects to its one broker after a fixed delay
//! on a new connection with a new producer id, and resends what never got a receipt — the same
//! body under a new message id, so the broker cannot recognise it.

use crate::audit::Audit;
use crate::io::{Addr, Component, Effect, Effects, Input, Message, Observation, TimerId};
use crate::messaging::{AckMode, ConsumerInfo, Dest, FromBroker, Msg, MsgId, ToBroker};
use crate::rng::Rng;
use crate::time::Time;
use crate::transport::{FailoverEvent, FailoverTransport, ReconnectDelay};
use std::collections::{BTreeMap, VecDeque};

pub mod proto;

pub use proto::AppTimer;

/// Connection audit depth per producer (`auditDepth`).
pub const CLIENT_AUDIT_DEPTH: usize = 2048;
pub use crate::transport::{
    CONNECT_TIMEOUT_MS, INITIAL_RECONNECT_MS, KEEPALIVE_MS, MAX_INACTIVITY_MS, MAX_RECONNECT_MS,
};
/// A STOMP client's wait before reconnecting (stomp.py's initial reconnect sleep).
pub const STOMP_RECONNECT_MS: u64 = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct ProducerSpec {
    pub dest: Dest,
    /// Messages per second the application tries to send.
    pub rate_per_s: f64,
    pub size: u32,
    pub persistent: bool,
    /// A sync send waits for the broker's response (OpenWire) or receipt (STOMP).
    pub sync: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerSpec {
    pub dest: Dest,
    pub ack: AckMode,
    pub prefetch: u32,
    pub priority: u8,
    /// A durable topic subscription's name.
    pub durable: Option<String>,
    /// How long the application's listener works on each message before it returns (and the
    /// message is acked). Messages wait in the prefetch buffer meanwhile.
    pub process_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OpenWire with `failover:(...)` over every URI.
    Failover,
    /// STOMP to the first URI only.
    Stomp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    pub name: String,
    /// Unique per client; producer and consumer ids derive from it.
    pub index: u32,
    pub protocol: Protocol,
    pub uris: Vec<Addr>,
    pub producers: Vec<ProducerSpec>,
    pub consumers: Vec<ConsumerSpec>,
    /// Producers send from `start` until `stop`; consumers run to the end.
    pub start_ms: u64,
    pub stop_ms: u64,
}

/// A consumer's client side: prefetched messages and the one its listener works on.
#[derive(Debug, Clone, Default, PartialEq)]
struct Inbox {
    waiting: VecDeque<(Msg, u32)>,
    working: Option<Msg>,
}

#[derive(Debug, Clone, PartialEq)]
struct Producer {
    spec: ProducerSpec,
    /// The wire producer id; a STOMP reconnect takes a new one.
    wire_id: u32,
    wire_seq: u64,
    /// The application's sequence (the body).
    seq: u64,
    /// The sync send the application thread is blocked on.
    outstanding: Option<u64>,
    /// The application wanted to send while blocked.
    waiting: bool,
    next_at: Time,
    stopped: bool,
}

#[derive(Debug, Clone)]
pub struct Client {
    config: ClientConfig,
    rng: Rng,
    /// `failover:(...)` over every URI, or STOMP's reconnect loop to the first.
    transport: FailoverTransport,
    producers: Vec<Producer>,
    /// `requestMap`: sync sends awaiting a response, by correlation id.
    requests: BTreeMap<u64, (u32, Msg)>,
    next_corr: u64,
    /// The connection audit: recent sequence ids per wire producer.
    audit: Audit,
    next_wire_producer: u32,
    /// The application started (consumers subscribe, producers send) at `start_ms`.
    started: bool,
    inboxes: BTreeMap<u32, Inbox>,
    /// Producer and consumer ids start here: client index and incarnation.
    base: u32,
}

/// The client (its `ClientConfig::index`) whose producer or consumer has id `id`: ids are
/// `index · 1000 + incarnation · 1,000,000 + n`.
pub fn client_index_of(id: u32) -> u32 {
    (id % 1_000_000) / 1000
}

impl Client {
    /// A client process; `incarnation` counts its restarts, so a restarted application's
    /// messages (and consumers) never share ids with the previous run's.
    pub fn new(config: ClientConfig, rng_seed: (u64, u64), incarnation: u32) -> Client {
        let base = config.index * 1000 + incarnation * 1_000_000;
        let producers = config
            .producers
            .iter()
            .enumerate()
            .map(|(i, spec)| Producer {
                spec: spec.clone(),
                wire_id: base + i as u32,
                wire_seq: 0,
                seq: 0,
                outstanding: None,
                waiting: false,
                next_at: Time::ZERO,
                stopped: false,
            })
            .collect();
        let transport = match config.protocol {
            Protocol::Failover => FailoverTransport::new(
                Component::Own,
                config.uris.clone(),
                true,
                ReconnectDelay::Exponential,
                true,
            ),
            Protocol::Stomp => FailoverTransport::new(
                Component::Own,
                config.uris[..1].to_vec(),
                false,
                ReconnectDelay::Fixed(STOMP_RECONNECT_MS),
                false,
            ),
        };
        Client {
            rng: Rng::new(rng_seed.0, rng_seed.1),
            transport,
            producers,
            requests: BTreeMap::new(),
            next_corr: 0,
            audit: Audit::default(),
            next_wire_producer: base + 100,
            base,
            started: false,
            inboxes: BTreeMap::new(),
            config,
        }
    }

    /// The application's producer id of producer `i` (the checker's key).
    fn app_producer(&self, i: usize) -> u32 {
        self.base + i as u32
    }

    fn consumer_id(&self, i: usize) -> u32 {
        self.base + 500 + i as u32
    }

    pub fn on_start(&mut self, now: Time, fx: &mut dyn Effects) {
        self.transport.start_pass(now, &mut self.rng, fx);
        let at = Time::from_ms(self.config.start_ms).max(now);
        fx.push(Effect::SetTimer { timer: TimerId::App(AppTimer::Start), at });
    }

    pub fn on_input(&mut self, now: Time, input: Input, fx: &mut dyn Effects) {
        match input {
            Input::Timer { timer: TimerId::App(timer) } => self.on_timer(now, timer, fx),
            Input::Timer { timer: TimerId::Transport { owner: Component::Own, kind } } => {
                let event = self.transport.on_timer(now, kind, &mut self.rng, fx);
                self.on_transport_event(now, event, fx);
            }
            Input::Timer { timer } => panic!("foreign timer {timer:?}"),
            Input::Connected { conn } => {
                let event = self.transport.on_connected(now, conn, fx);
                self.on_transport_event(now, event, fx);
            }
            Input::ConnectFailed { conn, .. } | Input::Closed { conn, .. } => {
                let event = self.transport.on_closed(now, conn, fx);
                self.on_transport_event(now, event, fx);
            }
            Input::Received { conn, message: Message::FromBroker(reply) }
                if Some(conn) == self.transport.conn() =>
            {
                self.transport.on_read(now);
                self.on_reply(now, reply, fx)
            }
            Input::Received { .. } => {}
            other => panic!("client got {other:?}"),
        }
        self.transport.invariants();
    }

    fn on_transport_event(&mut self, now: Time, event: FailoverEvent, fx: &mut dyn Effects) {
        match event {
            FailoverEvent::None => {}
            FailoverEvent::Connected { broker, reconnect } => self.on_connected(now, broker, reconnect, fx),
            FailoverEvent::Lost => {
                fx.push(Effect::Observe { observation: Observation::ClientDisconnected });
                self.interrupt_consumers();
                self.transport.reconnect_after_loss(now, fx);
            }
        }
    }

    fn on_timer(&mut self, now: Time, timer: AppTimer, fx: &mut dyn Effects) {
        match timer {
            AppTimer::Start => {
                self.started = true;
                for (i, spec) in self.config.consumers.iter().enumerate() {
                    let observation = Observation::Subscribed {
                        consumer: self.consumer_id(i),
                        dest: spec.dest,
                        durable: spec.durable.clone(),
                        ack: spec.ack,
                    };
                    fx.push(Effect::Observe { observation });
                }
                if self.transport.is_connected() {
                    self.subscribe(fx);
                }
                for p in 0..self.producers.len() {
                    self.producers[p].next_at = now;
                    self.produce(now, p, fx);
                }
            }
            AppTimer::Produce { producer } => {
                let p = producer as usize;
                if now >= self.producers[p].next_at {
                    self.produce(now, p, fx);
                }
            }
            AppTimer::Processed { consumer } => self.processed(now, consumer, fx),
        }
    }

    // -------------------------------------------------------------------------------------------
    // The transport.

    fn send(&self, command: ToBroker, fx: &mut dyn Effects) {
        self.transport.send(Message::ToBroker(command), fx);
    }

    /// The transport connected to `broker`: the state replay (`restoreTransport`).
    fn on_connected(&mut self, now: Time, broker: Addr, reconnect: bool, fx: &mut dyn Effects) {
        fx.push(Effect::Observe { observation: Observation::ClientConnected { broker } });
        let failover = self.config.protocol == Protocol::Failover;
        self.send(ToBroker::Connect { client: self.config.index, reconnect: reconnect && failover }, fx);
        if self.started {
            self.subscribe(fx);
        }
        if !failover && reconnect {
            // A new STOMP connection is a new producer: resends carry new message ids.
            for p in 0..self.producers.len() {
                self.next_wire_producer += 1;
                self.producers[p].wire_id = self.next_wire_producer;
                self.producers[p].wire_seq = 0;
            }
            let pending: Vec<(u64, (u32, Msg))> = std::mem::take(&mut self.requests).into_iter().collect();
            for (corr, (p, msg)) in pending {
                let producer = &mut self.producers[p as usize];
                producer.wire_seq += 1;
                let msg = Msg { id: MsgId { producer: producer.wire_id, seq: producer.wire_seq }, ..msg };
                self.requests.insert(corr, (p, msg.clone()));
                self.send(ToBroker::Send { msg, corr: Some(corr) }, fx);
            }
        } else {
            // `restoreTransport`: replay the request map (sync sends awaiting a response).
            let pending: Vec<(u64, Msg)> = self.requests.iter().map(|(c, (_, m))| (*c, m.clone())).collect();
            for (corr, msg) in pending {
                self.send(ToBroker::Send { msg, corr: Some(corr) }, fx);
            }
        }
        // Application threads blocked in a send while disconnected go on.
        for p in 0..self.producers.len() {
            if self.producers[p].waiting && self.producers[p].outstanding.is_none() {
                self.produce(now, p, fx);
            }
        }
    }

    /// Creates (or, after a reconnect, re-creates with the same ids) every consumer.
    fn subscribe(&self, fx: &mut dyn Effects) {
        for i in 0..self.config.consumers.len() {
            let spec = &self.config.consumers[i];
            let info = ConsumerInfo {
                consumer: self.consumer_id(i),
                dest: spec.dest,
                prefetch: spec.prefetch,
                priority: spec.priority,
                ack: spec.ack,
                durable: spec.durable.clone(),
            };
            self.send(ToBroker::Subscribe(info), fx);
        }
    }

    // -------------------------------------------------------------------------------------------
    // Producers and consumers.

    fn produce(&mut self, now: Time, p: usize, fx: &mut dyn Effects) {
        let stop = Time::from_ms(self.config.stop_ms);
        let app_producer = self.app_producer(p);
        let producer = &mut self.producers[p];
        if producer.stopped || now >= stop {
            producer.stopped = true;
            return;
        }
        // The application thread is blocked: in a sync send, or in a send while disconnected.
        if producer.outstanding.is_some() || !self.transport.is_connected() {
            producer.waiting = true;
            return;
        }
        producer.waiting = false;
        producer.seq += 1;
        producer.wire_seq += 1;
        let key = MsgId { producer: app_producer, seq: producer.seq };
        let id = MsgId { producer: producer.wire_id, seq: producer.wire_seq };
        let spec = &producer.spec;
        let msg = Msg {
            id,
            key,
            dest: spec.dest,
            persistent: spec.persistent,
            size: spec.size,
            sent_at: now,
            path: Default::default(),
        };
        let sync = spec.sync;
        fx.push(Effect::Observe {
            observation: Observation::Sent { key, dest: msg.dest, persistent: msg.persistent, sync },
        });
        let corr = if sync {
            self.next_corr += 1;
            producer.outstanding = Some(self.next_corr);
            self.requests.insert(self.next_corr, (p as u32, msg.clone()));
            Some(self.next_corr)
        } else {
            None
        };
        // The next send is due one interval after this one was due.
        let interval_us = (1_000_000.0 / producer.spec.rate_per_s.max(0.001)) as u64;
        producer.next_at = producer.next_at.add_us(interval_us).max(now);
        let next_at = producer.next_at;
        self.send(ToBroker::Send { msg, corr }, fx);
        fx.push(Effect::SetTimer {
            timer: TimerId::App(AppTimer::Produce { producer: p as u32 }),
            at: next_at,
        });
    }

    fn on_reply(&mut self, now: Time, reply: FromBroker, fx: &mut dyn Effects) {
        match reply {
            FromBroker::Response { corr } => {
                let Some((p, msg)) = self.requests.remove(&corr) else { return };
                fx.push(Effect::Observe { observation: Observation::SendAcked { key: msg.key } });
                let producer = &mut self.producers[p as usize];
                if producer.outstanding == Some(corr) {
                    producer.outstanding = None;
                    if producer.waiting || now >= producer.next_at {
                        self.produce(now, p as usize, fx);
                    }
                }
            }
            FromBroker::KeepAlive | FromBroker::BrokerInfo(_) | FromBroker::Advisory(_) => {}
            FromBroker::Deliver { consumer, msg, redelivered } => {
                let ack = self
                    .config
                    .consumers
                    .iter()
                    .enumerate()
                    .find(|(i, _)| self.consumer_id(*i) == consumer)
                    .map(|(_, c)| c.ack);
                if ack.is_none() {
                    return;
                }
                if self.config.protocol == Protocol::Failover && self.audit_seen(msg.id) {
                    // The connection audit: a duplicate is poison-acked and goes to the DLQ.
                    fx.push(Effect::Observe { observation: Observation::DuplicateRejected { key: msg.key } });
                    self.send(ToBroker::PoisonAck { consumer, id: msg.id }, fx);
                    return;
                }
                self.inboxes.entry(consumer).or_default().waiting.push_back((msg, redelivered));
                self.next_message(now, consumer, fx);
            }
        }
    }

    fn spec_of(&self, consumer: u32) -> &ConsumerSpec {
        let i = (0..self.config.consumers.len()).find(|i| self.consumer_id(*i) == consumer).expect("ours");
        &self.config.consumers[i]
    }

    /// The listener takes the next prefetched message, if it is free.
    fn next_message(&mut self, now: Time, consumer: u32, fx: &mut dyn Effects) {
        let process_ms = self.spec_of(consumer).process_ms;
        let inbox = self.inboxes.entry(consumer).or_default();
        if inbox.working.is_some() {
            return;
        }
        let Some((msg, redelivered)) = inbox.waiting.pop_front() else { return };
        let latency_us = now.saturating_sub_us(msg.sent_at);
        fx.push(Effect::Observe {
            observation: Observation::Delivered {
                key: msg.key,
                dest: msg.dest,
                consumer,
                redelivered,
                latency_us,
            },
        });
        inbox.working = Some(msg);
        if process_ms == 0 {
            self.processed(now, consumer, fx);
        } else {
            let timer = TimerId::App(AppTimer::Processed { consumer });
            fx.push(Effect::SetTimer { timer, at: now.add_ms(process_ms) });
        }
    }

    /// The listener returned: ack (AUTO) or the application acks (CLIENT). An ack while the
    /// transport is down is dropped and answered locally (§4.4).
    fn processed(&mut self, now: Time, consumer: u32, fx: &mut dyn Effects) {
        let ack = self.spec_of(consumer).ack;
        let Some(msg) = self.inboxes.get_mut(&consumer).and_then(|i| i.working.take()) else { return };
        // Under STOMP `ack:auto` no ACK frame exists; the ack stands for the socket draining,
        // which lets the broker dispatch further (it acked the message at dispatch).
        let _ = ack;
        if self.transport.is_connected() {
            self.send(ToBroker::Ack { consumer, id: msg.id }, fx);
        }
        self.next_message(now, consumer, fx);
    }

    /// `transportInterupted`: prefetched, unconsumed messages are discarded and forgotten by the
    /// audit (`rollbackDuplicate`) so their redelivery is accepted; under CLIENT_ACK so is the
    /// delivered-but-unacked one, which the application will therefore see twice.
    fn interrupt_consumers(&mut self) {
        let mut forget = Vec::new();
        for i in 0..self.config.consumers.len() {
            let consumer = self.consumer_id(i);
            let ack = self.config.consumers[i].ack;
            let Some(inbox) = self.inboxes.get_mut(&consumer) else { continue };
            forget.extend(inbox.waiting.drain(..).map(|(m, _)| m.id));
            if ack == AckMode::Client {
                if let Some(msg) = &inbox.working {
                    forget.push(msg.id);
                }
            }
        }
        for id in forget {
            self.audit_forget(id);
        }
    }

    fn audit_forget(&mut self, id: MsgId) {
        self.audit.forget(id);
    }

    fn audit_seen(&mut self, id: MsgId) -> bool {
        self.audit.seen(id, CLIENT_AUDIT_DEPTH)
    }
}
