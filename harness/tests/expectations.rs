//! `kvconf run --expectations`, `--bless` and `--strict`, run as a user runs them.

use std::path::Path;
use std::process::Command;

fn kvconf(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kvconf"))
        .args([
            "run",
            "--interface",
            "v2",
            "--backend",
            "memory",
            "--histories",
            "0",
        ])
        .args(args)
        .output()
        .expect("running kvconf");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn an_unknown_trial_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.toml");
    std::fs::write(
        &file,
        "[[expect]]\ntrial = \"v2/memory/exists/no-such-case\"\noutcome = \"fail\"\nreason = \"r\"\n",
    )
    .unwrap();
    let (code, out) = kvconf(&["--expectations", path(&file)]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("no case has the ID \"exists/no-such-case\""),
        "{out}"
    );
    assert!(!out.contains("statement "), "the suite ran: {out}");
}

#[test]
fn a_stale_expectation_fails_the_run_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.toml");
    std::fs::write(
        &file,
        "[[expect]]\ntrial = \"v2/memory/exists/false-then-true\"\noutcome = \"fail\"\nreason = \"pretend\"\n",
    )
    .unwrap();
    let (code, out) = kvconf(&["--expectations", path(&file)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "stale: v2/memory/exists/false-then-true: listed as expected to fail, but it passed"
        ),
        "{out}"
    );
}

#[test]
fn bless_round_trips_and_strict_counts_undeclared_skips() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.toml");
    // The reference host skips the cases for claims its profile does not make: undeclared, they fail --strict.
    let (code, out) = kvconf(&["--strict"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("undeclared skip: v2/memory/"), "{out}");
    let (code, out) = kvconf(&["--expectations", path(&file), "--bless"]);
    assert_eq!(code, 0, "{out}");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("outcome = \"skip\""), "{written}");
    let (code, out) = kvconf(&["--expectations", path(&file), "--strict"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("0 undeclared skip(s) (--strict), 0 stale"),
        "{out}"
    );
    // Blessing again from the file it wrote changes nothing.
    let (code, _) = kvconf(&["--expectations", path(&file), "--bless"]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
}

#[test]
fn blessing_part_of_the_trials_keeps_the_entries_of_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.toml");
    let (code, _) = kvconf(&["--expectations", path(&file), "--bless"]);
    assert_eq!(code, 0);
    let written = std::fs::read_to_string(&file).unwrap();
    let edited = written.replacen("reason = \"seen in a run:", "reason = \"hand-written:", 1);
    assert_ne!(edited, written);
    std::fs::write(&file, &edited).unwrap();
    // A filtered run that includes none of the listed trials leaves every entry, and its reason, in place.
    let (code, out) = kvconf(&[
        "--expectations",
        path(&file),
        "--bless",
        "--filter",
        "exists/",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), edited);
    // Entries outside the run are reported, not silently judged.
    let (code, out) = kvconf(&["--expectations", path(&file), "--filter", "exists/"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not in this run"), "{out}");
}

#[test]
fn an_expected_failure_is_reported_as_skipped_with_its_reason_and_the_run_passes() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases");
    std::fs::create_dir(&cases).unwrap();
    // A case that fails on any conforming host: it stands in for a host's known gap.
    std::fs::write(
        cases.join("gap.toml"),
        "id = \"gap/known\"\ntitle = \"a known gap\"\nstatements = [\"GET-MISSING\"]\ninterfaces = [\"v2\"]\n\n\
         [[step]]\nops = [\n  { op = \"open\", label = \"default\", expect = \"ok\" },\n  \
         { op = \"get\", key = \"k\", expect = { value = \"v\" } },\n]\n",
    )
    .unwrap();
    let file = dir.path().join("x.toml");
    let (code, out) = kvconf(&["--cases", path(&cases)]);
    assert_eq!(code, 1, "{out}");
    std::fs::write(
        &file,
        "[[expect]]\ntrial = \"v2/memory/gap/known\"\noutcome = \"fail\"\nreason = \"tracked as #1\"\n",
    )
    .unwrap();
    let (code, out) = kvconf(&[
        "--cases",
        path(&cases),
        "--expectations",
        path(&file),
        "--format",
        "junit",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("<skipped message=\"expected failure, listed in"),
        "{out}"
    );
    assert!(out.contains("tracked as #1"), "{out}");
    assert!(!out.contains("<failure"), "{out}");
    assert!(out.contains("1 expected failure(s)"), "{out}");
}
