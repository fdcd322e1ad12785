//! The replicated store's write thread (one batch at a time, waiting by `sync` mode) and the
//! slave side of replication: sync, download, WAL frames, acks (model/activemq.md §2.2–2.5).

use super::*;
use serve::complete;

impl Broker {
    // ---------------------------------------------------------------------------------------
    // The write thread (`DBManager`, `LevelDBClient.store`, `MasterLevelDBStore.wal_sync_to`).

    /// Runs queued operations: a blocked batch first; then everything queued as one batch,
    /// written, streamed to the slaves, and — if any operation needs a sync — forced.
    pub(super) fn run_writer(&mut self, fx: &mut Vec<Effect>) {
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
                complete(master, batch.ops, fx);
                continue;
            }
            if master.writer.queue.is_empty() {
                return;
            }
            let ops: Vec<Pending> = master.writer.queue.drain(..).collect();
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
            for (conn, session) in &master.sessions {
                if session.sync_position.is_some() {
                    let message = Message::Repl(ReplMsg::Wal { entries: entries.clone(), sync });
                    fx.push(Effect::Send { conn: *conn, message });
                }
            }
            if !ops.iter().any(|op| op.sync) {
                complete(master, ops, fx);
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

    pub(super) fn on_synced(&mut self, token: u64, fx: &mut Vec<Effect>) {
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

    // ---------------------------------------------------------------------------------------
    // Replication: the slave side (`SlaveLevelDBStore`).

    pub(super) fn on_sync_response(
        &mut self,
        conn: ConnId,
        position: u64,
        files: Vec<LogFile>,
        fx: &mut Vec<Effect>,
    ) {
        let bug = self.config.planted_bug == Some(PlantedBug::SlaveAcksUnwritten);
        let master_addr = self.slave_target_addr();
        let inst = self.instance.as_mut().expect("checked");
        let Store::Slave(slave) = &mut inst.store else { return };
        if slave.conn != Some(conn) {
            return;
        }
        slave.sync_position = Some(position);
        if bug {
            // Claims the master's position without downloading anything.
            slave.caught_up = true;
            fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::WalAck { position }) });
            if let Some(master) = master_addr {
                fx.push(Effect::Observe {
                    observation: Observation::SlaveCaughtUp { master, transferred: 0 },
                });
            }
            return;
        }
        // Stash: keep the files that match; download from the first that differs.
        let from = Log::first_missing(&self.log.files(), &files).unwrap_or(position);
        slave.download_from = Some(from);
        fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::Get { from }) });
    }

    pub(super) fn on_download(
        &mut self,
        now: Time,
        conn: ConnId,
        entries: Vec<Entry>,
        bytes: u64,
        fx: &mut Vec<Effect>,
    ) {
        let disk = self.config.disk_bytes_per_s.max(1);
        let inst = self.instance.as_mut().expect("checked");
        let Store::Slave(slave) = &mut inst.store else { return };
        if slave.conn != Some(conn) || slave.caught_up {
            return;
        }
        slave.download = Some((entries, bytes));
        let at = now.add_us(bytes.saturating_mul(1_000_000) / disk);
        fx.push(Effect::SetTimer {
            timer: TimerId::Broker(BrokerTimer::TransferWritten { instance: inst.number }),
            at,
        });
    }

    /// The download is on disk: "Attached", caughtUp = true, ack the append position.
    pub(super) fn on_transfer_written(&mut self, instance: u32, fx: &mut Vec<Effect>) {
        let master_addr = self.slave_target_addr();
        let Some(inst) = self.instance.as_mut() else { return };
        if inst.number != instance {
            return;
        }
        let Store::Slave(slave) = &mut inst.store else { return };
        let (Some(conn), Some((entries, bytes))) = (slave.conn, slave.download.take()) else { return };
        // The stash is replaced: the log is cut back to where the download starts.
        let from = slave.download_from.take().expect("a download has a start");
        if self.log.end() > from {
            self.log.truncate(from);
            fx.push(Effect::Append { record: Record::Broker(BrokerRecord::Truncate(from)) });
        }
        for entry in entries.into_iter().chain(std::mem::take(&mut slave.early_wal)) {
            if entry.start >= self.log.end() {
                self.log.write(entry.clone());
                fx.push(Effect::Append { record: Record::Broker(BrokerRecord::Log(entry)) });
            }
        }
        slave.caught_up = true;
        let position = self.log.end();
        if std::mem::take(&mut slave.early_sync) {
            // Frames that asked for an msync are acked only once it is done.
            self.next_token += 1;
            slave.syncing.insert(self.next_token, position);
            fx.push(Effect::Sync { token: self.next_token });
        } else {
            fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::WalAck { position }) });
        }
        if let Some(master) = master_addr {
            fx.push(Effect::Observe {
                observation: Observation::SlaveCaughtUp { master, transferred: bytes },
            });
        }
    }

    /// A `wal` frame: written at its offsets (after the download, if one is running), msynced
    /// if the frame says so, then acked.
    pub(super) fn on_wal(&mut self, conn: ConnId, entries: Vec<Entry>, sync: bool, fx: &mut Vec<Effect>) {
        let inst = self.instance.as_mut().expect("checked");
        let Store::Slave(slave) = &mut inst.store else { return };
        if slave.conn != Some(conn) {
            return;
        }
        if !slave.caught_up {
            slave.early_wal.extend(entries);
            slave.early_sync |= sync;
            return;
        }
        for entry in entries {
            if entry.start >= self.log.end() {
                self.log.write(entry.clone());
                fx.push(Effect::Append { record: Record::Broker(BrokerRecord::Log(entry)) });
            }
        }
        let position = self.log.end();
        if sync {
            self.next_token += 1;
            slave.syncing.insert(self.next_token, position);
            fx.push(Effect::Sync { token: self.next_token });
        } else {
            fx.push(Effect::Send { conn, message: Message::Repl(ReplMsg::WalAck { position }) });
        }
    }

    pub(super) fn slave_target_addr(&self) -> Option<Addr> {
        let inst = self.instance.as_ref()?;
        let Store::Slave(slave) = &inst.store else { return None };
        self.resolve(&slave.target)
    }
}
