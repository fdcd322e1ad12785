//! The canonical trace of a run and its hash. Every input a process receives, every fault and
//! every observation feeds the hash (an FNV-style hash over the derived `Hash` encoding).
//!
//! An input is hashed by a compact key: its time, process and kind, the connection, and for a
//! message its protocol, command and wire size, not its contents (a WAL frame's records, a delivery's
//! headers). Contents follow from what came before; a run that diverges shows it in the times,
//! kinds, sizes and observations that follow within a few events, and the trace costs a few
//! words per event instead of a walk over every record replicated.

use broker_model::{Input, Message, Time};
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

    /// Records an input by its compact key.
    pub fn record_input(&mut self, now: Time, process: usize, input: &Input) {
        match input {
            Input::Received { conn, message } => {
                let key = (now, process, std::mem::discriminant(input), conn);
                self.record(&(key, Command(message), message.wire_size()));
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

/// A message's protocol and command (`ZkClient` + `Ping`, `FromBroker` + `Deliver`), without
/// its contents.
struct Command<'a>(&'a Message);

impl Hash for Command<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        use std::mem::discriminant;
        discriminant(self.0).hash(state);
        match self.0 {
            Message::ZkClient(m) => discriminant(m).hash(state),
            Message::ZkServer(m) => discriminant(m).hash(state),
            Message::Quorum(m) => discriminant(m).hash(state),
            Message::Election(_) => {}
            Message::Repl(m) => discriminant(m).hash(state),
            Message::ToBroker(m) => discriminant(m).hash(state),
            Message::FromBroker(m) => discriminant(m).hash(state),
        }
    }
}
