//! Whole user journeys composed from the flows: what CI proves and what the
//! load test replays.

use std::time::Duration;

use harness::kratos::{Flow, Session};
use harness::{Error, Kratos, Result, Transport};

use crate::flows::{login, logout, registration, verification};
use crate::user::VirtualUser;

/// How long a journey waits for a verification mail.
pub const MAIL_TIMEOUT: Duration = harness::mail::DEFAULT_MAIL_TIMEOUT;

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

/// Browser: register → the verification mail arrives → submit its code →
/// log in → whoami shows the verified address → log out → whoami is 401.
pub async fn browser_signup<T: Transport>(
    user: &VirtualUser<T>,
    kratos: &Kratos,
) -> Result<SignupJourney> {
    let t = &user.transport;
    let person = &user.person;
    let verification_flow = registration::browser(t, kratos, person).await?;
    let (_, code) = user.mailbox.next_code(MAIL_TIMEOUT).await?;
    let verification = verification::browser(t, kratos, &verification_flow, &code).await?;
    login::browser(t, kratos, &person.email, &person.password).await?;
    let session = kratos.whoami(t, None).await?;
    expect_verified(&session, &person.email)?;
    logout::browser(t, kratos).await?;
    let after_logout = expect_signed_out(kratos.whoami(t, None).await)?;
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
    user: &VirtualUser<T>,
    kratos: &Kratos,
) -> Result<SignupJourney> {
    let t = &user.transport;
    let person = &user.person;
    let registered = registration::api(t, kratos, person).await?;
    let flow_id = registered.verification_flow_id().ok_or_else(|| {
        Error::unexpected(
            "kratos POST /self-service/registration?flow=%",
            "the answer has no show_verification_ui continue_with",
        )
    })?;
    let (_, code) = user.mailbox.next_code(MAIL_TIMEOUT).await?;
    let verification = verification::api(t, kratos, flow_id, &code).await?;
    let login = login::api(t, kratos, &person.email, &person.password).await?;
    let session = kratos.whoami(t, Some(&login.session_token)).await?;
    expect_verified(&session, &person.email)?;
    logout::api(t, kratos, &login.session_token).await?;
    let after_logout = expect_signed_out(kratos.whoami(t, Some(&login.session_token)).await)?;
    Ok(SignupJourney {
        verification,
        session,
        session_token: Some(login.session_token),
        after_logout,
    })
}

/// The session belongs to `email` and that address is verified.
pub fn expect_verified(session: &Session, email: &str) -> Result<()> {
    let step = "kratos GET /sessions/whoami";
    let identity = session
        .identity
        .as_ref()
        .ok_or_else(|| Error::unexpected(step, "the session has no identity"))?;
    let address = identity.verifiable_address(email).ok_or_else(|| {
        Error::unexpected(
            step,
            format!("{email} is not among the identity's addresses"),
        )
    })?;
    if !address.verified || address.status != "completed" {
        return Err(Error::unexpected(
            step,
            format!(
                "{email} is not verified (verified: {}, status: {})",
                address.verified, address.status
            ),
        ));
    }
    Ok(())
}

/// whoami must answer 401 once the session is gone.
fn expect_signed_out(whoami: Result<Session>) -> Result<Error> {
    match whoami {
        Err(e) if e.status() == Some(401) => Ok(e),
        Err(e) => Err(e),
        Ok(session) => Err(Error::unexpected(
            "kratos GET /sessions/whoami",
            format!("session {} is still active after logout", session.id),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        expect_verified(&session(true, "completed"), "A@orygate.test").unwrap();
    }

    #[test]
    fn an_unverified_or_unknown_address_fails() {
        let err = expect_verified(&session(false, "sent"), "a@orygate.test").unwrap_err();
        assert!(err.to_string().contains("is not verified"), "{err}");
        let err = expect_verified(&session(true, "completed"), "b@orygate.test").unwrap_err();
        assert!(err.to_string().contains("not among"), "{err}");
    }

    #[test]
    fn a_session_that_survives_logout_fails() {
        let err = expect_signed_out(Ok(session(true, "completed"))).unwrap_err();
        assert!(
            err.to_string().contains("still active after logout"),
            "{err}"
        );
        let other = Error::Status {
            step: "s".into(),
            status: 500,
            error_id: None,
            message: "boom".into(),
        };
        assert_eq!(
            expect_signed_out(Err(other)).unwrap_err().status(),
            Some(500)
        );
    }
}
