//! One ZooKeeper server (`QuorumPeer`): Fast Leader Election, collapsed discovery and sync, the
//! ZAB broadcast, leader-only session expiry and the client-facing connection handling.
//!
//! Source: zookeeper.md §1 (sessions), §2 (znodes, watches), §3 (FLE, ZAB, failure detection).
//! Simplifications are listed in docs/fidelity.md.

use super::proto::{
    ClientMsg, Notification, Op, OpResult, PeerState, QuorumMsg, ServerMsg, Snapshot, Txn, TxnEntry,
    WatchKind, ZkError, ZkRecord, ZkTimer,
};
use super::tree::DataTree;
use super::{expiry_bucket_ms, negotiate_session_timeout, EnsembleConfig, ServerId, SessionId, Zxid};
use crate::io::{
    Addr, CloseReason, Component, ConnId, Effect, Effects, Input, Message, Observation, Record, TimerId,
    ZkRole,
};
use crate::rng::Rng;
use crate::time::Time;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The addresses of one ensemble member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddrs {
    pub quorum: Addr,
    pub election: Addr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub id: ServerId,
    pub client_port: u16,
    pub quorum_port: u16,
    pub election_port: u16,
    /// Every voter, this server included.
    pub peers: BTreeMap<ServerId, PeerAddrs>,
    pub ensemble: EnsembleConfig,
    /// Origin of this server's monotonic millisecond clock, which sets the phase of its expiry
    /// buckets (`Time.currentElapsedTime()` has an arbitrary origin per JVM).
    pub clock_offset_ms: u64,
}

fn timer(t: ZkTimer) -> TimerId {
    TimerId::Zk(t)
}

/// A vote, ordered as `totalOrderPredicate`: peer epoch, then zxid, then server id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote {
    pub peer_epoch: u32,
    pub zxid: Zxid,
    pub leader: ServerId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CastVote {
    vote: Vote,
    election_epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Looking {
    proposal: Vote,
    recvset: BTreeMap<ServerId, CastVote>,
    outofelection: BTreeMap<ServerId, (CastVote, PeerState)>,
    poll_interval_ms: u64,
    finalizing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LearnerPhase {
    Connected,
    EpochAcked,
    /// Sent the snapshot and NEWLEADER; waiting for its ack.
    SnapSent,
    /// Acked NEWLEADER: receives proposals and commits.
    Synced,
}

impl LearnerPhase {
    /// A learner that has the snapshot gets every later proposal and commit.
    fn receives_broadcast(self) -> bool {
        matches!(self, LearnerPhase::SnapSent | LearnerPhase::Synced)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LearnerHandle {
    conn: ConnId,
    phase: LearnerPhase,
    accepted_epoch: u32,
    deadline_tick: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeaderPhase {
    Discovery,
    Sync,
    Broadcast,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Outstanding {
    entry: TxnEntry,
    acks: BTreeSet<ServerId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Leading {
    phase: LeaderPhase,
    epoch: u32,
    learners: BTreeMap<ServerId, LearnerHandle>,
    conn_learner: BTreeMap<ConnId, Option<ServerId>>,
    tick: u64,
    half_ticks: u64,
    next_counter: u32,
    outstanding: BTreeMap<Zxid, Outstanding>,
    /// Committed state plus every outstanding change: what the next request is validated against.
    prep_tree: DataTree,
    prep_sessions: BTreeMap<SessionId, u64>,
    closing: BTreeSet<SessionId>,
    /// Session → its bucket (leader-clock ms); bucket → sessions.
    expiry_of: BTreeMap<SessionId, u64>,
    buckets: BTreeMap<u64, BTreeSet<SessionId>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FollowerPhase {
    Connecting { attempts: u32 },
    Syncing,
    Serving,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Following {
    leader: ServerId,
    conn: ConnId,
    phase: FollowerPhase,
    last_packet: Time,
    touches: BTreeMap<SessionId, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Looking(Looking),
    Following(Following),
    Leading(Box<Leading>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    Write { xid: u64 },
    Read { xid: u64, op: Op },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientConn {
    session: Option<SessionId>,
    timeout_ms: u64,
    /// Per-session FIFO (`CommitProcessor`): a read waits behind the session's earlier writes.
    pending: VecDeque<Pending>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnRole {
    Client,
    ElectionOut(ServerId),
    ElectionIn,
    ToLeader,
    FromLearner,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ElectionLink {
    conn: ConnId,
    up: bool,
    /// `queueSendMap` holds one message per peer: the newest replaces the older.
    queued: Option<Notification>,
}

/// A client connection waiting for its session to be created or revalidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingConnect {
    conn: ConnId,
    timeout_ms: u64,
}

#[derive(Debug, Clone)]
pub struct ZkServer {
    config: ServerConfig,
    accepted_epoch: u32,
    current_epoch: u32,
    tree: DataTree,
    sessions: BTreeMap<SessionId, u64>,
    last_processed: Zxid,
    /// Logged (acknowledged) but not yet committed txns, in zxid order.
    logged: Vec<TxnEntry>,
    logical_clock: u64,
    current_vote: CastVote,
    role: Role,
    serving: bool,
    conns: BTreeMap<ConnId, ConnRole>,
    clients: BTreeMap<ConnId, ClientConn>,
    data_watches: BTreeMap<String, BTreeSet<ConnId>>,
    child_watches: BTreeMap<String, BTreeSet<ConnId>>,
    election_links: BTreeMap<ServerId, ElectionLink>,
    new_sessions: BTreeMap<SessionId, PendingConnect>,
    revalidations: BTreeMap<SessionId, PendingConnect>,
    last_conn: u32,
    next_session: u64,
}

impl ZkServer {
    /// Starts a server from what its disk holds (empty for a fresh server).
    pub fn start(config: ServerConfig, rng_seed: (u64, u64), disk: &[Record]) -> ZkServer {
        assert!(config.peers.contains_key(&config.id), "server {} not among its peers", config.id);
        let mut rng = Rng::new(rng_seed.0, rng_seed.1);
        let next_session = ((config.id as u64) << 56) | (rng.range(0, 1 << 40) << 8);
        let mut server = ZkServer {
            accepted_epoch: 0,
            current_epoch: 0,
            tree: DataTree::new(),
            sessions: BTreeMap::new(),
            last_processed: Zxid::default(),
            logged: Vec::new(),
            logical_clock: 0,
            current_vote: CastVote {
                vote: Vote { peer_epoch: 0, zxid: Zxid::default(), leader: config.id },
                election_epoch: 0,
            },
            role: Role::Looking(Looking {
                proposal: Vote { peer_epoch: 0, zxid: Zxid::default(), leader: config.id },
                recvset: BTreeMap::new(),
                outofelection: BTreeMap::new(),
                poll_interval_ms: 0,
                finalizing: false,
            }),
            serving: false,
            conns: BTreeMap::new(),
            clients: BTreeMap::new(),
            data_watches: BTreeMap::new(),
            child_watches: BTreeMap::new(),
            election_links: BTreeMap::new(),
            new_sessions: BTreeMap::new(),
            revalidations: BTreeMap::new(),
            last_conn: 0,
            next_session,
            config,
        };
        server.recover(disk);
        server
    }

    /// `ZKDatabase.loadDataBase`: the last snapshot plus every logged txn after it.
    fn recover(&mut self, disk: &[Record]) {
        for record in disk {
            let Record::Zk(record) = record else { panic!("foreign record on a zk disk") };
            match record {
                ZkRecord::AcceptedEpoch(epoch) => self.accepted_epoch = *epoch,
                ZkRecord::CurrentEpoch(epoch) => self.current_epoch = *epoch,
                ZkRecord::Snapshot(snapshot) => {
                    self.tree = snapshot.tree.clone();
                    self.sessions = snapshot.sessions.clone();
                    self.last_processed = snapshot.zxid;
                }
                ZkRecord::Txn(entry) => {
                    if entry.zxid > self.last_processed {
                        let _ = self.apply_to_state(entry);
                    }
                }
            }
        }
    }

    pub fn id(&self) -> ServerId {
        self.config.id
    }

    pub fn is_leading(&self) -> bool {
        matches!(self.role, Role::Leading(_))
    }

    pub fn is_following(&self) -> bool {
        matches!(self.role, Role::Following(_))
    }

    pub fn is_serving(&self) -> bool {
        self.serving
    }

    pub fn last_processed(&self) -> Zxid {
        self.last_processed
    }

    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    fn quorum(&self) -> usize {
        self.config.peers.len() / 2 + 1
    }

    fn last_logged(&self) -> Zxid {
        self.logged.last().map(|e| e.zxid).unwrap_or(self.last_processed)
    }

    fn local_ms(&self, now: Time) -> u64 {
        now.as_ms() + self.config.clock_offset_ms
    }

    fn global_time(&self, local_ms: u64) -> Time {
        Time::from_ms(local_ms.saturating_sub(self.config.clock_offset_ms))
    }

    fn new_conn(&mut self) -> ConnId {
        ConnId::next_out(Component::Own, &mut self.last_conn)
    }

    pub fn on_start(&mut self, now: Time, fx: &mut dyn Effects) {
        fx.push(Effect::Listen { port: self.config.client_port });
        fx.push(Effect::Listen { port: self.config.election_port });
        self.start_election(now, fx);
    }

    pub fn on_input(&mut self, now: Time, input: Input, fx: &mut dyn Effects) {
        match input {
            Input::Accepted { conn, port } => self.on_accepted(conn, port),
            Input::Connected { conn } => self.on_connected(now, conn, fx),
            Input::ConnectFailed { conn, .. } => self.on_conn_lost(now, conn, fx),
            Input::Closed { conn, reason } => {
                let _: CloseReason = reason;
                self.on_conn_lost(now, conn, fx);
            }
            Input::Received { conn, message } => self.on_message(now, conn, message, fx),
            Input::Timer { timer: TimerId::Zk(t) } => self.on_timer(now, t, fx),
            Input::Timer { timer } => panic!("foreign timer {timer:?}"),
            Input::ListenFailed { port } => panic!("zk port {port} taken"),
            Input::Synced { .. } => {}
        }
        self.invariants();
    }

    fn on_accepted(&mut self, conn: ConnId, port: u16) {
        let role = if port == self.config.client_port {
            self.clients.insert(conn, ClientConn { session: None, timeout_ms: 0, pending: VecDeque::new() });
            ConnRole::Client
        } else if port == self.config.election_port {
            ConnRole::ElectionIn
        } else {
            assert_eq!(port, self.config.quorum_port);
            if let Role::Leading(leading) = &mut self.role {
                leading.conn_learner.insert(conn, None);
            }
            ConnRole::FromLearner
        };
        self.conns.insert(conn, role);
    }

    fn on_connected(&mut self, now: Time, conn: ConnId, fx: &mut dyn Effects) {
        match self.conns.get(&conn).copied() {
            Some(ConnRole::ElectionOut(peer)) => {
                fx.push(Effect::CancelTimer { timer: timer(ZkTimer::ElectionConnect(peer)) });
                let link = self.election_links.get_mut(&peer).expect("link of an election conn");
                link.up = true;
                if let Some(notification) = link.queued.take() {
                    fx.push(Effect::Send { conn, message: Message::Election(notification) });
                }
            }
            Some(ConnRole::ToLeader) => {
                let Role::Following(following) = &mut self.role else { unreachable!() };
                assert_eq!(following.conn, conn);
                following.phase = FollowerPhase::Syncing;
                following.last_packet = now;
                let info = QuorumMsg::FollowerInfo {
                    server: self.config.id,
                    accepted_epoch: self.accepted_epoch,
                    last_zxid: self.last_logged(),
                };
                fx.push(Effect::Send { conn, message: Message::Quorum(info) });
            }
            other => panic!("connected event for {other:?}"),
        }
    }

    /// A connection ended: closed by the peer, reset, or refused.
    fn on_conn_lost(&mut self, now: Time, conn: ConnId, fx: &mut dyn Effects) {
        let Some(role) = self.conns.remove(&conn) else {
            return;
        };
        match role {
            ConnRole::Client => self.forget_client(conn),
            ConnRole::ElectionIn => {}
            ConnRole::ElectionOut(peer) => {
                if self.election_links.get(&peer).is_some_and(|l| l.conn == conn) {
                    self.election_links.remove(&peer);
                    fx.push(Effect::CancelTimer { timer: timer(ZkTimer::ElectionConnect(peer)) });
                }
            }
            ConnRole::ToLeader => {
                let Role::Following(following) = &self.role else {
                    return;
                };
                if following.conn != conn {
                    return;
                }
                if let FollowerPhase::Connecting { attempts } = following.phase {
                    if attempts < 5 {
                        let at = now.add_ms(self.config.ensemble.leader_connect_delay_ms);
                        fx.push(Effect::SetTimer { timer: timer(ZkTimer::LeaderConnectRetry), at });
                        return;
                    }
                }
                self.shutdown(now, fx);
            }
            ConnRole::FromLearner => {
                let Role::Leading(leading) = &mut self.role else {
                    return;
                };
                if let Some(Some(sid)) = leading.conn_learner.remove(&conn) {
                    if leading.learners.get(&sid).is_some_and(|l| l.conn == conn) {
                        leading.learners.remove(&sid);
                    }
                }
            }
        }
    }

    fn forget_client(&mut self, conn: ConnId) {
        self.clients.remove(&conn);
        for watchers in self.data_watches.values_mut().chain(self.child_watches.values_mut()) {
            watchers.remove(&conn);
        }
        self.new_sessions.retain(|_, p| p.conn != conn);
        self.revalidations.retain(|_, p| p.conn != conn);
    }

    fn on_message(&mut self, now: Time, conn: ConnId, message: Message, fx: &mut dyn Effects) {
        let Some(role) = self.conns.get(&conn).copied() else {
            return;
        };
        match (role, message) {
            (ConnRole::Client, Message::ZkClient(msg)) => self.on_client(now, conn, msg, fx),
            (ConnRole::ElectionIn, Message::Election(n)) => self.on_notification(now, n, fx),
            (ConnRole::ToLeader, Message::Quorum(msg)) => self.on_from_leader(now, msg, fx),
            (ConnRole::FromLearner, Message::Quorum(msg)) => self.on_from_learner(now, conn, msg, fx),
            (role, message) => panic!("unexpected {message:?} on {role:?}"),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Fast Leader Election.

    fn initial_vote(&self) -> Vote {
        Vote { peer_epoch: self.current_epoch, zxid: self.last_logged(), leader: self.config.id }
    }

    fn start_election(&mut self, now: Time, fx: &mut dyn Effects) {
        self.logical_clock += 1;
        let proposal = self.initial_vote();
        let mut recvset = BTreeMap::new();
        recvset.insert(self.config.id, CastVote { vote: proposal, election_epoch: self.logical_clock });
        let interval = self.config.ensemble.finalize_wait_ms;
        self.role = Role::Looking(Looking {
            proposal,
            recvset,
            outofelection: BTreeMap::new(),
            poll_interval_ms: interval,
            finalizing: false,
        });
        self.observe_role(fx);
        self.broadcast(now, fx);
        fx.push(Effect::SetTimer { timer: timer(ZkTimer::ElectionPoll), at: now.add_ms(interval) });
    }

    fn my_notification(&self) -> Notification {
        let (vote, election_epoch, state) = match &self.role {
            Role::Looking(looking) => (looking.proposal, self.logical_clock, PeerState::Looking),
            Role::Following(_) => {
                (self.current_vote.vote, self.current_vote.election_epoch, PeerState::Following)
            }
            Role::Leading(_) => {
                (self.current_vote.vote, self.current_vote.election_epoch, PeerState::Leading)
            }
        };
        Notification {
            sender: self.config.id,
            leader: vote.leader,
            zxid: vote.zxid,
            election_epoch,
            peer_epoch: vote.peer_epoch,
            state,
        }
    }

    fn broadcast(&mut self, now: Time, fx: &mut dyn Effects) {
        let peers: Vec<ServerId> =
            self.config.peers.keys().copied().filter(|p| *p != self.config.id).collect();
        for peer in peers {
            self.send_notification(now, peer, fx);
        }
    }

    fn send_notification(&mut self, now: Time, peer: ServerId, fx: &mut dyn Effects) {
        let notification = self.my_notification();
        if let Some(link) = self.election_links.get_mut(&peer) {
            if link.up {
                fx.push(Effect::Send { conn: link.conn, message: Message::Election(notification) });
            } else {
                link.queued = Some(notification);
            }
            return;
        }
        let conn = self.new_conn();
        self.conns.insert(conn, ConnRole::ElectionOut(peer));
        self.election_links.insert(peer, ElectionLink { conn, up: false, queued: Some(notification) });
        let target = self.config.peers[&peer].election;
        fx.push(Effect::Connect { conn, target });
        // `QuorumCnxManager.cnxTO`: an attempt into silence gives up after 5 s.
        let at = now.add_ms(5000);
        fx.push(Effect::SetTimer { timer: timer(ZkTimer::ElectionConnect(peer)), at });
    }

    fn on_notification(&mut self, now: Time, n: Notification, fx: &mut dyn Effects) {
        let Role::Looking(_) = &self.role else {
            // A settled server answers a LOOKING peer with its current vote.
            if n.state == PeerState::Looking {
                self.send_notification(now, n.sender, fx);
            }
            return;
        };
        let vote = Vote { peer_epoch: n.peer_epoch, zxid: n.zxid, leader: n.leader };
        let cast = CastVote { vote, election_epoch: n.election_epoch };
        if self.ignore_notification_while_finalizing(now, n, vote, fx) {
            return;
        }
        if n.state == PeerState::Looking {
            self.on_looking_notification(now, n, cast, fx);
        } else {
            self.on_settled_notification(now, n, cast, fx);
        }
        // `lookForLeader` polls its queue afresh after every notification: the poll timeout
        // counts from the last notification received, not from the last broadcast.
        if let Role::Looking(looking) = &self.role {
            if looking.finalizing {
                fx.push(Effect::CancelTimer { timer: timer(ZkTimer::ElectionPoll) });
            } else {
                let at = now.add_ms(looking.poll_interval_ms);
                fx.push(Effect::SetTimer { timer: timer(ZkTimer::ElectionPoll), at });
            }
        }
    }

    /// While waiting out `finalizeWait` (`while((n = recvqueue.poll(finalizeWait)) != null)`),
    /// a notification that does not beat the proposal is dropped and restarts the wait; a better
    /// one ends the wait and is handled as usual (`recvqueue.put(n); break;`). Nothing is
    /// broadcast meanwhile. The receiver thread still answers a LOOKING peer of an older
    /// election (`WorkerReceiver`). Returns whether the notification was consumed here.
    fn ignore_notification_while_finalizing(
        &mut self,
        now: Time,
        n: Notification,
        vote: Vote,
        fx: &mut dyn Effects,
    ) -> bool {
        let logical_clock = self.logical_clock;
        let finalize_wait = self.config.ensemble.finalize_wait_ms;
        let Role::Looking(looking) = &mut self.role else { return false };
        if !looking.finalizing {
            return false;
        }
        if vote > looking.proposal {
            looking.finalizing = false;
            fx.push(Effect::CancelTimer { timer: timer(ZkTimer::Finalize) });
            return false;
        }
        fx.push(Effect::SetTimer { timer: timer(ZkTimer::Finalize), at: now.add_ms(finalize_wait) });
        if n.state == PeerState::Looking && n.election_epoch < logical_clock {
            self.send_notification(now, n.sender, fx);
        }
        true
    }

    fn on_looking_notification(&mut self, now: Time, n: Notification, cast: CastVote, fx: &mut dyn Effects) {
        if n.election_epoch < self.logical_clock {
            self.send_notification(now, n.sender, fx);
            return;
        }
        let initial = self.initial_vote();
        let quorum = self.quorum();
        let me = self.config.id;
        let Role::Looking(looking) = &mut self.role else { unreachable!() };
        let mut changed = false;
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            looking.recvset.clear();
            looking.proposal = initial.max(cast.vote);
            changed = true;
        } else if cast.vote > looking.proposal {
            looking.proposal = cast.vote;
            changed = true;
        }
        let epoch = self.logical_clock;
        looking.recvset.insert(n.sender, cast);
        looking.recvset.insert(me, CastVote { vote: looking.proposal, election_epoch: epoch });
        let proposal = CastVote { vote: looking.proposal, election_epoch: epoch };
        let agreeing = looking.recvset.values().filter(|v| **v == proposal).count();
        let finalize_wait = self.config.ensemble.finalize_wait_ms;
        if changed {
            looking.finalizing = false;
            fx.push(Effect::CancelTimer { timer: timer(ZkTimer::Finalize) });
        }
        if agreeing >= quorum {
            // Wait `finalizeWait` for a better vote; any other notification restarts the wait.
            looking.finalizing = true;
            let at = now.add_ms(finalize_wait);
            fx.push(Effect::SetTimer { timer: timer(ZkTimer::Finalize), at });
        }
        if changed {
            self.broadcast(now, fx);
        }
    }

    fn on_settled_notification(&mut self, now: Time, n: Notification, cast: CastVote, fx: &mut dyn Effects) {
        let quorum = self.quorum();
        let me = self.config.id;
        let logical_clock = self.logical_clock;
        let Role::Looking(looking) = &mut self.role else { unreachable!() };
        looking.outofelection.insert(n.sender, (cast, n.state));
        let leader_ok = |votes: &BTreeMap<ServerId, (CastVote, PeerState)>| {
            if n.leader != me {
                votes.get(&n.leader).is_some_and(|(_, state)| *state == PeerState::Leading)
            } else {
                logical_clock == n.election_epoch
            }
        };
        let mut decided = false;
        if n.election_epoch == logical_clock {
            looking.recvset.insert(n.sender, cast);
            let agreeing = looking.recvset.values().filter(|v| **v == cast).count();
            decided = agreeing >= quorum && leader_ok(&looking.outofelection);
        }
        if !decided {
            let agreeing = looking.outofelection.values().filter(|(v, _)| *v == cast).count();
            if agreeing >= quorum && leader_ok(&looking.outofelection) {
                self.logical_clock = n.election_epoch;
                decided = true;
            }
        }
        if decided {
            self.decide(now, cast, fx);
        }
    }

    fn decide(&mut self, now: Time, cast: CastVote, fx: &mut dyn Effects) {
        fx.push(Effect::CancelTimer { timer: timer(ZkTimer::ElectionPoll) });
        fx.push(Effect::CancelTimer { timer: timer(ZkTimer::Finalize) });
        self.current_vote = cast;
        if cast.vote.leader == self.config.id {
            self.lead(now, fx);
        } else {
            self.follow(now, cast.vote.leader, fx);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Leading: discovery, sync, broadcast.

    fn lead(&mut self, now: Time, fx: &mut dyn Effects) {
        let leading = Leading {
            phase: LeaderPhase::Discovery,
            epoch: 0,
            learners: BTreeMap::new(),
            conn_learner: BTreeMap::new(),
            tick: 0,
            half_ticks: 0,
            next_counter: 0,
            outstanding: BTreeMap::new(),
            prep_tree: DataTree::new(),
            prep_sessions: BTreeMap::new(),
            closing: BTreeSet::new(),
            expiry_of: BTreeMap::new(),
            buckets: BTreeMap::new(),
        };
        self.role = Role::Leading(Box::new(leading));
        // `new Leader(...)` binds the quorum port: learners that connect earlier are refused
        // and retry.
        fx.push(Effect::Listen { port: self.config.quorum_port });
        let limit = self.config.ensemble.init_limit * self.config.ensemble.tick_time_ms;
        let at = now.add_ms(limit);
        fx.push(Effect::SetTimer { timer: timer(ZkTimer::LeaderPhaseDeadline), at });
        self.observe_role(fx);
    }

    fn on_from_learner(&mut self, now: Time, conn: ConnId, msg: QuorumMsg, fx: &mut dyn Effects) {
        let Role::Leading(leading) = &mut self.role else {
            // A learner talking to a server that no longer leads: drop it.
            fx.push(Effect::Close { conn });
            self.conns.remove(&conn);
            return;
        };
        if let Some(Some(sid)) = leading.conn_learner.get(&conn) {
            let tick = leading.tick;
            let sync_limit = self.config.ensemble.sync_limit;
            if let Some(handle) = leading.learners.get_mut(sid) {
                handle.deadline_tick = tick + sync_limit;
            }
        }
        match msg {
            QuorumMsg::FollowerInfo { server, accepted_epoch, .. } => {
                self.on_follower_info(now, conn, server, accepted_epoch, fx)
            }
            QuorumMsg::AckEpoch { server } => self.on_ack_epoch(now, server, fx),
            QuorumMsg::AckNewLeader { server } => self.on_ack_new_leader(now, server, fx),
            QuorumMsg::Ack { zxid } => {
                let sid = leading.conn_learner.get(&conn).copied().flatten();
                if let (Some(sid), Some(outstanding)) = (sid, leading.outstanding.get_mut(&zxid)) {
                    outstanding.acks.insert(sid);
                }
                self.try_commit(now, fx);
            }
            QuorumMsg::PingReply { touches } => {
                for (session, timeout_ms) in touches {
                    self.leader_touch(now, session, timeout_ms);
                }
                self.arm_expiry(fx);
            }
            QuorumMsg::Request { session, xid, op } => {
                self.leader_submit(now, session, xid, *op, fx);
            }
            QuorumMsg::Revalidate { session, timeout_ms } => {
                let valid = self.leader_touch(now, session, timeout_ms);
                self.arm_expiry(fx);
                let reply = QuorumMsg::RevalidateReply { session, valid };
                fx.push(Effect::Send { conn, message: Message::Quorum(reply) });
            }
            other => panic!("leader got {other:?}"),
        }
    }

    fn on_follower_info(
        &mut self,
        now: Time,
        conn: ConnId,
        server: ServerId,
        accepted_epoch: u32,
        fx: &mut dyn Effects,
    ) {
        let sync_limit = self.config.ensemble.sync_limit;
        let Role::Leading(leading) = &mut self.role else { unreachable!() };
        if let Some(old) = leading.learners.get(&server) {
            if old.conn != conn {
                fx.push(Effect::Close { conn: old.conn });
                leading.conn_learner.remove(&old.conn);
            }
        }
        leading.conn_learner.insert(conn, Some(server));
        let handle = LearnerHandle {
            conn,
            phase: LearnerPhase::Connected,
            accepted_epoch,
            deadline_tick: leading.tick + sync_limit,
        };
        leading.learners.insert(server, handle);
        if leading.phase == LeaderPhase::Discovery {
            self.try_finish_discovery(now, fx);
        } else {
            // A late learner joins an established epoch.
            let epoch = leading.epoch;
            let message = Message::Quorum(QuorumMsg::LeaderInfo { epoch });
            fx.push(Effect::Send { conn, message });
        }
    }

    /// `getEpochToPropose`: a quorum (the leader included) has reported its accepted epoch.
    fn try_finish_discovery(&mut self, _now: Time, fx: &mut dyn Effects) {
        let quorum = self.quorum();
        let my_accepted = self.accepted_epoch;
        let Role::Leading(leading) = &mut self.role else { unreachable!() };
        if leading.learners.len() + 1 < quorum {
            return;
        }
        let max_accepted =
            leading.learners.values().map(|l| l.accepted_epoch).max().unwrap_or(0).max(my_accepted);
        leading.epoch = max_accepted + 1;
        leading.phase = LeaderPhase::Sync;
        let epoch = leading.epoch;
        for handle in leading.learners.values() {
            let message = Message::Quorum(QuorumMsg::LeaderInfo { epoch });
            fx.push(Effect::Send { conn: handle.conn, message });
        }
        self.accepted_epoch = epoch;
        fx.push(Effect::Append { record: Record::Zk(ZkRecord::AcceptedEpoch(epoch)) });
    }

    fn on_ack_epoch(&mut self, now: Time, server: ServerId, fx: &mut dyn Effects) {
        let quorum = self.quorum();
        let Role::Leading(leading) = &mut self.role else { unreachable!() };
        let Some(handle) = leading.learners.get_mut(&server) else {
            return;
        };
        handle.phase = LearnerPhase::EpochAcked;
        if leading.phase == LeaderPhase::Sync {
            let acked = leading.learners.values().filter(|l| l.phase != LearnerPhase::Connected);
            if acked.count() + 1 < quorum {
                return;
            }
            // The new leader's history wins: everything it logged becomes committed.
            let logged = std::mem::take(&mut self.logged);
            for entry in &logged {
                let _ = self.apply_to_state(entry);
            }
            let Role::Leading(leading) = &mut self.role else { unreachable!() };
            let targets: Vec<ServerId> = leading
                .learners
                .iter()
                .filter(|(_, l)| l.phase == LearnerPhase::EpochAcked)
                .map(|(sid, _)| *sid)
                .collect();
            for sid in targets {
                self.send_snapshot(sid, fx);
            }
        } else {
            self.send_snapshot(server, fx);
            let _ = now;
        }
    }

    fn send_snapshot(&mut self, sid: ServerId, fx: &mut dyn Effects) {
        let snapshot = Box::new(Snapshot {
            zxid: self.last_processed,
            tree: self.tree.clone(),
            sessions: self.sessions.clone(),
        });
        let Role::Leading(leading) = &mut self.role else { unreachable!() };
        let epoch = leading.epoch;
        let handle = leading.learners.get_mut(&sid).expect("a learner");
        handle.phase = LearnerPhase::SnapSent;
        let conn = handle.conn;
        let message = Message::Quorum(QuorumMsg::SnapAndNewLeader { epoch, snapshot });
        fx.push(Effect::Send { conn, message });
        // Proposals still in flight follow the snapshot, as queued packets follow a DIFF.
        for outstanding in leading.outstanding.values() {
            let message = Message::Quorum(QuorumMsg::Proposal { entry: Box::new(outstanding.entry.clone()) });
            fx.push(Effect::Send { conn, message });
        }
    }

    fn on_ack_new_leader(&mut self, now: Time, server: ServerId, fx: &mut dyn Effects) {
        let quorum = self.quorum();
        let Role::Leading(leading) = &mut self.role else { unreachable!() };
        let Some(handle) = leading.learners.get_mut(&server) else {
            return;
        };
        handle.phase = LearnerPhase::Synced;
        let conn = handle.conn;
        if leading.phase == LeaderPhase::Broadcast {
            fx.push(Effect::Send { conn, message: Message::Quorum(QuorumMsg::UpToDate) });
            return;
        }
        let synced = leading.learners.values().filter(|l| l.phase == LearnerPhase::Synced).count();
        if synced + 1 < quorum {
            return;
        }
        self.start_broadcast(now, fx);
    }

    /// A quorum acknowledged NEWLEADER: `startZkServer()` and UPTODATE.
    fn start_broadcast(&mut self, now: Time, fx: &mut dyn Effects) {
        let tick_ms = self.config.ensemble.tick_time_ms;
        let local_now = self.local_ms(now);
        let Role::Leading(leading) = &mut self.role else { unreachable!() };
        leading.phase = LeaderPhase::Broadcast;
        self.current_epoch = leading.epoch;
        fx.push(Effect::Append { record: Record::Zk(ZkRecord::CurrentEpoch(leading.epoch)) });
        leading.prep_tree = self.tree.clone();
        leading.prep_sessions = self.sessions.clone();
        // The new session tracker tracks every known session from now (zookeeper.md §1.2).
        for (session, timeout_ms) in &self.sessions {
            let bucket = expiry_bucket_ms(local_now, *timeout_ms, tick_ms);
            leading.expiry_of.insert(*session, bucket);
            leading.buckets.entry(bucket).or_default().insert(*session);
        }
        for handle in leading.learners.values() {
            if handle.phase == LearnerPhase::Synced {
                let message = Message::Quorum(QuorumMsg::UpToDate);
                fx.push(Effect::Send { conn: handle.conn, message });
            }
        }
        self.current_vote.vote.peer_epoch = self.current_epoch;
        fx.push(Effect::CancelTimer { timer: timer(ZkTimer::LeaderPhaseDeadline) });
        let at = now.add_ms(tick_ms / 2);
        fx.push(Effect::SetTimer { timer: timer(ZkTimer::LeaderTick), at });
        self.serving = true;
        self.observe_role(fx);
        self.arm_expiry(fx);
    }

    /// `Leader.lead` loop body: ping learners every tick/2; every tick check the synced quorum.
    fn on_leader_tick(&mut self, now: Time, fx: &mut dyn Effects) {
        let quorum = self.quorum();
        let tick_ms = self.config.ensemble.tick_time_ms;
        let Role::Leading(leading) = &mut self.role else {
            return;
        };
        leading.half_ticks += 1;
        if leading.half_ticks % 2 == 0 {
            leading.tick += 1;
            let tick = leading.tick;
            let synced = leading
                .learners
                .values()
                .filter(|l| l.phase == LearnerPhase::Synced && tick <= l.deadline_tick)
                .count();
            if synced + 1 < quorum {
                // "Not sufficient followers synced, only synced with sids: ..."
                self.shutdown(now, fx);
                return;
            }
        }
        for handle in leading.learners.values() {
            if handle.phase == LearnerPhase::Synced {
                let message = Message::Quorum(QuorumMsg::Ping);
                fx.push(Effect::Send { conn: handle.conn, message });
            }
        }
        let at = now.add_ms(tick_ms / 2);
        fx.push(Effect::SetTimer { timer: timer(ZkTimer::LeaderTick), at });
    }

    /// `touchSession` on the leader: false if the session is unknown or closing.
    fn leader_touch(&mut self, now: Time, session: SessionId, timeout_ms: u64) -> bool {
        let tick_ms = self.config.ensemble.tick_time_ms;
        let local_now = self.local_ms(now);
        let Role::Leading(leading) = &mut self.role else {
            return false;
        };
        if leading.phase != LeaderPhase::Broadcast
            || leading.closing.contains(&session)
            || !leading.expiry_of.contains_key(&session)
        {
            return false;
        }
        let bucket = expiry_bucket_ms(local_now, timeout_ms, tick_ms);
        let current = leading.expiry_of[&session];
        // Only ever moves a session to a later bucket.
        if bucket > current {
            if let Some(set) = leading.buckets.get_mut(&current) {
                set.remove(&session);
                if set.is_empty() {
                    leading.buckets.remove(&current);
                }
            }
            leading.buckets.entry(bucket).or_default().insert(session);
            leading.expiry_of.insert(session, bucket);
        }
        true
    }

    fn arm_expiry(&mut self, fx: &mut dyn Effects) {
        let Role::Leading(leading) = &self.role else {
            return;
        };
        if let Some((bucket, _)) = leading.buckets.first_key_value() {
            let at = self.global_time(*bucket);
            fx.push(Effect::SetTimer { timer: timer(ZkTimer::SessionExpiry), at });
        }
    }

    fn on_session_expiry(&mut self, now: Time, fx: &mut dyn Effects) {
        let local_now = self.local_ms(now);
        let Role::Leading(leading) = &mut self.role else {
            return;
        };
        let mut expired = Vec::new();
        while let Some(entry) = leading.buckets.first_entry() {
            if *entry.key() > local_now {
                break;
            }
            expired.extend(entry.remove());
        }
        for session in &expired {
            leading.expiry_of.remove(session);
            leading.closing.insert(*session);
        }
        for session in expired {
            fx.push(Effect::Observe { observation: Observation::ZkSessionExpired { session } });
            self.leader_submit(now, session, None, Op::CloseSession, fx);
        }
        self.arm_expiry(fx);
    }

    /// `PrepRequestProcessor` + `ProposalRequestProcessor` on the leader.
    fn leader_submit(
        &mut self,
        now: Time,
        session: SessionId,
        xid: Option<u64>,
        op: Op,
        fx: &mut dyn Effects,
    ) {
        let tick_ms = self.config.ensemble.tick_time_ms;
        let local_now = self.local_ms(now);
        let Role::Leading(leading) = &mut self.role else {
            return;
        };
        if leading.phase != LeaderPhase::Broadcast {
            return;
        }
        let live = leading.prep_sessions.contains_key(&session)
            && (!leading.closing.contains(&session) || op == Op::CloseSession);
        let txn = leading.prep_tree.prep(&op, live);
        match &txn {
            Txn::CreateSession { timeout_ms } => {
                leading.prep_sessions.insert(session, *timeout_ms);
                let bucket = expiry_bucket_ms(local_now, *timeout_ms, tick_ms);
                leading.expiry_of.insert(session, bucket);
                leading.buckets.entry(bucket).or_default().insert(session);
            }
            Txn::CloseSession => {
                leading.closing.insert(session);
                if let Some(bucket) = leading.expiry_of.remove(&session) {
                    if let Some(set) = leading.buckets.get_mut(&bucket) {
                        set.remove(&session);
                    }
                }
            }
            _ => {}
        }
        leading.next_counter += 1;
        let entry = TxnEntry { zxid: Zxid::new(leading.epoch, leading.next_counter), session, xid, txn };
        let mut prep_entry = entry.clone();
        if let Txn::CloseSession = prep_entry.txn {
            leading.prep_sessions.remove(&session);
        }
        prep_entry.xid = None;
        let _ = leading.prep_tree.apply(&prep_entry);
        let mut acks = BTreeSet::new();
        acks.insert(self.config.id);
        for handle in leading.learners.values() {
            if handle.phase.receives_broadcast() {
                let message = Message::Quorum(QuorumMsg::Proposal { entry: Box::new(entry.clone()) });
                fx.push(Effect::Send { conn: handle.conn, message });
            }
        }
        leading.outstanding.insert(entry.zxid, Outstanding { entry: entry.clone(), acks });
        fx.push(Effect::Append { record: Record::Zk(ZkRecord::Txn(Box::new(entry))) });
        self.try_commit(now, fx);
        self.arm_expiry(fx);
    }

    /// `tryToCommit`: commit in zxid order while the oldest proposal has a quorum of acks.
    fn try_commit(&mut self, now: Time, fx: &mut dyn Effects) {
        let quorum = self.quorum();
        loop {
            let Role::Leading(leading) = &mut self.role else {
                return;
            };
            let Some(first) = leading.outstanding.first_entry() else {
                return;
            };
            if first.get().acks.len() < quorum {
                return;
            }
            let outstanding = first.remove();
            for handle in leading.learners.values() {
                if handle.phase.receives_broadcast() {
                    let message = Message::Quorum(QuorumMsg::Commit { zxid: outstanding.entry.zxid });
                    fx.push(Effect::Send { conn: handle.conn, message });
                }
            }
            if let Txn::CloseSession = outstanding.entry.txn {
                leading.closing.remove(&outstanding.entry.session);
            }
            self.commit(now, &outstanding.entry, fx);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Following.

    fn follow(&mut self, now: Time, leader: ServerId, fx: &mut dyn Effects) {
        let conn = self.new_conn();
        self.conns.insert(conn, ConnRole::ToLeader);
        let target = self.config.peers[&leader].quorum;
        fx.push(Effect::Connect { conn, target });
        self.role = Role::Following(Following {
            leader,
            conn,
            phase: FollowerPhase::Connecting { attempts: 1 },
            last_packet: now,
            touches: BTreeMap::new(),
        });
        self.arm_watchdog(now, fx);
        self.observe_role(fx);
    }

    fn watchdog_limit_ms(&self, phase: FollowerPhase) -> u64 {
        let ensemble = &self.config.ensemble;
        match phase {
            FollowerPhase::Serving => ensemble.sync_limit * ensemble.tick_time_ms,
            _ => ensemble.init_limit * ensemble.tick_time_ms,
        }
    }

    fn arm_watchdog(&mut self, _now: Time, fx: &mut dyn Effects) {
        let Role::Following(following) = &self.role else {
            return;
        };
        let at = following.last_packet.add_ms(self.watchdog_limit_ms(following.phase));
        fx.push(Effect::SetTimer { timer: timer(ZkTimer::FollowerWatchdog), at });
    }

    fn on_watchdog(&mut self, now: Time, fx: &mut dyn Effects) {
        let Role::Following(following) = &self.role else {
            return;
        };
        let deadline = following.last_packet.add_ms(self.watchdog_limit_ms(following.phase));
        if now >= deadline {
            // `SocketTimeoutException: Read timed out` on the leader socket.
            self.shutdown(now, fx);
        } else {
            fx.push(Effect::SetTimer { timer: timer(ZkTimer::FollowerWatchdog), at: deadline });
        }
    }

    fn on_leader_connect_retry(&mut self, now: Time, fx: &mut dyn Effects) {
        let Role::Following(following) = &mut self.role else {
            return;
        };
        let FollowerPhase::Connecting { attempts } = following.phase else {
            return;
        };
        let conn = ConnId::next_out(Component::Own, &mut self.last_conn);
        following.conn = conn;
        following.phase = FollowerPhase::Connecting { attempts: attempts + 1 };
        let target = self.config.peers[&following.leader].quorum;
        self.conns.insert(conn, ConnRole::ToLeader);
        fx.push(Effect::Connect { conn, target });
        let _ = now;
    }

    fn on_from_leader(&mut self, now: Time, msg: QuorumMsg, fx: &mut dyn Effects) {
        let Role::Following(following) = &mut self.role else {
            return;
        };
        following.last_packet = now;
        let conn = following.conn;
        match msg {
            QuorumMsg::LeaderInfo { epoch } => {
                if epoch < self.accepted_epoch {
                    self.shutdown(now, fx);
                    return;
                }
                self.accepted_epoch = epoch;
                fx.push(Effect::Append { record: Record::Zk(ZkRecord::AcceptedEpoch(epoch)) });
                let message = Message::Quorum(QuorumMsg::AckEpoch { server: self.config.id });
                fx.push(Effect::Send { conn, message });
            }
            QuorumMsg::SnapAndNewLeader { epoch, snapshot } => {
                // TRUNC/SNAP: the leader's committed state replaces ours.
                self.tree = snapshot.tree.clone();
                self.sessions = snapshot.sessions.clone();
                self.last_processed = snapshot.zxid;
                self.logged.clear();
                self.current_epoch = epoch;
                self.current_vote.vote.peer_epoch = epoch;
                fx.push(Effect::Append { record: Record::Zk(ZkRecord::Snapshot(snapshot)) });
                fx.push(Effect::Append { record: Record::Zk(ZkRecord::CurrentEpoch(epoch)) });
                let message = Message::Quorum(QuorumMsg::AckNewLeader { server: self.config.id });
                fx.push(Effect::Send { conn, message });
            }
            QuorumMsg::UpToDate => {
                following.phase = FollowerPhase::Serving;
                self.serving = true;
                self.observe_role(fx);
            }
            QuorumMsg::Proposal { entry } => {
                let zxid = entry.zxid;
                assert!(zxid > self.last_logged(), "proposal {zxid} not after {}", self.last_logged());
                fx.push(Effect::Append { record: Record::Zk(ZkRecord::Txn(entry.clone())) });
                self.logged.push(*entry);
                let message = Message::Quorum(QuorumMsg::Ack { zxid });
                fx.push(Effect::Send { conn, message });
            }
            QuorumMsg::Commit { zxid } => {
                let position = self.logged.iter().position(|e| e.zxid == zxid);
                let index = position.unwrap_or_else(|| panic!("commit of unlogged {zxid}"));
                assert_eq!(index, 0, "commit {zxid} out of order");
                let entry = self.logged.remove(0);
                self.commit(now, &entry, fx);
            }
            QuorumMsg::Ping => {
                let touches = std::mem::take(&mut following.touches).into_iter().collect();
                let message = Message::Quorum(QuorumMsg::PingReply { touches });
                fx.push(Effect::Send { conn, message });
            }
            QuorumMsg::RevalidateReply { session, valid } => {
                if let Some(pending) = self.revalidations.remove(&session) {
                    self.answer_connect(session, pending, valid, fx);
                }
            }
            other => panic!("follower got {other:?}"),
        }
        self.arm_watchdog(now, fx);
    }

    /// Leaving FOLLOWING or LEADING: drop every client (`closeAllConnections`) and look again.
    fn shutdown(&mut self, now: Time, fx: &mut dyn Effects) {
        self.serving = false;
        if self.is_leading() {
            fx.push(Effect::Unlisten { port: self.config.quorum_port });
        }
        let conns: Vec<(ConnId, ConnRole)> = self.conns.iter().map(|(c, r)| (*c, *r)).collect();
        for (conn, role) in conns {
            if matches!(role, ConnRole::Client | ConnRole::ToLeader | ConnRole::FromLearner) {
                fx.push(Effect::Close { conn });
                self.conns.remove(&conn);
                if role == ConnRole::Client {
                    self.forget_client(conn);
                }
            }
        }
        for t in [
            ZkTimer::LeaderTick,
            ZkTimer::LeaderPhaseDeadline,
            ZkTimer::SessionExpiry,
            ZkTimer::FollowerWatchdog,
            ZkTimer::LeaderConnectRetry,
        ] {
            fx.push(Effect::CancelTimer { timer: timer(t) });
        }
        self.start_election(now, fx);
    }

    // ---------------------------------------------------------------------------------------
    // Applying committed txns.

    fn apply_to_state(&mut self, entry: &TxnEntry) -> (Result<OpResult, ZkError>, Vec<(WatchKind, String)>) {
        assert!(entry.zxid > self.last_processed, "apply {} after {}", entry.zxid, self.last_processed);
        self.last_processed = entry.zxid;
        match &entry.txn {
            Txn::CreateSession { timeout_ms } => {
                self.sessions.insert(entry.session, *timeout_ms);
            }
            Txn::CloseSession => {
                self.sessions.remove(&entry.session);
            }
            _ => {}
        }
        self.tree.apply(entry)
    }

    /// `FinalRequestProcessor`: apply, fire watches, answer the local requester.
    fn commit(&mut self, _now: Time, entry: &TxnEntry, fx: &mut dyn Effects) {
        let (result, triggers) = self.apply_to_state(entry);
        for (kind, path) in triggers {
            self.fire_watches(kind, &path, fx);
        }
        match &entry.txn {
            Txn::CreateSession { timeout_ms } => {
                if let Some(pending) = self.new_sessions.remove(&entry.session) {
                    assert_eq!(pending.timeout_ms, *timeout_ms);
                    self.answer_connect(entry.session, pending, true, fx);
                }
            }
            Txn::CloseSession => {
                let observation = Observation::ZkSessionClosed { session: entry.session };
                fx.push(Effect::Observe { observation });
                let owners: Vec<ConnId> = self
                    .clients
                    .iter()
                    .filter(|(_, c)| c.session == Some(entry.session))
                    .map(|(conn, _)| *conn)
                    .collect();
                for conn in owners {
                    if entry.xid.is_some() {
                        self.reply_in_order(conn, entry, result.clone(), fx);
                    }
                    fx.push(Effect::Close { conn });
                    self.conns.remove(&conn);
                    self.forget_client(conn);
                }
            }
            _ => {
                let conn = self
                    .clients
                    .iter()
                    .find(|(_, c)| c.session == Some(entry.session))
                    .map(|(conn, _)| *conn);
                if let (Some(conn), Some(_)) = (conn, entry.xid) {
                    self.reply_in_order(conn, entry, result, fx);
                }
            }
        }
    }

    fn reply_in_order(
        &mut self,
        conn: ConnId,
        entry: &TxnEntry,
        result: Result<OpResult, ZkError>,
        fx: &mut dyn Effects,
    ) {
        let xid = entry.xid.expect("a client txn");
        let Some(client) = self.clients.get_mut(&conn) else {
            return;
        };
        match client.pending.front() {
            Some(Pending::Write { xid: head }) if *head == xid => {
                client.pending.pop_front();
            }
            // The write came from another connection of the same session; not ours to answer.
            _ => return,
        }
        let message = ServerMsg::Reply { xid, zxid: entry.zxid, result };
        fx.push(Effect::Send { conn, message: Message::ZkServer(message) });
        self.drain_reads(conn, fx);
    }

    fn drain_reads(&mut self, conn: ConnId, fx: &mut dyn Effects) {
        while let Some(Pending::Read { .. }) = self.clients.get(&conn).and_then(|c| c.pending.front()) {
            let client = self.clients.get_mut(&conn).expect("checked");
            let Some(Pending::Read { xid, op }) = client.pending.pop_front() else { unreachable!() };
            self.answer_read(conn, xid, &op, fx);
        }
    }

    fn answer_read(&mut self, conn: ConnId, xid: u64, op: &Op, fx: &mut dyn Effects) {
        let result = self.tree.read(op);
        if result.is_ok() {
            match op {
                Op::GetData { path, watch: true } => {
                    self.data_watches.entry(path.clone()).or_default().insert(conn);
                }
                Op::GetChildren { path, watch: true } => {
                    self.child_watches.entry(path.clone()).or_default().insert(conn);
                }
                _ => {}
            }
        }
        let message = ServerMsg::Reply { xid, zxid: self.last_processed, result };
        fx.push(Effect::Send { conn, message: Message::ZkServer(message) });
    }

    fn fire_watches(&mut self, kind: WatchKind, path: &str, fx: &mut dyn Effects) {
        let mut fired = BTreeSet::new();
        if matches!(kind, WatchKind::NodeCreated | WatchKind::NodeDeleted | WatchKind::NodeDataChanged) {
            fired.extend(self.data_watches.remove(path).unwrap_or_default());
        }
        if matches!(kind, WatchKind::NodeChildrenChanged | WatchKind::NodeDeleted) {
            let children = self.child_watches.remove(path).unwrap_or_default();
            // A deleted node's child watchers see NodeDeleted too.
            fired.extend(children);
        }
        for conn in fired {
            let message = ServerMsg::Watch { kind, path: path.to_string() };
            fx.push(Effect::Send { conn, message: Message::ZkServer(message) });
        }
    }

    // ---------------------------------------------------------------------------------------
    // Clients.

    fn on_client(&mut self, now: Time, conn: ConnId, msg: ClientMsg, fx: &mut dyn Effects) {
        match msg {
            ClientMsg::Connect { last_zxid, timeout_ms, session } => {
                self.on_client_connect(now, conn, last_zxid, timeout_ms, session, fx)
            }
            ClientMsg::Ping => {
                self.touch_client(now, conn, fx);
                let message = ServerMsg::Pong { zxid: self.last_processed };
                fx.push(Effect::Send { conn, message: Message::ZkServer(message) });
            }
            ClientMsg::Request { xid, op } => {
                let Some(session) = self.clients.get(&conn).and_then(|c| c.session) else {
                    return;
                };
                self.touch_client(now, conn, fx);
                let client = self.clients.get_mut(&conn).expect("checked");
                if op.is_write() {
                    client.pending.push_back(Pending::Write { xid });
                    self.submit(now, session, Some(xid), op, fx);
                } else if client.pending.is_empty() {
                    self.answer_read(conn, xid, &op, fx);
                } else {
                    client.pending.push_back(Pending::Read { xid, op });
                }
            }
        }
    }

    fn on_client_connect(
        &mut self,
        now: Time,
        conn: ConnId,
        last_zxid: Zxid,
        requested_ms: u64,
        session: Option<SessionId>,
        fx: &mut dyn Effects,
    ) {
        // "ZooKeeperServer not running", or "client must try another server".
        if !self.serving || last_zxid > self.last_processed {
            fx.push(Effect::Close { conn });
            self.conns.remove(&conn);
            self.forget_client(conn);
            return;
        }
        let timeout_ms = negotiate_session_timeout(requested_ms, &self.config.ensemble);
        let pending = PendingConnect { conn, timeout_ms };
        match session {
            None => {
                self.next_session += 1;
                let session = SessionId(self.next_session);
                self.new_sessions.insert(session, pending);
                self.submit(now, session, None, Op::CreateSession { timeout_ms }, fx);
            }
            Some(session) => match &self.role {
                Role::Leading(_) => {
                    let valid = self.leader_touch(now, session, timeout_ms);
                    self.arm_expiry(fx);
                    self.answer_connect(session, pending, valid, fx);
                }
                Role::Following(following) => {
                    let message = QuorumMsg::Revalidate { session, timeout_ms };
                    fx.push(Effect::Send { conn: following.conn, message: Message::Quorum(message) });
                    self.revalidations.insert(session, pending);
                }
                Role::Looking(_) => unreachable!("a looking server does not serve"),
            },
        }
    }

    fn answer_connect(
        &mut self,
        session: SessionId,
        pending: PendingConnect,
        valid: bool,
        fx: &mut dyn Effects,
    ) {
        let conn = pending.conn;
        let Some(client) = self.clients.get_mut(&conn) else {
            return;
        };
        if valid {
            client.session = Some(session);
            client.timeout_ms = pending.timeout_ms;
            let message = ServerMsg::ConnectResponse { session, timeout_ms: pending.timeout_ms };
            fx.push(Effect::Send { conn, message: Message::ZkServer(message) });
        } else {
            let message = ServerMsg::ConnectResponse { session, timeout_ms: 0 };
            fx.push(Effect::Send { conn, message: Message::ZkServer(message) });
            fx.push(Effect::Close { conn });
            self.conns.remove(&conn);
            self.forget_client(conn);
        }
    }

    /// Every client packet touches its session: directly on the leader, in the touch table on a
    /// follower (relayed with the next PING reply).
    fn touch_client(&mut self, now: Time, conn: ConnId, fx: &mut dyn Effects) {
        let Some(client) = self.clients.get(&conn) else {
            return;
        };
        let Some(session) = client.session else {
            return;
        };
        let timeout_ms = client.timeout_ms;
        match &mut self.role {
            Role::Leading(_) => {
                self.leader_touch(now, session, timeout_ms);
                self.arm_expiry(fx);
            }
            Role::Following(following) => {
                following.touches.insert(session, timeout_ms);
            }
            Role::Looking(_) => {}
        }
    }

    /// A write from a client of this server: prepped here if leading, else forwarded.
    fn submit(&mut self, now: Time, session: SessionId, xid: Option<u64>, op: Op, fx: &mut dyn Effects) {
        match &self.role {
            Role::Leading(_) => self.leader_submit(now, session, xid, op, fx),
            Role::Following(following) => {
                let message = QuorumMsg::Request { session, xid, op: Box::new(op) };
                fx.push(Effect::Send { conn: following.conn, message: Message::Quorum(message) });
            }
            Role::Looking(_) => unreachable!("a looking server does not serve"),
        }
    }

    // ---------------------------------------------------------------------------------------

    fn on_timer(&mut self, now: Time, t: ZkTimer, fx: &mut dyn Effects) {
        match t {
            ZkTimer::ElectionPoll => {
                let max = self.config.ensemble.max_notification_interval_ms;
                let Role::Looking(looking) = &mut self.role else {
                    return;
                };
                // No poll runs while the server waits out `finalizeWait`.
                if looking.finalizing {
                    return;
                }
                looking.poll_interval_ms = (looking.poll_interval_ms * 2).min(max);
                let at = now.add_ms(looking.poll_interval_ms);
                fx.push(Effect::SetTimer { timer: timer(ZkTimer::ElectionPoll), at });
                self.broadcast(now, fx);
            }
            ZkTimer::Finalize => {
                let Role::Looking(looking) = &self.role else {
                    return;
                };
                if looking.finalizing {
                    let cast = CastVote { vote: looking.proposal, election_epoch: self.logical_clock };
                    self.decide(now, cast, fx);
                }
            }
            ZkTimer::ElectionConnect(peer) => {
                if let Some(link) = self.election_links.remove(&peer) {
                    if !link.up {
                        fx.push(Effect::Close { conn: link.conn });
                        self.conns.remove(&link.conn);
                    } else {
                        self.election_links.insert(peer, link);
                    }
                }
            }
            ZkTimer::LeaderTick => self.on_leader_tick(now, fx),
            ZkTimer::LeaderPhaseDeadline => {
                if let Role::Leading(leading) = &self.role {
                    if leading.phase != LeaderPhase::Broadcast {
                        self.shutdown(now, fx);
                    }
                }
            }
            ZkTimer::SessionExpiry => self.on_session_expiry(now, fx),
            ZkTimer::FollowerWatchdog => self.on_watchdog(now, fx),
            ZkTimer::LeaderConnectRetry => self.on_leader_connect_retry(now, fx),
        }
    }

    fn observe_role(&self, fx: &mut dyn Effects) {
        let role = match self.role {
            Role::Looking(_) => ZkRole::Looking,
            Role::Following(_) => ZkRole::Following,
            Role::Leading(_) => ZkRole::Leading,
        };
        let observation = Observation::ZkRole { role, epoch: self.current_epoch, serving: self.serving };
        fx.push(Effect::Observe { observation });
    }

    pub fn invariants(&self) {
        assert!(self.current_epoch <= self.accepted_epoch || self.accepted_epoch == 0);
        if self.serving {
            assert!(!matches!(self.role, Role::Looking(_)), "a looking server serves");
        }
        if let Some(first) = self.logged.first() {
            assert!(first.zxid > self.last_processed, "logged entry already applied");
        }
        for window in self.logged.windows(2) {
            assert!(window[0].zxid < window[1].zxid, "log out of order");
        }
        if let Role::Leading(leading) = &self.role {
            for session in &leading.closing {
                assert!(!leading.expiry_of.contains_key(session), "closing session still tracked");
            }
        }
    }
}
