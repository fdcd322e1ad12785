//! ZooKeeper wire messages, reduced to the fields that change behaviour (zookeeper.md §6.2).

use super::tree::{DataTree, Stat};
pub use super::{ServerId, SessionId, Zxid};
use std::collections::BTreeMap;

/// How a znode is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateMode {
    Persistent,
    EphemeralSequential,
}

/// A client operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    Create {
        path: String,
        data: String,
        mode: CreateMode,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    SetData {
        path: String,
        data: String,
        version: Option<i32>,
    },
    GetData {
        path: String,
        watch: bool,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    CloseSession,
    /// Server-internal: the write that creates a new global session.
    CreateSession {
        timeout_ms: u64,
    },
}

impl Op {
    /// Writes go through the leader; reads are served by the connected server.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Op::Create { .. }
                | Op::Delete { .. }
                | Op::SetData { .. }
                | Op::CloseSession
                | Op::CreateSession { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpResult {
    Created { path: String },
    Deleted,
    SetData { stat: Stat },
    Data { data: String, stat: Stat },
    Children { names: Vec<String> },
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZkError {
    NoNode,
    NodeExists,
    BadVersion,
    NotEmpty,
    NoChildrenForEphemerals,
    SessionExpired,
    /// Client-side: the connection was lost with the request outstanding.
    ConnectionLoss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientMsg {
    Connect { last_zxid: Zxid, timeout_ms: u64, session: Option<SessionId> },
    Ping,
    Request { xid: u64, op: Op },
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerMsg {
    /// `timeout_ms == 0` means the session is expired (the handle is dead).
    ConnectResponse {
        session: SessionId,
        timeout_ms: u64,
    },
    Pong {
        zxid: Zxid,
    },
    Reply {
        xid: u64,
        zxid: Zxid,
        result: Result<OpResult, ZkError>,
    },
    Watch {
        kind: WatchKind,
        path: String,
    },
}

/// A replicated state change, decided by the leader's prep step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Txn {
    CreateSession {
        timeout_ms: u64,
    },
    CloseSession,
    /// `path` already carries its sequence suffix; `ephemeral` makes the session its owner.
    Create {
        path: String,
        data: String,
        ephemeral: bool,
    },
    Delete {
        path: String,
    },
    SetData {
        path: String,
        data: String,
    },
    /// A request that failed validation still takes a zxid, keeping per-session order.
    Error {
        error: ZkError,
    },
}

/// A txn with its origin: the session and client xid it answers (`None` for server-made txns).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxnEntry {
    pub zxid: Zxid,
    pub session: SessionId,
    pub xid: Option<u64>,
    pub txn: Txn,
}

/// A whole replicated state, as sent by `SNAP` and kept on disk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Snapshot {
    pub zxid: Zxid,
    pub tree: DataTree,
    /// The replicated session table: id → negotiated timeout.
    pub sessions: BTreeMap<SessionId, u64>,
}

/// Server ↔ server on the quorum port (collapsed discovery and sync, zookeeper.md §6.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QuorumMsg {
    FollowerInfo {
        server: ServerId,
        accepted_epoch: u32,
        last_zxid: Zxid,
    },
    LeaderInfo {
        epoch: u32,
    },
    AckEpoch {
        server: ServerId,
    },
    /// The leader's whole committed state, then `NEWLEADER`.
    SnapAndNewLeader {
        epoch: u32,
        snapshot: Box<Snapshot>,
    },
    AckNewLeader {
        server: ServerId,
    },
    UpToDate,
    /// A write forwarded by a follower. (Boxed, as `Proposal`: a `Message` is as large as
    /// its largest kind, and every packet of a run moves one.)
    Request {
        session: SessionId,
        xid: Option<u64>,
        op: Box<Op>,
    },
    Proposal {
        entry: Box<TxnEntry>,
    },
    Ack {
        zxid: Zxid,
    },
    Commit {
        zxid: Zxid,
    },
    /// Leader → learner every tick/2.
    Ping,
    /// Learner → leader: the sessions touched since the previous ping.
    PingReply {
        touches: Vec<(SessionId, u64)>,
    },
    Revalidate {
        session: SessionId,
        timeout_ms: u64,
    },
    RevalidateReply {
        session: SessionId,
        valid: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
}

/// A Fast Leader Election notification: `(leader, zxid, peerEpoch)` is the vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Notification {
    pub sender: ServerId,
    pub leader: ServerId,
    pub zxid: Zxid,
    pub election_epoch: u64,
    pub peer_epoch: u32,
    pub state: PeerState,
}

/// What a ZooKeeper server keeps on disk (its txn log and snapshots). ZooKeeper fsyncs before it
/// acknowledges, and the model writes these records synced (docs/fidelity.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ZkRecord {
    AcceptedEpoch(u32),
    CurrentEpoch(u32),
    /// Boxed: a broker's disk holds tens of thousands of small log records, and a `Record`
    /// is as large as its largest kind.
    Txn(Box<TxnEntry>),
    Snapshot(Box<Snapshot>),
}

/// Timers of a ZooKeeper server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZkTimer {
    /// LOOKING: the notification poll timed out (200 ms doubling to 60 s).
    ElectionPoll,
    /// LOOKING: `finalizeWait` after the proposal reached a quorum.
    Finalize,
    /// An election connection attempt gives up (`cnxTimeout`).
    ElectionConnect(ServerId),
    /// LEADING: the `tickTime/2` loop of `Leader.lead`.
    LeaderTick,
    /// LEADING: `initLimit·tickTime` for discovery and sync.
    LeaderPhaseDeadline,
    /// LEADING: the next expiry bucket.
    SessionExpiry,
    /// FOLLOWING: the leader socket's read timeout.
    FollowerWatchdog,
    /// FOLLOWING: retry connecting to the leader.
    LeaderConnectRetry,
}

/// The client library's timers (inside `TimerId::ZkClient`, whose handle tells successive
/// `ZooKeeper` objects apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientTimer {
    Ping,
    ReadTimeout,
    ConnectTimeout,
    Reconnect,
}
