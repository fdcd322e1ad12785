//! The regressions file: every seed that failed, appended as it fails, one JSON object per
//! line, in the manner of proptest's `proptest-regressions/`. `amqsim replay --failed FILE`
//! re-runs them all. Commit the file to keep its seeds as regression tests.

use crate::origin::{Invocation, Origin};
use serde_json::{json, Value};
use sim::Outcome;
use std::collections::BTreeSet;
use std::io::Write;

pub const DEFAULT_FILE: &str = "amqsim-regressions.jsonl";

const HEADER: &str = "# amqsim regressions: seeds that failed, one JSON object per line (scenario or \
scenario_file, seed, set, trace_hash, violations).\n# Re-run them with `amqsim replay --failed <this file>`; \
commit the file to keep them as regression tests.\n";

/// One failing seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub invocation: Invocation,
    pub seed: u64,
    pub trace_hash: u64,
    pub violations: Vec<String>,
}

impl Entry {
    /// The entry for a failing outcome. A scenario file is recorded by its absolute path, so
    /// `replay --failed` works from any directory.
    pub fn of(invocation: &Invocation, outcome: &Outcome) -> Entry {
        let mut invocation = invocation.clone();
        if let Origin::File(path) = &invocation.origin {
            if let Ok(absolute) = std::fs::canonicalize(path) {
                invocation.origin = Origin::File(absolute.to_string_lossy().into_owned());
            }
        }
        Entry {
            invocation,
            seed: outcome.seed,
            trace_hash: outcome.trace_hash,
            violations: outcome.violations.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn key(&self) -> (Origin, Vec<String>, u64) {
        (self.invocation.origin.clone(), self.invocation.sets.clone(), self.seed)
    }

    fn to_json(&self) -> Value {
        let (scenario, file) = match &self.invocation.origin {
            Origin::Builtin(name) => (Value::from(name.as_str()), Value::Null),
            Origin::File(path) => (Value::Null, Value::from(path.as_str())),
        };
        json!({
            "scenario": scenario,
            "scenario_file": file,
            "seed": self.seed,
            "set": self.invocation.sets,
            "trace_hash": format!("{:016x}", self.trace_hash),
            "violations": self.violations,
        })
    }

    fn from_json(value: &Value) -> Option<Entry> {
        let origin = match (value["scenario"].as_str(), value["scenario_file"].as_str()) {
            (Some(name), None) => Origin::Builtin(name.to_string()),
            (None, Some(path)) => Origin::File(path.to_string()),
            _ => return None,
        };
        let sets =
            value["set"].as_array()?.iter().map(|s| s.as_str().map(String::from)).collect::<Option<_>>()?;
        let trace_hash = u64::from_str_radix(value["trace_hash"].as_str()?, 16).ok()?;
        let violations = value["violations"]
            .as_array()?
            .iter()
            .map(|s| s.as_str().map(String::from))
            .collect::<Option<_>>()?;
        Some(Entry {
            invocation: Invocation { origin, sets },
            seed: value["seed"].as_u64()?,
            trace_hash,
            violations,
        })
    }
}

/// Reads a regressions file; an error names the file and the line.
pub fn read(path: &str) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{path}: cannot read the regressions file: {e}"))?;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let entry = serde_json::from_str::<Value>(line).ok().and_then(|v| Entry::from_json(&v)).ok_or_else(|| {
            format!(
                "{path}: line {}: expected a JSON object with scenario or scenario_file, seed, set, trace_hash and violations",
                i + 1
            )
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// New entries one run appends at most: the file (and the set that keeps entries unique) stay
/// bounded when every seed of a huge range fails; `--out` still lists every seed.
pub const APPENDED_MAX: usize = 10_000;

/// Appends failing seeds to a regressions file, once each.
pub struct Appender {
    path: String,
    known: BTreeSet<(Origin, Vec<String>, u64)>,
    appended: usize,
}

impl Appender {
    /// Opens (or will create) `path`; entries already in it are not appended again.
    pub fn open(path: &str) -> Result<Appender, String> {
        let known = match std::fs::metadata(path) {
            Ok(_) => read(path)?.iter().map(Entry::key).collect(),
            Err(_) => BTreeSet::new(),
        };
        Ok(Appender { path: path.to_string(), known, appended: 0 })
    }

    /// Appends `entry` unless the file has it; `Ok(false)` once the run's cap is reached.
    pub fn append(&mut self, entry: &Entry) -> Result<bool, String> {
        if self.appended >= APPENDED_MAX {
            return Ok(false);
        }
        if !self.known.insert(entry.key()) {
            return Ok(true);
        }
        self.appended += 1;
        let fresh = std::fs::metadata(&self.path).map(|m| m.len() == 0).unwrap_or(true);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("{}: cannot write the regressions file: {e}", self.path))?;
        let mut text = if fresh { HEADER.to_string() } else { String::new() };
        text.push_str(&entry.to_json().to_string());
        text.push('\n');
        file.write_all(text.as_bytes())
            .map_err(|e| format!("{}: cannot write the regressions file: {e}", self.path))?;
        Ok(true)
    }
}
