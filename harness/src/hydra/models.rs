//! The JSON of Hydra's admin and OAuth2 APIs that orygate reads and sends.

use serde::{Deserialize, Serialize};

/// An OAuth2 client as the admin API takes and returns it (the fields
/// orygate sets or reads).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OAuth2Client {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_name: String,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub response_types: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: String,
    /// `jwt` or `opaque`, over the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_strategy: Option<String>,
    /// Every other field (token lifespans, `skip_consent`, metadata, ...):
    /// kept as given, so that a client file registers as written.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `{redirect_to}`: where the browser goes after an accepted challenge.
#[derive(Debug, Clone, Deserialize)]
pub struct Redirect {
    pub redirect_to: String,
}

/// A login request Hydra hands to the login provider.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginRequest {
    pub challenge: String,
    /// Hydra remembers the user: the provider must accept without asking.
    #[serde(default)]
    pub skip: bool,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub requested_scope: Vec<String>,
    pub client: OAuth2Client,
    #[serde(default)]
    pub request_url: String,
}

/// What the login provider says of the user (`PUT
/// /admin/oauth2/auth/requests/login/accept`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AcceptLogin {
    pub subject: String,
    pub remember: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remember_for: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// A consent request Hydra hands to the consent app.
#[derive(Debug, Clone, Deserialize)]
pub struct ConsentRequest {
    pub challenge: String,
    #[serde(default)]
    pub skip: bool,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub requested_scope: Vec<String>,
    #[serde(default)]
    pub requested_access_token_audience: Vec<String>,
    pub client: OAuth2Client,
}

/// What the user granted (`PUT /admin/oauth2/auth/requests/consent/accept`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AcceptConsent {
    pub grant_scope: Vec<String>,
    pub grant_access_token_audience: Vec<String>,
    pub remember: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remember_for: Option<u64>,
    pub session: ConsentSession,
}

/// Claims added to the tokens Hydra issues.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConsentSession {
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub id_token: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub access_token: serde_json::Map<String, serde_json::Value>,
}

/// The token endpoint's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default)]
    pub token_type: String,
    #[serde(default)]
    pub expires_in: u64,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
}

/// `POST /admin/oauth2/introspect`.
#[derive(Debug, Clone, Deserialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub aud: Vec<String>,
    #[serde(default)]
    pub token_use: Option<String>,
    #[serde(default)]
    pub ext: Option<serde_json::Value>,
}

/// The parts of `/.well-known/openid-configuration` a client relies on.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: String,
    #[serde(default)]
    pub revocation_endpoint: String,
    #[serde(default)]
    pub end_session_endpoint: String,
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub subject_types_supported: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}
