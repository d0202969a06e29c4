//! The ignore rules of a [`Builder`](super::Builder): by spawn site.

use std::panic::Location;

/// One [`Builder::ignore_location`](super::Builder::ignore_location) rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocationRule {
    /// With `/` separators.
    file: String,
    line: Option<u32>,
    column: Option<u32>,
}

impl LocationRule {
    /// Reads `file`, `file:line` or `file:line:col` (numbers taken from the right, so
    /// a path may hold colons itself).
    pub(crate) fn parse(rule: &str) -> Self {
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let (mut file, mut line, mut column) = (rule, None, None);
        if let Some((rest, last)) = rule.rsplit_once(':').filter(|(f, _)| !f.is_empty()) {
            if let Some(last) = number(last) {
                match rest.rsplit_once(':').filter(|(f, _)| !f.is_empty()) {
                    Some((f, l)) if number(l).is_some() => {
                        (file, line, column) = (f, number(l), Some(last));
                    }
                    _ => (file, line) = (rest, Some(last)),
                }
            }
        }
        Self {
            file: file.replace('\\', "/"),
            line,
            column,
        }
    }

    pub(crate) fn matches(&self, loc: &Location<'_>) -> bool {
        self.matches_site(loc.file(), loc.line(), loc.column())
    }

    fn matches_site(&self, file: &str, line: u32, column: u32) -> bool {
        if self.file.is_empty()
            || self.line.is_some_and(|l| l != line)
            || self.column.is_some_and(|c| c != column)
        {
            return false;
        }
        let site = file.replace('\\', "/");
        let rule = self.file.trim_start_matches("./");
        site == rule
            || site
                .strip_suffix(rule)
                .is_some_and(|head| head.ends_with('/'))
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    fn rule(file: &str, line: Option<u32>, column: Option<u32>) -> LocationRule {
        LocationRule {
            file: file.to_owned(),
            line,
            column,
        }
    }

    #[test]
    fn parses_file_file_line_and_file_line_col() {
        assert_eq!(
            LocationRule::parse("src/a.rs"),
            rule("src/a.rs", None, None)
        );
        assert_eq!(
            LocationRule::parse("src/a.rs:12"),
            rule("src/a.rs", Some(12), None)
        );
        assert_eq!(
            LocationRule::parse("tests/x.rs:1758:5"),
            rule("tests/x.rs", Some(1758), Some(5))
        );
        assert_eq!(
            LocationRule::parse(r"C:\src\a.rs:3"),
            rule("C:/src/a.rs", Some(3), None)
        );
        assert_eq!(LocationRule::parse(":12"), rule(":12", None, None));
        assert_eq!(LocationRule::parse("a.rs:x"), rule("a.rs:x", None, None));
        assert_eq!(
            LocationRule::parse("a.rs:12:x"),
            rule("a.rs:12:x", None, None)
        );
    }

    #[test]
    fn matches_whole_trailing_path_components_only() {
        let site = ("crates/app/tests/leak_peer.rs", 10, 5);
        let m = |r: &str| LocationRule::parse(r).matches_site(site.0, site.1, site.2);
        assert!(m("leak_peer.rs"));
        assert!(m("tests/leak_peer.rs"));
        assert!(m("crates/app/tests/leak_peer.rs"));
        assert!(m("./crates/app/tests/leak_peer.rs"));
        assert!(m("tests/leak_peer.rs:10"));
        assert!(m("tests/leak_peer.rs:10:5"));
        assert!(m(r"tests\leak_peer.rs:10:5"));
        assert!(!m("peer.rs"), "not part of a component");
        assert!(!m("s/leak_peer.rs"));
        assert!(!m("tests/leak_peer.rs:11"));
        assert!(!m("tests/leak_peer.rs:10:6"));
        assert!(!m(""), "an empty path matches nothing");
        assert!(!m("app"), "a directory is not a file");
    }
}
