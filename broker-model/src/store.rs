//! The replicated LevelDB store's log (model/activemq.md §2): records at byte positions, split
//! into log files of `log_size` bytes, which is what replication streams, transfers and elects by.
//!
//! Only what changes behaviour is kept: message adds and removes with their sizes. The LevelDB
//! index is derived by replaying the log ([`Log::replay`]); index snapshot files are not modelled.

use crate::messaging::{slot_name, Dest, Msg, MsgId};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Bytes of a log record besides the message body (record header, message headers, index keys).
pub const RECORD_OVERHEAD: u64 = 120;
/// Bytes of a remove (ack) record.
pub const REMOVE_RECORD: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogOp {
    /// A persistent message stored in a destination.
    Add { msg: Msg },
    /// A message consumed (acked) or moved away.
    Remove { dest: Dest, id: MsgId },
    /// A durable topic subscription was created.
    AddSub { topic: String, sub: String },
    /// A durable subscription acked a topic message (its ack position moves).
    SubAck { topic: String, sub: String, id: MsgId },
}

/// One log record at its byte position. The operation is allocated once, when the master
/// appends it, and shared by everything that holds the record: the master's log and disk, the
/// WAL frames and downloads, and each slave's log and disk (a clone is a reference count; an
/// `Rc`, since a run is one thread and nothing that holds a record leaves it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    pub start: u64,
    pub op: Rc<LogOp>,
}

impl Entry {
    pub fn len(&self) -> u64 {
        match &*self.op {
            LogOp::Add { msg } => RECORD_OVERHEAD + msg.size as u64,
            LogOp::Remove { .. } | LogOp::SubAck { .. } => REMOVE_RECORD,
            LogOp::AddSub { .. } => REMOVE_RECORD + 40,
        }
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn end(&self) -> u64 {
        self.start + self.len()
    }

    fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.start;
        let mut mix = |v: u64| {
            h ^= v;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        match &*self.op {
            LogOp::Add { msg } => {
                mix(1);
                mix(msg.id.producer as u64);
                mix(msg.id.seq);
                mix(msg.size as u64);
            }
            LogOp::Remove { id, .. } => {
                mix(2);
                mix(id.producer as u64);
                mix(id.seq);
            }
            LogOp::AddSub { sub, .. } => {
                mix(3);
                mix(sub.len() as u64);
            }
            LogOp::SubAck { id, .. } => {
                mix(4);
                mix(id.producer as u64);
                mix(id.seq);
            }
        }
        h
    }
}

/// A log file as a `SyncResponse` lists it: its start position, length and checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogFile {
    pub start: u64,
    pub length: u64,
    pub crc: u64,
}

/// The store's log: records in position order; a new file starts when a record would start at
/// or past the current file's start plus `log_size` (`RecordLog` rotation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    entries: Vec<Entry>,
    /// Index into `entries` of each file's first record.
    file_heads: Vec<usize>,
    log_size: u64,
}

/// What a master rebuilds from its log: the stored messages of each queue in log order (a
/// durable subscription's under its slot queue, `slot_name`), the durable subscriptions, and the
/// last sequence id logged for each producer (`producerSequenceIdTracker`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    pub messages: BTreeMap<Dest, Vec<Msg>>,
    pub durable: BTreeSet<(String, String)>,
    pub producer_seq: BTreeMap<u32, u64>,
}

impl Log {
    pub fn new(log_size: u64) -> Log {
        assert!(log_size > 0);
        Log { entries: Vec::new(), file_heads: Vec::new(), log_size }
    }

    /// The append position: where the next record starts.
    pub fn end(&self) -> u64 {
        self.entries.last().map_or(0, Entry::end)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends a record at the append position.
    pub fn append(&mut self, op: LogOp) -> Entry {
        let entry = Entry { start: self.end(), op: Rc::new(op) };
        self.write(entry.clone());
        entry
    }

    /// Writes a record at its own position (a slave writing a `wal` frame). A record past the
    /// end leaves a hole; a record before the end is a programming error.
    pub fn write(&mut self, entry: Entry) {
        assert!(entry.start >= self.end(), "log write at {} behind the end {}", entry.start, self.end());
        let head = self.file_heads.last().map(|i| self.entries[*i].start);
        if head.is_none_or(|start| entry.start >= start + self.log_size) {
            self.file_heads.push(self.entries.len());
        }
        self.entries.push(entry);
    }

    /// Drops every record that starts at or after `pos`.
    pub fn truncate(&mut self, pos: u64) {
        let keep = self.entries.partition_point(|e| e.start < pos);
        self.entries.truncate(keep);
        self.file_heads.retain(|i| *i < keep);
    }

    /// Records starting at or after `from` and before `to`.
    pub fn range(&self, from: u64, to: u64) -> &[Entry] {
        let a = self.entries.partition_point(|e| e.start < from);
        let b = self.entries.partition_point(|e| e.start < to);
        &self.entries[a..b]
    }

    /// The log files with their lengths and checksums, as of now.
    pub fn files(&self) -> Vec<LogFile> {
        let mut files = Vec::with_capacity(self.file_heads.len());
        for (n, head) in self.file_heads.iter().enumerate() {
            let tail = self.file_heads.get(n + 1).copied().unwrap_or(self.entries.len());
            let records = &self.entries[*head..tail];
            let start = records[0].start;
            let end = records.last().expect("a file has a record").end();
            let crc = records.iter().fold(0u64, |acc, e| acc.rotate_left(5) ^ e.digest());
            files.push(LogFile { start, length: end - start, crc });
        }
        files
    }

    /// `transfer_missing`: the first position from which a slave holding `mine` must download
    /// to match `theirs` (a file is reused only with the same start, length and checksum; any
    /// other file is downloaded whole). `None` when nothing differs.
    pub fn first_missing(mine: &[LogFile], theirs: &[LogFile]) -> Option<u64> {
        for file in theirs {
            if !mine.contains(file) {
                return Some(file.start);
            }
        }
        let master_end = theirs.last().map_or(0, |f| f.start + f.length);
        let my_end = mine.last().map_or(0, |f| f.start + f.length);
        (my_end != master_end).then_some(master_end)
    }

    /// Replays the log into destinations and the producer audit (LevelDB index rebuild).
    pub fn replay(&self) -> Recovered {
        let mut recovered = Recovered::default();
        let mut index = Index::new();
        let mut slots = Slots::new();
        let mut subs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in &self.entries {
            match &*entry.op {
                LogOp::Add { msg } => {
                    let seq = recovered.producer_seq.entry(msg.id.producer).or_insert(0);
                    *seq = (*seq).max(msg.id.seq);
                    match &msg.dest {
                        Dest::Queue(_) => push(&mut slots, &mut index, msg.dest, msg),
                        // A topic message is stored once and referenced by every durable
                        // subscription that existed when it was stored.
                        Dest::Topic(topic) => {
                            for sub in subs.get(&**topic).into_iter().flatten() {
                                push(&mut slots, &mut index, Dest::Queue(slot_name(topic, sub)), msg);
                            }
                        }
                    }
                }
                LogOp::Remove { dest, id } => remove(&mut slots, &mut index, *dest, *id),
                LogOp::AddSub { topic, sub } => {
                    let list = subs.entry(topic.clone()).or_default();
                    if !list.contains(sub) {
                        list.push(sub.clone());
                    }
                    recovered.durable.insert((topic.clone(), sub.clone()));
                }
                LogOp::SubAck { topic, sub, id } => {
                    remove(&mut slots, &mut index, Dest::Queue(slot_name(topic, sub)), *id)
                }
            }
        }
        for (dest, list) in slots {
            let live: Vec<Msg> = list.into_iter().flatten().collect();
            if !live.is_empty() {
                recovered.messages.insert(dest, live);
            }
        }
        recovered
    }
}

type Slots = BTreeMap<Dest, Vec<Option<Msg>>>;
/// Every live copy of an id in a destination (a duplicate send is stored twice, then removed).
type Index = BTreeMap<(Dest, MsgId), Vec<usize>>;

fn push(slots: &mut Slots, index: &mut Index, dest: Dest, msg: &Msg) {
    let list = slots.entry(dest).or_default();
    index.entry((dest, msg.id)).or_default().push(list.len());
    list.push(Some(msg.clone()));
}

/// A remove takes one copy: the newest (a duplicate is removed right after it is stored).
fn remove(slots: &mut Slots, index: &mut Index, dest: Dest, id: MsgId) {
    let key = (dest, id);
    let Some(copies) = index.get_mut(&key) else { return };
    let slot = copies.pop().expect("no empty lists are kept");
    if copies.is_empty() {
        index.remove(&key);
    }
    slots.get_mut(&key.0).expect("indexed")[slot] = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Time;

    fn msg(seq: u64, size: u32) -> Msg {
        let id = MsgId { producer: 1, seq };
        Msg {
            id,
            key: id,
            dest: Dest::Queue("q".into()),
            persistent: true,
            size,
            sent_at: Time::ZERO,
            path: Default::default(),
        }
    }

    #[test]
    fn positions_are_bytes_and_files_rotate() {
        let mut log = Log::new(1000);
        let a = log.append(LogOp::Add { msg: msg(1, 380) });
        assert_eq!((a.start, a.end()), (0, 500));
        log.append(LogOp::Add { msg: msg(2, 380) });
        log.append(LogOp::Add { msg: msg(3, 380) });
        assert_eq!(log.end(), 1500);
        let files = log.files();
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!((files[0].start, files[0].length), (0, 1000));
        assert_eq!((files[1].start, files[1].length), (1000, 500));
    }

    #[test]
    fn replay_keeps_unremoved_messages_in_order_and_producer_sequence() {
        let mut log = Log::new(1 << 20);
        for seq in 1..=4 {
            log.append(LogOp::Add { msg: msg(seq, 10) });
        }
        log.append(LogOp::Remove { dest: Dest::Queue("q".into()), id: MsgId { producer: 1, seq: 2 } });
        let recovered = log.replay();
        let seqs: Vec<u64> = recovered.messages[&Dest::Queue("q".into())].iter().map(|m| m.id.seq).collect();
        assert_eq!(seqs, vec![1, 3, 4]);
        assert_eq!(recovered.producer_seq[&1], 4);
    }

    // Postmortem: found by review (issue 3). Replay indexed one copy per id: removing a stored
    // duplicate cleared the wrong slot and a consumed original came back after a failover.
    #[test]
    fn a_duplicate_stored_and_removed_does_not_take_the_original_with_it() {
        let mut log = Log::new(1 << 20);
        let q = Dest::Queue("q".into());
        log.append(LogOp::Add { msg: msg(1, 10) });
        log.append(LogOp::Add { msg: msg(1, 10) }); // the duplicate send
        log.append(LogOp::Remove { dest: q, id: MsgId { producer: 1, seq: 1 } }); // sent to the DLQ
        assert_eq!(log.replay().messages[&q].len(), 1, "the original is still queued");
        log.append(LogOp::Remove { dest: q, id: MsgId { producer: 1, seq: 1 } }); // consumed
        assert!(!log.replay().messages.contains_key(&q), "consumed: gone for good");
    }

    #[test]
    fn a_topic_message_is_kept_for_each_durable_subscription_until_it_acks() {
        let mut log = Log::new(1 << 20);
        let topic_msg = |seq| Msg { dest: Dest::Topic("t".into()), ..msg(seq, 10) };
        log.append(LogOp::Add { msg: topic_msg(1) }); // before any subscription: not kept
        log.append(LogOp::AddSub { topic: "t".into(), sub: "a".into() });
        log.append(LogOp::Add { msg: topic_msg(2) });
        log.append(LogOp::AddSub { topic: "t".into(), sub: "b".into() });
        log.append(LogOp::Add { msg: topic_msg(3) });
        log.append(LogOp::SubAck { topic: "t".into(), sub: "a".into(), id: MsgId { producer: 1, seq: 2 } });
        let recovered = log.replay();
        let seqs = |sub: &str| -> Vec<u64> {
            recovered.messages[&Dest::Queue(slot_name("t", sub))].iter().map(|m| m.id.seq).collect()
        };
        assert_eq!(seqs("a"), vec![3]);
        assert_eq!(seqs("b"), vec![3]);
        assert_eq!(recovered.durable.len(), 2);
    }

    #[test]
    fn a_differing_file_is_downloaded_whole() {
        let mut master = Log::new(1000);
        for seq in 1..=5 {
            master.append(LogOp::Add { msg: msg(seq, 380) });
        }
        let mut slave = master.clone();
        slave.truncate(2000);
        assert_eq!(slave.end(), 2000);
        // Files [0,1000) and [1000,2000) match; the master's third file differs in length.
        assert_eq!(Log::first_missing(&slave.files(), &master.files()), Some(2000));
        let mut behind = master.clone();
        behind.truncate(1500);
        // The second file is shorter: downloaded whole from its start.
        assert_eq!(Log::first_missing(&behind.files(), &master.files()), Some(1000));
        assert_eq!(Log::first_missing(&master.files(), &master.files()), None);
        // A slave with records the master lacks (an old master) re-downloads that file.
        let mut diverged = master.clone();
        diverged.truncate(2000);
        diverged.append(LogOp::Add { msg: msg(99, 380) });
        master.truncate(2000);
        assert_eq!(Log::first_missing(&diverged.files(), &master.files()), Some(2000));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Step {
            Add {
                queue: u8,
                size: u32,
            },
            /// Remove the n-th message still in the queue (if any).
            Remove {
                queue: u8,
                nth: usize,
            },
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                3 => (0u8..3, 0u32..400).prop_map(|(queue, size)| Step::Add { queue, size }),
                2 => (0u8..3, 0usize..8).prop_map(|(queue, nth)| Step::Remove { queue, nth }),
            ]
        }

        /// Builds a log from steps, with the naive model of what each queue holds.
        fn build(steps: &[Step], producer: u32, log_size: u64) -> (Log, BTreeMap<u8, Vec<MsgId>>) {
            let mut log = Log::new(log_size);
            let mut model: BTreeMap<u8, Vec<MsgId>> = BTreeMap::new();
            for (seq, step) in steps.iter().enumerate() {
                match step {
                    Step::Add { queue, size } => {
                        let id = MsgId { producer, seq: seq as u64 + 1 };
                        let dest = Dest::Queue(format!("q{queue}").into());
                        let msg = Msg {
                            id,
                            key: id,
                            dest,
                            persistent: true,
                            size: *size,
                            sent_at: Time::ZERO,
                            path: Default::default(),
                        };
                        log.append(LogOp::Add { msg });
                        model.entry(*queue).or_default().push(id);
                    }
                    Step::Remove { queue, nth } => {
                        let held = model.entry(*queue).or_default();
                        if *nth < held.len() {
                            let id = held.remove(*nth);
                            log.append(LogOp::Remove { dest: Dest::Queue(format!("q{queue}").into()), id });
                        }
                    }
                }
            }
            (log, model)
        }

        proptest! {
            #[test]
            fn replay_keeps_exactly_what_was_added_and_not_removed(steps in prop::collection::vec(step(), 0..80)) {
                let (log, model) = build(&steps, 1, 1000);
                let recovered = log.replay();
                for (queue, ids) in &model {
                    let got: Vec<MsgId> = recovered
                        .messages
                        .get(&Dest::Queue(format!("q{queue}").into()))
                        .map(|m| m.iter().map(|m| m.id).collect())
                        .unwrap_or_default();
                    prop_assert_eq!(&got, ids);
                }
            }

            /// `transfer_missing`: whatever a slave holds — a prefix of the master's log, possibly
            /// followed by records the master never had (an old master) — keeping its matching
            /// files and downloading from the first differing one leaves it identical to the master.
            #[test]
            fn a_slave_that_downloads_from_the_first_differing_file_ends_identical(
                steps in prop::collection::vec(step(), 1..80),
                keep in 0usize..80,
                extra in prop::collection::vec(step(), 0..10),
            ) {
                let (master, _) = build(&steps, 1, 1000);
                let mut slave = master.clone();
                let cut = master.entries.get(keep).map_or(master.end(), |e| e.start);
                slave.truncate(cut);
                let (diverged, _) = build(&extra, 2, 1000);
                for entry in diverged.entries {
                    slave.append((*entry.op).clone());
                }
                let from = Log::first_missing(&slave.files(), &master.files()).unwrap_or(master.end());
                slave.truncate(from);
                for entry in master.range(from, master.end()) {
                    slave.write(entry.clone());
                }
                prop_assert_eq!(slave.end(), master.end());
                prop_assert_eq!(slave.files(), master.files());
                prop_assert_eq!(slave.replay(), master.replay());
                // Files wholly before the cut matched and were kept: the download starts no
                // earlier than the file holding the cut.
                let floor = master.files().iter().map(|f| f.start).filter(|s| *s <= cut).max().unwrap_or(0);
                prop_assert!(from >= floor, "downloaded from {} although files up to {} matched", from, floor);
            }
        }
    }
}
