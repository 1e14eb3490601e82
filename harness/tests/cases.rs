//! The case data, checked without any host: every case agrees with the model, every statement that must
//! hold has cases, and every case can run under some profile of the reference host.

use kvconf::case::{self, Case, LoadExpectation};
use kvconf::catalogue::{Catalogue, Strength};
use kvconf::host::HostUnderTest;
use kvconf::interface::Interface;
use kvconf::model;
use kvconf::profile::{InvalidHandle, Limits, Profile, UnconfiguredLabel, WasiPaging};
use kvconf::reference::{Backend, ReferenceHost};
use std::path::Path;

fn cases() -> Vec<Case> {
    case::load_dir(&case::default_dir(), Catalogue::builtin()).unwrap_or_else(|errors| {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        panic!("invalid case files:\n{}", list.join("\n"))
    })
}

/// The profiles the agreement check runs under: the reference host's two, and two more that take the other
/// branch of every claim (a lower key limit than SIP 010's, undefined labels failing at open, durable stores,
/// wasi listings in one page).
fn profiles() -> Vec<Profile> {
    vec![
        ReferenceHost::sip010_profile(),
        ReferenceHost::unbounded_profile(),
        Profile {
            name: "low-limits".into(),
            interfaces: Interface::ALL.to_vec(),
            limits: Limits {
                key_bytes: Some(255),
                value_bytes: Some(100_000),
                tuples: Some(300),
            },
            open_stores: Some(3),
            unconfigured_label: UnconfiguredLabel::NoSuchStore,
            v1_invalid_handle: InvalidHandle::Trap,
            empty_key: false,
            v1_fresh_handles: false,
            durable: false,
            wasi_paging: None,
            wasi_page_keys: None,
        },
        Profile {
            name: "generous".into(),
            interfaces: Interface::ALL.to_vec(),
            limits: Limits {
                key_bytes: Some(10_000),
                value_bytes: Some(4 * 1_048_576),
                tuples: Some(5000),
            },
            open_stores: None,
            unconfigured_label: UnconfiguredLabel::NoSuchStore,
            v1_invalid_handle: InvalidHandle::Trap,
            empty_key: false,
            v1_fresh_handles: false,
            durable: true,
            wasi_paging: Some(WasiPaging::SinglePage),
            wasi_page_keys: None,
        },
    ]
}

#[test]
fn every_case_agrees_with_the_model_under_every_profile_it_runs_on() {
    let catalogue = Catalogue::builtin();
    let mut checked = 0;
    let mut disagreements = Vec::new();
    for case in cases() {
        for profile in profiles() {
            if case.unmet(&profile).is_some() {
                continue;
            }
            for interface in case.interfaces(catalogue) {
                if !Interface::RUNNABLE.contains(&interface) {
                    continue;
                }
                let plan = case
                    .plan(interface, &profile)
                    .unwrap_or_else(|e| panic!("{e}"));
                checked += 1;
                let place = format!("{} on {interface} under {}", case.id(), profile.name);
                match (model::predict(&profile, &plan), plan.load) {
                    (Err(_), LoadExpectation::Refused) => {}
                    (Err(r), LoadExpectation::Loads) => disagreements.push(format!(
                        "{place}: the model refuses the load (label {:?})",
                        r.label
                    )),
                    (Ok(_), LoadExpectation::Refused) => {
                        disagreements.push(format!("{place}: the model loads the application"))
                    }
                    (Ok(predicted), LoadExpectation::Loads) => {
                        for (n, (step, want)) in plan.steps.iter().zip(&predicted).enumerate() {
                            for (m, (case_says, model_says)) in
                                step.expected.iter().zip(want).enumerate()
                            {
                                if case_says != model_says {
                                    disagreements.push(format!(
                                        "{place}, step {} op {} ({}): the case expects {case_says}, the model {model_says}",
                                        n + 1,
                                        m + 1,
                                        step.ops[m]
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} case plans were checked");
    assert!(
        disagreements.is_empty(),
        "case data and model disagree:\n{}",
        disagreements.join("\n")
    );
}

#[test]
fn every_must_statement_of_a_runnable_interface_has_a_case() {
    let catalogue = Catalogue::builtin();
    let cases = cases();
    let mut uncovered = Vec::new();
    for interface in Interface::RUNNABLE {
        for st in catalogue.statements() {
            if st.strength != Strength::Must || !st.interfaces.contains(&interface) {
                continue;
            }
            // Concurrency statements are checked by generated histories, not by scripted cases.
            if st.id.starts_with("CONCURRENT-") {
                continue;
            }
            let covered = cases.iter().any(|c| {
                c.file.statements.contains(&st.id) && c.interfaces(catalogue).contains(&interface)
            });
            if !covered {
                uncovered.push(format!("{} ({interface})", st.id));
            }
        }
    }
    assert!(
        uncovered.is_empty(),
        "MUST statements with no case: {}",
        uncovered.join(", ")
    );
}

#[test]
fn the_reference_hosts_allowed_choices_are_each_checked_by_a_case_it_runs() {
    let catalogue = Catalogue::builtin();
    let cases = cases();
    let profile = ReferenceHost::sip010_profile();
    for id in ["OPEN-UNCONFIGURED", "OPEN-TABLE-FULL", "LIMIT-BEYOND"] {
        assert_eq!(catalogue.get(id).unwrap().strength, Strength::Allowed);
        let runs = cases
            .iter()
            .filter(|c| c.file.statements.iter().any(|s| s == id) && c.unmet(&profile).is_none())
            .count();
        assert!(
            runs > 0,
            "no case checks {id} under the reference host's default profile"
        );
    }
}

#[test]
fn every_case_runs_under_some_reference_profile() {
    // As the reference host runs: each named profile on each backend (SQLite's stores are durable, memory's not).
    let reference: Vec<Profile> = [
        ReferenceHost::sip010_profile(),
        ReferenceHost::unbounded_profile(),
    ]
    .into_iter()
    .flat_map(|p| {
        [Backend::Memory, Backend::Sqlite]
            .map(|b| ReferenceHost::new(b, p.clone()).profile().clone())
    })
    .collect();
    for case in cases() {
        assert!(
            reference.iter().any(|p| case.unmet(p).is_none()),
            "{} runs under neither reference profile: nothing in this repository exercises it",
            case.id()
        );
    }
}

#[test]
fn there_are_at_least_sixty_v2_cases() {
    let catalogue = Catalogue::builtin();
    let n = cases()
        .iter()
        .filter(|c| c.interfaces(catalogue).contains(&Interface::V2))
        .count();
    assert!(n >= 60, "{n} v2 cases");
}

fn parse(text: &str) -> Result<Case, String> {
    Case::parse(Path::new("test.toml"), text, Catalogue::builtin()).map_err(|e| e.to_string())
}

#[test]
fn a_case_citing_an_unknown_statement_is_refused() {
    let err = parse(
        r#"id = "x"
title = "t"
statements = ["NO-SUCH-THING"]
[[step]]
ops = [{ op = "open", label = "default", expect = "ok" }]
"#,
    )
    .unwrap_err();
    assert!(err.contains("unknown statement \"NO-SUCH-THING\""), "{err}");
}

#[test]
fn a_case_with_a_misspelt_field_is_refused_with_the_field_named() {
    let err = parse(
        r#"id = "x"
title = "t"
statements = ["OPEN-DEFAULT"]
[[step]]
ops = [{ op = "open", lable = "default", expect = "ok" }]
"#,
    )
    .unwrap_err();
    assert!(err.contains("lable"), "{err}");
}

#[test]
fn an_expectation_that_does_not_fit_the_operation_is_refused() {
    let err = parse(
        r#"id = "x"
title = "t"
statements = ["OPEN-DEFAULT"]
[[step]]
ops = [{ op = "open", label = "default", expect = { exists = true } }]
"#,
    )
    .unwrap_err();
    assert!(err.contains("cannot have that expectation"), "{err}");
}
