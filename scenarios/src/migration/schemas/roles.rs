//! What Kratos reads from each trait of a schema (its `ory.sh/kratos`
//! extension), and which of it an edit in place takes away.

use std::collections::BTreeMap;

use serde_json::Value;

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
pub(super) fn property<'a>(
    root: &'a Value,
    node: &'a Value,
    name: &str,
    depth: usize,
) -> Option<&'a Value> {
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

#[cfg(test)]
mod tests {
    use super::super::testing::person;
    use super::*;
    use serde_json::json;

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
}
