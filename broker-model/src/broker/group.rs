//! The broker's membership in its replication group (`ZooKeeperGroup`, `ZooKeeperTreeTracker`,
//! `ClusteredSingleton`: the member znodes, their data and watches) and the election on every
//! change (`MasterElector.change_listener.changed`, model/activemq.md §1.2–1.4, §1.6).

use super::*;

/// What an outstanding ZooKeeper request was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ZkOp {
    CreateParent,
    Join,
    Update,
    GetChildren,
    GetData { name: String },
}

impl Instance {
    /// The group's bookkeeping between inputs: a join in flight has no name yet, a name is a
    /// member name, requests are outstanding only on a live session.
    pub(super) fn group_invariants(&self) {
        if self.joining {
            assert!(self.my_name.is_none(), "joining with a member znode already");
        }
        // `my_name` is checked where it is set, from the created znode's path
        // (`eid_of_node_name`), and never changes until it is cleared.
        if !self.zk.is_connected() {
            assert!(self.zk_ops.is_empty(), "ZooKeeper requests outstanding without a session");
        }
    }
}

impl Broker {
    pub(super) fn zk_request(&mut self, now: Time, op: Op, purpose: ZkOp, fx: &mut dyn Effects) {
        let inst = self.instance.as_mut().expect("an instance");
        let mut events = Vec::new();
        let xid = inst.zk.request(now, op, fx, &mut events);
        inst.zk_ops.insert(xid, purpose);
        // A request while disconnected fails at once; nothing else to do with it.
        for event in events {
            if let ZkEvent::Reply { xid, .. } = event {
                inst.zk_ops.remove(&xid);
            }
        }
    }

    pub(super) fn on_zk_events(&mut self, now: Time, events: Vec<ZkEvent>, fx: &mut dyn Effects) {
        for event in events {
            if self.instance.is_none() {
                return;
            }
            self.on_zk_event(now, event, fx);
        }
    }

    pub(super) fn on_zk_event(&mut self, now: Time, event: ZkEvent, fx: &mut dyn Effects) {
        match event {
            ZkEvent::SyncConnected { session } => {
                fx.push(Effect::Observe { observation: Observation::BrokerSessionConnected { session } });
                self.on_group_connected(now, fx);
            }
            ZkEvent::Disconnected => {
                let inst = self.instance.as_mut().expect("checked");
                let session = inst.zk.session().expect("was connected");
                fx.push(Effect::Observe { observation: Observation::BrokerSessionDisconnected { session } });
                // `ZooKeeperGroup.onDisconnected`: members = {}.
                inst.members.clear();
                inst.zk_ops.clear();
                self.changed(now, fx);
            }
            ZkEvent::Expired => {
                let inst = self.instance.as_mut().expect("checked");
                if let Some(session) = inst.zk.session() {
                    fx.push(Effect::Observe { observation: Observation::BrokerSessionExpired { session } });
                }
                // `ZKClient`: `_zk = null; tryConnect()` — a new session; the node rejoins with a
                // new, larger eid because its old znode is gone.
                self.zk_handles = self.zk_handles.checked_add(1).expect("2^32 ZooKeeper handles");
                inst.zk = ZkClient::new(
                    now,
                    self.zk_handles,
                    self.config.zk_hosts.clone(),
                    self.config.zk_session_timeout_ms,
                    &mut self.rng,
                    fx,
                );
                inst.my_name = None;
                inst.joining = false;
                inst.published = None;
            }
            ZkEvent::Reply { xid, result } => self.on_zk_reply(now, xid, result, fx),
            ZkEvent::Watch { kind, path } => self.on_watch(now, kind, path, fx),
        }
    }

    pub(super) fn on_group_connected(&mut self, now: Time, fx: &mut dyn Effects) {
        if self.instance.as_ref().is_some_and(|i| i.stopping) {
            // A stopping broker's group only needs its session, to close it (docs/fidelity.md).
            return;
        }
        let zk_path = self.config.zk_path.clone();
        // `ZooKeeperGroupFactory.create`: the group path is created with its parents.
        let mut prefix = String::new();
        for part in zk_path.split('/').filter(|p| !p.is_empty()) {
            prefix.push('/');
            prefix.push_str(part);
            let op = Op::Create { path: prefix.clone(), data: String::new(), mode: CreateMode::Persistent };
            self.zk_request(now, op, ZkOp::CreateParent, fx);
        }
        // The tree tracker is rebuilt on every connect (AMQ-5082).
        let op = Op::GetChildren { path: zk_path.clone(), watch: true };
        self.zk_request(now, op, ZkOp::GetChildren, fx);
        let inst = self.instance.as_ref().expect("checked");
        match inst.my_name.clone() {
            None => self.join(now, fx),
            // `ClusteredSingleton.onConnected` → `join(last state)`: update the same eid.
            Some(name) => {
                let state = self.current_state();
                let path = format!("{zk_path}/{name}");
                let op = Op::SetData { path, data: state.to_json(), version: None };
                self.zk_request(now, op, ZkOp::Update, fx);
                self.instance.as_mut().expect("checked").published = Some(state);
            }
        }
        self.changed(now, fx);
    }

    pub(super) fn join(&mut self, now: Time, fx: &mut dyn Effects) {
        let state = self.current_state();
        let path = format!("{}/0", self.config.zk_path);
        let op = Op::Create { path, data: state.to_json(), mode: CreateMode::EphemeralSequential };
        self.zk_request(now, op, ZkOp::Join, fx);
        let inst = self.instance.as_mut().expect("checked");
        inst.joining = true;
        inst.published = Some(state);
    }

    pub(super) fn on_zk_reply(
        &mut self,
        now: Time,
        xid: u64,
        result: Result<OpResult, ZkError>,
        fx: &mut dyn Effects,
    ) {
        let inst = self.instance.as_mut().expect("checked");
        let Some(purpose) = inst.zk_ops.remove(&xid) else {
            return;
        };
        match (purpose, result) {
            (ZkOp::CreateParent, _) => {}
            (ZkOp::Join, Ok(OpResult::Created { path })) => {
                let name = path.rsplit('/').next().expect("a path").to_string();
                let eid = eid_of_node_name(&name).expect("a member name");
                let session = inst.zk.session().expect("connected");
                inst.my_name = Some(name);
                inst.joining = false;
                fx.push(Effect::Observe { observation: Observation::BrokerJoined { eid, session } });
                self.changed(now, fx);
            }
            (ZkOp::Join, _) => {
                inst.joining = false;
            }
            (ZkOp::Update, Err(ZkError::NoNode)) => {
                // The old znode is gone (its session expired): re-join with a new eid.
                inst.my_name = None;
                self.join(now, fx);
            }
            (ZkOp::Update, _) => {}
            (ZkOp::GetChildren, Ok(OpResult::Children { names })) => {
                let names: Vec<String> =
                    names.into_iter().filter(|n| eid_of_node_name(n).is_some()).collect();
                inst.members.retain(|name, _| names.contains(name));
                let new: Vec<String> = names.into_iter().filter(|n| !inst.members.contains_key(n)).collect();
                for name in &new {
                    inst.members.insert(name.clone(), None);
                }
                for name in new {
                    let path = format!("{}/{name}", self.config.zk_path);
                    self.zk_request(now, Op::GetData { path, watch: true }, ZkOp::GetData { name }, fx);
                }
                self.changed(now, fx);
            }
            (ZkOp::GetChildren, _) => {}
            (ZkOp::GetData { name }, Ok(OpResult::Data { data, .. })) => {
                if let Some(slot) = inst.members.get_mut(&name) {
                    *slot = NodeState::from_json(&data);
                }
                self.changed(now, fx);
            }
            (ZkOp::GetData { name }, Err(ZkError::NoNode)) => {
                inst.members.remove(&name);
                self.changed(now, fx);
            }
            (ZkOp::GetData { .. }, _) => {}
        }
    }

    pub(super) fn on_watch(&mut self, now: Time, kind: WatchKind, path: String, fx: &mut dyn Effects) {
        let zk_path = self.config.zk_path.clone();
        match kind {
            WatchKind::NodeChildrenChanged if path == zk_path => {
                self.zk_request(now, Op::GetChildren { path, watch: true }, ZkOp::GetChildren, fx);
            }
            WatchKind::NodeDataChanged | WatchKind::NodeCreated => {
                let Some(name) = path.strip_prefix(&format!("{zk_path}/")).map(str::to_string) else {
                    return;
                };
                self.zk_request(now, Op::GetData { path, watch: true }, ZkOp::GetData { name }, fx);
            }
            WatchKind::NodeDeleted => {
                if let Some(name) = path.strip_prefix(&format!("{zk_path}/")) {
                    let inst = self.instance.as_mut().expect("checked");
                    inst.members.remove(name);
                    self.changed(now, fx);
                }
            }
            WatchKind::NodeChildrenChanged => {}
        }
    }

    /// The members with this broker's name, oldest first.
    pub(super) fn same_name_members(&self) -> Vec<Member<'_>> {
        let inst = self.instance.as_ref().expect("checked");
        inst.members
            .iter()
            .filter_map(|(name, state)| {
                let state = state.as_ref()?;
                assert!(
                    crate::elector::is_member_name(name),
                    "a member map entry that is not a member name: {name}"
                );
                // The eid is the node name without its leading `0` (`eid_of_node_name`).
                (state.id == self.config.broker_name).then(|| Member { eid: &name[1..], state })
            })
            .collect()
    }

    pub(super) fn current_state(&self) -> NodeState {
        let inst = self.instance.as_ref().expect("checked");
        NodeState {
            id: self.config.broker_name.clone(),
            container: None,
            address: inst.address.clone(),
            position: inst.position,
            weight: self.config.weight,
            elected: inst.elected.clone(),
        }
    }

    pub(super) fn changed(&mut self, now: Time, fx: &mut dyn Effects) {
        // Each pass may start or stop a role synchronously; re-run until nothing moves.
        for _ in 0..4 {
            if !self.changed_once(now, fx) {
                return;
            }
        }
    }

    /// One evaluation of the elector; returns whether a store transition ran.
    pub(super) fn changed_once(&mut self, now: Time, fx: &mut dyn Effects) -> bool {
        let Some(inst) = self.instance.as_ref() else {
            return false;
        };
        if inst.stopping {
            return false;
        }
        let members = self.same_name_members();
        let my_eid = inst.my_name.as_deref().and_then(eid_of_node_name);
        let is_head = my_eid.is_some() && members.first().map(|m| m.eid) == my_eid.as_deref();
        let previous = inst.elected.clone();
        let elected = if is_head && self.config.planted_bug != Some(PlantedBug::HeadNeverElects) {
            elector::elect(&members, self.config.replicas, previous.as_deref()).ok()
        } else {
            None
        };
        if elected.is_some() && elected != previous {
            let eid = elected.clone().expect("checked");
            let position = members.iter().find(|m| m.eid == eid).map(|m| m.state.position).unwrap_or(-1);
            fx.push(Effect::Observe { observation: Observation::Elected { eid, position } });
        }
        let master_elected = members.first().and_then(|head| head.state.elected.clone());
        let target = master_elected
            .as_ref()
            .and_then(|eid| members.iter().find(|m| m.eid == eid))
            .and_then(|m| m.state.address.clone());
        let inst = self.instance.as_mut().expect("checked");
        inst.elected = elected;
        let mut transition = false;
        if master_elected.is_some() {
            inst.position = -1;
        } else if inst.connected_address.is_none() && inst.address.is_none() && !inst.updating_store {
            inst.position = self.log.end() as i64;
        }
        let is_master = matches!(inst.store, Store::Master(_));
        let me = my_eid.is_some() && master_elected == my_eid;
        let ignore_loss =
            self.config.planted_bug == Some(PlantedBug::MasterIgnoresDisconnect) && !inst.zk.is_connected();
        if !me && is_master && !inst.updating_store && !ignore_loss {
            self.demote(now, DemoteReason::NotElected, fx);
            return false;
        }
        if me && !is_master && !inst.updating_store {
            self.promote(now, my_eid.expect("checked"), fx);
            transition = true;
        }
        let inst = self.instance.as_mut().expect("checked");
        if !matches!(inst.store, Store::Master(_)) && target != inst.connected_address {
            match target {
                Some(target) => self.start_slave(now, target, fx),
                None => self.stop_slave(fx),
            }
            transition = true;
        }
        self.publish(now, fx);
        transition
    }

    pub(super) fn publish(&mut self, now: Time, fx: &mut dyn Effects) {
        let inst = self.instance.as_ref().expect("checked");
        if !inst.zk.is_connected() || inst.joining {
            return;
        }
        let Some(name) = inst.my_name.as_ref() else {
            return;
        };
        // `published == Some(current_state())`, field by field, without building the state (the
        // pattern names every field, so a new one must be compared here too).
        let unchanged = inst.published.as_ref().is_some_and(|published| {
            let NodeState { id, container, address, position, weight, elected } = published;
            *id == self.config.broker_name
                && container.is_none()
                && *address == inst.address
                && *position == inst.position
                && *weight == self.config.weight
                && *elected == inst.elected
        });
        if unchanged {
            return;
        }
        let state = self.current_state();
        let path = format!("{}/{name}", self.config.zk_path);
        let op = Op::SetData { path, data: state.to_json(), version: None };
        self.zk_request(now, op, ZkOp::Update, fx);
        self.instance.as_mut().expect("checked").published = Some(state);
    }
}
