//! A client's calls to Hydra's OAuth2 endpoints: the authorization URL,
//! the token endpoint (code, refresh, client credentials), introspection,
//! revocation, userinfo, discovery and the signing keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use rand::RngCore;
use reqwest::Method;
use sha2::{Digest, Sha256};
use url::Url;

use super::{ClientAuth, Discovery, Hydra, Introspection, Tokens};
use crate::error::Result;
use crate::response::json;
use crate::step::{Expect, Step};
use crate::transport::{Transport, get_json};

/// A random URL-safe value of `bytes` random bytes (`state`, `nonce`, a
/// PKCE verifier).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A PKCE pair (RFC 7636, S256).
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        // 32 bytes: a 43-character verifier, the shortest allowed.
        Self::from_verifier(&random_token(32))
    }

    pub fn from_verifier(verifier: &str) -> Self {
        Self {
            verifier: verifier.to_owned(),
            challenge: URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

impl Hydra {
    /// `GET /oauth2/auth?...`: the authorization request a client sends a
    /// browser to.
    pub fn authorize_url(&self, query: &[(&str, &str)]) -> Url {
        let mut url = self.public("oauth2/auth");
        url.query_pairs_mut().extend_pairs(query);
        url
    }

    async fn token<T: Transport>(
        &self,
        transport: &T,
        auth: &ClientAuth,
        grant: &str,
        form: &[(&str, &str)],
    ) -> Result<Tokens> {
        let url = self.public("oauth2/token");
        let step = Step::new("hydra", Method::POST, &url, Expect::Status(200)).tagged(grant);
        let mut fields = vec![("grant_type", grant)];
        fields.extend_from_slice(form);
        let request = auth.apply(transport.client().post(url), &fields);
        json(&step, transport.send(&step, request).await?).await
    }

    /// Exchanges an authorization code (with its PKCE verifier, if any).
    pub async fn exchange_code<T: Transport>(
        &self,
        transport: &T,
        auth: &ClientAuth,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> Result<Tokens> {
        let mut form = vec![("code", code), ("redirect_uri", redirect_uri)];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        self.token(transport, auth, "authorization_code", &form)
            .await
    }

    /// Trades a refresh token for new tokens.
    pub async fn refresh<T: Transport>(
        &self,
        transport: &T,
        auth: &ClientAuth,
        refresh_token: &str,
    ) -> Result<Tokens> {
        self.token(
            transport,
            auth,
            "refresh_token",
            &[("refresh_token", refresh_token)],
        )
        .await
    }

    /// The client credentials grant, for `scope` and `audience` (space
    /// separated; empty for none).
    pub async fn client_credentials<T: Transport>(
        &self,
        transport: &T,
        auth: &ClientAuth,
        scope: &str,
        audience: &str,
    ) -> Result<Tokens> {
        let mut form = vec![("scope", scope)];
        if !audience.is_empty() {
            form.push(("audience", audience));
        }
        self.token(transport, auth, "client_credentials", &form)
            .await
    }

    /// `POST /admin/oauth2/introspect`: what the token is, as a resource
    /// server asks.
    pub async fn introspect<T: Transport>(
        &self,
        transport: &T,
        token: &str,
    ) -> Result<Introspection> {
        let url = self.admin("admin/oauth2/introspect");
        let step = Step::new("hydra", Method::POST, &url, Expect::Status(200));
        let request = transport.client().post(url).form(&[("token", token)]);
        json(&step, transport.send(&step, request).await?).await
    }

    /// `POST /oauth2/revoke` (an access or refresh token, and its grant's
    /// other tokens).
    pub async fn revoke<T: Transport>(
        &self,
        transport: &T,
        auth: &ClientAuth,
        token: &str,
    ) -> Result<()> {
        let url = self.public("oauth2/revoke");
        let step = Step::new("hydra", Method::POST, &url, Expect::Status(200));
        let request = auth.apply(transport.client().post(url), &[("token", token)]);
        transport.send(&step, request).await?;
        Ok(())
    }

    /// `GET /userinfo` with an access token.
    pub async fn userinfo<T: Transport>(
        &self,
        transport: &T,
        access_token: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        let url = self.public("userinfo");
        let step = Step::get("hydra", &url);
        let request = transport.client().get(url).bearer_auth(access_token);
        json(&step, transport.send(&step, request).await?).await
    }

    /// `GET /.well-known/openid-configuration`.
    pub async fn discovery<T: Transport>(&self, transport: &T) -> Result<Discovery> {
        get_json(
            transport,
            "hydra",
            self.public(".well-known/openid-configuration"),
        )
        .await
    }

    /// `GET /.well-known/jwks.json`: the public keys tokens are signed
    /// with.
    pub async fn jwks<T: Transport>(&self, transport: &T) -> Result<JwkSet> {
        get_json(transport, "hydra", self.public(".well-known/jwks.json")).await
    }

    /// `GET /oauth2/sessions/logout?...`: RP-initiated logout.
    pub fn logout_url(
        &self,
        id_token_hint: &str,
        post_logout_redirect_uri: &str,
        state: &str,
    ) -> Url {
        let mut url = self.public("oauth2/sessions/logout");
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token_hint)
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
            .append_pair("state", state);
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636, appendix B.
    #[test]
    fn the_pkce_challenge_is_the_rfc_s() {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce.challenge,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(Pkce::new().verifier.len(), 43);
        assert_ne!(random_token(16), random_token(16));
    }
}
