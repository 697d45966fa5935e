//! Identities against the schemas they name: which no longer validate and
//! why, what an edit of a schema in place takes from the identities
//! written under it, and the JSON Patch that would bring each back.

use std::collections::BTreeMap;

use harness::kratos::{Identity, Kratos};
use harness::{Error, NativeApp, Result};
use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::{Value, json};

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
    /// Anything else: the value at `at` and what is wrong with it.
    Invalid { at: String, message: String },
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
            Self::Invalid { at, message } => write!(f, "{at}: {message}"),
        }
    }
}

fn join(at: &str, property: &str) -> String {
    format!("{at}/{property}")
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
/// it, saying why.
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
            Some(Err(why)) => vec![Problem::Invalid {
                at: String::new(),
                message: format!("the schema does not compile: {why}"),
            }],
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
        _ => vec![Problem::Invalid {
            at,
            message: error.to_string(),
        }],
    }
}

/// What Kratos reads from a trait's `ory.sh/kratos` extension: it logs
/// in with it, verifies it, recovers by it.
const ROLES: [(&str, &str); 3] = [
    ("/credentials/password/identifier", "a password identifier"),
    ("/verification/via", "verified"),
    ("/recovery/via", "a recovery address"),
];

/// What an edit of a schema in place takes from the identities written
/// under it: each trait that was a password identifier, verified, or a
/// recovery address and no longer is (Kratos recomputes those at an
/// identity's next update). Empty when the schema kept every role.
pub fn lost_roles(old: &Value, new: &Value) -> Vec<String> {
    let mut before = BTreeMap::new();
    roles(old.pointer("/properties/traits"), "traits", &mut before);
    let mut after = BTreeMap::new();
    roles(new.pointer("/properties/traits"), "traits", &mut after);
    before
        .into_iter()
        .filter(|(key, _)| !after.contains_key(key))
        .map(|((path, role), via)| format!("{path} is no longer {role}{via}"))
        .collect()
}

fn roles(node: Option<&Value>, path: &str, into: &mut BTreeMap<(String, &'static str), String>) {
    let Some(properties) = node
        .and_then(|n| n.get("properties"))
        .and_then(Value::as_object)
    else {
        return;
    };
    for (name, property) in properties {
        let here = format!("{path}.{name}");
        if let Some(extension) = property.get("ory.sh/kratos") {
            for (pointer, role) in ROLES {
                match extension.pointer(pointer) {
                    None | Some(Value::Bool(false) | Value::Null) => {}
                    Some(Value::String(via)) => {
                        into.insert((here.clone(), role), format!(" (via {via})"));
                    }
                    Some(_) => {
                        into.insert((here.clone(), role), String::new());
                    }
                }
            }
        }
        roles(Some(property), &here, into);
    }
}

/// The JSON Patch (RFC 6902) for one identity, and what a person must
/// still decide in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fix {
    pub identity: String,
    pub schema_id: String,
    /// `PATCH /admin/identities/{identity}` takes these operations.
    pub patch: Vec<Value>,
    /// Each operation whose value is a placeholder, and what to put there.
    pub todo: Vec<String>,
}

/// The patch for an identity's problems: a missing trait and an
/// unexpected one of the same object whose value the schema would
/// accept in its place are a rename, patched as the value added under
/// the new name and the old name removed (Kratos' `PATCH` refuses
/// `move`: it takes add, remove and replace); a missing trait gets the
/// schema's `default` or a placeholder to fill in; an unexpected one is
/// removed. `None` for problems no
/// patch of traits fixes (a schema that is gone: set `schema_id`).
pub fn fix(invalid: &Invalid, identity: &Identity, schema: Option<&Value>) -> Option<Fix> {
    let schema = schema?;
    let mut patch = Vec::new();
    let mut todo = Vec::new();
    let mut moved_from = Vec::new();
    for problem in &invalid.problems {
        let Problem::Missing { at, property } = problem else {
            continue;
        };
        let target = join(at, property);
        let property_schema = property_schema(schema, &target);
        let value_fits = |value: &Value| {
            property_schema.as_ref().is_none_or(|s| {
                jsonschema::options()
                    .should_validate_formats(true)
                    .build(s)
                    .is_ok_and(|v| v.is_valid(value))
            })
        };
        // A renamed trait: an unexpected one beside it whose value fits.
        let renamed = invalid.problems.iter().find_map(|p| match p {
            Problem::Unexpected {
                at: a,
                property: from,
            } if a == at && !moved_from.contains(from) => {
                let value = identity_value(identity, &join(a, from))?;
                value_fits(value).then(|| (from.clone(), value.clone()))
            }
            _ => None,
        });
        if let Some((from, value)) = renamed {
            moved_from.push(from);
            patch.push(json!({"op": "add", "path": target, "value": value}));
            continue;
        }
        if let Some(default) = property_schema.as_ref().and_then(|s| s.get("default")) {
            patch.push(json!({"op": "add", "path": target, "value": default}));
        } else {
            let kind = property_schema
                .as_ref()
                .and_then(|s| s.get("type"))
                .map_or_else(|| "any".to_owned(), ToString::to_string);
            patch.push(json!({"op": "add", "path": target, "value": null}));
            todo.push(format!(
                "{target}: a value of type {kind} for this person (the schema has no default)"
            ));
        }
    }
    for problem in &invalid.problems {
        match problem {
            Problem::Unexpected { at, property } => {
                patch.push(json!({"op": "remove", "path": join(at, property)}));
            }
            Problem::Invalid { at, message } => {
                let value = identity_value(identity, at).cloned().unwrap_or(Value::Null);
                patch.push(json!({"op": "replace", "path": at, "value": value}));
                todo.push(format!(
                    "{at}: {message}; the value shown is the current one"
                ));
            }
            _ => {}
        }
    }
    Some(Fix {
        identity: invalid.identity.clone(),
        schema_id: invalid.schema_id.clone(),
        patch,
        todo,
    })
}

/// The value at a JSON pointer into the identity's document.
fn identity_value<'a>(identity: &'a Identity, pointer: &str) -> Option<&'a Value> {
    let inner = pointer.strip_prefix("/traits")?;
    if inner.is_empty() {
        Some(&identity.traits)
    } else {
        identity.traits.pointer(inner)
    }
}

/// The subschema that describes the instance at `pointer` (object
/// properties only, as identity traits are).
fn property_schema(schema: &Value, pointer: &str) -> Option<Value> {
    let mut node = schema;
    for segment in pointer.split('/').skip(1) {
        node = node.get("properties")?.get(segment)?;
    }
    Some(node.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(id: &str, schema_id: &str, traits: &Value) -> Identity {
        serde_json::from_value(json!({"id": id, "schema_id": schema_id, "traits": traits}))
            .expect("an identity")
    }

    fn person(required: &[&str], extra: &Value) -> Value {
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

    #[test]
    fn a_required_trait_added_names_every_identity_without_it() {
        let schemas = Schemas::from([(
            "person".into(),
            person(&["email", "phone"], &json!({"phone": {"type": "string"}})),
        )]);
        let people = [
            identity("a", "person", &json!({"email": "a@orygate.test"})),
            identity(
                "b",
                "person",
                &json!({"email": "b@orygate.test", "phone": "+4915100000001"}),
            ),
        ];
        let invalid = validate(&people, &schemas);
        assert_eq!(invalid.len(), 1, "{invalid:?}");
        assert_eq!(invalid[0].identity, "a");
        assert_eq!(
            invalid[0].problems,
            [Problem::Missing {
                at: "/traits".into(),
                property: "phone".into()
            }]
        );
        let fix = fix(&invalid[0], &people[0], schemas.get("person")).expect("a fix");
        assert_eq!(
            fix.patch,
            [json!({"op": "add", "path": "/traits/phone", "value": null})]
        );
        assert_eq!(fix.todo.len(), 1, "{fix:?}");
    }

    #[test]
    fn a_renamed_trait_keeps_its_value_and_a_default_is_used() {
        let new = json!({"type": "object", "properties": {"traits": {"type": "object",
            "properties": {"mail": {"type": "string", "format": "email"},
                           "plan": {"type": "string", "default": "free"}},
            "required": ["mail", "plan"], "additionalProperties": false}}});
        let schemas = Schemas::from([("person".into(), new)]);
        let old = identity("a", "person", &json!({"email": "a@orygate.test"}));
        let invalid = validate(std::slice::from_ref(&old), &schemas);
        let fix = fix(&invalid[0], &old, schemas.get("person")).expect("a fix");
        assert!(fix.todo.is_empty(), "{fix:?}");
        assert!(
            fix.patch
                .contains(&json!({"op": "add", "path": "/traits/mail", "value": "a@orygate.test"})),
            "{fix:?}"
        );
        assert!(
            fix.patch
                .contains(&json!({"op": "add", "path": "/traits/plan", "value": "free"})),
            "{fix:?}"
        );
        assert!(
            fix.patch
                .contains(&json!({"op": "remove", "path": "/traits/email"})),
            "{fix:?}"
        );
        assert_eq!(fix.patch.len(), 3, "{fix:?}");
    }

    #[test]
    fn an_unexpected_trait_whose_value_does_not_fit_is_removed_not_moved() {
        let new = json!({"type": "object", "properties": {"traits": {"type": "object",
            "properties": {"age": {"type": "integer"}},
            "required": ["age"], "additionalProperties": false}}});
        let schemas = Schemas::from([("p".into(), new)]);
        let old = identity("a", "p", &json!({"nickname": "ann"}));
        let invalid = validate(std::slice::from_ref(&old), &schemas);
        let fix = fix(&invalid[0], &old, schemas.get("p")).expect("a fix");
        assert_eq!(
            fix.patch,
            [
                json!({"op": "add", "path": "/traits/age", "value": null}),
                json!({"op": "remove", "path": "/traits/nickname"}),
            ]
        );
    }

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
    fn roles_lost_in_an_edit_are_named_and_kept_ones_are_not() {
        let old = person(&["email"], &json!({}));
        assert!(lost_roles(&old, &old).is_empty());
        let mut new = old.clone();
        new["properties"]["traits"]["properties"]["email"]["ory.sh/kratos"]
            .as_object_mut()
            .expect("the extension")
            .remove("verification");
        assert_eq!(
            lost_roles(&old, &new),
            ["traits.email is no longer verified (via email)"]
        );
        let renamed = json!({"properties": {"traits": {"properties": {"mail":
            old["properties"]["traits"]["properties"]["email"].clone()}}}});
        assert_eq!(
            lost_roles(&old, &renamed).len(),
            3,
            "{:?}",
            lost_roles(&old, &renamed)
        );
    }
}
