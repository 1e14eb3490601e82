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
