//! The OAuth2 profiles: `oauth2-code` (a fresh browser per round through
//! the whole authorization code flow with PKCE, Kratos logging the person
//! in, the harness consenting, the code exchanged), `client-credentials`
//! (a service's token request), `introspect` (a resource server's
//! check of a token) and `gateway-oauth2` (the same check, then the API
//! behind Oathkeeper, which introspects the token itself).

use std::sync::Arc;

use goose::goose::{GooseUser, TransactionResult};
use harness::transport::Transport as _;
use harness::{Error, Result, hydra::Hydra};
use scenarios::clients::register_fixture;
use scenarios::flows::oauth2::{self, Client, Consent, Login, Request};

use crate::context::Context;
use crate::glue::{custom, started};
use crate::goose_transport::GooseTransport;

/// What an `oauth2-code` user keeps: their Kratos account and the client
/// they sign in to.
#[derive(Debug, Clone)]
pub struct CodeUser {
    pub email: String,
    pub password: String,
    pub client: Client,
}

/// What a service user keeps: its client, and a token to introspect.
#[derive(Debug, Clone)]
struct ServiceUser {
    client: Client,
    token: String,
}

/// The scope and audience the `service` client fixture may ask for.
const SERVICE_SCOPE: &str = "reports.read";
const SERVICE_AUDIENCE: &str = "https://api.orygate.test";

fn hydra(ctx: &Context) -> Result<&Hydra> {
    ctx.hydra
        .as_ref()
        .ok_or_else(|| Error::unexpected("oauth2", "the run has no Hydra"))
}

/// Registers a `web-basic` client for an `oauth2-code` user, unmeasured.
pub async fn register_client(ctx: &Context) -> Result<Client> {
    let admin = ctx.app()?;
    let (_, client) = register_fixture(&admin, hydra(ctx)?, "web-basic").await?;
    Ok(client)
}

/// A service user's start: a `service` client and a first token.
pub async fn start_service(user: &mut GooseUser, ctx: &Context) -> Result<()> {
    let app = ctx.app()?;
    ctx.seat(user, app.agent());
    let hydra = hydra(ctx)?;
    let (_, client) = register_fixture(&app, hydra, "service").await?;
    let token = hydra
        .client_credentials(&app, &client.auth, SERVICE_SCOPE, SERVICE_AUDIENCE)
        .await?
        .access_token;
    user.set_session_data(ServiceUser { client, token });
    Ok(())
}

/// A round of `oauth2-code`: a new browser (no remembered session at
/// Hydra or Kratos), the whole dance, and the tokens it ends with.
pub async fn code_flow(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let me: CodeUser = started(user, "account and client").await?;
    ctx.seat(user, ctx.browser().map_err(custom)?.agent());
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let hydra = hydra(&ctx)?;
        let login = Login::Kratos {
            kratos: ctx.kratos.clone(),
            identifier: me.email.clone(),
            password: me.password.clone(),
        };
        let request = Request::new("openid offline_access email");
        let (_, tokens) =
            oauth2::code_flow(&t, hydra, &me.client, &request, &login, &Consent::default()).await?;
        if tokens.id_token.is_none() || tokens.refresh_token.is_none() {
            return Err(Error::unexpected(
                "hydra POST /oauth2/token [authorization_code]",
                "scope openid offline_access gave no ID token or no refresh token",
            ));
        }
        Ok(())
    }
    .await;
    t.finish(result)
}

/// A round of `client-credentials`: one token request.
pub async fn client_credentials(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let me: ServiceUser = started(user, "client").await?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        hydra(&ctx)?
            .client_credentials(&t, &me.client.auth, SERVICE_SCOPE, SERVICE_AUDIENCE)
            .await
            .map(drop)
    }
    .await;
    t.finish(result)
}

/// A round of `introspect`: the token must still be active.
pub async fn introspect(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let me: ServiceUser = started(user, "client").await?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let seen = hydra(&ctx)?.introspect(&t, &me.token).await?;
        if seen.active {
            Ok(())
        } else {
            Err(Error::unexpected(
                "hydra POST /admin/oauth2/introspect",
                "a live token was reported inactive",
            ))
        }
    }
    .await;
    t.finish(result)
}

/// The same token two ways in one round, so that the difference is what
/// the proxy adds: Hydra's introspection straight (as a resource server
/// asks it), then `/api/reports` through Oathkeeper, whose
/// `oauth2_introspection` authenticator asks Hydra too (or its cache,
/// when the config turns it on) and wants the `reports.read` scope.
pub async fn gateway_reports(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let me: ServiceUser = started(user, "client").await?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let seen = hydra(&ctx)?.introspect(&t, &me.token).await?;
        if !seen.active {
            return Err(Error::unexpected(
                "hydra POST /admin/oauth2/introspect",
                "a live token was reported inactive",
            ));
        }
        let (me_url, _) = ctx
            .gateway
            .as_ref()
            .ok_or_else(|| Error::unexpected("gateway-oauth2", "the run has no Oathkeeper"))?;
        // Beside `/me`, under the same proxy base.
        let url = me_url
            .join("api/reports")
            .map_err(|e| Error::unexpected("gateway-oauth2", e.to_string()))?;
        let step = harness::Step::get("oathkeeper", &url);
        let response = t
            .send(&step, t.client().get(url.clone()).bearer_auth(&me.token))
            .await?;
        harness::response::text(&step, response).await.map(drop)
    }
    .await;
    t.finish(result)
}
