//! Operations, what a host gave for them ([`Outcome`]) and what the spec says it must give ([`Expected`]).
//!
//! These types are the suite's own, independent of any generated bindings, so the model, the case files and
//! the driver all speak one vocabulary.

use crate::profile::PageRule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// One operation of a script, with every value expanded to its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Open `label` into `slot`.
    Open {
        /// The slot that will hold the handle.
        slot: u32,
        /// The store label.
        label: String,
    },
    /// Read a key.
    Get {
        /// The slot holding the store.
        slot: u32,
        /// The key.
        key: String,
    },
    /// Write a key.
    Set {
        /// The slot holding the store.
        slot: u32,
        /// The key.
        key: String,
        /// The exact bytes to write.
        value: Vec<u8>,
    },
    /// Delete a key.
    Delete {
        /// The slot holding the store.
        slot: u32,
        /// The key.
        key: String,
    },
    /// Ask whether a key exists.
    Exists {
        /// The slot holding the store.
        slot: u32,
        /// The key.
        key: String,
    },
    /// List the keys.
    GetKeys {
        /// The slot holding the store.
        slot: u32,
    },
    /// Close (drop) the handle in `slot`.
    Close {
        /// The slot holding the store.
        slot: u32,
    },
    /// v1: put a raw handle number into `slot`, as if `open` had returned it.
    ForgeHandle {
        /// The slot.
        slot: u32,
        /// The handle number.
        handle: u32,
    },
    /// v3: read at most `take` keys of the listing, then drop the stream and the future.
    GetKeysPartial {
        /// The slot holding the store.
        slot: u32,
        /// How many keys to read.
        take: u32,
    },
    /// v3: run the next `count` operations with all their calls in flight at once.
    Concurrently {
        /// How many operations.
        count: u32,
    },
    /// wasi: one `list-keys` call.
    ListKeys {
        /// The slot holding the bucket.
        slot: u32,
        /// The cursor to pass.
        cursor: Option<String>,
    },
    /// wasi: `increment`.
    Increment {
        /// The slot holding the bucket.
        slot: u32,
        /// The key.
        key: String,
        /// The amount to add.
        delta: i64,
    },
    /// wasi: make a `cas` for a key, kept in cas slot `cas`.
    CasNew {
        /// The slot holding the bucket.
        slot: u32,
        /// The key.
        key: String,
        /// The cas slot.
        cas: u32,
    },
    /// wasi: `current` of the cas in cas slot `cas`.
    CasCurrent {
        /// The cas slot.
        cas: u32,
    },
    /// wasi: `swap` the cas in cas slot `cas` (consuming it).
    CasSwap {
        /// The cas slot.
        cas: u32,
        /// The value to write.
        value: Vec<u8>,
    },
    /// wasi: `get-many`.
    GetMany {
        /// The slot holding the bucket.
        slot: u32,
        /// The keys, in request order.
        keys: Vec<String>,
    },
    /// wasi: `set-many`.
    SetMany {
        /// The slot holding the bucket.
        slot: u32,
        /// The pairs to write.
        entries: Vec<(String, Vec<u8>)>,
    },
    /// wasi: `delete-many`.
    DeleteMany {
        /// The slot holding the bucket.
        slot: u32,
        /// The keys.
        keys: Vec<String>,
    },
}

/// An error variant of the key-value interfaces (the union of every version's variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// `store-table-full`.
    StoreTableFull,
    /// `no-such-store`.
    NoSuchStore,
    /// `access-denied`.
    AccessDenied,
    /// `invalid-store` (v1).
    InvalidStore,
    /// `no-such-key` (v1).
    NoSuchKey,
    /// `other(text)` (v1: `io(text)`); the text is the host's own and never compared.
    Other,
    /// wasi `swap`: the value changed since the `cas` was made.
    CasFailed,
}

impl ErrorKind {
    /// The WIT name of the variant.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::StoreTableFull => "store-table-full",
            ErrorKind::NoSuchStore => "no-such-store",
            ErrorKind::AccessDenied => "access-denied",
            ErrorKind::InvalidStore => "invalid-store",
            ErrorKind::NoSuchKey => "no-such-key",
            ErrorKind::Other => "other",
            ErrorKind::CasFailed => "cas-failed",
        }
    }
}

/// An error a host returned: its variant, and the text of `other`/`io`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvError {
    /// The variant.
    pub kind: ErrorKind,
    /// The host's description, for `other` and `io`.
    pub text: Option<String>,
}

/// What the driver reported for one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `open` succeeded.
    Opened,
    /// An operation with no result succeeded.
    Done,
    /// `get` succeeded.
    Value(Option<Vec<u8>>),
    /// `exists` succeeded.
    Exists(bool),
    /// The key listing, in the order the host gave it.
    Keys(Vec<String>),
    /// One wasi `list-keys` page.
    Page {
        /// The keys on the page.
        keys: Vec<String>,
        /// Where the next page starts.
        cursor: Option<String>,
    },
    /// wasi `increment`: the new value.
    Counter(i64),
    /// wasi `get-many`: the entries as the host gave them.
    Entries(Vec<(String, Option<Vec<u8>>)>),
    /// The host returned an error.
    Failed(KvError),
    /// The driver could not attempt the operation: a fault in the script, never a host result.
    ScriptError(String),
    /// The instance trapped during this operation (a host fault, a host panic, or a guest trap).
    Trapped(String),
    /// The operation never ran, because an earlier one trapped or the case timed out.
    NotRun,
}

/// A value the spec requires, with how the case described it.
#[derive(Clone, Debug)]
pub struct ExpectedValue {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// How the case wrote it (`"v1"`, `<1048576 bytes of pattern 7>`), for transcripts.
    pub description: String,
}

impl ExpectedValue {
    /// The value `bytes`, described by its rendering (for values the model computes rather than a case writes).
    pub fn of(bytes: &[u8]) -> ExpectedValue {
        ExpectedValue {
            bytes: bytes.to_vec(),
            description: render_bytes(bytes),
        }
    }
}

impl PartialEq for ExpectedValue {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for ExpectedValue {}

/// The outcome the spec requires of one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// `open` succeeds.
    Opened,
    /// The operation succeeds with no result.
    Done,
    /// `get` returns this value, or none.
    Value(Option<ExpectedValue>),
    /// `exists` returns this.
    Exists(bool),
    /// The listing holds exactly these keys, each once, in any order.
    Keys(BTreeSet<String>),
    /// The host returns this error variant.
    Error(ErrorKind),
    /// The listing holds exactly `count` distinct keys, all from this set (a partial read of a stream).
    SomeKeys {
        /// The keys the store holds.
        of: BTreeSet<String>,
        /// How many must be read.
        count: usize,
    },
    /// A first wasi page: distinct keys from this set, and every one of them if the cursor is `none`; stricter
    /// where the host claims how it pages (KEYS-WASI-CURSOR).
    FirstPage(BTreeSet<String>, PageRule),
    /// `increment` returns this.
    Counter(i64),
    /// `get-many` returns exactly these entries, in this order.
    Entries(Vec<(String, Option<ExpectedValue>)>),
    /// A value is present, its bytes the host's business (a counter's encoding).
    SomeValue,
    /// The host traps here (its declared choice for an ALLOWED statement).
    Trap,
    /// The operation never runs: an earlier one trapped.
    NotRun,
    /// The model cannot run the operation (a fault in the case's script).
    ScriptError(String),
}

impl Expected {
    /// Whether `actual` is what this expectation allows.
    pub fn matches(&self, actual: &Outcome) -> bool {
        match (self, actual) {
            (Expected::Opened, Outcome::Opened) | (Expected::Done, Outcome::Done) => true,
            (Expected::Value(None), Outcome::Value(None)) => true,
            (Expected::Value(Some(want)), Outcome::Value(Some(got))) => want.bytes == *got,
            (Expected::Exists(want), Outcome::Exists(got)) => want == got,
            (Expected::Keys(want), Outcome::Keys(got)) => {
                let set: BTreeSet<&String> = got.iter().collect();
                set.len() == got.len()
                    && set.len() == want.len()
                    && want.iter().all(|k| set.contains(k))
            }
            (Expected::Error(want), Outcome::Failed(got)) => *want == got.kind,
            (Expected::SomeKeys { of, count }, Outcome::Keys(got)) => {
                let set: BTreeSet<&String> = got.iter().collect();
                set.len() == got.len() && got.len() == *count && got.iter().all(|k| of.contains(k))
            }
            (Expected::FirstPage(all, rule), Outcome::Page { keys, cursor }) => {
                let set: BTreeSet<&String> = keys.iter().collect();
                set.len() == keys.len()
                    && keys.iter().all(|k| all.contains(k))
                    && (cursor.is_some() || keys.len() == all.len())
                    && match rule {
                        PageRule::Either => true,
                        PageRule::Whole => cursor.is_none(),
                        PageRule::Paged(n) => cursor.is_some() && keys.len() as u64 <= *n,
                    }
            }
            (Expected::Counter(want), Outcome::Counter(got)) => want == got,
            (Expected::Entries(want), Outcome::Entries(got)) => {
                want.len() == got.len()
                    && want.iter().zip(got).all(|((wk, wv), (gk, gv))| {
                        wk == gk && wv.as_ref().map(|v| &v.bytes) == gv.as_ref()
                    })
            }
            (Expected::SomeValue, Outcome::Value(Some(_))) => true,
            (Expected::Trap, Outcome::Trapped(_)) => true,
            (Expected::NotRun, Outcome::NotRun) => true,
            _ => false,
        }
    }

    /// Explains why `actual` does not match, in a few words (empty when it matches).
    pub fn mismatch(&self, actual: &Outcome) -> String {
        match (self, actual) {
            (Expected::Value(Some(want)), Outcome::Value(Some(got))) if want.bytes != *got => {
                describe_difference(&want.bytes, got)
            }
            (Expected::Keys(want), Outcome::Keys(got)) => {
                let mut seen = BTreeSet::new();
                let dups: Vec<&String> = got.iter().filter(|k| !seen.insert(*k)).collect();
                let missing: Vec<&String> = want.iter().filter(|k| !seen.contains(k)).collect();
                let extra: Vec<&String> = seen
                    .iter()
                    .copied()
                    .filter(|k| !want.contains(*k))
                    .collect();
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("missing {}", short_list(&missing)));
                }
                if !extra.is_empty() {
                    parts.push(format!("unexpected {}", short_list(&extra)));
                }
                if !dups.is_empty() {
                    parts.push(format!("listed more than once {}", short_list(&dups)));
                }
                parts.join("; ")
            }
            _ => String::new(),
        }
    }
}

fn short_list(keys: &[&String]) -> String {
    let shown: Vec<String> = keys.iter().take(5).map(|k| render_key(k)).collect();
    if keys.len() > 5 {
        format!("[{}, … {} in all]", shown.join(", "), keys.len())
    } else {
        format!("[{}]", shown.join(", "))
    }
}

fn describe_difference(want: &[u8], got: &[u8]) -> String {
    let first = want.iter().zip(got).position(|(a, b)| a != b);
    match first {
        Some(i) => format!(
            "{} bytes read, {} expected; first difference at byte {i} ({:#04x} read, {:#04x} expected)",
            got.len(),
            want.len(),
            got[i],
            want[i]
        ),
        None => format!(
            "{} bytes read, {} expected; the shorter is a prefix of the longer",
            got.len(),
            want.len()
        ),
    }
}

/// Renders a key for a transcript: quoted, escaped, and shortened when long.
pub fn render_key(key: &str) -> String {
    if key.len() > 40 {
        let cut = (0..=24)
            .rev()
            .find(|i| key.is_char_boundary(*i))
            .unwrap_or(0);
        format!("<{}-byte key {:?}…>", key.len(), &key[..cut])
    } else {
        format!("{key:?}")
    }
}

/// Renders bytes for a transcript: text when short and printable, hex when short, a size otherwise.
pub fn render_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.len() <= 40 && !text.chars().any(char::is_control) => format!("{text:?}"),
        _ if bytes.len() <= 16 => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("hex:{hex}")
        }
        _ => format!("<{} bytes>", bytes.len()),
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Opened => f.write_str("opened"),
            Expected::Done => f.write_str("ok"),
            Expected::Value(None) => f.write_str("none"),
            Expected::Value(Some(v)) => write!(f, "value {}", v.description),
            Expected::Exists(b) => write!(f, "exists {b}"),
            Expected::Keys(keys) => write!(f, "keys {}", render_keys(keys.iter())),
            Expected::Error(kind) => write!(f, "error {}", kind.name()),
            Expected::SomeKeys { of, count } => {
                write!(f, "{count} of the keys {}", render_keys(of.iter()))
            }
            Expected::FirstPage(all, rule) => {
                write!(f, "a first page of the keys {}", render_keys(all.iter()))?;
                match rule {
                    PageRule::Either => Ok(()),
                    PageRule::Whole => {
                        f.write_str(", all of them, cursor none (as the host claims)")
                    }
                    PageRule::Paged(n) => {
                        write!(f, ", at most {n} of them and a cursor (as the host claims)")
                    }
                }
            }
            Expected::Counter(n) => write!(f, "counter {n}"),
            Expected::Entries(entries) => {
                let shown: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{}: {}", render_key(k), v.description),
                        None => format!("{}: none", render_key(k)),
                    })
                    .collect();
                write!(f, "entries [{}]", shown.join(", "))
            }
            Expected::SomeValue => f.write_str("some value"),
            Expected::Trap => f.write_str("trap"),
            Expected::NotRun => f.write_str("not run"),
            Expected::ScriptError(text) => write!(f, "script error: {text}"),
        }
    }
}

/// Renders keys in the order given (a request), every one when there are few.
fn render_list(keys: &[String]) -> String {
    render_keys(keys.iter())
}

/// Renders a key listing: every key when there are few, a count otherwise.
pub fn render_keys<'a>(keys: impl ExactSizeIterator<Item = &'a String>) -> String {
    let n = keys.len();
    if n > 8 {
        format!("<{n} keys>")
    } else {
        let shown: Vec<String> = keys.map(|k| render_key(k)).collect();
        format!("[{}]", shown.join(", "))
    }
}

impl Outcome {
    /// Renders the outcome for a transcript. When it matches `expected`, values and listings are shown as
    /// the case described them (so a transcript is the same on every backend that conforms); when it does
    /// not, the actual data is shown.
    pub fn render(&self, expected: Option<&Expected>) -> String {
        if let Some(e) = expected
            && e.matches(self)
        {
            return match e {
                Expected::Keys(keys) => format!("keys {}", render_keys(keys.iter())),
                // The error text belongs to the host; a transcript names only the variant.
                Expected::Error(kind) => format!("error {}", kind.name()),
                other => other.to_string(),
            };
        }
        match self {
            Outcome::Opened => "opened".into(),
            Outcome::Done => "ok".into(),
            Outcome::Value(None) => "none".into(),
            Outcome::Value(Some(v)) => format!("value {}", render_bytes(v)),
            Outcome::Exists(b) => format!("exists {b}"),
            Outcome::Keys(keys) => format!("keys {}", render_keys(keys.iter())),
            Outcome::Page { keys, cursor } => format!(
                "page {} cursor {}",
                render_keys(keys.iter()),
                if cursor.is_some() { "some" } else { "none" }
            ),
            Outcome::Counter(n) => format!("counter {n}"),
            Outcome::Entries(entries) => {
                let shown: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{}: {}", render_key(k), render_bytes(v)),
                        None => format!("{}: none", render_key(k)),
                    })
                    .collect();
                format!("entries [{}]", shown.join(", "))
            }
            Outcome::Failed(err) => match &err.text {
                Some(text) => format!("error {}({text:?})", err.kind.name()),
                None => format!("error {}", err.kind.name()),
            },
            Outcome::ScriptError(text) => format!("script error: {text}"),
            Outcome::Trapped(text) => format!("trap: {}", text.lines().next().unwrap_or("")),
            Outcome::NotRun => "not run".into(),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Open { slot, label } => write!(f, "open[{slot}] {label:?}"),
            Operation::Get { slot, key } => write!(f, "get[{slot}] {}", render_key(key)),
            Operation::Set { slot, key, value } => {
                write!(
                    f,
                    "set[{slot}] {} = {}",
                    render_key(key),
                    render_bytes(value)
                )
            }
            Operation::Delete { slot, key } => write!(f, "delete[{slot}] {}", render_key(key)),
            Operation::Exists { slot, key } => write!(f, "exists[{slot}] {}", render_key(key)),
            Operation::GetKeys { slot } => write!(f, "get-keys[{slot}]"),
            Operation::Close { slot } => write!(f, "close[{slot}]"),
            Operation::ForgeHandle { slot, handle } => write!(f, "forge-handle[{slot}] {handle}"),
            Operation::GetKeysPartial { slot, take } => {
                write!(f, "get-keys-partial[{slot}] take {take}")
            }
            Operation::Concurrently { count } => write!(f, "concurrently {count}"),
            Operation::ListKeys { slot, cursor } => match cursor {
                Some(c) => write!(f, "list-keys[{slot}] cursor {c:?}"),
                None => write!(f, "list-keys[{slot}]"),
            },
            Operation::Increment { slot, key, delta } => {
                write!(f, "increment[{slot}] {} by {delta}", render_key(key))
            }
            Operation::CasNew { slot, key, cas } => {
                write!(f, "cas-new[{slot}] {} as cas {cas}", render_key(key))
            }
            Operation::CasCurrent { cas } => write!(f, "cas-current {cas}"),
            Operation::CasSwap { cas, value } => {
                write!(f, "cas-swap {cas} = {}", render_bytes(value))
            }
            Operation::GetMany { slot, keys } => {
                write!(f, "get-many[{slot}] {}", render_list(keys))
            }
            Operation::SetMany { slot, entries } => {
                let shown: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{} = {}", render_key(k), render_bytes(v)))
                    .collect();
                write!(f, "set-many[{slot}] [{}]", shown.join(", "))
            }
            Operation::DeleteMany { slot, keys } => {
                write!(f, "delete-many[{slot}] {}", render_list(keys))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn key_listings_match_as_sets_without_duplicates() {
        let want = Expected::Keys(["a", "b"].iter().map(|s| s.to_string()).collect());
        assert!(want.matches(&Outcome::Keys(keys(&["b", "a"]))));
        assert!(!want.matches(&Outcome::Keys(keys(&["a", "b", "a"]))));
        assert!(!want.matches(&Outcome::Keys(keys(&["a"]))));
        assert!(!want.matches(&Outcome::Keys(keys(&["a", "b", "c"]))));
        assert!(
            want.mismatch(&Outcome::Keys(keys(&["a", "a"])))
                .contains("listed more than once")
        );
    }

    #[test]
    fn other_errors_match_whatever_their_text() {
        let want = Expected::Error(ErrorKind::Other);
        let got = Outcome::Failed(KvError {
            kind: ErrorKind::Other,
            text: Some("too big".into()),
        });
        assert!(want.matches(&got));
        assert!(!Expected::Error(ErrorKind::AccessDenied).matches(&got));
    }

    #[test]
    fn a_value_difference_names_the_first_differing_byte() {
        let want = Expected::Value(Some(ExpectedValue {
            bytes: vec![1, 2, 3],
            description: "x".into(),
        }));
        let text = want.mismatch(&Outcome::Value(Some(vec![1, 9, 3])));
        assert!(text.contains("byte 1"), "{text}");
        assert!(!want.matches(&Outcome::Value(None)));
        assert!(!Expected::Value(None).matches(&Outcome::Value(Some(vec![]))));
    }

    #[test]
    fn a_first_page_is_judged_by_the_paging_the_host_claims() {
        let all: BTreeSet<String> = (0..5).map(|i| format!("k{i}")).collect();
        let page = |n: usize, cursor: Option<&str>| Outcome::Page {
            keys: all.iter().take(n).cloned().collect(),
            cursor: cursor.map(str::to_string),
        };
        let either = Expected::FirstPage(all.clone(), PageRule::Either);
        assert!(either.matches(&page(5, None)));
        assert!(either.matches(&page(2, Some("c"))));
        assert!(!either.matches(&page(2, None)), "a short last page");
        let whole = Expected::FirstPage(all.clone(), PageRule::Whole);
        assert!(whole.matches(&page(5, None)));
        assert!(
            !whole.matches(&page(2, Some("c"))),
            "paged, claiming one page"
        );
        assert!(
            !whole.matches(&page(5, Some("c"))),
            "a cursor after every key"
        );
        let paged = Expected::FirstPage(all.clone(), PageRule::Paged(3));
        assert!(paged.matches(&page(3, Some("c"))));
        assert!(paged.matches(&page(1, Some("c"))));
        assert!(
            !paged.matches(&page(4, Some("c"))),
            "a page over the claimed size"
        );
        assert!(
            !paged.matches(&page(5, None)),
            "one page, claiming pages of 3"
        );
    }
}
