//! Whole user journeys composed from the flows: what CI proves and what the
//! load test replays.

use std::time::Duration;

use harness::kratos::{Flow, Session};
use harness::transport::timed;
use harness::{Error, Mail, Result, Step, kratos::Kratos, transport::Transport};

use crate::flows::{login, logout, recovery, registration, settings, verification};
use crate::user::User;

/// How long a journey waits for a verification mail.
pub const MAIL_TIMEOUT: Duration = harness::DEFAULT_MAIL_TIMEOUT;

/// The step a journey's wait for its verification code is timed as.
pub fn mail_step() -> Step {
    Step::wait("mail", "code")
}

/// Waits for the next one-time code to `user`, timed as [`mail_step`].
pub async fn wait_for_code<T: Transport>(t: &T, user: &User) -> Result<(Mail, String)> {
    timed(t, &mail_step(), user.mailbox.next_code(MAIL_TIMEOUT)).await
}

/// What a sign-up journey observed, for tests to assert on.
#[derive(Debug)]
pub struct SignupJourney {
    /// The verification flow after the code was accepted.
    pub verification: Flow,
    /// `/sessions/whoami` right after login.
    pub session: Session,
    /// The session token, for API journeys.
    pub session_token: Option<String>,
    /// `/sessions/whoami` after logout: the error Kratos answered with.
    pub after_logout: Error,
}

/// Browser: register → the verification mail arrives → submit its code.
/// The identity can log in afterwards.
pub async fn browser_register_verified<T: Transport>(
    t: &T,
    user: &User,
    kratos: &Kratos,
) -> Result<Flow> {
    let verification_flow = registration::browser(t, kratos, &user.person).await?;
    let (_, code) = wait_for_code(t, user).await?;
    verification::browser(t, kratos, &verification_flow, &code).await
}

/// Native app: the same over the API flows.
pub async fn api_register_verified<T: Transport>(
    t: &T,
    user: &User,
    kratos: &Kratos,
) -> Result<Flow> {
    let (_, flow_id) = registration::api_to_verification(t, kratos, &user.person).await?;
    let (_, code) = wait_for_code(t, user).await?;
    verification::api(t, kratos, &flow_id, &code).await
}

/// Browser: register and verify ([`browser_register_verified`]) → log in
/// → whoami shows the verified address → log out → whoami is 401.
pub async fn browser_signup<T: Transport>(
    t: &T,
    user: &User,
    kratos: &Kratos,
) -> Result<SignupJourney> {
    let person = &user.person;
    let verification = browser_register_verified(t, user, kratos).await?;
    login::browser(t, kratos, &person.email, &person.password).await?;
    let session = kratos.whoami(t, None).await?;
    expect_verified(kratos, &session, &person.email)?;
    logout::browser(t, kratos).await?;
    let after_logout = kratos.whoami_refused(t, None).await?;
    Ok(SignupJourney {
        verification,
        session,
        session_token: None,
        after_logout,
    })
}

/// Native app: the same journey over the API flows, with a session token
/// instead of a cookie.
pub async fn api_signup<T: Transport>(
    t: &T,
    user: &User,
    kratos: &Kratos,
) -> Result<SignupJourney> {
    let person = &user.person;
    let verification = api_register_verified(t, user, kratos).await?;
    let login = login::api(t, kratos, &person.email, &person.password).await?;
    let session = kratos.whoami(t, Some(&login.session_token)).await?;
    expect_verified(kratos, &session, &person.email)?;
    logout::api(t, kratos, &login.session_token).await?;
    let after_logout = kratos.whoami_refused(t, Some(&login.session_token)).await?;
    Ok(SignupJourney {
        verification,
        session,
        session_token: Some(login.session_token),
        after_logout,
    })
}

/// Browser: forgot the password → the recovery code arrives by mail →
/// submit it (a privileged session) → the settings flow sets `password`.
/// Returns the saved settings flow.
pub async fn browser_recovery<T: Transport>(
    t: &T,
    user: &User,
    kratos: &Kratos,
    password: &str,
) -> Result<Flow> {
    let flow = recovery::browser_request(t, kratos, &user.person.email).await?;
    let (_, code) = wait_for_code(t, user).await?;
    let settings_flow = recovery::browser_code(t, kratos, &flow, &code).await?;
    settings::browser_password(t, kratos, Some(&settings_flow), password).await
}

/// The session belongs to `email` and that address is verified.
pub fn expect_verified(kratos: &Kratos, session: &Session, email: &str) -> Result<()> {
    let step = kratos.whoami_step().name().to_owned();
    let identity = session
        .identity
        .as_ref()
        .ok_or_else(|| Error::unexpected(&step, "the session has no identity"))?;
    let address = identity.verifiable_address(email).ok_or_else(|| {
        Error::unexpected(
            &step,
            format!("{email} is not among the identity's addresses"),
        )
    })?;
    if !address.verified || address.status != "completed" {
        return Err(Error::unexpected(
            &step,
            format!(
                "{email} is not verified (verified: {}, status: {})",
                address.verified, address.status
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kratos() -> Kratos {
        Kratos::public_only(url::Url::parse("http://127.0.0.1:4433/").unwrap())
    }

    fn session(verified: bool, status: &str) -> Session {
        serde_json::from_value(serde_json::json!({
            "id": "s1",
            "active": true,
            "identity": {
                "id": "i1", "schema_id": "person", "traits": {"email": "a@orygate.test"},
                "verifiable_addresses": [{
                    "value": "a@orygate.test", "verified": verified, "via": "email", "status": status
                }]
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_verified_address_passes() {
        expect_verified(&kratos(), &session(true, "completed"), "A@orygate.test").unwrap();
    }

    #[test]
    fn an_unverified_or_unknown_address_fails() {
        let err =
            expect_verified(&kratos(), &session(false, "sent"), "a@orygate.test").unwrap_err();
        assert!(err.to_string().contains("is not verified"), "{err}");
        let err =
            expect_verified(&kratos(), &session(true, "completed"), "b@orygate.test").unwrap_err();
        assert!(err.to_string().contains("not among"), "{err}");
    }
}
