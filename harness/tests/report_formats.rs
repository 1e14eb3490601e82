//! The JUnit XML and Markdown reports of a fixed, hand-made run: the JUnit report parsed back by a real XML
//! parser, the Markdown matrix kept as a snapshot.

use kvconf::interface::Interface;
use kvconf::profile::{InvalidHandle, Limits, Profile, UnconfiguredLabel};
use kvconf::report::{Meta, Report, WIT_SHA256};
use kvconf::runner::{CaseResult, Verdict};

/// A failure detail as a misbehaving host might make it: markup, quotes, terminal escapes, NUL, a bell, a
/// carriage return, a noncharacter.
const HOSTILE_DETAIL: &str = "  step 1 op 2: get \"k<&>'\" | *x* `t` ]]>\n    expected: ok(none)\n    actual:   \
     value \"\u{0}\u{1b}[31mred\u{7}\"\r\n  | *bold* `tick` [link](x) \u{fffe} end\n";
const HOSTILE_REASON: &str = "the profile claims no <limit> & \"won't\" say\u{1}";

fn result(
    interface: Interface,
    backend: &str,
    id: &str,
    statements: &[&str],
    verdict: Verdict,
) -> CaseResult {
    CaseResult {
        id: id.to_string(),
        title: format!("the case {id}"),
        interface,
        backend: backend.to_string(),
        statements: statements.iter().map(|s| s.to_string()).collect(),
        verdict,
        transcript: String::new(),
        millis: 1234,
        first_difference: None,
    }
}

fn report() -> Report {
    let profile = Profile {
        name: "fixed".into(),
        interfaces: vec![Interface::V1, Interface::V2],
        limits: Limits {
            key_bytes: Some(256),
            value_bytes: None,
            tuples: Some(1024),
        },
        open_stores: Some(64),
        unconfigured_label: UnconfiguredLabel::RefuseLoad,
        v1_invalid_handle: InvalidHandle::Error,
        empty_key: false,
        v1_fresh_handles: false,
        durable: false,
        wasi_paging: None,
        wasi_page_keys: None,
    };
    let fail = || Verdict::Fail(HOSTILE_DETAIL.to_string());
    let skip = || Verdict::Skip(HOSTILE_REASON.to_string());
    let results = vec![
        result(
            Interface::V1,
            "memory",
            "open-default/a",
            &["OPEN-DEFAULT"],
            Verdict::Pass,
        ),
        result(
            Interface::V1,
            "memory",
            "open-default/b",
            &["OPEN-DEFAULT"],
            Verdict::Pass,
        ),
        result(
            Interface::V1,
            "memory",
            "handle-v1-close/x",
            &["HANDLE-V1-CLOSE"],
            fail(),
        ),
        result(
            Interface::V1,
            "memory",
            "limit-beyond/y",
            &["LIMIT-BEYOND"],
            skip(),
        ),
        result(
            Interface::V1,
            "memory",
            "limit-key/y",
            &["LIMIT-KEY", "LIMIT-BEYOND"],
            Verdict::Pass,
        ),
        result(
            Interface::V2,
            "memory",
            "open-default/a",
            &["OPEN-DEFAULT"],
            Verdict::Pass,
        ),
        result(
            Interface::V2,
            "memory",
            "get-missing/z",
            &["GET-MISSING", "KEYS-EXACT"],
            fail(),
        ),
        result(
            Interface::V2,
            "memory",
            "keys-exact/z",
            &["KEYS-EXACT"],
            Verdict::Pass,
        ),
        result(
            Interface::V2,
            "sqlite",
            "open-default/a",
            &["OPEN-DEFAULT"],
            Verdict::Pass,
        ),
        result(
            Interface::V2,
            "sqlite",
            "handle-drop/a",
            &["HANDLE-DROP"],
            Verdict::Pass,
        ),
        result(
            Interface::V2,
            "sqlite",
            "limit-beyond/y",
            &["LIMIT-BEYOND"],
            skip(),
        ),
    ];
    Report::new(
        "a <test> host & \"friends\"",
        &profile,
        &[Interface::V1, Interface::V2],
        results,
    )
}

fn meta() -> Meta {
    Meta {
        seed: 7,
        expectations_hash: Some("ab".repeat(32)),
        wit_hash: "0".repeat(64),
        version_hashes: Interface::ALL
            .into_iter()
            .map(|i| (i, format!("{:0>64}", i.name())))
            .collect(),
        coverage: None,
    }
}

/// The detail's first line as the report shows it where XML cannot carry NUL and the like.
const SHOWN_FIRST_LINE: &str = "step 1 op 2: get \"k<&>'\" | *x* `t` ]]>";
const SHOWN_REASON: &str = "the profile claims no <limit> & \"won't\" say\\u{1}";

#[test]
fn junit_parses_with_suites_counts_failures_and_skips() {
    let xml = report().junit(&meta());
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let attr = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap_or_default().to_string();
    assert_eq!(
        ["tests", "failures", "errors", "skipped"].map(|a| attr(root, a)),
        ["11", "2", "0", "2"]
    );
    assert_eq!(attr(root, "time"), "13.574");

    let suites: Vec<roxmltree::Node> = root.children().filter(|n| n.is_element()).collect();
    let names: Vec<String> = suites.iter().map(|s| attr(*s, "name")).collect();
    // Every version run on every backend run, the empty v1/sqlite too.
    assert_eq!(names, ["v1/memory", "v1/sqlite", "v2/memory", "v2/sqlite"]);
    let counts: Vec<[String; 4]> = suites
        .iter()
        .map(|s| ["tests", "failures", "errors", "skipped"].map(|a| attr(*s, a)))
        .collect();
    assert_eq!(
        counts,
        [
            ["5", "1", "0", "1"],
            ["0", "0", "0", "0"],
            ["3", "1", "0", "0"],
            ["3", "0", "0", "1"]
        ]
        .map(|c| c.map(String::from))
    );

    let v1 = suites[0];
    let properties: Vec<(String, String)> = v1
        .descendants()
        .filter(|n| n.has_tag_name("property"))
        .map(|p| (attr(p, "name"), attr(p, "value")))
        .collect();
    let property = |name: &str| {
        properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no property {name}"))
    };
    assert_eq!(property("kvconf-version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(property("host"), "a <test> host & \"friends\"");
    assert!(property("profile").starts_with("fixed: key bytes 256, value bytes none"));
    assert_eq!(property("seed"), "7");
    assert_eq!(property("wit-sha256"), "0".repeat(64));
    assert_eq!(property("expectations-sha256"), "ab".repeat(32));
    assert_eq!(property("interface"), "fermyon:spin/key-value");
    assert_eq!(property("interface-wit-sha256"), format!("{:0>64}", "v1"));
    assert_eq!(property("backend"), "memory");

    let cases: Vec<roxmltree::Node> = v1
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 5);
    for case in &cases {
        assert_eq!(attr(*case, "classname"), "v1/memory");
        assert_eq!(attr(*case, "time"), "1.234");
    }
    let failed = cases
        .iter()
        .find(|c| attr(**c, "name") == "handle-v1-close/x")
        .expect("the failed case");
    let failure = failed
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a <failure>");
    assert_eq!(attr(failure, "message"), SHOWN_FIRST_LINE);
    let text = failure.text().expect("the detail");
    assert!(
        text.starts_with("the case handle-v1-close/x (HANDLE-V1-CLOSE)\n"),
        "{text}"
    );
    // The whole detail, carriage return included, with what XML cannot carry made visible.
    let shown = HOSTILE_DETAIL
        .replace('\u{0}', "\\u{0}")
        .replace('\u{7}', "\\u{7}")
        .replace('\u{1b}', "\\u{1b}")
        .replace('\u{fffe}', "\\u{fffe}");
    assert!(text.ends_with(&shown), "{text:?}");

    let skipped = cases
        .iter()
        .find(|c| attr(**c, "name") == "limit-beyond/y")
        .expect("the skipped case");
    let skip = skipped
        .children()
        .find(|n| n.has_tag_name("skipped"))
        .expect("a <skipped>");
    assert_eq!(attr(skip, "message"), SHOWN_REASON);

    let passed = cases
        .iter()
        .find(|c| attr(**c, "name") == "open-default/a")
        .expect("a passed case");
    assert_eq!(passed.children().filter(|n| n.is_element()).count(), 0);
}

#[test]
fn markdown_matrix_snapshot() {
    let mut report = report();
    // Fixed so the snapshot changes with the matrix, not with each release.
    report.suite_version = "0.0.0-snapshot";
    let markdown = report.markdown(&meta());
    assert_eq!(markdown, report.markdown(&meta()), "deterministic");
    insta::assert_snapshot!("markdown_matrix", markdown);
}

#[test]
fn markdown_names_this_build_and_no_expectations() {
    let markdown = report().markdown(&Meta::new(1, None));
    assert!(markdown.contains(&format!("- kvconf: {}\n", env!("CARGO_PKG_VERSION"))));
    assert!(markdown.contains(&format!("- WIT: sha256 `{WIT_SHA256}`\n")));
    assert!(markdown.contains("- expectations: none\n"));
    assert!(markdown.contains("- seed: 1\n"));
    assert_eq!(WIT_SHA256.len(), 64);
    assert!(WIT_SHA256.bytes().all(|b| b.is_ascii_hexdigit()));
    // This build's hash of each version's WIT.
    let v3 = Interface::V3.wit_sha256();
    assert!(markdown.contains(&format!(
        "  - v3 (spin:key-value/key-value@3.0.0): sha256 `{v3}`\n"
    )));
}

#[test]
fn json_names_this_builds_wit_and_each_run_versions() {
    let json: serde_json::Value = serde_json::from_str(&report().json()).unwrap();
    assert_eq!(json["wit_sha256"], WIT_SHA256);
    let versions = json["interface_wit_sha256"].as_object().unwrap();
    // The versions run (v1 and v2), each its own hash, the one JUnit and Markdown give.
    assert_eq!(versions.keys().collect::<Vec<_>>(), ["v1", "v2"]);
    for (name, interface) in [("v1", Interface::V1), ("v2", Interface::V2)] {
        assert_eq!(versions[name], interface.wit_sha256(), "{name}");
    }
    assert_ne!(versions["v1"], versions["v2"]);
}

#[test]
fn markdown_has_a_wit_coverage_section_when_given_one() {
    let catalogue = kvconf::catalogue::Catalogue::builtin();
    let cases = kvconf::case::load_dir(&kvconf::case::default_dir(), catalogue).unwrap();
    let coverage = kvconf::coverage::Coverage::compute(catalogue, &cases).unwrap();
    let without = report().markdown(&meta());
    assert!(!without.contains("## WIT coverage"));
    let with = report().markdown(&Meta {
        coverage: Some(coverage),
        ..meta()
    });
    let section = &with[with.find("## WIT coverage").expect("the section")..];
    assert!(
        section.contains("| version | item | cases | statements |"),
        "{section}"
    );
    assert!(
        section.contains("| v2 | `key-value#error.access-denied` |"),
        "{section}"
    );
    // A swap refused past a limit: the error case only LIMIT-BEYOND names, exercised by its two swap cases.
    assert!(
        section.contains("| wasi-keyvalue | `atomics#cas-error.store-error` | 2 | LIMIT-BEYOND |"),
        "{section}"
    );
    assert!(section.contains(" 0 gap(s)"), "{section}");
}
