//! A signed-in user's own sessions (`/sessions`): the others it has,
//! revoking one of them, or all of them at once. By cookie (a browser) or
//! by session token (a native app).

use reqwest::{Method, RequestBuilder};
use serde::Deserialize;

use super::{Kratos, Session};
use crate::error::Result;
use crate::response::json;
use crate::step::{Expect, Step};
use crate::transport::Transport;

#[derive(Debug, Deserialize)]
struct Revoked {
    count: u64,
}

impl Kratos {
    /// `GET /sessions`: the caller's other active sessions (not the one it
    /// asks with).
    pub async fn other_sessions<T: Transport>(
        &self,
        transport: &T,
        token: Option<&str>,
    ) -> Result<Vec<Session>> {
        let url = self.public("sessions");
        let step = Step::get("kratos", &url);
        let request = with_token(transport.client().get(url), token);
        json(&step, transport.send(&step, request).await?).await
    }

    /// `DELETE /sessions`: revokes every other session of the caller;
    /// returns how many.
    pub async fn revoke_other_sessions<T: Transport>(
        &self,
        transport: &T,
        token: Option<&str>,
    ) -> Result<u64> {
        let url = self.public("sessions");
        let step = Step::new("kratos", Method::DELETE, &url, Expect::Status(200));
        let request = with_token(transport.client().delete(url), token);
        let revoked: Revoked = json(&step, transport.send(&step, request).await?).await?;
        Ok(revoked.count)
    }

    /// `DELETE /sessions/{id}`: revokes one of the caller's other sessions.
    pub async fn revoke_own_session<T: Transport>(
        &self,
        transport: &T,
        id: &str,
        token: Option<&str>,
    ) -> Result<()> {
        let url = self.public(&format!("sessions/{id}"));
        let step = Step::new("kratos", Method::DELETE, &url, Expect::Status(204));
        let request = with_token(transport.client().delete(url), token);
        transport.send(&step, request).await?;
        Ok(())
    }
}

fn with_token(request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
    let request = request.header("Accept", "application/json");
    match token {
        Some(token) => request.header("X-Session-Token", token),
        None => request,
    }
}
