//! Recovery by code and the settings flow against a real Kratos.

use std::time::Duration;

use harness::{Browser, Error};
use scenarios::flows::{login, recovery, settings};
use scenarios::journey;

use crate::support::{kratos_stack, ok, seed, signed_in, user};

#[tokio::test]
async fn recovery_by_code_sets_a_new_password_and_the_old_one_stops_working() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("recovery"));
    let signup = Browser::new().unwrap();
    ok(
        stack,
        journey::browser_register_verified(&signup, &user, &kratos).await,
    )
    .await;

    let forgetful = Browser::new().unwrap();
    let new_password = format!("{}-new", user.person.password);
    let saved = ok(
        stack,
        journey::browser_recovery(&forgetful, &user, &kratos, &new_password).await,
    )
    .await;
    assert_eq!(saved.state_str(), Some(settings::SAVED));
    // Kratos says so on the form: 1050001 "Your changes have been saved!".
    assert!(
        saved.messages().iter().any(|(id, _)| *id == 1050001),
        "{:?}",
        saved.messages()
    );
    // The recovery signed this browser in.
    let session = ok(stack, kratos.whoami(&forgetful, None).await).await;
    assert_eq!(
        session.identity.as_ref().unwrap().traits["email"],
        user.person.email
    );

    let old = login::browser(
        &Browser::new().unwrap(),
        &kratos,
        &user.person.email,
        &user.person.password,
    )
    .await
    .expect_err("the old password no longer works");
    assert_eq!(old.ory_id().as_deref(), Some("4000006"), "{old}");
    let fresh = Browser::new().unwrap();
    ok(
        stack,
        login::browser(&fresh, &kratos, &user.person.email, &new_password).await,
    )
    .await;
    ok(stack, kratos.whoami(&fresh, None).await).await;
}

#[tokio::test]
async fn recovery_for_an_unknown_address_answers_the_same_and_mails_nobody() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let known = user(stack, seed("recovery_known"));
    ok(
        stack,
        journey::browser_register_verified(&Browser::new().unwrap(), &known, &kratos).await,
    )
    .await;
    let stranger = user(stack, seed("recovery_stranger"));

    let for_known = ok(
        stack,
        recovery::browser_request(&Browser::new().unwrap(), &kratos, &known.person.email).await,
    )
    .await;
    let for_stranger = ok(
        stack,
        recovery::browser_request(&Browser::new().unwrap(), &kratos, &stranger.person.email).await,
    )
    .await;

    // Same state, same messages: the answer does not tell who has an account.
    assert_eq!(for_known.state_str(), Some(recovery::SENT));
    assert_eq!(for_stranger.state_str(), Some(recovery::SENT));
    let ids = |f: &harness::kratos::Flow| f.messages().into_iter().map(|m| m.0).collect::<Vec<_>>();
    assert_eq!(ids(&for_known), ids(&for_stranger));
    // The account holder gets a code; with notify_unknown_recipients off,
    // the stranger gets nothing.
    ok(stack, known.mailbox.next_code(journey::MAIL_TIMEOUT).await).await;
    let nothing = stranger.mailbox.next(Duration::from_secs(3)).await;
    assert!(
        matches!(nothing, Err(Error::MailTimeout { .. })),
        "{nothing:?}"
    );
}

#[tokio::test]
async fn settings_change_traits_and_whoami_shows_them() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let (user, browser) = signed_in(stack, seed("settings_traits")).await;

    let saved = ok(
        stack,
        settings::browser_profile(
            &browser,
            &kratos,
            &[
                ("traits.email", &user.person.email),
                ("traits.name.first", "Renamed"),
                ("traits.name.last", &user.person.last_name),
            ],
        )
        .await,
    )
    .await;

    assert_eq!(saved.state_str(), Some(settings::SAVED));
    let session = ok(stack, kratos.whoami(&browser, None).await).await;
    assert_eq!(session.identity.unwrap().traits["name"]["first"], "Renamed");
}

#[tokio::test]
async fn a_native_app_recovers_by_code_and_sets_a_new_password_by_token() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("api_recovery"));
    let app = harness::NativeApp::new().unwrap();
    ok(
        stack,
        journey::api_register_verified(&app, &user, &kratos).await,
    )
    .await;

    let flow = ok(
        stack,
        recovery::api_request(&app, &kratos, &user.person.email).await,
    )
    .await;
    let (_, code) = ok(stack, user.mailbox.next_code(journey::MAIL_TIMEOUT).await).await;
    let recovered = ok(stack, recovery::api_code(&app, &flow, &code).await).await;
    assert!(recovered.session_token.starts_with("ory_st_"));
    ok(
        stack,
        kratos.whoami(&app, Some(&recovered.session_token)).await,
    )
    .await;

    let new_password = format!("{}-api-recovered", user.person.password);
    ok(
        stack,
        settings::api_password(
            &app,
            &kratos,
            &recovered.session_token,
            Some(&recovered.settings_flow),
            &new_password,
        )
        .await,
    )
    .await;
    ok(
        stack,
        login::api(&app, &kratos, &user.person.email, &new_password).await,
    )
    .await;
}
