//! Fast Leader Election's timers as exact effects (ZooKeeper 3.4.14 `FastLeaderElection.
//! lookForLeader`): the notification poll restarts after every notification and doubles only
//! when it times out; while a server waits out `finalizeWait` nothing is broadcast, a vote that
//! does not beat its proposal only restarts the wait, and the poll timer stays off.

use super::proto::ZkTimer;
use super::proto::{Notification, PeerState};
use super::server::{PeerAddrs, ServerConfig, ZkServer};
use super::{EnsembleConfig, Zxid};
use crate::io::{Addr, ConnId, Effect, HostId, Input, Message, TimerId};
use crate::time::Time;
use std::collections::BTreeMap;

fn server() -> (ZkServer, Vec<Effect>) {
    let peers: BTreeMap<u8, PeerAddrs> = (0..3u8)
        .map(|id| {
            let host = HostId(id as u16);
            (id, PeerAddrs { quorum: Addr { host, port: 2888 }, election: Addr { host, port: 3888 } })
        })
        .collect();
    let config = ServerConfig {
        id: 0,
        client_port: 2181,
        quorum_port: 2888,
        election_port: 3888,
        peers,
        ensemble: EnsembleConfig::seed(),
        clock_offset_ms: 0,
    };
    let mut server = ZkServer::start(config, (1, 0), &[]);
    let mut fx = Vec::new();
    server.on_start(Time::ZERO, &mut fx);
    // Both election connections come up at once.
    let connects: Vec<ConnId> = fx
        .iter()
        .filter_map(|e| if let Effect::Connect { conn, .. } = e { Some(*conn) } else { None })
        .collect();
    assert_eq!(connects.len(), 2, "{fx:?}");
    for conn in connects {
        server.on_input(Time::from_us(100), Input::Connected { conn }, &mut Vec::new());
    }
    // And the peers' connections to us, on which their votes arrive.
    for peer in 1..=2 {
        server.on_input(
            Time::from_us(100),
            Input::Accepted { conn: ConnId::In(peer), port: 3888 },
            &mut Vec::new(),
        );
    }
    (server, fx)
}

fn vote(sender: u8, leader: u8, election_epoch: u64) -> Input {
    let notification = Notification {
        sender,
        leader,
        zxid: Zxid(0),
        election_epoch,
        peer_epoch: 0,
        state: PeerState::Looking,
    };
    Input::Received { conn: ConnId::In(u64::from(sender)), message: Message::Election(notification) }
}

fn timer_set(fx: &[Effect], which: ZkTimer) -> Option<Time> {
    fx.iter().find_map(|e| match e {
        Effect::SetTimer { timer: TimerId::Zk(t), at } if *t == which => Some(*at),
        _ => None,
    })
}

fn cancelled(fx: &[Effect], which: ZkTimer) -> bool {
    fx.iter().any(|e| matches!(e, Effect::CancelTimer { timer: TimerId::Zk(t) } if *t == which))
}

fn sends(fx: &[Effect]) -> usize {
    fx.iter().filter(|e| matches!(e, Effect::Send { message: Message::Election(_), .. })).count()
}

#[test]
fn the_poll_restarts_after_every_notification_and_doubles_only_on_a_timeout() {
    let (mut server, boot) = server();
    assert_eq!(timer_set(&boot, ZkTimer::ElectionPoll), Some(Time::from_ms(200)), "finalizeWait");
    // A notification of an older election (epoch 0 < 1): answered, and the poll starts afresh.
    let mut fx = Vec::new();
    server.on_input(Time::from_ms(150), vote(1, 1, 0), &mut fx);
    assert_eq!(sends(&fx), 1, "the lagging peer gets our vote back: {fx:?}");
    assert_eq!(timer_set(&fx, ZkTimer::ElectionPoll), Some(Time::from_ms(350)), "{fx:?}");
    // The poll times out with nothing received: broadcast, then wait twice as long.
    let mut fx = Vec::new();
    server.on_input(Time::from_ms(350), Input::Timer { timer: TimerId::Zk(ZkTimer::ElectionPoll) }, &mut fx);
    assert_eq!(sends(&fx), 2, "{fx:?}");
    assert_eq!(timer_set(&fx, ZkTimer::ElectionPoll), Some(Time::from_ms(750)), "{fx:?}");
    // The next notification restarts the poll with the doubled timeout (never reset).
    let mut fx = Vec::new();
    server.on_input(Time::from_ms(500), vote(1, 1, 0), &mut fx);
    assert_eq!(timer_set(&fx, ZkTimer::ElectionPoll), Some(Time::from_ms(900)), "{fx:?}");
}

#[test]
fn nothing_is_broadcast_while_finalizing_and_only_a_better_vote_ends_the_wait() {
    let (mut server, _) = server();
    // Server 1 proposes itself, a better vote: adopt it, broadcast, and with two of three
    // agreeing start finalizeWait with the poll off.
    let mut fx = Vec::new();
    server.on_input(Time::from_ms(10), vote(1, 1, 1), &mut fx);
    assert_eq!(sends(&fx), 2, "the changed proposal is broadcast: {fx:?}");
    assert_eq!(timer_set(&fx, ZkTimer::Finalize), Some(Time::from_ms(210)), "{fx:?}");
    assert!(cancelled(&fx, ZkTimer::ElectionPoll), "no poll while finalizing: {fx:?}");
    assert_eq!(timer_set(&fx, ZkTimer::ElectionPoll), None, "{fx:?}");
    // A vote that does not beat the proposal restarts the wait; nothing is sent.
    let mut fx = Vec::new();
    server.on_input(Time::from_ms(50), vote(2, 0, 1), &mut fx);
    assert_eq!(timer_set(&fx, ZkTimer::Finalize), Some(Time::from_ms(250)), "{fx:?}");
    assert_eq!((sends(&fx), timer_set(&fx, ZkTimer::ElectionPoll)), (0, None), "{fx:?}");
    // A stale poll timer fires meanwhile: ignored.
    let mut fx = Vec::new();
    server.on_input(Time::from_ms(200), Input::Timer { timer: TimerId::Zk(ZkTimer::ElectionPoll) }, &mut fx);
    assert!(fx.is_empty(), "{fx:?}");
    // A better vote (server 2 for itself) ends the wait and is handled as usual.
    let mut fx = Vec::new();
    server.on_input(Time::from_ms(60), vote(2, 2, 1), &mut fx);
    assert!(cancelled(&fx, ZkTimer::Finalize) || timer_set(&fx, ZkTimer::Finalize).is_some(), "{fx:?}");
    assert_eq!(sends(&fx), 2, "the new proposal is broadcast: {fx:?}");
    // The wait ends quietly: the server follows server 2 (connects to its quorum port).
    let finalize = timer_set(&fx, ZkTimer::Finalize).expect("a quorum for server 2 again (0 and 2)");
    let mut fx = Vec::new();
    server.on_input(finalize, Input::Timer { timer: TimerId::Zk(ZkTimer::Finalize) }, &mut fx);
    let target =
        fx.iter().find_map(|e| if let Effect::Connect { target, .. } = e { Some(*target) } else { None });
    assert_eq!(target, Some(Addr { host: HostId(2), port: 2888 }), "{fx:?}");
    assert!(server.is_following());
}
