//! The message ledger: the fate of every application message, folded as the observations
//! happen, indexed by producer and sequence number.
//!
//! A run sends one message every few milliseconds and observes it three times or more (sent,
//! acknowledged, delivered); keeping those observations as history events cost ~90 bytes each
//! and a map entry per message for the checker to rebuild. The ledger keeps one 40-byte
//! [`Account`] per message in a vector per producer (sequence numbers are dense), the order
//! check as a running count, and the latencies, so the history holds only what is rare (roles,
//! faults, sessions) and a long run's memory is a few dozen bytes per message.

use broker_model::messaging::{Dest, MsgId};
use broker_model::{Observation, Time};
use std::collections::{BTreeMap, BTreeSet};

/// What the ledger knows of one message (by its application key).
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// Index into the ledger's destinations (read it with [`Ledger::dest`]); meaningful once
    /// `sent`.
    pub dest: u16,
    flags: u8,
    /// Deliveries to the application, all consumers together.
    pub deliveries: u32,
    pub sent_at: Time,
    /// Deliveries by consumer (a topic is judged per subscriber): almost every message has
    /// one consumer, kept inline; more spill to a map.
    first: Option<(u32, u32)>,
    // Boxed on purpose: 8 bytes in every account instead of 24, for the rare message with
    // several consumers.
    #[allow(clippy::box_collection)]
    more: Option<Box<BTreeMap<u32, u32>>>,
}

const SENT: u8 = 1;
const SYNC: u8 = 2;
const PERSISTENT: u8 = 4;
const ACKED: u8 = 8;
const DEAD: u8 = 16;

impl Account {
    fn flag(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    pub fn sent(&self) -> bool {
        self.flag(SENT)
    }

    /// A sync send: its outcome is known once answered.
    pub fn sync(&self) -> bool {
        self.flag(SYNC)
    }

    pub fn persistent(&self) -> bool {
        self.flag(PERSISTENT)
    }

    pub fn acked(&self) -> bool {
        self.flag(ACKED)
    }

    pub fn dead(&self) -> bool {
        self.flag(DEAD)
    }

    /// Deliveries to `consumer`.
    pub fn to(&self, consumer: u32) -> u32 {
        match self.first {
            Some((c, n)) if c == consumer => n,
            _ => self.more.as_ref().and_then(|m| m.get(&consumer).copied()).unwrap_or(0),
        }
    }

    /// Whether some consumer got it more than once.
    pub fn any_consumer_twice(&self) -> bool {
        self.first.is_some_and(|(_, n)| n > 1)
            || self.more.as_ref().is_some_and(|m| m.values().any(|n| *n > 1))
    }

    fn delivered_to(&mut self, consumer: u32) {
        self.deliveries += 1;
        match &mut self.first {
            None => self.first = Some((consumer, 1)),
            Some((c, n)) if *c == consumer => *n += 1,
            Some(_) => *self.more.get_or_insert_with(Default::default).entry(consumer).or_default() += 1,
        }
    }
}

/// First deliveries of one producer on one destination: the last sequence number and how often
/// the sequence went backwards.
#[derive(Debug, Clone, Copy, Default)]
struct Order {
    last: u64,
    backwards: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Accounts by producer, indexed by `seq - 1`.
    producers: BTreeMap<u32, Vec<Account>>,
    /// Destinations by first use; accounts name them by index.
    dests: Vec<Dest>,
    /// Deliveries whose key was never sent, and how many.
    unexpected: BTreeSet<MsgId>,
    order: BTreeMap<(u32, u16), Order>,
    consumers_of: BTreeMap<u16, BTreeSet<u32>>,
    /// Send → delivery latencies (µs) by destination.
    latencies: BTreeMap<u16, Vec<u64>>,
    /// Forwards by network bridges (one per message per hop).
    pub forwarded: u64,
    /// The most brokers any forwarded message had crossed, and the first message that did.
    pub hops_max: Option<(u32, MsgId)>,
    /// Acknowledged sends and deliveries in each simulated second.
    per_second: Vec<[u32; 2]>,
}

/// Sequence numbers beyond the ledger's end by more than this are not filled in (a corrupted
/// key must not allocate gigabytes); such a send is counted as unexpected when delivered.
const SEQ_GAP_MAX: u64 = 1 << 20;

impl Ledger {
    /// Whether the ledger accounts for `observation` (the history then need not keep it).
    pub fn takes(observation: &Observation) -> bool {
        matches!(
            observation,
            Observation::Sent { .. }
                | Observation::SendAcked { .. }
                | Observation::Delivered { .. }
                | Observation::Forwarded { .. }
        )
    }

    fn dest_index(&mut self, dest: &Dest) -> u16 {
        if let Some(i) = self.dests.iter().position(|d| d == dest) {
            return i as u16;
        }
        self.dests.push(*dest);
        u16::try_from(self.dests.len() - 1).expect("fewer than 65,536 destinations")
    }

    fn account_mut(&mut self, key: MsgId, grow: bool) -> Option<&mut Account> {
        let list = if grow {
            self.producers.entry(key.producer).or_default()
        } else {
            self.producers.get_mut(&key.producer)?
        };
        let index = usize::try_from(key.seq.checked_sub(1)?).ok()?;
        if index >= list.len() {
            if !grow || key.seq - list.len() as u64 > SEQ_GAP_MAX {
                return None;
            }
            list.resize(index + 1, Account::default());
        }
        list.get_mut(index)
    }

    pub fn account(&self, key: MsgId) -> Option<&Account> {
        let index = usize::try_from(key.seq.checked_sub(1)?).ok()?;
        self.producers.get(&key.producer)?.get(index).filter(|a| a.sent())
    }

    /// Folds one observation in (those [`Ledger::takes`]; others are ignored).
    pub fn observe(&mut self, at: Time, observation: &Observation) {
        match observation {
            Observation::Forwarded { key, hops, .. } => {
                self.forwarded += 1;
                if self.hops_max.is_none_or(|(most, _)| *hops > most) {
                    self.hops_max = Some((*hops, *key));
                }
            }
            Observation::Sent { key, dest, persistent, sync } => {
                let dest = self.dest_index(dest);
                let Some(account) = self.account_mut(*key, true) else { return };
                account.dest = dest;
                account.flags |= SENT;
                account.flags = account.flags & !(SYNC | PERSISTENT)
                    | if *sync { SYNC } else { 0 }
                    | if *persistent { PERSISTENT } else { 0 };
                account.sent_at = at;
            }
            Observation::SendAcked { key } => {
                if let Some(account) = self.account_mut(*key, true) {
                    account.flags |= ACKED;
                }
                self.count_at(at, 0);
            }
            Observation::Delivered { key, dest, consumer, redelivered, latency_us } => {
                let dest = self.dest_index(dest);
                match self.account_mut(*key, false) {
                    Some(account) if account.sent() => account.delivered_to(*consumer),
                    _ => {
                        self.unexpected.insert(*key);
                        return;
                    }
                }
                self.count_at(at, 1);
                self.consumers_of.entry(dest).or_default().insert(*consumer);
                self.latencies.entry(dest).or_default().push(*latency_us);
                if *redelivered == 0 {
                    let order = self.order.entry((key.producer, dest)).or_default();
                    if key.seq < order.last {
                        order.backwards += 1;
                    }
                    order.last = key.seq;
                }
            }
            _ => {}
        }
    }

    fn count_at(&mut self, at: Time, which: usize) {
        let second = (at.as_ms() / 1000) as usize;
        if second >= self.per_second.len() {
            self.per_second.resize(second + 1, [0, 0]);
        }
        self.per_second[second][which] += 1;
    }

    /// Acknowledged sends and deliveries per simulated second, from second 0.
    pub fn per_second(&self) -> (Vec<u32>, Vec<u32>) {
        (self.per_second.iter().map(|c| c[0]).collect(), self.per_second.iter().map(|c| c[1]).collect())
    }

    /// A message moved to the DLQ (the history keeps that observation too).
    pub fn dead_lettered(&mut self, key: MsgId) {
        if let Some(account) = self.account_mut(key, true) {
            account.flags |= DEAD;
        }
    }

    /// Every message sent, in key order.
    pub fn sent(&self) -> impl Iterator<Item = (MsgId, &Account)> {
        self.producers.iter().flat_map(|(producer, list)| {
            list.iter()
                .enumerate()
                .filter(|(_, a)| a.sent())
                .map(move |(i, a)| (MsgId { producer: *producer, seq: i as u64 + 1 }, a))
        })
    }

    pub fn dest(&self, account: &Account) -> &Dest {
        &self.dests[account.dest as usize]
    }

    pub fn unexpected(&self) -> &BTreeSet<MsgId> {
        &self.unexpected
    }

    /// First deliveries that went backwards, on destinations with exactly one consumer.
    pub fn out_of_order(&self) -> u64 {
        self.order
            .iter()
            .filter(|((_, dest), _)| self.consumers_of.get(dest).map_or(0, BTreeSet::len) == 1)
            .map(|(_, order)| order.backwards)
            .sum()
    }

    /// Latencies (µs) by destination, in delivery order.
    pub fn latencies(&self) -> impl Iterator<Item = (&Dest, &[u64])> {
        self.latencies.iter().map(|(dest, list)| (&self.dests[*dest as usize], list.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(producer: u32, seq: u64) -> MsgId {
        MsgId { producer, seq }
    }

    #[test]
    fn accounts_are_found_by_producer_and_sequence() {
        let q = Dest::Queue("q".into());
        let mut ledger = Ledger::default();
        let sent = |k| Observation::Sent { key: k, dest: q, persistent: true, sync: true };
        ledger.observe(Time::from_ms(1), &sent(key(7, 1)));
        ledger.observe(Time::from_ms(2), &sent(key(7, 3))); // 2 was never sent
        ledger.observe(Time::from_ms(3), &Observation::SendAcked { key: key(7, 3) });
        let delivered =
            |k, consumer| Observation::Delivered { key: k, dest: q, consumer, redelivered: 0, latency_us: 5 };
        ledger.observe(Time::from_ms(4), &delivered(key(7, 3), 1));
        ledger.observe(Time::from_ms(5), &delivered(key(7, 3), 2));
        ledger.observe(Time::from_ms(5), &delivered(key(7, 3), 2));
        ledger.observe(Time::from_ms(6), &delivered(key(7, 2), 1)); // never sent
        ledger.observe(Time::from_ms(6), &delivered(key(8, 1), 1)); // unknown producer
        let keys: Vec<MsgId> = ledger.sent().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![key(7, 1), key(7, 3)]);
        let account = ledger.account(key(7, 3)).expect("sent");
        assert!(account.acked() && account.sync() && account.persistent());
        assert_eq!(account.sent_at, Time::from_ms(2));
        assert_eq!((account.deliveries, account.to(1), account.to(2), account.to(3)), (3, 1, 2, 0));
        assert!(account.any_consumer_twice());
        assert!(ledger.account(key(7, 2)).is_none());
        assert_eq!(ledger.unexpected().len(), 2);
        assert_eq!(ledger.out_of_order(), 0, "two consumers: not judged");
    }

    #[test]
    fn an_absurd_sequence_number_does_not_allocate() {
        let mut ledger = Ledger::default();
        let q = Dest::Queue("q".into());
        ledger.observe(
            Time::ZERO,
            &Observation::Sent { key: key(1, u64::MAX), dest: q, persistent: true, sync: false },
        );
        assert_eq!(ledger.sent().count(), 0);
    }
}
