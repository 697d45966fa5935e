//! Identities against the schemas they name: which no longer validate and
//! why ([`validate`]), what an edit of a schema in place takes from the
//! identities written under it ([`lost_roles`]), and the JSON Patch that
//! would bring each back ([`fix`]).

use std::collections::BTreeMap;

use harness::kratos::{Identity, Kratos};
use harness::{Error, NativeApp, Result};
use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::{Value, json};

mod fix;
mod roles;

pub use fix::{Fix, fix};
pub use roles::lost_roles;

/// The identity schemas a Kratos serves, by id.
pub type Schemas = BTreeMap<String, Value>;

/// `GET /schemas?per_page=1000`: the schemas as Kratos serves them (the
/// files it read, whatever their URLs), by id. A config with more than a
/// thousand schemas is refused rather than half read.
pub async fn served(app: &NativeApp, kratos: &Kratos) -> Result<Schemas> {
    #[derive(serde::Deserialize)]
    struct Entry {
        id: String,
        schema: Value,
    }
    const MAX: usize = 1000;
    let mut url = kratos.public("schemas");
    url.query_pairs_mut()
        .append_pair("per_page", &MAX.to_string());
    let entries: Vec<Entry> = harness::transport::get_json(app, "kratos", url).await?;
    if entries.len() >= MAX {
        return Err(Error::unexpected(
            "kratos GET /schemas",
            format!("{MAX} identity schemas or more: not all read"),
        ));
    }
    Ok(entries.into_iter().map(|e| (e.id, e.schema)).collect())
}

/// One way an identity fails its schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A required trait is missing: `at` is the object (a JSON pointer)
    /// and `property` the name.
    Missing { at: String, property: String },
    /// A trait the schema does not allow.
    Unexpected { at: String, property: String },
    /// The identity names a schema Kratos no longer has.
    NoSchema { schema_id: String },
    /// The schema it names does not compile, so nothing about the
    /// identity can be said.
    BrokenSchema { schema_id: String, message: String },
    /// The schema it names refers to another document (`reference`, an
    /// `https://`, `file://` or `base64://` URL Kratos loads), which is
    /// not fetched here: the identity is not judged.
    Unjudged {
        schema_id: String,
        reference: String,
    },
    /// A value with letters beyond ASCII that the `format` the schema
    /// names (an address or a host name) refuses here: where this
    /// validator's format checks and Kratos' differ (internationalised
    /// addresses), so it is told apart from [`Problem::Invalid`]. Any
    /// other value a format refuses is [`Problem::Invalid`].
    Format {
        at: String,
        format: String,
        message: String,
    },
    /// Anything else: the value at `at` and what is wrong with it.
    Invalid { at: String, message: String },
}

impl Problem {
    /// Whether it is the schema's (gone, broken, not fetched) rather
    /// than the identity's: no patch of the identity fixes it.
    pub fn of_the_schema(&self) -> bool {
        matches!(
            self,
            Self::NoSchema { .. } | Self::BrokenSchema { .. } | Self::Unjudged { .. }
        )
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { at, property } => {
                write!(f, "{}: required, missing", join(at, property))
            }
            Self::Unexpected { at, property } => {
                write!(f, "{}: not allowed by the schema", join(at, property))
            }
            Self::NoSchema { schema_id } => write!(f, "names schema {schema_id:?}, which is gone"),
            Self::BrokenSchema { schema_id, message } => {
                write!(f, "schema {schema_id:?} does not compile: {message}")
            }
            Self::Unjudged {
                schema_id,
                reference,
            } => write!(
                f,
                "schema {schema_id:?} refers to {reference}, not fetched here: not judged"
            ),
            Self::Format { at, message, .. } | Self::Invalid { at, message } => {
                write!(f, "{at}: {message}")
            }
        }
    }
}

/// The JSON pointer of `property` in the object at `at` (RFC 6901
/// escapes).
pub(super) fn join(at: &str, property: &str) -> String {
    format!("{at}/{}", property.replace('~', "~0").replace('/', "~1"))
}

/// An identity that does not validate against the schema it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invalid {
    pub identity: String,
    pub schema_id: String,
    pub problems: Vec<Problem>,
}

/// Every identity checked against the schema it names (its whole
/// document, `{"traits": ...}`, as Kratos validates it, formats
/// included). A schema that does not compile fails every identity naming
/// it, saying why, unless it refers to another document: nothing is
/// fetched, and its identities are [`Problem::Unjudged`].
pub fn validate(identities: &[Identity], schemas: &Schemas) -> Vec<Invalid> {
    let mut validators = BTreeMap::new();
    let mut invalid = Vec::new();
    for identity in identities {
        let validator = validators
            .entry(identity.schema_id.clone())
            .or_insert_with(|| {
                schemas.get(&identity.schema_id).map(|schema| {
                    jsonschema::options()
                        .should_validate_formats(true)
                        .build(schema)
                        .map_err(|e| e.to_string())
                })
            });
        let problems = match validator {
            None => vec![Problem::NoSchema {
                schema_id: identity.schema_id.clone(),
            }],
            Some(Err(why)) => {
                let schema = &schemas[&identity.schema_id];
                vec![match outside_reference(schema) {
                    Some(reference) => Problem::Unjudged {
                        schema_id: identity.schema_id.clone(),
                        reference,
                    },
                    None => Problem::BrokenSchema {
                        schema_id: identity.schema_id.clone(),
                        message: why.clone(),
                    },
                }]
            }
            Some(Ok(validator)) => {
                let document = json!({ "traits": identity.traits });
                validator
                    .iter_errors(&document)
                    .flat_map(|e| problems(&e))
                    .collect()
            }
        };
        if !problems.is_empty() {
            invalid.push(Invalid {
                identity: identity.id.clone(),
                schema_id: identity.schema_id.clone(),
                problems,
            });
        }
    }
    invalid
}

/// The first document outside `schema` it refers to, when it compiles
/// once every such document is taken to allow anything: a schema that
/// is only missing what it refers to, not a broken one.
fn outside_reference(schema: &Value) -> Option<String> {
    /// Every document asked for allows anything; the first is kept.
    struct Anything(std::sync::Arc<std::sync::Mutex<Option<String>>>);
    impl jsonschema::Retrieve for Anything {
        fn retrieve(
            &self,
            uri: &jsonschema::Uri<String>,
        ) -> std::result::Result<Value, Box<dyn std::error::Error + Send + Sync>> {
            if let Ok(mut first) = self.0.lock() {
                first.get_or_insert_with(|| uri.as_str().to_owned());
            }
            Ok(Value::Bool(true))
        }
    }
    let asked = std::sync::Arc::new(std::sync::Mutex::new(None));
    jsonschema::options()
        .with_retriever(Anything(std::sync::Arc::clone(&asked)))
        .build(schema)
        .ok()?;
    asked.lock().ok()?.clone()
}

fn problems(error: &jsonschema::ValidationError<'_>) -> Vec<Problem> {
    let at = error.instance_path().to_string();
    match error.kind() {
        ValidationErrorKind::Required { property } => vec![Problem::Missing {
            at,
            property: property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned),
        }],
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|property| Problem::Unexpected {
                at: at.clone(),
                property: property.clone(),
            })
            .collect(),
        ValidationErrorKind::Format { format }
            if matches!(
                format.as_str(),
                "email" | "idn-email" | "hostname" | "idn-hostname"
            ) && error.instance().as_str().is_some_and(|v| !v.is_ascii()) =>
        {
            vec![Problem::Format {
                at,
                format: format.clone(),
                message: error.to_string(),
            }]
        }
        _ => vec![Problem::Invalid {
            at,
            message: error.to_string(),
        }],
    }
}

/// People and schemas the tests of this module and its parts share.
#[cfg(test)]
pub(super) mod testing {
    use harness::kratos::Identity;
    use serde_json::{Value, json};

    pub fn identity(id: &str, schema_id: &str, traits: &Value) -> Identity {
        serde_json::from_value(json!({"id": id, "schema_id": schema_id, "traits": traits}))
            .expect("an identity")
    }

    /// A `person` schema: `email` (an identifier, verified, for recovery),
    /// `name`, and `extra`'s properties; `required` as given.
    pub fn person(required: &[&str], extra: &Value) -> Value {
        let mut properties = json!({
            "email": {"type": "string", "format": "email",
                "ory.sh/kratos": {"credentials": {"password": {"identifier": true}},
                                  "verification": {"via": "email"}, "recovery": {"via": "email"}}},
            "name": {"type": "string"}
        });
        if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        json!({"type": "object", "properties": {"traits": {
            "type": "object", "properties": properties, "required": required,
            "additionalProperties": false}}})
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{identity, person};
    use super::*;

    #[test]
    fn a_schema_that_is_gone_and_a_bad_format_are_named() {
        let schemas = Schemas::from([("person".into(), person(&["email"], &json!({})))]);
        let invalid = validate(
            &[
                identity("a", "customer", &json!({"email": "a@orygate.test"})),
                identity("b", "person", &json!({"email": "not an address"})),
                identity(
                    "c",
                    "person",
                    &json!({"email": "c@orygate.test", "name": "C"}),
                ),
            ],
            &schemas,
        );
        assert_eq!(invalid.len(), 2, "{invalid:?}");
        assert_eq!(
            invalid[0].problems,
            [Problem::NoSchema {
                schema_id: "customer".into()
            }]
        );
        assert!(
            matches!(&invalid[1].problems[..], [Problem::Invalid { at, .. }] if at == "/traits/email"),
            "{invalid:?}"
        );
    }

    #[test]
    fn a_schema_that_refers_elsewhere_is_not_judged_and_a_broken_one_fails() {
        let remote = json!({"type": "object", "properties": {"traits": {
            "$ref": "https://schemas.orygate.test/person.json"}}});
        // Broken, with a `$ref` that is data (an example), not a reference.
        let broken = json!({"type": "object", "properties": {"traits": {"type": 7,
            "examples": [{"$ref": "https://schemas.orygate.test/x.json"}]}}});
        let schemas = Schemas::from([("remote".into(), remote), ("broken".into(), broken)]);
        let invalid = validate(
            &[
                identity("a", "remote", &json!({"email": "a@orygate.test"})),
                identity("b", "broken", &json!({"email": "b@orygate.test"})),
            ],
            &schemas,
        );
        assert_eq!(
            invalid[0].problems,
            [Problem::Unjudged {
                schema_id: "remote".into(),
                reference: "https://schemas.orygate.test/person.json".into()
            }]
        );
        assert!(
            matches!(&invalid[1].problems[..], [Problem::BrokenSchema { schema_id, .. }] if schema_id == "broken"),
            "{invalid:?}"
        );
    }
}
