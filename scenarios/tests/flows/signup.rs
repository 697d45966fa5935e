//! Sign-up, verification, login and logout against a real Kratos.

use harness::{Browser, Error, NativeApp, transport::Transport};
use scenarios::flows::{self, Kind, login, registration, verification};
use scenarios::journey;

use crate::support::{kratos_stack, ok, seed, user};

#[tokio::test]
async fn browser_signup_verifies_the_address_then_logs_in_and_out() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("browser_signup"));
    let browser = Browser::new().unwrap();

    let journey = ok(
        stack,
        journey::browser_signup(&browser, &user, &kratos).await,
    )
    .await;

    assert_eq!(journey.verification.state_str(), Some(verification::PASSED));
    let identity = journey
        .session
        .identity
        .as_ref()
        .expect("the session has an identity");
    assert_eq!(identity.traits["email"], user.person.email);
    assert_eq!(identity.traits["name"]["first"], user.person.first_name);
    let address = identity.verifiable_address(&user.person.email).unwrap();
    assert!(
        address.verified && address.verified_at.is_some(),
        "{address:?}"
    );
    assert_eq!(journey.session.active, Some(true));
    assert_eq!(
        journey.session.authenticator_assurance_level.as_deref(),
        Some("aal1")
    );

    assert_eq!(journey.after_logout.status(), Some(401));
    let reason = journey.after_logout.to_string();
    assert!(reason.contains("No valid session credentials"), "{reason}");
    let jar_after = browser.cookie(kratos.public_base(), "ory_kratos_session");
    assert!(
        jar_after.is_none(),
        "logout left the session cookie: {jar_after:?}"
    );
}

#[tokio::test]
async fn api_signup_carries_a_session_token_and_no_cookies() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("api_signup"));
    let app = NativeApp::new().unwrap();

    let journey = ok(stack, journey::api_signup(&app, &user, &kratos).await).await;

    assert_eq!(journey.verification.flow_type, "api");
    assert_eq!(journey.verification.state_str(), Some(verification::PASSED));
    let token = journey
        .session_token
        .as_deref()
        .expect("an API login returns a token");
    assert!(token.starts_with("ory_st_"), "{token}");
    let identity = journey.session.identity.as_ref().unwrap();
    assert!(
        identity
            .verifiable_address(&user.person.email)
            .unwrap()
            .verified
    );
    assert_eq!(journey.after_logout.status(), Some(401));

    // Kratos' API answers set no cookie: a native login, raw.
    let raw = app.client();
    let started = raw
        .get(kratos.public("self-service/login/api"))
        .send()
        .await
        .unwrap();
    let set_cookie = reqwest::header::SET_COOKIE;
    assert_eq!(started.headers().get_all(&set_cookie).iter().count(), 0);
    let flow: harness::kratos::Flow = started.json().await.unwrap();
    let posted = raw
        .post(&flow.ui.action)
        .json(&serde_json::json!({
            "method": "password",
            "identifier": user.person.email,
            "password": user.person.password,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(
        posted.headers().get_all(&set_cookie).iter().count(),
        0,
        "{:?}",
        posted.headers()
    );

    // The admin API agrees: the identity is active and its address verified.
    let admin = NativeApp::new().unwrap();
    let stored = ok(stack, kratos.identity(&admin, &identity.id).await).await;
    assert_eq!(stored.state.as_deref(), Some("active"));
    assert_eq!(stored.schema_id, "person");
    assert!(
        stored
            .verifiable_address(&user.person.email)
            .unwrap()
            .verified
    );
    assert_eq!(stored.recovery_addresses[0].value, user.person.email);
}

#[tokio::test]
async fn login_is_refused_until_the_address_is_verified() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("unverified_login"));
    let browser = Browser::new().unwrap();
    let person = &user.person;
    ok(
        stack,
        registration::browser(&browser, &kratos, person).await,
    )
    .await;

    let refused = login::browser(&browser, &kratos, &person.email, &person.password)
        .await
        .expect_err("an unverified address must not log in");

    assert!(matches!(refused, Error::Flow { .. }), "{refused}");
    assert_eq!(refused.ory_id().as_deref(), Some("4000010"), "{refused}");
    let whoami = kratos.whoami(&browser, None).await.expect_err("no session");
    assert_eq!(whoami.status(), Some(401));
}

#[tokio::test]
async fn a_wrong_verification_code_is_rejected_and_the_right_one_still_works() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("wrong_code"));
    let t = &Browser::new().unwrap();
    let flow_id = ok(stack, registration::browser(t, &kratos, &user.person).await).await;
    let (mail, code) = ok(stack, user.mailbox.next_code(journey::MAIL_TIMEOUT).await).await;
    assert!(
        mail.recipients.contains(&user.person.email),
        "{:?}",
        mail.recipients
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };

    let rejected = verification::browser(t, &kratos, &flow_id, wrong)
        .await
        .expect_err("a wrong code must be rejected");

    assert_eq!(rejected.ory_id().as_deref(), Some("4070006"), "{rejected}");
    let passed = ok(
        stack,
        verification::browser(t, &kratos, &flow_id, &code).await,
    )
    .await;
    assert_eq!(passed.state_str(), Some(verification::PASSED));
}

#[tokio::test]
async fn a_form_posted_without_the_csrf_cookie_is_refused() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let victim = Browser::new().unwrap();
    let attacker = Browser::new().unwrap();
    let flow = ok(
        stack,
        flows::start_browser(&victim, &kratos, Kind::Registration).await,
    )
    .await;
    assert!(flow.csrf_token().is_some_and(|t| !t.is_empty()));

    // The same form, token included, sent from a browser without the
    // victim's CSRF cookie.
    let p = &user(stack, seed("csrf_attacker")).person;
    let refused = flows::submit_browser(
        &attacker,
        &kratos,
        Kind::Registration,
        &flow,
        &[
            ("method", "password"),
            ("traits.email", &p.email),
            ("password", &p.password),
        ],
    )
    .await
    .expect_err("Kratos must refuse a form without its CSRF cookie");

    assert_eq!(
        refused.ory_id().as_deref(),
        Some("security_csrf_violation"),
        "{refused}"
    );
    assert_eq!(refused.status(), Some(403), "{refused}");
}
