//! The bare-model driver does the scenario's real traffic: a master is elected, replicates to
//! its slaves and the workload's messages are sent, acknowledged and delivered, about as many
//! as in the world (the driver has no latency, so a few more fit in).

use benches::{steady, Direct};
use broker_model::Time;

#[test]
fn the_direct_driver_elects_replicates_and_delivers_what_the_world_does() {
    let spec = steady(scenarios::builtin::named("master-crash").expect("built in"));
    let mut direct = Direct::start(&spec, 1);
    direct.run_until(Time::from_ms(spec.duration_ms));
    let world = sim::run(&spec, 1, sim::RunOptions::default());
    assert!(world.violations.is_empty(), "{:?}", world.violations);
    let delivered = world.counts["delivered"];
    assert!(delivered > 5_000, "the world delivered {delivered}");
    let counts = direct.counts();
    assert!(
        counts.delivered >= delivered * 9 / 10 && counts.delivered <= delivered * 11 / 10,
        "direct {counts:?} against the world's {delivered} deliveries"
    );
    assert_eq!(counts.acked, counts.delivered, "{counts:?}");
}
