//! `run(spec, seed)`: one simulated run in a fresh madsim runtime on a fresh thread.

use crate::check::{self, Context};
use crate::outcome::{Outcome, Violation};
use crate::spec::Spec;
use crate::world::{Stop, World};
use broker_model::Time;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A `tracing` subscriber for the run's thread (replay): the world narrates every event to
    /// it (`sim::narrate`). `None` in batches: nothing is formatted. The hash is the same.
    pub trace: Option<tracing::Dispatch>,
    /// Set from outside (Ctrl-C) to stop the run early; its outcome is then `interrupted`.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Return the run's history in the outcome (tests that inspect events), with every
    /// per-message observation kept as an event too (otherwise they are only folded into the
    /// ledger): memory grows with the messages sent. Results are the same either way.
    pub keep_history: bool,
    /// Build the run's time series (`Outcome::timeline`), for a report's charts of one seed.
    pub timeline: bool,
}

/// Runs `spec` with `seed` to its end and checks it. A model assertion failure is caught and
/// reported as a `Violation::Panic`, so a batch keeps going.
pub fn run(spec: &Spec, seed: u64, options: RunOptions) -> Outcome {
    run_on_thread(spec, seed, options)
}

fn run_on_thread(spec: &Spec, seed: u64, options: RunOptions) -> Outcome {
    let owned = spec.clone();
    let thread = std::thread::Builder::new().name(format!("{}-{seed}", spec.name)).spawn(move || {
        let _subscriber = options.trace.as_ref().map(tracing::dispatcher::set_default);
        let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        runtime.block_on(simulate(owned, seed, options))
    });
    let thread = match thread {
        Ok(thread) => thread,
        // Out of threads or memory: that seed fails with the reason, the batch goes on.
        Err(error) => {
            return Outcome::panicked(spec, seed, format!("cannot start the run's thread: {error}"))
        }
    };
    match thread.join() {
        Ok(outcome) => outcome,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".to_string());
            Outcome::panicked(spec, seed, message)
        }
    }
}

#[allow(clippy::disallowed_methods)] // madsim's simulated clock, not the wall clock.
async fn simulate(spec: Spec, seed: u64, options: RunOptions) -> Outcome {
    if let Err(error) = crate::validate::validate(&spec) {
        panic!("an invalid scenario reached the world (validate specs first): {error}");
    }
    let origin = madsim::time::Instant::now();
    let mut world = World::new(&spec, seed);
    world.history.keep_messages = options.keep_history;
    world.boot();
    let mut end = Time::from_ms(spec.duration_ms);
    let livelock = match world.run_until(end, options.cancel.as_deref()) {
        Ok(()) => None,
        // Interrupted (Ctrl-C): the outcome is marked and a batch drops it.
        Err(Stop::Cancelled) => return Outcome::cancelled(&spec, seed),
        // The checkers judge the run as far as it got.
        Err(Stop::Livelock(stuck)) => {
            end = stuck.at;
            Some(stuck)
        }
    };
    // The world keeps its own clock; nothing in a run reads madsim's (the trace's timer reads
    // the world's time), so madsim's clock is advanced once, to where the run ended, instead
    // of one `sleep_until` per distinct event time (a third of a run's cost).
    madsim::time::sleep_until(origin + Duration::from_micros(end.as_us())).await;
    let held = world.held_messages();
    let context = Context {
        spec: &spec,
        layout: &world.layout,
        history: &world.history,
        end,
        last_step_at: world.last_step_at,
        held,
    };
    let (mut violations, messages) = check::check_all(&context);
    if let Some(stuck) = livelock {
        // Cut off: what needs the run's end (the drain, liveness, `sometimes`, losses judged
        // after the drain) cannot be judged; what went wrong before the cut still counts.
        violations.retain(|v| {
            matches!(
                v,
                Violation::SplitBrain { .. }
                    | Violation::Unexpected { .. }
                    | Violation::DuplicateStored { .. }
                    | Violation::NetworkTtl { .. }
            )
        });
        violations.insert(
            0,
            Violation::Livelock { at: stuck.at, events: stuck.events, same_instant: stuck.same_instant },
        );
    }
    let measurements = check::measure::measure(&context);
    let timeline = options.timeline.then(|| crate::timeline::Timeline::build(&context));
    let (timings_ms, measures) = measurements.flatten();
    let trace_hash = world.trace.hash();
    let events = world.trace.events();
    Outcome {
        scenario: spec.name.clone(),
        seed,
        violations,
        timings_ms,
        counts: messages.as_ref().map(|m| m.to_map()).unwrap_or_default(),
        messages,
        measures,
        measurements,
        timeline,
        trace_hash,
        events,
        simulated_ms: end.as_ms(),
        history: if options.keep_history { std::mem::take(&mut world.history) } else { Default::default() },
        interrupted: false,
    }
}
