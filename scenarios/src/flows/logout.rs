//! Sign-out.

use harness::kratos::LogoutUrl;
use harness::response::expect_status;
use harness::transport::{Landing, follow, get_json, step_name};
use harness::{Error, Kratos, Result, Transport};
use serde_json::json;
use url::Url;

/// Signs out in a browser: asks Kratos for a logout URL (it carries a
/// one-time token), then follows it.
pub async fn browser<T: Transport>(t: &T, kratos: &Kratos) -> Result<Landing> {
    let logout: LogoutUrl =
        get_json(t, "kratos", kratos.public("self-service/logout/browser")).await?;
    let url = Url::parse(&logout.logout_url).map_err(|e| {
        Error::unexpected(
            "kratos GET /self-service/logout/browser",
            format!("bad logout_url: {e}"),
        )
    })?;
    let step = step_name("kratos", "GET", &url);
    let response = t.send(&step, t.client().get(url)).await?;
    let response = expect_status(&step, response, &[303]).await?;
    follow(t, "kratos", kratos.public_base(), response).await
}

/// Revokes a native app's session token.
pub async fn api<T: Transport>(t: &T, kratos: &Kratos, session_token: &str) -> Result<()> {
    let url = kratos.public("self-service/logout/api");
    let step = step_name("kratos", "DELETE", &url);
    let response = t
        .send(
            &step,
            t.client()
                .delete(url)
                .header("Accept", "application/json")
                .json(&json!({ "session_token": session_token })),
        )
        .await?;
    expect_status(&step, response, &[204]).await?;
    Ok(())
}
