//! Runs one scenario over a range of seeds on `jobs` worker threads. Each seed still runs in its
//! own fresh thread and madsim runtime, so results do not depend on the number of jobs.

use sim::{run, Outcome, RunOptions, Spec};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Runs every seed of `seeds`; `progress` is called once per finished seed. Outcomes are returned
/// in seed order.
pub fn run_seeds(
    spec: &Spec,
    seeds: Range<u64>,
    jobs: usize,
    progress: &(dyn Fn(&Outcome) + Sync),
) -> Vec<Outcome> {
    assert!(jobs > 0);
    let next = AtomicU64::new(seeds.start);
    let outcomes = Mutex::new(Vec::with_capacity((seeds.end - seeds.start) as usize));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.end {
                    return;
                }
                let outcome = run(spec, seed, RunOptions::default());
                progress(&outcome);
                outcomes.lock().expect("no poisoned lock").push(outcome);
            });
        }
    });
    let mut outcomes = outcomes.into_inner().expect("no poisoned lock");
    outcomes.sort_by_key(|o| o.seed);
    outcomes
}

/// Parses `A..B` (B exclusive, A < B) or a single seed `N`.
pub fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let bad = || format!("--seeds: expected A..B with A < B (e.g. 0..100) or a single seed, got `{text}`");
    if let Some((a, b)) = text.split_once("..") {
        let a: u64 = a.trim().parse().map_err(|_| bad())?;
        let b: u64 = b.trim().parse().map_err(|_| bad())?;
        if a >= b {
            return Err(bad());
        }
        return Ok(a..b);
    }
    let n: u64 = text.trim().parse().map_err(|_| bad())?;
    n.checked_add(1).map(|end| n..end).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges() {
        assert_eq!(parse_seeds("0..500"), Ok(0..500));
        assert_eq!(parse_seeds("7"), Ok(7..8));
        assert!(parse_seeds("5..5").is_err());
        assert!(parse_seeds("a..b").is_err());
        assert!(parse_seeds("9..3").unwrap_err().contains("A..B"));
    }
}
