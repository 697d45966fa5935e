//! What expires, against Kratos with the short lifespans of
//! `fixtures/kratos/short-lifespans/` (8 s): flows, codes, and the
//! freshness a privileged change needs.

use std::time::Duration;

use harness::{Browser, Error, NativeApp, OryStack};
use scenarios::flows::{self, Kind, login, registration, settings, verification};
use scenarios::journey;

use crate::support::{ok, seed, user};

/// Longer than every lifespan of the overlay.
const OUTLIVE: Duration = Duration::from_millis(8500);

/// The short-lifespans profile, shared by this file's tests.
async fn short_lived_stack() -> &'static OryStack {
    crate::support::shared_kratos(Some("short-lifespans")).await
}

/// A verified account made through the admin API: signing up by mail
/// would race the 8 s codes of this profile.
async fn verified_account(stack: &OryStack, person: &scenarios::Person) {
    let admin = NativeApp::new().unwrap();
    ok(
        stack,
        stack
            .kratos()
            .create_identity(&admin, &person.traits(), &person.password, &[&person.email])
            .await,
    )
    .await;
}

#[tokio::test]
async fn an_expired_login_flow_is_refused_and_a_fresh_one_works() {
    let stack = short_lived_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("expired_login"));
    let (email, password) = (&user.person.email, &user.person.password);
    verified_account(stack, &user.person).await;

    // Browser: the post of an expired form is sent to a new flow that says
    // why (4010001), not signed in.
    let browser = Browser::new().unwrap();
    let flow = ok(
        stack,
        flows::start_browser(&browser, &kratos, Kind::Login).await,
    )
    .await;
    tokio::time::sleep(OUTLIVE).await;
    let outcome = ok(
        stack,
        flows::submit_browser(
            &browser,
            &kratos,
            Kind::Login,
            &flow,
            &[
                ("method", "password"),
                ("identifier", email),
                ("password", password),
            ],
        )
        .await,
    )
    .await;
    let flows::Outcome::Elsewhere(landing) = outcome else {
        panic!("expected to be sent to a new flow");
    };
    let new_flow = flows::flow_param(&landing.url).expect("a new flow");
    assert_ne!(new_flow, flow.id);
    let again = ok(
        stack,
        flows::fetch_flow(&browser, &kratos, Kind::Login, &new_flow).await,
    )
    .await;
    assert!(
        again.messages().iter().any(|(id, _)| *id == 4010001),
        "{:?}",
        again.messages()
    );
    kratos.whoami_refused(&browser, None).await.unwrap();

    // API: the same post answers 410 self_service_flow_expired.
    let app = NativeApp::new().unwrap();
    let flow = ok(stack, flows::start_api(&app, &kratos, Kind::Login).await).await;
    tokio::time::sleep(OUTLIVE).await;
    let expired = flows::submit_api::<_, _, serde_json::Value>(
        &app,
        &flow,
        &serde_json::json!({ "method": "password", "identifier": email, "password": password }),
    )
    .await
    .expect_err("the flow expired");
    assert_eq!(expired.status(), Some(410), "{expired}");
    assert_eq!(
        expired.ory_id().as_deref(),
        Some("self_service_flow_expired"),
        "{expired}"
    );

    // A fresh flow works.
    ok(
        stack,
        login::browser(&browser, &kratos, email, password).await,
    )
    .await;
    ok(stack, kratos.whoami(&browser, None).await).await;
}

#[tokio::test]
async fn an_expired_verification_code_is_refused() {
    let stack = short_lived_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("expired_code"));
    let browser = Browser::new().unwrap();
    let flow_id = ok(
        stack,
        registration::browser(&browser, &kratos, &user.person).await,
    )
    .await;
    let (_, code) = ok(stack, user.mailbox.next_code(journey::MAIL_TIMEOUT).await).await;
    tokio::time::sleep(OUTLIVE).await;

    let flow = ok(
        stack,
        flows::fetch_flow(&browser, &kratos, Kind::Verification, &flow_id).await,
    )
    .await;
    let outcome = ok(
        stack,
        flows::submit_browser(
            &browser,
            &kratos,
            Kind::Verification,
            &flow,
            &[("method", "code"), ("code", &code)],
        )
        .await,
    )
    .await;
    // Not verified: sent to a new verification flow that says why.
    let flows::Outcome::Elsewhere(landing) = outcome else {
        panic!("an expired code must not pass the challenge");
    };
    let new_flow = flows::flow_param(&landing.url).expect("a new verification flow");
    assert_ne!(new_flow, flow_id);
    let again = ok(
        stack,
        flows::fetch_flow(&browser, &kratos, Kind::Verification, &new_flow).await,
    )
    .await;
    let ids: Vec<i64> = again.messages().iter().map(|m| m.0).collect();
    assert!(ids.contains(&4070005), "{:?}", again.messages());
    assert_ne!(again.state_str(), Some(verification::PASSED));
}

#[tokio::test]
async fn a_password_change_needs_a_fresh_session_and_a_refresh_login_gives_one() {
    let stack = short_lived_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("privileged"));
    let (email, password) = (&user.person.email, &user.person.password);
    let browser = Browser::new().unwrap();
    verified_account(stack, &user.person).await;
    ok(
        stack,
        login::browser(&browser, &kratos, email, password).await,
    )
    .await;
    tokio::time::sleep(OUTLIVE).await;

    // The session is older than privileged_session_max_age: Kratos sends
    // the browser to log in again instead of saving.
    let new_password = format!("{password}-changed");
    let refused = settings::browser_password(&browser, &kratos, None, &new_password)
        .await
        .expect_err("the session is not fresh");
    assert!(
        refused.to_string().contains("/login"),
        "expected to be sent to log in again: {refused}"
    );

    // Logging in again (refresh=true) makes it fresh: the change saves.
    ok(
        stack,
        login::browser_refresh(&browser, &kratos, email, password).await,
    )
    .await;
    let saved = ok(
        stack,
        settings::browser_password(&browser, &kratos, None, &new_password).await,
    )
    .await;
    assert_eq!(saved.state_str(), Some(settings::SAVED));
    let old = login::browser(&Browser::new().unwrap(), &kratos, email, password)
        .await
        .expect_err("the password changed");
    assert!(matches!(old, Error::Flow { .. }), "{old}");
}

#[tokio::test]
async fn a_native_app_with_a_stale_session_is_told_to_refresh_it() {
    let stack = short_lived_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("privileged_api"));
    let (email, password) = (&user.person.email, &user.person.password);
    verified_account(stack, &user.person).await;
    let app = NativeApp::new().unwrap();
    let native = ok(stack, login::api(&app, &kratos, email, password).await).await;
    tokio::time::sleep(OUTLIVE).await;

    let refused = settings::api_password(
        &app,
        &kratos,
        &native.session_token,
        None,
        &format!("{password}-changed"),
    )
    .await
    .expect_err("the session is not fresh");
    assert_eq!(refused.status(), Some(403), "{refused}");
    assert_eq!(
        refused.ory_id().as_deref(),
        Some("session_refresh_required"),
        "{refused}"
    );
}
