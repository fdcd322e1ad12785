//! The ZooKeeper Java client library (`ClientCnxn.SendThread`, 3.4 behaviour) as a state machine
//! embedded in the process that uses it: host-list walking with jitter, the connect handshake,
//! pings after `readTimeout/2` idle, `Disconnected` after `readTimeout` without a byte, and
//! `Expired` learned only when a reconnect is refused (zookeeper.md §1.3).

use super::proto::{ClientMsg, ClientTimer, Op, OpResult, ServerMsg, WatchKind, ZkError};
use super::{client_timeouts, SessionId, Zxid};
use crate::io::{Addr, Component, ConnId, Effect, Effects, Message, TimerId};
use crate::rng::Rng;
use crate::time::Time;
use std::collections::BTreeSet;

/// What the client library tells the application (the default watcher and the callbacks).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ZkEvent {
    SyncConnected {
        session: SessionId,
    },
    Disconnected,
    /// The session is gone; this handle is dead and the application must build a new one.
    Expired,
    Reply {
        xid: u64,
        result: Result<OpResult, ZkError>,
    },
    Watch {
        kind: WatchKind,
        path: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting out the spin delay and jitter before the next attempt.
    Waiting,
    /// TCP connect in progress.
    Connecting {
        conn: ConnId,
    },
    /// TCP up, `ConnectRequest` sent.
    Handshaking {
        conn: ConnId,
    },
    Connected {
        conn: ConnId,
    },
    Closed,
}

#[derive(Debug, Clone)]
pub struct ZkClient {
    handle: u32,
    hosts: Vec<Addr>,
    current_index: usize,
    last_connected_index: Option<usize>,
    requested_timeout_ms: u64,
    negotiated_timeout_ms: Option<u64>,
    session: Option<SessionId>,
    last_zxid: Zxid,
    state: State,
    last_send: Time,
    last_recv: Time,
    attempt_started: Time,
    next_xid: u64,
    outstanding: BTreeSet<u64>,
    attempts: u64,
    last_conn: u32,
}

impl ZkClient {
    /// `new ZooKeeper(connectString, sessionTimeout, watcher)`: shuffles the host list once and
    /// makes the first connect attempt at once.
    pub fn new(
        now: Time,
        handle: u32,
        mut hosts: Vec<Addr>,
        requested_timeout_ms: u64,
        rng: &mut Rng,
        fx: &mut dyn Effects,
    ) -> ZkClient {
        assert!(!hosts.is_empty());
        rng.shuffle(&mut hosts);
        let mut client = ZkClient {
            handle,
            current_index: hosts.len() - 1,
            hosts,
            last_connected_index: None,
            requested_timeout_ms,
            negotiated_timeout_ms: None,
            session: None,
            last_zxid: Zxid::default(),
            state: State::Waiting,
            last_send: now,
            last_recv: now,
            attempt_started: now,
            next_xid: 0,
            outstanding: BTreeSet::new(),
            attempts: 0,
            last_conn: 0,
        };
        client.start_connect(now, fx);
        client
    }

    /// Which of its process's `ZooKeeper` objects this is (`Component::ZkClient`).
    pub fn handle(&self) -> u32 {
        self.handle
    }

    pub fn session(&self) -> Option<SessionId> {
        self.session
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected { .. })
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether `conn` belongs to this handle.
    pub fn owns(&self, conn: ConnId) -> bool {
        match self.state {
            State::Connecting { conn: c } | State::Handshaking { conn: c } | State::Connected { conn: c } => {
                c == conn
            }
            State::Waiting | State::Closed => false,
        }
    }

    pub fn owns_timer(&self, handle: u32) -> bool {
        handle == self.handle
    }

    fn timer(&self, kind: ClientTimer) -> TimerId {
        TimerId::ZkClient { handle: self.handle, kind }
    }

    fn timeout_ms(&self) -> u64 {
        self.negotiated_timeout_ms.unwrap_or(self.requested_timeout_ms)
    }

    fn new_conn(&mut self) -> ConnId {
        ConnId::next_out(Component::ZkClient { handle: self.handle }, &mut self.last_conn)
    }

    /// `hostProvider.next(1000)` then `startConnect`: the wrap spin and the 0–1 s jitter.
    fn schedule_reconnect(&mut self, now: Time, rng: &mut Rng, fx: &mut dyn Effects) {
        self.state = State::Waiting;
        let next = (self.current_index + 1) % self.hosts.len();
        let mut delay_ms = 0;
        if Some(next) == self.last_connected_index {
            delay_ms += 1000;
        }
        delay_ms += rng.range(0, 1000);
        let at = now.add_ms(delay_ms);
        fx.push(Effect::SetTimer { timer: self.timer(ClientTimer::Reconnect), at });
    }

    fn start_connect(&mut self, now: Time, fx: &mut dyn Effects) {
        self.current_index = (self.current_index + 1) % self.hosts.len();
        let conn = self.new_conn();
        let target = self.hosts[self.current_index];
        self.state = State::Connecting { conn };
        self.attempt_started = now;
        self.attempts += 1;
        fx.push(Effect::Connect { conn, target });
        let connect_timeout = client_timeouts(self.timeout_ms(), self.hosts.len()).connect_timeout_ms;
        let at = now.add_ms(connect_timeout);
        fx.push(Effect::SetTimer { timer: self.timer(ClientTimer::ConnectTimeout), at });
    }

    pub fn on_connected(&mut self, now: Time, conn: ConnId, fx: &mut dyn Effects) {
        let State::Connecting { conn: c } = self.state else {
            return;
        };
        assert_eq!(c, conn);
        self.state = State::Handshaking { conn };
        let message = ClientMsg::Connect {
            last_zxid: self.last_zxid,
            timeout_ms: self.requested_timeout_ms,
            session: self.session,
        };
        fx.push(Effect::Send { conn, message: Message::ZkClient(message) });
        self.last_send = now;
    }

    /// The connection failed, was refused, or ended.
    pub fn on_conn_lost(
        &mut self,
        now: Time,
        conn: ConnId,
        rng: &mut Rng,
        fx: &mut dyn Effects,
        events: &mut Vec<ZkEvent>,
    ) {
        if !self.owns(conn) {
            return;
        }
        self.disconnect(now, rng, fx, events);
    }

    fn disconnect(&mut self, now: Time, rng: &mut Rng, fx: &mut dyn Effects, events: &mut Vec<ZkEvent>) {
        let was_connected = self.is_connected();
        match self.state {
            State::Connecting { conn } | State::Handshaking { conn } | State::Connected { conn } => {
                fx.push(Effect::Close { conn });
            }
            State::Waiting | State::Closed => {}
        }
        for kind in [ClientTimer::Ping, ClientTimer::ReadTimeout, ClientTimer::ConnectTimeout] {
            fx.push(Effect::CancelTimer { timer: self.timer(kind) });
        }
        // `cleanup()`: every outstanding request fails with CONNECTIONLOSS.
        for xid in std::mem::take(&mut self.outstanding) {
            events.push(ZkEvent::Reply { xid, result: Err(ZkError::ConnectionLoss) });
        }
        if was_connected {
            events.push(ZkEvent::Disconnected);
        }
        self.schedule_reconnect(now, rng, fx);
    }

    pub fn on_message(
        &mut self,
        now: Time,
        conn: ConnId,
        message: ServerMsg,
        fx: &mut dyn Effects,
        events: &mut Vec<ZkEvent>,
    ) {
        if !self.owns(conn) {
            return;
        }
        self.last_recv = now;
        match message {
            ServerMsg::ConnectResponse { session, timeout_ms } => {
                let State::Handshaking { conn } = self.state else {
                    return;
                };
                fx.push(Effect::CancelTimer { timer: self.timer(ClientTimer::ConnectTimeout) });
                if timeout_ms == 0 {
                    // `onConnected`: negotiatedSessionTimeout <= 0 → Expired, handle dead.
                    fx.push(Effect::Close { conn });
                    self.state = State::Closed;
                    events.push(ZkEvent::Expired);
                    return;
                }
                self.negotiated_timeout_ms = Some(timeout_ms);
                self.session = Some(session);
                self.state = State::Connected { conn };
                self.last_connected_index = Some(self.current_index);
                events.push(ZkEvent::SyncConnected { session });
                self.arm_timers(fx);
            }
            ServerMsg::Pong { .. } => self.arm_timers(fx),
            ServerMsg::Reply { xid, zxid, result } => {
                if zxid > self.last_zxid {
                    self.last_zxid = zxid;
                }
                self.outstanding.remove(&xid);
                events.push(ZkEvent::Reply { xid, result });
                self.arm_timers(fx);
            }
            ServerMsg::Watch { kind, path } => {
                events.push(ZkEvent::Watch { kind, path });
                self.arm_timers(fx);
            }
        }
    }

    fn arm_timers(&self, fx: &mut dyn Effects) {
        let State::Connected { .. } = self.state else {
            return;
        };
        let timeouts = client_timeouts(self.timeout_ms(), self.hosts.len());
        let ping_at = self.last_send.add_ms(timeouts.ping_interval_ms);
        fx.push(Effect::SetTimer { timer: self.timer(ClientTimer::Ping), at: ping_at });
        let read_at = self.last_recv.add_ms(timeouts.read_timeout_ms);
        fx.push(Effect::SetTimer { timer: self.timer(ClientTimer::ReadTimeout), at: read_at });
    }

    pub fn on_timer(
        &mut self,
        now: Time,
        kind: ClientTimer,
        rng: &mut Rng,
        fx: &mut dyn Effects,
        events: &mut Vec<ZkEvent>,
    ) {
        let timeouts = client_timeouts(self.timeout_ms(), self.hosts.len());
        match (kind, self.state) {
            (ClientTimer::Reconnect, State::Waiting) => self.start_connect(now, fx),
            (ClientTimer::ConnectTimeout, State::Connecting { .. } | State::Handshaking { .. }) => {
                self.disconnect(now, rng, fx, events);
            }
            (ClientTimer::ReadTimeout, State::Connected { .. }) => {
                if now.saturating_sub_us(self.last_recv) >= timeouts.read_timeout_ms * 1000 {
                    // "Client session timed out, have not heard from server in Nms".
                    self.disconnect(now, rng, fx, events);
                } else {
                    self.arm_timers(fx);
                }
            }
            (ClientTimer::Ping, State::Connected { conn }) => {
                if now.saturating_sub_us(self.last_send) >= timeouts.ping_interval_ms * 1000 {
                    fx.push(Effect::Send { conn, message: Message::ZkClient(ClientMsg::Ping) });
                    self.last_send = now;
                }
                self.arm_timers(fx);
            }
            _ => {}
        }
    }

    /// Submits an operation. While not connected it fails at once with CONNECTIONLOSS (the
    /// application re-reads everything on `SyncConnected` anyway; docs/fidelity.md).
    pub fn request(&mut self, now: Time, op: Op, fx: &mut dyn Effects, events: &mut Vec<ZkEvent>) -> u64 {
        self.next_xid += 1;
        let xid = self.next_xid;
        match self.state {
            State::Connected { conn } => {
                let message = ClientMsg::Request { xid, op };
                fx.push(Effect::Send { conn, message: Message::ZkClient(message) });
                self.last_send = now;
                self.outstanding.insert(xid);
                self.arm_timers(fx);
            }
            _ => events.push(ZkEvent::Reply { xid, result: Err(ZkError::ConnectionLoss) }),
        }
        xid
    }

    /// `ZooKeeper.close()`: sends closeSession if connected, then drops the connection. A
    /// disconnected handle just stops; its session lives on until the leader expires it.
    pub fn close(&mut self, now: Time, fx: &mut dyn Effects) {
        if let State::Connected { conn } = self.state {
            self.next_xid += 1;
            let message = ClientMsg::Request { xid: self.next_xid, op: Op::CloseSession };
            fx.push(Effect::Send { conn, message: Message::ZkClient(message) });
            self.last_send = now;
        }
        match self.state {
            State::Connecting { conn } | State::Handshaking { conn } | State::Connected { conn } => {
                fx.push(Effect::Close { conn });
            }
            State::Waiting | State::Closed => {}
        }
        for kind in
            [ClientTimer::Ping, ClientTimer::ReadTimeout, ClientTimer::ConnectTimeout, ClientTimer::Reconnect]
        {
            fx.push(Effect::CancelTimer { timer: self.timer(kind) });
        }
        self.outstanding.clear();
        self.state = State::Closed;
    }
}
