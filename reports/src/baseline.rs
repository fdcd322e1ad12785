//! `amqsim report --baseline OLD/summary.json`: which timings and counts moved beyond their
//! noise band since an earlier report, so a change of settings or of the model is reviewed at
//! a glance.
//!
//! Noise bands (docs/report.md): a timing moved when the 95 % confidence intervals of its
//! median (`p50_ci95`, distribution-free) in the two reports do not overlap and the median
//! moved by more than 1 % (at least 0.5 ms); a count (summed
//! over seeds, scaled by the ratio of seed counts) moved when it differs from the baseline by
//! more than max(3·√(expected + 1), 10 % of expected) — or at all, for the counts that should
//! be zero (lost, unexpected, duplicated, stuck, failed seeds), when one side is zero and the
//! other is not.

use serde_json::Value;
use std::collections::BTreeMap;

/// Counts whose appearance (from zero) or disappearance always matters.
const ZERO_PROMISES: [&str; 5] = ["failed_seeds", "lost", "unexpected", "duplicated", "stuck"];

#[derive(Debug, Clone, Default, PartialEq)]
struct Entry {
    seeds: u64,
    /// Timing → (p50, its 95 % interval).
    timings: BTreeMap<String, (f64, (f64, f64))>,
    counts: BTreeMap<String, u64>,
}

/// An earlier report's `summary.json`, by scenario and sweep point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// The path as given (printed, and kept in the new `summary.json`).
    pub path: String,
    entries: BTreeMap<String, Entry>,
}

/// One timing or count that moved beyond its noise band.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    /// The scenario's title as the report shows it (`master-crash`, `master-crash [sync=local_disk]`).
    pub scenario: String,
    /// `timing fault_to_serving_ms p50`, `count lost`.
    pub what: String,
    pub old: f64,
    pub new: f64,
    /// The band it left, in words.
    pub band: String,
}

impl Moved {
    /// ▲ up, ▼ down, ◆ appeared, disappeared or not comparable.
    pub fn arrow(&self) -> &'static str {
        match (self.old.is_nan(), self.new.is_nan()) {
            (false, false) if self.new > self.old => "▲",
            (false, false) => "▼",
            _ => "◆",
        }
    }

    /// A value as printed: `–` when there is none.
    pub fn shown(value: f64) -> String {
        if value.is_nan() {
            "–".to_string()
        } else {
            format!("{value:.1}")
        }
    }
}

/// The scenario's key: its name and its sweep point's `k=v` in name order (JSON objects are
/// ordered by key).
pub fn key(scenario: &str, point: &[(String, String)]) -> String {
    let mut pairs: Vec<String> = point.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    match pairs.is_empty() {
        true => scenario.to_string(),
        false => format!("{scenario} [{}]", pairs.join(" ")),
    }
}

fn field<'a>(path: &str, value: &'a Value, name: &str, at: &str) -> Result<&'a Value, String> {
    value
        .get(name)
        .ok_or_else(|| format!("{path}: {at}.{name}: missing (expected an amqsim report's summary.json)"))
}

impl Baseline {
    /// Reads a `summary.json`; a malformed one is a one-line error naming the file and field.
    pub fn parse(path: &str, text: &str) -> Result<Baseline, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| {
            format!("{path}: not JSON ({e}); expected a summary.json written by amqsim report")
        })?;
        let schema = field(path, &root, "schema", "")?.as_str().unwrap_or("");
        if schema != crate::report::SCHEMA {
            return Err(format!("{path}: schema: expected \"{}\", got {schema:?}", crate::report::SCHEMA));
        }
        let scenarios = field(path, &root, "scenarios", "")?
            .as_array()
            .ok_or_else(|| format!("{path}: scenarios: expected an array"))?;
        let mut entries = BTreeMap::new();
        for (i, s) in scenarios.iter().enumerate() {
            let at = format!("scenarios[{i}]");
            let name = field(path, s, "scenario", &at)?
                .as_str()
                .ok_or_else(|| format!("{path}: {at}.scenario: expected a string"))?;
            let point: Vec<(String, String)> = match s.get("sweep_point").and_then(|p| p.as_object()) {
                Some(p) => {
                    p.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
                }
                None => Vec::new(),
            };
            let number = |v: &Value, what: &str| {
                v.as_f64()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| format!("{path}: {at}.{what}: expected a number"))
            };
            let seeds = number(field(path, s, "seeds", &at)?, "seeds")? as u64;
            let mut entry = Entry { seeds, ..Default::default() };
            let timings = field(path, s, "timings_ms", &at)?
                .as_object()
                .ok_or_else(|| format!("{path}: {at}.timings_ms: expected an object"))?;
            for (name, stats) in timings {
                let p50 = number(
                    field(path, stats, "p50", &format!("{at}.timings_ms.{name}"))?,
                    &format!("timings_ms.{name}.p50"),
                )?;
                let ci = match stats.get("p50_ci95").and_then(|c| c.as_array()) {
                    Some(c) if c.len() == 2 => (number(&c[0], "p50_ci95")?, number(&c[1], "p50_ci95")?),
                    _ => (p50, p50),
                };
                entry.timings.insert(name.clone(), (p50, ci));
            }
            if let Some(counts) = s.get("counts").and_then(|c| c.as_object()) {
                for (name, n) in counts {
                    entry.counts.insert(name.clone(), number(n, &format!("counts.{name}"))? as u64);
                }
            }
            entry
                .counts
                .insert("failed_seeds".into(), number(field(path, s, "failed", &at)?, "failed")? as u64);
            entries.insert(key(name, &point), entry);
        }
        Ok(Baseline { path: path.to_string(), entries })
    }

    /// What moved in `scenario` (its key, its seeds, timings as (p50, interval), counts).
    pub fn compare(
        &self,
        scenario_key: &str,
        title: &str,
        seeds: u64,
        timings: &BTreeMap<String, (f64, (f64, f64))>,
        counts: &BTreeMap<String, u64>,
    ) -> Vec<Moved> {
        let mut moved = Vec::new();
        let mut push = |what: String, old: f64, new: f64, band: String| {
            moved.push(Moved { scenario: title.to_string(), what, old, new, band });
        };
        let Some(old) = self.entries.get(scenario_key) else {
            push("scenario".into(), f64::NAN, f64::NAN, "not in the baseline: nothing compared".into());
            return moved;
        };
        for (name, (p50, (lo, hi))) in timings {
            let Some((old_p50, (old_lo, old_hi))) = old.timings.get(name) else {
                push(format!("timing {name} p50"), f64::NAN, *p50, "not measured in the baseline".into());
                continue;
            };
            // Disjoint intervals, and a change big enough to matter (1 %, at least 0.5 ms):
            // a 1.4 → 1.38 ms latency can be certain and still be no news.
            let matters = (p50 - old_p50).abs() > (0.01 * old_p50.abs()).max(0.5);
            if (*hi < *old_lo || *lo > *old_hi) && matters {
                push(
                    format!("timing {name} p50"),
                    *old_p50,
                    *p50,
                    format!("95 % intervals of the median {old_lo:.1}..{old_hi:.1} → {lo:.1}..{hi:.1} ms do not overlap"),
                );
            }
        }
        for name in old.timings.keys().filter(|n| !timings.contains_key(*n)) {
            push(format!("timing {name} p50"), old.timings[name].0, f64::NAN, "no longer measured".into());
        }
        let ratio = seeds as f64 / old.seeds.max(1) as f64;
        for (name, n) in counts {
            let before = old.counts.get(name).copied().unwrap_or(0);
            let expected = before as f64 * ratio;
            let new = *n as f64;
            let band = (3.0 * (expected + 1.0).sqrt()).max(0.1 * expected);
            let zero_flip = ZERO_PROMISES.contains(&name.as_str()) && ((before == 0) != (*n == 0));
            if zero_flip || (new - expected).abs() > band {
                let why = match zero_flip {
                    true => "was zero, or is now".to_string(),
                    false => format!("expected {expected:.0} ± {band:.0} for {seeds} seeds"),
                };
                push(format!("count {name}"), before as f64, new, why);
            }
        }
        moved
    }
}
