//! The JSON Patch that brings an identity back to the schema it names.

use std::collections::BTreeMap;

use harness::kratos::Identity;
use serde::Serialize;
use serde_json::{Value, json};

use super::roles::property;
use super::{Invalid, Problem, join};

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
    if invalid.problems.iter().any(Problem::of_the_schema) {
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
            Problem::Invalid { at, message } | Problem::Format { at, message, .. }
                if under(at, "/traits") && at != "/traits" =>
            {
                let value = document.pointer(at).cloned().unwrap_or(Value::Null);
                patch.push(json!({"op": "replace", "path": at, "value": value}));
                todo.push(format!(
                    "{at}: {message}; the value shown is the current one"
                ));
            }
            Problem::Invalid { at, message } | Problem::Format { at, message, .. } => {
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
    use super::super::testing::{identity, person};
    use super::super::{Schemas, validate};
    use super::*;

    /// The fix for someone with `traits` under `schema` (as schema `p`),
    /// who must not validate.
    fn fixed(schema: Value, traits: &Value) -> Option<Fix> {
        let schemas = Schemas::from([("p".into(), schema)]);
        let someone = identity("a", "p", traits);
        let invalid = validate(std::slice::from_ref(&someone), &schemas);
        assert_eq!(invalid.len(), 1, "{invalid:?}");
        fix(&invalid[0], &someone, schemas.get("p"), None)
    }

    /// A `traits` object schema of `properties`, all of `required` needed
    /// and nothing else allowed.
    fn traits(properties: &Value, required: &[&str]) -> Value {
        json!({"type": "object", "properties": {"traits": {"type": "object",
            "properties": properties, "required": required,
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
        let new = traits(
            &json!({"mail": {"type": "string", "format": "email"},
                    "plan": {"type": "string", "default": "free"}}),
            &["mail", "plan"],
        );
        let fix = fixed(new, &json!({"email": "a@orygate.test"})).expect("a fix");
        assert!(fix.todo.is_empty(), "{fix:?}");
        for op in [
            json!({"op": "add", "path": "/traits/mail", "value": "a@orygate.test"}),
            json!({"op": "add", "path": "/traits/plan", "value": "free"}),
            json!({"op": "remove", "path": "/traits/email"}),
        ] {
            assert!(fix.patch.contains(&op), "{op} in {fix:?}");
        }
        assert_eq!(fix.patch.len(), 3, "{fix:?}");
    }

    #[test]
    fn an_unexpected_trait_whose_value_does_not_fit_is_removed_not_moved() {
        let new = traits(&json!({"age": {"type": "integer"}}), &["age"]);
        let fix = fixed(new, &json!({"nickname": "ann"})).expect("a fix");
        assert_eq!(
            fix.patch,
            [
                json!({"op": "add", "path": "/traits/age", "value": null}),
                json!({"op": "remove", "path": "/traits/nickname"}),
            ]
        );
    }

    #[test]
    fn two_traits_that_could_be_the_renamed_one_are_left_to_a_person() {
        let new = traits(
            &json!({"mail": {"type": "string", "format": "email"}}),
            &["mail"],
        );
        let fix = fixed(
            new,
            &json!({"email": "a@orygate.test", "backup": "b@orygate.test"}),
        )
        .expect("a fix");
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
        let mut new = traits(
            &json!({"mail": {"$ref": "#/definitions/address"}}),
            &["mail"],
        );
        new["definitions"] = json!({"address": {"type": "string", "format": "email"}});
        let patch = fixed(new.clone(), &json!({"email": "a@orygate.test"}))
            .expect("a fix")
            .patch;
        assert_eq!(
            patch[0],
            json!({"op": "add", "path": "/traits/mail", "value": "a@orygate.test"})
        );
        // Not an address: the `$ref`'s format refuses it, so no rename.
        let patch = fixed(new, &json!({"email": "not an address"}))
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
    fn a_value_an_objects_any_of_refuses_does_not_fit() {
        // `mail` is declared, but the object's anyOf wants it to end in
        // @orygate.test: that error is reported at /traits, not below.
        let mut new = traits(&json!({"mail": {"type": "string"}}), &["mail"]);
        new["properties"]["traits"]["anyOf"] =
            json!([{"properties": {"mail": {"pattern": "@orygate\\.test$"}}}]);
        let patch = fixed(new.clone(), &json!({"email": "a@elsewhere.test"}))
            .expect("a fix")
            .patch;
        assert_eq!(
            patch[0],
            json!({"op": "add", "path": "/traits/mail", "value": null})
        );
        let patch = fixed(new, &json!({"email": "b@orygate.test"}))
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
        let new = traits(
            &json!({"a": {"type": "string"}, "b": {"type": "string", "minLength": 3}}),
            &["a", "b"],
        );
        let fix = fixed(new, &json!({"x": "long", "y": "s"})).expect("a fix");
        assert!(fix.todo.is_empty(), "{fix:?}");
        for op in [
            json!({"op": "add", "path": "/traits/b", "value": "long"}),
            json!({"op": "add", "path": "/traits/a", "value": "s"}),
        ] {
            assert!(fix.patch.contains(&op), "{op} in {fix:?}");
        }
    }
}
