//! Any process of the deployment, as a driver holds it (the world, or the bare-model benches):
//! one `on_start` and one `on_input` whatever its kind.

use crate::broker::Broker;
use crate::client::Client;
use crate::zk::server::ZkServer;
use crate::{Effects, Input, Time};

pub enum Node {
    Zk(Box<ZkServer>),
    Broker(Box<Broker>),
    Client(Box<Client>),
}

impl Node {
    /// The process starts (its first boot or a restart).
    pub fn on_start(&mut self, now: Time, fx: &mut dyn Effects) {
        match self {
            Node::Zk(server) => server.on_start(now, fx),
            Node::Broker(broker) => broker.on_start(now, fx),
            Node::Client(client) => client.on_start(now, fx),
        }
    }

    pub fn on_input(&mut self, now: Time, input: Input, fx: &mut dyn Effects) {
        match self {
            Node::Zk(server) => server.on_input(now, input, fx),
            Node::Broker(broker) => broker.on_input(now, input, fx),
            Node::Client(client) => client.on_input(now, input, fx),
        }
    }
}
