//! The message checker, in the manner of Jepsen's total-queue: after the run (whose producers
//! stop before the end so consumers drain), every message the application sent is accounted for
//! by its application key.
//!
//! - `lost`: a persistent send to a queue was acknowledged, yet it was never delivered, never
//!   dead-lettered and no serving master still holds it; on a topic, the same for each durable
//!   subscription stored before the send (non-durable subscribers are promised nothing across a
//!   failover and are not judged);
//! - `unexpected`: delivered but never sent;
//! - `duplicated`: delivered to the application more than once (per subscriber on a topic); a
//!   redelivery after a lost ack is at-least-once behaviour, counted but not judged;
//! - `recovered`: a send of unknown outcome (no response) that turned up anyway;
//! - `vanished`: a send without a response (async, or its outcome unknown) that never turned up;
//! - `topic_missed_non_durable`: (message, subscriber) pairs a non-durable topic subscriber
//!   never got although the message was published while it was subscribed (from its first
//!   subscription to its client's crash or the end); `topic_missed_across_groups` is the part
//!   published on the other group, which only a bridge's network subscription could bring
//!   (nothing keeps it while no bridge is up). Counted, not judged: nothing is promised;
//! - `out_of_order`: on a queue with one consumer, a producer's first deliveries went backwards;
//! - `dlq`: messages moved to the dead-letter queue;
//! - `stuck`: still in a destination at the end: with `expect_drain` (the default) a liveness
//!   failure, since every destination has a consumer that had the drain to take it.
//!
//! The verdict judges loss against what the configuration promises: with a remote part in
//! `sync` and at most a minority of any group down at once, an acknowledged loss is a failure;
//! with `local_*` it is the configuration's known risk, reported in the counts. A destination
//! with a consumer acked at dispatch (STOMP `ack:auto`) promises nothing and is only counted.

use super::Context;
use crate::history::Kind;
use crate::ledger::Account;
use crate::measurements::MessageCounts;
use crate::outcome::Violation;
use crate::topology::ProcessKind;
use broker_model::messaging::{AckMode, Dest, MsgId};
use broker_model::{Observation, Time};
use std::collections::{BTreeMap, BTreeSet};

/// Counts by name; also pushes violations.
/// Sends the producers' rates call for between their start and stop: a producer blocked in a
/// sync send or a failover skips the slots it missed, so `sent` below this says how far behind
/// the configured rate the application fell.
pub fn scheduled_sends(context: &Context<'_>) -> u64 {
    let mut scheduled = 0.0;
    for client in &context.spec.workload {
        let active_s = client.stop_ms.saturating_sub(client.start_ms) as f64 / 1000.0;
        for producer in &client.producers {
            scheduled += (producer.rate_per_s * active_s).floor();
        }
    }
    scheduled as u64
}

pub fn check(context: &Context<'_>, violations: &mut Vec<Violation>) -> Option<MessageCounts> {
    if context.spec.workload.is_empty() {
        return None;
    }
    let mut counts = MessageCounts::default();
    let ledger = &context.history.ledger;
    let mut duplicate_sends = Vec::new();
    let mut suppressed = 0;
    let mut network_duplicates = 0;
    let mut rejected = 0;
    // Durable subscribers: consumer → (topic, subscription name); when each was stored.
    let mut durable_consumers: BTreeMap<u32, (String, String)> = BTreeMap::new();
    let mut stored_subs: BTreeMap<(String, String), Time> = BTreeMap::new();
    let mut unpromised: BTreeSet<Dest> = BTreeSet::new();
    // Non-durable topic subscribers: consumer → (topic, its client process, subscribed, gone).
    let mut non_durable: BTreeMap<u32, (Dest, usize, Time, Option<Time>)> = BTreeMap::new();
    // Sends, acknowledgements and deliveries are in the ledger; the rest is rare and in the
    // history.
    for event in &context.history.events {
        if event.kind == Kind::Crashed {
            for (_, process, _, gone) in non_durable.values_mut() {
                if Some(*process) == event.process && gone.is_none() {
                    *gone = Some(event.at);
                }
            }
            continue;
        }
        let Kind::Observed(observation) = &event.kind else { continue };
        match observation {
            Observation::Subscribed { consumer, dest, durable, ack } => {
                if let (Dest::Topic(topic), Some(sub)) = (dest, durable) {
                    durable_consumers.insert(*consumer, (topic.to_string(), sub.clone()));
                }
                if let (Dest::Topic(_), None, Some(process)) = (dest, durable, event.process) {
                    non_durable.entry(*consumer).or_insert((*dest, process, event.at, None));
                }
                // A consumer acked at dispatch (STOMP `ack:auto`) may lose what was in flight:
                // the destination promises nothing more.
                if *ack == AckMode::OnDispatch {
                    unpromised.insert(*dest);
                }
            }
            Observation::DurableSubscribed { topic, sub } => {
                stored_subs.entry((topic.clone(), sub.clone())).or_insert(event.at);
            }
            // A bridge re-forwarding what the remote stored before its response was lost: the
            // remote's cursor audit sends the copy to the DLQ (model/activemq.md §3.9).
            Observation::DuplicateSend { forwarded: true, .. } => network_duplicates += 1,
            Observation::DuplicateSend { key, forwarded: false } => duplicate_sends.push((event.at, *key)),
            Observation::ResendSuppressed { .. } => suppressed += 1,
            Observation::DuplicateRejected { .. } => rejected += 1,
            _ => {}
        }
    }
    let held: BTreeSet<MsgId> = context.held.iter().map(|(_, msg)| msg.key).collect();
    let is_held = |key: &MsgId| held.contains(key);
    let sent: Vec<(MsgId, &Account)> = ledger.sent().collect();
    let mut lost: Vec<MsgId> = sent
        .iter()
        .filter(|(_, a)| matches!(ledger.dest(a), Dest::Queue(_)))
        .filter(|(k, a)| a.acked() && a.persistent() && a.deliveries == 0 && !a.dead() && !is_held(k))
        .map(|(k, _)| *k)
        .collect();
    // The group of the client a producer or consumer id belongs to.
    let group_of = |id: u32| {
        let index = broker_model::client::client_index_of(id);
        context.layout.processes.iter().find_map(|p| match &p.kind {
            ProcessKind::Client { group, config } if config.index == index => Some(*group),
            _ => None,
        })
    };
    let mut durable_cross_group = 0;
    for (consumer, (topic, sub)) in &durable_consumers {
        let Some(stored_at) = stored_subs.get(&(topic.clone(), sub.clone())) else { continue };
        let topic = Dest::Topic(topic.as_str().into());
        let missed = sent
            .iter()
            .filter(|(_, a)| ledger.dest(a) == &topic)
            .filter(|(_, a)| a.acked() && a.persistent() && a.sent_at > *stored_at)
            .filter(|(k, a)| a.to(*consumer) == 0 && !a.dead() && !is_held(k));
        for (key, _) in missed {
            // Published on another group: only the bridge's durable network subscription
            // (`NC-DS_…`) on the producer's broker keeps it for this subscriber, and that exists
            // only once the bridge has learnt of the subscriber: counted, not judged.
            let (from, to) = (group_of(key.producer), group_of(*consumer));
            if from.is_some() && to.is_some() && from != to {
                durable_cross_group += 1;
            } else {
                lost.push(*key);
            }
        }
    }
    let (mut topic_missed, mut topic_missed_across) = (0, 0);
    for (consumer, (topic, _, from, gone)) in &non_durable {
        let missed = sent
            .iter()
            .filter(|(_, a)| ledger.dest(a) == topic && a.sent_at > *from)
            .filter(|(_, a)| gone.is_none_or(|gone| a.sent_at < gone))
            .filter(|(_, a)| a.to(*consumer) == 0);
        for (key, _) in missed {
            topic_missed += 1;
            let (from, to) = (group_of(key.producer), group_of(*consumer));
            topic_missed_across += (from.is_some() && to.is_some() && from != to) as u64;
        }
    }
    lost.sort();
    let unexpected = ledger.unexpected();
    let out_of_order = ledger.out_of_order();
    let count = |f: &dyn Fn(&MsgId, &Account) -> bool| sent.iter().filter(|(k, a)| f(k, a)).count() as u64;
    counts.sent = sent.len() as u64;
    counts.scheduled = scheduled_sends(context);
    counts.acked = count(&|_, a| a.acked());
    counts.delivered = count(&|_, a| a.deliveries > 0);
    counts.lost = lost.len() as u64;
    counts.duplicated = count(&|_, a| match ledger.dest(a) {
        Dest::Topic(_) => a.any_consumer_twice(),
        _ => a.deliveries > 1,
    });
    counts.unexpected = unexpected.len() as u64;
    counts.dlq = count(&|_, a| a.dead());
    counts.recovered = count(&|k, a| a.sync() && !a.acked() && (a.deliveries > 0 || a.dead() || is_held(k)));
    counts.held_at_end = count(&|k, _| is_held(k));
    // Still in a destination (not the DLQ) at the end although consumers had the drain to take it.
    let stuck: BTreeSet<MsgId> =
        context.held.iter().filter(|(_, m)| !m.dest.is_dlq()).map(|(_, m)| m.key).collect();
    counts.stuck = stuck.len() as u64;
    if context.spec.expect_drain {
        if let Some(key) = stuck.first() {
            violations.push(Violation::Stuck { count: stuck.len() as u64, first: key.to_string() });
        }
    }
    // Sends without a response that never arrived anywhere: async sends in flight at a crash,
    // sync sends whose outcome stayed unknown. Counted: nothing was promised for them.
    counts.vanished = count(&|k, a| !a.acked() && a.deliveries == 0 && !a.dead() && !is_held(k));
    counts.out_of_order = out_of_order;
    counts.topic_missed_non_durable = topic_missed;
    counts.topic_missed_across_groups = topic_missed_across;
    counts.resends_suppressed = suppressed;
    counts.duplicates_rejected = rejected;
    counts.duplicate_sends_stored = duplicate_sends.len() as u64;
    counts.network_duplicates_dlq = network_duplicates;
    counts.durable_missed_across_groups = durable_cross_group;
    counts.forwarded = ledger.forwarded;

    let promised = context.spec.settings.sync.has_remote()
        && max_down_in_any_group(context) <= (context.spec.settings.replicas / 2) as usize;
    let judged: Vec<MsgId> = lost
        .iter()
        .filter(|k| ledger.account(**k).is_some_and(|a| !unpromised.contains(ledger.dest(a))))
        .copied()
        .collect();
    let not_judged = if promised { lost.len() - judged.len() } else { lost.len() };
    counts.lost_not_judged = not_judged as u64;
    if promised && !judged.is_empty() {
        violations
            .push(Violation::AcknowledgedLoss { count: judged.len() as u64, first: judged[0].to_string() });
    }
    // `messageTTL` (model/activemq.md §3.4): no message crosses more brokers than the most
    // permissive connector allows.
    let ttl = context.spec.topology.connectors.iter().map(|c| c.config.message_ttl).max().unwrap_or(0);
    let ttl = context.spec.settings.network_ttl.unwrap_or(ttl);
    if let Some((hops, key)) = ledger.hops_max.filter(|(hops, _)| *hops > ttl) {
        violations.push(Violation::NetworkTtl { hops, ttl, first: key.to_string() });
    }
    if let Some(key) = unexpected.first() {
        violations.push(Violation::Unexpected { count: unexpected.len() as u64, first: key.to_string() });
    }
    // Under quorum sync a failover resend of a stored message must be dropped by the producer
    // audit; a duplicate reaching the store means the audit failed.
    if context.spec.settings.sync.has_remote() {
        if let Some((at, key)) = duplicate_sends.first() {
            violations.push(Violation::DuplicateStored {
                at: *at,
                count: duplicate_sends.len() as u64,
                first: key.to_string(),
            });
        }
    }
    Some(counts)
}

/// The most brokers of one group down (crashed, paused, or on a dead host) at the same time.
fn max_down_in_any_group(context: &Context<'_>) -> usize {
    let mut down: BTreeMap<u32, BTreeSet<usize>> = BTreeMap::new();
    let mut worst = 0;
    for event in &context.history.events {
        let Some(process) = event.process else { continue };
        let Some(group) = context.layout.processes[process].group() else { continue };
        let set = down.entry(group).or_default();
        match event.kind {
            Kind::Crashed | Kind::Paused => {
                set.insert(process);
            }
            Kind::Started | Kind::Resumed => {
                set.remove(&process);
            }
            _ => {}
        }
        worst = worst.max(set.len());
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::spec::{ClientSpec, Settings, Spec, TopologySpec};
    use crate::topology::Layout;
    use broker_model::client::Protocol;

    fn spec() -> Spec {
        Spec {
            name: "t".into(),
            description: String::new(),
            topology: TopologySpec::one_group(),
            settings: Settings::seed(),
            duration_ms: 10_000,
            liveness_deadline_ms: 5_000,
            steps: Vec::new(),
            sometimes: Vec::new(),
            measure_from: None,
            workload: vec![ClientSpec {
                name: "app".into(),
                group: 1,
                protocol: Protocol::Failover,
                producers: Vec::new(),
                consumers: Vec::new(),
                start_ms: 0,
                stop_ms: 1,
            }],
            expect_drain: true,
            measure_bridge_waits: false,
            delivery_deadline_ms: None,
        }
    }

    fn key(seq: u64) -> MsgId {
        MsgId { producer: 1000, seq }
    }

    /// Replays observations at 1 ms steps through the checker.
    fn check_history(spec: &Spec, observations: Vec<Observation>) -> (Vec<Violation>, BTreeMap<String, u64>) {
        check_with_held(spec, observations, Vec::new())
    }

    fn check_with_held(
        spec: &Spec,
        observations: Vec<Observation>,
        held: Vec<(u32, broker_model::messaging::Msg)>,
    ) -> (Vec<Violation>, BTreeMap<String, u64>) {
        let layout = Layout::build(spec, 0);
        let mut history = History::default();
        for (i, observation) in observations.into_iter().enumerate() {
            history.push(Time::from_ms(i as u64), Some(0), Kind::Observed(observation));
        }
        let context = Context {
            spec,
            layout: &layout,
            history: &history,
            end: Time::from_ms(10_000),
            last_step_at: Time::ZERO,
            held,
        };
        let mut violations = Vec::new();
        let counts = check(&context, &mut violations);
        (violations, counts.expect("a workload").to_map())
    }

    fn sent(seq: u64, dest: &Dest) -> Observation {
        Observation::Sent { key: key(seq), dest: *dest, persistent: true, sync: true }
    }

    fn delivered(seq: u64, dest: &Dest, consumer: u32, redelivered: u32) -> Observation {
        Observation::Delivered { key: key(seq), dest: *dest, consumer, redelivered, latency_us: 1 }
    }

    #[test]
    fn queue_accounting_finds_loss_duplicates_recoveries_and_reordering() {
        let q = Dest::Queue("q".into());
        let observations = vec![
            sent(1, &q),
            Observation::SendAcked { key: key(1) },
            sent(2, &q),
            Observation::SendAcked { key: key(2) },
            sent(3, &q), // never answered: unknown outcome
            sent(4, &q),
            Observation::SendAcked { key: key(4) },
            delivered(2, &q, 7, 0),
            delivered(1, &q, 7, 0),  // behind 2: out of order
            delivered(1, &q, 7, 1),  // a redelivery: a duplicate, not reordering
            delivered(3, &q, 7, 0),  // recovered
            delivered(99, &q, 7, 0), // never sent
        ];
        let (violations, counts) = check_history(&spec(), observations);
        assert_eq!(counts["sent"], 4);
        assert_eq!(counts["acked"], 3);
        assert_eq!(counts["lost"], 1, "4 was acknowledged and never delivered");
        assert_eq!(counts["duplicated"], 1);
        assert_eq!(counts["recovered"], 1);
        assert_eq!(counts["vanished"], 0);
        assert_eq!(counts["unexpected"], 1);
        assert_eq!(counts["out_of_order"], 1);
        assert!(violations.iter().any(|v| matches!(v, Violation::AcknowledgedLoss { count: 1, .. })));
        assert!(violations.iter().any(|v| matches!(v, Violation::Unexpected { count: 1, .. })));
    }

    #[test]
    fn local_sync_reports_loss_without_judging_it() {
        let q = Dest::Queue("q".into());
        let mut spec = spec();
        spec.settings.sync = broker_model::broker::SyncMode::LocalDisk;
        let (violations, counts) =
            check_history(&spec, vec![sent(1, &q), Observation::SendAcked { key: key(1) }]);
        assert_eq!(counts["lost"], 1);
        assert!(violations.is_empty(), "{violations:?}");
    }

    #[test]
    fn a_durable_subscriber_must_get_what_was_published_after_its_subscription_was_stored() {
        let t = Dest::Topic("t".into());
        let observations = vec![
            sent(1, &t), // before the subscription was stored: not owed
            Observation::SendAcked { key: key(1) },
            Observation::Subscribed {
                consumer: 7,
                dest: t,
                durable: Some("audit".into()),
                ack: AckMode::Auto,
            },
            Observation::Subscribed { consumer: 8, dest: t, durable: None, ack: AckMode::Auto },
            Observation::DurableSubscribed { topic: "t".into(), sub: "audit".into() },
            sent(2, &t),
            Observation::SendAcked { key: key(2) },
            sent(3, &t),
            Observation::SendAcked { key: key(3) },
            delivered(2, &t, 7, 0),
            delivered(2, &t, 8, 0), // another subscriber: not a duplicate
            delivered(3, &t, 8, 0), // only the non-durable one got 3: the durable lost it
        ];
        let (violations, counts) = check_history(&spec(), observations);
        assert_eq!(counts["lost"], 1, "{counts:?}");
        assert_eq!(counts["duplicated"], 0);
        assert!(violations
            .iter()
            .any(|v| matches!(v, Violation::AcknowledgedLoss { first, .. } if first == "P1000:3")));
    }

    #[test]
    fn a_stored_duplicate_send_is_judged_only_under_remote_sync() {
        let q = Dest::Queue("q".into());
        let observations = vec![
            sent(1, &q),
            delivered(1, &q, 7, 0),
            Observation::DuplicateSend { key: key(1), forwarded: false },
        ];
        let (violations, _) = check_history(&spec(), observations.clone());
        assert!(violations.iter().any(|v| matches!(v, Violation::DuplicateStored { count: 1, .. })));
        let mut local = spec();
        local.settings.sync = broker_model::broker::SyncMode::LocalMem;
        assert!(check_history(&local, observations).0.is_empty());
    }

    #[test]
    fn a_message_still_queued_after_the_drain_is_stuck_unless_the_scenario_expects_it() {
        let q = Dest::Queue("q".into());
        let msg = broker_model::messaging::Msg {
            id: key(1),
            key: key(1),
            dest: q,
            persistent: true,
            size: 10,
            sent_at: Time::ZERO,
            path: Default::default(),
        };
        let observations = vec![sent(1, &q), Observation::SendAcked { key: key(1) }];
        let (violations, counts) = check_with_held(&spec(), observations.clone(), vec![(1, msg.clone())]);
        assert_eq!((counts["stuck"], counts["lost"]), (1, 0), "held is not lost, but it is stuck");
        assert!(violations.iter().any(|v| matches!(v, Violation::Stuck { count: 1, .. })));
        let mut relaxed = spec();
        relaxed.expect_drain = false;
        assert!(check_with_held(&relaxed, observations.clone(), vec![(1, msg.clone())]).0.is_empty());
        // A message in the DLQ is where it belongs.
        let dead =
            broker_model::messaging::Msg { dest: Dest::Queue(broker_model::messaging::DLQ.into()), ..msg };
        assert_eq!(check_with_held(&spec(), observations, vec![(1, dead)]).1["stuck"], 0);
    }

    #[test]
    fn loss_on_a_destination_consumed_with_stomp_auto_ack_is_counted_not_judged() {
        let q = Dest::Queue("q".into());
        let observations = vec![
            Observation::Subscribed { consumer: 7, dest: q, durable: None, ack: AckMode::OnDispatch },
            sent(1, &q),
            Observation::SendAcked { key: key(1) },
        ];
        let (violations, counts) = check_history(&spec(), observations);
        assert_eq!(counts["lost"], 1);
        assert!(violations.is_empty(), "{violations:?}");
    }
}
