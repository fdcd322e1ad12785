//! The canonical trace of a run and its hash. Every input a process receives, every fault and
//! every observation feeds the hash (an FNV-style hash over the derived `Hash` encoding).
//!
//! A received message is hashed by a compact key packed into four words: its time; the process,
//! protocol, command and wire size; the connection's owner and number. Not its contents (a WAL
//! frame's records, a delivery's headers): contents follow from what came before; a run that
//! diverges shows it in the times, commands, sizes and observations that follow within a few
//! events, and the trace costs four multiplies per message instead of a walk over every record
//! replicated. Other inputs (timers, fsyncs, connection events) are rarer and hashed whole.

use broker_model::{Component, ConnId, Input, Message, Time};
use std::hash::{Hash, Hasher};

/// FNV-1a-style, 64 bit, one multiply per machine word (derived `Hash` writes integers one at a
/// time): stable across runs and platforms of the same build, unlike `RandomState`.
#[derive(Debug, Clone)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(0x0000_0100_0000_01b3);
        self.0 ^= self.0 >> 31;
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        for byte in chunks.remainder() {
            self.mix(*byte as u64);
        }
    }

    fn write_u8(&mut self, v: u8) {
        self.mix(v as u64);
    }

    fn write_u16(&mut self, v: u16) {
        self.mix(v as u64);
    }

    fn write_u32(&mut self, v: u32) {
        self.mix(v as u64);
    }

    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }

    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
}

/// The canonical trace: a hash over every input, fault and observation of a run, and their
/// count. How the run is shown (`sim::narrate`) never feeds it.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    hasher: Fnv,
    events: u64,
}

impl Trace {
    /// Records one event's hashable form.
    pub fn record<T: Hash>(&mut self, value: &T) {
        value.hash(&mut self.hasher);
        self.events += 1;
    }

    /// Records an input by its compact key, packed into four words: the time; the process,
    /// the input's kind, and for a message its protocol, command and wire size; and the
    /// connection (its owner and number). Other inputs (timers, fsyncs, connection events)
    /// are rarer and hashed whole.
    pub fn record_input(&mut self, now: Time, process: usize, input: &Input) {
        match input {
            Input::Received { conn, message } => {
                assert!(process <= 0xffff, "the trace key packs a process index in 16 bits");
                let (protocol, command) = command(message);
                let size = message.wire_size();
                let meta = (process as u64 & 0xffff)
                    | protocol << 16
                    | command << 24
                    | size.min(u32::MAX as u64) << 32;
                let (owner, number) = conn_key(conn);
                self.hasher.mix(now.as_us());
                self.hasher.mix(meta);
                self.hasher.mix(owner);
                self.hasher.mix(number);
                if size >= u32::MAX as u64 {
                    self.hasher.mix(size);
                }
                self.events += 1;
            }
            other => self.record(&(now, process, other)),
        }
    }

    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }

    pub fn events(&self) -> u64 {
        self.events
    }
}

/// A message's protocol and command as two small numbers (`ZkClient` + `Ping`, `FromBroker` +
/// `Deliver`), without its contents.
fn command(message: &Message) -> (u64, u64) {
    use std::mem::discriminant;
    let inner = match message {
        Message::ZkClient(m) => variant(&discriminant(m)),
        Message::ZkServer(m) => variant(&discriminant(m)),
        Message::Quorum(m) => variant(&discriminant(m)),
        Message::Election(_) => 0,
        Message::Repl(m) => variant(&discriminant(m)),
        Message::ToBroker(m) => variant(&discriminant(m)),
        Message::FromBroker(m) => variant(&discriminant(m)),
    };
    (variant(&discriminant(message)) & 0xff, inner & 0xff)
}

/// A connection id as two words: the owning component (tag and number), and the connection's
/// number.
fn conn_key(conn: &ConnId) -> (u64, u64) {
    match *conn {
        ConnId::Out { owner, n } => {
            let owner = match owner {
                Component::Own => 1,
                Component::ZkClient { handle } => 2 | (handle as u64) << 8,
                Component::Bridge { id } => 3 | (id as u64) << 8,
            };
            (owner, n as u64)
        }
        ConnId::In(n) => (4, n),
    }
}

/// An enum value's variant number, read through its `Discriminant`'s `Hash` (which writes the
/// number as an integer; std offers no other stable way to read it). Inlined, a load.
fn variant<T: Hash>(discriminant: &T) -> u64 {
    struct Capture(u64);
    impl Hasher for Capture {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for byte in bytes.iter().rev() {
                self.0 = self.0 << 8 | *byte as u64;
            }
        }
        fn write_u8(&mut self, v: u8) {
            self.0 = v as u64;
        }
        fn write_u16(&mut self, v: u16) {
            self.0 = v as u64;
        }
        fn write_u32(&mut self, v: u32) {
            self.0 = v as u64;
        }
        fn write_u64(&mut self, v: u64) {
            self.0 = v;
        }
        fn write_usize(&mut self, v: usize) {
            self.0 = v as u64;
        }
        fn write_isize(&mut self, v: isize) {
            self.0 = v as u64;
        }
    }
    let mut capture = Capture(0);
    discriminant.hash(&mut capture);
    capture.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_model::messaging::{FromBroker, ToBroker};

    fn hash_of(now: u64, process: usize, input: &Input) -> u64 {
        let mut trace = Trace::default();
        trace.record_input(Time::from_us(now), process, input);
        trace.hash()
    }

    fn received(conn: ConnId, message: Message) -> Input {
        Input::Received { conn, message }
    }

    #[test]
    fn the_compact_key_tells_apart_what_it_keeps() {
        let own = ConnId::Out { owner: Component::Own, n: 1 };
        let keepalive = || Message::FromBroker(FromBroker::KeepAlive);
        let base = hash_of(5, 2, &received(own, keepalive()));
        assert_eq!(base, hash_of(5, 2, &received(own, keepalive())), "the same input hashes the same");
        // Time, process, connection (its owner and number), protocol, command: each counts.
        assert_ne!(base, hash_of(6, 2, &received(own, keepalive())));
        assert_ne!(base, hash_of(5, 3, &received(own, keepalive())));
        assert_ne!(base, hash_of(5, 2, &received(ConnId::Out { owner: Component::Own, n: 2 }, keepalive())));
        assert_ne!(
            base,
            hash_of(5, 2, &received(ConnId::Out { owner: Component::Bridge { id: 1 }, n: 1 }, keepalive()))
        );
        assert_ne!(
            hash_of(5, 2, &received(ConnId::Out { owner: Component::Bridge { id: 1 }, n: 1 }, keepalive())),
            hash_of(
                5,
                2,
                &received(ConnId::Out { owner: Component::ZkClient { handle: 1 }, n: 1 }, keepalive())
            )
        );
        assert_ne!(base, hash_of(5, 2, &received(ConnId::In(1), keepalive())));
        assert_ne!(
            base,
            hash_of(5, 2, &received(own, Message::FromBroker(FromBroker::Response { corr: 1 })))
        );
        assert_ne!(base, hash_of(5, 2, &received(own, Message::ToBroker(ToBroker::KeepAlive))));
        // Contents beyond the command and size do not: a response's correlation id.
        assert_eq!(
            hash_of(5, 2, &received(own, Message::FromBroker(FromBroker::Response { corr: 1 }))),
            hash_of(5, 2, &received(own, Message::FromBroker(FromBroker::Response { corr: 2 })))
        );
    }

    #[test]
    fn variant_numbers_differ_per_variant() {
        use std::mem::discriminant;
        let a = variant(&discriminant(&FromBroker::KeepAlive));
        let b = variant(&discriminant(&FromBroker::Response { corr: 0 }));
        assert_ne!(a, b);
        assert_eq!(a, variant(&discriminant(&FromBroker::KeepAlive)));
    }
}
