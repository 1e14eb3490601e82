//! `kvconf check`, run as a user runs it: exit codes (0 matches, 1 a difference, 2 bad input) and the three
//! output formats, each parsed back.

use std::process::Command;

/// Runs kvconf in the crate's directory; the exit code and stdout, stderr.
fn kvconf(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kvconf"))
        .args(args)
        .output()
        .expect("running kvconf");
    (
        out.status.code().expect("kvconf exits, not killed"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_wit_on_kvconfs_own_wit_matches_all_five_versions() {
    let (code, out, err) = kvconf(&["check", "wit", "../wit"]);
    assert_eq!(code, 0, "{out}{err}");
    for version in ["v1", "v2", "v3", "wasi-keyvalue", "wasi-keyvalue-draft"] {
        assert!(
            out.contains(&format!(" is {version}: matches")),
            "{version}: {out}"
        );
    }
    assert!(
        out.trim_end()
            .ends_with("ok: 0 error(s) (0 breaking), 0 warning(s), 5 note(s)"),
        "{out}"
    );
}

#[test]
fn check_wit_on_a_mutation_exits_1_and_shows_both_sides() {
    let (code, out, err) = kvconf(&["check", "wit", "tests/check-wit/param-type-changed"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("error[params-changed] fermyon:spin/key-value@2.0.0#store.set (breaking)"),
        "{out}"
    );
    assert!(
        out.contains("kvconf  | set: func(key: string, value: list<u8>) -> result<_, error>;"),
        "{out}"
    );
    assert!(
        out.contains("checked | set: func(key: string, value: string) -> result<_, error>;"),
        "{out}"
    );
}

#[test]
fn check_wit_json_lists_findings_with_code_path_severity() {
    let (code, out, err) = kvconf(&[
        "check",
        "wit",
        "--format",
        "json",
        "tests/check-wit/error-case-removed",
    ]);
    assert_eq!(code, 1, "{err}");
    let value: serde_json::Value = serde_json::from_str(&out).expect("JSON on stdout");
    assert_eq!(value["ok"], false);
    let errors: Vec<&serde_json::Value> = value["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{out}");
    assert_eq!(errors[0]["code"], "case-missing");
    assert!(errors[0]["statements"].is_array());
}

#[test]
fn check_wit_junit_parses_and_fails_one_testcase_per_error() {
    let (code, out, err) = kvconf(&[
        "check",
        "wit",
        "tests/check-wit/function-removed",
        "--format",
        "junit",
    ]);
    assert_eq!(code, 1, "{err}");
    let doc = roxmltree::Document::parse(&out).expect("well-formed XML");
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), 1, "{out}");
    assert_eq!(failures[0].attribute("type"), Some("function-missing"));
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("failures"), Some("1"));
}

#[test]
fn check_wit_bad_input_exits_2_with_file_and_line() {
    let (code, out, err) = kvconf(&["check", "wit", "tests/check-wit/syntax-error"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(".wit:"), "{err}");
    let (code, _, err) = kvconf(&["check", "wit", "tests/check-wit/does-not-exist"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does-not-exist"), "{err}");
}

#[test]
fn check_component_lists_imports_and_handler_and_refuses_text() {
    let (code, out, err) = kvconf(&[
        "check",
        "component",
        "../guest-fixtures/spin-sdk-apps/prebuilt/kv-app-sdk7.wasm",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("imports v3 (spin:key-value/key-value@3.0.0): store.open"),
        "{out}"
    );
    assert!(out.contains("it exports wasi:http/handler@0.3.0"), "{out}");
    let (code, out, err) = kvconf(&["check", "component", "Cargo.toml"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Cargo.toml is not WebAssembly"), "{err}");
    let (code, out, err) = kvconf(&[
        "check",
        "component",
        "--adapter",
        "../adapters/spin.toml",
        "../guest-fixtures/prebuilt/driver-wasi-keyvalue-draft.wasm",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("error[version-not-provided]"), "{out}");
}

#[test]
fn check_app_fails_on_an_undefined_label_and_passes_with_it_defined() {
    let (code, out, err) = kvconf(&["check", "app", "tests/check-app/label"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("component \"kv-app\" is granted the label \"cache\""),
        "{out}"
    );
    let (code, out, err) = kvconf(&[
        "check",
        "app",
        "tests/check-app/label/spin.toml",
        "--runtime-config-file",
        "tests/check-app/label/runtime-config.toml",
    ]);
    assert_eq!(code, 0, "{out}{err}");
}
