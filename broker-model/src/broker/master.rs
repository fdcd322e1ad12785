//! The master side of the replicated store (`MasterLevelDBStore`, model/activemq.md §2.1–2.3):
//! recovery, the replication server and its slave sessions, and `wal_sync_to` before serving.

use super::*;
use network::Network;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MasterPhase {
    Recovering,
    /// `wal_sync_to`: waiting for `replicas/2` slaves to catch up.
    WaitingForSlaves,
    Serving,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SlaveSession {
    pub(super) node_id: Option<String>,
    /// The sync position given to this slave; WAL frames stream after it.
    pub(super) sync_position: Option<u64>,
    pub(super) caught_up: bool,
    pub(super) acked: u64,
}

#[derive(Debug, Clone)]
pub(super) struct MasterStore {
    pub(super) phase: MasterPhase,
    /// `wal_sync_to(wal_append_position)` at start: what slaves must reach before serving.
    pub(super) required: u64,
    /// Replication sessions by connection.
    pub(super) sessions: BTreeMap<ConnId, SlaveSession>,
    pub(super) writer: Writer,
    pub(super) clients: BTreeMap<ConnId, ClientConn>,
    pub(super) destinations: Destinations,
    /// `producerSequenceIdTracker`: the last sequence id logged per producer.
    pub(super) producer_seq: BTreeMap<u32, u64>,
    /// Network connectors, their bridges, duplex mirrors and advisory consumers.
    pub(super) network: Network,
}

impl MasterStore {
    /// What holds between inputs: slave sessions never claim more than the master wrote, a
    /// serving phase is what `wal_sync_to` allowed, and the write thread is idle or waiting
    /// for a reason.
    pub(super) fn invariants(&self, log_end: u64, needed: usize) {
        for session in self.sessions.values() {
            assert!(session.acked <= log_end, "a slave acked {} past the log end {log_end}", session.acked);
            if session.caught_up {
                assert!(session.sync_position.is_some(), "a slave caught up without a sync");
            }
        }
        if self.phase != MasterPhase::Recovering {
            assert!(self.required <= log_end, "wal_sync_to past the log end");
        }
        self.writer.invariants(&self.sessions, log_end, needed);
        self.network.invariants(&self.destinations);
        let subscribers = &self.network.advisory_subscribers;
        assert!(
            subscribers.iter().all(|c| self.clients.contains_key(c)),
            "an advisory consumer without its connection"
        );
    }
}

impl Broker {
    /// "Promoted to master": `start_master` — recovery, bind, then (remote sync) wait for slaves.
    pub(super) fn promote(&mut self, now: Time, eid: String, fx: &mut dyn Effects) {
        self.stop_slave(fx);
        let inst = self.instance.as_mut().expect("checked");
        inst.updating_store = true;
        inst.store = Store::Master(Box::new(MasterStore {
            phase: MasterPhase::Recovering,
            required: 0,
            sessions: BTreeMap::new(),
            writer: Writer::default(),
            clients: BTreeMap::new(),
            destinations: Destinations::default(),
            producer_seq: BTreeMap::new(),
            network: Network::default(),
        }));
        fx.push(Effect::Observe { observation: Observation::Promoted { eid } });
        let at = now.add_ms(self.config.recovery_ms);
        let timer = TimerId::Broker(BrokerTimer::MasterRecovered { instance: inst.number });
        fx.push(Effect::SetTimer { timer, at });
    }

    pub(super) fn on_master_recovered(&mut self, now: Time, instance: u32, fx: &mut dyn Effects) {
        let Some(inst) = self.instance.as_mut() else {
            return;
        };
        if inst.number != instance {
            return;
        }
        let Store::Master(master) = &mut inst.store else {
            return;
        };
        assert_eq!(master.phase, MasterPhase::Recovering);
        // The index is rebuilt from the log: stored messages and the producer audit.
        let recovered = self.log.replay();
        for (topic, sub) in &recovered.durable {
            master.destinations.subscribe(topic, sub, true);
        }
        for (dest, messages) in recovered.messages {
            let queue = master.destinations.queue(&dest);
            for msg in messages {
                queue.enqueue(msg);
            }
        }
        master.producer_seq = recovered.producer_seq;
        master.required = self.log.end();
        // `start_protocol_server`: bind, then publish the address (the callback runs at once).
        fx.push(Effect::Listen { port: self.config.bind_port });
        master.phase = MasterPhase::WaitingForSlaves;
        inst.updating_store = false;
        inst.address = Some(format!("tcp://{}:{}", self.config.hostname, self.config.bind_port));
        // The elector sees the new address first: a master that lost its election meanwhile
        // steps down without ever opening its client ports.
        self.changed(now, fx);
        if self.instance.as_ref().is_some_and(|i| i.number == instance) {
            self.maybe_serve(now, fx);
        }
    }

    /// `wal_sync_to(wal_append_position)` returns once `replicas/2` slaves caught up (skipped
    /// without a remote part); then the locker releases and the broker opens its connectors.
    pub(super) fn maybe_serve(&mut self, now: Time, fx: &mut dyn Effects) {
        let needed = self.config.sync.slave_acks(self.config.replicas);
        let Some(inst) = self.instance.as_mut() else { return };
        let Store::Master(master) = &mut inst.store else {
            return;
        };
        if master.phase != MasterPhase::WaitingForSlaves {
            return;
        }
        let caught_up =
            master.sessions.values().filter(|s| s.caught_up && s.acked >= master.required).count();
        if caught_up < needed {
            return;
        }
        master.phase = MasterPhase::Serving;
        inst.serving = true;
        fx.push(Effect::Listen { port: self.config.openwire_port });
        fx.push(Effect::Listen { port: self.config.stomp_port });
        fx.push(Effect::Observe { observation: Observation::Serving { on: true } });
        let timer = TimerId::Broker(BrokerTimer::KeepAlive { instance: inst.number });
        fx.push(Effect::SetTimer { timer, at: now.add_ms(KEEPALIVE_MS) });
        // `startAllConnectors`: the network connectors after the transport connectors.
        self.start_network(now, fx);
    }
}
