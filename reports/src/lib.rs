//! reports — run outcomes to statistics, the JSON summary and terminal lines.
//!
//! **Architecture invariant:** reports reads `sim` outcome types and never runs a simulation.

use serde_json::{json, Map, Value};
use sim::Outcome;
use std::collections::BTreeMap;

/// Distribution of one measurement across seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub count: usize,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Nearest-rank percentiles. `None` for no values.
pub fn stats(values: &[f64]) -> Option<Stats> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = |p: f64| {
        let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[index.clamp(1, sorted.len()) - 1]
    };
    Some(Stats {
        count: sorted.len(),
        min: sorted[0],
        p50: rank(50.0),
        p90: rank(90.0),
        p99: rank(99.0),
        max: sorted[sorted.len() - 1],
        mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
    })
}

/// Every timing's distribution over `outcomes`, by name.
pub fn timing_stats(outcomes: &[Outcome]) -> BTreeMap<String, Stats> {
    stats_by_name(outcomes, |o| &o.timings_ms)
}

/// Distributions of the non-time measures over seeds.
pub fn measure_stats(outcomes: &[Outcome]) -> BTreeMap<String, Stats> {
    stats_by_name(outcomes, |o| &o.measures)
}

fn stats_by_name(
    outcomes: &[Outcome],
    field: fn(&Outcome) -> &BTreeMap<String, f64>,
) -> BTreeMap<String, Stats> {
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for outcome in outcomes {
        for (name, value) in field(outcome) {
            values.entry(name.clone()).or_default().push(*value);
        }
    }
    values.into_iter().filter_map(|(name, v)| Some((name, stats(&v)?))).collect()
}

fn round(value: f64) -> Value {
    json!((value * 1000.0).round() / 1000.0)
}

/// The `run --json` summary of one scenario's batch.
pub fn summary_json(scenario: &str, outcomes: &[Outcome], wall_s: f64) -> Value {
    let failing: Vec<u64> = outcomes.iter().filter(|o| !o.passed()).map(|o| o.seed).collect();
    let mut timings = Map::new();
    for (name, s) in timing_stats(outcomes) {
        timings.insert(
            name,
            json!({"count": s.count, "min": round(s.min), "p50": round(s.p50), "p90": round(s.p90),
                   "p99": round(s.p99), "max": round(s.max), "mean": round(s.mean)}),
        );
    }
    let simulated_s: f64 = outcomes.iter().map(|o| o.simulated_ms as f64 / 1000.0).sum();
    let events: u64 = outcomes.iter().map(|o| o.events).sum();
    let counts = count_totals(outcomes);
    let seeds_with_loss = outcomes.iter().filter(|o| o.counts.get("lost").copied().unwrap_or(0) > 0).count();
    let mut measures = Map::new();
    for (name, s) in measure_stats(outcomes) {
        measures.insert(name, json!({"count": s.count, "min": round(s.min), "p50": round(s.p50), "max": round(s.max), "mean": round(s.mean)}));
    }
    let rate = |name: &str| round(counts.get(name).copied().unwrap_or(0) as f64 / simulated_s.max(1e-9));
    let mut violations: BTreeMap<String, u64> = BTreeMap::new();
    for outcome in outcomes {
        for violation in &outcome.violations {
            let kind = format!("{violation:?}");
            let kind = kind.split([' ', '{', '(']).next().unwrap_or("").to_string();
            *violations.entry(kind).or_default() += 1;
        }
    }
    json!({
        "scenario": scenario,
        "seeds": outcomes.len(),
        "passed": outcomes.len() - failing.len(),
        "failed": failing.len(),
        "failing_seeds": failing,
        "violations": violations,
        "timings_ms": timings,
        "counts": counts,
        "seeds_with_loss": seeds_with_loss,
        "throughput": {"acked_per_sim_s": rate("acked"), "delivered_per_sim_s": rate("delivered")},
        "measures": measures,
        "performance": {
            "wall_s": round(wall_s),
            "seeds_per_s": round(outcomes.len() as f64 / wall_s.max(1e-9)),
            "simulated_s_per_wall_s": round(simulated_s / wall_s.max(1e-9)),
            "events_per_s": round(events as f64 / wall_s.max(1e-9)),
        },
    })
}

/// The message counts summed over seeds.
pub fn count_totals(outcomes: &[Outcome]) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for outcome in outcomes {
        for (name, value) in &outcome.counts {
            *totals.entry(name.clone()).or_default() += value;
        }
    }
    totals
}

/// Terminal lines for one batch: a verdict line and one line per measurement.
pub fn summary_lines(scenario: &str, outcomes: &[Outcome], wall_s: f64) -> Vec<String> {
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    let mut lines = vec![format!(
        "{scenario}: {} seeds, {} passed, {failed} failed ({:.1} s wall, {:.0} seeds/s)",
        outcomes.len(),
        outcomes.len() - failed,
        wall_s,
        outcomes.len() as f64 / wall_s.max(1e-9)
    )];
    for (name, s) in timing_stats(outcomes) {
        lines.push(format!(
            "  {name:<36} min {:>8.1}  p50 {:>8.1}  p90 {:>8.1}  p99 {:>8.1}  max {:>8.1}",
            s.min, s.p50, s.p90, s.p99, s.max
        ));
    }
    for (name, s) in measure_stats(outcomes) {
        lines.push(format!("  {name:<36} min {:>8.2}  p50 {:>8.2}  max {:>8.2}", s.min, s.p50, s.max));
    }
    let counts = count_totals(outcomes);
    if !counts.is_empty() {
        let get = |n: &str| counts.get(n).copied().unwrap_or(0);
        let with_loss = outcomes.iter().filter(|o| o.counts.get("lost").copied().unwrap_or(0) > 0).count();
        lines.push(format!(
            "  messages: sent {} acked {} delivered {} lost {} (in {with_loss} seeds) duplicated {} unexpected {} dlq {} recovered {}",
            get("sent"), get("acked"), get("delivered"), get("lost"), get("duplicated"), get("unexpected"), get("dlq"), get("recovered")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(|v| v as f64).collect();
        let s = stats(&values).unwrap();
        assert_eq!((s.min, s.p50, s.p90, s.p99, s.max), (1.0, 50.0, 90.0, 99.0, 100.0));
        let one = stats(&[7.0]).unwrap();
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert!(stats(&[]).is_none());
    }
}
