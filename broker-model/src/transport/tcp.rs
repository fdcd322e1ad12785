//! One OpenWire connection (`TcpTransport` with its `InactivityMonitor`, model/activemq.md
//! §3.10): a connect that gives up after `connectionTimeout`; once up, a read check every
//! `maxInactivityDuration` (a link that read nothing since the last check has failed) and a
//! `KeepAliveInfo` every third of it. A socket close or reset is the parent's input.

use super::proto::TransportTimer;
use super::{CONNECT_TIMEOUT_MS, KEEPALIVE_MS, MAX_INACTIVITY_MS};
use crate::io::{Addr, Component, ConnId, Effect, Effects, Message, TimerId};
use crate::messaging::ToBroker;
use crate::time::Time;

/// What a timer did to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportEvent {
    /// Nothing the parent must handle (a keepalive went out, a stale timer).
    None,
    /// The connect attempt timed out; its connection is closed.
    ConnectTimedOut,
    /// "Channel was inactive for too long": the connection is closed, a transport failure.
    Inactive,
}

#[derive(Debug, Clone)]
pub struct TcpTransport {
    owner: Component,
    /// Whether the inactivity monitor runs (OpenWire) or not (STOMP without heart-beats).
    monitor: bool,
    last_conn: u32,
    attempt: u64,
    conn: Option<ConnId>,
    connected: bool,
    last_read: Time,
}

impl TcpTransport {
    pub fn new(owner: Component, monitor: bool) -> TcpTransport {
        TcpTransport {
            owner,
            monitor,
            last_conn: 0,
            attempt: 0,
            conn: None,
            connected: false,
            last_read: Time::ZERO,
        }
    }

    pub fn timer(&self, kind: TransportTimer) -> TimerId {
        TimerId::Transport { owner: self.owner, kind }
    }

    /// The connection of the current attempt, connected or connecting.
    pub fn conn(&self) -> Option<ConnId> {
        self.conn
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Starts an attempt on a new connection, with its connect timeout.
    pub fn connect(&mut self, now: Time, target: Addr, fx: &mut dyn Effects) -> ConnId {
        let conn = ConnId::next_out(self.owner, &mut self.last_conn);
        self.conn = Some(conn);
        self.connected = false;
        self.attempt += 1;
        fx.push(Effect::Connect { conn, target });
        let timer = self.timer(TransportTimer::ConnectTimeout { attempt: self.attempt });
        fx.push(Effect::SetTimer { timer, at: now.add_ms(CONNECT_TIMEOUT_MS) });
        conn
    }

    /// The attempt's connection is up: the monitor starts.
    pub fn on_connected(&mut self, now: Time, fx: &mut dyn Effects) {
        assert!(self.conn.is_some() && !self.connected, "connected without an attempt");
        self.connected = true;
        self.last_read = now;
        if self.monitor {
            let timer = self.timer(TransportTimer::ReadCheck { attempt: self.attempt });
            fx.push(Effect::SetTimer { timer, at: now.add_ms(MAX_INACTIVITY_MS) });
            let timer = self.timer(TransportTimer::KeepAlive { attempt: self.attempt });
            fx.push(Effect::SetTimer { timer, at: now.add_ms(KEEPALIVE_MS) });
        }
    }

    /// Something arrived on the connection.
    pub fn on_read(&mut self, now: Time) {
        self.last_read = now;
    }

    /// The connection is gone (closed, reset, refused, timed out, or given up by the parent).
    pub fn drop_conn(&mut self) {
        self.conn = None;
        self.connected = false;
    }

    pub fn send(&self, message: Message, fx: &mut dyn Effects) {
        let conn = self.conn.expect("connected");
        fx.push(Effect::Send { conn, message });
    }

    /// A connect timeout, read check or keepalive timer (not `Reconnect`, which is the parent's).
    pub fn on_timer(&mut self, now: Time, kind: TransportTimer, fx: &mut dyn Effects) -> TransportEvent {
        match kind {
            TransportTimer::ConnectTimeout { attempt } => {
                if attempt != self.attempt || self.connected || self.conn.is_none() {
                    return TransportEvent::None;
                }
                let conn = self.conn.take().expect("checked");
                fx.push(Effect::Close { conn });
                TransportEvent::ConnectTimedOut
            }
            TransportTimer::ReadCheck { attempt } => {
                if attempt != self.attempt || !self.connected || !self.monitor {
                    return TransportEvent::None;
                }
                if now.saturating_sub_us(self.last_read) >= MAX_INACTIVITY_MS * 1000 {
                    let conn = self.conn.expect("connected");
                    fx.push(Effect::Close { conn });
                    return TransportEvent::Inactive;
                }
                let timer = self.timer(TransportTimer::ReadCheck { attempt });
                fx.push(Effect::SetTimer { timer, at: now.add_ms(MAX_INACTIVITY_MS) });
                TransportEvent::None
            }
            TransportTimer::KeepAlive { attempt } => {
                if attempt == self.attempt && self.connected {
                    self.send(Message::ToBroker(ToBroker::KeepAlive), fx);
                    let timer = self.timer(TransportTimer::KeepAlive { attempt });
                    fx.push(Effect::SetTimer { timer, at: now.add_ms(KEEPALIVE_MS) });
                }
                TransportEvent::None
            }
            TransportTimer::Reconnect => panic!("a reconnect timer is the parent's"),
        }
    }

    pub fn invariants(&self) {
        if self.connected {
            assert!(self.conn.is_some(), "connected without a connection");
        }
    }
}
