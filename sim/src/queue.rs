//! The world's event queue: events in (time, insertion order), without an allocation per event.
//!
//! Keys are `(time, insertion number)` packed into a `u128` with the event's slab slot in the
//! low bits, unique, so equal times pop in the order they were numbered. The events themselves
//! live in a slab whose slots are reused, so a push or pop moves no event and allocates nothing
//! once the slab has grown to the run's largest queue.
//!
//! Two 4-ary heaps (lanes) hold the keys, and a pop takes the smaller of their two heads, so
//! the order is exactly that of one heap. A run's queue is mostly timers far ahead (~70 of the
//! ~80 keys a two-group master-crash holds once its packets ride their connections' FIFOs, see
//! `world::Direction`), and almost every pop is a packet, an fsync or a step due within
//! milliseconds: in their own lane those pop from a heap of a handful of keys instead of
//! sifting the tail through every level of timers. The timers' lane is touched only when a
//! timer is queued or fires.
//!
//! Two other structures were built and measured on master-crash (one core) and were slower:
//! a radix heap, which a monotone queue like this one allows (an event moves down about one
//! bucket per bit of its distance in time, ~20 moves for a timer a second ahead, against ~3
//! levels of this heap for the ~100 events a run holds): +4 %; a timing wheel of 4,096 × 64 µs
//! slots with an occupancy bitmap and this heap for later events: +10 % (+22 % on the short
//! zk-leader-crash runs, which pay for the wheel's slots), since a run's events are sparse in
//! time and every peek scans for the next occupied slot.

use broker_model::Time;

/// Which heap an event's key goes to. Only speed depends on it: a pop takes the smallest key
/// of both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Due soon: packets, fsyncs, steps.
    Soon = 0,
    /// Timers, mostly seconds ahead and re-armed before they fire.
    Timers = 1,
}

/// A 4-ary min-heap of keys: (time << 64 | insertion number << 24 | slot). The slot rides in
/// the low bits, below the unique (time, number), so it never changes the order and a key is
/// one 16-byte integer to compare and move.
#[derive(Default)]
struct Heap(Vec<u128>);

impl Heap {
    fn push(&mut self, key: u128) {
        let heap = &mut self.0;
        let mut i = heap.len();
        heap.push(key);
        while i > 0 {
            let parent = (i - 1) / 4;
            if heap[parent] <= key {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = key;
    }

    fn first(&self) -> Option<u128> {
        self.0.first().copied()
    }

    /// Removes the smallest key (the caller has seen that there is one).
    fn pop(&mut self) {
        let heap = &mut self.0;
        let tail = heap.pop().expect("non-empty");
        let n = heap.len();
        if n == 0 {
            return;
        }
        // Sift the tail down from the root.
        let mut i = 0;
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            let mut child = first;
            for c in first + 1..(first + 4).min(n) {
                if heap[c] < heap[child] {
                    child = c;
                }
            }
            if heap[child] >= tail {
                break;
            }
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = tail;
    }
}

pub struct EventQueue<T> {
    lanes: [Heap; 2],
    last: u128,
    seq: u64,
    slab: Vec<Option<T>>,
    free: Vec<u32>,
}

/// Insertion numbers have 40 bits (10^12 events a run; the livelock cap stops a run long
/// before), slots 24 (16 M events queued at once).
const SEQ_BITS: u32 = 40;
const SLOT_BITS: u32 = 24;

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue { lanes: Default::default(), last: 0, seq: 0, slab: Vec::new(), free: Vec::new() }
    }
}

fn key(at: Time, seq: u64, slot: u32) -> u128 {
    (at.as_us() as u128) << 64 | (seq as u128) << SLOT_BITS | slot as u128
}

fn time_of(key: u128) -> Time {
    Time::from_us((key >> 64) as u64)
}

fn slot_of(key: u128) -> usize {
    (key as usize) & ((1 << SLOT_BITS) - 1)
}

impl<T> EventQueue<T> {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lanes[0].0.len() + self.lanes[1].0.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the next insertion number, for an event that may be queued later with it
    /// ([`EventQueue::push_numbered`]) and must then run where a push now would have.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        assert!(self.seq < 1 << SEQ_BITS, "more than 2^40 events queued in one run");
        self.seq
    }

    /// Queues `event` at `at`, after everything already queued at the same time.
    pub fn push(&mut self, lane: Lane, at: Time, event: T) {
        let seq = self.next_seq();
        self.push_numbered(lane, at, seq, event);
    }

    /// Queues `event` at `at` with an insertion number taken earlier from
    /// [`EventQueue::next_seq`].
    ///
    /// Panics if that orders it before the last event popped: the world never schedules into
    /// the past.
    pub fn push_numbered(&mut self, lane: Lane, at: Time, seq: u64, event: T) {
        assert!(seq <= self.seq, "insertion numbers come from next_seq");
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slab.push(Some(event));
                let slot = self.slab.len() - 1;
                assert!(slot < 1 << SLOT_BITS, "more than 2^24 events queued at once");
                slot as u32
            }
        };
        let key = key(at, seq, slot);
        assert!(key > self.last, "event queued at {at} before the queue's time {}", time_of(self.last));
        self.lanes[lane as usize].push(key);
    }

    /// The lane whose head is the queue's next event.
    fn next_lane(&self) -> Option<usize> {
        match (self.lanes[0].first(), self.lanes[1].first()) {
            (Some(soon), Some(timer)) => Some(if timer < soon { 1 } else { 0 }),
            (Some(_), None) => Some(0),
            (None, Some(_)) => Some(1),
            (None, None) => None,
        }
    }

    #[cfg(test)]
    pub fn peek_time(&mut self) -> Option<Time> {
        let lane = self.next_lane()?;
        self.lanes[lane].first().map(time_of)
    }

    #[cfg(test)]
    pub fn pop(&mut self) -> Option<(Time, T)> {
        self.pop_due(Time::from_us(u64::MAX))
    }

    /// Pops the next event if it is due at or before `at` (one look at the heads instead of a
    /// peek and a pop).
    pub fn pop_due(&mut self, at: Time) -> Option<(Time, T)> {
        let lane = self.next_lane()?;
        let top = self.lanes[lane].first().expect("a lane with a head");
        if time_of(top) > at {
            return None;
        }
        self.lanes[lane].pop();
        self.last = top;
        let slot = slot_of(top);
        let event = self.slab[slot].take().expect("a queued slot holds its event");
        self.free.push(slot as u32);
        Some((time_of(top), event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn equal_times_pop_in_push_order_and_times_ascend() {
        let mut q = EventQueue::default();
        q.push(Lane::Soon, Time::from_us(5), "b");
        q.push(Lane::Soon, Time::from_us(3), "a");
        q.push(Lane::Soon, Time::from_us(5), "c");
        assert_eq!(q.peek_time(), Some(Time::from_us(3)));
        assert_eq!(q.pop(), Some((Time::from_us(3), "a")));
        q.push(Lane::Soon, Time::from_us(3), "d"); // at the queue's time: after everything popped so far
        assert_eq!(q.pop(), Some((Time::from_us(3), "d")));
        assert_eq!(q.pop(), Some((Time::from_us(5), "b")));
        assert_eq!(q.pop(), Some((Time::from_us(5), "c")));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    #[should_panic(expected = "before the queue's time")]
    fn pushing_into_the_past_is_refused() {
        let mut q = EventQueue::default();
        q.push(Lane::Soon, Time::from_us(10), ());
        q.pop();
        q.push(Lane::Soon, Time::from_us(9), ());
    }

    #[test]
    fn slots_are_reused() {
        let mut q = EventQueue::default();
        for round in 0..100u64 {
            q.push(Lane::Soon, Time::from_us(round), round);
            q.push(Lane::Soon, Time::from_us(round + 1), round);
            q.pop();
            q.pop();
        }
        assert!(q.slab.len() <= 2, "slab grew to {}", q.slab.len());
    }

    proptest! {
        /// Against one binary heap on (time, insertion order): the same events in the same
        /// order, whatever mix of pushes (each at or after the current time, in either lane)
        /// and pops.
        #[test]
        fn pops_exactly_what_a_binary_heap_on_time_and_order_pops(
            ops in prop::collection::vec((any::<bool>(), any::<bool>(), 0u64..2_000_000), 1..400),
        ) {
            let mut q = EventQueue::default();
            let mut reference = BinaryHeap::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for (n, (is_pop, timer, delay)) in ops.into_iter().enumerate() {
                if is_pop {
                    let got = q.pop();
                    let want = reference.pop().map(|Reverse((at, _, n))| (Time::from_us(at), n));
                    prop_assert_eq!(got, want);
                    if let Some((at, _)) = got {
                        now = at.as_us();
                    }
                } else {
                    // Mostly near-future events, now and then far ones (timers).
                    let at = now + if delay % 7 == 0 { delay * 1000 } else { delay % 300 };
                    seq += 1;
                    q.push(if timer { Lane::Timers } else { Lane::Soon }, Time::from_us(at), n);
                    reference.push(Reverse((at, seq, n)));
                }
                prop_assert_eq!(q.len(), reference.len());
            }
            while let Some(Reverse((at, _, n))) = reference.pop() {
                prop_assert_eq!(q.pop(), Some((Time::from_us(at), n)));
            }
            prop_assert_eq!(q.pop(), None);
        }
    }
}
