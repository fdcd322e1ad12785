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
    // The outcome bars, then the scenario's CDF, timeline and throughput.
    assert_eq!(h.matches("<svg").count(), 4, "four charts");
    for title in ["Message outcomes", "failover phases, CDF", ": timeline", ": throughput"] {
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
    for seed in 0..3 {
        let replay =
            format!("replay: amqsim replay master-crash --seed {seed} --set planted_bug=head_never_elects");
        assert!(junit.contains(&replay), "{replay} in {junit}");
    }
    let summary: serde_json::Value = serde_json::from_str(&read(&dir, "summary.json")).expect("json");
    assert_eq!(summary["totals"]["failed"], 3);
}
