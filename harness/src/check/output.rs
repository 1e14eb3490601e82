//! How `kvconf check` prints its findings: for a person (grouped, the two sides of a WIT difference side by
//! side), as JSON for a script, and as JUnit XML for a CI system.
//!
//! All three carry the same findings in the same order; the exit code (0, 1 on an error, 2 on bad input) is the
//! command's, not the printer's.

use super::{Finding, Severity, has_errors};
use crate::markup::{attr, text};
use serde::Serialize;
use std::fmt::Write as _;

/// Widest a side-by-side pair of WIT may be; wider sides are printed one above the other.
const SIDE_BY_SIDE_WIDTH: usize = 118;

/// The counts a summary line and the JSON give.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Findings that fail the check (exit 1).
    pub errors: usize,
    /// Of the errors and warnings, those that would stop a guest built against the canonical WIT from linking.
    pub breaking: usize,
    /// Findings to act on that do not fail the check.
    pub warnings: usize,
    /// What was checked and how.
    pub notes: usize,
}

impl Counts {
    /// Counts `findings`.
    pub fn of(findings: &[Finding]) -> Counts {
        let mut counts = Counts::default();
        for f in findings {
            match f.severity {
                Severity::Error => counts.errors += 1,
                Severity::Warning => counts.warnings += 1,
                Severity::Note => counts.notes += 1,
            }
            if f.breaking && f.severity != Severity::Note {
                counts.breaking += 1;
            }
        }
        counts
    }
}

/// For a person: the notes (what was found) first, then each error and warning with its code, path, message,
/// the statements it touches and both sides of the difference; a summary line last. `what` names the check
/// (`check wit wit/`).
pub fn human(what: &str, findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings.iter().filter(|f| f.severity == Severity::Note) {
        let _ = writeln!(out, "note[{}] {}", f.code, f.message);
    }
    for f in findings.iter().filter(|f| f.severity != Severity::Note) {
        out.push('\n');
        // "Not breaking" is said only of a WIT difference, a finding with two sides.
        let breaking = match (f.breaking, f.expected.is_some() || f.found.is_some()) {
            (true, _) => " (breaking)",
            (false, true) => " (not breaking)",
            (false, false) => "",
        };
        let _ = writeln!(out, "{}[{}] {}{breaking}", f.severity, f.code, f.path);
        let _ = writeln!(out, "  {}", f.message);
        if !f.statements.is_empty() {
            let _ = writeln!(out, "  statements: {}", f.statements.join(", "));
        }
        sides(&mut out, f.expected.as_deref(), f.found.as_deref());
    }
    let counts = Counts::of(findings);
    let verdict = if has_errors(findings) { "FAILED" } else { "ok" };
    let _ = writeln!(
        out,
        "\nkvconf {what}: {verdict}: {} error(s) ({} breaking), {} warning(s), {} note(s)",
        counts.errors, counts.breaking, counts.warnings, counts.notes
    );
    out
}

/// The two sides of a difference, headed `kvconf` and `checked`: side by side when they fit, else one above
/// the other. A missing side is `(none)`.
fn sides(out: &mut String, expected: Option<&str>, found: Option<&str>) {
    if expected.is_none() && found.is_none() {
        return;
    }
    let left: Vec<&str> = expected.unwrap_or("(none)").lines().collect();
    let right: Vec<&str> = found.unwrap_or("(none)").lines().collect();
    let width = |lines: &[&str]| lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let (lw, rw) = (width(&left).max(6), width(&right).max(7));
    if 4 + lw + 3 + rw <= SIDE_BY_SIDE_WIDTH {
        let _ = writeln!(out, "    {:<lw$} | checked", "kvconf");
        for i in 0..left.len().max(right.len()) {
            let l = left.get(i).copied().unwrap_or("");
            let r = right.get(i).copied().unwrap_or("");
            let line = format!("    {l:<lw$} | {r}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
    } else {
        for (head, lines) in [("kvconf ", &left), ("checked", &right)] {
            for (i, line) in lines.iter().enumerate() {
                let head = if i == 0 { head } else { "       " };
                let _ = writeln!(out, "    {head} | {line}");
            }
        }
    }
}

/// For a script: `{"check": what, "ok": bool, "counts": {...}, "findings": [...]}`, each finding with its
/// code, severity, path, expected, found, breaking, statements and message.
pub fn json(what: &str, findings: &[Finding]) -> String {
    #[derive(Serialize)]
    struct Output<'a> {
        check: &'a str,
        ok: bool,
        counts: Counts,
        findings: &'a [Finding],
    }
    let output = Output {
        check: what,
        ok: !has_errors(findings),
        counts: Counts::of(findings),
        findings,
    };
    serde_json::to_string_pretty(&output).expect("findings serialize") + "\n"
}

/// For a CI system: one `<testsuite name="kvconf check ...">`, one `<testcase>` per finding (`classname` its
/// code, `name` its path); an error is a `<failure type="code">` with the message and both sides as text, a
/// warning and a note pass with the message as `<system-out>`.
pub fn junit(what: &str, findings: &[Finding]) -> String {
    let counts = Counts::of(findings);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = format!("kvconf {what}");
    let _ = writeln!(
        out,
        "<testsuites name=\"kvconf\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
        findings.len(),
        counts.errors
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">",
        attr(&suite),
        findings.len(),
        counts.errors
    );
    for f in findings {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\"",
            attr(&f.code.as_str()),
            attr(&f.path)
        );
        let mut detail = f.message.clone();
        if !f.statements.is_empty() {
            let _ = write!(detail, "\nstatements: {}", f.statements.join(", "));
        }
        if let Some(expected) = &f.expected {
            let _ = write!(detail, "\nkvconf:  {expected}");
        }
        if let Some(found) = &f.found {
            let _ = write!(detail, "\nchecked: {found}");
        }
        if f.severity == Severity::Error {
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                attr(&f.message),
                attr(&f.code.as_str()),
                text(&detail)
            );
        } else {
            let _ = writeln!(
                out,
                ">\n      <system-out>{}: {}</system-out>\n    </testcase>",
                f.severity,
                text(&detail)
            );
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Code;

    fn difference() -> Finding {
        Finding {
            expected: Some("set: func(key: string, value: list<u8>) -> result<_, error>;".into()),
            found: Some("set: func(key: string, value: string) -> result<_, error>;".into()),
            statements: vec!["SET-GET-EXACT".into()],
            breaking: true,
            ..Finding::new(
                Code::ParamsChanged,
                Severity::Error,
                "fermyon:spin/key-value@2.0.0#store.set",
                "`store.set` takes (key: string, value: string)",
            )
        }
    }

    #[test]
    fn human_gives_code_path_statements_sides_and_counts() {
        let out = human("check wit x", &[difference()]);
        assert!(
            out.contains("error[params-changed] fermyon:spin/key-value@2.0.0#store.set (breaking)")
        );
        assert!(out.contains("statements: SET-GET-EXACT"));
        // 61 and 60 characters: too wide side by side, so one above the other.
        assert!(out.contains(
            "    kvconf  | set: func(key: string, value: list<u8>) -> result<_, error>;\n    checked | set: func(key: string, value: string) -> result<_, error>;\n"
        ), "{out}");
        assert!(out.contains("FAILED: 1 error(s) (1 breaking), 0 warning(s), 0 note(s)"));
        assert!(out.lines().all(|l| l == l.trim_end()), "{out}");
    }

    #[test]
    fn long_sides_go_one_above_the_other() {
        let mut f = difference();
        f.expected = Some(format!("{}\n  b", "a".repeat(80)));
        f.found = Some("c".repeat(80));
        let out = human("check wit x", &[f]);
        assert!(
            out.contains(&format!("    kvconf  | {}", "a".repeat(80))),
            "{out}"
        );
        assert!(out.contains("            |   b"), "{out}");
        assert!(
            out.contains(&format!("    checked | {}", "c".repeat(80))),
            "{out}"
        );
    }

    #[test]
    fn side_by_side_pads_the_shorter_side() {
        let mut out = String::new();
        sides(
            &mut out,
            Some("enum e {\n  a,\n}"),
            Some("enum e {\n  b,\n  a,\n}"),
        );
        assert_eq!(
            out,
            "    kvconf   | checked\n    enum e { | enum e {\n      a,     |   b,\n    }        |   a,\n             | }\n"
        );
    }

    #[test]
    fn json_says_whether_it_passed() {
        let value: serde_json::Value =
            serde_json::from_str(&json("check wit x", &[difference()])).unwrap();
        assert_eq!(value["ok"], false);
        assert_eq!(value["counts"]["errors"], 1);
        assert_eq!(value["findings"][0]["code"], "params-changed");
        assert_eq!(value["findings"][0]["statements"][0], "SET-GET-EXACT");
    }
}
