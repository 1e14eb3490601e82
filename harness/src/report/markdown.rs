//! The Markdown conformance matrix: what was run against what, then a row per statement of the catalogue and
//! a column per interface version and backend, then the failures. Deterministic (no times, no dates), so it can
//! be kept and compared.

use super::{Meta, Report, Summary, join};
use crate::catalogue::{Catalogue, Statement};
use crate::interface::Interface;
use crate::markup::first_line;
use crate::runner::{CaseResult, Verdict};
use std::fmt::Write as _;

impl Report {
    /// The Markdown conformance matrix. A header list names kvconf's version, the hash of the WIT files,
    /// the host, its profile, the hash of the expectations file (`none` without one), the history seed and
    /// the counts. The matrix has a row per statement of the catalogue and a column per interface version and
    /// backend run (`v2/sqlite`); a cell is `pass (N)` (`pass (N; M skipped)` when some were skipped),
    /// `FAIL (F of N)`, `skipped (N)` (every case citing it is for a claim the host does not make), `no case`
    /// or `n/a` (the statement does not apply to that version); two last rows count the cases and the
    /// statements per column. Then each failed case with the first line of its detail. The same results
    /// give the same text, byte for byte.
    pub fn markdown(&self, meta: &Meta) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# kvconf conformance matrix\n");
        let expectations = meta
            .expectations_hash
            .as_deref()
            .map_or_else(|| "none".to_string(), |h| format!("sha256 {}", code(h)));
        let _ = writeln!(out, "- kvconf: {}", inline(self.suite_version));
        let _ = writeln!(out, "- WIT: sha256 {}", code(&meta.wit_hash));
        for (interface, hash) in &meta.version_hashes {
            let _ = writeln!(
                out,
                "  - {} ({}): sha256 {}",
                interface,
                inline(interface.wit_name()),
                code(hash)
            );
        }
        let _ = writeln!(out, "- host: {}", inline(&self.host));
        let _ = writeln!(out, "- profile: {}", inline(&self.profile_summary()));
        let _ = writeln!(out, "- expectations: {expectations}");
        let _ = writeln!(out, "- seed: {}", meta.seed);
        let _ = writeln!(out, "- cases: {}", counts(&self.summary));

        let runs = self.runs();
        let columns: Vec<Vec<&CaseResult>> = runs
            .iter()
            .map(|(interface, backend)| self.results_of(*interface, backend))
            .collect();
        let _ = writeln!(out, "\n## Statements\n");
        let mut header = "| statement | strength |".to_string();
        let mut rule = "| --- | --- |".to_string();
        for (interface, backend) in &runs {
            let _ = write!(header, " {} |", inline(&format!("{interface}/{backend}")));
            rule.push_str(" --- |");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        let mut cells_by_column: Vec<Vec<Cell>> = vec![Vec::new(); runs.len()];
        for statement in Catalogue::builtin().statements() {
            let _ = write!(
                out,
                "| {} | {} |",
                inline(&statement.id),
                statement.strength
            );
            for (n, ((interface, _), results)) in runs.iter().zip(&columns).enumerate() {
                let cell = Cell::of(statement, *interface, results);
                let _ = write!(out, " {} |", cell.text());
                cells_by_column[n].push(cell);
            }
            out.push('\n');
        }
        let _ = write!(out, "| **cases** | |");
        for results in &columns {
            let _ = write!(
                out,
                " {} |",
                counts(&Summary::tally(results.iter().copied()))
            );
        }
        let _ = write!(out, "\n| **statements** | |");
        for cells in &cells_by_column {
            let count = |f: fn(&Cell) -> bool| cells.iter().filter(|c| f(c)).count();
            let _ = write!(
                out,
                " {} pass, {} FAIL, {} skipped, {} no case |",
                count(|c| matches!(c, Cell::Pass { .. })),
                count(|c| matches!(c, Cell::Fail { .. })),
                count(|c| matches!(c, Cell::Skipped(_))),
                count(|c| matches!(c, Cell::NoCase)),
            );
        }
        let _ = writeln!(
            out,
            "\n\nA cell is the result of the cases citing the statement on that version and backend: `pass` when \
             every one passed, `FAIL` when any failed, `skipped` when every one is for a claim the host does not \
             make, `no case` when none cites it; `n/a`: the statement does not apply to that version."
        );

        let failures: Vec<(&CaseResult, &str)> = self
            .cases
            .iter()
            .filter_map(|c| match &c.verdict {
                Verdict::Fail(detail) => Some((c, detail.as_str())),
                _ => None,
            })
            .collect();
        if let Some(coverage) = &meta.coverage {
            let _ = writeln!(
                out,
                "\n## WIT coverage\n\nEvery function and error case of every version's WIT, the statements naming it \
                 and how many of this run's cases exercise it, counted on every version whichever ran \
                 (`kvconf list --coverage`).\n"
            );
            out.push_str(&coverage.markdown());
        }
        let _ = writeln!(out, "\n## Failures\n");
        if failures.is_empty() {
            let _ = writeln!(out, "None.");
        }
        for (case, detail) in failures {
            let _ = writeln!(
                out,
                "- {} ({}): {}",
                code(&case.trial_name()),
                inline(&join(case.statements.iter().cloned())),
                inline(first_line(detail))
            );
        }
        out
    }
}

/// One cell of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    NotApplicable,
    NoCase,
    Pass { passed: usize, skipped: usize },
    Fail { failed: usize, cases: usize },
    Skipped(usize),
}

impl Cell {
    fn of(statement: &Statement, interface: Interface, results: &[&CaseResult]) -> Cell {
        if !statement.interfaces.contains(&interface) {
            return Cell::NotApplicable;
        }
        let s = Summary::tally(
            results
                .iter()
                .copied()
                .filter(|r| r.statements.contains(&statement.id)),
        );
        if s.failed > 0 {
            Cell::Fail {
                failed: s.failed,
                cases: s.total,
            }
        } else if s.passed > 0 {
            Cell::Pass {
                passed: s.passed,
                skipped: s.skipped,
            }
        } else if s.skipped > 0 {
            Cell::Skipped(s.skipped)
        } else {
            Cell::NoCase
        }
    }

    fn text(self) -> String {
        match self {
            Cell::NotApplicable => "n/a".to_string(),
            Cell::NoCase => "no case".to_string(),
            Cell::Pass { passed, skipped: 0 } => format!("pass ({passed})"),
            Cell::Pass { passed, skipped } => format!("pass ({passed}; {skipped} skipped)"),
            Cell::Fail { failed, cases } => format!("FAIL ({failed} of {cases})"),
            Cell::Skipped(n) => format!("skipped ({n})"),
        }
    }
}

fn counts(s: &Summary) -> String {
    format!(
        "{} passed, {} failed, {} skipped",
        s.passed, s.failed, s.skipped
    )
}

/// `text` as Markdown text that shows it as it is, in a list item or a table cell: punctuation that could
/// start markup is backslash-escaped, and control characters (which would end a line or a cell) are shown
/// as `\u{..}`.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` as a code span, or as escaped text when it holds what a plain code span cannot show.
fn code(text: &str) -> String {
    if text.is_empty() || text.contains(['`', '|']) || text.chars().any(char::is_control) {
        inline(text)
    } else {
        format!("`{text}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            inline("a | b *c* _d_ `e` <f> [g](h) & #i \\"),
            "a \\| b \\*c\\* \\_d\\_ \\`e\\` \\<f\\> \\[g\\](h) \\& \\#i \\\\"
        );
        assert_eq!(
            inline("line\nnext\r\u{1b}"),
            "line\\\\u{a}next\\\\u{d}\\\\u{1b}"
        );
    }

    #[test]
    fn code_spans_only_when_they_show_the_text() {
        assert_eq!(code("v2/sqlite/get-missing"), "`v2/sqlite/get-missing`");
        assert_eq!(code("a`b"), "a\\`b");
        assert_eq!(code("a|b"), "a\\|b");
    }
}
