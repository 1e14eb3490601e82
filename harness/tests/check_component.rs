//! `kvconf check component` on every committed driver fixture and both spin-sdk apps: the key-value version
//! each imports and the HTTP handler each exports; a component whose import differs from the canonical WIT;
//! and what is not a component.

use kvconf::check::component::check_component;
use kvconf::check::{Code, Finding, Severity, has_errors};
use kvconf::interface::Interface;
use std::path::Path;
use wit_component::{ComponentEncoder, StringEncoding, dummy_module, embed_component_metadata};
use wit_parser::{ManglingAndAbi, Resolve};

fn check(path: &str) -> Vec<Finding> {
    check_component(Path::new(path), None).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The messages of the `found` notes.
fn found(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.code == Code::Found)
        .map(|f| f.message.clone())
        .collect()
}

#[test]
fn every_fixture_imports_its_version_and_http_ones_export_their_handler() {
    let versions = [
        ("v1", Interface::V1),
        ("v2", Interface::V2),
        ("v3", Interface::V3),
        ("wasi-keyvalue", Interface::WasiKeyvalue),
        ("wasi-keyvalue-draft", Interface::WasiKeyvalueDraft),
    ];
    for (name, version) in versions {
        for (prefix, handler) in [
            ("driver", None),
            (
                "http-driver",
                Some(if version == Interface::V3 {
                    "wasi:http/handler@0.3.0"
                } else {
                    "wasi:http/incoming-handler@0.2.2"
                }),
            ),
        ] {
            let path = format!("../guest-fixtures/prebuilt/{prefix}-{name}.wasm");
            let findings = check(&path);
            assert!(!has_errors(&findings), "{path}: {findings:#?}");
            let notes = found(&findings);
            let imports: Vec<&String> = notes.iter().filter(|m| m.contains(" imports ")).collect();
            assert_eq!(imports.len(), 1, "{path}: {notes:#?}");
            assert!(
                imports[0].contains(&format!(" imports {name} ({}): ", version.wit_name())),
                "{path}: {notes:#?}"
            );
            let exports = notes.iter().find(|m| m.contains("export")).unwrap();
            match handler {
                Some(handler) => assert!(
                    exports.ends_with(&format!("is an HTTP component: it exports {handler}")),
                    "{path}: {exports}"
                ),
                None => assert!(
                    exports.contains("exports no HTTP handler (it exports run)"),
                    "{path}: {exports}"
                ),
            }
        }
    }
}

#[test]
fn the_spin_sdk_apps_import_what_their_sdk_binds_and_export_its_handler() {
    for (app, version, handler) in [
        (
            "kv-app-sdk5",
            Interface::V2,
            "wasi:http/incoming-handler@0.2.0",
        ),
        (
            "kv-app-sdk5-wasip1",
            Interface::V2,
            "wasi:http/incoming-handler@0.2.0",
        ),
        ("kv-app-sdk7", Interface::V3, "wasi:http/handler@0.3.0"),
    ] {
        let path = format!("../guest-fixtures/spin-sdk-apps/prebuilt/{app}.wasm");
        let findings = check(&path);
        assert!(!has_errors(&findings), "{path}: {findings:#?}");
        let notes = found(&findings).join("\n");
        assert!(
            notes.contains(&format!(
                " imports {} ({}): store.open, store.get, store.set, store.delete, store.get-keys",
                version.name(),
                version.wit_name()
            )),
            "{path}: {notes}"
        );
        assert!(
            notes.contains(&format!("it exports {handler}")),
            "{path}: {notes}"
        );
        assert_eq!(
            notes.contains("is a core module (wasm32-wasip1): componentized"),
            app.ends_with("wasip1"),
            "{path}: {notes}"
        );
    }
}

#[test]
fn a_version_the_profile_does_not_provide_is_an_error() {
    let spin = kvconf::reference::ReferenceHost::profile_from(
        "spin-profile.toml",
        Path::new("../adapters"),
    )
    .unwrap();
    let path = Path::new("../guest-fixtures/prebuilt/driver-wasi-keyvalue-draft.wasm");
    let findings = check_component(path, Some(&spin)).unwrap();
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{findings:#?}");
    assert_eq!(errors[0].code, Code::VersionNotProvided);
    assert!(
        errors[0]
            .message
            .contains("which profile spin does not provide")
    );
    let v2 = Path::new("../guest-fixtures/prebuilt/driver-v2.wasm");
    assert!(!has_errors(&check_component(v2, Some(&spin)).unwrap()));
}

/// A component built (with wit-component's dummy module) against a v2 WIT whose `store.set` takes a string:
/// no conforming host links it, and the finding says why.
#[test]
fn an_import_that_differs_from_the_canonical_wit_is_a_breaking_error() {
    let mutated = std::fs::read_to_string("../wit/deps/fermyon-spin-v2/key-value.wit")
        .unwrap()
        .replace(
            "set: func(key: string, value: list<u8>)",
            "set: func(key: string, value: string)",
        );
    assert!(mutated.contains("set: func(key: string, value: string)"));
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str(
            "key-value.wit",
            &format!("{mutated}\nworld app {{ import key-value; }}\n"),
        )
        .unwrap();
    let world = resolve.select_world(&[package], Some("app")).unwrap();
    let mut module = dummy_module(&resolve, world, ManglingAndAbi::Standard32);
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    let component = ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutated.wasm");
    std::fs::write(&path, component).unwrap();
    let findings = check_component(&path, None).unwrap();
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{findings:#?}");
    assert_eq!(errors[0].code, Code::ParamsChanged);
    assert_eq!(errors[0].path, "fermyon:spin/key-value@2.0.0#store.set");
    assert!(errors[0].breaking);
}

#[test]
fn what_is_not_a_component_is_bad_input_saying_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not wasm\n").unwrap();
    let error = check_component(&text, None).unwrap_err().to_string();
    assert!(error.contains("is not WebAssembly"), "{error}");

    let core = dir.path().join("core.wasm");
    std::fs::write(&core, wat::parse_str("(module)").unwrap()).unwrap();
    let error = check_component(&core, None).unwrap_err().to_string();
    assert!(
        error.contains("is a core WebAssembly module, not a component"),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");

    let truncated = dir.path().join("truncated.wasm");
    let whole = std::fs::read("../guest-fixtures/prebuilt/driver-v2.wasm").unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    let error = check_component(&truncated, None).unwrap_err().to_string();
    assert!(error.contains("is not a valid component"), "{error}");

    let missing = check_component(&dir.path().join("missing.wasm"), None).unwrap_err();
    assert!(missing.to_string().contains("cannot read it"), "{missing}");
}
