//! Goal: the CLI's contract — exit codes, one-line errors for bad input, replayable hashes.

use std::process::Command;

pub fn amqsim(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_amqsim")).args(args).output().expect("run amqsim");
    let code = output.status.code().expect("an exit code");
    (code, String::from_utf8_lossy(&output.stdout).into(), String::from_utf8_lossy(&output.stderr).into())
}

pub fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("amqsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.to_string_lossy().into_owned()
}

fn assert_one_line_error(stderr: &str, needles: &[&str]) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got {stderr:?}");
    for needle in needles {
        assert!(lines[0].contains(needle), "{:?} lacks {needle:?}", lines[0]);
    }
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let (code, _, err) = amqsim(&["run", "no-such-scenario"]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["scenario", "master-crash"]);

    let (code, _, err) = amqsim(&["run", "master-crash", "--seeds", "9..3"]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["--seeds", "A..B"]);

    let file = temp_file("bad.toml", "name = \"x\"\nduration_s = 10\nliveness_deadline_s = 5\n[[step]]\nid = \"a\"\nat_s = 1\naction = \"explode\"\n");
    let (code, _, err) = amqsim(&["run", "--scenario-file", &file]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["bad.toml", "step[0].action", "crash"]);

    let (code, _, err) = amqsim(&["replay", "master-crash", "--seed", "four"]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["--seed"]);

    let (code, _, err) = amqsim(&["run", "master-crash", "--jobs", "many"]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["--jobs"]);

    let (code, _, err) = amqsim(&["run", "--scenario-file", "/nonexistent/x.toml"]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["/nonexistent/x.toml"]);

    let (code, _, err) = amqsim(&["run", "master-crash", "--seeds", "0..1", "--set", "colour=red"]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["--set", "colour", "unknown setting", "sync"]);

    let (code, _, err) = amqsim(&["run", "master-crash", "--seeds", "0..1", "--set", "sync=fast"]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["--set", "sync", "quorum_mem", "`fast`"]);

    let (code, _, err) = amqsim(&["replay", "master-crash", "--seed", "1", "--set", "zk_session_timeout_ms"]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["--set", "<setting>=<value>"]);

    let (code, _, err) = amqsim(&["run", "master-crash", "--seeds", "0..1", "--set", "fsync_us=[9, 1]"]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["--set", "fsync_us", "min <= max"]);

    let text = format!(
        "{}\n[[client]]\nprotocol = \"amqp\"\n",
        "name = \"x\"\nduration_s = 10\nliveness_deadline_s = 5"
    );
    let file = temp_file("client.toml", &text);
    let (code, _, err) = amqsim(&["run", "--scenario-file", &file]);
    assert_eq!(code, 2);
    assert_one_line_error(&err, &["client.toml", "client[0].protocol", "openwire or stomp"]);
}

#[test]
fn run_json_counts_messages_and_set_changes_the_sync_mode() {
    let (code, out, err) =
        amqsim(&["run", "local-disk-loss", "--seeds", "0..2", "--json", "--no-regressions"]);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
    let summary = &summary["scenarios"][0];
    assert_eq!(
        summary["counts"]["lost"], summary["counts"]["lost_not_judged"],
        "local_disk: reported, not judged"
    );
    assert!(summary["counts"]["lost"].as_u64().expect("lost") > 0, "{summary}");
    assert_eq!(summary["seeds_with_loss"], 2);
    for name in ["sent", "acked", "delivered", "duplicated", "unexpected", "dlq"] {
        assert!(summary["counts"][name].is_u64(), "counts.{name} in {summary}");
    }
    assert!(summary["throughput"]["acked_per_sim_s"].as_f64().expect("a rate") > 10.0);
    assert!(summary["timings_ms"]["latency_p99_ms:queue://orders"]["p50"].is_number(), "{summary}");

    let (code, out, err) = amqsim(&[
        "run",
        "local-disk-loss",
        "--seeds",
        "0..2",
        "--json",
        "--set",
        "sync=quorum_disk",
        "--no-regressions",
    ]);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(summary["overrides"], serde_json::json!(["sync=quorum_disk"]));
    let summary = &summary["scenarios"][0];
    assert_eq!(summary["settings"]["sync"], "quorum_disk");
    assert_eq!(summary["counts"]["lost"], 0, "{summary}");
    assert_eq!(summary["seeds_with_loss"], 0);
}

#[test]
fn run_json_summarises_and_replay_repeats_its_hash() {
    let (code, out, _) = amqsim(&["run", "master-crash", "--seeds", "0..4", "--json"]);
    assert_eq!(code, 0);
    let top: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(top["amqsim_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(top["seed_range"], serde_json::json!({"start": 0, "end": 4}));
    assert_eq!((top["seeds"].as_u64(), top["partial"].as_bool()), (Some(4), Some(false)));
    let summary = &top["scenarios"][0];
    assert_eq!(summary["seeds"], 4);
    assert_eq!(summary["passed"], 4);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["failing_seeds"], serde_json::json!([]));
    assert!(summary["timings_ms"]["fault_to_serving_ms"]["p90"].is_number());

    let (code, first, _) = amqsim(&["replay", "master-crash", "--seed", "3"]);
    assert_eq!(code, 0);
    let (_, second, _) = amqsim(&["replay", "master-crash", "--seed", "3"]);
    let last = |s: &str| s.lines().last().unwrap_or("").to_string();
    assert!(last(&first).starts_with("trace hash: "), "{}", last(&first));
    assert_eq!(last(&first), last(&second));
    assert!(first.lines().count() > 500);
    let events = top["scenarios"][0]["performance"]["events"].as_u64().expect("events");
    assert!(events > 1000, "{events} events in 4 seeds");
}

#[test]
fn a_scenario_file_runs_like_a_builtin() {
    let text = scenarios::builtin::FILES[0].1;
    let file = temp_file("mine.toml", text);
    let (code, out, _) = amqsim(&["run", "--scenario-file", &file, "--seeds", "0..3", "--json"]);
    assert_eq!(code, 0, "{out}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(summary["passed"], 3);
    assert_eq!(summary["scenarios"][0]["passed"], 3, "one schema for one scenario and for all");
}

#[test]
fn a_failing_seed_exits_1_with_its_replay_command() {
    let text =
        scenarios::builtin::FILES[0].1.replace("target = \"master:group1\"", "target = \"slave:group1\"");
    let file = temp_file("slave-crash.toml", &text);
    let regressions = temp_file("slave-crash.regressions", "");
    std::fs::remove_file(&regressions).expect("start without the file");
    let (code, _, err) =
        amqsim(&["run", "--scenario-file", &file, "--seeds", "0..2", "--regressions", &regressions]);
    assert_eq!(code, 1);
    assert!(err.contains("FAIL master-crash seed 0"), "{err}");
    assert!(err.contains(&format!("amqsim replay --scenario-file {file} --seed 0")), "{err}");
}
