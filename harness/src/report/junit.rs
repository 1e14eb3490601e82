//! The JUnit XML report, for CI systems that show test results: one `<testsuite>` per interface version and
//! backend, one `<testcase>` per case result.

use super::{Meta, Report, Summary, join};
use crate::markup::{attr, first_line, text};
use crate::runner::{CaseResult, Verdict};
use std::fmt::Write as _;

impl Report {
    /// The JUnit XML report: a `<testsuites name="kvconf">` holding one `<testsuite>` per interface version and
    /// backend run (named `v2/sqlite`), each with the run's properties (`kvconf-version`, `wit-sha256`, `host`,
    /// `profile`, `interface`, `interface-wit-sha256` (that version's WIT), `backend`, `seed`, `expectations-sha256`) and a `<testcase>` per case result
    /// (`classname` the suite's name, `name` the case ID, `time` in seconds). A failed case holds
    /// `<failure message="first line" type="nonconformance">` with the whole detail as its text, a skipped one
    /// `<skipped message="reason"/>`. The root and each suite count `tests`, `failures`, `skipped` and
    /// `errors` (always 0: a host that traps, panics or hangs fails the case). Text from the host is escaped,
    /// and characters XML 1.0 cannot carry are written as `\u{..}`.
    pub fn junit(&self, meta: &Meta) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"kvconf\" {}>",
            counts(&self.summary, self.cases.iter())
        );
        for (interface, backend) in self.runs() {
            let results = self.results_of(interface, backend);
            let suite = format!("{interface}/{backend}");
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" {}>",
                attr(&suite),
                counts(
                    &Summary::tally(results.iter().copied()),
                    results.iter().copied()
                )
            );
            out.push_str("    <properties>\n");
            let expectations = meta.expectations_hash.as_deref().unwrap_or("none");
            let seed = meta.seed.to_string();
            let profile = self.profile_summary();
            let version_hash = meta
                .version_hashes
                .get(&interface)
                .map_or("unknown", String::as_str);
            for (name, value) in [
                ("kvconf-version", self.suite_version),
                ("wit-sha256", meta.wit_hash.as_str()),
                ("host", self.host.as_str()),
                ("profile", profile.as_str()),
                ("interface", interface.wit_name()),
                ("interface-wit-sha256", version_hash),
                ("backend", backend),
                ("seed", seed.as_str()),
                ("expectations-sha256", expectations),
            ] {
                let _ = writeln!(
                    out,
                    "      <property name=\"{name}\" value=\"{}\"/>",
                    attr(value)
                );
            }
            out.push_str("    </properties>\n");
            for result in results {
                testcase(&mut out, &suite, result);
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

fn testcase(out: &mut String, suite: &str, result: &CaseResult) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
        attr(suite),
        attr(&result.id),
        seconds(result.millis)
    );
    match &result.verdict {
        Verdict::Pass => out.push_str("/>\n"),
        Verdict::Fail(detail) => {
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\" type=\"nonconformance\">{}\n{}</failure>\n    </testcase>",
                attr(first_line(detail)),
                text(&format!(
                    "{} ({})",
                    result.title,
                    join(result.statements.iter().cloned())
                )),
                text(detail)
            );
        }
        Verdict::Skip(reason) => {
            let _ = writeln!(
                out,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                attr(reason)
            );
        }
    }
}

/// The count attributes of a `<testsuites>` or `<testsuite>`.
fn counts<'a>(summary: &Summary, results: impl Iterator<Item = &'a CaseResult>) -> String {
    let millis: u64 = results.map(|r| r.millis).sum();
    format!(
        "tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\"",
        summary.total,
        summary.failed,
        summary.skipped,
        seconds(millis)
    )
}

fn seconds(millis: u64) -> String {
    format!("{}.{:03}", millis / 1000, millis % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_become_entities() {
        assert_eq!(
            text(r#"a & b < c > d "e" 'f'"#),
            "a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;"
        );
        assert_eq!(text("&amp;"), "&amp;amp;");
        assert_eq!(text("]]>"), "]]&gt;");
    }

    #[test]
    fn whitespace_survives_attribute_normalisation() {
        assert_eq!(attr("a\tb\nc\r\nd"), "a&#9;b&#10;c&#13;&#10;d");
        assert_eq!(text("a\tb\nc\r\nd"), "a\tb\nc&#13;\nd");
    }

    #[test]
    fn characters_xml_cannot_carry_are_written_visibly() {
        assert_eq!(
            text("a\u{0}b\u{1b}[31mc\u{b}\u{c}"),
            "a\\u{0}b\\u{1b}[31mc\\u{b}\\u{c}"
        );
        assert_eq!(text("\u{fffe}\u{ffff}"), "\\u{fffe}\\u{ffff}");
        // Allowed, if unusual, characters pass through.
        assert_eq!(text("\u{7f}\u{85}\u{fffd}é😀"), "\u{7f}\u{85}\u{fffd}é😀");
    }

    #[test]
    fn every_escaped_string_parses_back_to_what_it_says() {
        let hostile = "<x a='1'>&amp;\"]]>\u{0}\u{8}\u{1f}\t\n\r end";
        let xml = format!("<r a=\"{}\">{}</r>", attr(hostile), text(hostile));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let shown = "<x a='1'>&amp;\"]]>\\u{0}\\u{8}\\u{1f}\t\n\r end";
        assert_eq!(doc.root_element().attribute("a"), Some(shown));
        assert_eq!(doc.root_element().text(), Some(shown));
    }

    #[test]
    fn seconds_have_three_decimals() {
        assert_eq!(seconds(0), "0.000");
        assert_eq!(seconds(1234), "1.234");
        assert_eq!(seconds(5), "0.005");
    }
}
