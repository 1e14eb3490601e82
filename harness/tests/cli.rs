//! The `kvconf` command line, run as a user runs it.

use std::process::Command;

fn kvconf(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kvconf"))
        .args(args)
        .output()
        .expect("running kvconf");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn fuzz_runs_sequences_and_histories_and_says_how_many() {
    let (ok, out) = kvconf(&[
        "fuzz",
        "--interface",
        "v2",
        "--backend",
        "memory",
        "--sequences",
        "8",
        "--histories",
        "2",
        "--seed",
        "5",
        "--no-progress",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("v2/memory                     8 sequences"),
        "{out}"
    );
    assert!(out.contains("2 histories"), "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("kvconf fuzz: 8 sequences (")
            && last.ends_with("no difference, no violation"),
        "{out}"
    );
}

#[test]
fn fuzz_refuses_zero_sequences_with_a_reason() {
    let (ok, out) = kvconf(&["fuzz", "--sequences", "0"]);
    assert!(!ok);
    assert!(out.contains("--sequences 0 would check nothing"), "{out}");
}

#[test]
fn run_reports_the_concurrent_histories_trial() {
    let (ok, out) = kvconf(&[
        "run",
        "--interface",
        "v1",
        "--backend",
        "memory",
        "--histories",
        "2",
        "--format",
        "json",
    ]);
    assert!(ok, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let trial = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "generated/concurrent-histories")
        .expect("the histories trial");
    assert_eq!(trial["outcome"], "pass");
    assert_eq!(
        trial["statements"],
        serde_json::json!(["CONCURRENT-VISIBLE", "CONCURRENT-ATOMIC"])
    );
}

#[test]
fn run_prints_a_junit_report_that_parses() {
    let out = Command::new(env!("CARGO_BIN_EXE_kvconf"))
        .args([
            "run",
            "--interface",
            "v1",
            "--backend",
            "memory",
            "--histories",
            "0",
            "--format",
            "junit",
        ])
        .output()
        .expect("running kvconf");
    let xml = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        out.status.success(),
        "{xml}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1, "{xml}");
    assert_eq!(suites[0].attribute("name"), Some("v1/memory"));
    let cases = suites[0]
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert!(cases > 50, "{xml}");
    assert_eq!(root.attribute("tests"), Some(cases.to_string().as_str()));
    assert_eq!(root.attribute("failures"), Some("0"));
    assert_eq!(root.attribute("errors"), Some("0"));
    let skipped = suites[0]
        .descendants()
        .filter(|n| n.has_tag_name("skipped"))
        .count();
    assert_eq!(
        root.attribute("skipped"),
        Some(skipped.to_string().as_str())
    );
    assert!(
        !xml.contains("generated/concurrent-histories"),
        "--histories 0 leaves the trial out"
    );
}

#[test]
fn run_prints_a_markdown_matrix() {
    let (ok, out) = kvconf(&[
        "run",
        "--interface",
        "v2",
        "--backend",
        "all",
        "--histories",
        "1",
        "--format",
        "markdown",
    ]);
    assert!(ok, "{out}");
    assert!(out.starts_with("# kvconf conformance matrix\n"), "{out}");
    assert!(out.contains("\n- expectations: none\n- seed: 1\n"), "{out}");
    assert!(
        out.contains("| statement | strength | v2/memory | v2/sqlite |\n"),
        "{out}"
    );
    assert!(
        out.contains("| CONCURRENT-ATOMIC | MUST | pass (1) | pass (1) |\n"),
        "{out}"
    );
    assert!(
        out.contains("| HANDLE-V1-CLOSE | MUST | n/a | n/a |\n"),
        "{out}"
    );
    assert!(out.ends_with("## Failures\n\nNone.\n"), "{out}");
}

#[test]
fn a_profile_file_configures_the_reference_host_and_the_generator() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.toml");
    // Undefined labels answered at open and a small open-store bound: an open of an undefined label with the
    // table full may fail either way, which the model must not pretend to know.
    std::fs::write(
        &file,
        "name = \"small\"\ninterfaces = [\"v2\"]\nopen-stores = 4\nunconfigured-label = \"no-such-store\"\n\
         v1-invalid-handle = \"trap\"\n\n[limits]\nkey-bytes = 64\nvalue-bytes = 100000\ntuples = 1024\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (ok, out) = kvconf(&[
        "fuzz",
        "--profile",
        path,
        "--backend",
        "memory",
        "--sequences",
        "150",
        "--histories",
        "2",
        "--no-progress",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("profile small"), "{out}");
    assert!(out.contains("v2/memory "), "{out}");
    assert!(!out.contains("v1/memory"), "{out}");
    let (ok, out) = kvconf(&["fuzz", "--profile", path, "--interface", "v3"]);
    assert!(!ok);
    assert!(out.contains("profile small does not provide"), "{out}");
    std::fs::write(&file, "name = \"broken\"\nlimits = 3\n").unwrap();
    let (ok, out) = kvconf(&["run", "--profile", path]);
    assert!(!ok);
    assert!(out.contains("is not a valid profile"), "{out}");
}

/// The report's header says what ran: the reference host's durability is its backend's, whatever the profile
/// file claims, and a claim the backend cannot keep is pointed out.
#[test]
fn the_report_header_shows_each_backends_real_durability() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("durable.toml");
    std::fs::write(
        &file,
        "name = \"claims-durable\"\ninterfaces = [\"v2\"]\ndurable = true\nunconfigured-label = \"refuse-load\"\nv1-invalid-handle = \"error\"\n\n[limits]\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let run = |backend: &str| {
        kvconf(&[
            "run",
            "--profile",
            path,
            "--backend",
            backend,
            "--filter",
            "persist-restart/",
        ])
    };
    let (ok, out) = run("memory");
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "claims durable stores, but the memory backend keeps nothing across a restart"
        ),
        "{out}"
    );
    let header = out.lines().find(|l| l.starts_with("profile ")).unwrap();
    assert!(!header.contains(", durable across restarts"), "{header}");
    let (ok, out) = run("sqlite");
    assert!(ok, "{out}");
    assert!(!out.contains("keeps nothing"), "{out}");
    let header = out.lines().find(|l| l.starts_with("profile ")).unwrap();
    assert!(header.contains(", durable across restarts"), "{header}");
    // Over both backends, the profile stays as given and a note says which backend is durable, in the human
    // header and in the JSON report.
    let (ok, out) = run("all");
    assert!(ok, "{out}");
    let header = out.lines().find(|l| l.starts_with("profile ")).unwrap();
    assert!(
        header.starts_with("profile claims-durable: ")
            && header.ends_with("; durable on sqlite only"),
        "{header}"
    );
    let (ok, out) = kvconf(&[
        "run",
        "--profile",
        path,
        "--backend",
        "all",
        "--filter",
        "persist-restart/",
        "--format",
        "json",
    ]);
    assert!(ok, "{out}");
    let json = &out[out.find('{').unwrap()..];
    let json: serde_json::Value = serde_json::Deserializer::from_str(json)
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(json["profile"]["name"], "claims-durable", "{json}");
    assert_eq!(json["profile_note"], "durable on sqlite only", "{json}");
}

#[test]
fn a_bad_adapter_file_is_refused_before_anything_runs_saying_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let cases = [
        (
            "no-port.toml",
            "name = \"x\"\nprofile = \"sip010\"\ncommand = \"exec my-runtime {manifest}\"\n",
            "must use {port}",
        ),
        (
            "placeholder.toml",
            "name = \"x\"\nprofile = \"sip010\"\ncommand = \"exec my-runtime --port {port} {manfest}\"\n",
            "unknown placeholder {manfest}",
        ),
        (
            "signal.toml",
            "name = \"x\"\nprofile = \"sip010\"\ncommand = \"exec r {port}\"\nstop-signal = \"STOP\"\n",
            "`stop-signal` must be one of",
        ),
        (
            "profile.toml",
            "name = \"x\"\nprofile = \"no-such-profile\"\ncommand = \"exec r {port}\"\n",
            "unknown profile \"no-such-profile\"",
        ),
        (
            "field.toml",
            "name = \"x\"\nprofile = \"sip010\"\ncommand = \"exec r {port}\"\nstart-timout = 3\n",
            "unknown field `start-timout`",
        ),
    ];
    for (name, text, says) in cases {
        let path = write(name, text);
        let (ok, out) = kvconf(&["run", "--adapter", &path]);
        assert!(!ok, "{name} was accepted: {out}");
        assert!(
            out.contains(says),
            "{name}: the error does not say {says:?}:\n{out}"
        );
        assert!(!out.contains("passed"), "{name}: something ran:\n{out}");
    }
    // The reference host's own options make no sense for a runtime the adapter starts.
    let path = write(
        "ok.toml",
        "name = \"x\"\nprofile = \"sip010\"\ncommand = \"exec r {port}\"\n",
    );
    let (ok, out) = kvconf(&["run", "--adapter", &path, "--backend", "memory"]);
    assert!(
        !ok && out.contains("with --adapter the runtime is the host"),
        "{out}"
    );
    let (ok, out) = kvconf(&["run", "--adapter", &path, "--timeout", "5"]);
    assert!(!ok && out.contains("set request-timeout"), "{out}");
}

#[test]
fn a_runtime_that_never_serves_fails_each_case_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        "name = \"broken\"\nprofile = \"sip010\"\ncommand = \"echo listening on {port}; echo 'no such runtime' >&2; exit 3\"\n",
    )
    .unwrap();
    let (ok, out) = kvconf(&[
        "run",
        "--adapter",
        &path.to_string_lossy(),
        "--interface",
        "v2",
        "--filter",
        "get-missing",
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("exited (exit status: 3) before serving"),
        "{out}"
    );
    assert!(out.contains("no such runtime"), "{out}");
    assert!(out.contains("0 passed"), "{out}");
}
