//! ActiveMQ's `MasterElector` decision, as a pure function of the group's members
//! (model/activemq.md §1.2–1.4, `RL/MasterElector.scala`, `RL/groups/ClusteredSingleton.scala`).
//!
//! Only the *head* — the member with the oldest znode among those sharing its broker name —
//! elects. It needs `replicas/2+1` members, waits until every member reports a position, and picks
//! the highest position, then the highest weight, then the oldest member. Its choice is sticky
//! while the elected member's znode exists and quorum holds.

use crate::json::{self, Value};

/// `LevelDBNodeState`, the JSON data of a member znode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeState {
    /// `brokerName`: members with the same id form one replication set.
    pub id: String,
    pub container: Option<String>,
    /// `tcp://host:port` of the replication server; set only while running the master store.
    pub address: Option<String>,
    /// WAL append position in bytes; `-1` while a master is elected.
    pub position: i64,
    pub weight: i32,
    /// The elected member's eid; only the head ever writes it.
    pub elected: Option<String>,
}

impl NodeState {
    pub fn to_json(&self) -> String {
        let text = |v: &Option<String>| v.clone().map(Value::Text).unwrap_or(Value::Null);
        json::render(&[
            ("id", Value::Text(self.id.clone())),
            ("container", text(&self.container)),
            ("address", text(&self.address)),
            ("position", Value::Number(self.position)),
            ("weight", Value::Number(self.weight as i64)),
            ("elected", text(&self.elected)),
        ])
    }

    pub fn from_json(data: &str) -> Option<NodeState> {
        let fields = json::parse(data)?;
        let text = |key: &str| match fields.get(key) {
            Some(Value::Text(t)) => Some(Some(t.clone())),
            Some(Value::Null) | None => Some(None),
            Some(Value::Number(_)) => None,
        };
        let number = |key: &str| match fields.get(key) {
            Some(Value::Number(n)) => Some(*n),
            _ => None,
        };
        Some(NodeState {
            id: text("id")??,
            container: text("container")?,
            address: text("address")?,
            position: number("position")?,
            weight: number("weight").unwrap_or(1) as i32,
            elected: text("elected")?,
        })
    }
}

/// A registered member: its eid (znode name without the leading "0") and its published state,
/// borrowed from the group's member map for one evaluation of the elector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub eid: &'a str,
    pub state: &'a NodeState,
}

/// `ZooKeeperGroup`: children named `0` + 10 digits; the eid is the name without the `0`.
pub fn eid_of_node_name(name: &str) -> Option<String> {
    is_member_name(name).then(|| name[1..].to_string())
}

/// Whether `name` is a member znode's name (`0` and the digits of an eid), without allocating.
pub fn is_member_name(name: &str) -> bool {
    name.strip_prefix('0')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()))
}

/// Why the head elected nobody (each is a log line of the real elector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoElection {
    /// "Not enough cluster members connected to elect a master."
    NotEnoughMembers,
    /// "Not enough cluster members have reported their update positions yet."
    PositionsMissing,
}

/// The quorum of a replication set: `replicas/2 + 1`.
pub fn quorum(replicas: u32) -> usize {
    (replicas / 2 + 1) as usize
}

/// The head's decision. `members` are the members with the head's broker name, in znode order
/// (oldest first); `elected` is the head's in-memory choice so far.
pub fn elect(members: &[Member<'_>], replicas: u32, elected: Option<&str>) -> Result<String, NoElection> {
    assert!(members.windows(2).all(|w| w[0].eid < w[1].eid), "members not in znode order");
    if members.len() < quorum(replicas) {
        return Err(NoElection::NotEnoughMembers);
    }
    // Sticky: "Previously elected master is not online, staring new election" otherwise.
    if let Some(elected) = elected {
        if members.iter().any(|m| m.eid == elected) {
            return Ok(elected.to_string());
        }
    }
    let mut candidates: Vec<&Member<'_>> = members.iter().filter(|m| m.state.position >= 0).collect();
    if candidates.len() != members.len() {
        return Err(NoElection::PositionsMissing);
    }
    // Scala `sortWith` is stable: ties keep znode order, so the oldest member wins.
    candidates
        .sort_by(|a, b| b.state.position.cmp(&a.state.position).then(b.state.weight.cmp(&a.state.weight)));
    Ok(candidates[0].eid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(position: i64, weight: i32) -> NodeState {
        NodeState {
            id: "activemq-cluster".into(),
            container: None,
            address: None,
            position,
            weight,
            elected: None,
        }
    }

    /// `elect` over members given as (eid, position, weight), in znode order.
    fn elect_among(
        members: &[(&str, i64, i32)],
        replicas: u32,
        elected: Option<&str>,
    ) -> Result<String, NoElection> {
        let states: Vec<NodeState> =
            members.iter().map(|(_, position, weight)| state(*position, *weight)).collect();
        let members: Vec<Member<'_>> =
            members.iter().zip(&states).map(|((eid, _, _), state)| Member { eid, state }).collect();
        elect(&members, replicas, elected)
    }

    #[test]
    fn highest_position_wins() {
        let members = [("0000000000", 10, 1), ("0000000001", 30, 1), ("0000000002", 20, 1)];
        assert_eq!(elect_among(&members, 3, None), Ok("0000000001".into()));
    }

    #[test]
    fn equal_positions_go_to_weight_then_the_oldest() {
        let members = [("0000000004", 7, 1), ("0000000005", 7, 3), ("0000000006", 7, 3)];
        assert_eq!(elect_among(&members, 3, None), Ok("0000000005".into()));
        let members = [("0000000004", 7, 1), ("0000000005", 7, 1)];
        assert_eq!(elect_among(&members, 3, None), Ok("0000000004".into()));
    }

    #[test]
    fn needs_a_quorum_of_members_and_every_position() {
        assert_eq!(elect_among(&[("0000000000", 0, 1)], 3, None), Err(NoElection::NotEnoughMembers));
        let members = [("0000000000", 0, 1), ("0000000001", -1, 1)];
        assert_eq!(elect_among(&members, 3, None), Err(NoElection::PositionsMissing));
    }

    #[test]
    fn elected_is_sticky_while_its_member_exists() {
        let members = [("0000000000", 0, 1), ("0000000001", 99, 1)];
        assert_eq!(elect_among(&members, 3, Some("0000000000")), Ok("0000000000".into()));
        assert_eq!(elect_among(&members, 3, Some("0000000007")), Ok("0000000001".into()));
    }

    #[test]
    fn eids_are_node_names_without_the_leading_zero() {
        assert_eq!(eid_of_node_name("00000000007"), Some("0000000007".into()));
        assert_eq!(eid_of_node_name("x0000000007"), None);
        assert_eq!(eid_of_node_name("0"), None);
    }

    #[test]
    fn node_state_json_round_trips() {
        let mut state = state(-1, 1);
        state.address = Some("tcp://192.168.0.231:62621".into());
        state.elected = Some("0000000000".into());
        let json = state.to_json();
        assert_eq!(
            json,
            r#"{"id":"activemq-cluster","container":null,"address":"tcp://192.168.0.231:62621","position":-1,"weight":1,"elected":"0000000000"}"#
        );
        assert_eq!(NodeState::from_json(&json), Some(state));
    }
}
