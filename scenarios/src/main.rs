//! `amqsim`: list scenarios, run them over many seeds, replay one seed with a readable trace.
//! Exit codes are listed in `--help` (`EXIT_CODES`).

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scenarios::origin::{Invocation, Origin};
use scenarios::regressions::{self, Appender, Entry};
use scenarios::trace_view::{self, Only, TraceFormat, ViewOptions};
use scenarios::{batch, builtin, output};
use serde_json::{json, Value};
use sim::settings::{self, Shown};
use sim::{run, Outcome, RunOptions, Spec};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const EXIT_CODES: &str = "\
Exit codes:
  0    every seed passed (also when a reader of the output closed the pipe)
  1    a seed failed: a checker found a violation in the simulated cluster
  2    bad input: one line on stderr names the file or option, the field and the expected form
  3    the model crashed or livelocked in some seed (a bug in amqsim itself)
  130  interrupted (Ctrl-C): the summary covers the seeds that finished and says `partial`";

const EXAMPLES: &str = "\
Examples:
  amqsim list
  amqsim report                      # every scenario, 200 seeds: report/index.html and more
  amqsim report --scenario master-crash --set zk_session_timeout_ms=10000 --out mc10s
  amqsim run all --seeds 0..200
  amqsim run master-crash --seeds 0..500 --json --out results.jsonl
  amqsim run local-disk-loss --set sync=quorum_mem
  amqsim replay master-crash --seed 3 --only roles
  amqsim replay master-crash --seed 3 --process mq2 --from 20 --to 30
  amqsim replay master-crash --seed 3 --format json --filter 'amqsim::store=debug'
  amqsim replay --failed amqsim-regressions.jsonl
  amqsim settings";

#[derive(Parser)]
#[command(
    name = "amqsim",
    version,
    about = "Deterministic simulator of ActiveMQ 5.x master-slave + broker clusters",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}")
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the built-in scenarios.
    List,
    /// List every setting `[settings]` and `--set` accept, with its form and meaning.
    Settings,
    /// Run a scenario (or `all`) over a range of seeds.
    #[command(after_help = EXIT_CODES)]
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
        /// Write one JSON line per seed (verdict, violations, timings, counts, trace hash).
        #[arg(long, value_name = "FILE")]
        out: Option<String>,
        /// Append failing seeds to this file (re-run them with `replay --failed FILE`).
        #[arg(long, value_name = "FILE", default_value = regressions::DEFAULT_FILE)]
        regressions: String,
        /// Do not write a regressions file.
        #[arg(long)]
        no_regressions: bool,
    },
    /// Run every built-in scenario (or one) over many seeds and write a report directory:
    /// summary.json, summary.md, junit.xml and a self-contained index.html with charts.
    #[command(after_help = EXIT_CODES)]
    Report {
        /// One built-in scenario (default: every one). Omit with --scenario-file.
        #[arg(long)]
        scenario: Option<String>,
        /// Report on the scenario described by this TOML file.
        #[arg(long)]
        scenario_file: Option<String>,
        /// Seeds `A..B` (B exclusive) or one seed `N`, for every scenario.
        #[arg(long, default_value = "0..200")]
        seeds: String,
        /// Worker threads.
        #[arg(long, default_value_t = default_jobs())]
        jobs: usize,
        /// Change a setting, as for `run` (repeatable).
        #[arg(long = "set", value_name = "SETTING=VALUE")]
        set: Vec<String>,
        /// The directory to write (created if needed; its four files are replaced).
        #[arg(long, value_name = "DIR", default_value = "report")]
        out: String,
        /// Sweep a setting over values, e.g. `zk_session_timeout_ms=1000,3000,10000`: every
        /// scenario runs at each value (repeatable: a grid of every combination).
        #[arg(long, value_name = "SETTING=V1,V2,...")]
        sweep: Vec<String>,
        /// Compare with an earlier report's summary.json: mark every timing and count that
        /// moved beyond its noise band.
        #[arg(long, value_name = "SUMMARY_JSON")]
        baseline: Option<String>,
    },
    /// Re-run one seed and print its trace, ending with `trace hash: <hex>`; or re-run every
    /// seed of a regressions file.
    #[command(after_help = EXIT_CODES)]
    Replay {
        /// A built-in scenario name. Omit with --scenario-file or --failed.
        scenario: Option<String>,
        /// Replay the scenario described by this TOML file.
        #[arg(long)]
        scenario_file: Option<String>,
        /// The seed to replay (as printed by `run`).
        #[arg(long)]
        seed: Option<String>,
        /// Change a setting, as for `run`.
        #[arg(long = "set", value_name = "SETTING=VALUE")]
        set: Vec<String>,
        /// Re-run every seed listed in this regressions file.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["scenario", "scenario_file", "seed", "set"])]
        failed: Option<String>,
        /// Only events of this process (repeatable): mq1, zk2, app1, ..., or `world` for steps
        /// that act on no single process.
        #[arg(long = "process", value_name = "NAME")]
        processes: Vec<String>,
        /// Only events from this simulated second on.
        #[arg(long, value_name = "SECONDS")]
        from: Option<f64>,
        /// Only events up to this simulated second.
        #[arg(long, value_name = "SECONDS")]
        to: Option<f64>,
        /// Only these kinds of events (repeatable or comma-separated), without TRACE-level
        /// chatter unless --filter asks for it.
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<Only>,
        /// text: one line per event; json: one object per line; debug: the raw inputs.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// tracing `EnvFilter` directives over the targets amqsim::{roles,faults,messages,zk,store,net}, e.g.
        /// `amqsim=info,amqsim::store=debug`.
        #[arg(long, value_name = "DIRECTIVES")]
        filter: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Debug,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// A bad-input error: printed as one line, exit code 2.
struct Usage(String);

static INTERRUPTED: std::sync::LazyLock<Arc<AtomicBool>> =
    std::sync::LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// glibc's allocator hands a large block (a growing log, a disk's records, a ledger) back to
/// the kernel when it is freed and takes fresh zeroed pages for the next one: between the seeds
/// of a batch that cost page faults (sys time ~7 % of a master-crash batch). Large blocks come
/// from the heap instead and freed memory stays for the next seed (the batch's peak RSS is what
/// it was: a seed's own peak). Measured in docs/performance.md; no run's behaviour depends on it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // glibc's ceiling for the mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX).
    const MMAP_THRESHOLD: i32 = 32 << 20;
    const TRIM_THRESHOLD: i32 = 256 << 20;
    // SAFETY: `mallopt` only sets allocator parameters; called first thing in `main`, before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help and --version.
            output::text(&error.render().to_string());
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            // clap explains over several lines; keep the first, which names the argument.
            let text = error.render().to_string();
            let first = text.lines().next().unwrap_or("bad arguments").trim_start_matches("error: ");
            output::err_line(&format!("error: {first} (see amqsim --help)"));
            return ExitCode::from(2);
        }
    };
    match execute(cli.command) {
        Ok(code) => code,
        Err(Usage(message)) => {
            output::err_line(&format!("error: {message}"));
            ExitCode::from(2)
        }
    }
}

fn execute(command: Command) -> Result<ExitCode, Usage> {
    match command {
        Command::List => {
            let specs = builtin::all();
            let width = specs.iter().map(|s| s.name.len()).max().unwrap_or(0);
            for spec in specs {
                output::line(&format!("{:<width$} {}", spec.name, spec.description));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Settings => {
            let width = settings::DESCRIPTORS.iter().map(|d| d.name.len()).max().unwrap_or(0);
            for d in settings::DESCRIPTORS {
                output::line(&format!("{:<width$} {:<44} {}", d.name, d.form.expected(), d.doc));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            scenario,
            scenario_file,
            seeds,
            jobs,
            json,
            set,
            out,
            regressions,
            no_regressions,
        } => {
            let invocations = invocations(scenario.as_deref(), scenario_file.as_deref(), true, &set)?;
            let specs: Vec<Spec> =
                invocations.iter().map(|i| i.load().map_err(Usage)).collect::<Result<_, _>>()?;
            let seeds = batch::parse_seeds(&seeds).map_err(Usage)?;
            if jobs == 0 || jobs > 1024 {
                return Err(Usage(format!("--jobs: expected 1..=1024 worker threads, got {jobs}")));
            }
            let regressions =
                if no_regressions { None } else { Some(Appender::open(&regressions).map_err(Usage)?) };
            let out = match out {
                Some(path) => Some(
                    std::fs::File::create(&path)
                        .map(std::io::BufWriter::new)
                        .map_err(|e| Usage(format!("--out: {path}: cannot create the file: {e}")))?,
                ),
                None => None,
            };
            // A model assertion in a run is caught and reported as that seed's violation, with
            // its replay command; the replay shows the panic in full.
            let default_hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if std::thread::current().name() == Some("main") {
                    default_hook(info);
                }
            }));
            ctrlc::set_handler(|| {
                if INTERRUPTED.swap(true, Ordering::SeqCst) {
                    // A second Ctrl-C: stop now.
                    std::process::exit(130);
                }
            })
            .map_err(|e| Usage(format!("cannot install the Ctrl-C handler: {e}")))?;
            let batch = Batch {
                invocations: &invocations,
                specs: &specs,
                seeds,
                jobs,
                json,
                sets: &set,
                out,
                regressions,
            };
            Ok(batch.run())
        }
        Command::Report { scenario, scenario_file, seeds, jobs, set, out, sweep, baseline } => {
            let baseline = match baseline {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| Usage(format!("--baseline: {path}: cannot read the file: {e}")))?;
                    Some(
                        reports::baseline::Baseline::parse(&path, &text)
                            .map_err(|e| Usage(format!("--baseline: {e}")))?,
                    )
                }
            };
            let name = match (&scenario, &scenario_file) {
                (None, None) => Some("all"),
                _ => scenario.as_deref(),
            };
            let sweep = parse_sweep(&sweep)?;
            // The scenarios with the plain `--set`s first, so their errors are not blamed on
            // the sweep.
            for invocation in self::invocations(name, scenario_file.as_deref(), true, &set)? {
                invocation.load().map_err(Usage)?;
            }
            // Every scenario at every point of the grid (one point, the settings as given,
            // without a sweep).
            let mut invocations = Vec::new();
            let mut points = Vec::new();
            for point in grid(&sweep) {
                let mut sets = set.clone();
                sets.extend(point.iter().map(|(k, v)| format!("{k}={v}")));
                for invocation in self::invocations(name, scenario_file.as_deref(), true, &sets)? {
                    invocations.push(invocation);
                    points.push(point.clone());
                }
            }
            let specs: Vec<Spec> = invocations
                .iter()
                .map(|i| {
                    i.load().map_err(|e| Usage(if sweep.is_empty() { e } else { format!("--sweep: {e}") }))
                })
                .collect::<Result<_, _>>()?;
            let seeds = batch::parse_seeds(&seeds).map_err(Usage)?;
            if jobs == 0 || jobs > 1024 {
                return Err(Usage(format!("--jobs: expected 1..=1024 worker threads, got {jobs}")));
            }
            let dir = std::path::PathBuf::from(&out);
            if dir.exists() && !dir.is_dir() {
                return Err(Usage(format!("--out: {out}: expected a directory, found a file")));
            }
            Ok(report(&invocations, &specs, &points, &sweep, baseline, seeds, jobs, &set, &dir))
        }
        Command::Replay { failed: Some(path), .. } => replay_failed(&path),
        Command::Replay {
            scenario,
            scenario_file,
            seed,
            set,
            processes,
            from,
            to,
            only,
            format,
            filter,
            failed: None,
        } => {
            let invocation =
                invocations(scenario.as_deref(), scenario_file.as_deref(), false, &set)?.remove(0);
            let spec = invocation.load().map_err(Usage)?;
            let seed =
                seed.ok_or_else(|| Usage("--seed: expected the seed to replay (or --failed FILE)".into()))?;
            let seed: u64 = seed.parse().map_err(|_| {
                Usage(format!("--seed: expected an integer in 0..={}, got `{seed}`", u64::MAX))
            })?;
            let window = |name: &str, value: Option<f64>| -> Result<Option<u64>, Usage> {
                match value {
                    None => Ok(None),
                    Some(s) if s.is_finite() && s >= 0.0 && s <= spec.duration_ms as f64 / 1000.0 => {
                        Ok(Some((s * 1e6) as u64))
                    }
                    Some(s) => Err(Usage(format!(
                        "{name}: expected simulated seconds in 0..={}, got {s}",
                        spec.duration_ms / 1000
                    ))),
                }
            };
            let view = ViewOptions {
                processes,
                from_us: window("--from", from)?,
                to_us: window("--to", to)?,
                only,
                format: match format {
                    Format::Text => TraceFormat::Text,
                    Format::Json => TraceFormat::Json,
                    Format::Debug => TraceFormat::Debug,
                },
                filter,
            };
            if let (Some(from), Some(to)) = (view.from_us, view.to_us) {
                if from > to {
                    return Err(Usage(format!(
                        "--from/--to: expected --from <= --to, got {} > {}",
                        from / 1_000_000,
                        to / 1_000_000
                    )));
                }
            }
            if view.filter.as_deref().is_some_and(|f| f.trim().is_empty()) {
                return Err(Usage(
                    "--filter: expected EnvFilter directives such as amqsim=info, got an empty string".into(),
                ));
            }
            let known = sim::topology::Layout::build(&spec, seed);
            for name in &view.processes {
                // `world` names the world's own events (steps that resolve to no process).
                if name != "world" && known.process_named(name).is_none() {
                    let names: Vec<&str> = known.processes.iter().map(|p| p.name.as_str()).collect();
                    return Err(Usage(format!(
                        "--process: expected world or one of {}, got `{name}`",
                        names.join(", ")
                    )));
                }
            }
            let dispatch = trace_view::dispatch(&view).map_err(Usage)?;
            Ok(replay(&invocation, &spec, seed, dispatch, matches!(format, Format::Json)))
        }
    }
}

fn invocations(
    scenario: Option<&str>,
    file: Option<&str>,
    allow_all: bool,
    set: &[String],
) -> Result<Vec<Invocation>, Usage> {
    let one = |origin| vec![Invocation { origin, sets: set.to_vec() }];
    match (scenario, file) {
        (Some(_), Some(_)) => Err(Usage("give a scenario name or --scenario-file, not both".into())),
        (None, None) => {
            Err(Usage("expected a scenario name (see `amqsim list`) or --scenario-file F".into()))
        }
        (None, Some(path)) => Ok(one(Origin::File(path.to_string()))),
        (Some("all"), None) if allow_all => Ok(builtin::all()
            .into_iter()
            .map(|spec| Invocation { origin: Origin::Builtin(spec.name), sets: set.to_vec() })
            .collect()),
        (Some(name), None) => {
            builtin::named(name).map_err(|e| Usage(e.to_string()))?;
            Ok(one(Origin::Builtin(name.to_string())))
        }
    }
}

struct Batch<'a> {
    invocations: &'a [Invocation],
    specs: &'a [Spec],
    seeds: std::ops::Range<u64>,
    jobs: usize,
    json: bool,
    sets: &'a [String],
    out: Option<std::io::BufWriter<std::fs::File>>,
    regressions: Option<Appender>,
}

impl Batch<'_> {
    #[allow(clippy::disallowed_methods)] // Wall time of the batch, measured outside every simulation.
    fn run(mut self) -> ExitCode {
        let per_scenario = self.seeds.end - self.seeds.start;
        let bar = ProgressBar::with_draw_target(
            Some(per_scenario.saturating_mul(self.specs.len() as u64)),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {msg} [{elapsed}]").expect("a template"),
        );
        let mut summaries = Vec::new();
        for (invocation, spec) in self.invocations.iter().zip(self.specs) {
            if INTERRUPTED.load(Ordering::SeqCst) {
                break;
            }
            bar.set_message(spec.name.clone());
            let mut summary = reports::Summary::new(&spec.name);
            summary.settings = settings_json(spec);
            summary.loss_promise = loss_promise(spec);
            let started = std::time::Instant::now();
            batch::stream_seeds(spec, self.seeds.clone(), self.jobs, &INTERRUPTED, &mut |outcome| {
                bar.inc(1);
                self.fold(&bar, invocation, spec, &mut summary, &outcome);
            });
            summary.wall_s = started.elapsed().as_secs_f64();
            if !self.json {
                bar.suspend(|| summary.lines().iter().for_each(|l| output::line(l)));
            }
            summaries.push(summary);
        }
        bar.finish_and_clear();
        if let Some(out) = &mut self.out {
            use std::io::Write;
            if let Err(e) = out.flush() {
                output::err_line(&format!("error: --out: cannot write: {e}"));
            }
        }
        let partial = INTERRUPTED.load(Ordering::SeqCst);
        let seeds: u64 = summaries.iter().map(|s| s.seeds).sum();
        let failed: u64 = summaries.iter().map(|s| s.failed()).sum();
        let crashed: u64 = summaries.iter().map(|s| s.model_failures).sum();
        if self.json {
            output::line(
                &serde_json::to_string_pretty(&self.json_summary(&summaries, partial)).expect("json"),
            );
        } else {
            output::line(&format!(
                "{} scenarios, {seeds} seeds: {} passed, {failed} failed{}{} (peak memory {:.0} MB)",
                summaries.len(),
                seeds - failed,
                if crashed > 0 { format!(" ({crashed} crashed the model)") } else { String::new() },
                if partial { " (partial: interrupted)" } else { "" },
                peak_rss_mb().unwrap_or(0.0)
            ));
        }
        output::flush();
        batch_exit(partial, crashed, failed)
    }

    fn fold(
        &mut self,
        bar: &ProgressBar,
        invocation: &Invocation,
        spec: &Spec,
        summary: &mut reports::Summary,
        outcome: &Outcome,
    ) {
        let replay = invocation.replay_command(outcome.seed);
        if !outcome.passed() {
            let what: Vec<String> = outcome.violations.iter().map(|v| v.to_string()).collect();
            bar.suspend(|| {
                output::err_line(&format!(
                    "FAIL {} seed {}: {} — replay: {replay}",
                    spec.name,
                    outcome.seed,
                    what.join("; ")
                ))
            });
            if let Some(appender) = &mut self.regressions {
                match appender.append(&Entry::of(invocation, outcome)) {
                    Ok(true) => {}
                    Ok(false) => {
                        let note = format!(
                            "note: {} failing seeds appended to the regressions file; the rest only in FAIL lines and --out",
                            regressions::APPENDED_MAX
                        );
                        bar.suspend(|| output::err_line(&note));
                        self.regressions = None;
                    }
                    Err(e) => {
                        bar.suspend(|| output::err_line(&format!("error: {e}")));
                        self.regressions = None;
                    }
                }
            }
        }
        if let Some(out) = &mut self.out {
            use std::io::Write;
            let line = seed_json(outcome, &replay);
            // Flushed per seed: a closed pipe or a second Ctrl-C ends the process at once.
            if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
                bar.suspend(|| output::err_line(&format!("error: --out: cannot write: {e}")));
                self.out = None;
            }
        }
        summary.add(outcome, || replay.clone());
    }

    fn json_summary(&self, summaries: &[reports::Summary], partial: bool) -> Value {
        let seeds: u64 = summaries.iter().map(|s| s.seeds).sum();
        let failed: u64 = summaries.iter().map(|s| s.failed()).sum();
        let failing: Vec<Value> = summaries
            .iter()
            .flat_map(|s| {
                s.failing.iter().map(|f| json!({"scenario": s.scenario, "seed": f.seed, "replay": f.replay}))
            })
            .collect();
        json!({
            "amqsim_version": env!("CARGO_PKG_VERSION"),
            "seed_range": {"start": self.seeds.start, "end": self.seeds.end},
            "overrides": self.sets,
            "partial": partial,
            "peak_rss_mb": peak_rss_mb().map(|mb| (mb * 10.0).round() / 10.0),
            "scenario_count": summaries.len(),
            "seeds": seeds,
            "passed": seeds - failed,
            "failed": failed,
            "failing_seeds": failing,
            "scenarios": summaries.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
        })
    }
}

/// `amqsim report`: every seed of every scenario, then each scenario's representative seed
/// again with its time series, then the four files.
#[allow(clippy::disallowed_methods)] // Wall time of the report, measured outside every simulation.
#[allow(clippy::too_many_arguments)]
fn report(
    invocations: &[Invocation],
    specs: &[Spec],
    points: &[Vec<(String, String)>],
    sweep: &[(String, Vec<String>)],
    baseline: Option<reports::baseline::Baseline>,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    sets: &[String],
    dir: &std::path::Path,
) -> ExitCode {
    use reports::report::{Report, Representative, ScenarioReport, WallClock};
    let started = std::time::Instant::now();
    // A model assertion in a run is that seed's violation, as in `run`.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            default_hook(info);
        }
    }));
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let per_scenario = seeds.end - seeds.start;
    let bar = ProgressBar::with_draw_target(
        Some(per_scenario.saturating_mul(specs.len() as u64)),
        ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {msg} [{elapsed}]").expect("a template"),
    );
    let mut scenarios = Vec::new();
    for ((invocation, spec), point) in invocations.iter().zip(specs).zip(points) {
        if INTERRUPTED.load(Ordering::SeqCst) {
            break;
        }
        let label: Vec<String> = point.iter().map(|(k, v)| format!("{k}={v}")).collect();
        bar.set_message(format!("{} {}", spec.name, label.join(" ")));
        let mut summary = reports::Summary::new(&spec.name);
        summary.settings = settings_json(spec);
        summary.loss_promise = loss_promise(spec);
        let mut scenario = ScenarioReport::new(summary, &spec.description);
        scenario.point = point.clone();
        if let Some(connector) = spec.topology.connectors.first() {
            let b = connector.config.backoff;
            // SimpleDiscoveryAgent: the wait doubles from the initial delay up to the cap
            // (or stays at the initial delay without exponential back-off).
            let mut wait = b.initial_reconnect_delay_ms as f64;
            for _ in 0..8 {
                scenario.backoff_curve.push(wait.min(b.max_reconnect_delay_ms as f64));
                if b.use_exponential_back_off {
                    wait *= b.back_off_multiplier as f64;
                }
            }
        }
        let began = std::time::Instant::now();
        batch::stream_seeds(spec, seeds.clone(), jobs, &INTERRUPTED, &mut |outcome| {
            bar.inc(1);
            scenario.add(&outcome, || invocation.replay_command(outcome.seed));
        });
        scenario.summary.wall_s = began.elapsed().as_secs_f64();
        if let Some((seed, why)) = scenario.representative_seed() {
            let options =
                RunOptions { timeline: true, cancel: Some(INTERRUPTED.clone()), ..Default::default() };
            let outcome = run(spec, seed, options);
            if let Some(timeline) = outcome.timeline {
                let replay = invocation.replay_command(seed);
                scenario.representative = Some(Representative { seed, replay, why, timeline });
            }
        }
        scenarios.push(scenario);
    }
    bar.finish_and_clear();
    let partial = INTERRUPTED.load(Ordering::SeqCst);
    let report = Report {
        version: env!("CARGO_PKG_VERSION").to_string(),
        seeds,
        overrides: sets.to_vec(),
        sweep: sweep.to_vec(),
        partial,
        scenarios,
        baseline,
        wall: WallClock { total_s: started.elapsed().as_secs_f64(), peak_rss_mb: peak_rss_mb(), jobs },
    };
    for line in report.table() {
        output::line(&line);
    }
    if let Some(base) = &report.baseline {
        let moved = report.moved();
        output::line(&format!(
            "baseline {}: {} timings and counts moved beyond their noise band",
            base.path,
            moved.len()
        ));
        for m in moved.iter().take(20) {
            let (old, new) = (reports::baseline::Moved::shown(m.old), reports::baseline::Moved::shown(m.new));
            output::line(&format!("  {} {} {}: {old} -> {new} ({})", m.arrow(), m.scenario, m.what, m.band));
        }
        if moved.len() > 20 {
            output::line(&format!("  … and {} more in index.html and summary.json", moved.len() - 20));
        }
    }
    if let Err(e) = report.write(dir) {
        output::err_line(&format!("error: --out: {}: cannot write the report: {e}", dir.display()));
        output::flush();
        return ExitCode::from(2);
    }
    let (failed, crashed): (u64, u64) = report
        .scenarios
        .iter()
        .fold((0, 0), |(f, c), s| (f + s.summary.failed(), c + s.summary.model_failures));
    output::line(&format!(
        "report: {} (index.html, summary.json, summary.md, junit.xml){}",
        dir.join("index.html").display(),
        if partial { " — partial: interrupted" } else { "" }
    ));
    output::flush();
    batch_exit(partial, crashed, failed)
}

/// A batch's exit code: interrupted, the model crashed, a seed failed, or all passed.
fn batch_exit(partial: bool, crashed: u64, failed: u64) -> ExitCode {
    match (partial, crashed, failed) {
        (true, _, _) => ExitCode::from(130),
        (false, c, _) if c > 0 => ExitCode::from(3),
        (false, _, f) if f > 0 => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

/// Grid points above this are refused: each is a whole batch of every scenario.
const SWEEP_POINTS_MAX: usize = 64;

/// `--sweep NAME=V1,V2,...` (repeatable) → each setting and its values, in the order given.
/// The values are checked when each point's scenarios load.
fn parse_sweep(sweeps: &[String]) -> Result<Vec<(String, Vec<String>)>, Usage> {
    let mut parsed: Vec<(String, Vec<String>)> = Vec::new();
    let mut points: usize = 1;
    for sweep in sweeps {
        let Some((name, values)) = sweep.split_once('=') else {
            return Err(Usage(format!(
                "--sweep: expected SETTING=V1,V2,... (e.g. zk_session_timeout_ms=1000,3000), got `{sweep}`"
            )));
        };
        let name = name.trim();
        if settings::DESCRIPTORS.iter().all(|d| d.name != name) {
            return Err(Usage(format!("--sweep: `{name}` is not a setting (see `amqsim settings`)")));
        }
        if parsed.iter().any(|(n, _)| n == name) {
            return Err(Usage(format!("--sweep: {name} is swept twice; give its values once")));
        }
        let values = split_values(values);
        if values.iter().any(|v| v.is_empty()) {
            return Err(Usage(format!(
                "--sweep: {name}: expected comma-separated values, got `{values:?}`",
                values = values.join(",")
            )));
        }
        if let Some(twice) = values.iter().enumerate().find_map(|(i, v)| values[..i].contains(v).then_some(v))
        {
            return Err(Usage(format!("--sweep: {name}: the value {twice} is given twice")));
        }
        points = points.checked_mul(values.len()).filter(|p| *p <= SWEEP_POINTS_MAX).ok_or_else(|| {
            Usage(format!("--sweep: at most {SWEEP_POINTS_MAX} combinations of values, got more"))
        })?;
        parsed.push((name.to_string(), values));
    }
    Ok(parsed)
}

/// Comma-separated values, a comma inside brackets belonging to its value
/// (`lan_latency_us=[100,400],[1000,2000]`).
fn split_values(values: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut current) = (0i32, String::new());
    for c in values.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current.trim().to_string());
    out
}

/// Every combination of the swept values, the first setting varying slowest; one empty
/// point without a sweep.
fn grid(sweep: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut points = vec![Vec::new()];
    for (name, values) in sweep {
        points = points
            .into_iter()
            .flat_map(|p: Vec<(String, String)>| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((name.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    points
}

/// One `--out` line.
fn seed_json(outcome: &Outcome, replay: &str) -> Value {
    json!({
        "scenario": outcome.scenario,
        "seed": outcome.seed,
        "verdict": if outcome.passed() { "pass" } else { "fail" },
        "violations": outcome.violations.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
        "timings_ms": outcome.timings_ms,
        "counts": outcome.counts,
        "measures": outcome.measures,
        "trace_hash": format!("{:016x}", outcome.trace_hash),
        "events": outcome.events,
        "simulated_ms": outcome.simulated_ms,
        "replay": replay,
    })
}

fn settings_json(spec: &Spec) -> Vec<(String, Value)> {
    settings::shown(&spec.settings)
        .into_iter()
        .map(|(name, shown)| {
            let value = match shown {
                Shown::Int(v) => json!(v),
                Shown::Pair(l, h) => json!([l, h]),
                Shown::Word(w) => json!(w),
                Shown::Unset => Value::Null,
            };
            (name.to_string(), value)
        })
        .collect()
}

/// Whether a lost acknowledged message is a failure here, in words.
fn loss_promise(spec: &Spec) -> String {
    let sync = spec.settings.sync;
    if sync.has_remote() {
        format!("sync={sync}: a loss with at most a minority of a group down is a failure; beyond that it is reported")
    } else {
        format!("sync={sync} does not wait for slaves: a loss is the configuration's known risk, reported")
    }
}

fn replay(
    invocation: &Invocation,
    spec: &Spec,
    seed: u64,
    dispatch: tracing::Dispatch,
    json: bool,
) -> ExitCode {
    let command = invocation.replay_command(seed);
    if json {
        output::line(&json!({"replay": command}).to_string());
    } else {
        output::line(&format!("# {command}"));
    }
    let outcome = run(spec, seed, RunOptions { trace: Some(dispatch), ..Default::default() });
    let hash = format!("{:016x}", outcome.trace_hash);
    if json {
        let violations: Vec<String> = outcome.violations.iter().map(|v| v.to_string()).collect();
        let end = json!({
            "verdict": if outcome.passed() { "pass" } else { "fail" },
            "violations": violations,
            "timings_ms": outcome.timings_ms,
            "measures": outcome.measures,
            "counts": outcome.counts,
            "trace_hash": hash,
        });
        output::line(&end.to_string());
    } else {
        let mut latencies: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (name, value) in &outcome.timings_ms {
            match name.split_once(':').filter(|(n, _)| n.starts_with("latency_")) {
                Some((kind, dest)) => {
                    let kind = kind.trim_start_matches("latency_").trim_end_matches("_ms");
                    latencies.entry(dest).or_default().push(format!("{kind} {value:.3}"));
                }
                None => output::line(&format!("# {name} = {value:.3} ms")),
            }
        }
        for (dest, values) in latencies {
            output::line(&format!("# latency {dest}: {} ms", values.join(", ")));
        }
        for (name, value) in &outcome.measures {
            output::line(&format!("# {name} = {value:.3}"));
        }
        let counts: Vec<String> = outcome.counts.iter().map(|(n, v)| format!("{n} {v}")).collect();
        if !counts.is_empty() {
            output::line(&format!("# counts: {}", counts.join(", ")));
        }
        for violation in &outcome.violations {
            output::line(&format!("# VIOLATION {violation}"));
        }
        output::line(&format!("# verdict: {}", if outcome.passed() { "pass" } else { "FAIL" }));
        output::line(&format!("trace hash: {hash}"));
    }
    output::flush();
    exit_code(&[&outcome])
}

/// Peak resident memory of this process in MB (Linux `VmHWM`), if known.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn exit_code(outcomes: &[&Outcome]) -> ExitCode {
    if outcomes.iter().any(|o| o.violations.iter().any(|v| v.is_model_failure())) {
        ExitCode::from(3)
    } else if outcomes.iter().any(|o| !o.passed()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Re-runs every seed of a regressions file and says which still fail.
fn replay_failed(path: &str) -> Result<ExitCode, Usage> {
    let entries = regressions::read(path).map_err(Usage)?;
    if entries.is_empty() {
        return Err(Usage(format!("{path}: expected at least one failing seed, the file lists none")));
    }
    let mut still_failing = 0;
    let mut crashed = false;
    for entry in &entries {
        let command = entry.invocation.replay_command(entry.seed);
        let spec = match entry.invocation.load() {
            Ok(spec) => spec,
            Err(e) => {
                output::line(&format!("cannot load: {command}: {e}"));
                still_failing += 1;
                continue;
            }
        };
        let outcome = run(&spec, entry.seed, RunOptions::default());
        crashed |= outcome.violations.iter().any(|v| v.is_model_failure());
        let same =
            if outcome.trace_hash == entry.trace_hash { "same trace hash" } else { "different trace hash" };
        if outcome.passed() {
            output::line(&format!("now passes ({same}): {command}"));
        } else {
            still_failing += 1;
            let what: Vec<String> = outcome.violations.iter().map(|v| v.to_string()).collect();
            output::line(&format!("still fails ({same}): {command}: {}", what.join("; ")));
        }
    }
    output::line(&format!(
        "{} seeds: {} still fail, {} now pass",
        entries.len(),
        still_failing,
        entries.len() - still_failing
    ));
    Ok(if crashed {
        ExitCode::from(3)
    } else if still_failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
