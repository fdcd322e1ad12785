//! Exact-effect tests of a bridge's demand rules (model/activemq.md §3.3–3.4).

use super::*;
use crate::io::{Addr, Component, ConnId, HostId};
use crate::messaging::{BrokerInfo, BrokerPath, ConsumerAdvisory, Dest, Msg, MsgId};
use crate::time::Time;

const LOCAL: BrokerId = BrokerId(1);
const REMOTE: BrokerId = BrokerId(2);

fn forwarder(config: ConnectorConfig) -> Forwarder {
    let remote = BrokerInfo {
        id: REMOTE,
        name: "activemq-cluster".into(),
        network: false,
        duplex: false,
        connector: String::new(),
        config: None,
    };
    Forwarder::new(Rc::new(config), ConnId::Out { owner: Component::Bridge { id: 1 }, n: 1 }, LOCAL, remote)
}

fn config() -> ConnectorConfig {
    ConnectorConfig::new("group1-broker1", vec![Addr { host: HostId(4), port: 61616 }])
}

fn advisory(consumer: u32, dest: &str, path: &[BrokerId]) -> ConsumerAdvisory {
    let mut p = BrokerPath::default();
    for id in path {
        p = p.with(*id);
    }
    ConsumerAdvisory {
        consumer,
        dest: Dest::Queue(dest.into()),
        priority: 0,
        path: p,
        network_ids: Vec::new(),
        durable: false,
        added: true,
    }
}

fn add(f: &mut Forwarder, a: &ConsumerAdvisory, local_id: u32) -> bool {
    match f.on_advisory(a) {
        DemandChange::Add { dest, remote_consumer, .. } => {
            f.demand.insert(
                local_id,
                Demand {
                    slot: dest,
                    dest,
                    remote_consumers: [remote_consumer].into(),
                    is_static: false,
                    closing: false,
                },
            );
            true
        }
        _ => false,
    }
}

#[test]
fn only_direct_consumers_create_demand_with_consumer_ttl_1() {
    let mut f = forwarder(config());
    assert!(add(&mut f, &advisory(7, "SampleQueue", &[]), 100), "a client's own consumer");
    assert!(!add(&mut f, &advisory(8, "Other", &[BrokerId(9)]), 101), "a network consumer: path 1 ≥ TTL 1");
    let mut two = config();
    two.consumer_ttl = 2;
    let mut f = forwarder(two);
    assert!(add(&mut f, &advisory(8, "Other", &[BrokerId(9)]), 101), "TTL 2 lets it through");
    assert!(!add(&mut f, &advisory(9, "Loop", &[LOCAL]), 102), "never a consumer behind this broker");
}

#[test]
fn conduit_folds_remote_consumers_of_a_queue_into_one_network_consumer() {
    let mut f = forwarder(config());
    assert!(add(&mut f, &advisory(7, "SampleQueue", &[]), 100));
    assert_eq!(f.on_advisory(&advisory(8, "SampleQueue", &[])), DemandChange::None);
    assert_eq!(f.demand[&100].remote_consumers, [7, 8].into());
    // The last one leaving removes the network consumer.
    let gone = |c| ConsumerAdvisory { added: false, ..advisory(c, "SampleQueue", &[]) };
    assert_eq!(f.on_advisory(&gone(7)), DemandChange::None);
    assert_eq!(f.on_advisory(&gone(8)), DemandChange::Remove { consumer: 100 });
    assert!(f.demand[&100].closing);
    let mut plain = config();
    plain.conduit_subscriptions = false;
    let mut f = forwarder(plain);
    assert!(add(&mut f, &advisory(7, "SampleQueue", &[]), 100));
    assert!(add(&mut f, &advisory(8, "SampleQueue", &[]), 101), "one network consumer per remote consumer");
}

#[test]
fn excluded_destinations_win_over_static_and_dynamic_includes() {
    let mut c = config();
    c.excluded_destinations = vec![DestFilter::parse("Secret.>").expect("a filter")];
    c.statically_included_destinations = vec![DestFilter::parse("Secret.Static").expect("a filter")];
    c.dynamically_included_destinations = vec![DestFilter::parse("Sample.>").expect("a filter")];
    let f = forwarder(c);
    let q = |n: &str| Dest::Queue(n.into());
    assert!(!f.permits(&q("Secret.Static")), "5.15 checks excluded first");
    assert!(f.permits(&q("Sample.A")));
    assert!(!f.permits(&q("Other")), "not dynamically included");
    let mut s = config();
    s.static_bridge = true;
    s.statically_included_destinations = vec![DestFilter::parse("Only").expect("a filter")];
    let f = forwarder(s);
    assert!(f.permits(&q("Only")) && !f.permits(&q("Sample")));
}

#[test]
fn network_consumer_priority_and_forwarding_filter() {
    let f = forwarder(config());
    let direct = f.network_consumer(&BrokerPath::default(), 0, Vec::new());
    assert_eq!(direct.priority, 0, "equal to local consumers by default");
    assert_eq!(direct.path.ids(), &[REMOTE]);
    let mut dec = config();
    dec.decrease_network_consumer_priority = true;
    let f = forwarder(dec);
    assert_eq!(f.network_consumer(&BrokerPath::default(), 0, Vec::new()).priority, -5);
    assert_eq!(f.network_consumer(&BrokerPath::default().with(BrokerId(9)), 0, Vec::new()).priority, -5 - 3);
    let msg = |path: BrokerPath| Msg {
        id: MsgId { producer: 1, seq: 1 },
        key: MsgId { producer: 1, seq: 1 },
        dest: Dest::Queue("q".into()),
        persistent: true,
        size: 10,
        sent_at: Time::ZERO,
        path,
    };
    assert!(direct.forwards(&msg(BrokerPath::default())));
    assert!(!direct.forwards(&msg(BrokerPath::default().with(REMOTE))), "never back to where it came from");
    assert!(!direct.forwards(&msg(BrokerPath::default().with(BrokerId(9)))), "messageTTL 1: one hop only");
    let ttl2 = NetworkConsumer { message_ttl: 2, ..direct };
    assert!(ttl2.forwards(&msg(BrokerPath::default().with(BrokerId(9)))));
}

#[test]
fn a_network_consumer_stands_for_its_remote_consumer_and_those_behind_it() {
    let mut c = config();
    c.consumer_ttl = 2;
    let mut f = forwarder(c);
    let behind = ConsumerKey { broker: BrokerId(9), consumer: 3 };
    let a = ConsumerAdvisory { network_ids: vec![behind], ..advisory(8, "SampleQueue", &[BrokerId(9)]) };
    let DemandChange::Add { network, .. } = f.on_advisory(&a) else { panic!("demand") };
    assert_eq!(network.ids, vec![behind, ConsumerKey { broker: REMOTE, consumer: 8 }]);
    // Suppression is per kind: topics by default, queues not.
    assert!(f.suppresses_duplicates(&Dest::Topic("t".into())));
    assert!(!f.suppresses_duplicates(&Dest::Queue("q".into())));
}

fn demand_on(slot: Dest) -> Demand {
    Demand { slot, dest: slot, remote_consumers: [7].into(), is_static: false, closing: false }
}

#[test]
fn forwards_in_flight_for_running_consumers_hold() {
    let mut f = forwarder(config());
    f.demand.insert(1, demand_on(Dest::Queue("orders".into())));
    f.demand.insert(2, demand_on(Dest::Queue("backlog".into())));
    f.inflight.insert(1, Dest::Queue("orders".into()), 1, MsgId { producer: 1, seq: 1 });
    f.inflight.insert(2, Dest::Queue("backlog".into()), 2, MsgId { producer: 1, seq: 2 });
    f.inflight.insert(3, Dest::Queue("orders".into()), 1, MsgId { producer: 1, seq: 3 });
    f.invariants();
    assert!(f.inflight.has_consumer(1) && f.inflight.has_consumer(2));
    f.inflight.remove(2);
    assert!(!f.inflight.has_consumer(2));
    f.invariants();
}

#[test]
#[should_panic(expected = "a forward in flight for a consumer the bridge does not run")]
fn a_forward_in_flight_for_a_consumer_without_demand_is_caught() {
    let mut f = forwarder(config());
    f.demand.insert(1, demand_on(Dest::Queue("orders".into())));
    f.inflight.insert(1, Dest::Queue("orders".into()), 1, MsgId { producer: 1, seq: 1 });
    // The bug `waitForCompletion` guards against: the network consumer goes while its
    // forwards are still in flight.
    f.demand.remove(&1);
    f.invariants();
}

#[test]
#[should_panic(expected = "a forward in flight for a consumer the bridge does not run")]
fn a_forward_in_flight_from_another_slot_than_its_consumers_is_caught() {
    let mut f = forwarder(config());
    f.demand.insert(1, demand_on(Dest::Queue("orders".into())));
    f.inflight.insert(1, Dest::Queue("backlog".into()), 1, MsgId { producer: 1, seq: 1 });
    f.invariants();
}

#[test]
#[should_panic(expected = "forwards from two slots")]
fn a_network_consumer_forwards_from_one_slot() {
    let mut inflight = Inflight::default();
    inflight.insert(1, Dest::Queue("orders".into()), 1, MsgId { producer: 1, seq: 1 });
    inflight.insert(2, Dest::Queue("backlog".into()), 1, MsgId { producer: 1, seq: 2 });
}

proptest::proptest! {
    /// The per-consumer counts follow every insert and removal: `has_consumer` answers what a
    /// walk of every forward would, and the counts match the forwards entry by entry.
    #[test]
    fn the_counts_per_consumer_follow_the_forwards(
        ops in proptest::collection::vec((proptest::bool::ANY, 0u64..40, 0u32..4), 1..200),
    ) {
        let slot = |consumer: u32| Dest::Queue(["a", "b", "c", "d"][consumer as usize].into());
        let mut inflight = Inflight::default();
        let mut naive: BTreeMap<u64, u32> = BTreeMap::new();
        for (insert, corr, consumer) in ops {
            if insert && !naive.contains_key(&corr) {
                inflight.insert(corr, slot(consumer), consumer, MsgId { producer: 1, seq: corr });
                naive.insert(corr, consumer);
            } else {
                let removed = inflight.remove(corr).map(|(_, c, _)| c);
                proptest::prop_assert_eq!(removed, naive.remove(&corr));
            }
            inflight.invariants();
            inflight.full_check();
            for c in 0..4 {
                proptest::prop_assert_eq!(inflight.has_consumer(c), naive.values().any(|n| *n == c));
            }
            proptest::prop_assert_eq!(inflight.values().count(), naive.len());
        }
    }
}
