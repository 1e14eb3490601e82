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
//!
//! The module by job: `format` is the file as serde reads and writes it, with the checks of an entry's fields;
//! `plan` expands a case for one interface version and profile into operations and the outcome each must have;
//! this file reads and checks cases ([`Case::parse`], [`load_dir`]) and plans them ([`Case::plan`]).

use crate::catalogue::Catalogue;
use crate::interface::Interface;
use crate::outcome::{ErrorKind, Expected, ExpectedValue, Operation};
use crate::profile::{Capability, InvalidHandle, Profile};
use crate::value::{ExpandError, KeySpec, Size, ValueSpec, fill_template};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod format;
mod plan;

pub use format::*;
pub use plan::*;

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
