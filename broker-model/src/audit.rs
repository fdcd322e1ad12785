//! The duplicate audits: a connection's `ActiveMQMessageAudit` (the client's, which poison-acks
//! a duplicate delivery) and a destination's cursor audit (the broker's, which sends a duplicate
//! send to the DLQ). Both remember the last `depth` message ids that arrived from each producer,
//! in arrival order, and call an id seen again within that window a duplicate.
//!
//! Each producer's window is kept twice over the same ids: in arrival order (what falls out when
//! the window is full) and sorted (what is looked up). Sequence ids almost always arrive in
//! increasing order, so both are appended at the back and evicted at the front, and a lookup is
//! a binary search over contiguous memory (the tree sets this replaced were ~6 % of a
//! master-crash run).

use crate::messaging::MsgId;
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Window {
    arrived: VecDeque<u64>,
    sorted: VecDeque<u64>,
}

impl Window {
    fn find(&self, seq: u64) -> Result<usize, usize> {
        self.sorted.binary_search(&seq)
    }

    fn remove_sorted(&mut self, seq: u64) {
        let at = self.find(seq).expect("an id in the window is in its sorted copy");
        self.sorted.remove(at);
    }
}

/// The last ids seen, per producer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    producers: BTreeMap<u32, Window>,
}

impl Audit {
    /// Records `id` as arrived; true if it is already in its producer's window (a duplicate:
    /// nothing changes). A window holds at most `depth` ids; the oldest arrival falls out.
    pub fn seen(&mut self, id: MsgId, depth: usize) -> bool {
        let window = self.producers.entry(id.producer).or_default();
        if window.sorted.back().is_some_and(|last| *last < id.seq) || window.sorted.is_empty() {
            // A producer's next id (the usual case): past everything in the window, new.
            window.sorted.push_back(id.seq);
        } else {
            let at = match window.find(id.seq) {
                Ok(_) => return true,
                Err(at) => at,
            };
            window.sorted.insert(at, id.seq);
        }
        window.arrived.push_back(id.seq);
        if window.arrived.len() > depth {
            let old = window.arrived.pop_front().expect("non-empty");
            if window.sorted.front() == Some(&old) {
                // Ids arrived in order: the oldest is also the smallest.
                window.sorted.pop_front();
            } else {
                window.remove_sorted(old);
            }
        }
        false
    }

    /// Forgets `id` if it is in the window (`rollbackDuplicate`: its redelivery is accepted).
    pub fn forget(&mut self, id: MsgId) {
        let Some(window) = self.producers.get_mut(&id.producer) else { return };
        if window.find(id.seq).is_ok() {
            window.remove_sorted(id.seq);
            window.arrived.retain(|seq| *seq != id.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// The audit as it was written before: an arrival-order window per producer and one set of
    /// every id in any window.
    #[derive(Default)]
    struct Reference {
        windows: BTreeMap<u32, VecDeque<u64>>,
        set: BTreeSet<MsgId>,
    }

    impl Reference {
        fn seen(&mut self, id: MsgId, depth: usize) -> bool {
            if !self.set.insert(id) {
                return true;
            }
            let window = self.windows.entry(id.producer).or_default();
            window.push_back(id.seq);
            if window.len() > depth {
                let old = window.pop_front().expect("non-empty");
                self.set.remove(&MsgId { producer: id.producer, seq: old });
            }
            false
        }

        fn forget(&mut self, id: MsgId) {
            if self.set.remove(&id) {
                if let Some(window) = self.windows.get_mut(&id.producer) {
                    window.retain(|seq| *seq != id.seq);
                }
            }
        }
    }

    #[test]
    fn a_duplicate_within_the_window_is_seen_and_one_beyond_it_is_not() {
        let mut audit = Audit::default();
        let id = |seq| MsgId { producer: 1, seq };
        assert!(!audit.seen(id(1), 2));
        assert!(audit.seen(id(1), 2));
        assert!(!audit.seen(id(2), 2));
        assert!(!audit.seen(id(3), 2)); // 1 falls out
        assert!(!audit.seen(id(1), 2), "beyond the window: not a duplicate");
        audit.forget(id(3));
        assert!(!audit.seen(id(3), 2), "forgotten: accepted again");
        assert!(!audit.seen(MsgId { producer: 2, seq: 3 }, 2), "another producer's id");
    }

    proptest! {
        /// Whatever the arrivals (in order, reordered, repeated) and rollbacks, it answers exactly
        /// as the audit it replaced.
        #[test]
        fn answers_as_the_tree_set_audit_did(
            ops in prop::collection::vec((any::<bool>(), 0u32..3, 0u64..60), 0..400),
            depth in 1usize..20,
        ) {
            let mut audit = Audit::default();
            let mut reference = Reference::default();
            let mut next = [0u64; 3];
            for (forget, producer, jitter) in ops {
                // Mostly the next sequence id, sometimes an older one again.
                let seq = if jitter < 45 {
                    next[producer as usize] += 1;
                    next[producer as usize]
                } else {
                    next[producer as usize].saturating_sub(jitter - 45)
                };
                let id = MsgId { producer, seq };
                if forget {
                    audit.forget(id);
                    reference.forget(id);
                } else {
                    prop_assert_eq!(audit.seen(id, depth), reference.seen(id, depth));
                }
            }
        }
    }
}
