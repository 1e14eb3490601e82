//! The part of Spin's application manifest (`spin.toml`, `spin_manifest_version = 2`) that `kvhost serve` runs.
//!
//! ```toml
//! spin_manifest_version = 2
//!
//! [application]
//! name = "kvconf-driver"
//!
//! [[trigger.http]]
//! route = "/v2/..."
//! component = "driver-v2"
//!
//! [component.driver-v2]
//! source = "driver-v2.wasm"             # relative to the manifest's directory
//! key_value_stores = ["default", "cache"]
//! environment = { GREETING = "hello" }  # set in the component's WASI environment
//! files = [{ source = "assets", destination = "/" }]   # read-only files, as in Spin (see `files`)
//! ```
//!
//! What kvhost honours: the application's `name`, `[application.trigger.http] base`, every `[[trigger.http]]`
//! with a `route` (a `route = { private = true }` gets no route, as in Spin) and a `component` naming a
//! `[component.<id>]` table, and each component's local `source` (a component, or a core module, which is
//! componentized on load as Spin does: see `source`), `key_value_stores`, `environment`, and `files` with
//! `exclude_files` (see `files`).
//!
//! What it accepts and ignores, because ignoring it cannot change what a component's key-value calls do:
//! descriptive keys (`version`, `authors`, `description`, `id`), `[variables]`, `[application.tool]`,
//! `targets` (checked by `spin build` and deployment, not by `spin up`), and a component's `tool`, `build`,
//! `targets`, `profile` (overrides for a named build profile, which `spin up` uses only with `--profile`:
//! kvhost runs the default one, as `spin up` without it), `allowed_outbound_hosts` and `allowed_http_hosts`
//! (kvhost gives components no outbound HTTP at all), and `executor = { type = "http" }` (or its alias
//! `"spin"`: Spin's default executor).
//!
//! What it refuses, naming the key and the component and what to do: any other manifest version, other trigger
//! types, inline components, WAGI executors, static responses, a `source` that is a URL or a registry package,
//! and the component keys for Spin features kvhost does not provide (`sqlite_databases`, `ai_models`,
//! `variables`, `dependencies`). An unknown key is refused too, as Spin does, so a misspelt
//! `key_value_stores` cannot silently leave a component without its grants.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub use super::files::FilesMount;

/// The file name Spin looks for in a directory.
pub const MANIFEST_FILE: &str = "spin.toml";

/// What a manifest is read for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To serve it (`kvhost serve`): what kvhost cannot honour is refused, saying so.
    Serve,
    /// To check it as Spin would load it (`kvconf check app`): the Spin features kvhost does not serve (other
    /// triggers, static responses, SQLite databases, variables, dependencies) are accepted and not read, and an
    /// application without an HTTP route is accepted; its [`Manifest::routes`] are then empty.
    Check,
}

/// A Spin application manifest, as far as `kvhost serve` runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Its directory: component sources resolve against it, and the default state directory is `.spin` in it.
    pub dir: PathBuf,
    /// `[application] name`.
    pub name: String,
    /// `[application.trigger.http] base`: the prefix of every route (`/` when absent).
    pub base: String,
    /// The routes of the `[[trigger.http]]` tables, in manifest order (private routes left out).
    pub routes: Vec<HttpRoute>,
    /// Every `[component.<id>]` table, by id.
    pub components: BTreeMap<String, ComponentSpec>,
}

/// One `[[trigger.http]]`: a route and the component that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// The route as written (`/v2/...`), without the base.
    pub route: String,
    /// The id of the component serving it.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSpec {
    /// The Wasm file, resolved against the manifest's directory.
    pub source: PathBuf,
    /// `key_value_stores`: the labels the component may open.
    pub key_value_stores: Vec<String>,
    /// `environment`: variables set in the component's WASI environment.
    pub environment: BTreeMap<String, String>,
    /// `files`: what the component sees under `/` (see [`super::files`]).
    pub files: Vec<FilesMount>,
    /// `exclude_files`: globs of files left out of the directories and globs in `files`.
    pub exclude_files: Vec<String>,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "spin_manifest_version",
    "application",
    "variables",
    "trigger",
    "component",
];
const APPLICATION_KEYS: &[&str] = &[
    "name",
    "version",
    "authors",
    "description",
    "targets",
    "trigger",
    "tool",
];
const HTTP_TRIGGER_KEYS: &[&str] = &["id", "route", "component", "executor"];
/// Component keys kvhost honours.
const COMPONENT_HONOURED: &[&str] = &[
    "source",
    "key_value_stores",
    "environment",
    "files",
    "exclude_files",
];
/// Component keys kvhost accepts and ignores (see the module documentation).
const COMPONENT_IGNORED: &[&str] = &[
    "description",
    "build",
    "tool",
    "targets",
    "profile",
    "allowed_outbound_hosts",
    "allowed_http_hosts",
    "dependencies_inherit_configuration",
];
/// Component keys for Spin features kvhost does not provide: refused unless empty.
const COMPONENT_UNSUPPORTED: &[(&str, &str)] = &[
    ("sqlite_databases", "kvhost provides no SQLite databases"),
    ("ai_models", "kvhost provides no AI models"),
    ("variables", "kvhost provides no application variables"),
    (
        "dependencies",
        "kvhost does not compose component dependencies; compose the component first (wac plug)",
    ),
];

impl Manifest {
    /// Reads the manifest at `path`: a `spin.toml` file, or a directory holding one.
    ///
    /// # Errors
    ///
    /// When the file cannot be read, or its contents are refused (see the module documentation); the message
    /// names the file.
    pub fn from_file(path: &Path) -> Result<Manifest> {
        Manifest::read(path, Purpose::Serve)
    }

    /// Reads the manifest at `path` (a `spin.toml` file, or a directory holding one) for `purpose`.
    ///
    /// # Errors
    ///
    /// As [`Manifest::from_file`]; with [`Purpose::Check`], only what Spin itself would refuse.
    pub fn read(path: &Path, purpose: Purpose) -> Result<Manifest> {
        let file = manifest_file(path);
        let bytes = std::fs::read(&file).with_context(|| {
            format!(
                "could not read the application manifest {}; give a spin.toml or a directory holding one",
                file.display()
            )
        })?;
        if bytes.starts_with(b"\0asm") {
            bail!(
                "{} is a WebAssembly file, not an application manifest: kvhost serve does not run a bare component \
                 (as `spin up -f app.wasm` does); write a spin.toml with a [[trigger.http]] route = \"/...\" and \
                 a [component.<id>] whose source is this file",
                file.display()
            );
        }
        let text = String::from_utf8(bytes).with_context(|| {
            format!(
                "the application manifest {} is not UTF-8 text; give a spin.toml",
                file.display()
            )
        })?;
        let dir = match file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Manifest::parse_for(&text, &dir, purpose)
            .map(|manifest| Manifest {
                path: file.clone(),
                ..manifest
            })
            .with_context(|| format!("in the application manifest {}", file.display()))
    }

    /// Parses manifest text whose component sources are relative to `dir`. [`Manifest::path`] is
    /// `<dir>/spin.toml`.
    ///
    /// # Errors
    ///
    /// When the text is not TOML or is refused (see the module documentation).
    pub fn parse(text: &str, dir: &Path) -> Result<Manifest> {
        Manifest::parse_for(text, dir, Purpose::Serve)
    }

    /// Parses manifest text for `purpose` (see [`Purpose`]).
    ///
    /// # Errors
    ///
    /// As [`Manifest::parse`]; with [`Purpose::Check`], only what Spin itself would refuse.
    pub fn parse_for(text: &str, dir: &Path, purpose: Purpose) -> Result<Manifest> {
        let serve = purpose == Purpose::Serve;
        let table: toml::Table = toml::from_str(text).context("it is not valid TOML")?;
        match table.get("spin_manifest_version") {
            Some(toml::Value::Integer(2)) => {}
            Some(toml::Value::String(version)) if version == "2" => {}
            Some(other) => bail!(
                "spin_manifest_version = {other} is not supported; kvhost serve runs manifest version 2 \
                 (`spin doctor` converts an older manifest)"
            ),
            None if table.contains_key("spin_version") => bail!(
                "this is a version 1 manifest (spin_version); kvhost serve runs spin_manifest_version = 2 \
                 (`spin doctor` converts it)"
            ),
            None => bail!("spin_manifest_version is missing; add `spin_manifest_version = 2`"),
        }
        // After the version, so that a version 1 manifest is named as one rather than for its keys.
        check_keys(&table, TOP_LEVEL_KEYS, "at the top level")?;

        let application = table_at(&table, "application", "the manifest")?
            .context("[application] is missing; add it with a `name`")?;
        check_keys(application, APPLICATION_KEYS, "in [application]")?;
        let name = string_at(application, "name", "[application]")?
            .context("[application] has no `name`; add one")?;
        let base = match table_at(application, "trigger", "[application]")? {
            None => "/".to_owned(),
            Some(triggers) => {
                if let Some((kind, _)) = triggers.iter().find(|(kind, _)| serve && *kind != "http")
                {
                    bail!(
                        "[application.trigger.{kind}]: kvhost serve runs only HTTP triggers; remove it or serve \
                         the application with Spin"
                    );
                }
                match table_at(triggers, "http", "[application.trigger]")? {
                    None => "/".to_owned(),
                    Some(http) => {
                        check_keys(http, &["base"], "in [application.trigger.http]")?;
                        string_at(http, "base", "[application.trigger.http]")?
                            .unwrap_or_else(|| "/".to_owned())
                    }
                }
            }
        };
        if !base.starts_with('/') {
            bail!(
                "[application.trigger.http] base = {base:?} does not start with `/`; write it as an absolute path"
            );
        }

        let mut components = BTreeMap::new();
        if let Some(tables) = table_at(&table, "component", "the manifest")? {
            for (id, value) in tables {
                let component = value.as_table().with_context(|| {
                    format!("`component.{id}` is not a table; write it as [component.{id}]")
                })?;
                components.insert(id.clone(), component_spec(id, component, dir, serve)?);
            }
        }

        let mut routes = Vec::new();
        if let Some(triggers) = table_at(&table, "trigger", "the manifest")? {
            for (kind, value) in triggers.iter().filter(|_| serve) {
                if kind != "http" {
                    bail!(
                        "[[trigger.{kind}]]: kvhost serve runs only HTTP triggers ([[trigger.http]]); remove it \
                         or serve the application with Spin"
                    );
                }
                let entries = value.as_array().context(
                    "`trigger.http` is not an array of tables; write each as [[trigger.http]]",
                )?;
                for (index, entry) in entries.iter().enumerate() {
                    let what = format!("[[trigger.http]] number {}", index + 1);
                    let entry = entry
                        .as_table()
                        .with_context(|| format!("{what} is not a table"))?;
                    if let Some(route) = http_route(entry, &what, &components)? {
                        routes.push(route);
                    }
                }
            }
        }
        if serve && routes.is_empty() {
            bail!(
                "the manifest has no [[trigger.http]] with a route; add one with `route` and `component`, or \
                 there is nothing to serve"
            );
        }

        Ok(Manifest {
            path: dir.join(MANIFEST_FILE),
            dir: dir.to_path_buf(),
            name,
            base,
            routes,
            components,
        })
    }

    /// Every component's `key_value_stores`, by component id: the grants [`crate::Application::load`] takes.
    pub fn grants(&self) -> BTreeMap<String, Vec<String>> {
        self.components
            .iter()
            .map(|(id, component)| (id.clone(), component.key_value_stores.clone()))
            .collect()
    }
}

/// The manifest file for `path`: `path` itself, or `path/spin.toml` when `path` is a directory.
pub fn manifest_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(MANIFEST_FILE)
    } else {
        path.to_path_buf()
    }
}

fn http_route(
    entry: &toml::Table,
    what: &str,
    components: &BTreeMap<String, ComponentSpec>,
) -> Result<Option<HttpRoute>> {
    if entry.contains_key("static_response") {
        bail!(
            "{what} has a `static_response`; kvhost serve does not serve static responses: route it to a component"
        );
    }
    check_keys(entry, HTTP_TRIGGER_KEYS, &format!("in {what}"))?;
    if let Some(executor) = entry.get("executor") {
        let kind = executor
            .as_table()
            .and_then(|executor| executor.get("type"))
            .and_then(toml::Value::as_str);
        // `http` is Spin's name for its default executor, and `spin` an alias of it.
        if !matches!(kind, Some("http" | "spin")) {
            bail!(
                "{what} has executor = {executor}; kvhost serve runs only wasi:http components (Spin's default \
                 `http` executor): remove `executor`"
            );
        }
    }
    let component = match entry.get("component") {
        Some(toml::Value::String(id)) => id.clone(),
        Some(toml::Value::Table(_)) => bail!(
            "{what} defines its component inline; kvhost serve needs it as a [component.<id>] table with \
             `component = \"<id>\"` in the trigger"
        ),
        Some(other) => bail!("{what} has component = {other}; name a [component.<id>] table"),
        None => bail!("{what} has no `component`; name the [component.<id>] that serves the route"),
    };
    if !components.contains_key(&component) {
        bail!(
            "{what} names the component {component:?}, which the manifest does not define; add \
             [component.{component}]"
        );
    }
    let route = match entry.get("route") {
        Some(toml::Value::String(route)) => route.clone(),
        Some(toml::Value::Table(route)) => {
            if route.get("private").and_then(toml::Value::as_bool) == Some(true) && route.len() == 1
            {
                // A private route is reachable only by service chaining, which kvhost does not do.
                return Ok(None);
            }
            bail!(
                "{what} has route = {route}; write a path such as \"/...\" or {{ private = true }}"
            )
        }
        Some(other) => bail!("{what} has route = {other}; write a path such as \"/...\""),
        None => bail!("{what} has no `route`; add one such as route = \"/...\""),
    };
    Ok(Some(HttpRoute { route, component }))
}

fn component_spec(id: &str, table: &toml::Table, dir: &Path, serve: bool) -> Result<ComponentSpec> {
    let what = format!("[component.{id}]");
    for (key, value) in table {
        if COMPONENT_HONOURED.contains(&key.as_str()) || COMPONENT_IGNORED.contains(&key.as_str()) {
            continue;
        }
        if let Some((_, why)) = COMPONENT_UNSUPPORTED.iter().find(|(name, _)| name == key) {
            let empty = match value {
                toml::Value::Array(items) => items.is_empty(),
                toml::Value::Table(items) => items.is_empty(),
                _ => false,
            };
            if serve && !empty {
                bail!(
                    "{what} has `{key}`, which kvhost serve cannot honour ({why}); remove it or serve the \
                     application with Spin"
                );
            }
            continue;
        }
        bail!(
            "{what} has the unknown key `{key}`; kvhost serve knows {} (and ignores {})",
            quoted(COMPONENT_HONOURED),
            quoted(COMPONENT_IGNORED)
        );
    }

    let source = match table.get("source") {
        Some(toml::Value::String(source)) => dir.join(source),
        Some(toml::Value::Table(source)) if source.contains_key("url") => bail!(
            "{what} has a `source` URL; kvhost serve loads only local files: download it and give its path"
        ),
        Some(toml::Value::Table(_)) => bail!(
            "{what} has a `source` that is a registry package; kvhost serve loads only local files: fetch it \
             and give its path"
        ),
        Some(other) => bail!("{what} has source = {other}; give the path of the .wasm file"),
        None => bail!("{what} has no `source`; give the path of its .wasm file"),
    };
    let key_value_stores = match table.get("key_value_stores") {
        None => Vec::new(),
        Some(toml::Value::Array(labels)) => labels
            .iter()
            .map(|label| {
                label.as_str().map(str::to_owned).with_context(|| {
                    format!("{what} has {label} in key_value_stores; write each label as a string")
                })
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            bail!(
                "{what} has key_value_stores = {other}; write a list of labels such as [\"default\"]"
            )
        }
    };
    let environment = match table.get("environment") {
        None => BTreeMap::new(),
        Some(toml::Value::Table(variables)) => variables
            .iter()
            .map(|(name, value)| match value {
                toml::Value::String(value) => Ok((name.clone(), value.clone())),
                other => {
                    bail!("{what} has {name} = {other} in environment; write the value as a string")
                }
            })
            .collect::<Result<_>>()?,
        Some(other) => bail!("{what} has environment = {other}; write a table of strings"),
    };
    let files = match table.get("files") {
        None => Vec::new(),
        Some(toml::Value::Array(entries)) => entries
            .iter()
            .map(|entry| files_mount(&what, entry))
            .collect::<Result<_>>()?,
        Some(other) => bail!(
            "{what} has files = {other}; write a list of paths, globs and {{ source = \"...\", destination = \"...\" }} tables"
        ),
    };
    let exclude_files = match table.get("exclude_files") {
        None => Vec::new(),
        Some(toml::Value::Array(patterns)) => patterns
            .iter()
            .map(|pattern| {
                pattern.as_str().map(str::to_owned).with_context(|| {
                    format!("{what} has {pattern} in exclude_files; write each glob as a string")
                })
            })
            .collect::<Result<_>>()?,
        Some(other) => bail!("{what} has exclude_files = {other}; write a list of globs"),
    };
    Ok(ComponentSpec {
        source,
        key_value_stores,
        environment,
        files,
        exclude_files,
    })
}

/// One entry of `files`: a string, or a `{ source, destination }` table with nothing else in it.
fn files_mount(what: &str, entry: &toml::Value) -> Result<FilesMount> {
    let placement_help =
        "write it as a path or glob string, or as { source = \"dir\", destination = \"/dir\" }";
    match entry {
        toml::Value::String(pattern) => Ok(FilesMount::Pattern(pattern.clone())),
        toml::Value::Table(placement) => {
            check_keys(
                placement,
                &["source", "destination"],
                &format!("in a `files` entry of {what}"),
            )?;
            let field = |key: &str| match placement.get(key) {
                Some(toml::Value::String(value)) => Ok(value.clone()),
                Some(other) => {
                    bail!("{what} has {key} = {other} in a `files` entry; {placement_help}")
                }
                None => {
                    bail!("{what} has a `files` entry {entry} without `{key}`; {placement_help}")
                }
            };
            Ok(FilesMount::Placement {
                source: field("source")?,
                destination: field("destination")?,
            })
        }
        other => bail!("{what} has {other} in `files`; {placement_help}"),
    }
}

fn check_keys(table: &toml::Table, allowed: &[&str], place: &str) -> Result<()> {
    match table.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => bail!(
            "unknown key `{key}` {place}; kvhost serve knows {}",
            quoted(allowed)
        ),
        None => Ok(()),
    }
}

fn table_at<'a>(table: &'a toml::Table, key: &str, place: &str) -> Result<Option<&'a toml::Table>> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::Table(inner)) => Ok(Some(inner)),
        Some(other) => bail!("`{key}` in {place} is {other}, not a table"),
    }
}

fn string_at(table: &toml::Table, key: &str, place: &str) -> Result<Option<String>> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(value)) => Ok(Some(value.clone())),
        Some(other) => bail!("`{key}` in {place} is {other}, not a string"),
    }
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRIVER: &str = r#"
spin_manifest_version = 2
[application]
name = "kvconf-driver"
version = "0.1.0"
authors = ["kvconf"]
[application.trigger.http]
base = "/"
[[trigger.http]]
route = "/v2/..."
component = "driver-v2"
[[trigger.http]]
route = { private = true }
component = "driver-v2"
[component.driver-v2]
source = "driver-v2.wasm"
key_value_stores = ["default", "cache"]
allowed_outbound_hosts = []
environment = { A = "b" }
[component.driver-v2.build]
command = "cargo build"
"#;

    #[test]
    fn a_driver_manifest_parses_with_its_routes_grants_and_sources() {
        let manifest = Manifest::parse(DRIVER, Path::new("/apps/x")).unwrap();
        assert_eq!(manifest.name, "kvconf-driver");
        assert_eq!(manifest.base, "/");
        assert_eq!(
            manifest.routes,
            vec![HttpRoute {
                route: "/v2/...".into(),
                component: "driver-v2".into()
            }]
        );
        let component = &manifest.components["driver-v2"];
        assert_eq!(component.source, Path::new("/apps/x/driver-v2.wasm"));
        assert_eq!(component.key_value_stores, ["default", "cache"]);
        assert_eq!(component.environment["A"], "b");
        assert_eq!(
            manifest.grants()["driver-v2"],
            vec!["default".to_owned(), "cache".to_owned()]
        );
    }

    fn refusal(text: &str) -> String {
        format!("{:#}", Manifest::parse(text, Path::new(".")).unwrap_err())
    }

    #[test]
    fn what_kvhost_cannot_honour_is_refused_naming_the_key_and_the_component() {
        let with = |extra: &str| {
            DRIVER.replace(
                "[component.driver-v2.build]",
                &format!("{extra}\n[component.driver-v2.build]"),
            )
        };
        let message = refusal(&with("sqlite_databases = [\"default\"]"));
        assert!(
            message.contains("[component.driver-v2] has `sqlite_databases`"),
            "{message}"
        );
        let message = refusal(&with("key_value_store = [\"default\"]"));
        assert!(
            message.contains("[component.driver-v2] has the unknown key `key_value_store`"),
            "{message}"
        );
        let message = refusal(&DRIVER.replace(
            "source = \"driver-v2.wasm\"",
            "source = { url = \"https://x/y.wasm\", digest = \"sha256:0\" }",
        ));
        assert!(message.contains("`source` URL"), "{message}");
        let message = refusal(&format!(
            "{DRIVER}\n[[trigger.redis]]\ncomponent = \"driver-v2\"\nchannel = \"c\"\n"
        ));
        assert!(message.contains("[[trigger.redis]]"), "{message}");
        let message =
            refusal(&DRIVER.replace("spin_manifest_version = 2", "spin_manifest_version = 3"));
        assert!(
            message.contains("spin_manifest_version = 3 is not supported"),
            "{message}"
        );
        let message = refusal(&DRIVER.replace(
            "component = \"driver-v2\"\n[[trigger",
            "component = \"nope\"\n[[trigger",
        ));
        assert!(
            message.contains("names the component \"nope\""),
            "{message}"
        );
        let message = refusal(&DRIVER.replace(
            "route = \"/v2/...\"",
            "route = \"/v2/...\"\nexecutor = { type = \"wagi\" }",
        ));
        assert!(message.contains("executor"), "{message}");
    }

    #[test]
    fn files_and_exclude_files_are_read_in_both_forms() {
        let text = DRIVER.replace(
            "allowed_outbound_hosts = []",
            "files = [\"index.html\", \"static/**/*\", { source = \"assets\", destination = \"/\" }]\n\
             exclude_files = [\"static/drafts/*\"]",
        );
        let manifest = Manifest::parse(&text, Path::new(".")).unwrap();
        let component = &manifest.components["driver-v2"];
        assert_eq!(
            component.files,
            [
                FilesMount::Pattern("index.html".into()),
                FilesMount::Pattern("static/**/*".into()),
                FilesMount::Placement {
                    source: "assets".into(),
                    destination: "/".into()
                },
            ]
        );
        assert_eq!(component.exclude_files, ["static/drafts/*"]);
        let message = refusal(&DRIVER.replace(
            "allowed_outbound_hosts = []",
            "files = [{ source = \"assets\", destination = \"/\", mode = \"rw\" }]",
        ));
        assert!(
            message.contains("unknown key `mode` in a `files` entry of [component.driver-v2]"),
            "{message}"
        );
        let message = refusal(&DRIVER.replace(
            "allowed_outbound_hosts = []",
            "files = [{ source = \"assets\" }]",
        ));
        assert!(message.contains("without `destination`"), "{message}");
    }

    #[test]
    fn what_spin_up_ignores_kvhost_ignores_too() {
        let text = DRIVER
            .replace(
                "allowed_outbound_hosts = []",
                "allowed_outbound_hosts = []\ntargets = [\"spin-up:3.3\"]\nprofile.debug.source = \"debug.wasm\"",
            )
            .replace("route = \"/v2/...\"", "route = \"/v2/...\"\nexecutor = { type = \"http\" }");
        let manifest = Manifest::parse(&text, Path::new("/apps/x")).unwrap();
        assert_eq!(
            manifest.components["driver-v2"].source,
            Path::new("/apps/x/driver-v2.wasm"),
            "the default profile's source"
        );
    }

    #[test]
    fn empty_unsupported_lists_are_harmless() {
        let text = DRIVER.replace(
            "allowed_outbound_hosts = []",
            "allowed_outbound_hosts = []\nsqlite_databases = []\nvariables = {}",
        );
        Manifest::parse(&text, Path::new(".")).unwrap();
    }
}
