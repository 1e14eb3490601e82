//! The case file's format: its sections, entries and expectations as serde reads and writes them, and the checks
//! of an entry's fields.

use super::*;

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

pub(super) fn slot_zero() -> Size {
    Size::Literal(0)
}

pub(super) fn is_slot_zero(slot: &Size) -> bool {
    *slot == Size::Literal(0)
}

pub(super) fn default_grants() -> BTreeMap<String, Vec<String>> {
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
    pub(super) fn fields(self) -> (&'static [&'static str], &'static [&'static str]) {
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
    pub(super) fn needs(&self) -> impl Iterator<Item = Capability> {
        self.key
            .needs()
            .into_iter()
            .chain(self.value.as_ref().and_then(ValueSpec::needs))
    }
}

impl OpEntry {
    /// The names of the operation-specific fields this entry has.
    pub(super) fn present_fields(&self) -> Vec<&'static str> {
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
    pub(super) fn needs(&self) -> Vec<Capability> {
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
pub(super) struct SomeKeysTable {
    pub(super) count: usize,
    pub(super) of: KeysSpec,
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
pub(super) struct ExpectTable {
    pub(super) value: Option<ValueSpec>,
    pub(super) exists: Option<bool>,
    pub(super) keys: Option<KeysSpec>,
    pub(super) error: Option<ErrorKind>,
    pub(super) counter: Option<i64>,
    pub(super) entries: Option<Vec<EntrySpec>>,
    pub(super) some_keys: Option<SomeKeysTable>,
    pub(super) first_page: Option<KeysSpec>,
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

pub(super) fn check_fields(op: &OpEntry) -> Result<(), String> {
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
