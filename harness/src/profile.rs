//! What a host claims: its limits and its choice for each ALLOWED statement.
//!
//! Cases that depend on a claim name a [`Capability`]; a case whose capability the profile lacks is reported
//! as skipped with the reason, never as a pass.

use crate::interface::Interface;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The key size every host must accept, in bytes of UTF-8 (SIP 010; LIMIT-KEY).
pub const SPEC_KEY_BYTES: u64 = 256;
/// The value size every host must accept: kvconf reads SIP 010's "1 MB" as 1 MiB (LIMIT-VALUE).
pub const SPEC_VALUE_BYTES: u64 = 1_048_576;
/// The number of tuples one store must hold (LIMIT-CAPACITY).
pub const SPEC_TUPLES: u64 = 1024;

/// What a host does with a granted label that no runtime configuration defines (OPEN-UNCONFIGURED).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnconfiguredLabel {
    /// The application is refused at load, with a message naming the label (what Spin does).
    RefuseLoad,
    /// The application loads, and `open` of that label fails with `no-such-store`.
    NoSuchStore,
}

/// What a v1 host does with a handle that is not open (HANDLE-V1-INVALID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvalidHandle {
    /// The operation fails with `invalid-store` (what the v1 interface text promises).
    Error,
    /// The instance traps (what Spin does).
    Trap,
}

/// Limits a host declares. `None` means the host claims no limit and must accept any size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// The longest key it accepts, in bytes of UTF-8.
    pub key_bytes: Option<u64>,
    /// The largest value it accepts, in bytes.
    pub value_bytes: Option<u64>,
    /// The most tuples one store holds.
    pub tuples: Option<u64>,
}

/// A host's claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    /// The profile's name, shown in reports.
    pub name: String,
    /// The interface versions the host provides.
    pub interfaces: Vec<Interface>,
    /// Size limits past which it refuses writes (LIMIT-BEYOND).
    pub limits: Limits,
    /// Its bound on stores open at once in one instance (OPEN-TABLE-FULL), if any.
    pub open_stores: Option<u64>,
    /// Its choice for OPEN-UNCONFIGURED.
    pub unconfigured_label: UnconfiguredLabel,
    /// Its choice for HANDLE-V1-INVALID.
    pub v1_invalid_handle: InvalidHandle,
    /// Whether it accepts the empty string as a key, as Spin is observed to (KEY-EMPTY); a host need not.
    #[serde(default)]
    pub empty_key: bool,
    /// Whether a closed v1 handle number is never given to a later `open` of the same instance, as Spin is observed
    /// to do (HANDLE-REUSE); a host may reuse numbers.
    #[serde(default)]
    pub v1_fresh_handles: bool,
    /// Whether its stores keep their data across a restart of the host (PERSIST-RESTART): a durable backend
    /// (SQLite, Redis) does, an in-memory one does not, and the host declares which.
    #[serde(default)]
    pub durable: bool,
    /// Its choice for KEYS-WASI-CURSOR, if it declares one: every key in one page (`single-page`), or pages of at
    /// most `wasi-page-keys` keys (`pages`). Without a claim, either answer conforms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasi_paging: Option<WasiPaging>,
    /// With `wasi-paging = "pages"`: the most keys one page holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasi_page_keys: Option<u64>,
}

/// How a host answers a wasi `list-keys` (KEYS-WASI-CURSOR, ALLOWED).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WasiPaging {
    /// Every key in the first page, with cursor `none`.
    SinglePage,
    /// Pages of at most `wasi-page-keys` keys: a listing of more keys than that is paged with a cursor.
    Pages,
}

/// How strictly a first wasi page is judged, from what the profile claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageRule {
    /// No claim, or a claim the listing is too short to test: any first page the spec allows.
    Either,
    /// Claimed `single-page`: every key, cursor `none`.
    Whole,
    /// Claimed pages of at most this many keys, and the store holds more: at most this many, and a cursor.
    Paged(u64),
}

/// A claim a case can depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// The host declares a key size limit.
    KeyLimit,
    /// The host declares no key size limit.
    NoKeyLimit,
    /// The host declares a value size limit.
    ValueLimit,
    /// The host declares no value size limit.
    NoValueLimit,
    /// The host declares a tuple limit.
    TupleLimit,
    /// The host declares no tuple limit.
    NoTupleLimit,
    /// The host bounds the stores open at once.
    OpenLimit,
    /// The host does not bound the stores open at once.
    NoOpenLimit,
    /// The host refuses to load an application granted an undefined label.
    UnconfiguredRefusesLoad,
    /// The host loads it and fails `open` of that label with `no-such-store`.
    UnconfiguredNoSuchStore,
    /// The host accepts the empty string as a key (KEY-EMPTY, what Spin does; not required).
    EmptyKey,
    /// The host never reuses a closed v1 handle number in an instance (HANDLE-REUSE, what Spin does; not
    /// required).
    V1FreshHandles,
    /// The host's stores keep their data across a restart (PERSIST-RESTART).
    Durable,
    /// The host's stores lose their data in a restart (PERSIST-RESTART: in memory).
    NotDurable,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 14] = [
        Capability::KeyLimit,
        Capability::NoKeyLimit,
        Capability::ValueLimit,
        Capability::NoValueLimit,
        Capability::TupleLimit,
        Capability::NoTupleLimit,
        Capability::OpenLimit,
        Capability::NoOpenLimit,
        Capability::UnconfiguredRefusesLoad,
        Capability::UnconfiguredNoSuchStore,
        Capability::EmptyKey,
        Capability::V1FreshHandles,
        Capability::Durable,
        Capability::NotDurable,
    ];

    /// The name used in case files.
    pub fn name(self) -> &'static str {
        match self {
            Capability::KeyLimit => "key-limit",
            Capability::NoKeyLimit => "no-key-limit",
            Capability::ValueLimit => "value-limit",
            Capability::NoValueLimit => "no-value-limit",
            Capability::TupleLimit => "tuple-limit",
            Capability::NoTupleLimit => "no-tuple-limit",
            Capability::OpenLimit => "open-limit",
            Capability::NoOpenLimit => "no-open-limit",
            Capability::UnconfiguredRefusesLoad => "unconfigured-refuses-load",
            Capability::UnconfiguredNoSuchStore => "unconfigured-no-such-store",
            Capability::EmptyKey => "empty-key",
            Capability::V1FreshHandles => "v1-fresh-handles",
            Capability::Durable => "durable",
            Capability::NotDurable => "not-durable",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Profile {
    /// The limits a profile makes a claim about, by the names [`Profile::limit_claim`] takes.
    pub const LIMITS: [&'static str; 4] = ["key", "value", "tuples", "open"];

    /// This profile's claim about one of [`Profile::LIMITS`]: that it declares the limit, or that it has none.
    pub fn limit_claim(&self, limit: &str) -> Option<Capability> {
        let pick = |declared: bool, yes, no| if declared { yes } else { no };
        Some(match limit {
            "key" => pick(
                self.limits.key_bytes.is_some(),
                Capability::KeyLimit,
                Capability::NoKeyLimit,
            ),
            "value" => pick(
                self.limits.value_bytes.is_some(),
                Capability::ValueLimit,
                Capability::NoValueLimit,
            ),
            "tuples" => pick(
                self.limits.tuples.is_some(),
                Capability::TupleLimit,
                Capability::NoTupleLimit,
            ),
            "open" => pick(
                self.open_stores.is_some(),
                Capability::OpenLimit,
                Capability::NoOpenLimit,
            ),
            _ => return None,
        })
    }

    /// The claims of this profile, as capabilities cases can require.
    pub fn capabilities(&self) -> BTreeSet<Capability> {
        let pick = |declared: bool, yes, no| if declared { yes } else { no };
        let mut caps: BTreeSet<Capability> = Profile::LIMITS
            .iter()
            .filter_map(|limit| self.limit_claim(limit))
            .collect();
        caps.insert(match self.unconfigured_label {
            UnconfiguredLabel::RefuseLoad => Capability::UnconfiguredRefusesLoad,
            UnconfiguredLabel::NoSuchStore => Capability::UnconfiguredNoSuchStore,
        });
        if self.empty_key {
            caps.insert(Capability::EmptyKey);
        }
        if self.v1_fresh_handles {
            caps.insert(Capability::V1FreshHandles);
        }
        caps.insert(pick(
            self.durable,
            Capability::Durable,
            Capability::NotDurable,
        ));
        caps
    }

    /// The longest key the host must accept: 256 bytes, or the profile's lower declared limit.
    pub fn key_min(&self) -> u64 {
        self.limits
            .key_bytes
            .map_or(SPEC_KEY_BYTES, |l| l.min(SPEC_KEY_BYTES))
    }

    /// The largest value the host must accept: 1 MiB, or the profile's lower declared limit.
    pub fn value_min(&self) -> u64 {
        self.limits
            .value_bytes
            .map_or(SPEC_VALUE_BYTES, |l| l.min(SPEC_VALUE_BYTES))
    }

    /// The tuples one store must hold: 1024, or the profile's lower declared limit.
    pub fn tuples_min(&self) -> u64 {
        self.limits
            .tuples
            .map_or(SPEC_TUPLES, |l| l.min(SPEC_TUPLES))
    }

    /// How a first `list-keys` page of a store holding `keys` keys must look under this profile's claim.
    pub fn page_rule(&self, keys: usize) -> PageRule {
        match (self.wasi_paging, self.wasi_page_keys) {
            (Some(WasiPaging::SinglePage), _) => PageRule::Whole,
            (Some(WasiPaging::Pages), Some(n)) if keys as u64 > n => PageRule::Paged(n),
            _ => PageRule::Either,
        }
    }

    /// Checks that the claims fit together; the message says what to change.
    pub fn check(&self) -> Result<(), String> {
        if self.interfaces.is_empty() {
            return Err("it claims no interface version: list at least one in `interfaces`".into());
        }
        match (self.wasi_paging, self.wasi_page_keys) {
            (Some(WasiPaging::Pages), None | Some(0)) => Err(
                "`wasi-paging = \"pages\"` needs `wasi-page-keys`, the most keys one page holds (at least 1)".into(),
            ),
            (Some(WasiPaging::SinglePage) | None, Some(_)) => Err(
                "`wasi-page-keys` goes with `wasi-paging = \"pages\"`; a single-page host has no page size".into(),
            ),
            _ => Ok(()),
        }
    }

    /// One line describing the profile's claims, for reports.
    pub fn summary(&self) -> String {
        let limit = |l: Option<u64>| l.map_or("none".to_string(), |n| n.to_string());
        format!(
            "{}: key bytes {}, value bytes {}, tuples {}, open stores {}, undefined label {}, v1 invalid handle {}{}{}{}{}",
            self.name,
            limit(self.limits.key_bytes),
            limit(self.limits.value_bytes),
            limit(self.limits.tuples),
            limit(self.open_stores),
            match self.unconfigured_label {
                UnconfiguredLabel::RefuseLoad => "refused at load",
                UnconfiguredLabel::NoSuchStore => "no-such-store at open",
            },
            match self.v1_invalid_handle {
                InvalidHandle::Error => "invalid-store",
                InvalidHandle::Trap => "traps",
            },
            if self.empty_key {
                ", empty key accepted"
            } else {
                ""
            },
            if self.v1_fresh_handles {
                ", v1 handle numbers never reused"
            } else {
                ""
            },
            if self.durable {
                ", durable across restarts"
            } else {
                ""
            },
            match (self.wasi_paging, self.wasi_page_keys) {
                (Some(WasiPaging::SinglePage), _) => ", wasi list-keys in one page".to_string(),
                (Some(WasiPaging::Pages), Some(n)) => format!(", wasi list-keys in pages of {n}"),
                _ => String::new(),
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(limits: Limits) -> Profile {
        Profile {
            name: "t".into(),
            interfaces: vec![Interface::V2],
            limits,
            open_stores: None,
            unconfigured_label: UnconfiguredLabel::RefuseLoad,
            v1_invalid_handle: InvalidHandle::Error,
            empty_key: false,
            v1_fresh_handles: false,
            durable: false,
            wasi_paging: None,
            wasi_page_keys: None,
        }
    }

    #[test]
    fn a_lower_declared_key_limit_lowers_the_guaranteed_minimum() {
        let p = profile(Limits {
            key_bytes: Some(255),
            ..Limits::default()
        });
        assert_eq!(p.key_min(), 255);
        let p = profile(Limits {
            key_bytes: Some(10_000),
            ..Limits::default()
        });
        assert_eq!(p.key_min(), SPEC_KEY_BYTES);
    }

    #[test]
    fn capabilities_say_each_claim_one_way() {
        let caps = profile(Limits::default()).capabilities();
        assert!(caps.contains(&Capability::NoKeyLimit));
        assert!(!caps.contains(&Capability::KeyLimit));
        assert!(caps.contains(&Capability::UnconfiguredRefusesLoad));
        assert!(caps.contains(&Capability::NotDurable));
        assert!(!caps.contains(&Capability::Durable));
        assert_eq!(caps.len(), 6);
    }
}
