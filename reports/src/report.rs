//! `amqsim report`: a directory with `summary.json` (schema [`SCHEMA`], docs/report.md),
//! `summary.md`, `junit.xml` and one self-contained `index.html` (inline SVG charts, no
//! request leaves the file). Everything but the `wall_clock` section is a pure function of the
//! scenarios, settings and seeds: the same seeds write the same bytes.

use crate::baseline::{self, Baseline, Moved};
use crate::{charts, Summary, FAILING_LISTED_MAX};
use serde_json::{json, Map, Value};
use sim::timeline::Timeline;
use sim::Outcome;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

/// The version of `summary.json`'s layout; a change of meaning or a removed key bumps it.
pub const SCHEMA: &str = "amqsim-report/1";

/// Timings that pick a scenario's representative seed, in order of preference: the seed whose
/// value is nearest the median is the one the report draws.
const KEY_TIMINGS: [&str; 5] = [
    "fault_to_client_reconnect_ms",
    "no_master_ms",
    "bridge_outage_ms:group1->group2",
    "fault_to_zk_leader_ms",
    "fault_to_serving_ms",
];

/// One seed re-run with its time series, to draw.
#[derive(Debug, Clone)]
pub struct Representative {
    pub seed: u64,
    pub replay: String,
    /// Why this seed: `median fault_to_client_reconnect_ms (5123.5 ms)`, or the first seed.
    pub why: String,
    pub timeline: Timeline,
}

/// One scenario of the report: its summary over seeds and the seed it draws.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub summary: Summary,
    pub description: String,
    /// Each seed's value of each key timing, to choose the representative seed.
    key_values: Vec<(u64, usize, f64)>,
    first_seed: Option<u64>,
    pub representative: Option<Representative>,
    /// The swept settings' values this batch ran with (empty without `--sweep`).
    pub point: Vec<(String, String)>,
    /// The configured back-off of the scenario's first connector: the wait before attempt k
    /// (k = 1, 2, …), ms, for the chart of measured waits against it.
    pub backoff_curve: Vec<f64>,
    /// Each catch-up of a restarted slave: (MB downloaded, ms to catch up), at most
    /// `CATCH_UPS_MAX`.
    pub catch_ups: Vec<(f64, f64)>,
    /// The failover phases after each fault step (each up to the next one), by step and
    /// phase, over seeds: `(step, group)` in the order the steps fired.
    pub per_fault: Vec<(FaultStep, BTreeMap<&'static str, crate::Distribution>)>,
}

/// A fault step, the group (or ensemble) it hit and the process it acted on (`None`: no
/// single process, e.g. a partition, or not the same one in every seed).
pub type FaultStep = (String, Option<u32>, Option<String>);

/// Catch-ups kept for the chart.
const CATCH_UPS_MAX: usize = 5000;

impl ScenarioReport {
    pub fn new(summary: Summary, description: &str) -> ScenarioReport {
        ScenarioReport {
            summary,
            description: description.to_string(),
            key_values: Vec::new(),
            first_seed: None,
            representative: None,
            point: Vec::new(),
            backoff_curve: Vec::new(),
            catch_ups: Vec::new(),
            per_fault: Vec::new(),
        }
    }

    /// `zk_session_timeout_ms=1000 sync=quorum_mem`, or empty.
    pub fn point_label(&self) -> String {
        self.point.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }

    /// The scenario's name, with its sweep point.
    pub fn title(&self) -> String {
        match self.point.is_empty() {
            true => self.summary.scenario.clone(),
            false => format!("{} [{}]", self.summary.scenario, self.point_label()),
        }
    }

    /// An HTML id: the title with everything but letters, digits and `-` as `_`.
    pub fn anchor(&self) -> String {
        self.title().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
    }

    /// Folds one seed in.
    pub fn add(&mut self, outcome: &Outcome, replay: impl FnOnce() -> String) {
        self.summary.add(outcome, replay);
        self.first_seed.get_or_insert(outcome.seed);
        for f in &outcome.measurements.per_fault {
            // By step: a random target differs between seeds, so it is kept only while every
            // seed agrees on it.
            let i = match self
                .per_fault
                .iter()
                .position(|((step, group, _), _)| *step == f.step && *group == f.group)
            {
                Some(i) => i,
                None => {
                    self.per_fault.push(((f.step.clone(), f.group, f.target.clone()), BTreeMap::new()));
                    self.per_fault.len() - 1
                }
            };
            if self.per_fault[i].0 .2 != f.target {
                self.per_fault[i].0 .2 = None;
            }
            for (name, value) in f.phases() {
                if let Some(v) = value {
                    self.per_fault[i].1.entry(name).or_default().add(v);
                }
            }
        }
        for c in &outcome.measurements.catch_up {
            if self.catch_ups.len() < CATCH_UPS_MAX {
                self.catch_ups.push((c.transfer_mb, c.ms));
            }
        }
        for (k, name) in KEY_TIMINGS.iter().enumerate() {
            if let Some(v) = outcome.timings_ms.get(*name) {
                self.key_values.push((outcome.seed, k, *v));
            }
        }
    }

    /// The seed to draw: nearest the median of the first key timing the scenario measures
    /// (the lower seed on a tie), else its first seed; and why.
    pub fn representative_seed(&self) -> Option<(u64, String)> {
        let Some(k) = (0..KEY_TIMINGS.len()).find(|k| self.key_values.iter().any(|(_, kk, _)| kk == k))
        else {
            return self
                .first_seed
                .map(|s| (s, "the first seed (no failover timing to choose by)".to_string()));
        };
        let mut values: Vec<(u64, f64)> =
            self.key_values.iter().filter(|(_, kk, _)| *kk == k).map(|(s, _, v)| (*s, *v)).collect();
        values.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let median = values[(values.len() - 1) / 2].1;
        let (seed, v) = values
            .iter()
            .min_by(|a, b| (a.1 - median).abs().total_cmp(&(b.1 - median).abs()).then(a.0.cmp(&b.0)))
            .copied()?;
        Some((seed, format!("median {} ({v:.1} ms)", KEY_TIMINGS[k])))
    }
}

/// Wall-clock facts: the only part of a report that differs between two runs of it.
#[derive(Debug, Clone, Default)]
pub struct WallClock {
    pub total_s: f64,
    pub peak_rss_mb: Option<f64>,
    pub jobs: usize,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub version: String,
    pub seeds: Range<u64>,
    pub overrides: Vec<String>,
    /// `--sweep`: each setting and its values (the scenarios run at every combination).
    pub sweep: Vec<(String, Vec<String>)>,
    /// Interrupted before every seed ran.
    pub partial: bool,
    pub scenarios: Vec<ScenarioReport>,
    /// `--baseline`: the earlier report to compare with.
    pub baseline: Option<Baseline>,
    pub wall: WallClock,
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1} s", v / 1000.0)
    } else {
        format!("{v:.1} ms")
    }
}

impl Report {
    /// Every timing and count that moved beyond its noise band since the baseline.
    pub fn moved(&self) -> Vec<Moved> {
        let Some(base) = &self.baseline else { return Vec::new() };
        let mut moved = Vec::new();
        for s in &self.scenarios {
            let m = &s.summary;
            let timings: BTreeMap<String, (f64, (f64, f64))> = m
                .timings
                .iter()
                .filter_map(|(name, d)| Some((name.clone(), (d.stats()?.p50, d.median_ci95()?))))
                .collect();
            let mut counts = m.counts.clone();
            counts.insert("failed_seeds".into(), m.failed());
            moved.extend(base.compare(
                &baseline::key(&m.scenario, &s.point),
                &s.title(),
                m.seeds,
                &timings,
                &counts,
            ));
        }
        moved
    }

    fn totals(&self) -> (u64, u64, u64) {
        let seeds: u64 = self.scenarios.iter().map(|s| s.summary.seeds).sum();
        let failed: u64 = self.scenarios.iter().map(|s| s.summary.failed()).sum();
        (seeds, seeds - failed, failed)
    }

    /// `summary.json`: stable keys (docs/report.md); `wall_clock` holds all that is not
    /// reproducible.
    pub fn summary_json(&self) -> Value {
        let (seeds, passed, failed) = self.totals();
        let mut performance = Map::new();
        let scenarios: Vec<Value> = self
            .scenarios
            .iter()
            .map(|s| {
                let mut entry = s.summary.to_json();
                let object = entry.as_object_mut().expect("an object");
                if let Some(timings) = object.get_mut("timings_ms").and_then(|t| t.as_object_mut()) {
                    for (name, stats) in timings.iter_mut() {
                        let ci = s.summary.timings.get(name).and_then(|d| d.median_ci95());
                        if let (Some((lo, hi)), Some(stats)) = (ci, stats.as_object_mut()) {
                            let round = |v: f64| (v * 1000.0).round() / 1000.0;
                            stats.insert("p50_ci95".into(), json!([round(lo), round(hi)]));
                        }
                    }
                }
                if let Some(p) = object.remove("performance") {
                    performance.insert(s.title(), p);
                }
                object.insert("description".into(), json!(s.description));
                let per_fault: Vec<Value> = s
                    .per_fault
                    .iter()
                    .map(|((step, group, target), phases)| {
                        let phases: Map<String, Value> = phases
                            .iter()
                            .filter_map(|(name, d)| {
                                let st = d.stats()?;
                                let r = |v: f64| (v * 1000.0).round() / 1000.0;
                                Some((name.to_string(), json!({"count": st.count, "p50": r(st.p50), "p99": r(st.p99), "max": r(st.max)})))
                            })
                            .collect();
                        json!({"step": step, "group": group, "target": target, "phases_ms": phases})
                    })
                    .collect();
                object.insert("per_fault".into(), json!(per_fault));
                let point: Map<String, Value> = s.point.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                object.insert("sweep_point".into(), Value::Object(point));
                object.insert(
                    "representative_seed".into(),
                    match &s.representative {
                        Some(r) => json!({"seed": r.seed, "replay": r.replay, "why": r.why}),
                        None => Value::Null,
                    },
                );
                entry
            })
            .collect();
        json!({
            "schema": SCHEMA,
            "amqsim_version": self.version,
            "seed_range": {"start": self.seeds.start, "end": self.seeds.end},
            "overrides": self.overrides,
            "sweep": self.sweep.iter().map(|(k, v)| json!({"setting": k, "values": v})).collect::<Vec<_>>(),
            "partial": self.partial,
            "totals": {"scenarios": self.scenarios.len(), "seeds": seeds, "passed": passed, "failed": failed},
            "scenarios": scenarios,
            "baseline": match &self.baseline {
                None => Value::Null,
                Some(b) => json!({
                    "file": b.path,
                    "moved": self.moved().iter().map(|m| json!({
                        "scenario": m.scenario, "what": m.what, "old": m.old, "new": m.new, "band": m.band,
                    })).collect::<Vec<_>>(),
                }),
            },
            "wall_clock": {
                "total_s": (self.wall.total_s * 1000.0).round() / 1000.0,
                "peak_rss_mb": self.wall.peak_rss_mb,
                "jobs": self.wall.jobs,
                "scenarios": performance,
            },
        })
    }

    /// The short table the terminal shows.
    pub fn table(&self) -> Vec<String> {
        let width = self.scenarios.iter().map(|s| s.title().len()).max().unwrap_or(8).max(8);
        let mut lines = vec![format!(
            "{:<width$} {:>6} {:>6}  {:>12} {:>12}  {:>6} {:>6} {:>6}",
            "scenario", "seeds", "failed", "recovery p50", "recovery p99", "lost", "dlq", "stuck"
        )];
        for s in &self.scenarios {
            let sum = &s.summary;
            let key = KEY_TIMINGS.iter().find_map(|k| sum.timings.get(*k).and_then(|d| d.stats()));
            let (p50, p99) = key.map_or(("-".to_string(), "-".to_string()), |st| (ms(st.p50), ms(st.p99)));
            lines.push(format!(
                "{:<width$} {:>6} {:>6}  {:>12} {:>12}  {:>6} {:>6} {:>6}",
                s.title(),
                sum.seeds,
                sum.failed(),
                p50,
                p99,
                sum.count("lost"),
                sum.count("dlq"),
                sum.count("stuck")
            ));
        }
        lines
    }

    /// `summary.md`.
    pub fn markdown(&self) -> String {
        let (seeds, passed, failed) = self.totals();
        let mut md = String::new();
        let _ = writeln!(md, "# amqsim report\n");
        let _ = writeln!(
            md,
            "amqsim {}, seeds {}..{}{}: {} scenarios, {seeds} seeds, {passed} passed, {failed} failed{}.\n",
            self.version,
            self.seeds.start,
            self.seeds.end,
            if self.overrides.is_empty() {
                String::new()
            } else {
                format!(", --set {}", self.overrides.join(" --set "))
            },
            self.scenarios.len(),
            if self.partial { " (partial: interrupted)" } else { "" }
        );
        let _ = writeln!(md, "| scenario | seeds | passed | failed | lost | duplicated | dlq | stuck |");
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for s in &self.scenarios {
            let m = &s.summary;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                s.title(),
                m.seeds,
                m.passed,
                m.failed(),
                m.count("lost"),
                m.count("duplicated"),
                m.count("dlq"),
                m.count("stuck")
            );
        }
        for s in &self.scenarios {
            let m = &s.summary;
            let _ = writeln!(md, "\n## {}\n\n{}\n", s.title(), s.description);
            let _ = writeln!(md, "| timing | min | p50 | p90 | p99 | max |");
            let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
            for (name, d) in &m.timings {
                let Some(st) = d.stats() else { continue };
                let _ = writeln!(
                    md,
                    "| {name} | {} | {} | {} | {} | {} |",
                    ms(st.min),
                    ms(st.p50),
                    ms(st.p90),
                    ms(st.p99),
                    ms(st.max)
                );
            }
            if !m.failing.is_empty() {
                let _ = writeln!(md, "\nFailing seeds (first {FAILING_LISTED_MAX}):\n");
                for f in &m.failing {
                    let _ = writeln!(md, "- seed {}: {} — `{}`", f.seed, f.violations.join("; "), f.replay);
                }
            }
        }
        md
    }

    /// `junit.xml`: one test case per scenario (all its seeds), one per failing seed.
    pub fn junit(&self) -> String {
        // Totals are the suites' own: a failing scenario's case plus each listed failing seed.
        let tests: u64 = self.scenarios.iter().map(|s| 1 + s.summary.failing.len() as u64).sum();
        let failures: u64 = self
            .scenarios
            .iter()
            .filter(|s| s.summary.failed() > 0)
            .map(|s| 1 + s.summary.failing.len() as u64)
            .sum();
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(x, "<testsuites name=\"amqsim\" tests=\"{tests}\" failures=\"{failures}\">");
        for s in &self.scenarios {
            let m = &s.summary;
            let listed = m.failing.len() as u64;
            let _ = writeln!(
                x,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">",
                esc(&s.title()),
                1 + listed,
                if m.failed() > 0 { 1 + listed } else { 0 }
            );
            let _ = write!(
                x,
                "    <testcase classname=\"amqsim.{0}\" name=\"{0}: seeds {1}..{2}\"",
                esc(&s.title()),
                self.seeds.start,
                self.seeds.end
            );
            if m.failed() == 0 {
                let _ = writeln!(x, "/>");
            } else {
                let _ = writeln!(
                    x,
                    ">\n      <failure message=\"{} of {} seeds failed\"/>\n    </testcase>",
                    m.failed(),
                    m.seeds
                );
            }
            for f in &m.failing {
                let _ = writeln!(
                    x,
                    "    <testcase classname=\"amqsim.{}\" name=\"seed {}\">\n      <failure message=\"{}\">replay: {}</failure>\n    </testcase>",
                    esc(&s.title()),
                    f.seed,
                    esc(&f.violations.join("; ")),
                    esc(&f.replay)
                );
            }
            let _ = writeln!(x, "  </testsuite>");
        }
        x.push_str("</testsuites>\n");
        x
    }

    /// `index.html`: one file, inline SVG and CSS, no script, no request.
    pub fn html(&self) -> String {
        let (seeds, passed, failed) = self.totals();
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>amqsim report</title>\n<style>\
body{{font-family:sans-serif;margin:24px;max-width:1100px;color:#222}}table{{border-collapse:collapse;margin:8px 0}}\
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
.fail{{color:#b00;font-weight:bold}}.moved{{background:#fff3c4}}.pass{{color:#070}}figure{{margin:12px 0}}code{{background:#f4f4f4}}\
</style></head><body>\n"
        );
        let _ = writeln!(
            h,
            "<h1>amqsim report</h1>\n<p>amqsim {}, seeds {}..{}{} — {} scenarios, {seeds} seeds: <span class=\"pass\">{passed} passed</span>, <span class=\"{}\">{failed} failed</span>{}.</p>",
            esc(&self.version),
            self.seeds.start,
            self.seeds.end,
            if self.overrides.is_empty() { String::new() } else { format!(", <code>--set {}</code>", esc(&self.overrides.join(" --set "))) },
            self.scenarios.len(),
            if failed > 0 { "fail" } else { "pass" },
            if self.partial { " (partial: interrupted)" } else { "" }
        );
        h.push_str("<table><tr><th>scenario</th><th>seeds</th><th>failed</th><th>recovery p50</th><th>recovery p99</th><th>delivered/s</th><th>lost</th><th>duplicated</th><th>dlq</th><th>stuck</th></tr>\n");
        for s in &self.scenarios {
            let m = &s.summary;
            let key = KEY_TIMINGS.iter().find_map(|k| m.timings.get(*k).and_then(|d| d.stats()));
            let (p50, p99) = key.map_or(("–".into(), "–".into()), |st| (ms(st.p50), ms(st.p99)));
            let rate = m.count("delivered") as f64 / (m.simulated_ms as f64 / 1000.0).max(1e-9);
            let _ = writeln!(
                h,
                "<tr><td><a href=\"#{8}\">{0}</a></td><td>{1}</td><td class=\"{2}\">{3}</td><td>{p50}</td><td>{p99}</td><td>{rate:.1}</td><td>{4}</td><td>{5}</td><td>{6}</td><td>{7}</td></tr>",
                esc(&s.title()),
                m.seeds,
                if m.failed() > 0 { "fail" } else { "pass" },
                m.failed(),
                m.count("lost"),
                m.count("duplicated"),
                m.count("dlq"),
                m.count("stuck"),
                s.anchor()
            );
        }
        h.push_str("</table>\n<p>Recovery: the first the scenario measures of client reconnection, time without a master, bridge outage (group1 → group2), ZooKeeper leader, new master serving — after the measured fault.</p>\n");
        let summaries: Vec<(String, &Summary)> =
            self.scenarios.iter().map(|s| (s.title(), &s.summary)).collect();
        if let Some(svg) = charts::message_outcomes(&summaries) {
            let _ = writeln!(h, "<figure class=\"chart\" id=\"chart-outcomes\">{svg}</figure>");
        }
        let moved = self.moved();
        if let Some(base) = &self.baseline {
            let _ = writeln!(
                h,
                "<section id=\"baseline\"><h2>Compared with the baseline</h2><p><code>{}</code>: {} timings and counts moved beyond their noise band (docs/report.md).</p>",
                esc(&base.path),
                moved.len()
            );
            if !moved.is_empty() {
                h.push_str("<table><tr><th>scenario</th><th>what</th><th>baseline</th><th>now</th><th></th><th>band</th></tr>\n");
                for m in &moved {
                    let _ = writeln!(
                        h,
                        "<tr class=\"moved\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&m.scenario),
                        esc(&m.what),
                        Moved::shown(m.old),
                        Moved::shown(m.new),
                        m.arrow(),
                        esc(&m.band)
                    );
                }
                h.push_str("</table>\n");
            }
            h.push_str("</section>\n");
        }
        if !self.sweep.is_empty() {
            self.sweep_html(&mut h);
        }
        for s in &self.scenarios {
            self.scenario_html(&mut h, s, &moved);
        }
        let _ = writeln!(
            h,
            "<section id=\"wall-clock\"><h2>Wall clock</h2><p>{:.1} s on {} worker threads{}. Everything above this section is reproducible from the seeds.</p></section>",
            self.wall.total_s,
            self.wall.jobs,
            self.wall.peak_rss_mb.map_or(String::new(), |mb| format!(", peak memory {mb:.0} MB"))
        );
        h.push_str("</body></html>\n");
        h
    }

    fn scenario_html(&self, h: &mut String, s: &ScenarioReport, moved: &[Moved]) {
        let title = s.title();
        let mark = |what: String| {
            moved.iter().find(|m| m.scenario == title && m.what == what).map_or(String::new(), |m| {
                format!(" <span class=\"moved\" title=\"{}\">{} vs baseline</span>", esc(&m.band), m.arrow())
            })
        };
        let m = &s.summary;
        let _ = writeln!(
            h,
            "<section id=\"{}\"><h2>{}</h2><p>{}</p>",
            s.anchor(),
            esc(&s.title()),
            esc(&s.description)
        );
        let _ = writeln!(
            h,
            "<p>{} seeds, {} passed, {} failed. {}</p>",
            m.seeds,
            m.passed,
            m.failed(),
            esc(&m.loss_promise)
        );
        if let Some(svg) = charts::failover_cdf(m) {
            let _ = writeln!(h, "<figure class=\"chart\">{svg}</figure>");
        }
        if s.per_fault.len() > 1 {
            h.push_str("<table><tr><th>fault step (target)</th><th>phase</th><th>seeds</th><th>p50</th><th>p99</th><th>max</th></tr>\n");
            for ((step, group, target), phases) in &s.per_fault {
                let target = target
                    .clone()
                    .or_else(|| group.map(|g| format!("group {g}, varies")))
                    .unwrap_or("–".into());
                for (name, d) in phases {
                    let Some(st) = d.stats() else { continue };
                    let _ = writeln!(
                        h,
                        "<tr><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(step),
                        esc(&target),
                        name,
                        st.count,
                        ms(st.p50),
                        ms(st.p99),
                        ms(st.max)
                    );
                }
            }
            h.push_str("</table><p>Each fault step's phases are measured up to the next fault step.</p>\n");
        }
        if let Some(r) = &s.representative {
            let title = format!("seed {} ({}): timeline", r.seed, r.why);
            let _ = writeln!(h, "<figure class=\"chart\">{}</figure>", charts::timeline(&title, &r.timeline));
            if r.timeline.acked_per_s.iter().chain(&r.timeline.delivered_per_s).any(|n| *n > 0) {
                let title = format!("seed {}: throughput", r.seed);
                let _ = writeln!(
                    h,
                    "<figure class=\"chart\">{}</figure>",
                    charts::throughput(&title, &r.timeline)
                );
            }
            let _ = writeln!(h, "<p>Replay it: <code>{}</code></p>", esc(&r.replay));
        }
        if let Some(svg) = charts::backoff(&m.scenario, &m.timings, &s.backoff_curve) {
            let _ = writeln!(h, "<figure class=\"chart\">{svg}</figure>");
        }
        if let Some(svg) = charts::catch_up(&m.scenario, &s.catch_ups) {
            let _ = writeln!(h, "<figure class=\"chart\">{svg}</figure>");
        }
        h.push_str("<table><tr><th>timing</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>seeds</th></tr>\n");
        for (name, d) in &m.timings {
            let Some(st) = d.stats() else { continue };
            let _ = writeln!(
                h,
                "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                mark(format!("timing {name} p50")),
                ms(st.min),
                ms(st.p50),
                ms(st.p90),
                ms(st.p99),
                ms(st.max),
                st.count
            );
        }
        h.push_str("</table>\n");
        if !m.counts.is_empty() {
            h.push_str("<details><summary>message counts</summary><table>");
            for (name, n) in &m.counts {
                let _ =
                    write!(h, "<tr><td>{}{}</td><td>{n}</td></tr>", esc(name), mark(format!("count {name}")));
            }
            h.push_str("</table></details>\n");
        }
        h.push_str("<details><summary>settings</summary><table>");
        for (name, value) in &m.settings {
            let _ = write!(h, "<tr><td>{}</td><td>{}</td></tr>", esc(name), esc(&value.to_string()));
        }
        h.push_str("</table></details>\n");
        if !m.failing.is_empty() {
            h.push_str("<h3 class=\"fail\">Failing seeds</h3><ul>");
            for f in &m.failing {
                let _ = write!(
                    h,
                    "<li>seed {}: {} — <code>{}</code></li>",
                    f.seed,
                    esc(&f.violations.join("; ")),
                    esc(&f.replay)
                );
            }
            h.push_str("</ul>\n");
        }
        h.push_str("</section>\n");
    }

    /// The sweep: per scenario, each timing's p50 and p99 and the loss counts at every point,
    /// one column per point, and a chart of each timing against the point.
    fn sweep_html(&self, h: &mut String) {
        let names: Vec<String> = self.sweep.iter().map(|(k, _)| k.clone()).collect();
        let _ = writeln!(h, "<section id=\"sweep\"><h2>Sweep: {}</h2>", esc(&names.join(" × ")));
        let mut scenario_names: Vec<&str> = Vec::new();
        for s in &self.scenarios {
            if !scenario_names.contains(&s.summary.scenario.as_str()) {
                scenario_names.push(&s.summary.scenario);
            }
        }
        for name in scenario_names {
            let points: Vec<&ScenarioReport> =
                self.scenarios.iter().filter(|s| s.summary.scenario == name).collect();
            let labels: Vec<String> = points.iter().map(|p| p.point_label()).collect();
            let _ = writeln!(h, "<h3>{}</h3><table><tr><th></th>", esc(name));
            for l in &labels {
                let _ = write!(h, "<th>{}</th>", esc(l));
            }
            h.push_str("</tr>\n");
            let mut timings: Vec<&str> = Vec::new();
            for p in &points {
                for t in p.summary.timings.keys() {
                    if !timings.contains(&t.as_str())
                        && !t.starts_with("latency_")
                        && !t.starts_with("bridge_wait_ms")
                    {
                        timings.push(t);
                    }
                }
            }
            let mut series = Vec::new();
            for t in &timings {
                let stats: Vec<Option<crate::Stats>> =
                    points.iter().map(|p| p.summary.timings.get(*t).and_then(|d| d.stats())).collect();
                for (q, pick) in [("p50", 0), ("p99", 1)] {
                    let _ = write!(h, "<tr><td>{} {q}</td>", esc(t));
                    for st in &stats {
                        let v = st.as_ref().map(|st| if pick == 0 { st.p50 } else { st.p99 });
                        let _ = write!(h, "<td>{}</td>", v.map_or("–".to_string(), ms));
                    }
                    h.push_str("</tr>\n");
                }
                series.push((
                    t.to_string(),
                    stats.iter().map(|st| st.as_ref().map(|st| st.p50)).collect::<Vec<_>>(),
                ));
            }
            for count in ["failed", "lost", "duplicated", "dlq", "stuck"] {
                let _ = write!(h, "<tr><td>{count}</td>");
                for p in &points {
                    let n = if count == "failed" { p.summary.failed() } else { p.summary.count(count) };
                    let _ = write!(h, "<td>{n}</td>");
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table>\n");
            if let Some(svg) = charts::sweep(name, &labels, &series) {
                let _ = writeln!(h, "<figure class=\"chart\">{svg}</figure>");
            }
        }
        h.push_str("</section>\n");
    }

    /// Writes the four files into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(&self.summary_json()).expect("json") + "\n";
        std::fs::write(dir.join("summary.json"), json)?;
        std::fs::write(dir.join("summary.md"), self.markdown())?;
        std::fs::write(dir.join("junit.xml"), self.junit())?;
        std::fs::write(dir.join("index.html"), self.html())?;
        Ok(())
    }
}
