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
    /// The schema it names does not compile, so nothing about the
    /// identity can be said.
    BrokenSchema { schema_id: String, message: String },
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
            Self::BrokenSchema { schema_id, message } => {
                write!(f, "schema {schema_id:?} does not compile: {message}")
            }
            Self::Invalid { at, message } => write!(f, "{at}: {message}"),
        }
    }
}

/// The JSON pointer of `property` in the object at `at` (RFC 6901
/// escapes).
fn join(at: &str, property: &str) -> String {
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
            Some(Err(why)) => vec![Problem::BrokenSchema {
                schema_id: identity.schema_id.clone(),
                message: why.clone(),
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

/// What Kratos reads from a trait's `ory.sh/kratos` extension (Kratos
/// v1.3's `schema.ExtensionConfig`): where the role is set, where its
/// channel is (`via`), and what it makes the trait.
const ROLES: [(&str, Option<&str>, &str); 7] = [
    (
        "/credentials/password/identifier",
        None,
        "a password identifier",
    ),
    (
        "/credentials/webauthn/identifier",
        None,
        "a WebAuthn identifier",
    ),
    (
        "/credentials/passkey/display_name",
        None,
        "a passkey display name",
    ),
    (
        "/credentials/totp/account_name",
        None,
        "the TOTP account name",
    ),
    (
        "/credentials/code/identifier",
        Some("/credentials/code/via"),
        "a one-time-code identifier",
    ),
    ("/verification/via", Some("/verification/via"), "verified"),
    ("/recovery/via", Some("/recovery/via"), "a recovery address"),
];

/// What an edit of a schema in place takes from the identities written
/// under it: each trait that had a role (an identifier of a credential,
/// verified, a recovery address) and no longer has it, or has it through
/// another channel (Kratos recomputes those at an identity's next
/// update). Empty when the schema kept every role.
pub fn lost_roles(old: &Value, new: &Value) -> Vec<String> {
    let read = |schema: &Value| {
        let mut found = BTreeMap::new();
        let traits = property(schema, schema, "traits", 0).cloned();
        let mut budget = NODES;
        roles(
            schema,
            traits.as_ref(),
            "traits",
            &mut found,
            0,
            &mut budget,
        );
        found
    };
    let (before, after) = (read(old), read(new));
    before
        .into_iter()
        .filter_map(
            |((path, role), via)| match (after.get(&(path.clone(), role)), &via) {
                (None, Some(v)) => Some(format!("{path} is no longer {role} via {v}")),
                (None, None) => Some(format!("{path} is no longer {role}")),
                // A channel set on one side only is Kratos' default made
                // explicit or left implicit: the same role.
                (Some(Some(now)), Some(was)) if now != was => {
                    Some(format!("{path} is {role} via {now} instead of via {was}"))
                }
                (Some(_), _) => None,
            },
        )
        .collect()
}

/// How many schema nodes one reading of roles may visit: a schema whose
/// `$ref`s branch back into themselves ends there instead of never.
const NODES: usize = 10_000;

/// How deep `$ref`s and nested schemas are followed (a cycle stops here).
const DEPTH: usize = 32;

/// `node` with its local `$ref`s (`#/...`) followed.
fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..DEPTH {
        match node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| root.pointer(pointer))
        {
            Some(target) => node = target,
            None => break,
        }
    }
    node
}

/// The subschema of property `name` of the object `node` describes,
/// through `$ref`s and `allOf`/`anyOf`/`oneOf` (at most [`DEPTH`] deep).
fn property<'a>(root: &'a Value, node: &'a Value, name: &str, depth: usize) -> Option<&'a Value> {
    if depth > DEPTH {
        return None;
    }
    let node = resolve(root, node);
    node.get("properties")
        .and_then(|p| p.get(name))
        .map(|p| resolve(root, p))
        .or_else(|| {
            ["allOf", "anyOf", "oneOf"]
                .iter()
                .filter_map(|k| node.get(*k).and_then(Value::as_array))
                .flatten()
                .find_map(|branch| property(root, branch, name, depth + 1))
        })
}

/// Every role of the traits under `node` (at `path`), by trait path and
/// role, with its channel: through properties, array `items`, local
/// `$ref`s and `allOf`/`anyOf`/`oneOf`, as Kratos reads them.
fn roles(
    root: &Value,
    node: Option<&Value>,
    path: &str,
    into: &mut BTreeMap<(String, &'static str), Option<String>>,
    depth: usize,
    budget: &mut usize,
) {
    let Some(node) = node.map(|n| resolve(root, n)) else {
        return;
    };
    if depth > DEPTH || *budget == 0 {
        return;
    }
    *budget -= 1;
    if let Some(extension) = node.get("ory.sh/kratos") {
        for (pointer, via, role) in ROLES {
            let set = match extension.pointer(pointer) {
                None | Some(Value::Bool(false) | Value::Null) => false,
                Some(Value::String(s)) => !s.is_empty(),
                Some(_) => true,
            };
            if set {
                let via = via
                    .and_then(|v| extension.pointer(v))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                into.insert((path.to_owned(), role), via);
            }
        }
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let here = format!("{path}.{name}");
            roles(root, Some(property), &here, into, depth + 1, budget);
        }
    }
    match node.get("items") {
        Some(Value::Array(items)) => {
            for item in items {
                roles(
                    root,
                    Some(item),
                    &format!("{path}[]"),
                    into,
                    depth + 1,
                    budget,
                );
            }
        }
        Some(items) => {
            roles(
                root,
                Some(items),
                &format!("{path}[]"),
                into,
                depth + 1,
                budget,
            );
        }
        None => {}
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for branch in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            roles(root, Some(branch), path, into, depth + 1, budget);
        }
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

/// The patch for an identity's problems: a missing trait and the one
/// unexpected trait of the same object whose value the schema accepts in
/// its place are a rename, patched as the value added under the new name
/// and the old name removed (Kratos' `PATCH` refuses `move`: it takes
/// add, remove and replace); when several unexpected traits would fit,
/// which one was renamed is a person's call, said in `todo`. A missing
/// trait otherwise gets the schema's `default` or a placeholder to fill
/// in; an unexpected one is removed; a value the schema refuses is shown
/// to be replaced. Whether a value fits is asked of the whole schema (its
/// `$ref`s and combinators included), never assumed. `None` for problems
/// no patch of traits fixes: a schema that is gone (set `schema_id`) or
/// does not compile.
///
/// `validator` is `schema` compiled, when the caller has it (one per
/// schema for a whole population); otherwise it is compiled here.
pub fn fix(
    invalid: &Invalid,
    identity: &Identity,
    schema: Option<&Value>,
    validator: Option<&jsonschema::Validator>,
) -> Option<Fix> {
    let schema = schema?;
    if invalid
        .problems
        .iter()
        .any(|p| matches!(p, Problem::NoSchema { .. } | Problem::BrokenSchema { .. }))
    {
        return None;
    }
    let compiled;
    let validator = if let Some(v) = validator {
        v
    } else {
        compiled = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .ok()?;
        &compiled
    };
    let document = json!({ "traits": identity.traits });
    let errors = |doc: &Value| -> Vec<(String, String)> {
        validator
            .iter_errors(doc)
            .map(|e| (e.instance_path().to_string(), e.to_string()))
            .collect()
    };
    let before = errors(&document);
    // Whether `value` at `target` raises no error there nor a new one
    // above it (an `anyOf` of the object is reported at the object).
    let fits = |target: &str, value: &Value| {
        let mut trial = document.clone();
        add_at(&mut trial, target, value.clone())
            && errors(&trial).iter().all(|(at, said)| {
                !under(at, target)
                    && (!under(target, at) || before.iter().any(|(b, w)| b == at && w == said))
            })
    };
    // Each missing trait and the unexpected siblings whose value fits in
    // its place.
    let missing: Vec<Missing<'_>> = invalid
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::Missing { at, property } => Some((at.as_str(), join(at, property))),
            _ => None,
        })
        .map(|(at, target)| {
            let candidates = invalid
                .problems
                .iter()
                .filter_map(|p| match p {
                    Problem::Unexpected {
                        at: a,
                        property: from,
                    } if a == at => {
                        let value = document.pointer(&join(a, from))?;
                        fits(&target, value).then(|| (from.clone(), value.clone()))
                    }
                    _ => None,
                })
                .collect();
            Missing {
                at,
                target,
                candidates,
            }
        })
        .collect();
    let renamed = pair_renames(&missing);
    let mut patch = Vec::new();
    let mut todo = Vec::new();
    for Missing {
        at,
        target,
        candidates,
    } in &missing
    {
        if let Some((_, value)) = renamed.get(target) {
            patch.push(json!({"op": "add", "path": target, "value": value}));
            continue;
        }
        let property_schema = property_schema(schema, target);
        let default = property_schema
            .and_then(|s| s.get("default"))
            .filter(|d| fits(target, d));
        if let Some(default) = default {
            patch.push(json!({"op": "add", "path": target, "value": default}));
            continue;
        }
        patch.push(json!({"op": "add", "path": target, "value": null}));
        let taken: Vec<&String> = renamed.values().map(|(from, _)| from).collect();
        let open: Vec<String> = candidates
            .iter()
            .filter(|(from, _)| !taken.contains(&from))
            .map(|(from, _)| join(at, from))
            .collect();
        todo.push(to_fill(target, &open, property_schema));
    }
    the_rest(invalid, &document, &mut patch, &mut todo);
    Some(Fix {
        identity: invalid.identity.clone(),
        schema_id: invalid.schema_id.clone(),
        patch,
        todo,
    })
}

/// What a person puts in place of the placeholder at `target`: the value
/// of one of the traits it may have been renamed from, or a value of the
/// type the schema asks for.
fn to_fill(target: &str, renamed_from: &[String], property_schema: Option<&Value>) -> String {
    if renamed_from.is_empty() {
        let kind = property_schema
            .and_then(|s| s.get("type"))
            .map_or_else(|| "any the schema accepts".to_owned(), ToString::to_string);
        format!("{target}: a value of type {kind} for this person (the schema has no default)")
    } else {
        format!(
            "{target}: the value of whichever of {} it was renamed from (each would fit)",
            renamed_from.join(", ")
        )
    }
}

/// A trait the schema requires and the identity lacks, and its unexpected
/// siblings whose value would fit in its place.
struct Missing<'a> {
    at: &'a str,
    target: String,
    candidates: Vec<(String, Value)>,
}

/// The renames that are certain: a missing trait with one candidate left.
/// Pairing one can leave another with one, so pairing goes on until
/// nothing changes; what the pairing took is not offered again.
fn pair_renames(missing: &[Missing<'_>]) -> BTreeMap<String, (String, Value)> {
    let mut renamed: BTreeMap<String, (String, Value)> = BTreeMap::new();
    loop {
        let taken: Vec<&String> = renamed.values().map(|(from, _)| from).collect();
        let next = missing.iter().find_map(|m| {
            if renamed.contains_key(&m.target) {
                return None;
            }
            let left: Vec<&(String, Value)> = m
                .candidates
                .iter()
                .filter(|(from, _)| !taken.contains(&from))
                .collect();
            match left[..] {
                [one] => Some((m.target.clone(), one.clone())),
                _ => None,
            }
        });
        match next {
            Some((target, pair)) => {
                renamed.insert(target, pair);
            }
            None => return renamed,
        }
    }
}

/// The unexpected traits removed, and the values the schema refuses shown
/// for a person to replace.
fn the_rest(invalid: &Invalid, document: &Value, patch: &mut Vec<Value>, todo: &mut Vec<String>) {
    for problem in &invalid.problems {
        match problem {
            Problem::Unexpected { at, property } => {
                patch.push(json!({"op": "remove", "path": join(at, property)}));
            }
            Problem::Invalid { at, message } if under(at, "/traits") && at != "/traits" => {
                let value = document.pointer(at).cloned().unwrap_or(Value::Null);
                patch.push(json!({"op": "replace", "path": at, "value": value}));
                todo.push(format!(
                    "{at}: {message}; the value shown is the current one"
                ));
            }
            Problem::Invalid { at, message } => {
                todo.push(format!("{at}: {message}; no single value to replace"));
            }
            _ => {}
        }
    }
}

/// Whether the JSON pointer `path` is `prefix` or below it.
fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Adds `value` at the JSON pointer `target` (whose parent must be an
/// object); false when it cannot.
fn add_at(document: &mut Value, target: &str, value: Value) -> bool {
    let Some((parent, name)) = target.rsplit_once('/') else {
        return false;
    };
    let name = name.replace("~1", "/").replace("~0", "~");
    match document.pointer_mut(parent).and_then(Value::as_object_mut) {
        Some(object) => {
            object.insert(name, value);
            true
        }
        None => false,
    }
}

/// The subschema that describes the instance at `pointer` (object
/// properties, through `$ref`s and combinators, as identity traits are).
fn property_schema<'a>(schema: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut node = schema;
    for segment in pointer.split('/').skip(1) {
        let name = segment.replace("~1", "/").replace("~0", "~");
        node = property(schema, node, &name, 0)?;
    }
    Some(node)
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
        let fix = fix(&invalid[0], &people[0], schemas.get("person"), None).expect("a fix");
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
        let fix = fix(&invalid[0], &old, schemas.get("person"), None).expect("a fix");
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
        let fix = fix(&invalid[0], &old, schemas.get("p"), None).expect("a fix");
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
            ["traits.email is no longer verified via email"]
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

    #[test]
    fn a_role_moved_to_another_channel_or_credential_is_named() {
        let old = person(&["email"], &json!({}));
        let mut new = old.clone();
        let email = &mut new["properties"]["traits"]["properties"]["email"]["ory.sh/kratos"];
        email["verification"]["via"] = "sms".into();
        email["credentials"]["code"] = json!({"identifier": true, "via": "email"});
        assert_eq!(
            lost_roles(&old, &new),
            ["traits.email is verified via sms instead of via email"]
        );
        // The other way round: the code identifier is what is lost.
        let lost = lost_roles(&new, &old);
        assert!(
            lost.contains(
                &"traits.email is no longer a one-time-code identifier via email".to_owned()
            ),
            "{lost:?}"
        );
        let mut passkey = old.clone();
        passkey["properties"]["traits"]["properties"]["email"]["ory.sh/kratos"]["credentials"]["webauthn"] =
            json!({"identifier": true});
        assert_eq!(
            lost_roles(&passkey, &old),
            ["traits.email is no longer a WebAuthn identifier"]
        );
    }

    #[test]
    fn two_traits_that_could_be_the_renamed_one_are_left_to_a_person() {
        let new = json!({"type": "object", "properties": {"traits": {"type": "object",
            "properties": {"mail": {"type": "string", "format": "email"}},
            "required": ["mail"], "additionalProperties": false}}});
        let schemas = Schemas::from([("p".into(), new)]);
        let old = identity(
            "a",
            "p",
            &json!({"email": "a@orygate.test", "backup": "b@orygate.test"}),
        );
        let invalid = validate(std::slice::from_ref(&old), &schemas);
        let fix = fix(&invalid[0], &old, schemas.get("p"), None).expect("a fix");
        assert_eq!(
            fix.patch,
            [
                json!({"op": "add", "path": "/traits/mail", "value": null}),
                json!({"op": "remove", "path": "/traits/backup"}),
                json!({"op": "remove", "path": "/traits/email"}),
            ]
        );
        assert_eq!(fix.todo.len(), 1, "{fix:?}");
        assert!(
            fix.todo[0].contains("/traits/backup, /traits/email"),
            "{fix:?}"
        );
    }

    #[test]
    fn whether_a_value_fits_is_asked_of_the_schema_through_its_refs() {
        let new = json!({"type": "object",
            "definitions": {"address": {"type": "string", "format": "email"}},
            "properties": {"traits": {"type": "object",
                "properties": {"mail": {"$ref": "#/definitions/address"}},
                "required": ["mail"], "additionalProperties": false}}});
        let schemas = Schemas::from([("p".into(), new)]);
        let fits = identity("a", "p", &json!({"email": "a@orygate.test"}));
        let invalid = validate(std::slice::from_ref(&fits), &schemas);
        let patch = fix(&invalid[0], &fits, schemas.get("p"), None)
            .expect("a fix")
            .patch;
        assert_eq!(
            patch[0],
            json!({"op": "add", "path": "/traits/mail", "value": "a@orygate.test"})
        );
        // Not an address: the `$ref`'s format refuses it, so no rename.
        let misfit = identity("b", "p", &json!({"email": "not an address"}));
        let invalid = validate(std::slice::from_ref(&misfit), &schemas);
        let patch = fix(&invalid[0], &misfit, schemas.get("p"), None)
            .expect("a fix")
            .patch;
        assert_eq!(
            patch[0],
            json!({"op": "add", "path": "/traits/mail", "value": null})
        );
    }

    #[test]
    fn a_schema_that_does_not_compile_gets_no_patch() {
        let broken = json!({"type": "object", "properties": {"traits": {"type": 12}}});
        let schemas = Schemas::from([("p".into(), broken)]);
        let someone = identity("a", "p", &json!({"email": "a@orygate.test"}));
        let invalid = validate(std::slice::from_ref(&someone), &schemas);
        assert!(
            matches!(&invalid[0].problems[..], [Problem::BrokenSchema { schema_id, .. }] if schema_id == "p"),
            "{invalid:?}"
        );
        assert_eq!(fix(&invalid[0], &someone, schemas.get("p"), None), None);
    }

    #[test]
    fn roles_are_read_through_items_refs_and_combinators() {
        let address = json!({"type": "string", "format": "email",
            "ory.sh/kratos": {"credentials": {"password": {"identifier": true}},
                              "recovery": {"via": "email"}}});
        let old = json!({"definitions": {"address": address},
            "properties": {"traits": {"allOf": [{"properties": {
                "emails": {"type": "array", "items": {"$ref": "#/definitions/address"}}}}]}}});
        let mut new = old.clone();
        new["definitions"]["address"]["ory.sh/kratos"]
            .as_object_mut()
            .expect("the extension")
            .remove("recovery");
        assert_eq!(
            lost_roles(&old, &new),
            ["traits.emails[] is no longer a recovery address via email"]
        );
        assert!(lost_roles(&old, &old).is_empty());
    }

    #[test]
    fn a_schema_whose_refs_branch_back_into_themselves_is_read_in_bounded_time() {
        let tree = json!({"definitions": {"node": {"type": "object", "properties": {
                "left": {"$ref": "#/definitions/node"},
                "right": {"$ref": "#/definitions/node"},
                "email": {"type": "string",
                    "ory.sh/kratos": {"recovery": {"via": "email"}}}}}},
            "properties": {"traits": {"$ref": "#/definitions/node"}}});
        let cyclic = json!({"definitions": {"a": {"allOf": [{"$ref": "#/definitions/b"}]},
                                            "b": {"anyOf": [{"$ref": "#/definitions/a"}]}},
            "properties": {"traits": {"$ref": "#/definitions/a"}}});
        // Without bounds the first would take 2^32 steps and the second
        // overflow the stack.
        assert!(lost_roles(&tree, &tree).is_empty());
        assert!(lost_roles(&cyclic, &cyclic).is_empty());
        let mut without = tree.clone();
        without["definitions"]["node"]["properties"]["email"]
            .as_object_mut()
            .expect("the trait")
            .remove("ory.sh/kratos");
        assert!(!lost_roles(&tree, &without).is_empty());
    }

    #[test]
    fn a_channel_made_explicit_is_the_same_role_and_a_changed_one_is_not() {
        let old = person(&["email"], &json!({}));
        let mut explicit = old.clone();
        explicit["properties"]["traits"]["properties"]["email"]["ory.sh/kratos"]["credentials"]["code"] =
            json!({"identifier": true});
        let mut with_via = explicit.clone();
        with_via["properties"]["traits"]["properties"]["email"]["ory.sh/kratos"]["credentials"]["code"]
            ["via"] = "email".into();
        assert!(lost_roles(&explicit, &with_via).is_empty());
        assert!(lost_roles(&with_via, &explicit).is_empty());
    }

    #[test]
    fn a_value_an_objects_any_of_refuses_does_not_fit() {
        // `mail` is declared, but the object's anyOf wants it to end in
        // @orygate.test: that error is reported at /traits, not below.
        let new = json!({"type": "object", "properties": {"traits": {"type": "object",
            "properties": {"mail": {"type": "string"}},
            "anyOf": [{"properties": {"mail": {"pattern": "@orygate\\.test$"}}}],
            "required": ["mail"], "additionalProperties": false}}});
        let schemas = Schemas::from([("p".into(), new)]);
        let old = identity("a", "p", &json!({"email": "a@elsewhere.test"}));
        let invalid = validate(std::slice::from_ref(&old), &schemas);
        let patch = fix(&invalid[0], &old, schemas.get("p"), None)
            .expect("a fix")
            .patch;
        assert_eq!(
            patch[0],
            json!({"op": "add", "path": "/traits/mail", "value": null})
        );
        let fits = identity("b", "p", &json!({"email": "b@orygate.test"}));
        let invalid = validate(std::slice::from_ref(&fits), &schemas);
        let patch = fix(&invalid[0], &fits, schemas.get("p"), None)
            .expect("a fix")
            .patch;
        assert_eq!(
            patch[0],
            json!({"op": "add", "path": "/traits/mail", "value": "b@orygate.test"})
        );
    }

    #[test]
    fn a_rename_that_is_certain_is_paired_whatever_the_order() {
        // `b` can only be `x`; so `a` is `y`, in either order.
        let new = json!({"type": "object", "properties": {"traits": {"type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string", "minLength": 3}},
            "required": ["a", "b"], "additionalProperties": false}}});
        let schemas = Schemas::from([("p".into(), new)]);
        let old = identity("a", "p", &json!({"x": "long", "y": "s"}));
        let invalid = validate(std::slice::from_ref(&old), &schemas);
        let fix = fix(&invalid[0], &old, schemas.get("p"), None).expect("a fix");
        assert!(fix.todo.is_empty(), "{fix:?}");
        assert!(
            fix.patch
                .contains(&json!({"op": "add", "path": "/traits/b", "value": "long"})),
            "{fix:?}"
        );
        assert!(
            fix.patch
                .contains(&json!({"op": "add", "path": "/traits/a", "value": "s"})),
            "{fix:?}"
        );
    }
}
