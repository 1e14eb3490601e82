//! `kvconf check wit`: a runtime's WIT, as it vendors it, against kvconf's canonical WIT.
//!
//! A path is a WIT file or a directory of `*.wit` files with an optional `deps/` (a directory per package, or a
//! single-file package), as wit-parser's `push_dir` reads it. Every package in it that is one of the five
//! key-value versions is compared interface by interface ([`compare`](super::compare)); a package of a
//! key-value namespace that kvconf does not know (`spin:key-value@3.1.0`) is compared with the nearest version
//! it knows. A tree whose worlds refer to packages it does not contain (runtimes vendor partial `deps/`) still
//! has its key-value packages checked, each on its own, and the missing dependency is a note.

use super::canonical::Canonical;
use super::compare::{Mode, compare_interface};
use super::{Code, Finding, Severity};
use crate::interface::Interface;
use std::fmt;
use std::path::{Path, PathBuf};
use wit_parser::{PackageId, PackageName, Resolve, SourceMap, UnresolvedPackageGroup};

/// Input `kvconf check wit` cannot check: an unreadable path, WIT that does not parse or resolve (with file
/// and line), or no key-value package at all. The command exits 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// The package namespaces and names of the key-value interfaces: a package named so is checked.
const KEY_VALUE_PACKAGES: [(&str, &str); 3] = [
    ("fermyon", "spin"),
    ("spin", "key-value"),
    ("wasi", "keyvalue"),
];

pub(crate) fn is_key_value(name: &PackageName) -> bool {
    KEY_VALUE_PACKAGES
        .iter()
        .any(|(ns, n)| name.namespace == *ns && name.name == *n)
}

/// Checks every path and returns the findings of all of them, in order.
pub fn check(paths: &[PathBuf]) -> Result<Vec<Finding>, BadInput> {
    let mut findings = Vec::new();
    for path in paths {
        findings.extend(check_path(path)?);
    }
    Ok(findings)
}

/// Checks one WIT file or directory.
pub fn check_path(path: &Path) -> Result<Vec<Finding>, BadInput> {
    let groups = read(path)?;
    let no_key_value = || {
        BadInput(format!(
            "{}: no key-value package found (looked for fermyon:spin with a key-value interface, \
             spin:key-value and wasi:keyvalue); point at the directory that holds the key-value WIT or its deps/",
            path.display()
        ))
    };
    let named_key_value = groups.iter().any(|g| {
        std::iter::once(&g.main)
            .chain(&g.nested)
            .any(|p| is_key_value(&p.name))
    });
    if !named_key_value {
        return Err(no_key_value());
    }
    let mut findings = Vec::new();
    let resolves = resolve(path, groups, &mut findings)?;
    let mut checked = 0;
    for resolve in &resolves {
        for (id, package) in resolve.packages.iter() {
            if !is_key_value(&package.name) {
                continue;
            }
            // Only the key-value interface of `fermyon:spin` is kvconf's business; a package of it without
            // one (Spin's sqlite, say) is not a key-value package.
            if package.name.namespace == "fermyon" && !package.interfaces.contains_key("key-value")
            {
                continue;
            }
            checked += 1;
            findings.extend(check_package(resolve, id));
        }
    }
    if checked == 0 {
        return Err(no_key_value());
    }
    Ok(findings)
}

/// Parses `path` into package groups: the root package first (if the path has one), then each of `deps/`.
fn read(path: &Path) -> Result<Vec<UnresolvedPackageGroup>, BadInput> {
    let meta = std::fs::metadata(path)
        .map_err(|e| BadInput(format!("{}: cannot read it: {e}", path.display())))?;
    let mut maps = Vec::new();
    if meta.is_dir() {
        if has_wit_files(path)? {
            let mut map = SourceMap::default();
            map.push_dir(path)
                .map_err(|e| BadInput(format!("{}: {e:#}", path.display())))?;
            maps.push(map);
        }
        let deps = path.join("deps");
        if deps.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&deps)
                .map_err(|e| BadInput(format!("{}: cannot read it: {e}", deps.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for entry in entries {
                let mut map = SourceMap::default();
                if entry.is_dir() {
                    if !has_wit_files(&entry)? {
                        continue;
                    }
                    map.push_dir(&entry)
                        .map_err(|e| BadInput(format!("{}: {e:#}", entry.display())))?;
                } else if entry.extension().is_some_and(|e| e == "wit") {
                    map.push_file(&entry)
                        .map_err(|e| BadInput(format!("{}: {e:#}", entry.display())))?;
                } else {
                    continue;
                }
                maps.push(map);
            }
        }
    } else {
        let mut map = SourceMap::default();
        map.push_file(path)
            .map_err(|e| BadInput(format!("{}: {e:#}", path.display())))?;
        maps.push(map);
    }
    if maps.is_empty() {
        return Err(BadInput(format!(
            "{}: no *.wit file in it or in its deps/",
            path.display()
        )));
    }
    maps.into_iter()
        .map(|map| {
            map.parse()
                .map_err(|(map, e)| BadInput(format!("WIT syntax error: {}", e.render(&map))))
        })
        .collect()
}

fn has_wit_files(dir: &Path) -> Result<bool, BadInput> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| BadInput(format!("{}: cannot read it: {e}", dir.display())))?;
    Ok(entries
        .filter_map(Result::ok)
        .any(|e| e.path().extension().is_some_and(|x| x == "wit") && e.path().is_file()))
}

/// Resolves the groups together; when that fails (a package refers to one the tree does not have), resolves
/// each key-value package on its own and says so in a note.
fn resolve(
    path: &Path,
    groups: Vec<UnresolvedPackageGroup>,
    findings: &mut Vec<Finding>,
) -> Result<Vec<Resolve>, BadInput> {
    let key_value: Vec<UnresolvedPackageGroup> = groups
        .iter()
        .filter(|g| {
            std::iter::once(&g.main)
                .chain(&g.nested)
                .any(|p| is_key_value(&p.name))
        })
        .cloned()
        .collect();
    let mut groups = groups;
    let main = groups.remove(0);
    let mut together = Resolve::default();
    let error = match together.push_groups(main, groups) {
        Ok(_) => return Ok(vec![together]),
        Err(e) => e,
    };
    // The first line: "package 'wasi:http@0.2.0' not found", without the list of known packages.
    let message = error.to_string();
    let message = message.lines().next().unwrap_or_default();
    let message = message.trim_end_matches(". known packages:");
    let mut resolves = Vec::new();
    for group in key_value {
        let name = group.main.name.to_string();
        let mut alone = Resolve::default();
        match alone.push_group(group) {
            Ok(_) => resolves.push(alone),
            Err(e) => {
                return Err(BadInput(format!(
                    "{}: {name} does not resolve: {}",
                    path.display(),
                    e.render(&alone.source_map)
                )));
            }
        }
    }
    if resolves.is_empty() {
        return Err(BadInput(format!(
            "{}: the WIT does not resolve: {message}",
            path.display()
        )));
    }
    findings.push(Finding::new(
        Code::DependencyMissing,
        Severity::Note,
        path.display().to_string(),
        format!(
            "the tree does not resolve as a whole ({message}); its key-value packages were checked on their own"
        ),
    ));
    Ok(resolves)
}

/// Compares one key-value package with the canonical version of the same name, or with the nearest one.
fn check_package(resolve: &Resolve, id: PackageId) -> Vec<Finding> {
    let canonical = Canonical::get();
    let name = &resolve.packages[id].name;
    if let Some(version) = canonical.version_named(name) {
        let findings = compare_package(resolve, id, version);
        let mut all = vec![found_note(name, version, &findings, None)];
        all.extend(findings);
        return all;
    }
    // Not a version kvconf knows: the nearest of the same namespace and name, by fewest differences.
    let nearest = Interface::ALL
        .into_iter()
        .filter(|i| {
            let known = canonical.package_name(*i);
            known.namespace == name.namespace && known.name == name.name
        })
        .map(|i| (i, compare_package(resolve, id, i)))
        .min_by_key(|(_, findings)| findings.len());
    let Some((version, mut findings)) = nearest else {
        return Vec::new();
    };
    // A new version may add to the one it succeeds; what it must keep is what the known version's guests use,
    // and only if they link to it at all (semver-compatible): otherwise the differences say how far apart the
    // two are, not what breaks.
    let compatible = compatible(canonical.package_name(version), name);
    for f in &mut findings {
        if f.severity == Severity::Error && !(compatible && f.breaking) {
            f.severity = Severity::Warning;
        }
    }
    let mut all = vec![found_note(name, version, &findings, Some(compatible))];
    all.extend(findings);
    all
}

/// Whether a host providing `provided` satisfies an import of `wanted` by semver, as component linkers match
/// versions: the same major version (the same minor too below 1.0), no pre-release unless identical.
pub fn compatible(wanted: &PackageName, provided: &PackageName) -> bool {
    if wanted.namespace != provided.namespace || wanted.name != provided.name {
        return false;
    }
    match (&wanted.version, &provided.version) {
        (None, None) => true,
        (Some(w), Some(p)) => {
            if !w.pre.is_empty() || !p.pre.is_empty() {
                return w == p;
            }
            w.major == p.major && (w.major != 0 || w.minor == p.minor) && p >= w
        }
        _ => false,
    }
}

fn found_note(
    name: &PackageName,
    version: Interface,
    findings: &[Finding],
    unknown: Option<bool>,
) -> Finding {
    let differences = findings
        .iter()
        .filter(|f| f.severity != Severity::Note)
        .count();
    let breaking = findings.iter().filter(|f| f.breaking).count();
    let verdict = if differences == 0 {
        "matches".to_string()
    } else {
        format!("{differences} difference(s), {breaking} breaking")
    };
    match unknown {
        None => Finding::new(
            Code::Found,
            Severity::Note,
            name.to_string(),
            format!("{name} is {version}: {verdict}"),
        ),
        Some(compatible) => Finding::new(
            Code::UnknownVersion,
            Severity::Note,
            name.to_string(),
            format!(
                "{name} is not a version kvconf knows; nearest is {} ({version}): {verdict}{}",
                version.wit_name(),
                if compatible {
                    "; it is semver-compatible with it, so guests of that version link to it and its breaking differences are errors"
                } else {
                    "; guests of that version do not link to it by semver, so differences are warnings"
                }
            ),
        ),
    }
}

/// Every canonical interface of `version` against the same-named interface of package `id`.
///
/// Only what a host provides must be there: where a package has an `imports` world (the wasi:keyvalue
/// editions), an interface it does not import (the proposal's `watcher`, which guests export) is compared when
/// both sides have it and is otherwise a note.
fn compare_package(resolve: &Resolve, id: PackageId, version: Interface) -> Vec<Finding> {
    let canonical = Canonical::get();
    let package = &resolve.packages[id];
    let canonical_provided = provided(&canonical.resolve, canonical.package(version));
    let found_provided = provided(resolve, id);
    let mut findings = Vec::new();
    for (name, canonical_iface) in canonical.interfaces(version) {
        let path = interface_path(&package.name, name);
        match package.interfaces.get(name) {
            Some(&found) => findings.extend(compare_interface(
                &canonical.resolve,
                canonical_iface,
                resolve,
                found,
                version,
                Mode::Package,
            )),
            None if !canonical_provided.contains(&name.to_string()) => findings.push(Finding::new(
                Code::InterfaceMissing,
                Severity::Note,
                path,
                format!("interface `{name}` is not there; it is not one a host provides (the `imports` world does not import it), so nothing needs it"),
            )),
            None => {
                let mut f = Finding::new(
                    Code::InterfaceMissing,
                    Severity::Error,
                    path,
                    format!("interface `{name}` is missing: a guest that imports it does not link"),
                );
                f.expected = Some(format!("interface {name}"));
                f.breaking = true;
                findings.push(f);
            }
        }
    }
    // fermyon:spin holds Spin's other interfaces (sqlite, redis, llm...): not key-value, not kvconf's to judge.
    if package.name.namespace != "fermyon" {
        let known: Vec<&str> = canonical
            .interfaces(version)
            .iter()
            .map(|(n, _)| *n)
            .collect();
        for name in package.interfaces.keys() {
            if known.contains(&name.as_str()) {
                continue;
            }
            let path = interface_path(&package.name, name);
            let mut f = if found_provided.contains(name) {
                let mut f = Finding::new(
                    Code::InterfaceExtra,
                    Severity::Error,
                    path,
                    format!("interface `{name}` is not in {}", version.wit_name()),
                );
                f.breaking = false;
                f
            } else {
                Finding::new(
                    Code::InterfaceExtra,
                    Severity::Note,
                    path,
                    format!(
                        "interface `{name}` is not in kvconf's {}; it is not one a host provides (the package's \
                         `imports` world does not import it), so it is not checked",
                        version.wit_name()
                    ),
                )
            };
            f.found = Some(format!("interface {name}"));
            findings.push(f);
        }
    }
    findings
}

/// The names of the interfaces of package `id` a host provides: those its `imports` world imports, or all of
/// them when it has no such world.
fn provided(resolve: &Resolve, id: PackageId) -> Vec<String> {
    let package = &resolve.packages[id];
    let Some(&world) = package.worlds.get("imports") else {
        return package.interfaces.keys().cloned().collect();
    };
    resolve.worlds[world]
        .imports
        .values()
        .filter_map(|item| match item {
            wit_parser::WorldItem::Interface { id, .. } => resolve.interfaces[*id].name.clone(),
            _ => None,
        })
        .collect()
}

fn interface_path(package: &PackageName, interface: &str) -> String {
    match &package.version {
        Some(v) => format!("{}:{}/{interface}@{v}", package.namespace, package.name),
        None => format!("{}:{}/{interface}", package.namespace, package.name),
    }
}
