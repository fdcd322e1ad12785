//! reports — run outcomes folded into summaries as they arrive, and the summary's JSON and
//! terminal forms.
//!
//! A summary's memory does not grow with the number of seeds: each measurement keeps its exact
//! values up to [`EXACT_VALUES_MAX`], then a log-linear histogram whose buckets are 1/4096 of an
//! octave wide (percentiles within 0.025 %); min, max and mean stay exact. Failing seeds are
//! listed up to [`FAILING_LISTED_MAX`] and counted beyond. Outcomes are folded in seed order, so
//! the same seeds give the same summary, byte for byte.
//!
//! **Architecture invariant:** reports reads `sim` outcome types and never runs a simulation.

pub mod baseline;
pub mod charts;
pub mod report;

use serde_json::{json, Map, Value};
use sim::Outcome;
use std::collections::BTreeMap;

/// Values kept exactly per measurement before switching to the histogram.
pub const EXACT_VALUES_MAX: usize = 4096;
/// Failing seeds listed per scenario (all of them go to `--out` and the regressions file).
pub const FAILING_LISTED_MAX: usize = 100;
/// Mantissa bits of a histogram bucket: 2^12 buckets per octave.
const BUCKET_BITS: u32 = 12;

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

/// One measurement's values over seeds, in bounded memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Distribution {
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
    /// Every value while there are at most `EXACT_VALUES_MAX`.
    exact: Vec<f64>,
    /// After that: bucket key → count.
    buckets: BTreeMap<i64, u64>,
}

/// A monotonic bucket key: the float's sign, exponent and top mantissa bits.
fn bucket_key(value: f64) -> i64 {
    let magnitude = (value.abs().to_bits() >> (52 - BUCKET_BITS)) as i64;
    if value < 0.0 {
        -magnitude - 1
    } else {
        magnitude
    }
}

/// The middle of a bucket.
fn bucket_value(key: i64) -> f64 {
    let (negative, magnitude) = if key < 0 { (true, -(key + 1)) } else { (false, key) };
    let low = f64::from_bits((magnitude as u64) << (52 - BUCKET_BITS));
    let high = f64::from_bits(((magnitude as u64) + 1) << (52 - BUCKET_BITS));
    let middle = (low + high) / 2.0;
    if negative {
        -middle
    } else {
        middle
    }
}

impl Distribution {
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.count == 0 {
            self.min = value;
            self.max = value;
        }
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
        if self.buckets.is_empty() && self.exact.len() < EXACT_VALUES_MAX {
            self.exact.push(value);
            return;
        }
        for v in std::mem::take(&mut self.exact) {
            *self.buckets.entry(bucket_key(v)).or_default() += 1;
        }
        *self.buckets.entry(bucket_key(value)).or_default() += 1;
    }

    /// The empirical CDF as `(value, fraction of values ≤ it)`, one point per distinct value
    /// (per histogram bucket once the values are no longer kept exactly).
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let n = self.count.max(1) as f64;
        let mut points = Vec::new();
        let mut seen = 0u64;
        if self.buckets.is_empty() {
            let mut sorted = self.exact.clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            for (i, v) in sorted.iter().enumerate() {
                if sorted.get(i + 1) != Some(v) {
                    points.push((*v, (i + 1) as f64 / n));
                }
            }
        } else {
            for (key, count) in &self.buckets {
                seen += count;
                points.push((bucket_value(*key).clamp(self.min, self.max), seen as f64 / n));
            }
        }
        points
    }

    /// The value of nearest rank `rank` (1-based, clamped to the count).
    fn at_rank(&self, rank: u64) -> f64 {
        let rank = rank.clamp(1, self.count.max(1));
        if self.buckets.is_empty() {
            let mut sorted = self.exact.clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            return sorted[rank as usize - 1];
        }
        let mut seen = 0;
        for (key, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return bucket_value(*key).clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// A distribution-free 95 % confidence interval of the median: the order statistics at
    /// ranks n/2 ∓ 1.96·√n/2 (the binomial's normal approximation). The noise band a baseline
    /// comparison uses. `None` when empty.
    pub fn median_ci95(&self) -> Option<(f64, f64)> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        let half = 1.96 * n.sqrt() / 2.0;
        let low = (n / 2.0 - half).floor().max(1.0) as u64;
        let high = (n / 2.0 + half).ceil().min(n) as u64;
        Some((self.at_rank(low), self.at_rank(high)))
    }

    /// Nearest-rank percentiles (exact while the values are kept exactly). `None` when empty.
    pub fn stats(&self) -> Option<Stats> {
        if self.count == 0 {
            return None;
        }
        let n = self.count;
        let rank = |p: f64| (((p / 100.0) * n as f64).ceil() as u64).clamp(1, n);
        let percentile = |p: f64| self.at_rank(rank(p));
        Some(Stats {
            count: n as usize,
            min: self.min,
            p50: percentile(50.0),
            p90: percentile(90.0),
            p99: percentile(99.0),
            max: self.max,
            mean: self.sum / n as f64,
        })
    }
}

/// Nearest-rank percentiles of `values`. `None` for no values.
pub fn stats(values: &[f64]) -> Option<Stats> {
    let mut distribution = Distribution::default();
    for v in values {
        distribution.add(*v);
    }
    distribution.stats()
}

/// A failing seed and the command that reproduces it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failing {
    pub seed: u64,
    pub replay: String,
    pub violations: Vec<String>,
}

/// One scenario's batch, folded seed by seed.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub scenario: String,
    /// Settings, as `(name, value)` for the JSON.
    pub settings: Vec<(String, Value)>,
    /// Whether a lost acknowledged message is a failure under these settings, in words.
    pub loss_promise: String,
    pub seeds: u64,
    pub passed: u64,
    pub model_failures: u64,
    pub failing: Vec<Failing>,
    pub violations: BTreeMap<String, u64>,
    pub timings: BTreeMap<String, Distribution>,
    pub measures: BTreeMap<String, Distribution>,
    pub counts: BTreeMap<String, u64>,
    pub seeds_with_loss: u64,
    pub simulated_ms: u64,
    pub events: u64,
    pub wall_s: f64,
}

impl Summary {
    pub fn new(scenario: &str) -> Summary {
        Summary { scenario: scenario.to_string(), ..Default::default() }
    }

    pub fn failed(&self) -> u64 {
        self.seeds - self.passed
    }

    /// Folds one outcome in; `replay` gives its replay command if it failed.
    pub fn add(&mut self, outcome: &Outcome, replay: impl FnOnce() -> String) {
        self.seeds += 1;
        if outcome.passed() {
            self.passed += 1;
        } else {
            if outcome.violations.iter().any(|v| v.is_model_failure()) {
                self.model_failures += 1;
            }
            if self.failing.len() < FAILING_LISTED_MAX {
                let violations = outcome.violations.iter().map(|v| v.to_string()).collect();
                self.failing.push(Failing { seed: outcome.seed, replay: replay(), violations });
            }
        }
        for violation in &outcome.violations {
            *self.violations.entry(violation.kind().to_string()).or_default() += 1;
        }
        for (name, value) in &outcome.timings_ms {
            self.timings.entry(name.clone()).or_default().add(*value);
        }
        for (name, value) in &outcome.measures {
            self.measures.entry(name.clone()).or_default().add(*value);
        }
        for (name, value) in &outcome.counts {
            *self.counts.entry(name.clone()).or_default() += value;
        }
        if outcome.counts.get("lost").copied().unwrap_or(0) > 0 {
            self.seeds_with_loss += 1;
        }
        self.simulated_ms += outcome.simulated_ms;
        self.events += outcome.events;
    }

    /// A summed count, 0 when the scenario has none of it.
    pub fn count(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// The scenario's entry in the `run --json` summary (`scenarios[i]`).
    pub fn to_json(&self) -> Value {
        let stats_json = |s: Stats| {
            json!({"count": s.count, "min": round(s.min), "p50": round(s.p50), "p90": round(s.p90),
                   "p99": round(s.p99), "max": round(s.max), "mean": round(s.mean)})
        };
        let mut timings = Map::new();
        for (name, d) in &self.timings {
            timings.extend(d.stats().map(|s| (name.clone(), stats_json(s))));
        }
        let mut measures = Map::new();
        for (name, d) in &self.measures {
            measures.extend(d.stats().map(|s| (name.clone(), stats_json(s))));
        }
        let simulated_s = self.simulated_ms as f64 / 1000.0;
        let rate = |name: &str| round(self.count(name) as f64 / simulated_s.max(1e-9));
        let wall_s = self.wall_s.max(1e-9);
        let failing: Vec<Value> = self
            .failing
            .iter()
            .map(|f| json!({"seed": f.seed, "replay": f.replay, "violations": f.violations}))
            .collect();
        json!({
            "scenario": self.scenario,
            "settings": Value::Object(self.settings.iter().cloned().collect()),
            "loss_promise": self.loss_promise,
            "seeds": self.seeds,
            "passed": self.passed,
            "failed": self.failed(),
            "model_failures": self.model_failures,
            "failing_seeds": failing,
            "failing_seeds_listed_max": FAILING_LISTED_MAX,
            "violations": self.violations,
            "timings_ms": timings,
            "counts": self.counts,
            "seeds_with_loss": self.seeds_with_loss,
            "throughput": {"acked_per_sim_s": rate("acked"), "delivered_per_sim_s": rate("delivered")},
            "measures": measures,
            "performance": {
                "wall_s": round(self.wall_s),
                "simulated_s": round(simulated_s),
                "events": self.events,
                "seeds_per_s": round(self.seeds as f64 / wall_s),
                "simulated_s_per_wall_s": round(simulated_s / wall_s),
                "events_per_s": round(self.events as f64 / wall_s),
            },
        })
    }

    /// Terminal lines: a verdict line, one line per measurement, the message accounting.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{}: {} seeds, {} passed, {} failed{} ({:.1} s wall, {:.0} seeds/s, {:.0} simulated s per wall s)",
            self.scenario,
            self.seeds,
            self.passed,
            self.failed(),
            if self.model_failures > 0 { format!(" ({} crashed the model)", self.model_failures) } else { String::new() },
            self.wall_s,
            self.seeds as f64 / self.wall_s.max(1e-9),
            self.simulated_ms as f64 / 1000.0 / self.wall_s.max(1e-9),
        )];
        for (kind, count) in &self.violations {
            lines.push(format!("  violation {kind}: {count} seeds"));
        }
        for (name, d) in &self.timings {
            let Some(s) = d.stats() else { continue };
            lines.push(format!(
                "  {name:<36} min {:>8.1}  p50 {:>8.1}  p90 {:>8.1}  p99 {:>8.1}  max {:>8.1} ms",
                s.min, s.p50, s.p90, s.p99, s.max
            ));
        }
        for (name, d) in &self.measures {
            let Some(s) = d.stats() else { continue };
            lines.push(format!("  {name:<36} min {:>8.2}  p50 {:>8.2}  max {:>8.2}", s.min, s.p50, s.max));
        }
        if !self.counts.is_empty() {
            lines.extend(self.message_lines());
        }
        lines
    }

    fn message_lines(&self) -> Vec<String> {
        let get = |n: &str| self.count(n);
        let scheduled = get("scheduled");
        let behind = match scheduled {
            0 => String::new(),
            s => format!(" of {s} scheduled ({:.1} %)", get("sent") as f64 * 100.0 / s as f64),
        };
        let mut lines = vec![format!(
            "  messages: sent {}{behind} acked {} delivered {} recovered {} vanished {}",
            get("sent"),
            get("acked"),
            get("delivered"),
            get("recovered"),
            get("vanished")
        )];
        let lost = get("lost");
        let not_judged = get("lost_not_judged");
        let judged_note = match (lost, not_judged) {
            (0, _) => String::new(),
            (_, 0) => " — judged: a failure".to_string(),
            (l, n) if n == l => format!(" — reported, not judged ({})", self.loss_promise),
            (_, n) => format!(" — {n} of them reported, not judged ({})", self.loss_promise),
        };
        lines.push(format!("  lost {lost} acknowledged (in {} seeds){judged_note}", self.seeds_with_loss));
        lines.push(format!(
            "  anomalies: duplicated {} unexpected {} out_of_order {} dlq {} stuck {} held_at_end {}",
            get("duplicated"),
            get("unexpected"),
            get("out_of_order"),
            get("dlq"),
            get("stuck"),
            get("held_at_end")
        ));
        lines.push(format!(
            "  audits: resends_suppressed {} duplicates_rejected {} duplicate_sends_stored {}",
            get("resends_suppressed"),
            get("duplicates_rejected"),
            get("duplicate_sends_stored")
        ));
        if get("topic_missed_non_durable") > 0 {
            lines.push(format!(
                "  topic gaps (non-durable subscribers, reported, not judged): {} messages missed, {} of them published on the other group",
                get("topic_missed_non_durable"),
                get("topic_missed_across_groups")
            ));
        }
        if self.counts.contains_key("deadline_met") {
            lines.push(format!(
                "  deadline check: met in {} of {} seeds; missed: sender offline {}, receiver offline {}, undelivered {}, late {}",
                get("deadline_met"),
                self.seeds,
                get("deadline_missed_sender_offline"),
                get("deadline_missed_receiver_offline"),
                get("deadline_missed_undelivered"),
                get("deadline_missed_late")
            ));
        }
        if get("forwarded") > 0
            || get("network_duplicates_dlq") > 0
            || get("durable_missed_across_groups") > 0
        {
            let missed = match get("durable_missed_across_groups") {
                0 => String::new(),
                n => format!(
                    "; durable subscribers missed {n} messages published on the other group (before a durable network subscription kept them: reported, not judged)"
                ),
            };
            lines.push(format!(
                "  bridges: forwarded {} remote duplicates to the DLQ {}{missed}",
                get("forwarded"),
                get("network_duplicates_dlq")
            ));
        }
        lines
    }
}

fn round(value: f64) -> Value {
    json!((value * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_interval_brackets_the_median_and_narrows_with_more_values() {
        let of = |n: u32| {
            let mut d = Distribution::default();
            for v in 1..=n {
                d.add(v as f64);
            }
            d.median_ci95().unwrap()
        };
        // 100 values 1..=100: ranks ⌊50 − 9.8⌋ = 40 and ⌈50 + 9.8⌉ = 60 (rounded outwards).
        assert_eq!(of(100), (40.0, 60.0));
        let (lo, hi) = of(10_000);
        assert!(lo < 5000.0 && hi > 5000.0 && (hi - lo) / 10_000.0 < 0.02, "{lo}..{hi}");
        assert_eq!(of(1), (1.0, 1.0));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(|v| v as f64).collect();
        let s = stats(&values).unwrap();
        assert_eq!((s.min, s.p50, s.p90, s.p99, s.max), (1.0, 50.0, 90.0, 99.0, 100.0));
        let one = stats(&[7.0]).unwrap();
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert!(stats(&[]).is_none());
    }

    #[test]
    fn the_histogram_keeps_percentiles_within_its_precision_in_bounded_memory() {
        let n = 200_000u64;
        let mut d = Distribution::default();
        // A spread of timings from 2.7 s to 7 s, like a failover's, in a scrambled order.
        let value = |i: u64| 2700.0 + ((i * 7919) % n) as f64 * 4300.0 / n as f64;
        for i in 0..n {
            d.add(value(i));
        }
        let s = d.stats().unwrap();
        let exact = |p: f64| 2700.0 + ((p / 100.0 * n as f64).ceil() - 1.0) * 4300.0 / n as f64;
        for (got, p) in [(s.p50, 50.0), (s.p90, 90.0), (s.p99, 99.0)] {
            let error = (got - exact(p)).abs() / exact(p);
            assert!(error < 0.0003, "p{p}: {got} vs {}", exact(p));
        }
        assert_eq!(
            (s.min, s.max, s.count),
            (2700.0, value((0..n).max_by(|a, b| value(*a).total_cmp(&value(*b))).unwrap()), n as usize)
        );
        // Two octaves of 4096 buckets at most, whatever the number of seeds.
        assert!(d.buckets.len() <= 2 * 4096 + 1, "{} buckets", d.buckets.len());
        assert!(d.exact.is_empty());
        assert!(bucket_key(-1.0) < bucket_key(0.0) && bucket_key(0.0) < bucket_key(1e-9));
    }
}
