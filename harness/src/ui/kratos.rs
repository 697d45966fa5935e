//! The app's pages for Kratos' browser flows: a flow started at Kratos,
//! its form, Kratos' or Hydra's error, and the welcome page that asks
//! Kratos who the browser is.

use std::fmt::Write as _;

use reqwest::header::ACCEPT;
use serde_json::Value;
use url::Url;

use super::pages::{Page, escape, form, html, redirect, title};
use super::{Shared, param};
use crate::Step;
use crate::error::Result;

/// A new browser flow of `kind`, started at Kratos, which sends the
/// browser back here with its id; `return_to`, `login_challenge` (Hydra's
/// login, which Kratos accepts at Hydra) and `refresh` passed on, as Ory's
/// UIs do.
pub(super) fn start(shared: &Shared, kind: &str, query: &[(String, String)]) -> Page {
    let mut to = shared
        .kratos_origin
        .join(&format!("self-service/{kind}/browser"))
        .expect("a Kratos path");
    for name in ["return_to", "login_challenge", "refresh"] {
        if let Some(value) = param(query, name) {
            to.query_pairs_mut().append_pair(name, &value);
        }
    }
    redirect(&to)
}

/// GET `path` on Kratos' public API with the browser's cookies.
async fn kratos(shared: &Shared, path: &str, cookie: &str) -> Result<(u16, Value)> {
    let url = shared.kratos.join(path).expect("a Kratos path");
    let agent = shared.app.agent();
    let mut request = agent
        .client()
        .get(url.clone())
        .header(ACCEPT, "application/json");
    if !cookie.is_empty() {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    let step = Step::get("ui", &url);
    let answer = agent.exchange(&step, request).await?;
    let status = answer.status().as_u16();
    let body = answer.text().await.unwrap_or_default();
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

pub(super) async fn flow_page(shared: &Shared, kind: &str, id: &str, cookie: &str) -> Result<Page> {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let (status, flow) = kratos(
        shared,
        &format!("self-service/{kind}/flows?id={id}"),
        cookie,
    )
    .await?;
    Ok(match status {
        200 => html(200, &title(kind), &form(&flow)),
        // Expired, of another browser, or gone: a new one, as Ory's UIs
        // do; where Kratos names the URL that started it (its
        // `return_to`, Hydra's `login_challenge`), started the same way.
        403 | 404 | 410 => match flow
            .pointer("/error/details/redirect_to")
            .and_then(Value::as_str)
            .and_then(|to| Url::parse(to).ok())
            .filter(|to| to.origin() == shared.kratos_origin.origin())
        {
            Some(again) => redirect(&again),
            None => start(shared, kind, &[]),
        },
        _ => html(
            502,
            &title(kind),
            &format!(
                "<p>Kratos answered {status}: {}</p>",
                escape(&flow.to_string())
            ),
        ),
    })
}

/// An error: Kratos' by its `id`, or Hydra's, which comes as `error`,
/// `error_description` and `error_hint` (RFC 6749 4.1.2.1).
pub(super) async fn error_page(shared: &Shared, query: &[(String, String)]) -> Result<Page> {
    if let Some(error) = param(query, "error") {
        let mut body = format!("<p class=\"error\" id=\"error\">{}</p>", escape(&error));
        for (name, class) in [("error_description", "description"), ("error_hint", "hint")] {
            if let Some(text) = param(query, name) {
                let _ = write!(
                    body,
                    "<p class=\"error {class}\" id=\"{name}\">{}</p>",
                    escape(&text)
                );
            }
        }
        return Ok(html(200, "Error", &body));
    }
    let Some(id) = param(query, "id") else {
        return Ok(html(400, "Error", "<p>No error id.</p>"));
    };
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let (_, error) = kratos(shared, &format!("self-service/errors?id={id}"), "").await?;
    let text = |pointer: &str| error.pointer(pointer).and_then(Value::as_str).map(escape);
    let mut body = format!(
        "<p class=\"error\">{}</p>",
        text("/error/message").unwrap_or_else(|| "unknown error".into())
    );
    // Kratos' reason says which parameter, which URL.
    if let Some(reason) = text("/error/reason") {
        let _ = write!(body, "<p class=\"error reason\">{reason}</p>");
    }
    Ok(html(200, "Error", &body))
}

/// Who the browser is, with a way out; or the login, for nobody.
pub(super) async fn welcome(shared: &Shared, cookie: &str) -> Result<Page> {
    let (status, session) = kratos(shared, "sessions/whoami", cookie).await?;
    if status != 200 {
        return Ok(redirect(
            &shared.origin.join("login").expect("a path on the app"),
        ));
    }
    let email = session
        .pointer("/identity/traits/email")
        .and_then(Value::as_str)
        .unwrap_or("someone");
    let (_, logout) = kratos(shared, "self-service/logout/browser", cookie).await?;
    let mut body = format!("<p id=\"who\">Signed in as {}</p>", escape(email));
    if let Some(url) = logout.get("logout_url").and_then(Value::as_str) {
        let _ = write!(
            body,
            "<p><a id=\"logout\" href=\"{}\">Sign out</a></p>",
            escape(url)
        );
    }
    Ok(html(200, "Welcome", &body))
}
