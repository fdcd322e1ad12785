//! The boundary between a process and the world: what a process is told ([`Input`]) and what it
//! asks for ([`Effect`]). Connections, timers and disk are the driver's; a process only names them.
//! The boundary knows protocols, not processes: it imports only each process kind's `proto`
//! module (and `messaging`, the client protocols), never a process's state machine.

use crate::bridge::proto::{BridgeEvent, BridgeName};
use crate::broker::proto::{BrokerRecord, BrokerTimer, ReplMsg};
use crate::client::proto::AppTimer;
use crate::messaging::{AckMode, Dest, FromBroker, MsgId, ToBroker, WIRE_OVERHEAD};
use crate::time::Time;
use crate::transport::proto::TransportTimer;
use crate::zk::proto::{
    ClientMsg, ClientTimer, Notification, QuorumMsg, ServerMsg, SessionId, ZkRecord, ZkTimer,
};
use std::fmt;

/// A host of the topology (a machine with one network address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u16);

/// A listening address: host and TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    pub host: HostId,
    pub port: u16,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h{}:{}", self.host.0, self.port)
    }
}

/// The part of a process that owns a connection it opened or a timer it set. A process routes
/// each input to the component its id names; embedded components (a broker's ZooKeeper client
/// handles, later its network bridges) number their own connections without sharing a counter
/// or bits of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// The process itself: a ZooKeeper server, a broker's store, an application's transport.
    Own,
    /// An embedded ZooKeeper client: the process's `handle`-th `ZooKeeper` object (a broker
    /// makes a new one for every `BrokerService` and after every session expiry).
    ZkClient { handle: u32 },
    /// A network connector's bridge to one URI: the process's `id`-th bridge (a new master
    /// starts new ones).
    Bridge { id: u32 },
}

/// A process's name for one of its connections. `Out` ids are chosen by the component that
/// connects; `In` ids are given by the driver when a connection is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnId {
    Out { owner: Component, n: u32 },
    In(u64),
}

impl ConnId {
    /// `owner`'s next connection: `last` counts the ones it opened (ids are never reused).
    pub fn next_out(owner: Component, last: &mut u32) -> ConnId {
        *last = last.checked_add(1).expect("a component opened 2^32 connections");
        ConnId::Out { owner, n: *last }
    }

    /// Who opened it (`None` for an accepted connection).
    pub fn owner(self) -> Option<Component> {
        match self {
            ConnId::Out { owner, .. } => Some(owner),
            ConnId::In(_) => None,
        }
    }
}

/// Every message that crosses a connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// ZooKeeper client → server (port 2181).
    ZkClient(ClientMsg),
    /// ZooKeeper server → client.
    ZkServer(ServerMsg),
    /// Server ↔ server on the quorum port (2888).
    Quorum(QuorumMsg),
    /// Fast Leader Election notification (port 3888).
    Election(Notification),
    /// Replicated LevelDB master ↔ slave (the `bind` port).
    Repl(ReplMsg),
    /// Client → broker (OpenWire or STOMP port).
    ToBroker(ToBroker),
    /// Broker → client.
    FromBroker(FromBroker),
}

impl Message {
    /// Bytes on the wire, for the network's bandwidth.
    pub fn wire_size(&self) -> u64 {
        match self {
            Message::Repl(repl) => repl.wire_size(),
            Message::ToBroker(ToBroker::Send { msg, .. })
            | Message::FromBroker(FromBroker::Deliver { msg, .. }) => WIRE_OVERHEAD + msg.size as u64,
            _ => WIRE_OVERHEAD,
        }
    }
}

/// Why a connection ended, as the surviving side sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The peer closed it (FIN after all its data).
    Eof,
    /// The peer's host answered with RST: the peer process is gone.
    Reset,
}

/// Why a connect failed. A connect into silence fails only after the kernel's SYN retries;
/// callers' own timers usually decide first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectError {
    Refused,
    /// No answer to any SYN retransmission (the kernel gave up after 127 s).
    TimedOut,
}

/// What the driver tells a process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    /// A connection this process asked for is established.
    Connected {
        conn: ConnId,
    },
    /// A connection this process asked for was refused (the host answered, nobody listens).
    ConnectFailed {
        conn: ConnId,
        error: ConnectError,
    },
    /// A peer connected to one of this process's listening ports.
    Accepted {
        conn: ConnId,
        port: u16,
    },
    Received {
        conn: ConnId,
        message: Message,
    },
    Closed {
        conn: ConnId,
        reason: CloseReason,
    },
    /// A port this process asked to listen on is already taken on its host.
    ListenFailed {
        port: u16,
    },
    Timer {
        timer: TimerId,
    },
    /// A `Sync` asked for earlier is durable.
    Synced {
        token: u64,
    },
}

/// A timer, named by the process (or the embedded component) that owns it. Setting a timer that is already set moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerId {
    Zk(ZkTimer),
    Broker(BrokerTimer),
    App(AppTimer),
    /// An embedded OpenWire transport's, routed by the component that owns it.
    Transport {
        owner: Component,
        kind: TransportTimer,
    },
    /// An embedded ZooKeeper client's, routed by its handle (`Component::ZkClient`).
    ZkClient {
        handle: u32,
        kind: ClientTimer,
    },
}

/// A durable record on a process's disk. Records are appended; a crash loses unsynced ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Record {
    Zk(ZkRecord),
    Broker(BrokerRecord),
}

/// What a process asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Effect {
    Listen {
        port: u16,
    },
    Unlisten {
        port: u16,
    },
    Connect {
        conn: ConnId,
        target: Addr,
    },
    Send {
        conn: ConnId,
        message: Message,
    },
    /// Close gracefully: the peer sees EOF after everything sent before.
    Close {
        conn: ConnId,
    },
    SetTimer {
        timer: TimerId,
        at: Time,
    },
    CancelTimer {
        timer: TimerId,
    },
    /// Append a record to this process's disk (volatile until a `Sync` completes).
    Append {
        record: Record,
    },
    /// Make everything appended so far durable; answered with `Input::Synced { token }`.
    Sync {
        token: u64,
    },
    /// A fact for the history and the checkers.
    Observe {
        observation: Observation,
    },
}

/// Where a handler puts what it asks for, in the order it asks. The world carries out each
/// effect as it is made, before the handler goes on (nothing an effect does reaches back into
/// the process that made it: connects, packets, fsyncs and timers all answer later, as inputs);
/// tests collect them in a `Vec`, and the bare-model driver (`benches::Direct`) carries them
/// out as the world does.
pub trait Effects {
    fn push(&mut self, effect: Effect);
}

impl Effects for Vec<Effect> {
    fn push(&mut self, effect: Effect) {
        Vec::push(self, effect);
    }
}

/// A ZooKeeper server's role as seen by the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZkRole {
    Looking,
    Following,
    Leading,
}

/// Why a broker stopped being master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DemoteReason {
    /// Its ZooKeeper client reported `Disconnected`.
    ZkDisconnected,
    /// The head published another (or no) elected master.
    NotElected,
    /// The master could not bind its replication port.
    BindFailed,
}

/// Facts a process reports for the history. They feed checkers and measurements only; they never
/// change behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Observation {
    /// A ZooKeeper server changed role or started/stopped serving clients.
    ZkRole {
        role: ZkRole,
        epoch: u32,
        serving: bool,
    },
    /// The leader's expiry queue expired a session (the session-closing decision).
    ZkSessionExpired {
        session: SessionId,
    },
    /// A `closeSession` committed on this server (its ephemerals are gone).
    ZkSessionClosed {
        session: SessionId,
    },
    /// A broker's ZooKeeper client established (or re-established) its session.
    BrokerSessionConnected {
        session: SessionId,
    },
    BrokerSessionDisconnected {
        session: SessionId,
    },
    BrokerSessionExpired {
        session: SessionId,
    },
    /// A broker's member znode was created: `eid` is its 10-digit member id.
    BrokerJoined {
        eid: String,
        session: SessionId,
    },
    /// The head published a newly elected master, chosen at this log position (bytes).
    Elected {
        eid: String,
        position: i64,
    },
    /// This broker starts running the master store.
    Promoted {
        eid: String,
    },
    Demoted {
        reason: DemoteReason,
    },
    /// Client ports opened (`on = true`) or closed: the broker serves as master.
    Serving {
        on: bool,
    },
    /// A slave finished attaching to its master (caught up) after downloading `transferred` bytes.
    SlaveCaughtUp {
        master: Addr,
        transferred: u64,
    },
    /// A failover resend the store already had was answered and dropped (producer audit).
    ResendSuppressed {
        key: MsgId,
    },
    /// The cursor audit found a send it had already queued: a duplicate reached the store.
    DuplicateSend {
        key: MsgId,
        /// It came over a network bridge (a re-forward after a lost response, §3.9).
        forwarded: bool,
    },
    /// A message moved to the DLQ (`poison`: the client's audit rejected a delivery).
    DeadLettered {
        key: MsgId,
        poison: bool,
    },
    /// A durable topic subscription is stored: the topic's messages are kept for it from now.
    DurableSubscribed {
        topic: String,
        sub: String,
    },
    /// A client created a consumer (first time only; reconnects re-create it silently).
    Subscribed {
        consumer: u32,
        dest: Dest,
        durable: Option<String>,
        ack: AckMode,
    },
    /// A client connected (or reconnected) to a broker.
    ClientConnected {
        broker: Addr,
    },
    ClientDisconnected,
    /// The application sent a message.
    Sent {
        key: MsgId,
        dest: Dest,
        persistent: bool,
        sync: bool,
    },
    /// A sync send's response (or receipt) arrived: the message is acknowledged.
    SendAcked {
        key: MsgId,
    },
    /// The application received a message.
    Delivered {
        key: MsgId,
        dest: Dest,
        consumer: u32,
        redelivered: u32,
        latency_us: u64,
    },
    /// The client's audit rejected a duplicate delivery (poison ack).
    DuplicateRejected {
        key: MsgId,
    },
    /// A broker instance (BrokerService) starts; `instance` counts in-process restarts.
    BrokerStarted {
        instance: u32,
    },
    /// A network bridge's attempt, handshake, drop or end.
    Bridge {
        name: BridgeName,
        event: BridgeEvent,
    },
    /// A bridge forwarded a message to its remote broker; `hops` counts the brokers on its
    /// path now (this one included).
    Forwarded {
        key: MsgId,
        dest: Dest,
        hops: u32,
    },
}
