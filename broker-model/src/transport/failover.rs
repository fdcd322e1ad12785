//! `failover:(uri1,uri2,...)` (model/activemq.md §4.1–4.2): on a transport failure the client
//! tries every URI in a randomized order with the failed one last; passes are separated by
//! waits of 10 ms doubling to 30 s, reset by a successful connect, and the first pass after
//! losing a connection starts after one 10 ms wait. What is replayed on reconnect is the
//! parent's (`client`).
//!
//! A STOMP client (stomp.py) reconnects the same way in a degenerate form: one URI, a fixed
//! delay, no inactivity monitor.

use super::proto::TransportTimer;
use super::tcp::{TcpTransport, TransportEvent};
use super::{INITIAL_RECONNECT_MS, MAX_RECONNECT_MS};
use crate::io::{Addr, Component, ConnId, Effect, Effects, Message};
use crate::rng::Rng;
use crate::time::Time;
use std::collections::VecDeque;

/// The wait between passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectDelay {
    /// `initialReconnectDelay` doubling (`useExponentialBackOff`) up to `maxReconnectDelay`.
    Exponential,
    /// The same wait every time, in milliseconds.
    Fixed(u64),
}

/// What the transport tells its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverEvent {
    None,
    /// Connected to `broker`; `reconnect` if an earlier connection existed.
    Connected {
        broker: Addr,
        reconnect: bool,
    },
    /// The established connection failed: the parent reacts, then calls `reconnect_after_loss`.
    Lost,
}

#[derive(Debug, Clone)]
pub struct FailoverTransport {
    uris: Vec<Addr>,
    randomize: bool,
    delay: ReconnectDelay,
    tcp: TcpTransport,
    /// The remaining URIs of the current pass.
    pass: VecDeque<usize>,
    current: Option<usize>,
    failed: Option<usize>,
    reconnect_delay: u64,
    ever_connected: bool,
}

impl FailoverTransport {
    pub fn new(
        owner: Component,
        uris: Vec<Addr>,
        randomize: bool,
        delay: ReconnectDelay,
        monitor: bool,
    ) -> Self {
        assert!(!uris.is_empty(), "a transport needs a URI");
        FailoverTransport {
            uris,
            randomize,
            delay,
            tcp: TcpTransport::new(owner, monitor),
            pass: VecDeque::new(),
            current: None,
            failed: None,
            reconnect_delay: INITIAL_RECONNECT_MS,
            ever_connected: false,
        }
    }

    pub fn conn(&self) -> Option<ConnId> {
        self.tcp.conn()
    }

    pub fn is_connected(&self) -> bool {
        self.tcp.is_connected()
    }

    pub fn send(&self, message: Message, fx: &mut dyn Effects) {
        self.tcp.send(message, fx);
    }

    /// One pass over the URIs: randomized, the failed one last.
    pub fn start_pass(&mut self, now: Time, rng: &mut Rng, fx: &mut dyn Effects) {
        let mut order: Vec<usize> = (0..self.uris.len()).collect();
        if self.randomize {
            rng.shuffle(&mut order);
            if let Some(failed) = self.failed {
                order.retain(|u| *u != failed);
                order.push(failed);
            }
        }
        self.pass = order.into();
        self.next_uri(now, fx);
    }

    /// The next URI of the pass, or — the pass failed — the wait before the next pass.
    fn next_uri(&mut self, now: Time, fx: &mut dyn Effects) {
        self.tcp.drop_conn();
        let Some(uri) = self.pass.pop_front() else {
            let wait = self.next_wait();
            let timer = self.tcp.timer(TransportTimer::Reconnect);
            fx.push(Effect::SetTimer { timer, at: now.add_ms(wait) });
            return;
        };
        self.current = Some(uri);
        self.tcp.connect(now, self.uris[uri], fx);
    }

    fn next_wait(&mut self) -> u64 {
        match self.delay {
            ReconnectDelay::Exponential => {
                let wait = self.reconnect_delay;
                self.reconnect_delay = (self.reconnect_delay * 2).min(MAX_RECONNECT_MS);
                wait
            }
            ReconnectDelay::Fixed(ms) => ms,
        }
    }

    pub fn on_connected(&mut self, now: Time, conn: ConnId, fx: &mut dyn Effects) -> FailoverEvent {
        if Some(conn) != self.tcp.conn() {
            fx.push(Effect::Close { conn });
            return FailoverEvent::None;
        }
        self.tcp.on_connected(now, fx);
        let reconnect = self.ever_connected;
        self.ever_connected = true;
        self.reconnect_delay = INITIAL_RECONNECT_MS;
        FailoverEvent::Connected { broker: self.uris[self.current.expect("connecting")], reconnect }
    }

    pub fn on_read(&mut self, now: Time) {
        self.tcp.on_read(now);
    }

    /// The connection closed, was reset or refused. A failed attempt moves on to the next URI;
    /// a lost connection is reported.
    pub fn on_closed(&mut self, now: Time, conn: ConnId, fx: &mut dyn Effects) -> FailoverEvent {
        if Some(conn) != self.tcp.conn() {
            return FailoverEvent::None;
        }
        self.on_failure(now, fx)
    }

    fn on_failure(&mut self, now: Time, fx: &mut dyn Effects) -> FailoverEvent {
        if !self.tcp.is_connected() {
            self.next_uri(now, fx);
            return FailoverEvent::None;
        }
        self.tcp.drop_conn();
        FailoverEvent::Lost
    }

    /// After a lost connection: the failed URI goes last, and the first pass starts after
    /// `initialReconnectDelay` (or the fixed delay).
    pub fn reconnect_after_loss(&mut self, now: Time, fx: &mut dyn Effects) {
        self.failed = self.current;
        self.reconnect_delay = INITIAL_RECONNECT_MS;
        let wait = self.next_wait();
        let timer = self.tcp.timer(TransportTimer::Reconnect);
        fx.push(Effect::SetTimer { timer, at: now.add_ms(wait) });
    }

    pub fn on_timer(
        &mut self,
        now: Time,
        kind: TransportTimer,
        rng: &mut Rng,
        fx: &mut dyn Effects,
    ) -> FailoverEvent {
        match kind {
            TransportTimer::Reconnect => {
                if self.tcp.conn().is_none() {
                    self.start_pass(now, rng, fx);
                }
                FailoverEvent::None
            }
            _ => match self.tcp.on_timer(now, kind, fx) {
                TransportEvent::None => FailoverEvent::None,
                TransportEvent::ConnectTimedOut => {
                    self.next_uri(now, fx);
                    FailoverEvent::None
                }
                TransportEvent::Inactive => self.on_failure(now, fx),
            },
        }
    }

    pub fn invariants(&self) {
        self.tcp.invariants();
        if let Some(current) = self.current {
            assert!(current < self.uris.len());
        }
        assert!(self.reconnect_delay <= MAX_RECONNECT_MS.max(INITIAL_RECONNECT_MS));
    }
}
