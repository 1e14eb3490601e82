//! The suite checked against its own WIT: every statement's WIT items exist, and every function and error case
//! of every version is named by a statement and exercised by a case, or is a named exception with its reason.

use kvconf::case;
use kvconf::catalogue::Catalogue;
use kvconf::coverage::{Coverage, ItemKind};
use kvconf::interface::Interface;

fn coverage() -> Coverage {
    let catalogue = Catalogue::builtin();
    let cases = case::load_dir(&case::default_dir(), catalogue).expect("the cases load");
    Coverage::compute(catalogue, &cases).unwrap_or_else(|errors| {
        panic!(
            "items that the WIT does not have, named by statements or mapped from cases:\n{}",
            errors.join("\n")
        )
    })
}

#[test]
fn every_function_and_error_case_is_covered_or_a_named_exception() {
    let coverage = coverage();
    let problems = coverage.problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_items_are_every_versions_functions_and_error_cases() {
    let coverage = coverage();
    let count = |version: Interface, kind: ItemKind| {
        coverage
            .items
            .iter()
            .filter(|i| i.version == version && i.kind == kind)
            .count()
    };
    // v1: open, get, set, delete, exists, get-keys, close; six error cases.
    assert_eq!(count(Interface::V1, ItemKind::Function), 7);
    assert_eq!(count(Interface::V1, ItemKind::ErrorCase), 6);
    for version in [Interface::V2, Interface::V3] {
        assert_eq!(count(version, ItemKind::Function), 6, "{version}");
        assert_eq!(count(version, ItemKind::ErrorCase), 4, "{version}");
    }
    // draft2: store (6), atomics (cas.new, cas.current, increment, swap), batch (3); error (3) and cas-error (2).
    assert_eq!(count(Interface::WasiKeyvalue, ItemKind::Function), 13);
    assert_eq!(count(Interface::WasiKeyvalue, ItemKind::ErrorCase), 5);
    assert_eq!(count(Interface::WasiKeyvalueDraft, ItemKind::Function), 10);
    assert_eq!(count(Interface::WasiKeyvalueDraft, ItemKind::ErrorCase), 3);
    // A sample read the way the table reads it.
    let denied = coverage
        .items
        .iter()
        .find(|i| i.version == Interface::V2 && i.item == "key-value#error.access-denied")
        .unwrap();
    assert_eq!(denied.statements, ["OPEN-GRANT"]);
    // The OPEN-GRANT cases, and one of OPEN-TABLE-FULL whose denied opens must take no room.
    let others: Vec<&String> = denied
        .cases
        .iter()
        .filter(|c| !c.starts_with("open-grant/"))
        .collect();
    assert_eq!(others, ["open-table-full/denied-opens-take-no-room"]);
    assert!(denied.cases.contains("open-grant/no-grants-denies-default"));
}
