//! The store's single write thread (`DBManager`, `LevelDBClient.store`,
//! `MasterLevelDBStore.wal_sync_to`, model/activemq.md §2.4–2.5): operations queue, run as one
//! batch, stream to the slaves, and a batch that needs a sync waits — for the local fsync and/or
//! `replicas/2` slave acks — while everything behind it waits too.

use super::*;
use master::SlaveSession;
use serve::complete;

/// A store operation queued for the write thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pending {
    pub(super) op: LogOp,
    /// `syncNeeded`: the batch forces (fsync and/or slave acks) before it completes.
    pub(super) sync: bool,
    /// A response to send when done: (client connection, correlation id).
    pub(super) reply: Option<(ConnId, u64)>,
}

/// A batch written and waiting for its sync condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Batch {
    pub(super) end: u64,
    /// The local fsync still outstanding.
    pub(super) fsync: Option<u64>,
    pub(super) ops: Vec<Pending>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Writer {
    pub(super) queue: VecDeque<Pending>,
    pub(super) blocked: Option<Batch>,
    /// A finished batch's emptied buffer, for the next batch (no allocation per batch).
    pub(super) spare: Vec<Pending>,
}

impl Writer {
    /// After the thread ran: nothing queued unless a batch blocks it, and a blocked batch still
    /// waits for its fsync or for `needed` slave acks.
    pub(super) fn invariants(&self, sessions: &BTreeMap<ConnId, SlaveSession>, log_end: u64, needed: usize) {
        assert!(self.spare.is_empty(), "a spare batch buffer holds operations");
        match &self.blocked {
            None => assert!(self.queue.is_empty(), "operations queued behind no batch"),
            Some(batch) => {
                assert!(batch.end <= log_end, "a batch waits for a position past the log end");
                let acks = sessions.values().filter(|s| s.caught_up && s.acked >= batch.end).count();
                assert!(batch.fsync.is_some() || acks < needed, "a batch blocks with its sync condition met");
            }
        }
    }
}

impl Broker {
    /// Runs queued operations: a blocked batch first; then everything queued as one batch,
    /// written, streamed to the slaves, and — if any operation needs a sync — forced.
    pub(super) fn run_writer(&mut self, fx: &mut dyn Effects) {
        let needed = match self.config.planted_bug {
            Some(PlantedBug::AckBeforeQuorum) => 0,
            _ => self.config.sync.slave_acks(self.config.replicas),
        };
        let Some(inst) = self.instance.as_mut() else { return };
        let Store::Master(master) = &mut inst.store else { return };
        loop {
            if let Some(batch) = &master.writer.blocked {
                let acks = master.sessions.values().filter(|s| s.caught_up && s.acked >= batch.end).count();
                if batch.fsync.is_some() || acks < needed {
                    return;
                }
                let batch = master.writer.blocked.take().expect("checked");
                master.writer.spare = complete(master, batch.ops, fx);
                continue;
            }
            if master.writer.queue.is_empty() {
                return;
            }
            let mut ops = std::mem::take(&mut master.writer.spare);
            ops.extend(master.writer.queue.drain(..));
            let mut entries = Vec::with_capacity(ops.len());
            for op in &ops {
                let entry = self.log.append(op.op.clone());
                if let LogOp::Add { msg } = &*entry.op {
                    let seq = master.producer_seq.entry(msg.id.producer).or_insert(0);
                    *seq = (*seq).max(msg.id.seq);
                }
                fx.push(Effect::Append { record: Record::Broker(BrokerRecord::Log(entry.clone())) });
                entries.push(entry);
            }
            // `replicate_wal` on every flush, to every slave past its sync.
            let sync = self.config.sync.wal_frame_sync();
            let mut streaming = master.sessions.iter().filter(|(_, s)| s.sync_position.is_some()).peekable();
            while let Some((conn, _)) = streaming.next() {
                // The last slave's frame takes the entries themselves.
                let entries =
                    if streaming.peek().is_some() { entries.clone() } else { std::mem::take(&mut entries) };
                let message = Message::Repl(ReplMsg::Wal { entries, sync });
                fx.push(Effect::Send { conn: *conn, message });
            }
            if !ops.iter().any(|op| op.sync) {
                master.writer.spare = complete(master, ops, fx);
                continue;
            }
            let fsync = if self.config.sync.local_fsync() {
                self.next_token += 1;
                fx.push(Effect::Sync { token: self.next_token });
                Some(self.next_token)
            } else {
                None
            };
            master.writer.blocked = Some(Batch { end: self.log.end(), fsync, ops });
        }
    }

    pub(super) fn on_synced(&mut self, token: u64, fx: &mut dyn Effects) {
        let Some(inst) = self.instance.as_mut() else { return };
        match &mut inst.store {
            Store::Master(master) => {
                if let Some(batch) = &mut master.writer.blocked {
                    if batch.fsync == Some(token) {
                        batch.fsync = None;
                    }
                }
            }
            Store::Slave(slave) => {
                if let Some(position) = slave.syncing.remove(&token) {
                    if let Some(conn) = slave.conn {
                        fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::WalAck { position }) });
                    }
                }
            }
            Store::Idle => {}
        }
    }
}
