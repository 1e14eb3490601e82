//! Small text helpers shared by the reports ([`crate::report`]) and `kvconf check`'s outputs ([`crate::check`]):
//! XML escaping and the first line of a message. A leaf: it uses no other module of kvconf.

use std::fmt::Write as _;

/// The first line of a failure's detail that is not blank, trimmed: what one line can say of it.
pub(crate) fn first_line(detail: &str) -> &str {
    detail
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// `value` escaped for an attribute value in double quotes.
pub(crate) fn attr(value: &str) -> String {
    escape(value, true)
}

/// `value` escaped for element text.
pub(crate) fn text(value: &str) -> String {
    escape(value, false)
}

/// Escapes `value` for XML 1.0: the five markup characters as entities; a carriage return as a character
/// reference everywhere (a parser would turn a literal one into a line feed), and a tab or line feed as one
/// in an attribute (a parser would turn a literal one into a space); every character XML 1.0 cannot carry at
/// all, even as a reference (the C0 controls but tab, line feed and carriage return; U+FFFE, U+FFFF), as the
/// visible text `\u{..}`.
fn escape(value: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' | '\n' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}
