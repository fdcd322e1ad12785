//! The slave side of the replicated store (`SlaveLevelDBStore`, model/activemq.md §2.2–2.3):
//! attach to the master, stash and download, WAL frames, msyncs and acks.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SlaveStore {
    pub(super) target: String,
    pub(super) conn: Option<ConnId>,
    pub(super) caught_up: bool,
    /// The master's position at sync: what a download covers.
    pub(super) sync_position: Option<u64>,
    /// WAL frames received while downloading, written once the download is; whether any of
    /// them asked for an msync.
    pub(super) early_wal: Vec<Entry>,
    pub(super) early_sync: bool,
    /// Where the download starts: the log is cut back there only once the download is written
    /// (until then the stash — the old log — is what the slave has).
    pub(super) download_from: Option<u64>,
    pub(super) download: Option<(Vec<Entry>, u64)>,
    /// msyncs in flight: token → position to ack.
    pub(super) syncing: BTreeMap<u64, u64>,
}

impl SlaveStore {
    /// A slave of `target`, not yet attached.
    pub(super) fn new(target: String, conn: Option<ConnId>) -> SlaveStore {
        SlaveStore {
            target,
            conn,
            caught_up: false,
            sync_position: None,
            early_wal: Vec::new(),
            early_sync: false,
            download_from: None,
            download: None,
            syncing: BTreeMap::new(),
        }
    }
}

impl SlaveStore {
    /// What holds between inputs: a slave is caught up only on a live session it synced, a
    /// download has a start, nothing waits for an msync past what it wrote.
    pub(super) fn invariants(&self, log_end: u64) {
        if self.caught_up {
            assert!(self.conn.is_some(), "caught up without a replication connection");
            assert!(self.sync_position.is_some(), "caught up without a sync response");
            assert!(
                self.download.is_none() && self.early_wal.is_empty(),
                "caught up with a download pending"
            );
        }
        if self.download.is_some() {
            assert!(self.download_from.is_some(), "a download without a start");
        }
        // Positions grow with the tokens: the last one is the furthest.
        if let Some(position) = self.syncing.values().next_back() {
            assert!(*position <= log_end, "an msync acks {position} past the log end {log_end}");
        }
    }
}

impl Broker {
    pub(super) fn start_slave(&mut self, now: Time, target: String, fx: &mut dyn Effects) {
        self.stop_slave(fx);
        let inst = self.instance.as_mut().expect("checked");
        inst.connected_address = Some(target.clone());
        inst.store = Store::Slave(SlaveStore::new(target.clone(), None));
        self.connect_slave(now, target, fx);
    }

    pub(super) fn connect_slave(&mut self, now: Time, target: String, fx: &mut dyn Effects) {
        let addr = self.resolve(&target);
        let conn = self.new_conn();
        let inst = self.instance.as_mut().expect("checked");
        let Store::Slave(slave) = &mut inst.store else { unreachable!() };
        slave.caught_up = false;
        slave.sync_position = None;
        slave.early_wal.clear();
        slave.early_sync = false;
        slave.download_from = None;
        slave.download = None;
        slave.syncing.clear();
        match addr {
            Some(addr) => {
                slave.conn = Some(conn);
                fx.push(Effect::Connect { conn, target: addr });
            }
            // An address it cannot resolve is a session error too: retry later.
            None => {
                let timer = TimerId::Broker(BrokerTimer::SlaveRetry { instance: inst.number });
                fx.push(Effect::SetTimer { timer, at: now.add_ms(self.config.slave_retry_ms) });
            }
        }
    }

    pub(super) fn stop_slave(&mut self, fx: &mut dyn Effects) {
        let inst = self.instance.as_mut().expect("checked");
        if let Store::Slave(slave) = &inst.store {
            if let Some(conn) = slave.conn {
                fx.push(Effect::Close { conn });
            }
            inst.store = Store::Idle;
        }
        inst.connected_address = None;
    }

    pub(super) fn on_sync_response(
        &mut self,
        conn: ConnId,
        position: u64,
        files: Vec<LogFile>,
        fx: &mut dyn Effects,
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
        fx: &mut dyn Effects,
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
    pub(super) fn on_transfer_written(&mut self, instance: u32, fx: &mut dyn Effects) {
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
    pub(super) fn on_wal(&mut self, conn: ConnId, entries: Vec<Entry>, sync: bool, fx: &mut dyn Effects) {
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
