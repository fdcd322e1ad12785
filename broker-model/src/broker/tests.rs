//! Exact-effect tests of the store: ack rules per `sync` mode, the write thread, the producer
//! audit and the slave side of replication.

use super::*;
use crate::io::CloseReason;
use crate::messaging::MsgId;
use crate::zk::proto::{ClientMsg, ClientTimer, ServerMsg};
use crate::zk::SessionId;

const CLIENT: ConnId = ConnId::In(10);
const SLAVES: [ConnId; 2] = [ConnId::In(1), ConnId::In(2)];

fn config(sync: SyncMode) -> BrokerConfig {
    BrokerConfig {
        name: "mq1".into(),
        broker_name: "activemq-cluster".into(),
        hostname: "10.0.0.1".into(),
        zk_hosts: vec![Addr { host: HostId(0), port: 2181 }],
        zk_path: "/g".into(),
        zk_session_timeout_ms: 3000,
        replicas: 3,
        weight: 1,
        sync,
        log_size: 1 << 20,
        disk_bytes_per_s: 100_000_000,
        bind_port: 62621,
        openwire_port: 61616,
        stomp_port: 61613,
        resolver: BTreeMap::new(),
        startup_ms: 0,
        restart_delay_ms: 1000,
        stop_ms: 100,
        recovery_ms: 0,
        slave_retry_ms: 1000,
        network_connectors: Vec::new(),
        planted_bug: None,
    }
}

/// A serving master with two attached, caught-up slaves and one client connection.
fn serving_master(sync: SyncMode, bug: Option<PlantedBug>) -> Broker {
    let mut broker = Broker::start(BrokerConfig { planted_bug: bug, ..config(sync) }, (1, 1), &[]);
    broker.start_instance(Time::ZERO, &mut Vec::new());
    let inst = broker.instance.as_mut().expect("started");
    let session = SlaveSession { node_id: None, sync_position: Some(0), caught_up: true, acked: 0 };
    inst.store = Store::Master(Box::new(MasterStore {
        phase: MasterPhase::Serving,
        required: 0,
        sessions: SLAVES.iter().map(|c| (*c, session.clone())).collect(),
        writer: Writer::default(),
        clients: BTreeMap::new(),
        destinations: Destinations::default(),
        producer_seq: BTreeMap::new(),
        network: Default::default(),
    }));
    inst.serving = true;
    let mut fx = Vec::new();
    broker.on_input(Time::ZERO, Input::Accepted { conn: CLIENT, port: 61616 }, &mut fx);
    assert!(fx.is_empty(), "{fx:?}");
    broker
}

fn msg(seq: u64) -> Msg {
    let id = MsgId { producer: 1, seq };
    Msg {
        id,
        key: id,
        dest: Dest::Queue("q".into()),
        persistent: true,
        size: 100,
        sent_at: Time::ZERO,
        path: Default::default(),
    }
}

fn input(broker: &mut Broker, input: Input) -> Vec<Effect> {
    let mut fx = Vec::new();
    broker.on_input(Time::from_ms(1), input, &mut fx);
    fx
}

fn send(broker: &mut Broker, seq: u64, corr: Option<u64>) -> Vec<Effect> {
    let message = Message::ToBroker(ToBroker::Send { msg: msg(seq), corr });
    input(broker, Input::Received { conn: CLIENT, message })
}

fn responses(fx: &[Effect]) -> Vec<u64> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { conn, message: Message::FromBroker(FromBroker::Response { corr }) } => {
                assert_eq!(*conn, CLIENT);
                Some(*corr)
            }
            _ => None,
        })
        .collect()
}

fn fsync_token(fx: &[Effect]) -> Option<u64> {
    fx.iter().find_map(|e| match e {
        Effect::Sync { token } => Some(*token),
        _ => None,
    })
}

fn wal_frames(fx: &[Effect]) -> Vec<(ConnId, u64, bool)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { conn, message: Message::Repl(ReplMsg::Wal { entries, sync }) } => {
                Some((*conn, entries.last().expect("a frame has records").end(), *sync))
            }
            _ => None,
        })
        .collect()
}

fn appends(fx: &[Effect]) -> usize {
    fx.iter().filter(|e| matches!(e, Effect::Append { .. })).count()
}

fn ack(broker: &mut Broker, slave: usize, position: u64) -> Vec<Effect> {
    let message = Message::Repl(ReplMsg::WalAck { position });
    input(broker, Input::Received { conn: SLAVES[slave], message })
}

/// The acknowledgement rule of every mode, effect by effect: what a sync send emits, and
/// which of (local fsync done, one slave ack) releases its response.
#[test]
fn each_sync_mode_acknowledges_by_its_rule() {
    for mode in SyncMode::ALL {
        let mut broker = serving_master(mode, None);
        let fx = send(&mut broker, 1, Some(7));
        assert_eq!(appends(&fx), 1, "{mode}: one log record");
        let end = broker.log_end();
        // Streamed to both slaves at once; the frame asks slaves to msync under every remote
        // mode (the quirk), never under local modes.
        let frames = wal_frames(&fx);
        assert_eq!(
            frames,
            vec![(SLAVES[0], end, mode.has_remote()), (SLAVES[1], end, mode.has_remote())],
            "{mode}"
        );
        let token = fsync_token(&fx);
        assert_eq!(
            token.is_some(),
            matches!(mode, SyncMode::LocalDisk | SyncMode::QuorumDisk),
            "{mode}: local fsync"
        );
        let immediate = responses(&fx);
        assert_eq!(immediate, if mode == SyncMode::LocalMem { vec![7] } else { vec![] }, "{mode}");
        if mode == SyncMode::LocalMem {
            continue;
        }
        // Local fsync (if any) first: releases local_disk only.
        if let Some(token) = token {
            let fx = input(&mut broker, Input::Synced { token });
            assert_eq!(responses(&fx), if mode == SyncMode::LocalDisk { vec![7] } else { vec![] }, "{mode}");
        }
        if mode == SyncMode::LocalDisk {
            continue;
        }
        // An ack short of the position does not count; one slave at the position is
        // replicas/2 = 1 and releases the response.
        assert!(responses(&ack(&mut broker, 0, end - 1)).is_empty(), "{mode}");
        assert_eq!(responses(&ack(&mut broker, 1, end)), vec![7], "{mode}");
    }
}

#[test]
fn quorum_disk_needs_both_the_fsync_and_a_slave() {
    let mut broker = serving_master(SyncMode::QuorumDisk, None);
    let fx = send(&mut broker, 1, Some(7));
    let token = fsync_token(&fx).expect("quorum_disk fsyncs locally");
    let end = broker.log_end();
    assert!(responses(&ack(&mut broker, 0, end)).is_empty(), "a slave ack alone is not enough");
    assert_eq!(responses(&input(&mut broker, Input::Synced { token })), vec![7]);
}

/// Async sends and acks never wait; but the one write thread makes them queue behind a
/// blocked sync batch, so broker persistence stalls as a whole.
#[test]
fn async_work_does_not_wait_but_stalls_behind_a_blocked_sync_send() {
    let mut broker = serving_master(SyncMode::QuorumMem, None);
    let fx = send(&mut broker, 1, None);
    assert_eq!(appends(&fx), 1);
    assert!(fsync_token(&fx).is_none() && responses(&fx).is_empty(), "an async send forces nothing");
    // A sync send blocks the writer ...
    let fx = send(&mut broker, 2, Some(8));
    assert_eq!(appends(&fx), 1);
    let blocked_end = broker.log_end();
    // ... and an async send behind it is not even written.
    let fx = send(&mut broker, 3, None);
    assert_eq!(appends(&fx), 0, "queued behind the blocked batch");
    // One slave ack releases the sync send and runs the queued work as the next batch.
    let fx = ack(&mut broker, 0, blocked_end);
    assert_eq!(responses(&fx), vec![8]);
    assert_eq!(appends(&fx), 1);
}

#[test]
fn planted_ack_before_quorum_answers_at_once() {
    let mut broker = serving_master(SyncMode::QuorumMem, Some(PlantedBug::AckBeforeQuorum));
    assert_eq!(responses(&send(&mut broker, 1, Some(7))), vec![7]);
}

#[test]
fn a_failover_resend_the_store_has_is_answered_and_not_stored_again() {
    for bug in [None, Some(PlantedBug::NoProducerAudit)] {
        let mut broker = serving_master(SyncMode::LocalMem, bug);
        let connect = Message::ToBroker(ToBroker::Connect { client: 1, reconnect: true });
        input(&mut broker, Input::Received { conn: CLIENT, message: connect });
        assert_eq!(responses(&send(&mut broker, 1, Some(7))), vec![7]);
        let fx = send(&mut broker, 1, Some(8));
        assert_eq!(responses(&fx), vec![8], "answered either way");
        let stored_again = appends(&fx) > 0;
        assert_eq!(stored_again, bug.is_some(), "{bug:?}");
    }
}

/// A slave acks only what it wrote: after a download it acks its append position; under
/// the planted bug it acks the master's position before downloading anything.
#[test]
fn a_slave_acks_only_positions_it_has_written() {
    for bug in [None, Some(PlantedBug::SlaveAcksUnwritten)] {
        let mut master_log = Log::new(1 << 20);
        for seq in 1..=3 {
            master_log.append(LogOp::Add { msg: msg(seq) });
        }
        let config = BrokerConfig { planted_bug: bug, ..config(SyncMode::QuorumMem) };
        let mut broker = Broker::start(config, (1, 1), &[]);
        let master = attach_slave(&mut broker);
        let position = master_log.end();
        let message = Message::Repl(ReplMsg::SyncResponse { position, files: master_log.files() });
        let fx = input(&mut broker, Input::Received { conn: master, message });
        let acked: Vec<u64> = fx
            .iter()
            .filter_map(|e| match e {
                Effect::Send { message: Message::Repl(ReplMsg::WalAck { position }), .. } => Some(*position),
                _ => None,
            })
            .collect();
        if bug.is_some() {
            assert_eq!(acked, vec![position]);
            assert_eq!(broker.log_end(), 0, "acked without having written anything");
            continue;
        }
        assert!(acked.is_empty());
        assert!(fx
            .iter()
            .any(|e| matches!(e, Effect::Send { message: Message::Repl(ReplMsg::Get { from: 0 }), .. })));
        let entries = master_log.range(0, position).to_vec();
        let message = Message::Repl(ReplMsg::Transfer { entries, bytes: position });
        let fx = input(&mut broker, Input::Received { conn: master, message });
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::SetTimer { timer: TimerId::Broker(BrokerTimer::TransferWritten { .. }), .. }
        )));
        let fx = input(
            &mut broker,
            Input::Timer { timer: TimerId::Broker(BrokerTimer::TransferWritten { instance: 1 }) },
        );
        assert_eq!(broker.log_end(), position);
        assert!(fx.iter().any(|e| matches!(e, Effect::Send { message: Message::Repl(ReplMsg::WalAck { position: p }), .. } if *p == position)));
    }
}

/// The stash: a slave keeps its old log until the download is written (so a failed session
/// leaves its data and position as they were), and frames that ask for an msync during the
/// download are acked only after one.
// Postmortem: found by review (issue 3). The slave cut its log when the SyncResponse came,
// so a session that failed mid-download lowered its election position and lost its data;
// and frames that arrived during the download were acked without the msync they asked for.
#[test]
fn a_slave_keeps_its_stash_until_the_download_is_written_and_msyncs_before_acking() {
    let mut master_log = Log::new(1 << 20);
    for seq in 1..=3 {
        master_log.append(LogOp::Add { msg: msg(seq) });
    }
    // The slave is an old master: it has records the new master never had.
    let mut disk: Vec<Record> = Vec::new();
    let mut old = master_log.clone();
    old.truncate(master_log.range(0, u64::MAX)[1].start);
    let theirs = old.append(LogOp::Add { msg: msg(99) });
    for entry in old.range(0, u64::MAX) {
        disk.push(Record::Broker(BrokerRecord::Log(entry.clone())));
    }
    let mut broker = Broker::start(config(SyncMode::QuorumMem), (1, 1), &disk);
    let stash_end = broker.log_end();
    assert_eq!(stash_end, theirs.end());
    let master = attach_slave(&mut broker);
    let position = master_log.end();
    let message = Message::Repl(ReplMsg::SyncResponse { position, files: master_log.files() });
    input(&mut broker, Input::Received { conn: master, message });
    assert_eq!(broker.log_end(), stash_end, "nothing is cut before the download is written");
    // A frame arrives during the download and asks for an msync.
    let next = master_log.append(LogOp::Add { msg: msg(4) });
    let message = Message::Repl(ReplMsg::Wal { entries: vec![next.clone()], sync: true });
    assert!(input(&mut broker, Input::Received { conn: master, message }).is_empty());
    let entries = master_log.range(0, position).to_vec();
    let message = Message::Repl(ReplMsg::Transfer { entries, bytes: position });
    input(&mut broker, Input::Received { conn: master, message });
    assert_eq!(broker.log_end(), stash_end);
    let timer = TimerId::Broker(BrokerTimer::TransferWritten { instance: 1 });
    let fx = input(&mut broker, Input::Timer { timer });
    assert_eq!(broker.log_end(), next.end(), "the stash is replaced by the master's log");
    assert_eq!(broker.log.replay(), master_log.replay());
    let is_ack =
        |e: &Effect| matches!(e, Effect::Send { message: Message::Repl(ReplMsg::WalAck { .. }), .. });
    assert!(!fx.iter().any(is_ack), "no ack before the msync");
    let token = fsync_token(&fx).expect("an msync");
    let fx = input(&mut broker, Input::Synced { token });
    assert!(fx.iter().any(|e| matches!(e, Effect::Send { message: Message::Repl(ReplMsg::WalAck { position: p }), .. } if *p == next.end())));
}

/// Starts `broker` as a slave of 10.0.0.2 whose replication connection is its 99th.
fn attach_slave(broker: &mut Broker) -> ConnId {
    broker.start_instance(Time::ZERO, &mut Vec::new());
    let master = ConnId::Out { owner: Component::Own, n: 99 };
    let inst = broker.instance.as_mut().expect("started");
    let target = "tcp://10.0.0.2:62621".to_string();
    inst.connected_address = Some(target.clone());
    inst.store = Store::Slave(SlaveStore::new(target, Some(master)));
    master
}

// ---------------------------------------------------------------------------------------------
// Demotion: `BrokerService.stop()` takes `stop_ms` before `zk_group.close`.

/// A serving master whose ZooKeeper session is up and whose member znode is `00000000001`;
/// returns the ZooKeeper connection.
fn serving_master_with_session(stop_ms: u64) -> (Broker, ConnId) {
    let mut broker = Broker::start(BrokerConfig { stop_ms, ..config(SyncMode::QuorumMem) }, (1, 1), &[]);
    let mut fx = Vec::new();
    broker.start_instance(Time::ZERO, &mut fx);
    let zk_conn = zk_connect(&mut broker, &fx, Time::ZERO);
    let inst = broker.instance.as_mut().expect("started");
    inst.my_name = Some("00000000001".into());
    inst.store = serving_master(SyncMode::QuorumMem, None).instance.take().expect("one").store;
    inst.serving = true;
    (broker, zk_conn)
}

/// The connection of the ZooKeeper connect attempt in `fx`.
fn zk_attempt(fx: &[Effect]) -> ConnId {
    fx.iter()
        .find_map(|e| match e {
            Effect::Connect { conn, target } if target.port == 2181 => Some(*conn),
            _ => None,
        })
        .expect("a connect to ZooKeeper")
}

/// Completes the ZooKeeper handshake of the connect attempt in `fx`.
fn zk_connect(broker: &mut Broker, fx: &[Effect], now: Time) -> ConnId {
    let conn = zk_attempt(fx);
    broker.on_input(now, Input::Connected { conn }, &mut Vec::new());
    let response = ServerMsg::ConnectResponse { session: SessionId(77), timeout_ms: 4000 };
    broker.on_input(now, Input::Received { conn, message: Message::ZkServer(response) }, &mut Vec::new());
    assert!(broker.instance.as_ref().expect("an instance").zk.is_connected());
    conn
}

fn zk_requests(fx: &[Effect]) -> Vec<Op> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { message: Message::ZkClient(ClientMsg::Request { op, .. }), .. } => {
                Some(op.clone())
            }
            _ => None,
        })
        .collect()
}

fn timer_at(fx: &[Effect], wanted: impl Fn(&BrokerTimer) -> bool) -> Option<Time> {
    fx.iter().find_map(|e| match e {
        Effect::SetTimer { timer: TimerId::Broker(t), at } if wanted(t) => Some(*at),
        _ => None,
    })
}

/// Loses ZooKeeper at 10 s: the master demotes, closes its ports at once and arms the stop.
fn demote_at_10_s(broker: &mut Broker, zk_conn: ConnId, stop_ms: u64) -> (Vec<Effect>, Time) {
    let now = Time::from_ms(10_000);
    let mut fx = Vec::new();
    broker.on_input(now, Input::Closed { conn: zk_conn, reason: CloseReason::Reset }, &mut fx);
    let demoted =
        fx.iter().any(|e| matches!(e, Effect::Observe { observation: Observation::Demoted { .. } }));
    assert!(demoted, "{fx:?}");
    assert!(
        fx.contains(&Effect::Unlisten { port: 61616 })
            && fx.contains(&Effect::Observe { observation: Observation::Serving { on: false } }),
        "{fx:?}"
    );
    let stopped = timer_at(&fx, |t| matches!(t, BrokerTimer::Stopped { .. })).expect("the stop is armed");
    assert_eq!(stopped, now.add_ms(stop_ms), "broker_stop_ms after the demotion");
    assert!(zk_requests(&fx).is_empty(), "nothing reaches ZooKeeper yet: {fx:?}");
    assert!(
        timer_at(&fx, |t| matches!(t, BrokerTimer::Restart { .. })).is_none(),
        "no restart before the stop ends"
    );
    (fx, stopped)
}

#[test]
fn a_demoted_master_that_reconnects_during_its_stop_closes_its_session_at_once() {
    // A stop long enough for the client's reconnect (its jitter is under 1 s, 3.4).
    let (mut broker, zk_conn) = serving_master_with_session(2000);
    let (fx, stopped) = demote_at_10_s(&mut broker, zk_conn, 2000);
    // The client library reconnects (same session) while the broker is stopping.
    let (timer, at) = fx
        .iter()
        .find_map(|e| match e {
            Effect::SetTimer { timer: t @ TimerId::ZkClient { kind: ClientTimer::Reconnect, .. }, at } => {
                Some((*t, *at))
            }
            _ => None,
        })
        .expect("a reconnect is scheduled");
    assert!(at < stopped, "the reconnect (jitter < 1 s) must fall inside the stop for this test: {at}");
    let mut fx = Vec::new();
    broker.on_input(at, Input::Timer { timer }, &mut fx);
    zk_connect(&mut broker, &fx, at);
    let mut fx = Vec::new();
    broker.on_input(
        stopped,
        Input::Timer { timer: TimerId::Broker(BrokerTimer::Stopped { instance: 1 }) },
        &mut fx,
    );
    let ops = zk_requests(&fx);
    assert_eq!(
        ops,
        vec![Op::Delete { path: "/g/00000000001".into(), version: None }, Op::CloseSession],
        "{fx:?}"
    );
    assert_eq!(timer_at(&fx, |t| matches!(t, BrokerTimer::Restart { .. })), Some(stopped.add_ms(1000)));
    assert!(broker.instance.is_none());
}

#[test]
fn a_demoted_master_still_disconnected_when_its_stop_ends_abandons_its_session() {
    let (mut broker, zk_conn) = serving_master_with_session(100);
    let (_, stopped) = demote_at_10_s(&mut broker, zk_conn, 100);
    let mut fx = Vec::new();
    broker.on_input(
        stopped,
        Input::Timer { timer: TimerId::Broker(BrokerTimer::Stopped { instance: 1 }) },
        &mut fx,
    );
    assert!(zk_requests(&fx).is_empty(), "no closeSession from a disconnected client: {fx:?}");
    assert_eq!(timer_at(&fx, |t| matches!(t, BrokerTimer::Restart { .. })), Some(stopped.add_ms(1000)));
    assert!(broker.instance.is_none(), "the session is left for the leader to expire");
}

// Postmortem: found by review (issue 7). A master that lost ZooKeeper while recovering demoted
// in the same input that asked to bind; the bind's `ListenFailed` (another broker on the host
// holds the port) then demoted the stopping broker a second time and crashed the model.
#[test]
fn a_bind_failure_after_the_demotion_is_moot() {
    let (mut broker, zk_conn) = serving_master_with_session(100);
    let (_, stopped) = demote_at_10_s(&mut broker, zk_conn, 100);
    let mut fx = Vec::new();
    broker.on_input(Time::from_ms(10_000), Input::ListenFailed { port: 62621 }, &mut fx);
    assert!(fx.is_empty(), "{fx:?}");
    let mut fx = Vec::new();
    broker.on_input(
        stopped,
        Input::Timer { timer: TimerId::Broker(BrokerTimer::Stopped { instance: 1 }) },
        &mut fx,
    );
    broker.on_input(stopped, Input::ListenFailed { port: 62621 }, &mut Vec::new());
    assert!(broker.instance.is_none());
}

// ---------------------------------------------------------------------------------------------
// The group (`group.rs`) and the master store's start (`master.rs`).

#[test]
fn a_connected_broker_creates_the_group_path_watches_the_members_and_joins() {
    let mut broker = Broker::start(config(SyncMode::QuorumMem), (1, 1), &[]);
    let mut fx = Vec::new();
    broker.start_instance(Time::ZERO, &mut fx);
    let conn = zk_attempt(&fx);
    assert_eq!(conn.owner(), Some(Component::ZkClient { handle: 1 }), "the first handle owns it");
    input(&mut broker, Input::Connected { conn });
    let response = ServerMsg::ConnectResponse { session: SessionId(77), timeout_ms: 4000 };
    let fx = input(&mut broker, Input::Received { conn, message: Message::ZkServer(response) });
    let ops = zk_requests(&fx);
    assert_eq!(ops.len(), 3, "{ops:?}");
    assert_eq!(ops[0], Op::Create { path: "/g".into(), data: String::new(), mode: CreateMode::Persistent });
    assert_eq!(ops[1], Op::GetChildren { path: "/g".into(), watch: true });
    let Op::Create { path, data, mode: CreateMode::EphemeralSequential } = &ops[2] else {
        panic!("the join is an ephemeral sequential create: {:?}", ops[2]);
    };
    assert_eq!(path, "/g/0");
    let state = NodeState::from_json(data).expect("the member's JSON");
    assert_eq!((state.id.as_str(), state.address, state.position), ("activemq-cluster", None, 0));
    let inst = broker.instance.as_ref().expect("an instance");
    assert!(inst.joining && inst.my_name.is_none());
}

#[test]
fn a_new_master_binds_after_recovery_and_serves_once_a_slave_caught_up() {
    let mut broker = Broker::start(config(SyncMode::QuorumMem), (1, 1), &[]);
    broker.start_instance(Time::ZERO, &mut Vec::new());
    // The head's znode names this broker elected.
    let inst = broker.instance.as_mut().expect("started");
    inst.my_name = Some("00000000001".into());
    let state = NodeState {
        id: "activemq-cluster".into(),
        container: None,
        address: None,
        position: -1,
        weight: 1,
        elected: Some("0000000001".into()),
    };
    inst.members.insert("00000000001".into(), Some(state));
    let mut fx = Vec::new();
    broker.promote(Time::ZERO, "0000000001".into(), &mut fx);
    let recovered = timer_at(&fx, |t| matches!(t, BrokerTimer::MasterRecovered { .. })).expect("recovery");
    assert!(!fx.iter().any(|e| matches!(e, Effect::Listen { .. })), "no port before recovery: {fx:?}");
    let fx = input(
        &mut broker,
        Input::Timer { timer: TimerId::Broker(BrokerTimer::MasterRecovered { instance: 1 }) },
    );
    assert!(recovered <= Time::from_ms(1));
    assert!(fx.contains(&Effect::Listen { port: 62621 }), "the replication server binds: {fx:?}");
    assert!(!fx.contains(&Effect::Listen { port: 61616 }), "clients wait for a slave: {fx:?}");
    let slave = SLAVES[0];
    assert!(input(&mut broker, Input::Accepted { conn: slave, port: 62621 }).is_empty());
    let fx = input(
        &mut broker,
        Input::Received { conn: slave, message: Message::Repl(ReplMsg::Login { node_id: "s1".into() }) },
    );
    assert!(
        matches!(
            &fx[..],
            [Effect::Send { message: Message::Repl(ReplMsg::SyncResponse { position: 0, .. }), .. }]
        ),
        "{fx:?}"
    );
    let fx = input(
        &mut broker,
        Input::Received { conn: slave, message: Message::Repl(ReplMsg::WalAck { position: 0 }) },
    );
    assert!(
        fx.contains(&Effect::Listen { port: 61616 })
            && fx.contains(&Effect::Listen { port: 61613 })
            && fx.contains(&Effect::Observe { observation: Observation::Serving { on: true } }),
        "replicas/2 = 1 slave caught up: the ports open: {fx:?}"
    );
    assert!(broker.is_serving());
}

#[test]
#[should_panic(expected = "a batch blocks with its sync condition met")]
fn the_write_thread_invariant_catches_a_batch_left_blocked() {
    let mut broker = serving_master(SyncMode::QuorumMem, None);
    let inst = broker.instance.as_mut().expect("serving");
    let Store::Master(master) = &mut inst.store else { unreachable!() };
    // Both slaves acked past it and no fsync is outstanding: the thread should have run it.
    master.writer.blocked = Some(writer::Batch { end: 0, fsync: None, ops: Vec::new() });
    broker.invariants();
}
