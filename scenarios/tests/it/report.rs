//! Goal: `amqsim report` writes its four files; the same seeds give the same bytes apart
//! from the wall-clock section; the HTML makes no request and shows every chart; junit.xml
//! names every failing seed with its replay command.

use super::cli::amqsim;

fn report(dir: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let out = dir.to_string_lossy().into_owned();
    let mut args = vec!["report", "--seeds", "0..3", "--jobs", "2", "--out", &out];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = amqsim(&args);
    assert!(stderr.lines().all(|l| !l.contains("panicked")), "{stderr}");
    (code, stdout)
}

fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("amqsim-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_same_seeds_write_the_same_report_apart_from_the_wall_clock() {
    let (a, b) = (temp_dir("a"), temp_dir("b"));
    let scenario = ["--scenario", "master-crash"];
    let (code, stdout) = report(&a, &scenario);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("master-crash") && stdout.contains("index.html"), "{stdout}");
    assert_eq!(report(&b, &scenario).0, 0);
    let json = |dir| {
        let mut v: serde_json::Value = serde_json::from_str(&read(dir, "summary.json")).expect("json");
        assert!(v["wall_clock"]["total_s"].as_f64().is_some(), "a wall-clock section");
        v.as_object_mut().expect("an object").remove("wall_clock");
        v
    };
    let (ja, jb) = (json(&a), json(&b));
    assert_eq!(ja, jb);
    // The stable keys (docs/report.md).
    assert_eq!(ja["schema"], "amqsim-report/1");
    assert_eq!(ja["totals"]["seeds"], 3);
    let s = &ja["scenarios"][0];
    for key in [
        "scenario",
        "description",
        "settings",
        "seeds",
        "passed",
        "failed",
        "timings_ms",
        "counts",
        "representative_seed",
    ] {
        assert!(!s[key].is_null(), "scenarios[0].{key}: {s}");
    }
    assert!(s.get("performance").is_none(), "wall time lives in wall_clock only");
    let replay = s["representative_seed"]["replay"].as_str().expect("a replay command");
    assert!(replay.starts_with("amqsim replay master-crash --seed "), "{replay}");
    let html = |dir| {
        let h = read(dir, "index.html");
        let at = h.find("<section id=\"wall-clock\">").expect("a wall-clock section");
        h[..at].to_string()
    };
    assert_eq!(html(&a), html(&b));
    assert_eq!(read(&a, "summary.md"), read(&b, "summary.md"));
    assert_eq!(read(&a, "junit.xml"), read(&b, "junit.xml"));
}

#[test]
fn the_html_is_self_contained_and_draws_every_chart() {
    let dir = temp_dir("charts");
    assert_eq!(report(&dir, &["--scenario", "remote-group-failover"]).0, 0);
    let h = read(&dir, "index.html");
    // No request: no script, no stylesheet or image by URL; the only URL is SVG's namespace.
    for needle in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(!h.contains(needle), "index.html contains {needle}");
    }
    let without_ns = h.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"), "an external URL");
    // The outcome bars, then the scenario's CDF, timeline, throughput and the restarted
    // master's catch-up.
    assert_eq!(h.matches("<svg").count(), 5, "five charts");
    for title in ["Message outcomes", "failover phases, CDF", ": timeline", ": throughput", "catch-up time"] {
        assert!(h.contains(title), "a chart titled {title:?}");
    }
}

#[test]
fn junit_lists_each_scenario_and_each_failing_seed_with_its_replay() {
    let dir = temp_dir("junit");
    // A planted bug (the canary of `NoSingleMaster`) fails every seed: each is a failed test
    // case with its replay command, and the report still gets written.
    let (code, stdout) =
        report(&dir, &["--scenario", "master-crash", "--set", "planted_bug=head_never_elects"]);
    assert_eq!(code, 1, "{stdout}");
    let junit = read(&dir, "junit.xml");
    assert!(junit.contains("<testsuite name=\"master-crash\" tests=\"4\" failures=\"4\">"), "{junit}");
    assert_eq!(junit.matches("<testcase ").count(), 4, "{junit}");
    assert!(
        junit.contains("<testsuites name=\"amqsim\" tests=\"4\" failures=\"4\">"),
        "totals are the suites': {junit}"
    );
    for seed in 0..3 {
        let replay =
            format!("replay: amqsim replay master-crash --seed {seed} --set planted_bug=head_never_elects");
        assert!(junit.contains(&replay), "{replay} in {junit}");
    }
    let summary: serde_json::Value = serde_json::from_str(&read(&dir, "summary.json")).expect("json");
    assert_eq!(summary["totals"]["failed"], 3);
}

#[test]
fn a_sweep_gives_a_column_per_value_and_failover_rises_with_the_session_timeout() {
    let dir = temp_dir("sweep");
    let sweep = ["--scenario", "master-crash", "--sweep", "zk_session_timeout_ms=3000,10000"];
    assert_eq!(report(&dir, &sweep).0, 0);
    let summary: serde_json::Value = serde_json::from_str(&read(&dir, "summary.json")).expect("json");
    assert_eq!(summary["sweep"][0]["setting"], "zk_session_timeout_ms");
    let scenarios = summary["scenarios"].as_array().expect("an array");
    assert_eq!(scenarios.len(), 2);
    let p50 = |i: usize, key: &str| scenarios[i]["timings_ms"][key]["p50"].as_f64().expect("a timing");
    assert_eq!(scenarios[1]["sweep_point"]["zk_session_timeout_ms"], "10000");
    for key in ["fault_to_expired_ms", "fault_to_serving_ms", "fault_to_client_reconnect_ms"] {
        assert!(p50(1, key) > p50(0, key) + 3000.0, "{key}: {} vs {}", p50(0, key), p50(1, key));
    }
    // Each point's replay command carries its value.
    let replay = scenarios[1]["representative_seed"]["replay"].as_str().expect("a replay");
    assert!(replay.ends_with("--set zk_session_timeout_ms=10000"), "{replay}");
    let h = read(&dir, "index.html");
    assert!(h.contains("<section id=\"sweep\">") && h.contains("median timings across the sweep"));
    assert!(h.contains("<th>zk_session_timeout_ms=3000</th><th>zk_session_timeout_ms=10000</th>"));
    // Each point has its own section, heading and link.
    let anchor = "master-crash__zk_session_timeout_ms_10000_";
    assert!(
        h.contains(&format!("<section id=\"{anchor}\"><h2>master-crash [zk_session_timeout_ms=10000]</h2>"))
    );
    assert!(h.contains(&format!("<a href=\"#{anchor}\">")));
    assert!(read(&dir, "junit.xml").contains("<testsuite name=\"master-crash [zk_session_timeout_ms=3000]\""));
}

#[test]
fn bad_sweeps_exit_2_with_one_line() {
    let dir = temp_dir("bad-sweep");
    let out = dir.to_string_lossy().into_owned();
    let cases: [(&[&str], &str); 4] = [
        (&["--sweep", "no_such=1,2"], "not a setting"),
        (&["--sweep", "zk_session_timeout_ms"], "SETTING=V1,V2"),
        (&["--sweep", "zk_session_timeout_ms=1000,abc"], "zk_session_timeout_ms"),
        (
            &[
                "--sweep",
                "tick_time_ms=1,2,3,4,5,6,7,8,9",
                "--sweep",
                "zk_session_timeout_ms=1,2,3,4,5,6,7,8",
            ],
            "at most 64",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["report", "--scenario", "master-crash", "--seeds", "0..1", "--out", &out];
        all.extend_from_slice(args);
        let (code, _, err) = amqsim(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(!dir.exists(), "nothing written on bad input");
}

#[test]
fn a_baseline_marks_what_moved_and_nothing_when_nothing_changed() {
    let (old, same, slower) = (temp_dir("base-old"), temp_dir("base-same"), temp_dir("base-slower"));
    let args = ["--scenario", "master-crash"];
    assert_eq!(report(&old, &args).0, 0);
    let base = old.join("summary.json").to_string_lossy().into_owned();
    let json = |dir| -> serde_json::Value { serde_json::from_str(&read(dir, "summary.json")).expect("json") };
    // The same seeds and settings: nothing moved.
    let (code, stdout) = report(&same, &["--scenario", "master-crash", "--baseline", &base]);
    assert_eq!(code, 0);
    assert!(stdout.contains("0 timings and counts moved"), "{stdout}");
    assert_eq!(json(&same)["baseline"]["moved"].as_array().map(Vec::len), Some(0));
    // A longer session timeout: the failover phases moved up, and are marked.
    let extra = ["--scenario", "master-crash", "--baseline", &base, "--set", "zk_session_timeout_ms=10000"];
    assert_eq!(report(&slower, &extra).0, 0);
    let moved = json(&slower)["baseline"]["moved"].as_array().expect("an array").clone();
    for timing in ["fault_to_expired_ms", "fault_to_serving_ms", "fault_to_client_reconnect_ms"] {
        let what = format!("timing {timing} p50");
        let m = moved
            .iter()
            .find(|m| m["what"] == what.as_str())
            .unwrap_or_else(|| panic!("{what} in {moved:?}"));
        assert!(m["new"].as_f64() > m["old"].as_f64(), "{m}");
    }
    let h = read(&slower, "index.html");
    assert!(h.contains("<section id=\"baseline\">") && h.contains("▲ vs baseline"));
    // A scenario the baseline does not have is said to be uncompared, not silently passed.
    let other = temp_dir("base-other");
    let (_, stdout) = report(&other, &["--scenario", "zk-leader-crash", "--baseline", &base]);
    assert!(stdout.contains("zk-leader-crash scenario: – -> – (not in the baseline"), "{stdout}");
}

#[test]
fn a_bad_baseline_exits_2_naming_the_file() {
    let dir = temp_dir("bad-base");
    let out = dir.to_string_lossy().into_owned();
    let not_json = super::cli::temp_file("not.json", "{ nope");
    let other = super::cli::temp_file("other.json", "{\"schema\": \"something-else/9\"}");
    for (file, needle) in [
        (not_json.as_str(), "not JSON"),
        (other.as_str(), "schema"),
        ("/no/such/summary.json", "cannot read"),
    ] {
        let (code, _, err) = amqsim(&[
            "report",
            "--scenario",
            "master-crash",
            "--seeds",
            "0..1",
            "--out",
            &out,
            "--baseline",
            file,
        ]);
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("--baseline")
                && err.contains(needle)
                && err.contains(file.rsplit('/').next().unwrap()),
            "{err}"
        );
    }
}

/// The chromium binary on PATH, if any.
fn chromium() -> Option<String> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        let found =
            std::process::Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
        found.status.success().then(|| String::from_utf8_lossy(&found.stdout).trim().to_string())
    })
}

/// Loads `page` in headless Chromium; returns the DOM after load and the URLs the page itself
/// requested (from Chromium's net log: requests with an initiator, not the browser's own).
fn load_in_chromium(browser: &str, page: &std::path::Path, dir: &std::path::Path) -> (String, Vec<String>) {
    let netlog = dir.join("netlog.json");
    let output = std::process::Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        .args(["--disable-component-update", "--no-first-run", "--disable-sync", "--dump-dom"])
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(output.status.success(), "chromium: {}", String::from_utf8_lossy(&output.stderr));
    let log: serde_json::Value = serde_json::from_str(&read(dir, "netlog.json")).expect("a net log");
    let start_job =
        log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_u64().expect("an event type");
    let requested = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start_job))
        .filter(|e| e["params"]["initiator"].as_str().is_some_and(|i| i != "not an origin"))
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_string))
        .collect();
    (String::from_utf8_lossy(&output.stdout).into_owned(), requested)
}

#[test]
fn the_report_loads_in_headless_chromium_without_a_request_and_shows_every_chart() {
    let Some(browser) = chromium() else {
        // .ci/run installs chromium and sets this, so CI cannot skip the check.
        assert!(
            std::env::var_os("AMQSIM_REQUIRE_CHROMIUM").is_none(),
            "chromium is required but not on PATH"
        );
        eprintln!("SKIPPED: chromium is not installed (Debian: apt-get install chromium)");
        return;
    };
    let dir = temp_dir("chromium");
    assert_eq!(report(&dir, &["--scenario", "remote-group-failover"]).0, 0);
    let page = dir.join("index.html");
    let (dom, requested) = load_in_chromium(&browser, &page, &dir);
    assert!(dom.contains("<h1>amqsim report</h1>"), "the page loaded");
    assert_eq!(requested, Vec::<String>::new(), "the page requested nothing");
    let figures: Vec<&str> = dom.split("<figure class=\"chart\"").skip(1).collect();
    assert_eq!(figures.len(), 5, "five charts");
    for figure in figures {
        let chart = &figure[..figure.find("</figure>").expect("a closed figure")];
        assert!(
            chart.contains("<svg") && chart.matches("<polyline").count() + chart.matches("<rect").count() > 3
        );
    }
    // The check itself catches a page that makes a request.
    let planted = dir.join("planted.html");
    std::fs::write(
        &planted,
        read(&dir, "index.html").replace("<body>", "<body><img src=\"http://example.invalid/x.png\">"),
    )
    .expect("write");
    let (_, requested) = load_in_chromium(&browser, &planted, &dir);
    assert_eq!(requested, ["http://example.invalid/x.png"]);
}

/// The JSON Schema keywords docs/report.schema.json uses: `$ref` (to `#/$defs/…`), `const`,
/// `type`, `required`, `properties`, `additionalProperties`, `items`. Returns every error.
fn validate(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    use serde_json::Value;
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("a local $ref");
        return validate(root, &root["$defs"][name], value, at, errors);
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            errors.push(format!("{at}: expected {c}, got {value}"));
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("a type"),
        };
        let is = |ty: &str| match ty {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_u64() || value.is_i64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("type {other}"),
        };
        if !types.iter().any(|ty| is(ty)) {
            errors.push(format!("{at}: expected {types:?}, got {value}"));
            return;
        }
    }
    if let Some(object) = value.as_object() {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = name.as_str().expect("a name");
            if !object.contains_key(name) {
                errors.push(format!("{at}: missing {name}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, v) in object {
            match (properties.and_then(|p| p.get(name)), schema.get("additionalProperties")) {
                (Some(s), _) => validate(root, s, v, &format!("{at}.{name}"), errors),
                (None, Some(Value::Bool(false))) => errors.push(format!("{at}: unexpected key {name}")),
                (None, Some(s)) if s.is_object() => validate(root, s, v, &format!("{at}.{name}"), errors),
                _ => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            validate(root, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

#[test]
fn summary_json_validates_against_its_documented_schema() {
    let schema_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).expect("the schema")).expect("json");
    let check = |summary: &serde_json::Value| {
        let mut errors = Vec::new();
        validate(&schema, &schema, summary, "summary", &mut errors);
        errors
    };
    // A report with a sweep, a baseline and failing seeds exercises every optional part.
    let (base, dir) = (temp_dir("schema-base"), temp_dir("schema"));
    assert_eq!(report(&base, &["--scenario", "master-crash"]).0, 0);
    let base_json = base.join("summary.json").to_string_lossy().into_owned();
    let args =
        ["--scenario", "master-crash", "--sweep", "planted_bug=head_never_elects", "--baseline", &base_json];
    assert_eq!(report(&dir, &args).0, 1);
    for d in [&base, &dir] {
        let summary: serde_json::Value = serde_json::from_str(&read(d, "summary.json")).expect("json");
        assert_eq!(check(&summary), Vec::<String>::new(), "{}", d.display());
    }
    // The validator itself rejects what the schema forbids.
    let mut broken: serde_json::Value = serde_json::from_str(&read(&base, "summary.json")).expect("json");
    broken["scenarios"][0]["timings_ms"]["no_master_ms"]["p50"] = serde_json::json!("fast");
    broken["totals"]["extra"] = serde_json::json!(1);
    broken.as_object_mut().expect("an object").remove("sweep");
    let errors = check(&broken);
    assert_eq!(errors.len(), 3, "{errors:?}");
}

#[test]
fn back_off_and_catch_up_get_their_charts() {
    let dir = temp_dir("backoff");
    assert_eq!(report(&dir, &["--scenario", "bridge-reconnect-backoff"]).0, 0);
    let h = read(&dir, "index.html");
    assert!(h.contains("against the configured back-off"), "the back-off chart");
    let dir = temp_dir("catch-up");
    assert_eq!(report(&dir, &["--scenario", "slave-catch-up"]).0, 0);
    let h = read(&dir, "index.html");
    // Three seeds, each restarting a slave three times and the old master once.
    assert!(h.contains("slave catch-up time against its backlog (12 catch-ups)"), "the catch-up chart");
    assert!(!h.contains("against the configured back-off"), "no bridge waits measured there");
}

#[test]
fn every_fault_step_gets_its_phases_in_the_report() {
    let dir = temp_dir("per-fault");
    assert_eq!(report(&dir, &["--scenario", "slave-catch-up"]).0, 0);
    let summary: serde_json::Value = serde_json::from_str(&read(&dir, "summary.json")).expect("json");
    let per_fault = summary["scenarios"][0]["per_fault"].as_array().expect("an array");
    let steps: Vec<&str> = per_fault.iter().filter_map(|f| f["step"].as_str()).collect();
    assert_eq!(steps, ["stop-1", "stop-2", "stop-3", "kill-master"]);
    // A slave's crash elects nobody; the master's crash elects in every seed.
    for f in &per_fault[..3] {
        assert!(f["phases_ms"].get("fault_to_elected_ms").is_none(), "{f}");
    }
    assert_eq!(per_fault[3]["phases_ms"]["fault_to_elected_ms"]["count"], 3);
    assert_eq!(per_fault[3]["group"], 1);
    assert!(read(&dir, "index.html").contains("<td>fault_to_elected_ms</td><td>3</td>"));
}
