//! The permission model's expectations: a table of (subject, permission,
//! object, expected) rows checked against Keto, and the relationships the
//! table assumes, both kept beside the deployment's Keto config in
//! `ory/keto/` (where `orygate gate` looks for a team's own).

use std::fmt;
use std::path::{Path, PathBuf};

use harness::keto::{Relationship, Subject, parse_relationships};
use harness::{Result, keto::Keto, transport::Transport};

/// One row of a permission table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line of the table it is on, for messages.
    pub line: usize,
    pub subject: Subject,
    pub permission: String,
    pub namespace: String,
    pub object: String,
    pub allowed: bool,
}

impl Row {
    /// The check this row asks for.
    pub fn check(&self) -> Relationship {
        Relationship {
            namespace: self.namespace.clone(),
            object: self.object.clone(),
            relation: self.permission.clone(),
            subject: self.subject.clone(),
        }
    }
}

fn verdict(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {} {} {}:{}",
            self.line, self.subject, self.permission, self.namespace, self.object
        )
    }
}

/// A row Keto answered otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub row: Row,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, Keto says {}",
            self.row,
            verdict(self.row.allowed),
            verdict(!self.row.allowed)
        )
    }
}

/// Reads a table: a row a line, `subject permission namespace:object
/// allow|deny`, then optionally a `# comment`; lines starting with `#` and
/// blank lines are skipped. Errors name the line.
pub fn parse_table(text: &str) -> std::result::Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let shape = || {
            format!(
                "line {line_no}: {trimmed:?} is not `subject permission namespace:object allow|deny [# comment]`"
            )
        };
        if words.len() < 4 || words.get(4).is_some_and(|w| !w.starts_with('#')) {
            return Err(shape());
        }
        let (namespace, object) = words[2].split_once(':').ok_or_else(shape)?;
        let allowed = match words[3] {
            "allow" => true,
            "deny" => false,
            other => {
                return Err(format!(
                    "line {line_no}: expected allow or deny, not {other:?}"
                ));
            }
        };
        rows.push(Row {
            line: line_no,
            subject: words[0]
                .parse()
                .map_err(|e| format!("line {line_no}: {e}"))?,
            permission: words[1].into(),
            namespace: namespace.into(),
            object: object.into(),
            allowed,
        });
    }
    Ok(rows)
}

/// `ory/keto/` (under the folder `ORYGATE_ROOT` points at, if set).
pub fn fixtures_dir() -> PathBuf {
    harness::repo_root().join("ory").join("keto")
}

fn read(path: &Path) -> std::result::Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// The relationships in a file of Keto's notation.
pub fn tuples_from(path: &Path) -> std::result::Result<Vec<Relationship>, String> {
    parse_relationships(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

/// The permission table in a file.
pub fn table_from(path: &Path) -> std::result::Result<Vec<Row>, String> {
    parse_table(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

/// The committed relationships, `ory/keto/tuples.txt`.
pub fn fixture_tuples() -> std::result::Result<Vec<Relationship>, String> {
    tuples_from(&fixtures_dir().join("tuples.txt"))
}

/// The committed table, `ory/keto/permissions.txt`.
pub fn fixture_table() -> std::result::Result<Vec<Row>, String> {
    table_from(&fixtures_dir().join("permissions.txt"))
}

/// Checks every row and returns those Keto answers otherwise, in table
/// order. A failed request is an error (it says nothing of the model).
pub async fn disagreements<T: Transport>(
    transport: &T,
    keto: &Keto,
    rows: &[Row],
) -> Result<Vec<Disagreement>> {
    let mut wrong = Vec::new();
    for row in rows {
        if keto.check(transport, &row.check()).await? != row.allowed {
            wrong.push(Disagreement { row: row.clone() });
        }
    }
    Ok(wrong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_fixtures_parse() {
        let rows = fixture_table().unwrap();
        assert!(rows.len() >= 20, "{} rows", rows.len());
        assert!(rows.iter().any(|r| r.allowed) && rows.iter().any(|r| !r.allowed));
        assert!(fixture_tuples().unwrap().len() >= 15);
    }

    #[test]
    fn rows_parse_with_comments_and_bad_rows_name_their_line() {
        let rows = parse_table(
            "# header\n\nalice view Document:a allow # why\nGroup:x#members view Folder:f deny\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 3);
        assert!(rows[0].allowed && !rows[1].allowed);
        assert_eq!(rows[1].check().to_string(), "Folder:f#view@Group:x#members");

        for (bad, says) in [
            ("alice view Document:a maybe", "allow or deny"),
            ("alice view Document:a", "is not"),
            ("alice view Document allow", "is not"),
            ("alice view Document:a allow extra", "is not"),
        ] {
            let err = parse_table(&format!("# h\n{bad}\n")).unwrap_err();
            assert!(err.starts_with("line 2:") && err.contains(says), "{err}");
        }
    }
}
