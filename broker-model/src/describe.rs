//! The boundary's types in an operator's words, for the human trace: one short phrase per input,
//! message and observation (`pong zxid 0x100000003`, `elected 0000000001 master at position
//! 1048576`), and the kind of event each is (`roles`, `zk`, `store`, ...), which trace filters
//! select on. Nothing here changes behaviour or the trace hash.

use crate::bridge::{BridgeEvent, BridgeName};
use crate::broker::proto::{BrokerTimer, ReplMsg};
use crate::client::proto::AppTimer;
use crate::io::{CloseReason, ConnectError, DemoteReason, Input, Message, Observation, TimerId, ZkRole};
use crate::messaging::{FromBroker, ToBroker};
use crate::transport::TransportTimer;
use crate::zk::proto::{ClientMsg, Op, OpResult, PeerState, QuorumMsg, ServerMsg, ZkTimer};
use std::fmt;

/// What an event is about, for `--only` and the `amqsim::<kind>` tracing targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TraceKind {
    /// Elections, promotions, demotions, ZooKeeper roles, process lifecycles.
    Roles,
    /// Steps of the fault schedule: crashes, restarts, pauses, partitions, heals.
    Faults,
    /// Application sends, acks, deliveries, the DLQ, client connections.
    Messages,
    /// ZooKeeper sessions, requests, elections and quorum traffic.
    Zk,
    /// The replicated store: WAL frames, downloads, fsyncs, slave catch-up.
    Store,
    /// TCP connections opening, failing and closing.
    Net,
    /// Network bridges between groups: attempts, handshakes, drops, forwards.
    Bridges,
}

impl TraceKind {
    pub const ALL: [TraceKind; 7] = [
        TraceKind::Roles,
        TraceKind::Faults,
        TraceKind::Messages,
        TraceKind::Zk,
        TraceKind::Store,
        TraceKind::Net,
        TraceKind::Bridges,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TraceKind::Roles => "roles",
            TraceKind::Faults => "faults",
            TraceKind::Messages => "messages",
            TraceKind::Zk => "zk",
            TraceKind::Store => "store",
            TraceKind::Net => "net",
            TraceKind::Bridges => "bridges",
        }
    }
}

/// Whether an event is worth a line at the default level (`Important`) or is routine traffic
/// (pings, keepalives, acks of frames) shown only when asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    Important,
    Routine,
    Chatter,
}

impl Input {
    pub fn trace_kind(&self) -> TraceKind {
        match self {
            Input::Connected { .. }
            | Input::ConnectFailed { .. }
            | Input::Accepted { .. }
            | Input::Closed { .. }
            | Input::ListenFailed { .. } => TraceKind::Net,
            Input::Received { message, .. } => message.trace_kind(),
            Input::Timer { timer } => timer.trace_kind(),
            Input::Synced { .. } => TraceKind::Store,
        }
    }

    pub fn weight(&self) -> Weight {
        match self {
            Input::Received { message, .. } => message.weight(),
            Input::Timer { timer } => timer.weight(),
            Input::Synced { .. } => Weight::Chatter,
            Input::ListenFailed { .. } => Weight::Important,
            _ => Weight::Routine,
        }
    }
}

impl Message {
    pub fn trace_kind(&self) -> TraceKind {
        match self {
            Message::ZkClient(_) | Message::ZkServer(_) | Message::Quorum(_) | Message::Election(_) => {
                TraceKind::Zk
            }
            Message::Repl(_) => TraceKind::Store,
            Message::ToBroker(ToBroker::BrokerInfo(_) | ToBroker::SubscribeAdvisories)
            | Message::FromBroker(FromBroker::BrokerInfo(_) | FromBroker::Advisory(_)) => TraceKind::Bridges,
            Message::ToBroker(_) | Message::FromBroker(_) => TraceKind::Messages,
        }
    }

    pub fn weight(&self) -> Weight {
        match self {
            Message::ZkClient(ClientMsg::Ping)
            | Message::ZkServer(ServerMsg::Pong { .. })
            | Message::Quorum(QuorumMsg::Ping | QuorumMsg::PingReply { .. })
            | Message::ToBroker(ToBroker::KeepAlive)
            | Message::FromBroker(FromBroker::KeepAlive) => Weight::Chatter,
            Message::Repl(ReplMsg::Wal { .. } | ReplMsg::WalAck { .. }) => Weight::Chatter,
            Message::ToBroker(ToBroker::Ack { .. }) | Message::FromBroker(FromBroker::Response { .. }) => {
                Weight::Chatter
            }
            _ => Weight::Routine,
        }
    }
}

impl TimerId {
    pub fn trace_kind(&self) -> TraceKind {
        match self {
            TimerId::Zk(_) | TimerId::ZkClient { .. } => TraceKind::Zk,
            TimerId::Broker(BrokerTimer::SlaveRetry { .. } | BrokerTimer::TransferWritten { .. }) => {
                TraceKind::Store
            }
            TimerId::Broker(BrokerTimer::KeepAlive { .. }) | TimerId::App(_) | TimerId::Transport { .. } => {
                TraceKind::Messages
            }
            TimerId::Broker(_) => TraceKind::Roles,
        }
    }

    pub fn weight(&self) -> Weight {
        match self {
            // A broker's lifecycle timers: the observation that follows says the same.
            TimerId::Broker(
                BrokerTimer::Startup | BrokerTimer::Restart { .. } | BrokerTimer::MasterRecovered { .. },
            ) => Weight::Chatter,
            TimerId::Zk(ZkTimer::LeaderTick | ZkTimer::SessionExpiry | ZkTimer::FollowerWatchdog)
            | TimerId::ZkClient { .. }
            | TimerId::Broker(BrokerTimer::KeepAlive { .. })
            | TimerId::App(AppTimer::Produce { .. } | AppTimer::Processed { .. })
            | TimerId::Transport {
                kind: TransportTimer::KeepAlive { .. } | TransportTimer::ReadCheck { .. },
                ..
            } => Weight::Chatter,
            _ => Weight::Routine,
        }
    }
}

impl Observation {
    pub fn trace_kind(&self) -> TraceKind {
        match self {
            Observation::ZkRole { .. }
            | Observation::BrokerJoined { .. }
            | Observation::Elected { .. }
            | Observation::Promoted { .. }
            | Observation::Demoted { .. }
            | Observation::Serving { .. }
            | Observation::BrokerStarted { .. } => TraceKind::Roles,
            Observation::ZkSessionExpired { .. }
            | Observation::ZkSessionClosed { .. }
            | Observation::BrokerSessionConnected { .. }
            | Observation::BrokerSessionDisconnected { .. }
            | Observation::BrokerSessionExpired { .. } => TraceKind::Zk,
            Observation::SlaveCaughtUp { .. } | Observation::DuplicateSend { .. } => TraceKind::Store,
            Observation::Bridge { .. } | Observation::Forwarded { .. } => TraceKind::Bridges,
            _ => TraceKind::Messages,
        }
    }

    pub fn weight(&self) -> Weight {
        match self {
            Observation::Sent { .. }
            | Observation::SendAcked { .. }
            | Observation::Delivered { .. }
            | Observation::Forwarded { .. } => Weight::Routine,
            _ => Weight::Important,
        }
    }
}

/// `0x<epoch><counter>` as ZooKeeper logs zxids.
struct Hex(u64);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Connected { .. } => write!(f, "connected"),
            Input::ConnectFailed { error: ConnectError::Refused, .. } => write!(f, "connect refused"),
            Input::ConnectFailed { error: ConnectError::TimedOut, .. } => {
                write!(f, "connect timed out (SYN retries exhausted)")
            }
            Input::Accepted { port, .. } => write!(f, "accepted a connection on port {port}"),
            Input::Received { message, .. } => write!(f, "{message}"),
            Input::Closed { reason: CloseReason::Eof, .. } => write!(f, "connection closed by the peer"),
            Input::Closed { reason: CloseReason::Reset, .. } => write!(f, "connection reset"),
            Input::ListenFailed { port } => write!(f, "cannot bind port {port}: address in use"),
            Input::Timer { timer } => write!(f, "timer {}", TimerName(*timer)),
            Input::Synced { .. } => write!(f, "fsync done"),
        }
    }
}

struct TimerName(TimerId);

impl fmt::Display for TimerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.0 {
            TimerId::Zk(ZkTimer::ElectionPoll) => "election poll timed out",
            TimerId::Zk(ZkTimer::Finalize) => "finalizeWait over",
            TimerId::Zk(ZkTimer::ElectionConnect(_)) => "election connect timed out",
            TimerId::Zk(ZkTimer::LeaderTick) => "leader tick",
            TimerId::Zk(ZkTimer::LeaderPhaseDeadline) => "initLimit deadline",
            TimerId::Zk(ZkTimer::SessionExpiry) => "session expiry bucket",
            TimerId::Zk(ZkTimer::FollowerWatchdog) => "follower read check",
            TimerId::Zk(ZkTimer::LeaderConnectRetry) => "retry connecting to the leader",
            TimerId::ZkClient { kind, .. } => return write!(f, "zk client {kind:?}"),
            TimerId::Broker(BrokerTimer::Startup) => "JVM started",
            TimerId::Broker(BrokerTimer::Stopped { .. }) => {
                "broker stop reached the store: closing the zookeeper group"
            }
            TimerId::Broker(BrokerTimer::Restart { .. }) => "broker restart",
            TimerId::Broker(BrokerTimer::MasterRecovered { .. }) => "master store recovered",
            TimerId::Broker(BrokerTimer::SlaveRetry { .. }) => "slave retries its master",
            TimerId::Broker(BrokerTimer::TransferWritten { .. }) => "download written to disk",
            TimerId::Broker(BrokerTimer::KeepAlive { .. }) => "inactivity monitor check",
            TimerId::App(timer) => return write!(f, "{timer:?}"),
            TimerId::Transport { kind, .. } => return write!(f, "transport {kind:?}"),
        };
        f.write_str(text)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::ZkClient(ClientMsg::Connect { last_zxid, timeout_ms, session }) => match session {
                Some(s) => write!(
                    f,
                    "zk connect (session 0x{:x}, timeout {timeout_ms} ms, last zxid {})",
                    s.0,
                    Hex(last_zxid.0)
                ),
                None => write!(f, "zk connect (new session, timeout {timeout_ms} ms)"),
            },
            Message::ZkClient(ClientMsg::Ping) => write!(f, "zk ping"),
            Message::ZkClient(ClientMsg::Request { xid, op }) => {
                write!(f, "zk request #{xid} {}", OpText(op))
            }
            Message::ZkServer(ServerMsg::ConnectResponse { session, timeout_ms }) => {
                write!(f, "zk session 0x{:x} established (timeout {timeout_ms} ms)", session.0)
            }
            Message::ZkServer(ServerMsg::Pong { zxid }) => write!(f, "zk pong zxid {}", Hex(zxid.0)),
            Message::ZkServer(ServerMsg::Reply { xid, result, .. }) => match result {
                Ok(OpResult::Created { path }) => write!(f, "zk reply #{xid}: created {path}"),
                Ok(OpResult::Deleted) => write!(f, "zk reply #{xid}: deleted"),
                Ok(OpResult::SetData { stat }) => {
                    write!(f, "zk reply #{xid}: data set (version {})", stat.version)
                }
                Ok(OpResult::Data { data, .. }) => write!(f, "zk reply #{xid}: data {data}"),
                Ok(OpResult::Children { names }) => {
                    write!(f, "zk reply #{xid}: children [{}]", names.join(", "))
                }
                Ok(OpResult::Closed) => write!(f, "zk reply #{xid}: session closed"),
                Err(error) => write!(f, "zk reply #{xid}: error {error:?}"),
            },
            Message::ZkServer(ServerMsg::Watch { kind, path }) => {
                write!(f, "zk watch fired: {kind:?} {path}")
            }
            Message::Quorum(q) => write!(f, "{}", QuorumText(q)),
            Message::Election(n) => {
                let state = match n.state {
                    PeerState::Looking => "LOOKING",
                    PeerState::Following => "FOLLOWING",
                    PeerState::Leading => "LEADING",
                };
                write!(
                    f,
                    "vote from server {} ({state}): leader {} zxid {} election epoch {} peer epoch {}",
                    n.sender,
                    n.leader,
                    Hex(n.zxid.0),
                    n.election_epoch,
                    n.peer_epoch
                )
            }
            Message::Repl(r) => match r {
                ReplMsg::Login { node_id } => write!(f, "replication login from slave {node_id}"),
                ReplMsg::SyncResponse { position, files } => {
                    write!(f, "replication sync: master at position {position}, {} log files", files.len())
                }
                ReplMsg::Get { from } => write!(f, "replication get from position {from}"),
                ReplMsg::Transfer { entries, bytes } => {
                    write!(f, "replication download: {} records, {bytes} bytes", entries.len())
                }
                ReplMsg::Wal { entries, sync } => write!(
                    f,
                    "WAL frame: {} records from position {}{}",
                    entries.len(),
                    entries.first().map(|e| e.start).unwrap_or(0),
                    if *sync { " (sync)" } else { "" }
                ),
                ReplMsg::WalAck { position } => write!(f, "WAL ack: slave at position {position}"),
            },
            Message::ToBroker(t) => match t {
                ToBroker::Connect { client, reconnect } => {
                    write!(
                        f,
                        "client {client} connects{}",
                        if *reconnect { " (failover reconnect)" } else { "" }
                    )
                }
                ToBroker::Subscribe(info) => {
                    write!(f, "subscribe consumer {} to {}", info.consumer, info.dest)
                }
                ToBroker::Send { msg, corr } => write!(
                    f,
                    "send {} to {} ({} bytes{})",
                    msg.key,
                    msg.dest,
                    msg.size,
                    if corr.is_some() { ", sync" } else { "" }
                ),
                ToBroker::Ack { consumer, id } => write!(f, "ack {id} (consumer {consumer})"),
                ToBroker::PoisonAck { consumer, id } => write!(f, "poison ack {id} (consumer {consumer})"),
                ToBroker::KeepAlive => write!(f, "keepalive"),
                ToBroker::BrokerInfo(info) => write!(
                    f,
                    "BrokerInfo {} ({}{}{})",
                    info.id,
                    info.name,
                    if info.network { ", network bridge" } else { "" },
                    if info.duplex { ", duplex" } else { "" }
                ),
                ToBroker::SubscribeAdvisories => write!(f, "subscribe to consumer advisories"),
            },
            Message::FromBroker(b) => match b {
                FromBroker::Response { corr } => write!(f, "send #{corr} acknowledged"),
                FromBroker::KeepAlive => write!(f, "keepalive"),
                FromBroker::Deliver { consumer, msg, redelivered } => write!(
                    f,
                    "deliver {} from {} to consumer {consumer}{}",
                    msg.key,
                    msg.dest,
                    if *redelivered > 0 { format!(" (redelivery {redelivered})") } else { String::new() }
                ),
                FromBroker::BrokerInfo(info) => write!(f, "BrokerInfo {} ({})", info.id, info.name),
                FromBroker::Advisory(a) => write!(
                    f,
                    "advisory: consumer {} {} {}{}",
                    a.consumer,
                    if a.added { "added on" } else { "removed from" },
                    a.dest,
                    if a.path.is_empty() {
                        String::new()
                    } else {
                        format!(" (via {} brokers)", a.path.len())
                    }
                ),
            },
        }
    }
}

struct OpText<'a>(&'a Op);

impl fmt::Display for OpText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Op::Create { path, mode, .. } => write!(f, "create {path} ({mode:?})"),
            Op::Delete { path, .. } => write!(f, "delete {path}"),
            Op::SetData { path, data, .. } => write!(f, "set {path} = {data}"),
            Op::GetData { path, watch } => write!(f, "get {path}{}", if *watch { " (watch)" } else { "" }),
            Op::GetChildren { path, watch } => {
                write!(f, "list {path}{}", if *watch { " (watch)" } else { "" })
            }
            Op::CloseSession => write!(f, "close session"),
            Op::CreateSession { timeout_ms } => write!(f, "create session ({timeout_ms} ms)"),
        }
    }
}

struct QuorumText<'a>(&'a QuorumMsg);

impl fmt::Display for QuorumText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            QuorumMsg::FollowerInfo { server, accepted_epoch, last_zxid } => write!(
                f,
                "FOLLOWERINFO from server {} (accepted epoch {accepted_epoch}, last zxid {})",
                server,
                Hex(last_zxid.0)
            ),
            QuorumMsg::LeaderInfo { epoch } => write!(f, "LEADERINFO new epoch {epoch}"),
            QuorumMsg::AckEpoch { server } => write!(f, "ACKEPOCH from server {server}"),
            QuorumMsg::SnapAndNewLeader { epoch, snapshot } => {
                write!(f, "SNAP up to zxid {} + NEWLEADER epoch {epoch}", Hex(snapshot.zxid.0))
            }
            QuorumMsg::AckNewLeader { server } => write!(f, "ACK of NEWLEADER from server {server}"),
            QuorumMsg::UpToDate => write!(f, "UPTODATE"),
            QuorumMsg::Request { session, op, .. } => {
                write!(f, "forwarded request of session 0x{:x}: {}", session.0, OpText(op))
            }
            QuorumMsg::Proposal { entry } => write!(f, "PROPOSAL zxid {}", Hex(entry.zxid.0)),
            QuorumMsg::Ack { zxid } => write!(f, "ACK zxid {}", Hex(zxid.0)),
            QuorumMsg::Commit { zxid } => write!(f, "COMMIT zxid {}", Hex(zxid.0)),
            QuorumMsg::Ping => write!(f, "quorum PING"),
            QuorumMsg::PingReply { touches } => {
                write!(f, "quorum PING reply ({} session touches)", touches.len())
            }
            QuorumMsg::Revalidate { session, .. } => write!(f, "REVALIDATE session 0x{:x}", session.0),
            QuorumMsg::RevalidateReply { session, valid } => {
                write!(
                    f,
                    "REVALIDATE reply: session 0x{:x} {}",
                    session.0,
                    if *valid { "valid" } else { "expired" }
                )
            }
        }
    }
}

impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observation::ZkRole { role, epoch, serving } => {
                let role = match role {
                    ZkRole::Looking => "LOOKING",
                    ZkRole::Following => "FOLLOWING",
                    ZkRole::Leading => "LEADING",
                };
                write!(
                    f,
                    "zookeeper {role} (epoch {epoch}{})",
                    if *serving { ", serving clients" } else { "" }
                )
            }
            Observation::ZkSessionExpired { session } => write!(f, "expired session 0x{:x}", session.0),
            Observation::ZkSessionClosed { session } => {
                write!(f, "session 0x{:x} closed, its ephemerals deleted", session.0)
            }
            Observation::BrokerSessionConnected { session } => {
                write!(f, "zookeeper session 0x{:x} connected", session.0)
            }
            Observation::BrokerSessionDisconnected { session } => {
                write!(f, "zookeeper session 0x{:x} disconnected", session.0)
            }
            Observation::BrokerSessionExpired { session } => {
                write!(f, "zookeeper session 0x{:x} expired", session.0)
            }
            Observation::BrokerJoined { eid, .. } => write!(f, "joined the group as member {eid}"),
            Observation::Elected { eid, position } => write!(f, "elected {eid} master (position {position})"),
            Observation::Promoted { eid } => {
                write!(f, "promoted to master (eid {eid}): starting the master store")
            }
            Observation::Demoted { reason } => {
                let why = match reason {
                    DemoteReason::ZkDisconnected => "lost its zookeeper connection",
                    DemoteReason::NotElected => "no longer the elected master",
                    DemoteReason::BindFailed => "cannot bind its replication port",
                };
                write!(f, "demoted: {why}")
            }
            Observation::Serving { on: true } => write!(f, "serving as master: client ports open"),
            Observation::Serving { on: false } => write!(f, "stopped serving: client ports closed"),
            Observation::SlaveCaughtUp { master, transferred } => {
                write!(f, "slave caught up with master {master} after downloading {transferred} bytes")
            }
            Observation::ResendSuppressed { key } => write!(f, "producer audit dropped the resend of {key}"),
            Observation::DuplicateSend { key, forwarded } => write!(
                f,
                "cursor audit found a duplicate {} of {key}",
                if *forwarded { "forward (a bridge resent it)" } else { "send" }
            ),
            Observation::DeadLettered { key, poison } => {
                write!(f, "{key} moved to the DLQ{}", if *poison { " (poison ack)" } else { " (duplicate)" })
            }
            Observation::DurableSubscribed { topic, sub } => {
                write!(f, "durable subscription {sub} on topic {topic} stored")
            }
            Observation::Subscribed { consumer, dest, durable, ack } => write!(
                f,
                "consumer {consumer} subscribed to {dest} ({ack:?} ack{})",
                durable.as_ref().map(|d| format!(", durable {d}")).unwrap_or_default()
            ),
            Observation::ClientConnected { broker } => write!(f, "client connected to {broker}"),
            Observation::ClientDisconnected => write!(f, "client lost its connection"),
            Observation::Sent { key, dest, persistent, sync } => write!(
                f,
                "sent {key} to {dest} ({}, {})",
                if *persistent { "persistent" } else { "non-persistent" },
                if *sync { "sync" } else { "async" }
            ),
            Observation::SendAcked { key } => write!(f, "send of {key} acknowledged"),
            Observation::Delivered { key, dest, consumer, redelivered, latency_us } => write!(
                f,
                "received {key} from {dest} (consumer {consumer}, {:.3} ms after the send{})",
                *latency_us as f64 / 1000.0,
                if *redelivered > 0 { format!(", redelivery {redelivered}") } else { String::new() }
            ),
            Observation::DuplicateRejected { key } => write!(f, "client audit rejected a duplicate of {key}"),
            Observation::BrokerStarted { instance } => write!(f, "broker instance {instance} starting"),
            Observation::Bridge { name, event } => {
                write!(f, "{}", BridgeText { name, event, uri: &name.uri })
            }
            Observation::Forwarded { key, dest, hops } => {
                write!(f, "forwarded {key} on {dest} to the remote broker (hop {hops})")
            }
        }
    }
}

/// A bridge event in words, with its URI as the caller names it (the trace names hosts).
pub struct BridgeText<'a> {
    pub name: &'a BridgeName,
    pub event: &'a BridgeEvent,
    pub uri: &'a dyn fmt::Display,
}

impl fmt::Display for BridgeText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = if self.name.mirror { "duplex mirror of " } else { "bridge " };
        write!(f, "{side}{} to {}: ", self.name.connector, self.uri)?;
        match self.event {
            BridgeEvent::Attempt => write!(f, "connecting"),
            BridgeEvent::Refused => write!(f, "connection refused"),
            BridgeEvent::TimedOut => write!(f, "connect timed out"),
            BridgeEvent::Up { remote } => write!(f, "up, remote broker {remote}"),
            BridgeEvent::Down { reason } => write!(f, "down ({reason:?})"),
            BridgeEvent::GivenUp => write!(f, "given up (maxReconnectAttempts)"),
            BridgeEvent::Loop => write!(f, "the remote is this broker: disposed"),
        }
    }
}
