//! Conformance cases: TOML data files, each checking the statements it cites.
//!
//! # The case file format
//!
//! One case per file, anywhere under the cases directory (`harness/cases/`), found by walking it; files
//! not ending in `.toml` are ignored. Unknown fields are errors, so a misspelt field never silently
//! changes a case.
//!
//! ```toml
//! id = "set-overwrite/shorter-value"          # unique, stable; trial names end with it
//! title = "a shorter second value replaces the first entirely"
//! statements = ["SET-OVERWRITE"]              # catalogue IDs this case checks (at least one)
//! interfaces = ["v2"]                         # optional: default, every version all cited statements apply to
//! requires = ["key-limit"]                    # optional: profile capabilities the case needs
//!
//! [app]                                       # optional: the application under test
//! grants = { main = ["default"], other = [] } # component -> its key_value_stores (default: main = ["default"])
//! labels = ["cache"]                          # labels the runtime configuration defines besides "default"
//! expect-load = "refused"                     # optional: "loads" (default) or "refused"
//!
//! [[step]]                                    # each step runs in a fresh instance of the application
//! component = "main"                          # optional when the app has one component
//! restart = true                              # optional: restart the host first, on the same state (PERSIST-RESTART)
//! ops = [
//!   { op = "open", label = "default", expect = "ok" },
//!   { op = "set", key = "k", value = "long value", expect = "ok" },
//!   { op = "set", key = "k", value = "short", expect = "ok" },
//!   { op = "get", key = "k", expect = { value = "short" } },
//! ]
//! ```
//!
//! ## Fields of an operation
//! - `op`: `open`, `get`, `set`, `delete`, `exists`, `get-keys` or `close` (drop the handle).
//! - `slot`: which open store the operation uses (default 0; a number or a size such as `"open-max"`);
//!   `open` fills it and `close` empties it.
//! - `label`: the label to `open`.
//! - `key`: a string, or `{ fill = "é", bytes = 256 }` for a key of an exact byte length ([`KeySpec`]).
//! - `value`: a string (its UTF-8 bytes), `{ hex = "00ff" }`, `{ range = [0, 255] }` or
//!   `{ len = 1048576, seed = 7 }` for that many bytes of a seeded pattern ([`ValueSpec`]).
//! - `repeat`: run the operation this many times; `{i}` in `key`, `label`, text values and expected values
//!   is replaced by the repetition index 0, 1, ...
//! - `each-slot`: with `repeat`, repetition `i` uses slot `slot + i`.
//! - `expect`: what the spec requires:
//!   - `"ok"`: the operation succeeds (`open` opens, `set`/`delete`/`close` return ok);
//!   - `"absent"`: `get` finds no value (v2 `ok(none)`; v1 `no-such-key`);
//!   - `{ value = <value> }`: `get` returns exactly these bytes;
//!   - `{ exists = true }`;
//!   - `{ keys = ["a", "b"] }` or `{ keys = { template = "k{i}", count = 1024, also = ["x"] } }`: the listing
//!     holds exactly these keys, each once, in any order;
//!   - `{ error = "access-denied" }` (or `store-table-full`, `no-such-store`, `other`): that error variant;
//!     the text of `other` is the host's own and is not compared.
//!
//! Sizes (`bytes`, `len`, `repeat`, `count`) are numbers or profile-relative names such as `key-max+1`
//! ([`Size`]); a name that needs a declared limit makes the case require that capability.
//!
//! Every expectation in a case file is also predicted by the model ([`crate::model`]), and a test checks
//! that the two agree for every case under every profile it runs on.

use crate::catalogue::Catalogue;
use crate::interface::Interface;
use crate::outcome::{ErrorKind, Expected, ExpectedValue, Operation};
use crate::profile::{Capability, InvalidHandle, Profile};
use crate::value::{ExpandError, KeySpec, Size, ValueSpec, fill_template};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A case file as written.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CaseFile {
    /// The case's unique ID.
    pub id: String,
    /// One line saying what the case checks.
    pub title: String,
    /// The catalogue statements it checks.
    pub statements: Vec<String>,
    /// The interface versions it runs on; empty means every version all its statements apply to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Profile capabilities it needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<Capability>,
    /// The application.
    #[serde(default)]
    pub app: AppSection,
    /// The steps, each in a fresh instance.
    #[serde(default, rename = "step")]
    pub steps: Vec<StepSection>,
}

/// The `[app]` table.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AppSection {
    /// Component ID -> the labels it is granted.
    #[serde(default = "default_grants")]
    pub grants: BTreeMap<String, Vec<String>>,
    /// Labels the runtime configuration defines besides "default".
    #[serde(default)]
    pub labels: Vec<String>,
    /// Whether the application must load.
    #[serde(default)]
    pub expect_load: LoadExpectation,
}

impl Default for AppSection {
    fn default() -> Self {
        AppSection {
            grants: default_grants(),
            labels: Vec::new(),
            expect_load: LoadExpectation::Loads,
        }
    }
}

fn slot_zero() -> Size {
    Size::Literal(0)
}

fn is_slot_zero(slot: &Size) -> bool {
    *slot == Size::Literal(0)
}

fn default_grants() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([("main".to_string(), vec!["default".to_string()])])
}

/// Whether an application must load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadExpectation {
    /// The host loads it.
    #[default]
    Loads,
    /// The host refuses it, naming the offending label.
    Refused,
}

/// A `[[step]]` table.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StepSection {
    /// The component whose fresh instance runs the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The interface version this step's instance speaks, whatever version the case runs for (to check that
    /// data written through one version is read through another).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<Interface>,
    /// Restart the host before this step (PERSIST-RESTART): stop it and load the application again on the same
    /// state, as a runtime restarted on the same state directory does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
    /// The operations.
    pub ops: Vec<OpEntry>,
}

/// Which operation an entry performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    /// `open`.
    Open,
    /// `get`.
    Get,
    /// `set`.
    Set,
    /// `delete`.
    Delete,
    /// `exists`.
    Exists,
    /// `get-keys`.
    GetKeys,
    /// `close` (drop the handle).
    Close,
    /// v1: a raw handle number in a slot.
    ForgeHandle,
    /// v3: a partial read of the key stream.
    GetKeysPartial,
    /// v3: the next `count` operations in flight at once.
    Concurrently,
    /// wasi: one `list-keys` call.
    ListKeys,
    /// wasi: `increment`.
    Increment,
    /// wasi: `cas.new`.
    CasNew,
    /// wasi: `cas.current`.
    CasCurrent,
    /// wasi: `swap`.
    CasSwap,
    /// wasi: `get-many`.
    GetMany,
    /// wasi: `set-many`.
    SetMany,
    /// wasi: `delete-many`.
    DeleteMany,
}

impl OpKind {
    /// The name case files use.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Open => "open",
            OpKind::Get => "get",
            OpKind::Set => "set",
            OpKind::Delete => "delete",
            OpKind::Exists => "exists",
            OpKind::GetKeys => "get-keys",
            OpKind::Close => "close",
            OpKind::ForgeHandle => "forge-handle",
            OpKind::GetKeysPartial => "get-keys-partial",
            OpKind::Concurrently => "concurrently",
            OpKind::ListKeys => "list-keys",
            OpKind::Increment => "increment",
            OpKind::CasNew => "cas-new",
            OpKind::CasCurrent => "cas-current",
            OpKind::CasSwap => "cas-swap",
            OpKind::GetMany => "get-many",
            OpKind::SetMany => "set-many",
            OpKind::DeleteMany => "delete-many",
        }
    }

    /// The fields an entry of this kind must have, and those it may have, besides `op`, `slot`, `repeat`,
    /// `each-slot` and `expect`.
    fn fields(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            OpKind::Open => (&["label"], &[]),
            OpKind::Get | OpKind::Delete | OpKind::Exists => (&["key"], &[]),
            OpKind::Set => (&["key", "value"], &[]),
            OpKind::GetKeys | OpKind::Close => (&[], &[]),
            OpKind::ForgeHandle => (&["handle"], &[]),
            OpKind::GetKeysPartial => (&["take"], &[]),
            OpKind::Concurrently => (&["count"], &[]),
            OpKind::ListKeys => (&[], &["cursor"]),
            OpKind::Increment => (&["key", "delta"], &[]),
            OpKind::CasNew => (&["key", "cas"], &[]),
            OpKind::CasCurrent => (&["cas"], &[]),
            OpKind::CasSwap => (&["cas", "value"], &[]),
            OpKind::GetMany | OpKind::DeleteMany => (&["keys"], &[]),
            OpKind::SetMany => (&["entries"], &[]),
        }
    }
}

/// One operation entry of a step.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OpEntry {
    /// The operation.
    pub op: OpKind,
    /// The slot: a number, or a size such as `"open-max"`.
    #[serde(default = "slot_zero", skip_serializing_if = "is_slot_zero")]
    pub slot: Size,
    /// The label, for `open`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The key, for key operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<KeySpec>,
    /// The value, for `set`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<ValueSpec>,
    /// How many times to run it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Size>,
    /// With `repeat`: repetition `i` uses slot `slot + i`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub each_slot: bool,
    /// v1 `forge-handle`: the raw handle number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<u32>,
    /// v3 `get-keys-partial`: how many keys to read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub take: Option<u32>,
    /// v3 `concurrently`: how many following operations run at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// wasi `list-keys`: the cursor to pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// wasi `increment`: the amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<i64>,
    /// wasi `cas-new`, `cas-current`, `cas-swap`: the cas slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cas: Option<u32>,
    /// wasi `get-many`, `delete-many`: the keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeySpec>>,
    /// wasi `set-many`: the pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<EntrySpec>>,
    /// What the spec requires.
    pub expect: ExpectEntry,
}

/// A key and its value, in `set-many` and in an expected `get-many`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    /// The key.
    pub key: KeySpec,
    /// The value; in an expectation, absent means `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<ValueSpec>,
}

impl EntrySpec {
    /// The capabilities its sizes need.
    fn needs(&self) -> impl Iterator<Item = Capability> {
        self.key
            .needs()
            .into_iter()
            .chain(self.value.as_ref().and_then(ValueSpec::needs))
    }
}

impl OpEntry {
    /// The names of the operation-specific fields this entry has.
    fn present_fields(&self) -> Vec<&'static str> {
        let all = [
            ("label", self.label.is_some()),
            ("key", self.key.is_some()),
            ("value", self.value.is_some()),
            ("handle", self.handle.is_some()),
            ("take", self.take.is_some()),
            ("count", self.count.is_some()),
            ("cursor", self.cursor.is_some()),
            ("delta", self.delta.is_some()),
            ("cas", self.cas.is_some()),
            ("keys", self.keys.is_some()),
            ("entries", self.entries.is_some()),
        ];
        all.into_iter()
            .filter(|(_, present)| *present)
            .map(|(name, _)| name)
            .collect()
    }
}

/// The `expect` of an operation entry.
#[derive(Clone, Debug, PartialEq)]
pub enum ExpectEntry {
    /// `"ok"`.
    Ok,
    /// `"absent"`.
    Absent,
    /// `{ value = ... }`.
    Value(ValueSpec),
    /// `{ exists = ... }`.
    Exists(bool),
    /// `{ keys = ... }`.
    Keys(KeysSpec),
    /// `{ error = ... }`.
    Error(ErrorKind),
    /// `"invalid-handle"`: v1's answer to a handle that is not open, as the profile declares it.
    InvalidHandle,
    /// `"present"`: some value, whose bytes are the host's business (a counter's).
    Present,
    /// `{ counter = N }`.
    Counter(i64),
    /// `{ entries = [...] }`.
    Entries(Vec<EntrySpec>),
    /// `{ some-keys = { count = N, of = [...] } }`.
    SomeKeys {
        /// How many keys are read.
        count: usize,
        /// The keys the store holds.
        of: KeysSpec,
    },
    /// `{ first-page = [...] }`: the keys the store holds.
    FirstPage(KeysSpec),
}

impl KeysSpec {
    /// The capabilities its sizes need.
    fn needs(&self) -> Vec<Capability> {
        match self {
            KeysSpec::List(keys) => keys.iter().filter_map(KeySpec::needs).collect(),
            KeysSpec::Generated { count, also, .. } => count
                .needs()
                .into_iter()
                .chain(also.iter().filter_map(KeySpec::needs))
                .collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SomeKeysTable {
    count: usize,
    of: KeysSpec,
}

/// An expected key listing.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(
    untagged,
    expecting = "a list of keys, or { template = \"k{i}\", count = N, also = [...] }"
)]
pub enum KeysSpec {
    /// Exactly these keys.
    List(Vec<KeySpec>),
    /// `count` keys made from a template, plus `also`.
    Generated {
        /// The template (`{i}` is 0..count).
        template: String,
        /// How many.
        count: Size,
        /// Further keys.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        also: Vec<KeySpec>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "kebab-case")]
struct ExpectTable {
    value: Option<ValueSpec>,
    exists: Option<bool>,
    keys: Option<KeysSpec>,
    error: Option<ErrorKind>,
    counter: Option<i64>,
    entries: Option<Vec<EntrySpec>>,
    some_keys: Option<SomeKeysTable>,
    first_page: Option<KeysSpec>,
}

impl<'de> Deserialize<'de> for ExpectEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = toml::Value::deserialize(d)?;
        if let toml::Value::String(word) = &raw {
            return match word.as_str() {
                "ok" => Ok(ExpectEntry::Ok),
                "absent" => Ok(ExpectEntry::Absent),
                "present" => Ok(ExpectEntry::Present),
                "invalid-handle" => Ok(ExpectEntry::InvalidHandle),
                other => Err(D::Error::custom(format!(
                    "expect = {other:?} is not an expectation: write \"ok\", \"absent\", \"present\", \"invalid-handle\", or a table such as {{ value = \"v\" }}, {{ exists = true }}, {{ keys = [...] }}, {{ error = \"access-denied\" }}, {{ counter = 3 }}, {{ entries = [...] }}, {{ some-keys = {{ count = 2, of = [...] }} }}, {{ first-page = [...] }}"
                ))),
            };
        }
        let table = ExpectTable::deserialize(raw).map_err(D::Error::custom)?;
        let mut found = Vec::new();
        if let Some(v) = table.value {
            found.push(ExpectEntry::Value(v));
        }
        if let Some(b) = table.exists {
            found.push(ExpectEntry::Exists(b));
        }
        if let Some(k) = table.keys {
            found.push(ExpectEntry::Keys(k));
        }
        if let Some(e) = table.error {
            found.push(ExpectEntry::Error(e));
        }
        if let Some(n) = table.counter {
            found.push(ExpectEntry::Counter(n));
        }
        if let Some(e) = table.entries {
            found.push(ExpectEntry::Entries(e));
        }
        if let Some(t) = table.some_keys {
            found.push(ExpectEntry::SomeKeys {
                count: t.count,
                of: t.of,
            });
        }
        if let Some(k) = table.first_page {
            found.push(ExpectEntry::FirstPage(k));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            n => Err(D::Error::custom(format!(
                "an expect table needs exactly one of value, exists, keys, error, counter, entries, some-keys, first-page; this one has {n}"
            ))),
        }
    }
}

impl Serialize for ExpectEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(Serialize)]
        struct SomeKeys<'a> {
            count: usize,
            of: &'a KeysSpec,
        }
        let word = match self {
            ExpectEntry::Ok => Some("ok"),
            ExpectEntry::Absent => Some("absent"),
            ExpectEntry::Present => Some("present"),
            ExpectEntry::InvalidHandle => Some("invalid-handle"),
            _ => None,
        };
        if let Some(word) = word {
            return s.serialize_str(word);
        }
        let mut map = s.serialize_map(Some(1))?;
        match self {
            ExpectEntry::Value(v) => map.serialize_entry("value", v)?,
            ExpectEntry::Exists(b) => map.serialize_entry("exists", b)?,
            ExpectEntry::Keys(k) => map.serialize_entry("keys", k)?,
            ExpectEntry::Error(e) => map.serialize_entry("error", e)?,
            ExpectEntry::Counter(n) => map.serialize_entry("counter", n)?,
            ExpectEntry::Entries(e) => map.serialize_entry("entries", e)?,
            ExpectEntry::SomeKeys { count, of } => {
                map.serialize_entry("some-keys", &SomeKeys { count: *count, of })?
            }
            ExpectEntry::FirstPage(k) => map.serialize_entry("first-page", k)?,
            ExpectEntry::Ok
            | ExpectEntry::Absent
            | ExpectEntry::Present
            | ExpectEntry::InvalidHandle => {}
        }
        map.end()
    }
}

impl CaseFile {
    /// The case as a case file's text, in the layout of kvconf's own cases (one inline table per operation),
    /// preceded by `comment` (each line prefixed with `# `).
    ///
    /// # Errors
    ///
    /// When a field cannot be written as TOML (which the case vocabulary never produces).
    pub fn to_toml(&self, comment: &str) -> Result<String, toml::ser::Error> {
        use std::fmt::Write as _;
        let mut out = String::new();
        for line in comment.lines() {
            let _ = writeln!(out, "{}", format!("# {line}").trim_end());
        }
        let value = |v: &dyn erased::Value| v.to_toml();
        let _ = writeln!(out, "id = {}", value(&self.id)?);
        let _ = writeln!(out, "title = {}", value(&self.title)?);
        let _ = writeln!(out, "statements = {}", value(&self.statements)?);
        if !self.interfaces.is_empty() {
            let _ = writeln!(out, "interfaces = {}", value(&self.interfaces)?);
        }
        if !self.requires.is_empty() {
            let _ = writeln!(out, "requires = {}", value(&self.requires)?);
        }
        let _ = writeln!(out, "\n[app]");
        let _ = writeln!(out, "grants = {}", value(&self.app.grants)?);
        if !self.app.labels.is_empty() {
            let _ = writeln!(out, "labels = {}", value(&self.app.labels)?);
        }
        if self.app.expect_load != LoadExpectation::Loads {
            let _ = writeln!(out, "expect-load = {}", value(&self.app.expect_load)?);
        }
        for step in &self.steps {
            let _ = writeln!(out, "\n[[step]]");
            if let Some(component) = &step.component {
                let _ = writeln!(out, "component = {}", value(component)?);
            }
            if step.restart {
                let _ = writeln!(out, "restart = true");
            }
            if let Some(interface) = &step.interface {
                let _ = writeln!(out, "interface = {}", value(interface)?);
            }
            let _ = writeln!(out, "ops = [");
            for op in &step.ops {
                let _ = writeln!(out, "  {},", value(op)?);
            }
            let _ = writeln!(out, "]");
        }
        Ok(out)
    }
}

/// Writing one serialisable field as an inline TOML value.
mod erased {
    /// A field of a case file.
    pub trait Value {
        /// The field as inline TOML.
        fn to_toml(&self) -> Result<String, toml::ser::Error>;
    }

    impl<T: serde::Serialize> Value for T {
        fn to_toml(&self) -> Result<String, toml::ser::Error> {
            Ok(toml::Value::try_from(self)?.to_string())
        }
    }
}

/// A fault in a case file, with the file it is in.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CaseError {
    /// The case file.
    pub path: PathBuf,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// A parsed and validated case.
#[derive(Clone, Debug)]
pub struct Case {
    /// The file as written.
    pub file: CaseFile,
    /// Where it came from.
    pub path: PathBuf,
}

/// A step ready to run: operations with exact bytes and the outcome each must have.
#[derive(Clone, Debug)]
pub struct PlannedStep {
    /// The component whose fresh instance runs it.
    pub component: String,
    /// The interface version its instance speaks.
    pub interface: Interface,
    /// Whether the host restarts before it.
    pub restart: bool,
    /// The operations, repetitions expanded.
    pub ops: Vec<Operation>,
    /// The outcome each operation must have.
    pub expected: Vec<Expected>,
    /// The entries the operations came from, for compact transcripts.
    pub groups: Vec<Group>,
}

/// A run of operations expanded from one case-file entry.
#[derive(Clone, Debug)]
pub struct Group {
    /// Index of its first operation in the step.
    pub start: usize,
    /// How many operations (the repeat count).
    pub len: usize,
    /// The entry as a transcript shows it when repeated (`set[0] "k{i}" = "v{i}"`).
    pub text: String,
    /// Its expectation as a transcript shows it when matched: for a repeated entry (`value "v{i}"`), and for
    /// an answer the profile chooses (`invalid handle, answered as declared`).
    pub expect_text: String,
    /// Whether the expectation is a choice the profile declares, so a match is shown as `expect_text`.
    pub declared: bool,
}

/// A case expanded for one interface version and one profile.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The interface version the case runs for (a step may pin another).
    pub interface: Interface,
    /// Component ID -> granted labels.
    pub grants: BTreeMap<String, Vec<String>>,
    /// Labels the runtime configuration defines besides "default".
    pub labels: Vec<String>,
    /// Whether the application must load.
    pub load: LoadExpectation,
    /// The steps.
    pub steps: Vec<PlannedStep>,
}

impl Case {
    /// Parses and checks one case file's text.
    pub fn parse(path: &Path, text: &str, catalogue: &Catalogue) -> Result<Case, CaseError> {
        let err = |message: String| CaseError {
            path: path.to_path_buf(),
            message,
        };
        let file: CaseFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        Case::new(path, file, catalogue)
    }

    /// Checks a case file already read (one kvconf wrote itself, say) as [`Case::parse`] checks its text.
    pub fn new(path: &Path, file: CaseFile, catalogue: &Catalogue) -> Result<Case, CaseError> {
        let case = Case {
            file,
            path: path.to_path_buf(),
        };
        case.validate(catalogue).map_err(|message| CaseError {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(case)
    }

    /// The case's ID.
    pub fn id(&self) -> &str {
        &self.file.id
    }

    /// The interface versions the case runs on.
    pub fn interfaces(&self, catalogue: &Catalogue) -> Vec<Interface> {
        if !self.file.interfaces.is_empty() {
            return self.file.interfaces.clone();
        }
        Interface::ALL
            .into_iter()
            .filter(|i| {
                self.file
                    .statements
                    .iter()
                    .all(|s| catalogue.get(s).is_some_and(|st| st.interfaces.contains(i)))
            })
            .collect()
    }

    /// Every capability the case needs: those it lists and those its sizes imply.
    pub fn requires(&self) -> BTreeSet<Capability> {
        let mut caps: BTreeSet<Capability> = self.file.requires.iter().copied().collect();
        for op in self.file.steps.iter().flat_map(|s| &s.ops) {
            let sizes = [
                op.slot.needs(),
                op.repeat.as_ref().and_then(Size::needs),
                op.key.as_ref().and_then(KeySpec::needs),
                op.value.as_ref().and_then(ValueSpec::needs),
            ];
            caps.extend(sizes.into_iter().flatten());
            // The batches' keys and pairs, as given and as expected.
            caps.extend(op.keys.iter().flatten().filter_map(KeySpec::needs));
            let entries = match &op.expect {
                ExpectEntry::Entries(expected) => Some(expected),
                _ => None,
            };
            caps.extend(
                op.entries
                    .iter()
                    .chain(entries)
                    .flatten()
                    .flat_map(EntrySpec::needs),
            );
            match &op.expect {
                ExpectEntry::Value(v) => caps.extend(v.needs()),
                ExpectEntry::Keys(spec)
                | ExpectEntry::FirstPage(spec)
                | ExpectEntry::SomeKeys { of: spec, .. } => caps.extend(spec.needs()),
                _ => {}
            }
        }
        caps
    }

    /// Why the case does not apply to `profile`, if it does not.
    pub fn unmet(&self, profile: &Profile) -> Option<String> {
        let have = profile.capabilities();
        let missing: Vec<String> = self
            .requires()
            .into_iter()
            .filter(|c| !have.contains(c))
            .map(|c| c.to_string())
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "profile {} does not claim {}",
                profile.name,
                missing.join(", ")
            )
        })
    }

    fn validate(&self, catalogue: &Catalogue) -> Result<(), String> {
        let f = &self.file;
        if f.id.trim().is_empty() || f.id.contains(char::is_whitespace) {
            return Err(format!(
                "id {:?} must be non-empty and have no spaces",
                f.id
            ));
        }
        if f.statements.is_empty() {
            return Err(
                "cites no statement: list the catalogue IDs it checks in `statements`".into(),
            );
        }
        for s in &f.statements {
            let Some(statement) = catalogue.get(s) else {
                return Err(format!(
                    "cites unknown statement {s:?}: every ID must be in harness/catalogue/statements.toml"
                ));
            };
            for i in &f.interfaces {
                if !statement.interfaces.contains(i) {
                    return Err(format!("statement {s} does not apply to interface {i}"));
                }
            }
        }
        if self.interfaces(catalogue).is_empty() {
            return Err("its statements share no interface version: split the case".into());
        }
        let refused = f.app.expect_load == LoadExpectation::Refused;
        if f.steps.is_empty() && !refused {
            return Err("has no [[step]]: a case must run at least one operation".into());
        }
        if refused && !f.steps.is_empty() {
            return Err("expects the load to be refused, so it cannot have steps".into());
        }
        for (n, step) in f.steps.iter().enumerate() {
            let component = self
                .component_of(step)
                .map_err(|e| format!("step {}: {e}", n + 1))?;
            if !f.app.grants.contains_key(&component) {
                return Err(format!(
                    "step {} runs component {component:?}, which [app] grants does not list",
                    n + 1
                ));
            }
            if step.ops.is_empty() {
                return Err(format!("step {} has no ops", n + 1));
            }
            for (m, op) in step.ops.iter().enumerate() {
                check_fields(op).map_err(|e| format!("step {}, op {}: {e}", n + 1, m + 1))?;
                if matches!(op.expect, ExpectEntry::InvalidHandle) && m + 1 < step.ops.len() {
                    return Err(format!(
                        "step {}, op {}: expects \"invalid-handle\", so it must end its step: a host may trap there",
                        n + 1,
                        m + 1
                    ));
                }
            }
        }
        Ok(())
    }

    fn component_of(&self, step: &StepSection) -> Result<String, String> {
        match &step.component {
            Some(c) => Ok(c.clone()),
            None if self.file.app.grants.len() == 1 => Ok(self
                .file
                .app
                .grants
                .keys()
                .next()
                .cloned()
                .unwrap_or_default()),
            None => Err("the app has several components: say which one with `component`".into()),
        }
    }

    /// Expands the case for `interface` under `profile`: exact bytes and the required outcome per operation.
    pub fn plan(&self, interface: Interface, profile: &Profile) -> Result<Plan, CaseError> {
        let err = |message: String| CaseError {
            path: self.path.clone(),
            message,
        };
        let mut steps = Vec::new();
        for (n, step) in self.file.steps.iter().enumerate() {
            let component = self.component_of(step).map_err(&err)?;
            let step_interface = step.interface.unwrap_or(interface);
            let mut planned = PlannedStep {
                component,
                interface: step_interface,
                restart: step.restart,
                ops: Vec::new(),
                expected: Vec::new(),
                groups: Vec::new(),
            };
            for (m, entry) in step.ops.iter().enumerate() {
                expand_entry(entry, step_interface, profile, &mut planned)
                    .map_err(|e| err(format!("step {}, op {}: {e}", n + 1, m + 1)))?;
            }
            steps.push(planned);
        }
        Ok(Plan {
            interface,
            grants: self.file.app.grants.clone(),
            labels: self.file.app.labels.clone(),
            load: self.file.app.expect_load,
            steps,
        })
    }
}

fn check_fields(op: &OpEntry) -> Result<(), String> {
    let (required, optional) = op.op.fields();
    let present = op.present_fields();
    if let Some(missing) = required.iter().find(|f| !present.contains(f)) {
        return Err(format!("{:?} needs `{missing}`", op.op));
    }
    if let Some(extra) = present
        .iter()
        .find(|f| !required.contains(f) && !optional.contains(f))
    {
        return Err(format!("{:?} takes no `{extra}`", op.op));
    }
    if op.each_slot && op.repeat.is_none() {
        return Err("`each-slot` only makes sense with `repeat`".into());
    }
    use OpKind as K;
    let fits = match (&op.expect, op.op) {
        (ExpectEntry::Error(_), _) => true,
        (ExpectEntry::Ok, kind) => matches!(
            kind,
            K::Open
                | K::Set
                | K::Delete
                | K::Close
                | K::ForgeHandle
                | K::Concurrently
                | K::CasNew
                | K::CasSwap
                | K::SetMany
                | K::DeleteMany
        ),
        (
            ExpectEntry::Absent | ExpectEntry::Value(_) | ExpectEntry::Present,
            K::Get | K::CasCurrent,
        ) => true,
        (ExpectEntry::Exists(_), K::Exists) => true,
        (ExpectEntry::Keys(_), K::GetKeys) => true,
        (ExpectEntry::SomeKeys { .. }, K::GetKeysPartial) => true,
        (ExpectEntry::FirstPage(_), K::ListKeys) => true,
        (ExpectEntry::Counter(_), K::Increment) => true,
        (ExpectEntry::Entries(_), K::GetMany) => true,
        (ExpectEntry::InvalidHandle, kind) => !matches!(
            kind,
            K::Open | K::ForgeHandle | K::Concurrently | K::CasCurrent | K::CasSwap
        ),
        _ => false,
    };
    if !fits {
        return Err(format!(
            "{:?} cannot have that expectation: get expects \"absent\", \"present\" or {{ value }}; exists {{ exists }}; get-keys {{ keys }}; get-keys-partial {{ some-keys }}; list-keys {{ first-page }}; increment {{ counter }}; get-many {{ entries }}; the others \"ok\"; any may expect {{ error }}",
            op.op
        ));
    }
    Ok(())
}

/// The operations an entry performs under `profile`: one per repetition, every size, key and value expanded.
///
/// # Errors
///
/// When a size, key or value cannot be expanded under `profile`.
pub fn expand_ops(entry: &OpEntry, profile: &Profile) -> Result<Vec<Operation>, ExpandError> {
    let count = match &entry.repeat {
        Some(size) => size.resolve(profile)?,
        None => 1,
    };
    if count > crate::value::MAX_REPEAT {
        return Err(ExpandError::TooMany(count));
    }
    let base_slot = entry.slot.resolve(profile)?;
    let mut ops = Vec::with_capacity(count.min(4096) as usize);
    for i in 0..count {
        ops.push(expand_op(entry, profile, base_slot, i)?);
    }
    Ok(ops)
}

fn expand_entry(
    entry: &OpEntry,
    interface: Interface,
    profile: &Profile,
    step: &mut PlannedStep,
) -> Result<(), ExpandError> {
    let ops = expand_ops(entry, profile)?;
    let count = ops.len() as u64;
    let base_slot = entry.slot.resolve(profile)?;
    let start = step.ops.len();
    for (i, op) in (0..count).zip(ops) {
        let expected = expected_of(&entry.expect, entry.op, interface, profile, i)?;
        step.ops.push(op);
        step.expected.push(expected);
    }
    step.groups.push(Group {
        start,
        len: count as usize,
        text: describe_entry(entry, base_slot, profile),
        declared: matches!(entry.expect, ExpectEntry::InvalidHandle),
        expect_text: match (&entry.expect, step.expected.get(start)) {
            (ExpectEntry::Value(v), _) => format!("value {}", v.describe(profile, None)),
            // The profile decides between two conforming answers; the transcript, shared by every profile,
            // says only that the declared one came.
            (ExpectEntry::InvalidHandle, _) => "invalid handle, answered as declared".to_string(),
            (_, Some(first)) => first.to_string(),
            (_, None) => String::new(),
        },
    });
    Ok(())
}

fn expand_op(
    entry: &OpEntry,
    profile: &Profile,
    base_slot: u64,
    i: u64,
) -> Result<Operation, ExpandError> {
    let slot = if entry.each_slot {
        base_slot + i
    } else {
        base_slot
    };
    let slot = u32::try_from(slot).map_err(|_| ExpandError::Negative(format!("slot {slot}")))?;
    let key = match &entry.key {
        Some(k) => k.expand(profile, i)?,
        None => String::new(),
    };
    let keys = |list: &Option<Vec<KeySpec>>| -> Result<Vec<String>, ExpandError> {
        list.iter()
            .flatten()
            .map(|k| k.expand(profile, i))
            .collect()
    };
    let value = match &entry.value {
        Some(v) => v.expand(profile, i)?,
        None => Vec::new(),
    };
    Ok(match entry.op {
        OpKind::Open => Operation::Open {
            slot,
            label: fill_template(entry.label.as_deref().unwrap_or_default(), i),
        },
        OpKind::Get => Operation::Get { slot, key },
        OpKind::Set => Operation::Set { slot, key, value },
        OpKind::Delete => Operation::Delete { slot, key },
        OpKind::Exists => Operation::Exists { slot, key },
        OpKind::GetKeys => Operation::GetKeys { slot },
        OpKind::Close => Operation::Close { slot },
        OpKind::ForgeHandle => Operation::ForgeHandle {
            slot,
            handle: entry.handle.unwrap_or_default(),
        },
        OpKind::GetKeysPartial => Operation::GetKeysPartial {
            slot,
            take: entry.take.unwrap_or_default(),
        },
        OpKind::Concurrently => Operation::Concurrently {
            count: entry.count.unwrap_or_default(),
        },
        OpKind::ListKeys => Operation::ListKeys {
            slot,
            cursor: entry.cursor.clone(),
        },
        OpKind::Increment => Operation::Increment {
            slot,
            key,
            delta: entry.delta.unwrap_or_default(),
        },
        OpKind::CasNew => Operation::CasNew {
            slot,
            key,
            cas: entry.cas.unwrap_or_default(),
        },
        OpKind::CasCurrent => Operation::CasCurrent {
            cas: entry.cas.unwrap_or_default(),
        },
        OpKind::CasSwap => Operation::CasSwap {
            cas: entry.cas.unwrap_or_default(),
            value,
        },
        OpKind::GetMany => Operation::GetMany {
            slot,
            keys: keys(&entry.keys)?,
        },
        OpKind::DeleteMany => Operation::DeleteMany {
            slot,
            keys: keys(&entry.keys)?,
        },
        OpKind::SetMany => Operation::SetMany {
            slot,
            entries: entry
                .entries
                .iter()
                .flatten()
                .map(|e| {
                    let value = match &e.value {
                        Some(v) => v.expand(profile, i)?,
                        None => Vec::new(),
                    };
                    Ok((e.key.expand(profile, i)?, value))
                })
                .collect::<Result<_, ExpandError>>()?,
        },
    })
}

fn expected_of(
    expect: &ExpectEntry,
    op: OpKind,
    interface: Interface,
    profile: &Profile,
    i: u64,
) -> Result<Expected, ExpandError> {
    Ok(match expect {
        ExpectEntry::Ok if matches!(op, OpKind::Open | OpKind::CasNew) => Expected::Opened,
        ExpectEntry::Ok => Expected::Done,
        ExpectEntry::Absent => match interface {
            Interface::V1 => Expected::Error(ErrorKind::NoSuchKey),
            _ => Expected::Value(None),
        },
        ExpectEntry::Value(v) => Expected::Value(Some(ExpectedValue {
            bytes: v.expand(profile, i)?,
            description: v.describe(profile, Some(i)),
        })),
        ExpectEntry::Exists(b) => Expected::Exists(*b),
        ExpectEntry::Keys(spec) => Expected::Keys(expand_keys(spec, profile, i)?),
        // wasi:keyvalue (either edition) has no store-table-full: a bound on open buckets is reported as `other`.
        ExpectEntry::Error(ErrorKind::StoreTableFull) if interface.is_wasi() => {
            Expected::Error(ErrorKind::Other)
        }
        ExpectEntry::Error(kind) => Expected::Error(*kind),
        ExpectEntry::InvalidHandle => match profile.v1_invalid_handle {
            InvalidHandle::Error => Expected::Error(ErrorKind::InvalidStore),
            InvalidHandle::Trap => Expected::Trap,
        },
        ExpectEntry::Present => Expected::SomeValue,
        ExpectEntry::Counter(n) => Expected::Counter(*n),
        ExpectEntry::Entries(entries) => Expected::Entries(
            entries
                .iter()
                .map(|e| {
                    let value = match &e.value {
                        Some(v) => Some(ExpectedValue {
                            bytes: v.expand(profile, i)?,
                            description: v.describe(profile, Some(i)),
                        }),
                        None => None,
                    };
                    Ok((e.key.expand(profile, i)?, value))
                })
                .collect::<Result<_, ExpandError>>()?,
        ),
        ExpectEntry::SomeKeys { count, of } => Expected::SomeKeys {
            of: expand_keys(of, profile, i)?,
            count: *count,
        },
        ExpectEntry::FirstPage(of) => {
            let of = expand_keys(of, profile, i)?;
            let rule = profile.page_rule(of.len());
            Expected::FirstPage(of, rule)
        }
    })
}

fn expand_keys(
    spec: &KeysSpec,
    profile: &Profile,
    i: u64,
) -> Result<BTreeSet<String>, ExpandError> {
    match spec {
        KeysSpec::List(keys) => keys.iter().map(|k| k.expand(profile, i)).collect(),
        KeysSpec::Generated {
            template,
            count,
            also,
        } => {
            let mut keys: BTreeSet<String> = (0..count.resolve(profile)?)
                .map(|n| fill_template(template, n))
                .collect();
            for k in also {
                keys.insert(k.expand(profile, i)?);
            }
            Ok(keys)
        }
    }
}

fn describe_entry(entry: &OpEntry, slot: u64, profile: &Profile) -> String {
    let slot = if entry.each_slot {
        format!("{slot}+i")
    } else {
        slot.to_string()
    };
    let key = entry
        .key
        .as_ref()
        .map(|k| k.to_string())
        .unwrap_or_default();
    match entry.op {
        OpKind::Open => format!(
            "open[{slot}] {:?}",
            entry.label.as_deref().unwrap_or_default()
        ),
        OpKind::Get => format!("get[{slot}] {key}"),
        OpKind::Set => format!(
            "set[{slot}] {key} = {}",
            entry
                .value
                .as_ref()
                .map(|v| v.describe(profile, None))
                .unwrap_or_default()
        ),
        OpKind::Delete => format!("delete[{slot}] {key}"),
        OpKind::Exists => format!("exists[{slot}] {key}"),
        OpKind::GetKeys => format!("get-keys[{slot}]"),
        OpKind::Close => format!("close[{slot}]"),
        OpKind::Increment => format!(
            "increment[{slot}] {key} by {}",
            entry.delta.unwrap_or_default()
        ),
        OpKind::CasNew => format!(
            "cas-new[{slot}] {key} as cas {}",
            entry.cas.unwrap_or_default()
        ),
        other => format!("{}[{slot}]", other.name()),
    }
}

/// Loads every case under `dir`, checking each and that IDs are unique.
///
/// Refuses an empty directory: a suite that finds no case must not report success.
pub fn load_dir(dir: &Path, catalogue: &Catalogue) -> Result<Vec<Case>, Vec<CaseError>> {
    if !dir.is_dir() {
        return Err(vec![CaseError {
            path: dir.to_path_buf(),
            message: "no such directory: point --cases at a directory of case files (kvconf's own are in harness/cases)"
                .into(),
        }]);
    }
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    let walk = walkdir::WalkDir::new(dir).sort_by_file_name();
    for entry in walk {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                errors.push(CaseError {
                    path: dir.to_path_buf(),
                    message: format!("cannot read the cases directory: {e}"),
                });
                continue;
            }
        };
        let path = entry.path();
        if !entry.file_type().is_file() || path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        match std::fs::read_to_string(path) {
            Ok(text) => match Case::parse(path, &text, catalogue) {
                Ok(case) => cases.push(case),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(CaseError {
                path: path.to_path_buf(),
                message: format!("cannot read: {e}"),
            }),
        }
    }
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for case in &cases {
        if let Some(first) = seen.insert(case.id().to_string(), case.path.clone()) {
            errors.push(CaseError {
                path: case.path.clone(),
                message: format!("id {:?} is also used by {}", case.id(), first.display()),
            });
        }
    }
    if cases.is_empty() && errors.is_empty() {
        errors.push(CaseError {
            path: dir.to_path_buf(),
            message: "no case files (*.toml) found: point --cases at kvconf's cases directory"
                .into(),
        });
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

/// The cases directory of this source tree.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ErrorKind;
    use crate::reference::ReferenceHost;

    fn parse(text: &str) -> Result<Case, CaseError> {
        Case::parse(Path::new("t/case.toml"), text, Catalogue::builtin())
    }

    /// A case of one step with the given operations, checking SET-GET-EXACT on v2.
    fn case_with(ops: &str) -> String {
        format!(
            "id = \"t/case\"\ntitle = \"a test case\"\nstatements = [\"SET-GET-EXACT\"]\ninterfaces = [\"v2\"]\n\n\
             [[step]]\nops = [\n{ops}\n]\n"
        )
    }

    #[test]
    fn a_repeated_entry_expands_its_template_and_expectation_per_repetition() {
        let case = parse(&case_with(
            r#"{ op = "open", label = "default", expect = "ok" },
               { op = "set", key = "k{i}", value = "v{i}", repeat = 3, expect = "ok" },
               { op = "get", key = "k{i}", repeat = 3, expect = { value = "v{i}" } },"#,
        ))
        .unwrap();
        assert_eq!(case.id(), "t/case");
        assert_eq!(case.interfaces(Catalogue::builtin()), [Interface::V2]);
        let plan = case
            .plan(Interface::V2, &ReferenceHost::sip010_profile())
            .unwrap();
        let step = &plan.steps[0];
        assert_eq!(step.ops.len(), 7);
        assert_eq!(
            step.ops[3],
            Operation::Set {
                slot: 0,
                key: "k2".into(),
                value: b"v2".to_vec()
            }
        );
        assert_eq!(step.expected[1], Expected::Done);
        assert_eq!(
            step.groups
                .iter()
                .map(|g| (g.start, g.len))
                .collect::<Vec<_>>(),
            [(0, 1), (1, 3), (4, 3)]
        );
    }

    #[test]
    fn a_size_named_after_a_limit_resolves_against_the_profile_it_is_planned_for() {
        let case = parse(&case_with(
            r#"{ op = "open", label = "default", expect = "ok" },
               { op = "set", key = { fill = "k", bytes = "key-max" }, value = "v", expect = "ok" },"#,
        ))
        .unwrap();
        let profile = ReferenceHost::sip010_profile();
        let plan = case.plan(Interface::V2, &profile).unwrap();
        let Operation::Set { key, .. } = &plan.steps[0].ops[1] else {
            panic!("a set: {:?}", plan.steps[0].ops[1]);
        };
        assert_eq!(key.len() as u64, profile.limits.key_bytes.unwrap());
    }

    #[test]
    fn an_unknown_statement_is_refused_naming_it_and_the_file() {
        let text = case_with(r#"{ op = "open", label = "default", expect = "ok" },"#)
            .replace("SET-GET-EXACT", "SET-GET-EXACTLY");
        let error = parse(&text).unwrap_err();
        assert_eq!(error.path, Path::new("t/case.toml"));
        assert!(
            error.message.contains("SET-GET-EXACTLY"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_missing_or_stray_field_is_refused_saying_which() {
        let missing = parse(&case_with(
            r#"{ op = "open", label = "default", expect = "ok" },
               { op = "set", key = "k", expect = "ok" },"#,
        ))
        .unwrap_err();
        assert!(missing.message.contains("value"), "{}", missing.message);
        let stray = parse(&case_with(
            r#"{ op = "open", label = "default", expect = "ok" },
               { op = "get", key = "k", value = "v", expect = "ok" },"#,
        ))
        .unwrap_err();
        assert!(stray.message.contains("value"), "{}", stray.message);
        let unknown = parse(&case_with(
            r#"{ op = "open", label = "default", expct = "ok" },"#,
        ))
        .unwrap_err();
        assert!(unknown.message.contains("expct"), "{}", unknown.message);
    }

    #[test]
    fn an_error_expectation_plans_as_that_error() {
        let case = parse(&case_with(
            r#"{ op = "open", label = "nope", expect = { error = "access-denied" } },"#,
        ))
        .unwrap();
        let plan = case
            .plan(Interface::V2, &ReferenceHost::sip010_profile())
            .unwrap();
        assert_eq!(
            plan.steps[0].expected,
            [Expected::Error(ErrorKind::AccessDenied)]
        );
    }

    #[test]
    fn a_case_written_back_as_toml_reads_as_the_same_case() {
        let case = parse(&case_with(
            r#"{ op = "open", label = "default", expect = "ok" },
               { op = "set", key = "k{i}", value = "v{i}", repeat = 2, expect = "ok" },"#,
        ))
        .unwrap();
        let text = case.file.to_toml("# written back").unwrap();
        let again = parse(&text).unwrap();
        assert_eq!(again.file, case.file);
    }
}
