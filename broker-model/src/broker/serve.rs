//! The broker's side of client connections (`TransportConnection`, `Queue`): sends with the
//! producer audit, acks, poison acks to the DLQ, topic fan-out and dispatch.

use super::*;
use crate::messaging::{BrokerPath, ConsumerAdvisory};
use writer::Pending;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClientConn {
    pub(super) reconnect: bool,
    /// OpenWire (inactivity monitor on) rather than STOMP (heart-beats off by default).
    pub(super) openwire: bool,
    pub(super) last_read: Time,
}

pub(super) fn on_client_command(
    master: &mut MasterStore,
    conn: ConnId,
    command: ToBroker,
    no_audit: bool,
    fx: &mut dyn Effects,
) {
    let Some(client) = master.clients.get_mut(&conn) else { return };
    match command {
        ToBroker::Connect { reconnect, .. } => client.reconnect = reconnect,
        ToBroker::KeepAlive => {}
        // Handled by the broker, which knows its own identity (`network.rs`).
        ToBroker::BrokerInfo(_) | ToBroker::SubscribeAdvisories => {}
        ToBroker::Subscribe(info) => {
            let slot = match &info.dest {
                Dest::Queue(_) => info.dest,
                Dest::Topic(topic) => {
                    let durable = info.durable.is_some();
                    let sub = info.durable.clone().unwrap_or_else(|| format!("c{}", info.consumer));
                    let (slot, new) = master.destinations.subscribe(topic, &sub, durable);
                    if durable && new {
                        // `addSubscription`: stored, and the topic's messages kept for it from now.
                        let op = LogOp::AddSub { topic: topic.to_string(), sub };
                        master.writer.queue.push_back(Pending { op, sync: true, reply: None });
                    }
                    slot
                }
            };
            let advisory = ConsumerAdvisory {
                consumer: info.consumer,
                dest: info.dest,
                priority: info.priority as i32,
                path: BrokerPath::default(),
                network_ids: Vec::new(),
                durable: info.durable.is_some(),
                added: true,
            };
            master.destinations.queue(&slot).add_consumer(conn, info);
            network::advise(master, advisory, fx);
            dispatch(master, &slot, fx);
        }
        ToBroker::Send { msg, corr } => {
            let reply = corr.map(|c| (conn, c));
            // A topic message is stored only if a durable subscription needs it
            // (`Topic.canOptimizeOutPersistence`).
            let stored = msg.persistent
                && match &msg.dest {
                    Dest::Queue(_) => true,
                    Dest::Topic(topic) => master.destinations.has_durable(topic),
                };
            if !stored {
                deliver_new(master, msg, fx);
                respond(master, reply, fx);
                return;
            }
            // `ProducerBrokerExchange.canDispatch`: a failover resend the store already logged is
            // answered as a success and not stored again.
            let last = master.producer_seq.get(&msg.id.producer).copied().unwrap_or(0);
            if client.reconnect && !no_audit && msg.id.seq <= last {
                fx.push(Effect::Observe { observation: Observation::ResendSuppressed { key: msg.key } });
                respond(master, reply, fx);
                return;
            }
            master.writer.queue.push_back(Pending { op: LogOp::Add { msg }, sync: corr.is_some(), reply });
        }
        ToBroker::Ack { consumer, id } => {
            let Some(slot) = master.destinations.dest_of(consumer) else { return };
            if let Some(msg) = master.destinations.queue(&slot).ack(consumer, id) {
                if let Some(op) = consumed_op(master, &slot, &msg) {
                    master.writer.queue.push_back(Pending { op, sync: false, reply: None });
                }
            }
            dispatch(master, &slot, fx);
        }
        ToBroker::PoisonAck { consumer, id } => {
            let Some(slot) = master.destinations.dest_of(consumer) else { return };
            if let Some(msg) = master.destinations.queue(&slot).ack(consumer, id) {
                let key = msg.key;
                if dead_letter(master, &slot, msg) {
                    fx.push(Effect::Observe { observation: Observation::DeadLettered { key, poison: true } });
                }
            }
            dispatch(master, &slot, fx);
        }
    }
}

/// A client connection is gone (closed, reset, or silent too long): `Queue.removeSubscription`
/// requeues its consumers' in-flight messages.
pub(super) fn drop_client(master: &mut MasterStore, conn: ConnId, fx: &mut dyn Effects) {
    if master.clients.remove(&conn).is_none() {
        return;
    }
    master.network.advisory_subscribers.remove(&conn);
    network::drop_mirror(master, conn, crate::bridge::BridgeDown::Closed, fx);
    let dests: Vec<Dest> = master.destinations.queues.keys().cloned().collect();
    let removed = master.destinations.remove_connection(conn);
    network::advise_removed(master, removed, fx);
    for dest in dests {
        dispatch(master, &dest, fx);
    }
}

/// The store operation that records `slot` consuming `msg`: a remove for a queue, an ack
/// position for a durable subscription, nothing for what was never stored.
pub(super) fn consumed_op(master: &MasterStore, slot: &Dest, msg: &Msg) -> Option<LogOp> {
    if !msg.persistent {
        return None;
    }
    match master.destinations.subs.get(slot) {
        None => Some(LogOp::Remove { dest: *slot, id: msg.id }),
        Some(sub) if sub.durable => {
            Some(LogOp::SubAck { topic: sub.topic.clone(), sub: sub.sub.clone(), id: msg.id })
        }
        Some(_) => None,
    }
}

fn respond(master: &MasterStore, reply: Option<(ConnId, u64)>, fx: &mut dyn Effects) {
    if let Some((conn, corr)) = reply {
        if master.clients.contains_key(&conn) {
            fx.push(Effect::Send { conn, message: Message::FromBroker(FromBroker::Response { corr }) });
        }
    }
}

/// Moves a message out of `slot` into `ActiveMQ.DLQ`; a non-persistent one is discarded
/// (`processNonPersistent=false`). Returns whether it went to the DLQ.
fn dead_letter(master: &mut MasterStore, slot: &Dest, msg: Msg) -> bool {
    if let Some(op) = consumed_op(master, slot, &msg) {
        master.writer.queue.push_back(Pending { op, sync: false, reply: None });
    }
    if !msg.persistent {
        return false;
    }
    let moved = Msg { dest: Dest::Queue(DLQ.into()), ..msg };
    master.writer.queue.push_back(Pending { op: LogOp::Add { msg: moved }, sync: false, reply: None });
    true
}

/// A message reaches its destination (stored first, if it is to be stored) and is dispatched:
/// a queue's cursor audit sends a duplicate send to the DLQ; a topic copies it to every
/// subscription.
fn deliver_new(master: &mut MasterStore, msg: Msg, fx: &mut dyn Effects) {
    let dest = msg.dest;
    match &dest {
        Dest::Queue(_) if dest.is_dlq() => {
            master.destinations.queue(&dest).enqueue(msg);
        }
        Dest::Queue(_) => {
            if !master.destinations.queue(&dest).enqueue(msg.clone()) {
                let key = msg.key;
                let forwarded = !msg.path.is_empty();
                fx.push(Effect::Observe { observation: Observation::DuplicateSend { key, forwarded } });
                if dead_letter(master, &dest, msg) {
                    fx.push(Effect::Observe {
                        observation: Observation::DeadLettered { key, poison: false },
                    });
                }
            }
            dispatch(master, &dest, fx);
        }
        Dest::Topic(topic) => {
            for slot in master.destinations.slots_of(topic) {
                if master.destinations.queue(&slot).refuses(&msg) {
                    continue;
                }
                if !master.destinations.queue(&slot).enqueue(msg.clone()) {
                    // A duplicate for this subscription: dropped, and its stored reference with it.
                    if let Some(op) = consumed_op(master, &slot, &msg) {
                        master.writer.queue.push_back(Pending { op, sync: false, reply: None });
                    }
                }
                dispatch(master, &slot, fx);
            }
        }
    }
}

/// A batch is done: its messages reach their destinations and sync sends get their responses.
/// Completes a batch's operations in order; returns its emptied buffer for the next batch.
pub(super) fn complete(
    master: &mut MasterStore,
    mut ops: Vec<Pending>,
    fx: &mut dyn Effects,
) -> Vec<Pending> {
    for op in ops.drain(..) {
        match op.op {
            LogOp::Add { msg } => deliver_new(master, msg, fx),
            LogOp::AddSub { topic, sub } => {
                fx.push(Effect::Observe { observation: Observation::DurableSubscribed { topic, sub } });
            }
            LogOp::Remove { .. } | LogOp::SubAck { .. } => {}
        }
        respond(master, op.reply, fx);
    }
    ops
}

pub(super) fn dispatch(master: &mut MasterStore, slot: &Dest, fx: &mut dyn Effects) {
    let Some(queue) = master.destinations.queues.get_mut(slot) else { return };
    let (deliveries, consumed) = queue.dispatch();
    let mut freed = false;
    for delivery in deliveries {
        if delivery.network {
            freed |= network::forward(master, delivery, fx);
            continue;
        }
        let Delivery { conn, consumer, msg, redelivered, .. } = delivery;
        let message = Message::FromBroker(FromBroker::Deliver { consumer, msg, redelivered });
        fx.push(Effect::Send { conn, message });
    }
    // STOMP `ack:auto`: acked at dispatch.
    for msg in consumed {
        if let Some(op) = consumed_op(master, slot, &msg) {
            master.writer.queue.push_back(Pending { op, sync: false, reply: None });
        }
    }
    // A bridge that acked at once (oneway forwards) has room again: it keeps consuming.
    if freed {
        dispatch(master, slot, fx);
    }
}
