//! OAuth2 and OpenID Connect as a browser and a client drive them against
//! Hydra: the authorization request, the login and consent (by the harness
//! through Hydra's admin API, or by Kratos as Hydra's login provider), the
//! callback with its `state`, and the code exchange with PKCE.

use harness::hydra::tokens::{Pkce, random_token};
use harness::hydra::{AcceptConsent, AcceptLogin, ClientAuth, ConsentSession, Tokens};
use harness::navigate::follow_across;
use harness::{Error, Expect, Result, Step, hydra::Hydra, kratos::Kratos, transport::Transport};
use url::Url;

use super::{BROWSER_ACCEPT, Kind, fetch_flow, flow_param, query_param};

/// A registered client as the flows use it.
#[derive(Debug, Clone)]
pub struct Client {
    pub auth: ClientAuth,
    pub redirect_uri: String,
}

/// One authorization request's parameters and secrets.
#[derive(Debug, Clone)]
pub struct Request {
    pub scope: String,
    pub state: String,
    pub nonce: String,
    /// Sent as an S256 challenge when set.
    pub pkce: Option<Pkce>,
    /// Extra query parameters (`audience`, `prompt`, ...).
    pub extra: Vec<(String, String)>,
}

impl Request {
    /// `scope`, a fresh `state` and `nonce`, and PKCE.
    pub fn new(scope: &str) -> Self {
        Self {
            scope: scope.to_owned(),
            state: random_token(16),
            nonce: random_token(16),
            pkce: Some(Pkce::new()),
            extra: Vec::new(),
        }
    }

    /// The authorization URL for `client`.
    pub fn url(&self, hydra: &Hydra, client: &Client) -> Url {
        let mut query: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client.auth.id()),
            ("redirect_uri", &client.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
        ];
        if let Some(pkce) = &self.pkce {
            query.push(("code_challenge", &pkce.challenge));
            query.push(("code_challenge_method", "S256"));
        }
        query.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        hydra.authorize_url(&query)
    }
}

/// Who logs the user in, when Hydra asks.
#[derive(Debug, Clone)]
pub enum Login {
    /// The harness, through Hydra's admin API, as this subject.
    Harness { subject: String, remember: bool },
    /// Kratos, Hydra's login provider: the person signs in with their
    /// address and password in Kratos' login flow.
    Kratos {
        kratos: Kratos,
        identifier: String,
        password: String,
    },
}

/// The consent app's answer: the harness grants what is asked.
#[derive(Debug, Clone, Default)]
pub struct Consent {
    pub remember: bool,
    /// Claims added to the ID token.
    pub id_token: serde_json::Map<String, serde_json::Value>,
}

/// Where a browser walk through the stack stopped.
#[derive(Debug, Clone)]
pub enum Stop {
    Login(String),
    Consent(String),
    Logout(String),
    /// Kratos' login UI, with the flow id.
    KratosLogin(Url),
    /// Anywhere else: the client's callback, a post-logout page, an
    /// error page.
    Elsewhere(Url),
}

/// What the client's callback received.
#[derive(Debug, Clone)]
pub struct Callback {
    pub code: String,
    pub url: Url,
    /// What the user was asked on the way: logins and consents (a
    /// challenge Hydra marked `skip`, remembered, asks nothing).
    pub logins: usize,
    pub consents: usize,
    /// Challenges Hydra marked `skip`, accepted without asking.
    pub skipped: usize,
}

/// The stack's origins a browser follows redirects on, by service.
fn origins<'a>(hydra: &'a Hydra, login: &'a Login) -> Vec<(&'a Url, &'static str)> {
    let mut origins = vec![(hydra.public_base(), "hydra")];
    if let Login::Kratos { kratos, .. } = login {
        origins.push((kratos.public_base(), "kratos"));
    }
    origins
}

/// Opens `url` in the browser and follows redirects across the stack until
/// a stop.
pub async fn go<T: Transport>(t: &T, origins: &[(&Url, &'static str)], url: Url) -> Result<Stop> {
    let service = origins
        .iter()
        .find(|(o, _)| o.origin() == url.origin())
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            Error::unexpected(
                "hydra GET /oauth2/auth",
                format!("sent to {url}, which is not one of the stack's services: not followed"),
            )
        })?;
    let step = Step::get(service, &url).expecting(Expect::Navigate);
    let request = t.client().get(url).header("Accept", BROWSER_ACCEPT);
    let response = t.send(&step, request).await?;
    let landing = follow_across(t, origins, &step, response).await?;
    let url = landing.url;
    if let Some(response) = landing.response {
        // An answer on the stack itself that is not a redirect: Hydra's own
        // error page.
        let status = response.status().as_u16();
        return Err(Error::unexpected(
            Step::get(service, &url).name(),
            format!("stopped on HTTP {status} at {url} instead of being sent on"),
        ));
    }
    Ok(classify(url))
}

fn classify(url: Url) -> Stop {
    if let Some(c) = query_param(&url, "login_challenge") {
        Stop::Login(c)
    } else if let Some(c) = query_param(&url, "consent_challenge") {
        Stop::Consent(c)
    } else if let Some(c) = query_param(&url, "logout_challenge") {
        Stop::Logout(c)
    } else if flow_param(&url).is_some() {
        // A self-service UI with a flow during an authorization: Kratos'
        // login UI, wherever the config puts it (`/login`, `/sign-in`).
        Stop::KratosLogin(url)
    } else {
        Stop::Elsewhere(url)
    }
}

/// An OAuth2 error the browser was sent with (`error`,
/// `error_description`), as an [`Error::Status`] with the error id.
fn oauth2_error(url: &Url) -> Option<Error> {
    let error = query_param(url, "error")?;
    Some(Error::Status {
        step: "hydra GET /oauth2/auth".into(),
        status: 303,
        error_id: Some(error),
        message: format!(
            "{} (sent to {}{})",
            query_param(url, "error_description").unwrap_or_default(),
            url.origin().ascii_serialization(),
            url.path()
        ),
    })
}

/// The authorization request through login and consent to the client's
/// callback; checks `state` and returns the code.
pub async fn authorize<T: Transport>(
    t: &T,
    hydra: &Hydra,
    client: &Client,
    request: &Request,
    login: &Login,
    consent: &Consent,
) -> Result<Callback> {
    let origins = origins(hydra, login);
    let mut stop = go(t, &origins, request.url(hydra, client)).await?;
    let (mut logins, mut consents, mut skipped) = (0, 0, 0);
    // Login, consent and at most a re-authentication: a dozen stops means
    // a loop.
    for _ in 0..12 {
        let next = match stop {
            Stop::Login(challenge) => {
                let (next, skip) = accept_login(t, hydra, &challenge, login).await?;
                if skip {
                    skipped += 1;
                } else {
                    logins += 1;
                }
                next
            }
            Stop::KratosLogin(url) => {
                logins += 1;
                kratos_login(t, &url, login).await?
            }
            Stop::Consent(challenge) => {
                let (next, skip) = accept_consent(t, hydra, &challenge, consent).await?;
                if skip {
                    skipped += 1;
                } else {
                    consents += 1;
                }
                next
            }
            Stop::Logout(_) => {
                return Err(Error::unexpected(
                    "hydra GET /oauth2/auth",
                    "sent to logout during an authorization",
                ));
            }
            Stop::Elsewhere(url) => {
                let mut callback = read_callback(url, client, request)?;
                (callback.logins, callback.consents, callback.skipped) =
                    (logins, consents, skipped);
                return Ok(callback);
            }
        };
        stop = go(t, &origins, next).await?;
    }
    Err(Error::unexpected(
        "hydra GET /oauth2/auth",
        "no callback after 12 login and consent rounds",
    ))
}

/// Reads the client's callback as the client must: an OAuth2 error is an
/// error, the URL must be the client's redirect URI, `state` must be the
/// one this request sent, and a code must be there.
pub fn read_callback(url: Url, client: &Client, request: &Request) -> Result<Callback> {
    let step = "hydra GET /oauth2/auth (callback)";
    let expected = Url::parse(&client.redirect_uri)
        .map_err(|e| Error::unexpected(step, format!("redirect_uri: {e}")))?;
    if url.origin() != expected.origin() || url.path() != expected.path() {
        // Not the client: Hydra's error URL says why, or it is a wrong turn.
        return Err(oauth2_error(&url).unwrap_or_else(|| {
            Error::unexpected(
                step,
                format!("ended at {url}, not the client's callback {expected}"),
            )
        }));
    }
    match query_param(&url, "state") {
        Some(state) if state == request.state => {}
        state => {
            return Err(Error::unexpected(
                step,
                format!("state {state:?} is not the one sent: a forged or mixed-up callback"),
            ));
        }
    }
    // Only a callback with this request's state speaks for it, an error
    // included (RFC 6749 4.1.2.1).
    if let Some(e) = oauth2_error(&url) {
        return Err(e);
    }
    let code = query_param(&url, "code")
        .ok_or_else(|| Error::unexpected(step, format!("no code in {url}")))?;
    Ok(Callback {
        code,
        url,
        logins: 0,
        consents: 0,
        skipped: 0,
    })
}

/// The harness as login app: reads the challenge (a remembered login must
/// be accepted for the same subject) and accepts it; also whether Hydra
/// marked it `skip`.
async fn accept_login<T: Transport>(
    t: &T,
    hydra: &Hydra,
    challenge: &str,
    login: &Login,
) -> Result<(Url, bool)> {
    let Login::Harness { subject, remember } = login else {
        return Err(Error::unexpected(
            "hydra GET /oauth2/auth",
            "Hydra asked the harness to log in, but Kratos is the login provider",
        ));
    };
    let asked = hydra.login_request(t, challenge).await?;
    let skip = asked.skip;
    let subject = if skip { asked.subject } else { subject.clone() };
    let accept = AcceptLogin {
        subject,
        remember: *remember,
        remember_for: Some(3600),
        ..AcceptLogin::default()
    };
    let next = redirect_to(&hydra.accept_login(t, challenge, &accept).await?.redirect_to)?;
    Ok((next, skip))
}

/// The harness as consent app: grants every scope and audience asked;
/// also whether Hydra marked it `skip`.
async fn accept_consent<T: Transport>(
    t: &T,
    hydra: &Hydra,
    challenge: &str,
    consent: &Consent,
) -> Result<(Url, bool)> {
    let asked = hydra.consent_request(t, challenge).await?;
    let skip = asked.skip;
    let accept = AcceptConsent {
        grant_scope: asked.requested_scope,
        grant_access_token_audience: asked.requested_access_token_audience,
        remember: consent.remember,
        remember_for: Some(3600),
        session: ConsentSession {
            id_token: consent.id_token.clone(),
            access_token: serde_json::Map::new(),
        },
    };
    let next = redirect_to(
        &hydra
            .accept_consent(t, challenge, &accept)
            .await?
            .redirect_to,
    )?;
    Ok((next, skip))
}

/// Signs in in the Kratos login flow Hydra sent the browser to; Kratos
/// accepts the login challenge and sends the browser back to Hydra.
async fn kratos_login<T: Transport>(t: &T, ui: &Url, login: &Login) -> Result<Url> {
    let Login::Kratos {
        kratos,
        identifier,
        password,
    } = login
    else {
        return Err(Error::unexpected(
            "kratos GET /self-service/login/browser",
            "Hydra sent the browser to Kratos, but the harness is the login app",
        ));
    };
    let id = flow_param(ui).unwrap_or_default();
    let flow = fetch_flow(t, kratos, Kind::Login, &id).await?;
    // Kratos sends the browser on to Hydra: another origin, not fetched.
    let landing = super::login::submit_password(t, kratos, &flow, identifier, password).await?;
    Ok(landing.url)
}

fn redirect_to(location: &str) -> Result<Url> {
    Url::parse(location).map_err(|e| {
        Error::unexpected(
            "hydra PUT /admin/oauth2/auth/requests/%/accept",
            format!("redirect_to {location:?}: {e}"),
        )
    })
}

/// The whole authorization code flow: authorization, login, consent,
/// callback, and the code exchanged with the PKCE verifier.
pub async fn code_flow<T: Transport>(
    t: &T,
    hydra: &Hydra,
    client: &Client,
    request: &Request,
    login: &Login,
    consent: &Consent,
) -> Result<(Callback, Tokens)> {
    let callback = authorize(t, hydra, client, request, login, consent).await?;
    let tokens = exchange(t, hydra, client, request, &callback).await?;
    Ok((callback, tokens))
}

/// The client's back end exchanges the callback's code, with the
/// request's PKCE verifier when it sent a challenge.
pub async fn exchange<T: Transport>(
    t: &T,
    hydra: &Hydra,
    client: &Client,
    request: &Request,
    callback: &Callback,
) -> Result<Tokens> {
    let verifier = request.pkce.as_ref().map(|p| p.verifier.as_str());
    hydra
        .exchange_code(
            t,
            &client.auth,
            &callback.code,
            &client.redirect_uri,
            verifier,
        )
        .await
}

/// RP-initiated logout: the logout request, the harness accepts it, and
/// the browser arrives at the post-logout URL (returned).
pub async fn logout<T: Transport>(
    t: &T,
    hydra: &Hydra,
    id_token: &str,
    post_logout_redirect_uri: &str,
    state: &str,
) -> Result<Url> {
    let origins = [(hydra.public_base(), "hydra")];
    let url = hydra.logout_url(id_token, post_logout_redirect_uri, state);
    match go(t, &origins, url).await? {
        Stop::Logout(challenge) => {
            let next = redirect_to(&hydra.accept_logout(t, &challenge).await?.redirect_to)?;
            match go(t, &origins, next).await? {
                Stop::Elsewhere(url) => oauth2_error(&url).map_or(Ok(url), Err),
                other => Err(Error::unexpected(
                    "hydra GET /oauth2/sessions/logout",
                    format!("after the accepted logout: {other:?}"),
                )),
            }
        }
        Stop::Elsewhere(url) => oauth2_error(&url).map_or(Ok(url), Err),
        other => Err(Error::unexpected(
            "hydra GET /oauth2/sessions/logout",
            format!("not a logout request: {other:?}"),
        )),
    }
}
