//! Keto's relationships, in JSON and in Keto's text notation
//! (`namespace:object#relation@subject`), and the answers of its read API.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who a relationship is about: a subject id (here, a Kratos identity id)
/// or a subject set (`Group:eng#members`, everyone with that relation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum Subject {
    #[serde(rename = "subject_id")]
    Id(String),
    #[serde(rename = "subject_set")]
    Set(SubjectSet),
}

/// `namespace:object#relation`; an empty relation (`Folder:docs`) names
/// the object itself, as `traverse` over a `parents` relation needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub struct SubjectSet {
    pub namespace: String,
    pub object: String,
    #[serde(default)]
    pub relation: String,
}

/// A relationship: `namespace:object#relation@subject`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub struct Relationship {
    pub namespace: String,
    pub object: String,
    pub relation: String,
    #[serde(flatten)]
    pub subject: Subject,
}

impl Relationship {
    /// A relationship whose subject is a subject id.
    pub fn new(namespace: &str, object: &str, relation: &str, subject_id: &str) -> Self {
        Self {
            namespace: namespace.into(),
            object: object.into(),
            relation: relation.into(),
            subject: Subject::Id(subject_id.into()),
        }
    }

    /// The same object and subject with another relation or permission
    /// (`view` rather than `viewers`).
    #[must_use]
    pub fn with_relation(&self, relation: &str) -> Self {
        Self {
            relation: relation.into(),
            ..self.clone()
        }
    }

    /// The query Keto's GET and DELETE calls take for this relationship.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = vec![
            ("namespace", self.namespace.clone()),
            ("object", self.object.clone()),
            ("relation", self.relation.clone()),
        ];
        query.extend(self.subject.query());
        query
    }
}

impl Subject {
    fn query(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Id(id) => vec![("subject_id", id.clone())],
            Self::Set(set) => vec![
                ("subject_set.namespace", set.namespace.clone()),
                ("subject_set.object", set.object.clone()),
                ("subject_set.relation", set.relation.clone()),
            ],
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => f.write_str(id),
            Self::Set(set) => set.fmt(f),
        }
    }
}

impl fmt::Display for SubjectSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.object)?;
        if !self.relation.is_empty() {
            write!(f, "#{}", self.relation)?;
        }
        Ok(())
    }
}

impl fmt::Display for Relationship {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}#{}@{}",
            self.namespace, self.object, self.relation, self.subject
        )
    }
}

impl FromStr for Subject {
    type Err = String;

    /// `alice` (a subject id), `Group:eng#members` or `Folder:docs` (a
    /// subject set).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the subject is empty".into());
        }
        match text.split_once(':') {
            None => Ok(Self::Id(text.to_owned())),
            Some((namespace, rest)) => {
                let (object, relation) = rest.split_once('#').unwrap_or((rest, ""));
                if namespace.is_empty() || object.is_empty() {
                    return Err(format!(
                        "{text:?}: a subject set is namespace:object or namespace:object#relation"
                    ));
                }
                Ok(Self::Set(SubjectSet {
                    namespace: namespace.into(),
                    object: object.into(),
                    relation: relation.into(),
                }))
            }
        }
    }
}

impl FromStr for Relationship {
    type Err = String;

    /// Keto's notation: `Document:roadmap#viewers@alice`,
    /// `Group:eng#members@Group:platform#members`.
    fn from_str(text: &str) -> Result<Self, String> {
        let shape = || format!("{text:?} is not namespace:object#relation@subject");
        let (left, subject) = text.trim().split_once('@').ok_or_else(shape)?;
        let (namespace, rest) = left.split_once(':').ok_or_else(shape)?;
        let (object, relation) = rest.split_once('#').ok_or_else(shape)?;
        if [namespace, object, relation].iter().any(|s| s.is_empty()) {
            return Err(shape());
        }
        Ok(Self {
            namespace: namespace.into(),
            object: object.into(),
            relation: relation.into(),
            subject: subject.parse().map_err(|e| format!("{text:?}: {e}"))?,
        })
    }
}

/// Reads relationships in Keto's notation, one a line; blank lines and
/// lines starting with `//` are skipped. Errors name the line.
pub fn parse_relationships(text: &str) -> Result<Vec<Relationship>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with("//")
        })
        .map(|(n, line)| line.parse().map_err(|e| format!("line {}: {e}", n + 1)))
        .collect()
}

/// One page of `GET /relation-tuples`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page {
    pub relation_tuples: Vec<Relationship>,
    /// Empty on the last page.
    #[serde(default)]
    pub next_page_token: String,
}

/// A change in `PATCH /admin/relation-tuples`.
#[derive(Debug, Clone, Serialize)]
pub struct Patch {
    pub action: Action,
    pub relation_tuple: Relationship,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Insert,
    Delete,
}

/// A node of the tree `GET /relation-tuples/expand` answers: who holds a
/// relation, through which subject sets. This version follows stored
/// relationships only (not the permission rules), so nodes are `union`
/// (a subject set and its members) or `leaf` (a subject, or a set whose
/// members were cut off by the depth).
#[derive(Debug, Clone, Deserialize)]
pub struct Tree {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub children: Vec<Tree>,
    /// Only the subject is filled in.
    #[serde(default)]
    pub tuple: Option<TreeTuple>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TreeTuple {
    #[serde(flatten)]
    pub subject: Option<Subject>,
}

impl Tree {
    /// The subject ids at the leaves, depth first.
    pub fn subject_ids(&self) -> Vec<&str> {
        let mut ids = Vec::new();
        self.walk(&mut |node| {
            if let Some(TreeTuple {
                subject: Some(Subject::Id(id)),
            }) = &node.tuple
            {
                ids.push(id.as_str());
            }
        });
        ids
    }

    /// How many levels the tree has (a lone leaf: 1).
    pub fn depth(&self) -> usize {
        1 + self.children.iter().map(Tree::depth).max().unwrap_or(0)
    }

    fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Tree)) {
        visit(self);
        for child in &self.children {
            child.walk(visit);
        }
    }
}

/// An error `POST /opl/syntax/check` finds in a permission model.
#[derive(Debug, Clone, Deserialize)]
pub struct SyntaxError {
    pub message: String,
    pub start: Position,
    pub end: Position,
}

/// Where in the model; this version spells the line's key `Line`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Position {
    #[serde(alias = "Line")]
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}",
            self.start.line, self.start.column, self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notation_round_trips_and_bad_lines_are_named() {
        for text in [
            "Document:roadmap#viewers@alice",
            "Group:eng#members@Group:platform#members",
            "Document:roadmap#parents@Folder:plans",
        ] {
            let r: Relationship = text.parse().unwrap();
            assert_eq!(r.to_string(), text);
        }
        let set: Relationship = "Folder:a#parents@Folder:b".parse().unwrap();
        assert_eq!(
            serde_json::to_value(&set).unwrap(),
            serde_json::json!({"namespace":"Folder","object":"a","relation":"parents",
                "subject_set":{"namespace":"Folder","object":"b","relation":""}})
        );
        let id: Relationship = serde_json::from_str(
            r#"{"namespace":"N","object":"o","relation":"r","subject_id":"s"}"#,
        )
        .unwrap();
        assert_eq!(id, Relationship::new("N", "o", "r", "s"));

        let err = parse_relationships("// a comment\n\nA:b#c@d\nA:b@d\n").unwrap_err();
        assert!(err.starts_with("line 4:"), "{err}");
        assert!("A:b#@d".parse::<Relationship>().is_err());
        assert!("A:b#c@:x".parse::<Relationship>().is_err());
    }
}
