//! The statement catalogue: what the suite checks, each statement with an ID that cases cite.
//!
//! The catalogue is data (`catalogue/statements.toml`), compiled into the binary so that a report can always
//! name and explain every statement.

use crate::interface::Interface;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How binding a statement is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strength {
    /// A conforming host must behave so; a failure is a nonconformance.
    Must,
    /// Several outcomes conform; the host's profile declares which one it gives.
    Allowed,
    /// What Spin does where no document decides; informative.
    Observed,
}

impl fmt::Display for Strength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strength::Must => "MUST",
            Strength::Allowed => "ALLOWED",
            Strength::Observed => "OBSERVED",
        })
    }
}

/// One statement of the catalogue.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// The stable ID cases cite, such as `SET-GET-EXACT`.
    pub id: String,
    /// How binding it is.
    pub strength: Strength,
    /// The interface versions it applies to.
    pub interfaces: Vec<Interface>,
    /// The statement itself.
    pub text: String,
    /// How the statement reads for `wasi:keyvalue@0.2.0-draft`, and why it applies to that edition or not: the
    /// sources say nothing of that edition, so the decision is kvconf's, and written down here.
    #[serde(
        default,
        rename = "draft-note",
        skip_serializing_if = "Option::is_none"
    )]
    pub draft_note: Option<String>,
    /// The WIT items the statement speaks of, per version: `<interface>#<item>` where the item is a function
    /// (`open`, `store.get` for a resource's method or static function) or a case of a variant or enum
    /// (`error.access-denied`), as in `key-value#store.get` or `atomics#cas-error.cas-failed`. Resolved against
    /// the canonical WIT by a test; the coverage view (`kvconf list --coverage`) and `kvconf check` read them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub wit: BTreeMap<Interface, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    statement: Vec<Statement>,
}

/// Every statement kvconf knows.
#[derive(Clone, Debug)]
pub struct Catalogue {
    statements: Vec<Statement>,
}

const CATALOGUE_TOML: &str = include_str!("../catalogue/statements.toml");

impl Catalogue {
    /// The catalogue compiled into this build.
    pub fn builtin() -> &'static Catalogue {
        static CATALOGUE: std::sync::OnceLock<Catalogue> = std::sync::OnceLock::new();
        CATALOGUE.get_or_init(|| {
            let file: CatalogueFile = toml::from_str(CATALOGUE_TOML)
                .expect("catalogue/statements.toml is checked by the catalogue's own tests");
            Catalogue {
                statements: file.statement,
            }
        })
    }

    /// Every statement, in catalogue order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The statements, to change in a test.
    #[cfg(test)]
    pub(crate) fn statements_mut(&mut self) -> &mut Vec<Statement> {
        &mut self.statements
    }

    /// The IDs of the statements that name the WIT item `item` (`key-value#store.get`) of `interface`.
    pub fn naming(&self, interface: Interface, item: &str) -> Vec<String> {
        self.statements
            .iter()
            .filter(|s| {
                s.wit
                    .get(&interface)
                    .is_some_and(|items| items.iter().any(|i| i == item))
            })
            .map(|s| s.id.clone())
            .collect()
    }

    /// The statement with this ID, if there is one.
    pub fn get(&self, id: &str) -> Option<&Statement> {
        self.statements.iter().find(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalogue_parses_and_ids_are_unique() {
        let catalogue = Catalogue::builtin();
        assert!(catalogue.statements().len() >= 30);
        let mut seen = HashSet::new();
        for s in catalogue.statements() {
            assert!(seen.insert(&s.id), "statement {} is listed twice", s.id);
            assert!(!s.interfaces.is_empty(), "{} applies to no interface", s.id);
            assert!(!s.text.trim().is_empty(), "{} has no text", s.id);
        }
    }

    #[test]
    fn every_statement_of_draft2_says_how_it_reads_for_the_draft_edition() {
        for s in Catalogue::builtin().statements() {
            let draft2 = s.interfaces.contains(&Interface::WasiKeyvalue);
            let draft = s.interfaces.contains(&Interface::WasiKeyvalueDraft);
            let note = s.draft_note.as_deref().map(str::trim).unwrap_or_default();
            if draft2 {
                assert!(
                    !note.is_empty(),
                    "{} applies to wasi-keyvalue; its draft-note must say whether and how it applies to wasi-keyvalue-draft",
                    s.id
                );
                let applies = note.starts_with("Applies");
                assert_eq!(
                    applies, draft,
                    "{}: its draft-note and its interfaces disagree about wasi-keyvalue-draft",
                    s.id
                );
            }
            assert!(
                !draft || draft2,
                "{} applies to the draft edition but not to draft2",
                s.id
            );
        }
        let cas = Catalogue::builtin().get("ATOMIC-CAS").unwrap();
        assert!(!cas.interfaces.contains(&Interface::WasiKeyvalueDraft));
    }

    #[test]
    fn v1_only_statements_do_not_apply_to_v2() {
        let c = Catalogue::builtin();
        assert!(
            !c.get("HANDLE-V1-CLOSE")
                .unwrap()
                .interfaces
                .contains(&Interface::V2)
        );
        assert!(
            c.get("HANDLE-DROP")
                .unwrap()
                .interfaces
                .contains(&Interface::V2)
        );
    }
}
