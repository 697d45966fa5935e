//! Sign-out.

use harness::kratos::LogoutUrl;
use harness::navigate::{Landing, follow};
use harness::transport::get_json;
use harness::{Error, Expect, Result, Step, kratos::Kratos, transport::Transport};
use reqwest::Method;
use serde_json::json;
use url::Url;

/// Signs out in a browser: asks Kratos for a logout URL (it carries a
/// one-time token), then follows it; Kratos answers with a redirect.
pub async fn browser<T: Transport>(t: &T, kratos: &Kratos) -> Result<Landing> {
    let asked = kratos.public("self-service/logout/browser");
    let ask_step = Step::get("kratos", &asked);
    let logout: LogoutUrl = get_json(t, "kratos", asked).await?;
    let url = Url::parse(&logout.logout_url)
        .map_err(|e| Error::unexpected(ask_step.name(), format!("bad logout_url: {e}")))?;
    let step = Step::new("kratos", Method::GET, &url, Expect::Redirect);
    let response = t.send(&step, t.client().get(url)).await?;
    follow(t, kratos.public_base(), &step, response).await
}

/// Revokes a native app's session token.
pub async fn api<T: Transport>(t: &T, kratos: &Kratos, session_token: &str) -> Result<()> {
    let url = kratos.public("self-service/logout/api");
    let step = Step::new("kratos", Method::DELETE, &url, Expect::Status(204));
    t.send(
        &step,
        t.client()
            .delete(url)
            .header("Accept", "application/json")
            .json(&json!({ "session_token": session_token })),
    )
    .await?;
    Ok(())
}
