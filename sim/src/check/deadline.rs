//! A delivery deadline, like the seed's Python check (send one STOMP message on group1, expect
//! it on group2 within a second): reported per seed, not judged. With `delivery_deadline_ms`
//! the counts say whether every scheduled message was sent and delivered within the deadline
//! of its send (`deadline_met`), and if not, the first reason that applies:
//! - `deadline_missed_sender_offline`: the sending client never connected (a STOMP client is
//!   bound to one broker; a slave's port is closed);
//! - `deadline_missed_receiver_offline`: no consuming client ever connected;
//! - `deadline_missed_undelivered`: something was sent and never delivered;
//! - `deadline_missed_late`: delivered, but later than the deadline.
//!
//! Summed over a batch, they say in how many seeds the check passes and why it fails.

use super::Context;
use crate::history::Kind;
use crate::measurements::{Deadline, MessageCounts};
use broker_model::Observation;

pub fn check(context: &Context<'_>, counts: &mut MessageCounts) {
    let Some(deadline_ms) = context.spec.delivery_deadline_ms else { return };
    let connected = |producing: bool| {
        context.spec.workload.iter().filter(|c| producing != c.producers.is_empty()).any(|client| {
            let process = context.layout.process_named(&client.name);
            context.history.events.iter().any(|e| {
                e.process == process && matches!(e.kind, Kind::Observed(Observation::ClientConnected { .. }))
            })
        })
    };
    let ledger = &context.history.ledger;
    let scheduled = super::messages::scheduled_sends(context);
    let sent: Vec<_> = ledger.sent().collect();
    let undelivered = sent.iter().any(|(_, a)| a.deliveries == 0);
    let latest_us = ledger.latencies().flat_map(|(_, l)| l.iter().copied()).max().unwrap_or(0);
    let reason = if !connected(true) || (sent.len() as u64) < scheduled {
        Deadline::SenderOffline
    } else if !connected(false) {
        Deadline::ReceiverOffline
    } else if undelivered {
        Deadline::Undelivered
    } else if latest_us > deadline_ms.saturating_mul(1000) {
        Deadline::Late
    } else {
        Deadline::Met
    };
    counts.deadline = Some(reason);
}
