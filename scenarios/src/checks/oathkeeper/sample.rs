//! A request a rule matches: a URL built from its `match.url` pattern,
//! each `<...>` part filled with a value the part accepts.
//!
//! Oathkeeper reads the parts as regular expressions (`matching_strategy:
//! regexp`, its default) or as globs (`glob`, `.` and `/` separating).
//! A part takes the first of a few plain values it matches whole: enough
//! for the patterns rules use (`<.*>`, `<[^/]+>`, `<https?>`, `<**>`,
//! `<[0-9]+>`, `<{a,b}>`); a part none fits leaves the rule unprobed.

use regex::Regex;
use url::Url;

/// How a rule's pattern is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Regexp,
    Glob,
}

impl Strategy {
    /// The strategy `access_rules.matching_strategy` names (regexp when
    /// unset).
    pub fn named(name: Option<&str>) -> Self {
        if name == Some("glob") {
            Self::Glob
        } else {
            Self::Regexp
        }
    }
}

/// Values tried for a part, by where it stands in the URL.
const SCHEMES: &[&str] = &["http", "https"];
/// A part that starts the pattern and is not followed by `://` spans the
/// scheme and host (`<.*>/admin/<.*>`).
const ORIGINS: &[&str] = &["http://app.orygate.test", "https://app.orygate.test"];
const HOSTS: &[&str] = &["app.orygate.test", "localhost", "127.0.0.1", "orygate"];
const PATHS: &[&str] = &["orygate", "1", "", "orygate/1", "a", "orygate.json"];

/// A URL `pattern` matches, or why none was found.
pub fn url(pattern: &str, strategy: Strategy) -> Result<Url, String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = closing(after).ok_or_else(|| format!("{pattern}: a '<' is never closed"))?;
        let part = &after[..end];
        let re = match strategy {
            Strategy::Regexp => part.to_owned(),
            Strategy::Glob => glob_to_regex(part),
        };
        let whole = Regex::new(&format!("^(?:{re})$"))
            .map_err(|e| format!("{pattern}: <{part}> is not a pattern this check reads: {e}"))?;
        let after_part = &after[end + 1..];
        let candidates = if !out.contains("://") && after_part.starts_with("://") {
            SCHEMES
        } else if !out.contains("://") {
            ORIGINS
        } else if !out[out.find("://").unwrap_or(0) + 3..].contains('/') {
            HOSTS
        } else {
            PATHS
        };
        let value = candidates
            .iter()
            .find(|c| whole.is_match(c))
            .ok_or_else(|| format!("{pattern}: no plain value fits <{part}>"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Url::parse(&out).map_err(|e| format!("{pattern}: {out} is not a URL: {e}"))
}

/// Where the `>` closing a part is: the first one outside brackets and
/// braces.
fn closing(part: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut escaped = false;
    for (i, c) in part.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth -= 1,
            '>' if depth <= 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// A glob (gobwas/glob with `.` and `/` as separators) as a regular
/// expression.
fn glob_to_regex(glob: &str) -> String {
    let mut re = String::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str(".*");
            }
            '*' => re.push_str("[^./]*"),
            '?' => re.push_str("[^./]"),
            '{' => re.push_str("(?:"),
            '}' => re.push(')'),
            ',' => re.push('|'),
            '[' | ']' | '-' => re.push(c),
            '!' if re.ends_with('[') => re.push('^'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexp_parts_get_plain_values_they_match() {
        let cases = [
            (
                "<https?>://<[^/]+>/public<(/.*)?>",
                "http://app.orygate.test/public",
            ),
            (
                "<https?>://<[^/]+>/documents/<[A-Za-z0-9_-]+>",
                "http://app.orygate.test/documents/orygate",
            ),
            (
                "https://api.example.com/users/<[0-9]+>",
                "https://api.example.com/users/1",
            ),
            (
                "http://127.0.0.1:4455/<.*>",
                "http://127.0.0.1:4455/orygate",
            ),
            ("<.*>/admin/<.*>", "http://app.orygate.test/admin/orygate"),
        ];
        for (pattern, expected) in cases {
            assert_eq!(
                url(pattern, Strategy::Regexp).unwrap().as_str(),
                expected,
                "{pattern}"
            );
        }
    }

    #[test]
    fn glob_parts_get_plain_values_they_match() {
        let cases = [
            (
                "<{http,https}>://<**>/admin/<**>",
                "http://app.orygate.test/admin/orygate",
            ),
            (
                "https://app.example.com/<*>.json",
                "https://app.example.com/orygate.json",
            ),
            ("<**>/admin/<**>", "http://app.orygate.test/admin/orygate"),
        ];
        for (pattern, expected) in cases {
            assert_eq!(
                url(pattern, Strategy::Glob).unwrap().as_str(),
                expected,
                "{pattern}"
            );
        }
    }

    #[test]
    fn a_part_no_value_fits_says_so() {
        let err = url("http://h/<[x]{9}>", Strategy::Regexp).unwrap_err();
        assert!(err.contains("no plain value fits <[x]{9}>"), "{err}");
        let err = url("http://h/<.*", Strategy::Regexp).unwrap_err();
        assert!(err.contains("never closed"), "{err}");
    }
}
