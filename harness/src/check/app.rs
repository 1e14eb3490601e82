//! `kvconf check app`: a Spin application (its `spin.toml` and runtime configuration) before it is run.
//!
//! The manifest is read by kvhost's own reader ([`Manifest::read`] with [`Purpose::Check`]: what Spin would
//! load, not only what `kvhost serve` serves) and the runtime configuration's stores by kvhost's
//! ([`RuntimeConfig::declared`]). What is checked:
//!
//! - every label a component is granted (`key_value_stores`) is `default` or a `[key_value_store.<label>]` of
//!   the runtime configuration: otherwise `spin up` refuses to load the application, and so does this check
//!   (OPEN-UNCONFIGURED; a host profile that answers such a label with `no-such-store` at `open` makes it a
//!   warning);
//! - component IDs and labels are names Spin's manifest accepts (`spin-serde`'s `KebabId`; a label is kebab-case
//!   or snake_case);
//! - every store type in the runtime configuration is one Spin knows ([`SPIN_TYPES`]);
//! - each component's source, checked as [`component`](super::component) checks a file;
//! - a component importing key-value but granted nothing (every `open` is `access-denied`: OPEN-GRANT), and one
//!   granted labels but importing no key-value interface, are warnings.

use super::component::inspect;
use super::wit::BadInput;
use super::{Code, Finding, Severity};
use crate::interface::Interface;
use crate::profile::{Profile, UnconfiguredLabel};
use kvhost::config::{RuntimeConfig, SPIN_TYPES};
use kvhost::serve::manifest::{ComponentSpec, Manifest, Purpose};
use std::collections::BTreeMap;
use std::path::Path;

/// The label every Spin application may be granted without runtime configuration.
const DEFAULT_LABEL: &str = "default";

/// Checks the application at `manifest` (a `spin.toml` or its directory) with the runtime configuration file
/// `runtime_config`, if any, for a host with `profile`, if given.
pub fn check_app(
    manifest: &Path,
    runtime_config: Option<&Path>,
    profile: Option<&Profile>,
) -> Result<Vec<Finding>, BadInput> {
    let manifest =
        Manifest::read(manifest, Purpose::Check).map_err(|e| BadInput(format!("{e:#}")))?;
    let stores = read_stores(runtime_config)?;
    let defined = defined(runtime_config, &stores);

    let mut findings = vec![Finding::new(
        Code::Found,
        Severity::Note,
        manifest.path.display().to_string(),
        format!(
            "application {:?}: {} component(s); {defined}",
            manifest.name,
            manifest.components.len(),
        ),
    )];
    for (label, kind) in &stores {
        if let Some(message) = unknown_type(label, kind.as_deref()) {
            findings.push(Finding::new(
                Code::StoreTypeUnknown,
                Severity::Error,
                format!("key_value_store.{label}"),
                message,
            ));
        }
    }

    for (id, component) in &manifest.components {
        check_spec(id, component, &stores, profile, &mut findings);
    }
    Ok(findings)
}

/// The stores the runtime configuration file `runtime_config` declares, by label, with their types.
fn read_stores(
    runtime_config: Option<&Path>,
) -> Result<BTreeMap<String, Option<String>>, BadInput> {
    Ok(match runtime_config {
        None => BTreeMap::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                BadInput(format!(
                    "{}: cannot read the runtime config file: {e}",
                    path.display()
                ))
            })?;
            RuntimeConfig::declared(&text).map_err(|e| {
                BadInput(format!(
                    "in the runtime config file {}: {e}",
                    path.display()
                ))
            })?
        }
    })
}

/// What the application's note says the runtime configuration defines.
fn defined(runtime_config: Option<&Path>, stores: &BTreeMap<String, Option<String>>) -> String {
    match runtime_config {
        None => "no runtime config (only \"default\" can be granted)".to_owned(),
        Some(path) if stores.is_empty() => format!(
            "the runtime config {} defines no store (only \"default\" can be granted)",
            path.display()
        ),
        Some(path) => format!(
            "the runtime config {} defines {}",
            path.display(),
            stores
                .keys()
                .map(|l| format!("{l:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Checks component `id` of the application: its names, its source, and its grants against its imports.
fn check_spec(
    id: &str,
    component: &ComponentSpec,
    stores: &BTreeMap<String, Option<String>>,
    profile: Option<&Profile>,
    findings: &mut Vec<Finding>,
) {
    let path = format!("component.{id}");
    check_names(id, component, stores, profile, &path, findings);
    // A source that cannot be read or checked has its error; without its imports, its grants are not judged.
    let Some(imported) = inspect_source(id, component, profile, &path, findings) else {
        return;
    };
    check_grants(id, &component.key_value_stores, &imported, &path, findings);
}

/// Checks the component ID `id` and the labels the component is granted: names Spin accepts, labels defined.
fn check_names(
    id: &str,
    component: &ComponentSpec,
    stores: &BTreeMap<String, Option<String>>,
    profile: Option<&Profile>,
    path: &str,
    findings: &mut Vec<Finding>,
) {
    if let Err(why) = spin_id(id, &['-']) {
        findings.push(Finding::new(
            Code::NameInvalid,
            Severity::Error,
            path,
            format!(
                "the component ID {id:?} is not one Spin accepts ({why}): write it in kebab-case, such as \
                 \"my-component\""
            ),
        ));
    }
    for label in &component.key_value_stores {
        if let Err(why) = spin_id(label, &['-', '_']) {
            findings.push(Finding::new(
                Code::NameInvalid,
                Severity::Error,
                path,
                format!(
                    "component {id:?} is granted the label {label:?}, which Spin does not accept ({why}): \
                     write it in kebab-case or snake_case"
                ),
            ));
        } else if label != DEFAULT_LABEL && !stores.contains_key(label) {
            findings.push(undefined_label(id, label, path, profile));
        }
    }
}

/// Checks the component's source with [`inspect`]: the versions it imports, or `None` (an error) if unreadable.
fn inspect_source(
    id: &str,
    component: &ComponentSpec,
    profile: Option<&Profile>,
    path: &str,
    findings: &mut Vec<Finding>,
) -> Option<Vec<Interface>> {
    let source = component.source.display().to_string();
    let name = format!("component {id:?}");
    match std::fs::read(&component.source) {
        Err(e) => {
            findings.push(Finding::new(
                Code::SourceUnreadable,
                Severity::Error,
                path,
                format!(
                    "the source of component {id:?}, {source}, cannot be read ({e}): build the component \
                     first (`spin build`), or correct `source` (relative to the manifest's directory)"
                ),
            ));
            None
        }
        Ok(bytes) => match inspect(&name, &bytes, profile) {
            Ok((checked, imported)) => {
                findings.extend(checked);
                Some(imported)
            }
            Err(BadInput(why)) => {
                findings.push(Finding::new(
                    Code::SourceUnreadable,
                    Severity::Error,
                    path,
                    why,
                ));
                None
            }
        },
    }
}

/// Warns about a component that imports key-value but is granted nothing, or is granted labels it cannot open.
fn check_grants(
    id: &str,
    granted: &[String],
    imported: &[Interface],
    path: &str,
    findings: &mut Vec<Finding>,
) {
    if !imported.is_empty() && granted.is_empty() {
        findings.push(Finding::new(
            Code::NoGrant,
            Severity::Warning,
            path,
            format!(
                "component {id:?} imports key-value but is granted no store: every open is access-denied \
                 (OPEN-GRANT); add key_value_stores = [\"default\"] to [component.{id}]"
            ),
        ));
    }
    if imported.is_empty() && !granted.is_empty() {
        findings.push(Finding::new(
            Code::GrantUnused,
            Severity::Warning,
            path,
            format!(
                "component {id:?} is granted {} but imports no key-value interface: it cannot open them; \
                 remove key_value_stores, or check that `source` is the component meant",
                granted.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
}

/// What is wrong with the store type `kind` of `[key_value_store.<label>]`, if Spin does not know it.
fn unknown_type(label: &str, kind: Option<&str>) -> Option<String> {
    let known = SPIN_TYPES
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    match kind {
        Some(kind) if SPIN_TYPES.contains(&kind) => None,
        Some("memory") => Some(format!(
            "[key_value_store.{label}] has type = \"memory\", which is kvhost's own and not a type Spin knows: \
             Spin refuses to load it; use one of {known}"
        )),
        Some(kind) => Some(format!(
            "[key_value_store.{label}] has type = {kind:?}, which Spin does not know: it refuses to load the \
             runtime config; use one of {known}"
        )),
        None => Some(format!(
            "[key_value_store.{label}] has no `type`: Spin refuses it; add one of {known}"
        )),
    }
}

/// The finding for `label`, granted to component `id` and defined nowhere.
fn undefined_label(id: &str, label: &str, path: &str, profile: Option<&Profile>) -> Finding {
    let fix = format!(
        "define it under [key_value_store.{label}] in the runtime config (--runtime-config-file), or remove it \
         from [component.{id}] key_value_stores"
    );
    let opens = profile.filter(|p| p.unconfigured_label == UnconfiguredLabel::NoSuchStore);
    let (severity, consequence) = match opens {
        Some(profile) => (
            Severity::Warning,
            format!(
                "profile {} loads the application and fails every open of it with no-such-store",
                profile.name
            ),
        ),
        None => (
            Severity::Error,
            "spin up refuses to load the application".to_owned(),
        ),
    };
    let mut finding = Finding::new(
        Code::LabelUndefined,
        severity,
        path,
        format!(
            "component {id:?} is granted the label {label:?}, which is not \"default\" and no runtime config \
             defines: {consequence}; {fix}"
        ),
    );
    finding.statements = vec!["OPEN-UNCONFIGURED".to_owned()];
    finding
}

/// Whether `id` is a name Spin's manifest accepts as a `spin-serde` ID with one of the delimiters `delims`
/// (`crates/serde/src/id.rs`): words of ASCII letters and digits, each starting with a letter and all lowercase
/// or all uppercase, separated by one delimiter, throughout the same one.
fn spin_id(id: &str, delims: &[char]) -> Result<(), String> {
    if id.is_empty() {
        return Err("it is empty".to_owned());
    }
    let delim = delims
        .iter()
        .copied()
        .find(|d| id.contains(*d))
        .unwrap_or(delims[0]);
    if let Some(other) = ['-', '_']
        .into_iter()
        .find(|c| *c != delim && id.contains(*c))
    {
        return Err(format!(
            "words must be separated by {delim:?}, not {other:?}"
        ));
    }
    for word in id.split(delim) {
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Err(format!("{delim:?}-separated words must not be empty"));
        };
        if !first.is_ascii_alphabetic() {
            return Err(format!(
                "a word must start with an ASCII letter, not {first:?}"
            ));
        }
        let upper = first.is_ascii_uppercase();
        for c in chars {
            if !c.is_ascii_alphanumeric() {
                return Err(format!(
                    "a word may hold only ASCII letters and digits, not {c:?}"
                ));
            }
            if !c.is_ascii_digit() && c.is_ascii_uppercase() != upper {
                return Err(format!("the word {word:?} mixes lowercase and uppercase"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::spin_id;

    #[test]
    fn spin_ids_are_words_of_one_case_split_by_one_delimiter() {
        for ok in [
            "default",
            "my-store",
            "snake_case",
            "v2",
            "ABC-def",
            "a1-b2",
        ] {
            assert_eq!(spin_id(ok, &['-', '_']), Ok(()), "{ok}");
        }
        for bad in [
            "", "My-store", "a--b", "-a", "2fast", "a-b_c", "sp ace", "é",
        ] {
            assert!(spin_id(bad, &['-', '_']).is_err(), "{bad}");
        }
        assert!(spin_id("snake_case", &['-']).is_err());
    }
}
