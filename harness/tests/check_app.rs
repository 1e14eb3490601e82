//! `kvconf check app` on Spin applications: an undefined label refused as `spin up` refuses it, the same app
//! passing once a runtime config defines the label, and each other finding the check makes.

use kvconf::check::app::check_app;
use kvconf::check::{Code, Finding, Severity, has_errors};
use std::path::{Path, PathBuf};

const LABEL_APP: &str = "tests/check-app/label";

/// The findings that are not notes, as (code, severity, path).
fn differences(findings: &[Finding]) -> Vec<(Code, Severity, String)> {
    findings
        .iter()
        .filter(|f| f.severity != Severity::Note)
        .map(|f| (f.code, f.severity, f.path.clone()))
        .collect()
}

#[test]
fn an_undefined_label_fails_naming_component_and_label_and_passes_once_defined() {
    let findings = check_app(Path::new(LABEL_APP), None, None).unwrap();
    assert_eq!(
        differences(&findings),
        [(
            Code::LabelUndefined,
            Severity::Error,
            "component.kv-app".to_owned()
        )]
    );
    let error = findings
        .iter()
        .find(|f| f.code == Code::LabelUndefined)
        .unwrap();
    assert!(
        error
            .message
            .starts_with("component \"kv-app\" is granted the label \"cache\""),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .contains("spin up refuses to load the application")
    );
    assert_eq!(error.statements, ["OPEN-UNCONFIGURED"]);

    let config = Path::new(LABEL_APP).join("runtime-config.toml");
    let findings = check_app(Path::new(LABEL_APP), Some(&config), None).unwrap();
    assert!(differences(&findings).is_empty(), "{findings:#?}");
    assert!(
        findings.iter().any(|f| f
            .message
            .contains("imports v2 (fermyon:spin/key-value@2.0.0)")),
        "{findings:#?}"
    );
}

#[test]
fn a_host_answering_no_such_store_makes_an_undefined_label_a_warning() {
    let unbounded =
        kvconf::reference::ReferenceHost::profile_from("unbounded", Path::new(".")).unwrap();
    let findings = check_app(Path::new(LABEL_APP), None, Some(&unbounded)).unwrap();
    assert_eq!(
        differences(&findings),
        [(
            Code::LabelUndefined,
            Severity::Warning,
            "component.kv-app".to_owned()
        )]
    );
    assert!(!has_errors(&findings));
}

/// A component importing nothing, built with wit-component's dummy module.
fn component_without_key_value(dir: &Path) -> PathBuf {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("empty.wit", "package test:empty;\nworld empty {}\n")
        .unwrap();
    let world = resolve.select_world(&[package], Some("empty")).unwrap();
    let mut module =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .encode()
        .unwrap();
    let path = dir.join("empty.wasm");
    std::fs::write(&path, component).unwrap();
    path
}

#[test]
fn names_store_types_sources_and_unusable_grants_are_each_one_finding() {
    let dir = tempfile::tempdir().unwrap();
    let empty = component_without_key_value(dir.path());
    let sdk7 =
        std::fs::canonicalize("../guest-fixtures/spin-sdk-apps/prebuilt/kv-app-sdk7.wasm").unwrap();
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "many"

[[trigger.http]]
route = "/..."
component = "no-grant"

[[trigger.redis]]
channel = "messages"
component = "grant-unused"

[component.no-grant]
source = {sdk7:?}
sqlite_databases = ["default"]

[component.grant-unused]
source = {empty:?}
key_value_stores = ["default"]

[component.Bad_Name]
source = {sdk7:?}
key_value_stores = ["default", "Mixed-case", "cache"]

[component.missing]
source = "missing.wasm"
key_value_stores = ["default"]
"#
    );
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        "[key_value_store.cache]\ntype = \"memory\"\n\n[key_value_store.other]\ntype = \"redis\"\nurl = \"redis://localhost\"\n",
    )
    .unwrap();
    let findings = check_app(dir.path(), Some(&config), None).unwrap();
    let mut found = differences(&findings);
    found.sort();
    let expected = [
        (Code::NameInvalid, Severity::Error, "component.Bad_Name"),
        (Code::NameInvalid, Severity::Error, "component.Bad_Name"),
        (
            Code::StoreTypeUnknown,
            Severity::Error,
            "key_value_store.cache",
        ),
        (Code::NoGrant, Severity::Warning, "component.no-grant"),
        (
            Code::GrantUnused,
            Severity::Warning,
            "component.grant-unused",
        ),
        (Code::SourceUnreadable, Severity::Error, "component.missing"),
    ];
    let mut expected: Vec<(Code, Severity, String)> = expected
        .into_iter()
        .map(|(c, s, p)| (c, s, p.to_owned()))
        .collect();
    expected.sort();
    assert_eq!(found, expected, "{findings:#?}");
    let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
    let has = |text: &str| messages.iter().any(|m| m.contains(text));
    assert!(
        has("the component ID \"Bad_Name\" is not one Spin accepts"),
        "{messages:#?}"
    );
    assert!(
        has("granted the label \"Mixed-case\", which Spin does not accept"),
        "{messages:#?}"
    );
    assert!(
        has("type = \"memory\", which is kvhost's own"),
        "{messages:#?}"
    );
    assert!(has("every open is access-denied"), "{messages:#?}");
    assert!(has("imports no key-value interface"), "{messages:#?}");
    assert!(has("missing.wasm, cannot be read"), "{messages:#?}");
}

#[test]
fn a_manifest_that_is_not_one_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spin.toml"), "spin_version = \"1\"\n").unwrap();
    let error = check_app(dir.path(), None, None).unwrap_err().to_string();
    assert!(error.contains("version 1 manifest"), "{error}");
    let missing = check_app(&dir.path().join("nowhere"), None, None).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("could not read the application manifest"),
        "{missing}"
    );
}
