//! Runs one scenario over a range of seeds on `jobs` worker threads and hands the outcomes to
//! the caller **in seed order**, as they finish, so a batch's memory does not grow with the
//! number of seeds: workers run at most [`WINDOW_PER_JOB`] seeds per job ahead of the oldest
//! unfinished one. Each seed still runs in its own fresh thread and madsim runtime, so results do
//! not depend on the number of jobs.

use sim::{run, Outcome, RunOptions, Spec};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};

/// How far (in seeds per worker) the workers may run ahead of the seed handed out next.
pub const WINDOW_PER_JOB: u64 = 16;

/// Runs every seed of `seeds` (until `stop` is set) and calls `sink` once per finished seed, in
/// seed order, on the calling thread. Returns the number of seeds handed to `sink`: all of them
/// unless stopped, then a prefix (runs in progress are cancelled and dropped).
pub fn stream_seeds(
    spec: &Spec,
    seeds: Range<u64>,
    jobs: usize,
    stop: &Arc<AtomicBool>,
    sink: &mut dyn FnMut(Outcome),
) -> u64 {
    let cancel = Some(stop.clone());
    assert!(jobs > 0);
    assert!(seeds.start < seeds.end, "an empty seed range");
    let window = WINDOW_PER_JOB * jobs as u64;
    let next = AtomicU64::new(seeds.start);
    // The first seed not yet handed to the sink; workers wait while they are a window ahead.
    let emitted = Mutex::new(seeds.start);
    let moved = Condvar::new();
    let (sender, receiver) = mpsc::channel::<Outcome>();
    let mut handed = 0;
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let cancel = cancel.clone();
            let (next, emitted, moved) = (&next, &emitted, &moved);
            scope.spawn(move || loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                // Never increments past `end`, so a range ending at u64::MAX cannot wrap.
                let taken =
                    next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| (s < seeds.end).then(|| s + 1));
                let Ok(seed) = taken else { return };
                {
                    let mut first = emitted.lock().expect("no poisoned lock");
                    while seed - *first >= window && !stop.load(Ordering::SeqCst) {
                        // A timeout, so a stop is seen even when no outcome arrives to wake us.
                        let tick = std::time::Duration::from_millis(50);
                        first = moved.wait_timeout(first, tick).expect("no poisoned lock").0;
                    }
                }
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let options = RunOptions { cancel: cancel.clone(), ..Default::default() };
                let outcome = run(spec, seed, options);
                if outcome.interrupted || sender.send(outcome).is_err() {
                    return;
                }
            });
        }
        drop(sender);
        let mut waiting: BTreeMap<u64, Outcome> = BTreeMap::new();
        let mut first = seeds.start;
        for outcome in receiver.iter() {
            waiting.insert(outcome.seed, outcome);
            while let Some(outcome) = waiting.remove(&first) {
                sink(outcome);
                handed += 1;
                first = first.saturating_add(1);
                *emitted.lock().expect("no poisoned lock") = first;
                moved.notify_all();
            }
        }
        // Stopped: seeds after a gap finished but cannot be reported in order; they are dropped.
        assert!(waiting.is_empty() || stop.load(Ordering::SeqCst), "a seed went missing");
    });
    handed
}

/// Runs every seed of `seeds` and returns the outcomes in seed order (for tests and small
/// batches; the CLI streams).
pub fn run_seeds(
    spec: &Spec,
    seeds: Range<u64>,
    jobs: usize,
    progress: &(dyn Fn(&Outcome) + Sync),
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let never = Arc::new(AtomicBool::new(false));
    stream_seeds(spec, seeds, jobs, &never, &mut |outcome| {
        progress(&outcome);
        outcomes.push(outcome);
    });
    outcomes
}

/// Parses `A..B` (B exclusive, A < B) or a single seed `N`.
pub fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let bad = || {
        format!(
            "--seeds: expected A..B with A < B <= {} (e.g. 0..100) or a single seed, got `{text}`",
            u64::MAX
        )
    };
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
        assert!(parse_seeds("-1..3").is_err());
        assert!(parse_seeds("0..18446744073709551616").is_err(), "past u64::MAX");
        assert!(parse_seeds("18446744073709551615").is_err(), "its range would end past u64::MAX");
        assert!(parse_seeds("9..3").unwrap_err().contains("A..B"));
        assert_eq!(parse_seeds("0..18446744073709551615"), Ok(0..u64::MAX));
    }
}
