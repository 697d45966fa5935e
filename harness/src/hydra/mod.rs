//! Ory Hydra: where its APIs are, the admin calls of a login and consent
//! app, and the OAuth2 calls of a client, each a named step through the
//! [`Transport`].

pub mod jwt;
mod models;
pub mod tokens;

use reqwest::Method;
use url::Url;

use crate::error::Result;
use crate::response::json;
use crate::step::{Expect, Step};
use crate::transport::{Transport, get_json};
use crate::urls::join;

pub use models::{
    AcceptConsent, AcceptLogin, ConsentRequest, ConsentSession, Discovery, Introspection,
    LoginRequest, OAuth2Client, Redirect, Tokens,
};

/// A Hydra deployment, by its public and admin base URLs.
#[derive(Debug, Clone)]
pub struct Hydra {
    public: Url,
    admin: Url,
}

/// How a client authenticates at the token, revocation endpoints.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the id and secret.
    Basic { id: String, secret: String },
    /// `client_secret_post`: both in the form.
    Post { id: String, secret: String },
    /// A public client (`none`): its id in the form, no secret.
    Public { id: String },
}

impl ClientAuth {
    pub fn id(&self) -> &str {
        match self {
            Self::Basic { id, .. } | Self::Post { id, .. } | Self::Public { id } => id,
        }
    }

    /// The request with the client's credentials and `form`.
    fn apply(
        &self,
        request: reqwest::RequestBuilder,
        form: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        match self {
            Self::Basic { id, secret } => {
                // RFC 6749 2.3.1: both form-encoded before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                return request.basic_auth(enc(id), Some(enc(secret))).form(&fields);
            }
            Self::Post { id, secret } => {
                fields.push(("client_id", id));
                fields.push(("client_secret", secret));
            }
            Self::Public { id } => fields.push(("client_id", id)),
        }
        request.form(&fields)
    }
}

impl Hydra {
    pub fn new(public: Url, admin: Url) -> Self {
        Self { public, admin }
    }

    /// A URL on the public API.
    pub fn public(&self, path: &str) -> Url {
        join(&self.public, path)
    }

    /// A URL on the admin API.
    pub fn admin(&self, path: &str) -> Url {
        join(&self.admin, path)
    }

    /// The public base URL (the issuer).
    pub fn public_base(&self) -> &Url {
        &self.public
    }

    /// `POST /admin/clients`: registers a client; the answer carries its id
    /// and (for confidential clients) its secret.
    pub async fn create_client<T: Transport>(
        &self,
        transport: &T,
        client: &OAuth2Client,
    ) -> Result<OAuth2Client> {
        let url = self.admin("admin/clients");
        let step = Step::new("hydra", Method::POST, &url, Expect::Status(201));
        let request = transport.client().post(url).json(client);
        json(&step, transport.send(&step, request).await?).await
    }

    /// `GET /admin/clients/{id}`.
    pub async fn client<T: Transport>(&self, transport: &T, id: &str) -> Result<OAuth2Client> {
        get_json(
            transport,
            "hydra",
            self.admin(&format!("admin/clients/{id}")),
        )
        .await
    }

    fn challenge_url(&self, path: &str, key: &str, challenge: &str) -> Url {
        let mut url = self.admin(path);
        url.query_pairs_mut().append_pair(key, challenge);
        url
    }

    /// `GET /admin/oauth2/auth/requests/login`: what a login challenge
    /// asks.
    pub async fn login_request<T: Transport>(
        &self,
        transport: &T,
        challenge: &str,
    ) -> Result<LoginRequest> {
        let url = self.challenge_url(
            "admin/oauth2/auth/requests/login",
            "login_challenge",
            challenge,
        );
        get_json(transport, "hydra", url).await
    }

    /// `PUT /admin/oauth2/auth/requests/login/accept`.
    pub async fn accept_login<T: Transport>(
        &self,
        transport: &T,
        challenge: &str,
        accept: &AcceptLogin,
    ) -> Result<Redirect> {
        let url = self.challenge_url(
            "admin/oauth2/auth/requests/login/accept",
            "login_challenge",
            challenge,
        );
        self.put(transport, url, accept).await
    }

    /// `GET /admin/oauth2/auth/requests/consent`.
    pub async fn consent_request<T: Transport>(
        &self,
        transport: &T,
        challenge: &str,
    ) -> Result<ConsentRequest> {
        let url = self.challenge_url(
            "admin/oauth2/auth/requests/consent",
            "consent_challenge",
            challenge,
        );
        get_json(transport, "hydra", url).await
    }

    /// `PUT /admin/oauth2/auth/requests/consent/accept`.
    pub async fn accept_consent<T: Transport>(
        &self,
        transport: &T,
        challenge: &str,
        accept: &AcceptConsent,
    ) -> Result<Redirect> {
        let url = self.challenge_url(
            "admin/oauth2/auth/requests/consent/accept",
            "consent_challenge",
            challenge,
        );
        self.put(transport, url, accept).await
    }

    /// `PUT /admin/oauth2/auth/requests/consent/reject`: the user said no
    /// (`access_denied`, RFC 6749 4.1.2.1), `why` as its description.
    pub async fn reject_consent<T: Transport>(
        &self,
        transport: &T,
        challenge: &str,
        why: &str,
    ) -> Result<Redirect> {
        let url = self.challenge_url(
            "admin/oauth2/auth/requests/consent/reject",
            "consent_challenge",
            challenge,
        );
        let body = serde_json::json!({"error": "access_denied", "error_description": why});
        self.put(transport, url, &body).await
    }

    /// `PUT /admin/oauth2/auth/requests/logout/accept`.
    pub async fn accept_logout<T: Transport>(
        &self,
        transport: &T,
        challenge: &str,
    ) -> Result<Redirect> {
        let url = self.challenge_url(
            "admin/oauth2/auth/requests/logout/accept",
            "logout_challenge",
            challenge,
        );
        self.put(transport, url, &serde_json::json!({})).await
    }

    async fn put<T: Transport, B: serde::Serialize + Sync>(
        &self,
        transport: &T,
        url: Url,
        body: &B,
    ) -> Result<Redirect> {
        let step = Step::new("hydra", Method::PUT, &url, Expect::Status(200));
        let request = transport.client().put(url).json(body);
        json(&step, transport.send(&step, request).await?).await
    }

    /// `DELETE /admin/oauth2/auth/sessions/consent`: the subject's
    /// consents to one client (or to all), and the tokens they granted.
    pub async fn revoke_consent<T: Transport>(
        &self,
        transport: &T,
        subject: &str,
        client: Option<&str>,
    ) -> Result<()> {
        let mut url = self.admin("admin/oauth2/auth/sessions/consent");
        url.query_pairs_mut().append_pair("subject", subject);
        match client {
            Some(client) => url.query_pairs_mut().append_pair("client", client),
            None => url.query_pairs_mut().append_pair("all", "true"),
        };
        let step = Step::new("hydra", Method::DELETE, &url, Expect::Status(204));
        transport
            .send(&step, transport.client().delete(url))
            .await?;
        Ok(())
    }
}
