//! `kvconf check component`: what a compiled component needs from a key-value host, read from its imports.
//!
//! The component's world is decoded with wit-parser. Each imported interface of a key-value package is matched
//! to a version kvconf knows the way a component linker matches it (the same package, a semver-compatible
//! version: [`compatible`]); the functions it imports are listed, and their types compared with the canonical
//! ones in [`Mode::Import`]: a function the component imports must exist with the same type, the ones it does
//! not use are not looked for. The versions it needs are checked against a host profile when one is given
//! (v3 needs a host with the component model's async; the older `wasi:keyvalue@0.2.0-draft` is the edition
//! wasmtime-wasi-keyvalue links, not Spin). The HTTP handler a Spin HTTP component exports is named.
//!
//! A core module (what `cargo build --target wasm32-wasip1` makes) is componentized first, as Spin does on load,
//! with kvhost's [`componentize_if_necessary`](kvhost::serve::source::componentize_if_necessary); a module it
//! cannot componentize, a truncated file, or a file that is not WebAssembly is [`BadInput`].

use super::canonical::Canonical;
use super::compare::{Mode, compare_interface, item_name};
use super::wit::{BadInput, compatible, is_key_value};
use super::{Code, Finding, Severity};
use crate::interface::Interface;
use crate::markup::first_line;
use crate::profile::Profile;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use wit_parser::decoding::{DecodedWasm, decode};
use wit_parser::{InterfaceId, PackageName, Resolve, World, WorldId, WorldItem, WorldKey};

/// The HTTP handler interfaces Spin's HTTP trigger runs, by package and interface name.
const HTTP_HANDLERS: [(&str, &str); 2] = [("incoming-handler", "0.2"), ("handler", "0.3")];

/// Checks the component (or core module) in the file at `path`. `profile`, when given, is the host the
/// component is meant to run on.
pub fn check_component(path: &Path, profile: Option<&Profile>) -> Result<Vec<Finding>, BadInput> {
    let bytes = std::fs::read(path)
        .map_err(|e| BadInput(format!("{}: cannot read it: {e}", path.display())))?;
    check_bytes(&path.display().to_string(), &bytes, profile)
}

/// Checks a component (or core module) given as bytes; `name` names it in findings and errors (a file, or an
/// application's component).
pub fn check_bytes(
    name: &str,
    bytes: &[u8],
    profile: Option<&Profile>,
) -> Result<Vec<Finding>, BadInput> {
    inspect(name, bytes, profile).map(|(findings, _)| findings)
}

/// [`check_bytes`], and the key-value versions the component imports.
pub(crate) fn inspect(
    name: &str,
    bytes: &[u8],
    profile: Option<&Profile>,
) -> Result<(Vec<Finding>, Vec<Interface>), BadInput> {
    let mut findings = Vec::new();
    let component = componentize(name, bytes)?;
    if matches!(component, Cow::Owned(_)) {
        findings.push(Finding::new(
            Code::Found,
            Severity::Note,
            name,
            format!(
                "{name} is a core module (wasm32-wasip1): componentized as Spin does on load, then checked"
            ),
        ));
    }
    let (resolve, world) = decode_component(name, &component)?;
    let world = &resolve.worlds[world];
    let (used, differences) = key_value_imports(name, &resolve, world);
    findings.extend(used_versions(name, &used, profile));
    findings.push(handler(name, &resolve, &world.exports));
    findings.extend(differences);
    Ok((findings, used.into_keys().collect()))
}

/// The component in `bytes`: as it is, or componentized if it is a core module; [`BadInput`] if it is neither.
fn componentize<'a>(name: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, BadInput> {
    if !bytes.starts_with(b"\0asm") {
        return Err(BadInput(format!(
            "{name} is not WebAssembly (it does not start with the `\\0asm` magic): give a component (.wasm), \
             such as `cargo build --target wasm32-wasip2` makes"
        )));
    }
    // A component is used as it is; a core module is componentized, as Spin (and kvhost serve) does on load.
    kvhost::serve::source::componentize_if_necessary(name, Path::new(name), bytes).map_err(|e| {
        BadInput(format!(
            "{name} is a core WebAssembly module, not a component, and cannot be componentized as Spin \
             does on load: {e:#}"
        ))
    })
}

/// The component's WIT, decoded: its resolve and its world; [`BadInput`] if it is truncated or a WIT package.
fn decode_component(name: &str, component: &[u8]) -> Result<(Resolve, WorldId), BadInput> {
    let decoded = decode(component).map_err(|e| {
        BadInput(format!(
            "{name} is not a valid component ({}); is the file truncated? rebuild it",
            first_line(&format!("{e:#}"))
        ))
    })?;
    match decoded {
        DecodedWasm::Component(resolve, world) => Ok((resolve, world)),
        DecodedWasm::WitPackage(..) => Err(BadInput(format!(
            "{name} is a WIT package encoded as WebAssembly, not a component: check it with `kvconf check \
             wit` as WIT text (`wasm-tools component wit {name}` prints it)"
        ))),
    }
}

/// The key-value versions `world` imports, with the functions used of each, and how they differ from kvconf's.
fn key_value_imports(
    name: &str,
    resolve: &Resolve,
    world: &World,
) -> (BTreeMap<Interface, Vec<String>>, Vec<Finding>) {
    let canonical = Canonical::get();
    let mut used: BTreeMap<Interface, Vec<String>> = BTreeMap::new();
    let mut differences = Vec::new();
    for (key, item) in &world.imports {
        let WorldItem::Interface { id, .. } = item else {
            continue;
        };
        let iface = &resolve.interfaces[*id];
        let (Some(package), Some(iface_name)) = (iface.package, iface.name.as_deref()) else {
            continue;
        };
        let package_name = &resolve.packages[package].name;
        if !is_key_value(package_name)
            || (package_name.namespace == "fermyon" && iface_name != "key-value")
        {
            continue;
        }
        let path = resolve.name_world_key(key);
        let Some((version, canonical_iface)) = provided(canonical, package_name, iface_name) else {
            differences.push(Finding {
                breaking: true,
                ..Finding::new(
                    Code::UnknownVersion,
                    Severity::Error,
                    &path,
                    format!(
                        "{name} imports {path}, which no key-value version kvconf knows provides (known: {}): \
                         no conforming host links it",
                        known()
                    ),
                )
            });
            continue;
        };
        let functions = used.entry(version).or_default();
        functions.extend(iface.functions.values().map(|f| {
            let item = item_name(f);
            if iface_name == "key-value" {
                item
            } else {
                format!("{iface_name}#{item}")
            }
        }));
        differences.extend(compare_interface(
            &canonical.resolve,
            canonical_iface,
            resolve,
            *id,
            version,
            Mode::Import,
        ));
    }
    (used, differences)
}

/// The version kvconf knows that provides `iface_name` of `package_name` as a linker matches, and its interface.
fn provided(
    canonical: &Canonical,
    package_name: &PackageName,
    iface_name: &str,
) -> Option<(Interface, InterfaceId)> {
    Interface::ALL.into_iter().find_map(|version| {
        let canonical_iface = canonical
            .interfaces(version)
            .into_iter()
            .find(|(n, _)| *n == iface_name)?
            .1;
        compatible(package_name, canonical.package_name(version))
            .then_some((version, canonical_iface))
    })
}

/// The notes naming the versions the component imports, each with an error if `profile` does not provide it.
fn used_versions(
    name: &str,
    used: &BTreeMap<Interface, Vec<String>>,
    profile: Option<&Profile>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if used.is_empty() {
        findings.push(Finding::new(
            Code::Found,
            Severity::Note,
            name,
            format!("{name} imports no key-value interface"),
        ));
    }
    for (version, functions) in used {
        findings.push(Finding::new(
            Code::Found,
            Severity::Note,
            version.wit_name(),
            format!(
                "{name} imports {version} ({}): {}",
                version.wit_name(),
                functions.join(", ")
            ),
        ));
        if let Some(profile) = profile
            && !profile.interfaces.contains(version)
        {
            findings.push(not_provided(name, *version, profile));
        }
    }
    findings
}

/// The error for `version`, imported by the component and not provided by `profile`.
fn not_provided(name: &str, version: Interface, profile: &Profile) -> Finding {
    let why = match version {
        Interface::V3 => " (v3 is async: the host needs the component model's async support)",
        Interface::WasiKeyvalueDraft => {
            " (the older draft is the edition wasmtime-wasi-keyvalue links; Spin links draft2)"
        }
        _ => "",
    };
    Finding {
        breaking: true,
        ..Finding::new(
            Code::VersionNotProvided,
            Severity::Error,
            version.wit_name(),
            format!(
                "{name} imports {version} ({}), which profile {} does not provide{why}: it would not \
                 link",
                version.wit_name(),
                profile.name
            ),
        )
    }
}

/// The note naming the HTTP handler the component exports, or saying it exports none (and what it exports).
fn handler(
    name: &str,
    resolve: &Resolve,
    exports: &wit_parser::IndexMap<WorldKey, WorldItem>,
) -> Finding {
    let names: Vec<String> = exports.keys().map(|k| resolve.name_world_key(k)).collect();
    let http = exports.iter().find_map(|(key, item)| {
        let WorldItem::Interface { id, .. } = item else {
            return None;
        };
        let iface = &resolve.interfaces[*id];
        let package = &resolve.packages[iface.package?].name;
        let version = package.version.as_ref()?;
        let is_handler = package.namespace == "wasi"
            && package.name == "http"
            && HTTP_HANDLERS.iter().any(|(i, v)| {
                iface.name.as_deref() == Some(*i)
                    && version.to_string().starts_with(&format!("{v}."))
            });
        is_handler.then(|| resolve.name_world_key(key))
    });
    let message = match http {
        Some(handler) => format!("{name} is an HTTP component: it exports {handler}"),
        None if names.is_empty() => format!("{name} exports nothing: it is not an HTTP component"),
        None => format!(
            "{name} exports no HTTP handler (it exports {}): Spin's HTTP trigger cannot run it",
            names.join(", ")
        ),
    };
    Finding::new(Code::Found, Severity::Note, name, message)
}

fn known() -> String {
    Interface::ALL
        .iter()
        .map(|i| i.wit_name())
        .collect::<Vec<_>>()
        .join(", ")
}
