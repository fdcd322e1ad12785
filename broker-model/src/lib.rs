//! broker-model — the processes of an ActiveMQ "Master-Slave + Broker Cluster" deployment as pure,
//! sans-IO state machines: ZooKeeper servers, the ZooKeeper client library, and ActiveMQ brokers
//! with their MasterElector.
//!
//! Every process takes inputs through `on_input(now, input, effects)` and answers with a closed
//! [`Effect`] enum. Nothing here reads a clock, draws OS randomness, does IO or is async: the
//! driver in `sim` owns time, the network and the disk.
//!
//! **Architecture invariant:** this crate depends on no other workspace crate and names no async
//! runtime. Collections that affect behaviour are `BTreeMap`/`BTreeSet`.

pub mod audit;
pub mod bridge;
pub mod broker;
pub mod client;
pub mod describe;
pub mod destination;
pub mod elector;
pub mod io;
pub mod json;
pub mod messaging;
pub mod node;
pub mod rng;
pub mod store;
pub mod time;
pub mod transport;
pub mod zk;

pub use io::{
    Addr, Component, ConnId, Effect, Effects, HostId, Input, Message, Observation, Record, TimerId,
};
pub use time::Time;
