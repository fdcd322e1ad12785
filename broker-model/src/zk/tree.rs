//! The replicated znode tree (`DataTree`) and the leader's request validation
//! (`PrepRequestProcessor`), reduced to what ActiveMQ uses (zookeeper.md §2).

use super::proto::{CreateMode, Op, OpResult, Txn, TxnEntry, WatchKind, ZkError};
use super::{SessionId, Zxid};
use std::collections::{BTreeMap, BTreeSet};

/// The client-visible part of a znode's stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stat {
    pub version: i32,
    pub mzxid: Zxid,
    pub ephemeral_owner: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Znode {
    pub data: String,
    pub version: i32,
    /// Child creations ever made under this node: the sequential suffix. Deletes do not lower it.
    pub cversion_creates: i32,
    pub mzxid: Zxid,
    pub pzxid: Zxid,
    /// The owning session of an ephemeral node, 0 for persistent ones.
    pub ephemeral_owner: u64,
    pub children: BTreeSet<String>,
}

impl Znode {
    pub fn stat(&self) -> Stat {
        Stat { version: self.version, mzxid: self.mzxid, ephemeral_owner: self.ephemeral_owner }
    }
}

/// A watch to fire after applying a txn: `(kind, path)`; data watchers for node events, child
/// watchers of the parent for `NodeChildrenChanged`.
pub type Trigger = (WatchKind, String);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataTree {
    nodes: BTreeMap<String, Znode>,
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

fn name_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

impl DataTree {
    pub fn new() -> DataTree {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Znode::default());
        DataTree { nodes, ephemerals: BTreeMap::new() }
    }

    pub fn get(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(path)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn ephemerals_of(&self, session: SessionId) -> Vec<String> {
        self.ephemerals.get(&session).map(|set| set.iter().cloned().collect()).unwrap_or_default()
    }

    /// The leader's validation of a write against the tree including all outstanding changes.
    /// `session_live` is false when the session is unknown or closing.
    pub fn prep(&self, op: &Op, session_live: bool) -> Txn {
        if !session_live && !matches!(op, Op::CreateSession { .. }) {
            return Txn::Error { error: ZkError::SessionExpired };
        }
        match op {
            Op::Create { path, data, mode } => self.prep_create(path, data, *mode),
            Op::Delete { path, version } => match self.nodes.get(path) {
                None => Txn::Error { error: ZkError::NoNode },
                Some(node) if version.is_some_and(|v| v != node.version) => {
                    Txn::Error { error: ZkError::BadVersion }
                }
                Some(node) if !node.children.is_empty() => Txn::Error { error: ZkError::NotEmpty },
                Some(_) => Txn::Delete { path: path.clone() },
            },
            Op::SetData { path, data, version } => match self.nodes.get(path) {
                None => Txn::Error { error: ZkError::NoNode },
                Some(node) if version.is_some_and(|v| v != node.version) => {
                    Txn::Error { error: ZkError::BadVersion }
                }
                Some(_) => Txn::SetData { path: path.clone(), data: data.clone() },
            },
            Op::CloseSession => Txn::CloseSession,
            Op::CreateSession { timeout_ms } => Txn::CreateSession { timeout_ms: *timeout_ms },
            Op::GetData { .. } | Op::GetChildren { .. } => {
                unreachable!("reads are not prepped: {op:?}")
            }
        }
    }

    fn prep_create(&self, path: &str, data: &str, mode: CreateMode) -> Txn {
        let Some(parent) = self.nodes.get(parent_of(path)) else {
            return Txn::Error { error: ZkError::NoNode };
        };
        if parent.ephemeral_owner != 0 {
            return Txn::Error { error: ZkError::NoChildrenForEphemerals };
        }
        let (path, ephemeral) = match mode {
            CreateMode::Persistent => (path.to_string(), false),
            // `path + String.format("%010d", parent.cversion)`.
            CreateMode::EphemeralSequential => (format!("{path}{:010}", parent.cversion_creates), true),
        };
        if self.nodes.contains_key(&path) {
            return Txn::Error { error: ZkError::NodeExists };
        }
        Txn::Create { path, data: data.to_string(), ephemeral }
    }

    /// Applies a committed txn; returns the client's result and the watches to fire.
    pub fn apply(&mut self, entry: &TxnEntry) -> (Result<OpResult, ZkError>, Vec<Trigger>) {
        let mut triggers = Vec::new();
        let result = match &entry.txn {
            Txn::CreateSession { .. } => Ok(OpResult::Closed),
            Txn::CloseSession => {
                for path in self.ephemerals_of(entry.session) {
                    self.delete(&path, entry.zxid, &mut triggers);
                }
                self.ephemerals.remove(&entry.session);
                Ok(OpResult::Closed)
            }
            Txn::Create { path, data, ephemeral } => {
                let owner = if *ephemeral { entry.session.0 } else { 0 };
                self.create(path, data, owner, entry.zxid, &mut triggers);
                Ok(OpResult::Created { path: path.clone() })
            }
            Txn::Delete { path } => {
                self.delete(path, entry.zxid, &mut triggers);
                Ok(OpResult::Deleted)
            }
            Txn::SetData { path, data } => {
                let node = self.nodes.get_mut(path).expect("prep checked existence");
                node.data = data.clone();
                node.version += 1;
                node.mzxid = entry.zxid;
                triggers.push((WatchKind::NodeDataChanged, path.clone()));
                Ok(OpResult::SetData { stat: node.stat() })
            }
            Txn::Error { error } => Err(*error),
        };
        (result, triggers)
    }

    fn create(&mut self, path: &str, data: &str, owner: u64, zxid: Zxid, out: &mut Vec<Trigger>) {
        let parent_path = parent_of(path).to_string();
        let parent = self.nodes.get_mut(&parent_path).expect("prep checked the parent");
        parent.cversion_creates += 1;
        parent.pzxid = zxid;
        let inserted = parent.children.insert(name_of(path).to_string());
        assert!(inserted, "create of existing child {path}");
        let node = Znode {
            data: data.to_string(),
            mzxid: zxid,
            pzxid: zxid,
            ephemeral_owner: owner,
            ..Znode::default()
        };
        self.nodes.insert(path.to_string(), node);
        if owner != 0 {
            self.ephemerals.entry(SessionId(owner)).or_default().insert(path.to_string());
        }
        out.push((WatchKind::NodeCreated, path.to_string()));
        out.push((WatchKind::NodeChildrenChanged, parent_path));
    }

    fn delete(&mut self, path: &str, zxid: Zxid, out: &mut Vec<Trigger>) {
        let node = self.nodes.remove(path).expect("delete of a missing node");
        assert!(node.children.is_empty(), "delete of {path} with children");
        if node.ephemeral_owner != 0 {
            let owner = SessionId(node.ephemeral_owner);
            if let Some(set) = self.ephemerals.get_mut(&owner) {
                set.remove(path);
            }
        }
        let parent_path = parent_of(path).to_string();
        let parent = self.nodes.get_mut(&parent_path).expect("parent of a live node");
        parent.children.remove(name_of(path));
        parent.pzxid = zxid;
        out.push((WatchKind::NodeDeleted, path.to_string()));
        out.push((WatchKind::NodeChildrenChanged, parent_path));
    }

    /// A read served locally.
    pub fn read(&self, op: &Op) -> Result<OpResult, ZkError> {
        match op {
            Op::GetData { path, .. } => match self.nodes.get(path) {
                Some(node) => Ok(OpResult::Data { data: node.data.clone(), stat: node.stat() }),
                None => Err(ZkError::NoNode),
            },
            Op::GetChildren { path, .. } => match self.nodes.get(path) {
                Some(node) => Ok(OpResult::Children { names: node.children.iter().cloned().collect() }),
                None => Err(ZkError::NoNode),
            },
            _ => unreachable!("not a read: {op:?}"),
        }
    }

    /// Structural invariants: every child is a node, every ephemeral is indexed by its owner.
    pub fn invariants(&self) {
        for (path, node) in &self.nodes {
            for child in &node.children {
                let child_path = if path == "/" { format!("/{child}") } else { format!("{path}/{child}") };
                assert!(self.nodes.contains_key(&child_path), "dangling child {child_path}");
            }
            if node.ephemeral_owner != 0 {
                let owner = SessionId(node.ephemeral_owner);
                assert!(self.ephemerals.get(&owner).is_some_and(|s| s.contains(path)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(counter: u32, session: u64, txn: Txn) -> TxnEntry {
        TxnEntry { zxid: Zxid::new(1, counter), session: SessionId(session), xid: None, txn }
    }

    fn create(tree: &mut DataTree, counter: u32, session: u64, path: &str, mode: CreateMode) -> String {
        let op = Op::Create { path: path.into(), data: "{}".into(), mode };
        let txn = tree.prep(&op, true);
        let (result, _) = tree.apply(&entry(counter, session, txn));
        match result {
            Ok(OpResult::Created { path }) => path,
            other => panic!("create {path}: {other:?}"),
        }
    }

    #[test]
    fn sequential_names_count_creations_and_ignore_deletes() {
        let mut tree = DataTree::new();
        create(&mut tree, 1, 9, "/g", CreateMode::Persistent);
        let a = create(&mut tree, 2, 9, "/g/0", CreateMode::EphemeralSequential);
        let b = create(&mut tree, 3, 9, "/g/0", CreateMode::EphemeralSequential);
        assert_eq!(a, "/g/00000000000");
        assert_eq!(b, "/g/00000000001");
        // The member name is 11 characters: "0" + 10 digits.
        assert_eq!(name_of(&b).len(), 11);
        let _ = tree.apply(&entry(4, 9, Txn::Delete { path: a }));
        let c = create(&mut tree, 5, 9, "/g/0", CreateMode::EphemeralSequential);
        assert_eq!(c, "/g/00000000002");
        tree.invariants();
    }

    #[test]
    fn close_session_deletes_all_its_ephemerals_and_fires_watches() {
        let mut tree = DataTree::new();
        create(&mut tree, 1, 1, "/g", CreateMode::Persistent);
        let mine = create(&mut tree, 2, 7, "/g/0", CreateMode::EphemeralSequential);
        let other = create(&mut tree, 3, 8, "/g/0", CreateMode::EphemeralSequential);
        let (_, triggers) = tree.apply(&entry(4, 7, Txn::CloseSession));
        assert!(tree.get(&mine).is_none());
        assert!(tree.get(&other).is_some());
        assert_eq!(
            triggers,
            vec![(WatchKind::NodeDeleted, mine), (WatchKind::NodeChildrenChanged, "/g".into())]
        );
        tree.invariants();
    }

    #[test]
    fn prep_rejects_what_zookeeper_rejects() {
        let mut tree = DataTree::new();
        let op = Op::Create { path: "/a/b".into(), data: String::new(), mode: CreateMode::Persistent };
        assert_eq!(tree.prep(&op, true), Txn::Error { error: ZkError::NoNode });
        assert_eq!(tree.prep(&op, false), Txn::Error { error: ZkError::SessionExpired });
        create(&mut tree, 1, 1, "/a", CreateMode::Persistent);
        let set = Op::SetData { path: "/a".into(), data: "x".into(), version: Some(3) };
        assert_eq!(tree.prep(&set, true), Txn::Error { error: ZkError::BadVersion });
        let again = Op::Create { path: "/a".into(), data: String::new(), mode: CreateMode::Persistent };
        assert_eq!(tree.prep(&again, true), Txn::Error { error: ZkError::NodeExists });
    }
}
