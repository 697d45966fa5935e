//! Serde types for the parts of Kratos' JSON that orygate reads. Hand
//! written: unknown fields are ignored, so newer Kratos versions still parse.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A self-service flow: login, registration, verification, recovery or
/// settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Flow {
    pub id: String,
    /// `browser` or `api`.
    #[serde(rename = "type")]
    pub flow_type: String,
    pub expires_at: String,
    pub issued_at: String,
    pub request_url: String,
    #[serde(default)]
    pub return_to: Option<String>,
    /// Verification and recovery: `choose_method`, `sent_email`,
    /// `passed_challenge`. Login and registration: `choose_method`, ...
    #[serde(default)]
    pub state: Option<Value>,
    pub ui: Ui,
}

impl Flow {
    /// The anti-CSRF token from the form (empty for API flows).
    pub fn csrf_token(&self) -> Option<&str> {
        self.ui
            .nodes
            .iter()
            .find(|n| n.attributes.name.as_deref() == Some("csrf_token"))
            .and_then(|n| n.attributes.value.as_ref())
            .and_then(Value::as_str)
    }

    /// The input node named `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.ui
            .nodes
            .iter()
            .find(|n| n.attributes.name.as_deref() == Some(name))
    }

    /// The flow's state as a string (`passed_challenge`, ...).
    pub fn state_str(&self) -> Option<&str> {
        self.state.as_ref().and_then(Value::as_str)
    }

    /// Every message of the form and of its nodes, as (id, text).
    pub fn messages(&self) -> Vec<(i64, String)> {
        self.ui
            .messages
            .iter()
            .chain(self.ui.nodes.iter().flat_map(|n| n.messages.iter()))
            .map(|m| (m.id, m.text.clone()))
            .collect()
    }

    /// The error messages only.
    pub fn errors(&self) -> Vec<(i64, String)> {
        self.ui
            .messages
            .iter()
            .chain(self.ui.nodes.iter().flat_map(|n| n.messages.iter()))
            .filter(|m| m.message_type == "error")
            .map(|m| (m.id, m.text.clone()))
            .collect()
    }
}

/// The form Kratos asks the UI to render.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Ui {
    pub action: String,
    pub method: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub nodes: Vec<Node>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub messages: Vec<UiText>,
}

/// One form element.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Node {
    #[serde(rename = "type")]
    pub node_type: String,
    pub group: String,
    pub attributes: NodeAttributes,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub messages: Vec<UiText>,
    #[serde(default)]
    pub meta: Value,
}

/// A node's attributes, flattened over the node types (input, a, img, text,
/// script): the fields a type lacks are `None`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct NodeAttributes {
    pub node_type: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub input_type: Option<String>,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub autocomplete: Option<String>,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

/// A message on a form or node. Ids are stable: 4000006 is "invalid
/// credentials", 4000010 "address not verified", 1080002 "verified".
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UiText {
    pub id: i64,
    pub text: String,
    #[serde(rename = "type")]
    pub message_type: String,
    #[serde(default)]
    pub context: Option<Value>,
}

/// An authenticated session (`/sessions/whoami`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Session {
    pub id: String,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub authenticated_at: Option<String>,
    #[serde(default)]
    pub authenticator_assurance_level: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub authentication_methods: Vec<AuthenticationMethod>,
    pub identity: Option<Identity>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuthenticationMethod {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub aal: Option<String>,
}

/// An identity, as sessions and the admin API return it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Identity {
    pub id: String,
    pub schema_id: String,
    #[serde(default)]
    pub state: Option<String>,
    pub traits: Value,
    /// Kratos answers `null` for an identity whose schema marks no
    /// address.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub verifiable_addresses: Vec<VerifiableAddress>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub recovery_addresses: Vec<RecoveryAddress>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

impl Identity {
    /// The verifiable address with this value (case-insensitive).
    pub fn verifiable_address(&self, value: &str) -> Option<&VerifiableAddress> {
        self.verifiable_addresses
            .iter()
            .find(|a| a.value.eq_ignore_ascii_case(value))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VerifiableAddress {
    pub value: String,
    pub verified: bool,
    pub via: String,
    pub status: String,
    #[serde(default)]
    pub verified_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RecoveryAddress {
    pub value: String,
    pub via: String,
}

/// What to do after a flow (Kratos' `continue_with`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ContinueWith {
    pub action: String,
    #[serde(default)]
    pub flow: Option<ContinueWithFlow>,
    #[serde(default)]
    pub ory_session_token: Option<String>,
    #[serde(default)]
    pub redirect_browser_to: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ContinueWithFlow {
    pub id: String,
    #[serde(default)]
    pub verifiable_address: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// The answer to a completed API registration.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct NativeRegistration {
    pub identity: Identity,
    #[serde(default)]
    pub session: Option<Session>,
    #[serde(default)]
    pub session_token: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub continue_with: Vec<ContinueWith>,
}

impl NativeRegistration {
    /// The id of the verification flow Kratos started for the new address.
    pub fn verification_flow_id(&self) -> Option<&str> {
        self.continue_with
            .iter()
            .find(|c| c.action == "show_verification_ui")
            .and_then(|c| c.flow.as_ref())
            .map(|f| f.id.as_str())
    }
}

/// The answer to a completed API login.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct NativeLogin {
    pub session: Session,
    pub session_token: String,
}

/// The answer to `GET /self-service/logout/browser`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LogoutUrl {
    pub logout_url: String,
    pub logout_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_flow_with_mixed_node_types() {
        let flow: Flow = serde_json::from_value(serde_json::json!({
            "id": "f", "type": "browser", "expires_at": "t", "issued_at": "t",
            "request_url": "http://127.0.0.1/self-service/login/browser",
            "ui": {
                "action": "http://127.0.0.1/self-service/login?flow=f", "method": "POST",
                "messages": [{"id": 4000010, "text": "Account not active yet.", "type": "error"}],
                "nodes": [
                    {"type": "input", "group": "default", "meta": {}, "messages": [],
                     "attributes": {"node_type": "input", "name": "csrf_token", "type": "hidden", "value": "tok"}},
                    {"type": "a", "group": "default", "meta": {}, "messages": [],
                     "attributes": {"node_type": "a", "href": "http://x", "id": "link", "title": {"id": 1, "text": "t", "type": "info"}}},
                    {"type": "input", "group": "password", "meta": {},
                     "messages": [{"id": 4000006, "text": "bad", "type": "error"}, {"id": 1, "text": "hint", "type": "info"}],
                     "attributes": {"node_type": "input", "name": "password", "type": "password", "required": true}}
                ]
            }
        }))
        .unwrap();
        assert_eq!(flow.csrf_token(), Some("tok"));
        assert_eq!(
            flow.node("password").unwrap().attributes.required,
            Some(true)
        );
        assert_eq!(
            flow.errors(),
            vec![
                (4000010, "Account not active yet.".into()),
                (4000006, "bad".into())
            ]
        );
        assert_eq!(flow.messages().len(), 3);
    }
}
