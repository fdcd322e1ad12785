//! `amqsim`: list scenarios, run them over many seeds, replay one seed with its full trace.
//!
//! Exit codes: 0 every seed passed, 1 some seed failed, 2 bad input (one line on stderr).

use anyhow::Result;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use scenarios::{batch, builtin, format};
use sim::{run, RunOptions, Spec};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "amqsim", about = "Deterministic simulator of ActiveMQ master-slave + broker clusters")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the built-in scenarios.
    List,
    /// Run a scenario (or `all`) over a range of seeds.
    Run {
        /// A built-in scenario name, or `all`. Omit with --scenario-file.
        scenario: Option<String>,
        /// Run the scenario described by this TOML file (docs/scenarios.md).
        #[arg(long)]
        scenario_file: Option<String>,
        /// Seeds `A..B` (B exclusive) or one seed `N`.
        #[arg(long, default_value = "0..100")]
        seeds: String,
        /// Worker threads.
        #[arg(long, default_value_t = default_jobs())]
        jobs: usize,
        /// Print one JSON summary instead of text.
        #[arg(long)]
        json: bool,
        /// Change a setting without editing a file, e.g. `--set sync=quorum_disk` (repeatable).
        #[arg(long = "set", value_name = "SETTING=VALUE")]
        set: Vec<String>,
    },
    /// Re-run one seed and print its full trace, ending with `trace hash: <hex>`.
    Replay {
        scenario: Option<String>,
        #[arg(long)]
        scenario_file: Option<String>,
        #[arg(long)]
        seed: String,
        /// Change a setting, as for `run`.
        #[arg(long = "set", value_name = "SETTING=VALUE")]
        set: Vec<String>,
    },
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// A bad-input error: printed as one line, exit code 2.
struct Usage(String);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help and --version.
            print!("{error}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            // clap explains over several lines; keep the first, which names the argument.
            let text = error.render().to_string();
            let first = text.lines().next().unwrap_or("bad arguments").trim_start_matches("error: ");
            eprintln!("error: {first} (see amqsim --help)");
            return ExitCode::from(2);
        }
    };
    match execute(cli.command) {
        Ok(code) => code,
        Err(Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn execute(command: Command) -> Result<ExitCode, Usage> {
    match command {
        Command::List => {
            for spec in builtin::all() {
                println!("{:<22} {}", spec.name, spec.description);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { scenario, scenario_file, seeds, jobs, json, set } => {
            let specs = load(scenario.as_deref(), scenario_file.as_deref(), true, &set)?;
            let seeds = batch::parse_seeds(&seeds).map_err(Usage)?;
            if jobs == 0 {
                return Err(Usage("--jobs: expected a positive number of worker threads, got 0".into()));
            }
            run_batches(&specs, seeds, jobs, json, scenario_file.as_deref()).map_err(|e| Usage(e.to_string()))
        }
        Command::Replay { scenario, scenario_file, seed, set } => {
            let specs = load(scenario.as_deref(), scenario_file.as_deref(), false, &set)?;
            let seed: u64 = seed
                .parse()
                .map_err(|_| Usage(format!("--seed: expected a non-negative integer, got `{seed}`")))?;
            Ok(replay(&specs[0], seed))
        }
    }
}

fn load(
    scenario: Option<&str>,
    file: Option<&str>,
    allow_all: bool,
    set: &[String],
) -> Result<Vec<Spec>, Usage> {
    let mut specs = load_files(scenario, file, allow_all)?;
    for spec in &mut specs {
        for assignment in set {
            format::apply_override(spec, assignment).map_err(|e| Usage(e.to_string()))?;
        }
    }
    Ok(specs)
}

fn load_files(scenario: Option<&str>, file: Option<&str>, allow_all: bool) -> Result<Vec<Spec>, Usage> {
    match (scenario, file) {
        (Some(_), Some(_)) => Err(Usage("give a scenario name or --scenario-file, not both".into())),
        (None, None) => {
            Err(Usage("expected a scenario name (see `amqsim list`) or --scenario-file F".into()))
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Usage(format!("{path}: cannot read the scenario file: {e}")))?;
            Ok(vec![format::parse(path, &text).map_err(|e| Usage(e.to_string()))?])
        }
        (Some("all"), None) if allow_all => Ok(builtin::all()),
        (Some(name), None) => Ok(vec![builtin::named(name).map_err(|e| Usage(e.to_string()))?]),
    }
}

#[allow(clippy::disallowed_methods)] // Wall time of the batch, measured outside every simulation.
fn run_batches(
    specs: &[Spec],
    seeds: std::ops::Range<u64>,
    jobs: usize,
    json: bool,
    scenario_file: Option<&str>,
) -> Result<ExitCode> {
    let mut summaries = Vec::new();
    let mut any_failed = false;
    let total = (seeds.end - seeds.start) * specs.len() as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {msg} [{elapsed}]")?);
    for spec in specs {
        bar.set_message(spec.name.clone());
        let started = std::time::Instant::now();
        let outcomes = batch::run_seeds(spec, seeds.clone(), jobs, &|_| bar.inc(1));
        let wall_s = started.elapsed().as_secs_f64();
        for outcome in outcomes.iter().filter(|o| !o.passed()) {
            any_failed = true;
            let what: Vec<String> = outcome.violations.iter().map(|v| v.to_string()).collect();
            let source = match scenario_file {
                Some(path) => format!("--scenario-file {path}"),
                None => spec.name.clone(),
            };
            bar.suspend(|| {
                eprintln!(
                    "FAIL {} seed {}: {} — replay: amqsim replay {source} --seed {}",
                    spec.name,
                    outcome.seed,
                    what.join("; "),
                    outcome.seed
                )
            });
        }
        if json {
            summaries.push(reports::summary_json(&spec.name, &outcomes, wall_s));
        } else {
            bar.suspend(|| {
                for line in reports::summary_lines(&spec.name, &outcomes, wall_s) {
                    println!("{line}");
                }
            });
        }
    }
    bar.finish_and_clear();
    if json {
        let value = if summaries.len() == 1 {
            summaries.pop().expect("one")
        } else {
            let seeds_total: u64 = summaries.iter().map(|s| s["seeds"].as_u64().unwrap_or(0)).sum();
            let passed: u64 = summaries.iter().map(|s| s["passed"].as_u64().unwrap_or(0)).sum();
            let failing: Vec<serde_json::Value> = summaries
                .iter()
                .flat_map(|s| {
                    let name = s["scenario"].clone();
                    s["failing_seeds"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |seed| serde_json::json!({"scenario": name.clone(), "seed": seed}))
                })
                .collect();
            serde_json::json!({
                "seeds": seeds_total,
                "passed": passed,
                "failed": seeds_total - passed,
                "failing_seeds": failing,
                "scenarios": summaries,
            })
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(if any_failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn replay(spec: &Spec, seed: u64) -> ExitCode {
    let outcome = run(spec, seed, RunOptions { keep_trace: true, ..Default::default() });
    println!("# amqsim replay {} --seed {seed}", spec.name);
    for line in &outcome.trace {
        println!("{line}");
    }
    for (name, value) in &outcome.timings_ms {
        println!("# {name} = {value:.3}");
    }
    for (name, value) in &outcome.measures {
        println!("# {name} = {value:.3}");
    }
    for (name, value) in &outcome.counts {
        println!("# count {name} = {value}");
    }
    for violation in &outcome.violations {
        println!("# VIOLATION {violation}");
    }
    println!("# verdict: {}", if outcome.passed() { "pass" } else { "FAIL" });
    println!("trace hash: {:016x}", outcome.trace_hash);
    if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
