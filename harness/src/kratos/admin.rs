//! Kratos' admin API: identities (create, import with a hashed password,
//! get, list by page, patch, delete) and sessions (list, revoke, extend).

use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use super::{Identity, Kratos, Session};
use crate::error::{Error, Result};
use crate::response::json;
use crate::step::{Expect, Step};
use crate::transport::{Transport, get_json};

/// Kratos' answer to a batch of identity patches.
#[derive(Debug, serde::Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    identities: Vec<PatchOutcome>,
}

#[derive(Debug, serde::Deserialize)]
struct PatchOutcome {
    action: String,
    identity: Option<String>,
    error: Option<Value>,
}

/// One page of a list and the token of the next, if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl Kratos {
    /// `GET /admin/identities/{id}`.
    pub async fn identity<T: Transport>(&self, transport: &T, id: &str) -> Result<Identity> {
        get_json(
            transport,
            "kratos",
            self.admin(&format!("admin/identities/{id}"))?,
        )
        .await
    }

    /// `POST /admin/identities`: an identity with `traits`, a password, and
    /// every address in `verified` already verified, as an operator imports
    /// users. For load runs against a deployment whose mail orygate cannot
    /// read.
    pub async fn create_identity<T: Transport>(
        &self,
        transport: &T,
        traits: &Value,
        password: &str,
        verified: &[&str],
    ) -> Result<Identity> {
        let password = json!({ "password": password });
        self.post_identity(transport, traits, password, verified)
            .await
    }

    /// `POST /admin/identities` with a password hashed elsewhere (bcrypt,
    /// argon2, ... in PHC or modular crypt format), as a migration from
    /// another system imports it.
    pub async fn import_identity<T: Transport>(
        &self,
        transport: &T,
        traits: &Value,
        hashed_password: &str,
        verified: &[&str],
    ) -> Result<Identity> {
        let password = json!({ "hashed_password": hashed_password });
        self.post_identity(transport, traits, password, verified)
            .await
    }

    /// `PATCH /admin/identities`: creates `identities` (each a body as
    /// `POST /admin/identities` takes) in one request, at most 1,000 with
    /// hashed passwords or none; returns the new identities' ids in order.
    /// An identity Kratos refused (e.g. a duplicate address) fails the
    /// whole call, naming it.
    pub async fn create_identities<T: Transport>(
        &self,
        transport: &T,
        identities: &[Value],
    ) -> Result<Vec<String>> {
        let url = self.admin("admin/identities")?;
        let step = Step::new("kratos", Method::PATCH, &url, Expect::Status(200));
        let patches: Vec<_> = identities
            .iter()
            .map(|identity| json!({ "create": identity }))
            .collect();
        let request = transport
            .client()
            .patch(url)
            .json(&json!({ "identities": patches }));
        let answer: BatchAnswer = json(&step, transport.send(&step, request).await?).await?;
        if answer.identities.len() != identities.len() {
            return Err(Error::Unexpected {
                step: step.to_string(),
                reason: format!(
                    "asked to create {} identities, Kratos answered for {}",
                    identities.len(),
                    answer.identities.len()
                ),
            });
        }
        answer
            .identities
            .into_iter()
            .enumerate()
            .map(
                |(i, outcome)| match (outcome.action.as_str(), outcome.identity) {
                    ("create", Some(id)) => Ok(id),
                    (action, _) => Err(Error::Unexpected {
                        step: step.to_string(),
                        reason: format!(
                            "identity {i} of the batch was not created: action {action:?}{}",
                            outcome.error.map(|e| format!(", {e}")).unwrap_or_default()
                        ),
                    }),
                },
            )
            .collect()
    }

    async fn post_identity<T: Transport>(
        &self,
        transport: &T,
        traits: &Value,
        password_config: Value,
        verified: &[&str],
    ) -> Result<Identity> {
        let url = self.admin("admin/identities")?;
        let step = Step::new("kratos", Method::POST, &url, Expect::Status(201));
        let addresses: Vec<_> = verified
            .iter()
            .map(|a| json!({ "value": a, "via": "email", "verified": true, "status": "completed" }))
            .collect();
        let body = json!({
            "schema_id": "person",
            "traits": traits,
            "credentials": { "password": { "config": password_config } },
            "verifiable_addresses": addresses,
        });
        let request = transport.client().post(url).json(&body);
        json(&step, transport.send(&step, request).await?).await
    }

    /// `GET /admin/identities?page_size=&page_token=`: one page, and the
    /// token of the next from the `Link` header.
    pub async fn identities<T: Transport>(
        &self,
        transport: &T,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<Page<Identity>> {
        let mut url = self.admin("admin/identities")?;
        url.query_pairs_mut()
            .append_pair("page_size", &page_size.to_string());
        if let Some(token) = page_token {
            url.query_pairs_mut().append_pair("page_token", token);
        }
        let step = Step::get("kratos", &url);
        let response = transport.send(&step, transport.client().get(url)).await?;
        let next = next_page_token(response.headers());
        Ok(Page {
            items: json(&step, response).await?,
            next,
        })
    }

    /// `PATCH /admin/identities/{id}` with JSON Patch operations.
    pub async fn patch_identity<T: Transport>(
        &self,
        transport: &T,
        id: &str,
        operations: &Value,
    ) -> Result<Identity> {
        let url = self.admin(&format!("admin/identities/{id}"))?;
        let step = Step::new("kratos", Method::PATCH, &url, Expect::Status(200));
        let request = transport.client().patch(url).json(operations);
        json(&step, transport.send(&step, request).await?).await
    }

    /// `DELETE /admin/identities/{id}`.
    pub async fn delete_identity<T: Transport>(&self, transport: &T, id: &str) -> Result<()> {
        self.admin_delete(transport, &format!("admin/identities/{id}"))
            .await
    }

    /// `GET /admin/identities/{id}/sessions`: the identity's sessions.
    pub async fn identity_sessions<T: Transport>(
        &self,
        transport: &T,
        id: &str,
    ) -> Result<Vec<Session>> {
        get_json(
            transport,
            "kratos",
            self.admin(&format!("admin/identities/{id}/sessions"))?,
        )
        .await
    }

    /// `DELETE /admin/sessions/{id}`: revokes one session.
    pub async fn revoke_session<T: Transport>(&self, transport: &T, id: &str) -> Result<()> {
        self.admin_delete(transport, &format!("admin/sessions/{id}"))
            .await
    }

    /// `PATCH /admin/sessions/{id}/extend`: extends a session by its
    /// lifespan, if `session.earliest_possible_extend` allows it yet.
    pub async fn extend_session<T: Transport>(&self, transport: &T, id: &str) -> Result<Session> {
        let url = self.admin(&format!("admin/sessions/{id}/extend"))?;
        let step = Step::new("kratos", Method::PATCH, &url, Expect::Status(200));
        json(
            &step,
            transport.send(&step, transport.client().patch(url)).await?,
        )
        .await
    }

    async fn admin_delete<T: Transport>(&self, transport: &T, path: &str) -> Result<()> {
        let url = self.admin(path)?;
        let step = Step::new("kratos", Method::DELETE, &url, Expect::Status(204));
        transport
            .send(&step, transport.client().delete(url))
            .await?;
        Ok(())
    }
}

/// The `page_token` of the `rel="next"` link in a `Link` header.
fn next_page_token(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.contains("rel=\"next\"") {
            return None;
        }
        let url = target.trim().trim_start_matches('<').trim_end_matches('>');
        let url = Url::parse(url)
            .or_else(|_| Url::parse("http://k/").and_then(|base| base.join(url)))
            .ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "page_token")
            .map(|(_, v)| v.into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_next_page_token_from_a_link_header() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::LINK,
            "</admin/identities?page_size=2&page_token=abc>; rel=\"first\",</admin/identities?page_size=2&page_token=def>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_page_token(&headers).as_deref(), Some("def"));
        headers.insert(
            reqwest::header::LINK,
            "</admin/identities?page_size=2&page_token=abc>; rel=\"first\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_page_token(&headers), None);
    }
}
