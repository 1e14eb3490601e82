//! `kvconf check wit` on kvconf's own WIT and on a directory of mutated WIT trees (`tests/check-wit/`), each
//! mutation one change a runtime might make to its vendored copy; the findings are insta snapshots.

use kvconf::check::wit::check_path;
use kvconf::check::{Code, Finding, Severity, has_errors};
use std::path::Path;

fn check(name: &str) -> Vec<Finding> {
    // Relative to the crate (cargo runs tests there), so that paths in the findings do not name this machine.
    check_path(&Path::new("tests/check-wit").join(name))
        .unwrap_or_else(|e| panic!("check-wit/{name} is bad input: {e}"))
}

/// The findings that are not notes.
fn differences(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.severity != Severity::Note)
        .collect()
}

#[test]
fn kvconfs_own_wit_matches_all_five_versions() {
    let findings = check_path(Path::new("../wit")).expect("wit/ is good input");
    assert!(differences(&findings).is_empty(), "{findings:#?}");
    let found: Vec<&str> = findings
        .iter()
        .filter(|f| f.code == Code::Found)
        .map(|f| f.message.as_str())
        .collect();
    insta::assert_snapshot!("own_wit", found.join("\n"));
}

/// Each mutation gives exactly one difference, an error (so `kvconf check wit` exits 1), as snapshotted.
#[test]
fn each_mutation_gives_exactly_its_finding() {
    for (name, code, breaking) in [
        ("param-type-changed", Code::ParamsChanged, true),
        ("error-case-removed", Code::CaseMissing, true),
        ("function-removed", Code::FunctionMissing, true),
        ("function-extra", Code::FunctionExtra, false),
        ("async-dropped", Code::AsyncChanged, true),
        ("stream-element-changed", Code::ResultChanged, true),
        ("record-field-renamed", Code::FieldRenamed, true),
    ] {
        let findings = check(name);
        let differences = differences(&findings);
        assert_eq!(differences.len(), 1, "{name}: {differences:#?}");
        let finding = differences[0];
        assert_eq!((finding.code, finding.breaking), (code, breaking), "{name}");
        assert_eq!(finding.severity, Severity::Error, "{name}");
        assert!(has_errors(&findings), "{name}");
        insta::assert_snapshot!(name, serde_json::to_string_pretty(&findings).unwrap());
    }
}

#[test]
fn a_syntax_error_is_bad_input_naming_file_and_line() {
    let error = check_path(Path::new("tests/check-wit/syntax-error")).unwrap_err();
    let text = error.to_string();
    // The missing `;` after `exists` is found at the next line's first token.
    assert!(
        text.contains("tests/check-wit/syntax-error/key-value.wit:9:"),
        "{text}"
    );
    insta::assert_snapshot!("syntax_error", text);
}

#[test]
fn missing_paths_and_trees_without_key_value_are_bad_input() {
    let missing = check_path(Path::new("tests/check-wit/no-such-dir")).unwrap_err();
    assert!(missing.to_string().contains("cannot read it"), "{missing}");
    let none = check_path(Path::new("../wit/deps/wasi-http-0.3.0")).unwrap_err();
    assert!(
        none.to_string().contains("no key-value package found"),
        "{none}"
    );
}

/// A runtime's tree whose world imports wasi:http, which it does not vendor: the key-value package is still
/// checked, and the missing package is a note, not a failure.
#[test]
fn a_partial_deps_tree_is_checked_with_a_note() {
    let findings = check("partial-deps");
    assert!(!has_errors(&findings), "{findings:#?}");
    assert!(findings.iter().any(|f| f.code == Code::DependencyMissing));
    assert!(
        findings
            .iter()
            .any(|f| f.code == Code::Found && f.message.contains("matches"))
    );
    insta::assert_snapshot!(
        "partial_deps",
        serde_json::to_string_pretty(&findings).unwrap()
    );
}

/// `spin:key-value@3.1.0` is not a version kvconf knows: compared with 3.0.0, an added function is a warning.
#[test]
fn an_unknown_version_is_compared_with_the_nearest() {
    let findings = check("unknown-version");
    assert!(!has_errors(&findings), "{findings:#?}");
    assert_eq!(findings[0].code, Code::UnknownVersion);
    insta::assert_snapshot!(
        "unknown_version",
        serde_json::to_string_pretty(&findings).unwrap()
    );
}

/// wasi:keyvalue's `watcher` interface, which guests export (world `watch-service`) and kvconf's canonical
/// draft2 leaves out, is a note: the package still matches.
#[test]
fn an_interface_the_imports_world_does_not_import_is_a_note() {
    let findings = check("guest-exported-interface");
    assert!(differences(&findings).is_empty(), "{findings:#?}");
    let note = findings
        .iter()
        .find(|f| f.code == Code::InterfaceExtra)
        .expect("a note for the watcher interface");
    assert_eq!(note.path, "wasi:keyvalue/watcher@0.2.0-draft2");
    assert!(findings[0].message.ends_with("matches"), "{findings:#?}");
}
