//! Exact-effect tests of the transports: the failover passes and their back-off, the connect
//! timeout, and the inactivity monitor.

use super::*;
use crate::io::{Addr, Component, ConnId, Effect, HostId, Message, TimerId};
use crate::messaging::ToBroker;
use crate::rng::Rng;
use crate::time::Time;

fn uris() -> Vec<Addr> {
    (0..3).map(|h| Addr { host: HostId(h), port: 61616 }).collect()
}

fn connects(fx: &[Effect]) -> Vec<(ConnId, Addr)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Connect { conn, target } => Some((*conn, *target)),
            _ => None,
        })
        .collect()
}

fn reconnect_at(fx: &[Effect]) -> Option<Time> {
    fx.iter().find_map(|e| match e {
        Effect::SetTimer { timer: TimerId::Transport { kind: TransportTimer::Reconnect, .. }, at } => {
            Some(*at)
        }
        _ => None,
    })
}

/// Refuses every URI of the pass that `fx` starts; returns the effects of the last refusal.
fn refuse_pass(t: &mut FailoverTransport, now: Time, mut fx: Vec<Effect>) -> (Vec<Addr>, Vec<Effect>) {
    let mut tried = Vec::new();
    loop {
        let Some(&(conn, target)) = connects(&fx).first() else { return (tried, fx) };
        tried.push(target);
        fx = Vec::new();
        assert_eq!(t.on_closed(now, conn, &mut fx), FailoverEvent::None);
    }
}

#[test]
fn failover_passes_back_off_from_10_ms_doubling_to_30_s() {
    let mut rng = Rng::new(1, 2);
    let mut t = FailoverTransport::new(Component::Own, uris(), true, ReconnectDelay::Exponential, true);
    let mut now = Time::ZERO;
    let mut fx = Vec::new();
    t.start_pass(now, &mut rng, &mut fx);
    let mut waits = Vec::new();
    for _ in 0..14 {
        let (tried, last) = refuse_pass(&mut t, now, fx);
        let mut sorted = tried.clone();
        sorted.sort();
        assert_eq!(sorted, uris(), "every URI once per pass");
        let at = reconnect_at(&last).expect("a wait after a failed pass");
        waits.push(at.saturating_sub_us(now) / 1000);
        now = at;
        fx = Vec::new();
        t.on_timer(now, TransportTimer::Reconnect, &mut rng, &mut fx);
    }
    let expected = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 20480, 30000, 30000];
    assert_eq!(waits, expected);
}

#[test]
fn a_lost_connection_retries_after_10_ms_with_the_failed_uri_last() {
    let mut rng = Rng::new(3, 4);
    let mut t = FailoverTransport::new(Component::Own, uris(), true, ReconnectDelay::Exponential, true);
    let mut fx = Vec::new();
    t.start_pass(Time::ZERO, &mut rng, &mut fx);
    let (conn, broker) = connects(&fx)[0];
    let event = t.on_connected(Time::ZERO, conn, &mut Vec::new());
    assert_eq!(event, FailoverEvent::Connected { broker, reconnect: false });
    let now = Time::from_ms(5000);
    assert_eq!(t.on_closed(now, conn, &mut Vec::new()), FailoverEvent::Lost);
    assert!(!t.is_connected() && t.conn().is_none());
    let mut fx = Vec::new();
    t.reconnect_after_loss(now, &mut fx);
    assert_eq!(reconnect_at(&fx), Some(now.add_ms(10)));
    let mut fx = Vec::new();
    t.on_timer(now.add_ms(10), TransportTimer::Reconnect, &mut rng, &mut fx);
    let (tried, _) = refuse_pass(&mut t, now.add_ms(10), fx);
    assert_eq!(tried.len(), 3);
    assert_eq!(tried.last(), Some(&broker), "the failed URI goes last");
}

#[test]
fn a_connect_into_silence_gives_up_after_30_s_and_tries_the_next_uri() {
    let mut rng = Rng::new(5, 6);
    let mut t = FailoverTransport::new(Component::Own, uris(), true, ReconnectDelay::Exponential, true);
    let mut fx = Vec::new();
    t.start_pass(Time::ZERO, &mut rng, &mut fx);
    let (first, _) = connects(&fx)[0];
    let timeout = fx
        .iter()
        .find_map(|e| match e {
            Effect::SetTimer {
                timer: TimerId::Transport { kind: k @ TransportTimer::ConnectTimeout { .. }, .. },
                at,
            } => Some((*k, *at)),
            _ => None,
        })
        .expect("a connect timeout");
    assert_eq!(timeout.1, Time::from_ms(CONNECT_TIMEOUT_MS));
    let mut fx = Vec::new();
    t.on_timer(timeout.1, timeout.0, &mut rng, &mut fx);
    assert_eq!(fx[0], Effect::Close { conn: first });
    assert_eq!(connects(&fx).len(), 1, "the next URI: {fx:?}");
}

#[test]
fn the_inactivity_monitor_keeps_alive_every_10_s_and_fails_a_silent_link_at_the_read_check() {
    let mut t = TcpTransport::new(Component::Own, true);
    let conn = t.connect(Time::ZERO, uris()[0], &mut Vec::new());
    let mut fx = Vec::new();
    t.on_connected(Time::ZERO, &mut fx);
    let timer = |kind| TimerId::Transport { owner: Component::Own, kind };
    assert_eq!(
        fx,
        vec![
            Effect::SetTimer {
                timer: timer(TransportTimer::ReadCheck { attempt: 1 }),
                at: Time::from_ms(30_000)
            },
            Effect::SetTimer {
                timer: timer(TransportTimer::KeepAlive { attempt: 1 }),
                at: Time::from_ms(10_000)
            },
        ]
    );
    let mut fx = Vec::new();
    let event = t.on_timer(Time::from_ms(10_000), TransportTimer::KeepAlive { attempt: 1 }, &mut fx);
    assert_eq!(event, TransportEvent::None);
    assert_eq!(fx[0], Effect::Send { conn, message: Message::ToBroker(ToBroker::KeepAlive) });
    // Something read at 20 s: the check at 30 s passes and re-arms.
    t.on_read(Time::from_ms(20_000));
    let mut fx = Vec::new();
    assert_eq!(
        t.on_timer(Time::from_ms(30_000), TransportTimer::ReadCheck { attempt: 1 }, &mut fx),
        TransportEvent::None
    );
    assert_eq!(
        fx,
        vec![Effect::SetTimer {
            timer: timer(TransportTimer::ReadCheck { attempt: 1 }),
            at: Time::from_ms(60_000)
        }]
    );
    // Silent from 20 s to 60 s: 40 s ≥ maxInactivityDuration.
    let mut fx = Vec::new();
    assert_eq!(
        t.on_timer(Time::from_ms(60_000), TransportTimer::ReadCheck { attempt: 1 }, &mut fx),
        TransportEvent::Inactive
    );
    assert_eq!(fx, vec![Effect::Close { conn }]);
    // A timer of an earlier attempt does nothing.
    t.drop_conn();
    t.connect(Time::from_ms(60_000), uris()[1], &mut Vec::new());
    let mut fx = Vec::new();
    assert_eq!(
        t.on_timer(Time::from_ms(61_000), TransportTimer::ConnectTimeout { attempt: 1 }, &mut fx),
        TransportEvent::None
    );
    assert!(fx.is_empty());
}
