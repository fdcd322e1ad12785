//! A master broker's queues in memory: pending messages in store order, consumers with priority
//! and prefetch, round-robin dispatch, redelivery with a counter, and the cursor audit that sends
//! a duplicate send to the DLQ (model/activemq.md §4.5, §4.6; `Queue.doActualDispatch`).
//!
//! Pure bookkeeping: it returns what to send and what to store; the broker applies it.

use crate::audit::Audit;
use crate::io::ConnId;
use crate::messaging::{AckMode, BrokerId, BrokerPath, ConsumerInfo, ConsumerKey, Dest, Msg, MsgId};
use std::collections::{BTreeMap, BTreeSet};

/// `BaseDestination` audit depth per producer.
pub const AUDIT_DEPTH: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub conn: ConnId,
    pub consumer: u32,
    pub msg: Msg,
    pub redelivered: u32,
    /// To a network bridge's consumer: forwarded, not delivered.
    pub network: bool,
}

/// A network bridge's consumer (`networkSubscription`): where it leads and which messages it
/// may take (`NetworkBridgeFilter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConsumer {
    /// The consumer's `brokerPath`: the remote consumer's path and the remote broker.
    pub path: BrokerPath,
    /// The broker the bridge forwards to.
    pub remote: BrokerId,
    /// `messageTTL`: a message that crossed this many brokers is not forwarded again.
    pub message_ttl: u32,
    /// Consumer priority as the bridge sets it (may be negative: `consumerPriorityBase`).
    pub priority: i32,
    /// `networkConsumerIds`: the remote consumer this one was made for, and the consumers
    /// that one stands for in turn.
    pub ids: Vec<ConsumerKey>,
}

impl NetworkConsumer {
    /// `NetworkBridgeFilter.matchesForwardingFilter`: never back to a broker the message came
    /// through, never past `messageTTL` hops.
    pub fn forwards(&self, msg: &Msg) -> bool {
        !msg.path.contains(self.remote) && (msg.path.len() as u64) < self.message_ttl as u64
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Queued {
    msg: Msg,
    redelivered: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sub {
    conn: ConnId,
    info: ConsumerInfo,
    /// Dispatch priority: the client's, or the bridge's for a network consumer.
    priority: i32,
    draining: bool,
    network: Option<NetworkConsumer>,
    inflight: BTreeSet<MsgId>,
    /// `OnDispatch` (STOMP `ack:auto`): consumed at dispatch, but the connection can only run
    /// `prefetch` messages ahead of the client (the socket's backpressure); the client's ack
    /// frees the room, not the message.
    window: BTreeSet<MsgId>,
}

impl Sub {
    /// A network consumer whose demand is gone takes nothing new while its forwards in flight
    /// are answered (`waitForCompletion`).
    fn has_room(&self) -> bool {
        if self.draining {
            return false;
        }
        ((self.inflight.len() + self.window.len()) as u32) < self.info.prefetch.max(1)
    }

    fn takes(&self, msg: &Msg) -> bool {
        self.network.as_ref().is_none_or(|n| n.forwards(msg))
    }
}

/// A consumer as its queue's advisories describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerView {
    pub consumer: u32,
    pub conn: ConnId,
    pub priority: i32,
    pub path: BrokerPath,
    pub network_ids: Vec<ConsumerKey>,
    pub durable: bool,
}

/// One queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queue {
    /// Ready messages by store order.
    pending: BTreeMap<u64, Queued>,
    /// Ready messages that no consumer takes (network consumers only, whose filters refuse
    /// them), set aside by a dispatch so that the next ones do not walk them again: they would
    /// be skipped until the consumers change, and go back to `pending` when they do. Without
    /// it a queue holding stuck messages costs every dispatch a walk over all of them.
    parked: BTreeMap<u64, Queued>,
    /// Dispatched, not yet acked: id → (order, consumer).
    inflight: BTreeMap<MsgId, (u64, u32, Queued)>,
    consumers: BTreeMap<u32, Sub>,
    next_order: u64,
    /// The consumer that got the last message (round-robin among equal priorities).
    last: Option<u32>,
    /// The cursor audit: recent sequence ids per producer.
    audit: Audit,
    /// How many consumers are network consumers, whose filter can refuse a message.
    filtered: usize,
    /// Tests only: never park, to compare dispatch with and without parking.
    #[cfg(test)]
    no_park: bool,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.pending.len() + self.parked.len() + self.inflight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every message held (pending or in flight), for the final accounting.
    pub fn messages(&self) -> impl Iterator<Item = &Msg> {
        let mut ready: Vec<(&u64, &Queued)> = self.pending.iter().chain(&self.parked).collect();
        ready.sort_unstable_by_key(|(order, _)| **order);
        ready.into_iter().map(|(_, q)| &q.msg).chain(self.inflight.values().map(|(_, _, q)| &q.msg))
    }

    /// Adds a stored (or non-persistent) message. Returns false if the audit rejects it as a
    /// duplicate, in which case it is not queued.
    pub fn enqueue(&mut self, msg: Msg) -> bool {
        if self.audit.seen(msg.id, AUDIT_DEPTH) {
            return false;
        }
        self.next_order += 1;
        self.pending.insert(self.next_order, Queued { msg, redelivered: 0 });
        true
    }

    /// Adds a consumer. A consumer re-created with the same id (a failover replay that arrives
    /// before the old connection's close) replaces the old one, whose messages are requeued.
    pub fn add_consumer(&mut self, conn: ConnId, info: ConsumerInfo) {
        self.insert_consumer(conn, info, None);
    }

    /// Adds a network bridge's consumer: it takes only what its filter forwards.
    pub fn add_network_consumer(&mut self, conn: ConnId, info: ConsumerInfo, network: NetworkConsumer) {
        self.insert_consumer(conn, info, Some(network));
    }

    fn insert_consumer(&mut self, conn: ConnId, info: ConsumerInfo, network: Option<NetworkConsumer>) {
        self.remove_consumer(info.consumer);
        self.unpark();
        let priority = network.as_ref().map_or(info.priority as i32, |n| n.priority);
        self.filtered += network.is_some() as usize;
        let sub = Sub {
            conn,
            info,
            priority,
            draining: false,
            network,
            inflight: BTreeSet::new(),
            window: BTreeSet::new(),
        };
        self.consumers.insert(sub.info.consumer, sub);
    }

    /// Every consumer, for advisories.
    pub fn consumer_views(&self) -> Vec<ConsumerView> {
        self.consumers
            .values()
            .map(|s| ConsumerView {
                consumer: s.info.consumer,
                conn: s.conn,
                priority: s.priority,
                path: s.network.as_ref().map(|n| n.path.clone()).unwrap_or_default(),
                network_ids: s.network.as_ref().map(|n| n.ids.clone()).unwrap_or_default(),
                durable: s.info.durable.is_some(),
            })
            .collect()
    }

    /// A consumer stops taking new messages (its in-flight ones stay until acked or requeued).
    pub fn drain_consumer(&mut self, consumer: u32) {
        if let Some(sub) = self.consumers.get_mut(&consumer) {
            sub.draining = true;
        }
    }

    /// Whether a message would only wait here for ever: every consumer is a network consumer
    /// whose filter refuses it (a bridge's topic subscription never takes what it may not
    /// forward: `NetworkBridgeFilter` is checked before a message enters it).
    pub fn refuses(&self, msg: &Msg) -> bool {
        !self.consumers.is_empty()
            && self.consumers.values().all(|s| s.network.as_ref().is_some_and(|n| !n.forwards(msg)))
    }

    /// A network consumer that stands for any of `ids` (`duplicateSuppressionIsRequired`'s
    /// search): its id and priority.
    pub fn network_match(&self, ids: &[ConsumerKey]) -> Option<(u32, i32)> {
        if self.filtered == 0 {
            return None;
        }
        self.consumers.values().find_map(|s| {
            let n = s.network.as_ref()?;
            n.ids.iter().any(|id| ids.contains(id)).then_some((s.info.consumer, s.priority))
        })
    }

    pub fn has_consumer(&self, consumer: u32) -> bool {
        self.consumers.contains_key(&consumer)
    }

    pub fn has_consumers(&self) -> bool {
        !self.consumers.is_empty()
    }

    /// Removes a consumer; its unacked messages go back in order with `redelivered + 1`.
    pub fn remove_consumer(&mut self, consumer: u32) {
        let Some(sub) = self.consumers.remove(&consumer) else { return };
        self.unpark();
        self.filtered -= sub.network.is_some() as usize;
        for id in sub.inflight {
            if let Some((order, _, mut queued)) = self.inflight.remove(&id) {
                queued.redelivered += 1;
                self.pending.insert(order, queued);
            }
        }
    }

    /// A consumer acked `id`: returns the message if it was in flight to that consumer.
    pub fn ack(&mut self, consumer: u32, id: MsgId) -> Option<Msg> {
        if let Some(sub) = self.consumers.get_mut(&consumer) {
            if sub.window.remove(&id) {
                return None;
            }
        }
        match self.inflight.get(&id) {
            Some((_, owner, _)) if *owner == consumer => {}
            _ => return None,
        }
        let (_, _, queued) = self.inflight.remove(&id).expect("checked");
        if let Some(sub) = self.consumers.get_mut(&consumer) {
            sub.inflight.remove(&id);
        }
        Some(queued.msg)
    }

    /// Dispatches what it can: highest priority first, round-robin among equals, each consumer
    /// up to its prefetch. Messages for `OnDispatch` consumers count as acked at once and are
    /// returned in the second list.
    pub fn dispatch(&mut self) -> (Vec<Delivery>, Vec<Msg>) {
        let mut out = Vec::new();
        let mut consumed = Vec::new();
        if self.filtered > 0 {
            self.dispatch_filtered(&mut out, &mut consumed);
            return (out, consumed);
        }
        while let Some((&order, first)) = self.pending.first_key_value() {
            let Some(consumer) = self.choose(&first.msg) else { break };
            self.hand(order, consumer, &mut out, &mut consumed);
        }
        (out, consumed)
    }

    /// With network consumers a message no consumer takes (one that came from every bridge's
    /// remote, or crossed `messageTTL` brokers) waits for a local consumer while those behind
    /// it go on (`Queue.doActualDispatch` skips what no subscription matches).
    ///
    /// A message no consumer takes, room or not, is parked: every later dispatch would skip it
    /// until the consumers change (a consumer's filter is fixed while it lives).
    fn dispatch_filtered(&mut self, out: &mut Vec<Delivery>, consumed: &mut Vec<Msg>) {
        let mut from = 0;
        loop {
            if !self.consumers.values().any(|s| s.has_room()) {
                return;
            }
            let Some((&order, q)) = self.pending.range(from..).next() else { return };
            match self.choose(&q.msg) {
                Some(consumer) => self.hand(order, consumer, out, consumed),
                None if self.parks() && !self.consumers.values().any(|s| s.takes(&q.msg)) => {
                    let queued = self.pending.remove(&order).expect("pending");
                    self.parked.insert(order, queued);
                }
                None => {}
            }
            from = order + 1;
        }
    }

    #[cfg(not(test))]
    fn parks(&self) -> bool {
        true
    }

    #[cfg(test)]
    fn parks(&self) -> bool {
        !self.no_park
    }

    /// The consumers change: parked messages may be taken now.
    fn unpark(&mut self) {
        if !self.parked.is_empty() {
            self.pending.append(&mut self.parked);
        }
    }

    /// A parked message is one no consumer takes (by construction: parked only when none
    /// does, and every change of the consumers unparks all). O(parked × consumers), so tests
    /// only: checked after every input it would bring back the walk parking saves.
    #[cfg(test)]
    fn parked_invariants(&self) {
        for queued in self.parked.values() {
            assert!(
                !self.consumers.values().any(|s| s.takes(&queued.msg)),
                "a parked message {} that a consumer takes",
                queued.msg.id
            );
        }
    }

    fn hand(&mut self, order: u64, consumer: u32, out: &mut Vec<Delivery>, consumed: &mut Vec<Msg>) {
        let queued = self.pending.remove(&order).expect("pending");
        let sub = self.consumers.get_mut(&consumer).expect("chosen");
        self.last = Some(consumer);
        out.push(Delivery {
            conn: sub.conn,
            consumer,
            msg: queued.msg.clone(),
            redelivered: queued.redelivered,
            network: sub.network.is_some(),
        });
        if sub.info.ack == AckMode::OnDispatch {
            sub.window.insert(queued.msg.id);
            consumed.push(queued.msg);
        } else {
            sub.inflight.insert(queued.msg.id);
            self.inflight.insert(queued.msg.id, (order, consumer, queued));
        }
    }

    /// The consumer for the next message: among those with room, the highest priority; among
    /// equals, the first after the last one served (round-robin). Runs once per dispatched
    /// message, so it walks the consumers without collecting them.
    fn choose(&self, msg: &Msg) -> Option<u32> {
        let ready = || self.consumers.iter().filter(|(_, s)| s.has_room() && s.takes(msg));
        let top = ready().map(|(_, s)| s.priority).max()?;
        let mut candidates = ready().filter(|(_, s)| s.priority == top).map(|(id, _)| *id);
        let first = candidates.next().expect("top exists");
        let after_last =
            self.last.and_then(|last| std::iter::once(first).chain(candidates).find(|c| *c > last));
        Some(after_last.unwrap_or(first))
    }
}

/// A topic subscription: its slot queue's name and whether it is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSub {
    pub topic: String,
    pub sub: String,
    pub durable: bool,
}

/// All queues of a master, and its topics' subscriptions (each backed by a slot queue).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinations {
    pub queues: BTreeMap<Dest, Queue>,
    /// Slot queue → subscription.
    pub subs: BTreeMap<Dest, TopicSub>,
}

impl Destinations {
    pub fn queue(&mut self, dest: &Dest) -> &mut Queue {
        self.queues.entry(*dest).or_default()
    }

    /// Removes every consumer of a connection (the connection dropped). A non-durable
    /// subscription goes with its consumer, and its messages with it.
    /// Returns the consumers removed, by the destination they read (a topic for a slot).
    pub fn remove_connection(&mut self, conn: ConnId) -> Vec<(Dest, u32)> {
        let mut dropped = Vec::new();
        let mut removed = Vec::new();
        for (dest, queue) in self.queues.iter_mut() {
            let gone: Vec<u32> =
                queue.consumers.iter().filter(|(_, s)| s.conn == conn).map(|(id, _)| *id).collect();
            let advertised = match self.subs.get(dest) {
                Some(sub) => Dest::Topic(sub.topic.as_str().into()),
                None => *dest,
            };
            for consumer in gone {
                queue.remove_consumer(consumer);
                removed.push((advertised, consumer));
            }
            if self.subs.get(dest).is_some_and(|s| !s.durable) && queue.consumers.is_empty() {
                dropped.push(*dest);
            }
        }
        for dest in dropped {
            self.queues.remove(&dest);
            self.subs.remove(&dest);
        }
        removed
    }

    /// The destination a slot's consumers read as the application named it: the topic of a
    /// subscription's slot queue, else the queue.
    pub fn advertised(&self, slot: &Dest) -> Dest {
        match self.subs.get(slot) {
            Some(sub) => Dest::Topic(sub.topic.as_str().into()),
            None => *slot,
        }
    }

    /// Registers a subscription's slot queue; returns its name and whether it is new.
    pub fn subscribe(&mut self, topic: &str, sub: &str, durable: bool) -> (Dest, bool) {
        let slot = Dest::Queue(crate::messaging::slot_name(topic, sub));
        let new = !self.subs.contains_key(&slot);
        self.subs.insert(slot, TopicSub { topic: topic.into(), sub: sub.into(), durable });
        self.queues.entry(slot).or_default();
        (slot, new)
    }

    /// The slot queues subscribed to a topic.
    pub fn slots_of(&self, topic: &str) -> Vec<Dest> {
        self.subs.iter().filter(|(_, s)| s.topic == topic).map(|(d, _)| *d).collect()
    }

    pub fn has_durable(&self, topic: &str) -> bool {
        self.subs.values().any(|s| s.topic == topic && s.durable)
    }

    /// The destination a consumer reads.
    pub fn dest_of(&self, consumer: u32) -> Option<Dest> {
        self.queues.iter().find(|(_, q)| q.consumers.contains_key(&consumer)).map(|(d, _)| *d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Time;

    fn msg(seq: u64) -> Msg {
        let id = MsgId { producer: 1, seq };
        Msg {
            id,
            key: id,
            dest: Dest::Queue("q".into()),
            persistent: true,
            size: 10,
            sent_at: Time::ZERO,
            path: Default::default(),
        }
    }

    fn consumer(id: u32, prefetch: u32, priority: u8) -> ConsumerInfo {
        ConsumerInfo {
            consumer: id,
            dest: Dest::Queue("q".into()),
            prefetch,
            priority,
            ack: AckMode::Auto,
            durable: None,
        }
    }

    #[test]
    fn dispatch_is_round_robin_within_prefetch_and_priority_first() {
        let mut q = Queue::default();
        q.add_consumer(ConnId::In(1), consumer(1, 2, 4));
        q.add_consumer(ConnId::In(2), consumer(2, 2, 4));
        q.add_consumer(ConnId::In(3), consumer(3, 10, 1));
        for seq in 1..=6 {
            assert!(q.enqueue(msg(seq)));
        }
        let (out, _) = q.dispatch();
        let to: Vec<(u32, u64)> = out.iter().map(|d| (d.consumer, d.msg.id.seq)).collect();
        // Priority 4 consumers alternate until their prefetch (2) is full; the rest go to 3.
        assert_eq!(to, vec![(1, 1), (2, 2), (1, 3), (2, 4), (3, 5), (3, 6)]);
    }

    #[test]
    fn a_removed_consumer_s_messages_are_redelivered_in_order_with_a_counter() {
        let mut q = Queue::default();
        q.add_consumer(ConnId::In(1), consumer(1, 10, 4));
        for seq in 1..=3 {
            q.enqueue(msg(seq));
        }
        q.dispatch();
        assert!(q.ack(1, MsgId { producer: 1, seq: 1 }).is_some());
        q.remove_consumer(1);
        q.add_consumer(ConnId::In(2), consumer(2, 10, 4));
        let (out, _) = q.dispatch();
        let got: Vec<(u64, u32)> = out.iter().map(|d| (d.msg.id.seq, d.redelivered)).collect();
        assert_eq!(got, vec![(2, 1), (3, 1)]);
    }

    // Postmortem: found by review (issue 3). An `ack:auto` consumer never had anything in
    // flight, so dispatch ran the whole backlog ahead and one disconnect lost all of it.
    #[test]
    fn stomp_auto_ack_consumes_at_dispatch_but_runs_at_most_prefetch_ahead() {
        let mut q = Queue::default();
        let info = ConsumerInfo { ack: AckMode::OnDispatch, ..consumer(1, 2, 4) };
        q.add_consumer(ConnId::In(1), info);
        for seq in 1..=5 {
            q.enqueue(msg(seq));
        }
        let (out, consumed) = q.dispatch();
        assert_eq!((out.len(), consumed.len()), (2, 2), "two dispatched, both consumed at once");
        assert_eq!(q.len(), 3, "consumed messages are not held");
        assert!(q.ack(1, MsgId { producer: 1, seq: 1 }).is_none(), "the ack only returns room");
        let (out, _) = q.dispatch();
        assert_eq!(out.iter().map(|d| d.msg.id.seq).collect::<Vec<_>>(), vec![3]);
        // The connection drops: what was dispatched is gone (it was acked at dispatch).
        q.remove_consumer(1);
        assert_eq!(q.len(), 2);
    }

    // Postmortem: found by review (issue 3). Re-adding a consumer id overwrote the old entry
    // and its in-flight set: those messages were never redelivered.
    #[test]
    fn a_consumer_re_created_with_the_same_id_gets_its_unacked_messages_again() {
        let mut q = Queue::default();
        q.add_consumer(ConnId::In(1), consumer(1, 10, 4));
        q.enqueue(msg(1));
        q.dispatch();
        // The failover replay arrives before the old connection's close.
        q.add_consumer(ConnId::In(2), consumer(1, 10, 4));
        let (out, _) = q.dispatch();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].conn, out[0].redelivered), (ConnId::In(2), 1));
    }

    #[test]
    fn the_cursor_audit_rejects_a_duplicate_send() {
        let mut q = Queue::default();
        assert!(q.enqueue(msg(1)));
        assert!(!q.enqueue(msg(1)));
        assert_eq!(q.len(), 1);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Send,
            Subscribe {
                consumer: u32,
                prefetch: u32,
                priority: u8,
            },
            Unsubscribe {
                consumer: u32,
            },
            /// Ack the n-th message in flight to this consumer, if any.
            Ack {
                consumer: u32,
                nth: usize,
            },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => Just(Op::Send),
                1 => (0u32..4, 1u32..4, 0u8..3).prop_map(|(consumer, prefetch, priority)| Op::Subscribe { consumer, prefetch, priority }),
                1 => (0u32..4).prop_map(|consumer| Op::Unsubscribe { consumer }),
                3 => (0u32..4, 0usize..4).prop_map(|(consumer, nth)| Op::Ack { consumer, nth }),
            ]
        }

        proptest! {
            /// Whatever consumers come, go and ack: no message is lost or held twice, no consumer
            /// exceeds its prefetch, higher priority is served first, and each consumer receives
            /// a message at most once per delivery (redeliveries carry a higher counter).
            #[test]
            fn dispatch_conserves_messages_and_respects_prefetch_and_priority(ops in prop::collection::vec(op(), 0..120)) {
                let mut q = Queue::default();
                let mut sent = 0u64;
                let mut acked = BTreeSet::new();
                let mut last_redelivery: BTreeMap<MsgId, u32> = BTreeMap::new();
                for op in ops {
                    match op {
                        Op::Send => {
                            sent += 1;
                            prop_assert!(q.enqueue(msg(sent)));
                        }
                        Op::Subscribe { consumer, prefetch, priority } => {
                            if !q.consumers.contains_key(&consumer) {
                                q.add_consumer(ConnId::In(consumer as u64), super::consumer(consumer, prefetch, priority));
                            }
                        }
                        Op::Unsubscribe { consumer } => q.remove_consumer(consumer),
                        Op::Ack { consumer, nth } => {
                            let id = q.consumers.get(&consumer).and_then(|s| s.inflight.iter().nth(nth).copied());
                            if let Some(id) = id {
                                prop_assert!(q.ack(consumer, id).is_some());
                                prop_assert!(acked.insert(id), "acked twice");
                            }
                        }
                    }
                    let (out, _) = q.dispatch();
                    for d in &out {
                        // A redelivery counter only grows.
                        if let Some(before) = last_redelivery.insert(d.msg.id, d.redelivered) {
                            prop_assert!(d.redelivered > before);
                        }
                        // Nobody of higher priority had room when a lower one was served.
                        let served = q.consumers[&d.consumer].info.priority;
                        prop_assert!(q.consumers.values().all(|s| s.info.priority <= served
                            || s.inflight.len() as u32 >= s.info.prefetch));
                    }
                    for s in q.consumers.values() {
                        prop_assert!(s.inflight.len() as u32 <= s.info.prefetch);
                    }
                    prop_assert_eq!(q.len() as u64 + acked.len() as u64, sent, "a message lost or duplicated");
                    // Work is never left waiting while a consumer has room.
                    if !q.pending.is_empty() {
                        prop_assert!(q.consumers.values().all(|s| s.inflight.len() as u32 >= s.info.prefetch));
                    }
                }
            }
        }
    }

    /// A broker path through `brokers` (ids 2 and 3 are the bridges' remotes below).
    fn routed(seq: u64, brokers: &[u64]) -> Msg {
        let mut m = msg(seq);
        for id in brokers {
            m.path = m.path.with(crate::messaging::BrokerId(*id));
        }
        m
    }

    #[derive(Debug, Clone)]
    enum NetOp {
        /// A message that came through none, one or both remotes.
        Send {
            through: u8,
        },
        /// A network consumer forwarding to remote 2 or 3 (refusing what came through it), or
        /// a local consumer.
        Subscribe {
            consumer: u32,
            remote: Option<u64>,
            prefetch: u32,
        },
        Unsubscribe {
            consumer: u32,
        },
        Ack {
            consumer: u32,
            nth: usize,
        },
    }

    fn net_op() -> impl proptest::strategy::Strategy<Value = NetOp> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0u8..4).prop_map(|through| NetOp::Send { through }),
            1 => (1u32..5, prop_oneof![Just(None), Just(Some(2u64)), Just(Some(3u64))], 1u32..4)
                .prop_map(|(consumer, remote, prefetch)| NetOp::Subscribe { consumer, remote, prefetch }),
            1 => (1u32..5).prop_map(|consumer| NetOp::Unsubscribe { consumer }),
            3 => (1u32..5, 0usize..3).prop_map(|(consumer, nth)| NetOp::Ack { consumer, nth }),
        ]
    }

    proptest::proptest! {
        /// Parking what no consumer takes changes nothing a queue does: the same operations on
        /// a queue that never parks dispatch the same messages to the same consumers, hold the
        /// same messages in the same order, and every parked message is one no consumer takes.
        #[test]
        fn parking_refused_messages_dispatches_exactly_what_walking_them_does(
            ops in proptest::collection::vec(net_op(), 1..150),
        ) {
            let mut parking = Queue::default();
            let mut walking = Queue { no_park: true, ..Queue::default() };
            let mut sent = 0;
            for op in ops {
                for q in [&mut parking, &mut walking] {
                    match &op {
                        NetOp::Send { through } => {
                            let brokers: &[u64] = match through { 0 => &[], 1 => &[2], 2 => &[3], _ => &[2, 3] };
                            q.enqueue(routed(sent + 1, brokers));
                        }
                        NetOp::Subscribe { consumer: id, remote, prefetch } => {
                            let info = consumer(*id, *prefetch, 0);
                            let conn = ConnId::In(*id as u64);
                            match remote {
                                None => q.add_consumer(conn, info),
                                Some(remote) => {
                                    let network = NetworkConsumer {
                                        path: Default::default(),
                                        remote: crate::messaging::BrokerId(*remote),
                                        message_ttl: 4,
                                        priority: 0,
                                        ids: Vec::new(),
                                    };
                                    q.add_network_consumer(conn, info, network);
                                }
                            }
                        }
                        NetOp::Unsubscribe { consumer } => q.remove_consumer(*consumer),
                        NetOp::Ack { consumer, nth } => {
                            let id = q.consumers.get(consumer).and_then(|s| s.inflight.iter().nth(*nth).copied());
                            if let Some(id) = id {
                                q.ack(*consumer, id);
                            }
                        }
                    }
                }
                if matches!(op, NetOp::Send { .. }) {
                    sent += 1;
                }
                let (a, a_consumed) = parking.dispatch();
                let (b, b_consumed) = walking.dispatch();
                let to = |out: &[Delivery]| out.iter().map(|d| (d.consumer, d.msg.id, d.redelivered)).collect::<Vec<_>>();
                proptest::prop_assert_eq!(to(&a), to(&b));
                proptest::prop_assert_eq!(a_consumed, b_consumed);
                proptest::prop_assert_eq!(parking.len(), walking.len());
                let held = |q: &Queue| q.messages().map(|m| m.id).collect::<Vec<_>>();
                proptest::prop_assert_eq!(held(&parking), held(&walking));
                proptest::prop_assert!(walking.parked.is_empty());
                parking.parked_invariants();
            }
        }
    }

    #[test]
    fn a_message_no_consumer_takes_is_parked_until_the_consumers_change() {
        let mut q = Queue::default();
        let network = NetworkConsumer {
            path: Default::default(),
            remote: crate::messaging::BrokerId(2),
            message_ttl: 4,
            priority: 0,
            ids: Vec::new(),
        };
        q.add_network_consumer(ConnId::In(1), consumer(1, 10, 0), network);
        assert!(q.enqueue(routed(1, &[2])));
        assert!(q.enqueue(routed(2, &[])));
        let (out, _) = q.dispatch();
        assert_eq!(out.iter().map(|d| d.msg.id.seq).collect::<Vec<_>>(), vec![2]);
        assert_eq!((q.pending.len(), q.parked.len()), (0, 1));
        // A local consumer takes anything: the parked message goes to it.
        q.add_consumer(ConnId::In(2), consumer(2, 10, 0));
        assert_eq!((q.pending.len(), q.parked.len()), (1, 0));
        let (out, _) = q.dispatch();
        assert_eq!(out.iter().map(|d| (d.consumer, d.msg.id.seq)).collect::<Vec<_>>(), vec![(2, 1)]);
    }
}
