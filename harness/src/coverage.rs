//! The suite checked against the WIT: for every function and every error case of every version, the statements
//! that speak of it and the cases that exercise it.
//!
//! The items are read from kvconf's canonical WIT ([`Canonical`]): every function of the interfaces a host
//! provides (v1, v2 and v3: `key-value`; the wasi editions: the interfaces their `imports` world imports, so not
//! the guest-exported `watcher`), named as the catalogue names them (`key-value#store.get`,
//! `store#bucket.list-keys`), and every case of their error variants (a variant named `error` or `<x>-error`:
//! `key-value#error.access-denied`, `atomics#cas-error.cas-failed`).
//!
//! A statement names the items it speaks of in its `wit` field; an item it names that the WIT does not have is
//! an error ([`Coverage::compute`]). A case exercises a function on a version when it runs on that version under
//! one of the reference host's built-in profiles (`sip010`, `unbounded`: what `kvconf run` runs) and one of its
//! planned operations calls that function; it exercises an error case when the model predicts that error for
//! one of its operations. An item that no statement names or no case exercises is a gap, unless
//! `catalogue/coverage-exceptions.toml` names it with a reason; an exception for an item that is covered, or
//! that does not exist, is stale, and an error too. The crate's tests fail on either ([`Coverage::problems`]).

use crate::case::Case;
use crate::catalogue::Catalogue;
use crate::check::canonical::Canonical;
use crate::check::compare::{case_names, item_name};
use crate::interface::{Interface, WitShape};
use crate::outcome::{ErrorKind, Expected, Operation};
use crate::profile::Profile;
use crate::reference::ReferenceHost;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use wit_parser::{TypeDefKind, TypeOwner, WorldItem};

const EXCEPTIONS_TOML: &str = include_str!("../catalogue/coverage-exceptions.toml");

/// What kind of WIT item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ItemKind {
    /// A function (freestanding, or a resource's method, static function or constructor).
    Function,
    /// A case of an error variant.
    ErrorCase,
}

/// One function or error case of one version, and what covers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The version.
    pub version: Interface,
    /// The item as the catalogue names it (`key-value#store.get`).
    pub item: String,
    /// Function or error case.
    pub kind: ItemKind,
    /// The statements naming it, in catalogue order.
    pub statements: Vec<String>,
    /// The IDs of the cases exercising it.
    pub cases: BTreeSet<String>,
    /// Why it is left uncovered, if it is a named exception.
    pub exception: Option<String>,
}

impl Item {
    /// Whether a statement names it and a case exercises it.
    pub fn covered(&self) -> bool {
        !self.statements.is_empty() && !self.cases.is_empty()
    }
}

/// Every function and error case of every version, with its statements and cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// The items, by version and then in WIT order.
    pub items: Vec<Item>,
    /// Exceptions that name an item the WIT does not have.
    unknown_exceptions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionsFile {
    #[serde(default)]
    exception: Vec<Exception>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exception {
    version: Interface,
    item: String,
    reason: String,
}

impl Coverage {
    /// The coverage of the WIT by `catalogue` and `cases`.
    ///
    /// # Errors
    ///
    /// Every item a statement names that the canonical WIT of that version does not have, one line each; and,
    /// once those are right, every item a case's operation or predicted error is mapped to that the version
    /// does not have (a mistake in this module's mapping or in the model).
    pub fn compute(catalogue: &Catalogue, cases: &[Case]) -> Result<Coverage, Vec<String>> {
        Coverage::compute_with(catalogue, cases, EXCEPTIONS_TOML)
    }

    /// [`Coverage::compute`] with the exceptions read from `exceptions` (the text of a
    /// `coverage-exceptions.toml`).
    fn compute_with(
        catalogue: &Catalogue,
        cases: &[Case],
        exceptions: &str,
    ) -> Result<Coverage, Vec<String>> {
        let mut items = wit_items();
        let known: BTreeSet<(Interface, &str)> =
            items.iter().map(|i| (i.version, i.item.as_str())).collect();
        let mut errors = Vec::new();
        for statement in catalogue.statements() {
            for (version, named) in &statement.wit {
                if !statement.interfaces.contains(version) {
                    errors.push(format!(
                        "{}: names WIT items of {version}, a version it does not apply to",
                        statement.id
                    ));
                }
                for item in named {
                    if !known.contains(&(*version, item.as_str())) {
                        errors.push(format!(
                            "{}: {version} has no function or error case {item:?} (write `<interface>#<function>` \
                             or `<interface>#<variant>.<case>`, as `kvconf list --coverage` lists them)",
                            statement.id
                        ));
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let exercised = exercised(catalogue, cases);
        // An operation or a predicted error mapped to an item the version does not have is kvconf's own
        // mistake (in `function`, `error_case` or the model), not a gap; it would otherwise count nowhere.
        for ((version, item), by) in &exercised {
            if !known.contains(&(*version, item.as_str())) {
                let first = by.iter().next().map_or("", String::as_str);
                errors.push(format!(
                    "{version} has no {item:?}, yet kvconf maps an operation or a predicted error of {} case(s) \
                     to it (first: {first}); fix coverage::function, coverage::error_case or the model",
                    by.len()
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for item in &mut items {
            item.statements = catalogue.naming(item.version, &item.item);
            if let Some(cases) = exercised.get(&(item.version, item.item.clone())) {
                item.cases = cases.clone();
            }
        }
        let file: ExceptionsFile = toml::from_str(exceptions)
            .map_err(|e| vec![format!("catalogue/coverage-exceptions.toml: {e}")])?;
        let mut unknown_exceptions = Vec::new();
        for exception in file.exception {
            match items
                .iter_mut()
                .find(|i| i.version == exception.version && i.item == exception.item)
            {
                Some(item) => item.exception = Some(exception.reason),
                None => {
                    unknown_exceptions.push(format!("{} {}", exception.version, exception.item))
                }
            }
        }
        Ok(Coverage {
            items,
            unknown_exceptions,
        })
    }

    /// The items no statement names or no case exercises, and that are not named exceptions.
    pub fn gaps(&self) -> Vec<&Item> {
        self.items
            .iter()
            .filter(|i| !i.covered() && i.exception.is_none())
            .collect()
    }

    /// What makes the coverage wrong, one line each: every gap, and every stale exception (for an item that is
    /// covered after all, or that the WIT does not have).
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .gaps()
            .into_iter()
            .map(|i| {
                let missing = if i.statements.is_empty() {
                    "no statement names it"
                } else {
                    "no case exercises it"
                };
                format!(
                    "{} {}: {missing}; cite it in a statement's `wit` and write a case, or name it in \
                     catalogue/coverage-exceptions.toml with the reason",
                    i.version, i.item
                )
            })
            .collect();
        for item in self
            .items
            .iter()
            .filter(|i| i.covered() && i.exception.is_some())
        {
            problems.push(format!(
                "{} {}: a stale exception: it is covered ({} statement(s), {} case(s)); remove it from \
                 catalogue/coverage-exceptions.toml",
                item.version,
                item.item,
                item.statements.len(),
                item.cases.len()
            ));
        }
        for unknown in &self.unknown_exceptions {
            problems.push(format!(
                "{unknown}: an exception for an item the WIT does not have; remove it from \
                 catalogue/coverage-exceptions.toml"
            ));
        }
        problems
    }

    /// A plain-text table: version, item, cases, and the statements (or the exception's reason), one row per
    /// item; a summary line last.
    pub fn render_table(&self) -> String {
        let width = self.items.iter().map(|i| i.item.len()).max().unwrap_or(4);
        let mut out = format!(
            "{:<20} {:<width$} {:>5}  statements\n",
            "version", "item", "cases"
        );
        for i in &self.items {
            let _ = writeln!(
                out,
                "{:<20} {:<width$} {:>5}  {}",
                i.version.name(),
                i.item,
                i.cases.len(),
                covered_by(i)
            );
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }

    /// The same table in Markdown, for the report's "WIT coverage" section (without a heading).
    pub fn markdown(&self) -> String {
        let mut out =
            String::from("| version | item | cases | statements |\n| --- | --- | ---: | --- |\n");
        for i in &self.items {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                i.version.name(),
                i.item,
                i.cases.len(),
                covered_by(i).replace('|', "\\|")
            );
        }
        let _ = writeln!(out, "\n{}", self.summary());
        out
    }

    /// `N functions and M error cases in 5 versions: C covered, E named exceptions, G gaps`.
    pub fn summary(&self) -> String {
        let count = |kind| self.items.iter().filter(|i| i.kind == kind).count();
        let covered = self.items.iter().filter(|i| i.covered()).count();
        let exceptions = self
            .items
            .iter()
            .filter(|i| !i.covered() && i.exception.is_some())
            .count();
        format!(
            "{} functions and {} error cases in {} versions: {covered} covered by a statement and a case, \
             {exceptions} named exception(s), {} gap(s)",
            count(ItemKind::Function),
            count(ItemKind::ErrorCase),
            Interface::ALL.len(),
            self.gaps().len()
        )
    }
}

/// The statements column: the IDs, or the exception, or what is missing.
fn covered_by(item: &Item) -> String {
    match (&item.exception, item.covered()) {
        (Some(reason), false) => format!("exception: {reason}"),
        _ if item.statements.is_empty() => "(no statement)".to_owned(),
        _ => item.statements.join(", "),
    }
}

/// Every function and error case of every version's canonical WIT, uncovered.
fn wit_items() -> Vec<Item> {
    let canonical = Canonical::get();
    let resolve = &canonical.resolve;
    let mut items = Vec::new();
    for version in Interface::ALL {
        let package = &resolve.packages[canonical.package(version)];
        // The interfaces a host provides: those the package's `imports` world imports, or all of them.
        let provided: Option<BTreeSet<_>> = package.worlds.get("imports").map(|world| {
            resolve.worlds[*world]
                .imports
                .values()
                .filter_map(|item| match item {
                    WorldItem::Interface { id, .. } => Some(*id),
                    _ => None,
                })
                .collect()
        });
        for (name, id) in canonical.interfaces(version) {
            if provided.as_ref().is_some_and(|p| !p.contains(&id)) {
                continue;
            }
            let iface = &resolve.interfaces[id];
            let new = |item: String, kind| Item {
                version,
                item: format!("{name}#{item}"),
                kind,
                statements: Vec::new(),
                cases: BTreeSet::new(),
                exception: None,
            };
            items.extend(
                iface
                    .functions
                    .values()
                    .map(|f| new(item_name(f), ItemKind::Function)),
            );
            for (type_name, ty) in &iface.types {
                let def = &resolve.types[*ty];
                let own = def.owner == TypeOwner::Interface(id);
                let is_error = type_name == "error" || type_name.ends_with("-error");
                if own && is_error && matches!(def.kind, TypeDefKind::Variant(_)) {
                    items.extend(
                        case_names(&def.kind)
                            .into_iter()
                            .map(|case| new(format!("{type_name}.{case}"), ItemKind::ErrorCase)),
                    );
                }
            }
        }
    }
    items
}

/// For each (version, item), the cases exercising it under the reference host's built-in profiles.
fn exercised(
    catalogue: &Catalogue,
    cases: &[Case],
) -> BTreeMap<(Interface, String), BTreeSet<String>> {
    let profiles: Vec<Profile> = ["sip010", "unbounded"]
        .into_iter()
        .filter_map(ReferenceHost::profile_named)
        .collect();
    let mut exercised: BTreeMap<(Interface, String), BTreeSet<String>> = BTreeMap::new();
    for case in cases {
        for version in case.interfaces(catalogue) {
            for profile in &profiles {
                if !profile.interfaces.contains(&version) || case.unmet(profile).is_some() {
                    continue;
                }
                let Ok(plan) = case.plan(version, profile) else {
                    continue;
                };
                let predicted = crate::model::predict(profile, &plan).unwrap_or_default();
                for (n, step) in plan.steps.iter().enumerate() {
                    for (m, op) in step.ops.iter().enumerate() {
                        let mut hit = |item: Option<String>| {
                            if let Some(item) = item {
                                exercised
                                    .entry((step.interface, item))
                                    .or_default()
                                    .insert(case.id().to_owned());
                            }
                        };
                        hit(function(step.interface, op));
                        if let Some(Expected::Error(kind)) = predicted.get(n).and_then(|s| s.get(m))
                        {
                            hit(error_case(step.interface, op, *kind));
                        }
                    }
                }
            }
        }
    }
    exercised
}

/// The WIT function `op` calls in `version`, as the drivers call it (guest-fixtures/driver-*), if it calls one:
/// closing a v2, v3 or wasi handle drops the resource, and a forged handle or a concurrent group calls nothing.
fn function(version: Interface, op: &Operation) -> Option<String> {
    use Operation as O;
    let plain = match op {
        O::Open { .. } => "open",
        O::Get { .. } => "get",
        O::Set { .. } => "set",
        O::Delete { .. } => "delete",
        O::Exists { .. } => "exists",
        O::GetKeys { .. } | O::GetKeysPartial { .. } | O::ListKeys { .. } => "get-keys",
        O::Close { .. } => "close",
        O::Increment { .. } => return Some("atomics#increment".into()),
        O::CasNew { .. } => return Some("atomics#cas.new".into()),
        O::CasCurrent { .. } => return Some("atomics#cas.current".into()),
        O::CasSwap { .. } => return Some("atomics#swap".into()),
        O::GetMany { .. } => return Some("batch#get-many".into()),
        O::SetMany { .. } => return Some("batch#set-many".into()),
        O::DeleteMany { .. } => return Some("batch#delete-many".into()),
        O::ForgeHandle { .. } | O::Concurrently { .. } => return None,
    };
    match version.spec().shape {
        WitShape::SpinHandles => Some(format!("key-value#{plain}")),
        WitShape::SpinStore => (plain != "close").then(|| format!("key-value#store.{plain}")),
        WitShape::Wasi => match plain {
            "open" => Some("store#open".into()),
            "close" => None,
            "get-keys" => Some("store#bucket.list-keys".into()),
            other => Some(format!("store#bucket.{other}")),
        },
    }
}

/// The WIT error case that `kind`, answered to `op`, is in `version`: `other` is v1's `io`; a failed swap is
/// wasi's `cas-error.cas-failed`, and any other error of `swap` its `cas-error.store-error`.
fn error_case(version: Interface, op: &Operation, kind: ErrorKind) -> Option<String> {
    match version.spec().shape {
        WitShape::SpinHandles if kind == ErrorKind::Other => Some("key-value#error.io".into()),
        WitShape::SpinHandles | WitShape::SpinStore => {
            Some(format!("key-value#error.{}", kind.name()))
        }
        _ if kind == ErrorKind::CasFailed => Some("atomics#cas-error.cas-failed".into()),
        _ if matches!(op, Operation::CasSwap { .. }) => {
            Some("atomics#cas-error.store-error".into())
        }
        _ => Some(format!("store#error.{}", kind.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_has_its_functions_and_error_cases() {
        let items = wit_items();
        let of = |v: Interface| -> Vec<&str> {
            items
                .iter()
                .filter(|i| i.version == v)
                .map(|i| i.item.as_str())
                .collect()
        };
        assert!(of(Interface::V1).contains(&"key-value#close"));
        assert!(of(Interface::V1).contains(&"key-value#error.io"));
        assert!(of(Interface::V3).contains(&"key-value#store.get-keys"));
        assert!(of(Interface::WasiKeyvalue).contains(&"atomics#cas-error.cas-failed"));
        assert!(of(Interface::WasiKeyvalue).contains(&"store#bucket.list-keys"));
        // The guest-exported watcher is not something a host provides.
        assert!(
            !of(Interface::WasiKeyvalueDraft)
                .iter()
                .any(|i| i.starts_with("watcher#"))
        );
        // `use store.{error}` in atomics is the store's variant, not a second one.
        assert!(!of(Interface::WasiKeyvalue).contains(&"atomics#error.other"));
    }

    #[test]
    fn a_statement_naming_an_item_the_wit_does_not_have_is_refused() {
        let mut catalogue = Catalogue::builtin().clone();
        let statement = catalogue.statements_mut().first_mut().unwrap();
        statement
            .wit
            .entry(Interface::V2)
            .or_default()
            .push("key-value#store.frobnicate".into());
        let errors = Coverage::compute(&catalogue, &[]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("v2 has no function or error case \"key-value#store.frobnicate\"")
        );
    }

    fn cases() -> Vec<Case> {
        crate::case::load_dir(&crate::case::default_dir(), Catalogue::builtin()).unwrap()
    }

    fn exception(version: &str, item: &str) -> String {
        format!(
            "[[exception]]\nversion = {version:?}\nitem = {item:?}\nreason = \"left out for the test\"\n"
        )
    }

    /// The catalogue with `item` taken out of every statement's `wit`, so that no statement names it.
    fn without(version: Interface, item: &str) -> Catalogue {
        let mut catalogue = Catalogue::builtin().clone();
        for statement in catalogue.statements_mut() {
            if let Some(named) = statement.wit.get_mut(&version) {
                named.retain(|i| i != item);
            }
        }
        catalogue
    }

    #[test]
    fn an_item_no_statement_names_is_a_gap_unless_it_is_an_exception() {
        let item = "atomics#cas-error.store-error";
        let catalogue = without(Interface::WasiKeyvalue, item);
        let cases = cases();

        let gap = Coverage::compute_with(&catalogue, &cases, "").unwrap();
        let problems = gap.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(&format!("wasi-keyvalue {item}: no statement names it")),
            "{problems:?}"
        );
        assert!(gap.render_table().contains("(no statement)"));

        let excepted =
            Coverage::compute_with(&catalogue, &cases, &exception("wasi-keyvalue", item)).unwrap();
        assert_eq!(excepted.problems(), Vec::<String>::new());
        assert!(excepted.gaps().is_empty());
        assert!(
            excepted
                .render_table()
                .contains("exception: left out for the test")
        );
        assert!(
            excepted
                .summary()
                .ends_with("1 named exception(s), 0 gap(s)")
        );
    }

    #[test]
    fn an_exception_for_a_covered_or_missing_item_is_stale() {
        let cases = cases();
        let stale = exception("v2", "key-value#store.get")
            + &exception("v2", "key-value#store.frobnicate")
            // v1's `close` exists in v1 only.
            + &exception("v3", "key-value#close");
        let coverage = Coverage::compute_with(Catalogue::builtin(), &cases, &stale).unwrap();
        let problems = coverage.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("v2 key-value#store.get: a stale exception: it is covered")
        );
        assert!(problems[1].starts_with(
            "v2 key-value#store.frobnicate: an exception for an item the WIT does not have"
        ));
        assert!(
            problems[2]
                .starts_with("v3 key-value#close: an exception for an item the WIT does not have")
        );
    }
}
