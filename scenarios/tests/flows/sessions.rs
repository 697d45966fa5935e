//! A user's own sessions: the others listed, one revoked, all others
//! revoked; a new password that signs the identity out elsewhere where the
//! config says so; and verification by a link in the mail.

use harness::{Browser, NativeApp, OryStack, Service};
use scenarios::flows::{login, registration, settings, verification};
use scenarios::journey;

use crate::support::{init_tracing, kratos_stack, ok, seed, signed_in, user};

async fn stack_with(overlay: &str) -> OryStack {
    init_tracing();
    OryStack::builder()
        .with_kratos()
        .overlay(
            Service::Kratos,
            harness::repo_root().join("fixtures/kratos").join(overlay),
        )
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"))
}

#[tokio::test]
async fn a_user_lists_its_other_sessions_revokes_one_then_all_others() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("own_sessions"));
    let (email, password) = (&user.person.email, &user.person.password);
    let (laptop, phone, tablet) = (
        Browser::new().unwrap(),
        Browser::new().unwrap(),
        Browser::new().unwrap(),
    );
    ok(
        stack,
        journey::browser_register_verified(&laptop, &user, &kratos).await,
    )
    .await;
    for browser in [&laptop, &phone, &tablet] {
        ok(
            stack,
            login::browser(browser, &kratos, email, password).await,
        )
        .await;
    }
    let app = NativeApp::new().unwrap();
    let native = ok(stack, login::api(&app, &kratos, email, password).await).await;
    let token = Some(native.session_token.as_str());

    // From the app: the three browsers' sessions, not its own.
    let others = ok(stack, kratos.other_sessions(&app, token).await).await;
    let phone_id = ok(stack, kratos.whoami(&phone, None).await).await.id;
    assert!(others.iter().any(|s| s.id == phone_id), "{others:?}");
    assert!(!others.iter().any(|s| s.id == native.session.id));

    ok(
        stack,
        kratos.revoke_own_session(&app, &phone_id, token).await,
    )
    .await;
    ok(stack, kratos.whoami_refused(&phone, None).await).await;
    ok(stack, kratos.whoami(&laptop, None).await).await;

    // From the laptop, by cookie: every other session ends, its own stays.
    let revoked = ok(stack, kratos.revoke_other_sessions(&laptop, None).await).await;
    assert!(revoked >= 2, "revoked {revoked}");
    ok(stack, kratos.whoami_refused(&tablet, None).await).await;
    ok(stack, kratos.whoami_refused(&app, token).await).await;
    ok(stack, kratos.whoami(&laptop, None).await).await;
}

#[tokio::test]
async fn a_new_password_from_recovery_ends_the_other_sessions_where_configured() {
    let stack = stack_with("revoke-on-password").await;
    let kratos = stack.kratos();
    let (user, laptop) = signed_in(&stack, seed("revoke_on_password")).await;

    let new_password = format!("{}-recovered", user.person.password);
    let elsewhere = Browser::new().unwrap();
    ok(
        &stack,
        journey::browser_recovery(&elsewhere, &user, &kratos, &new_password).await,
    )
    .await;

    ok(&stack, kratos.whoami_refused(&laptop, None).await).await;
    ok(&stack, kratos.whoami(&elsewhere, None).await).await;
}

#[tokio::test]
async fn a_native_app_changes_its_password_by_session_token() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("api_settings"));
    let app = NativeApp::new().unwrap();
    ok(
        stack,
        journey::api_register_verified(&app, &user, &kratos).await,
    )
    .await;
    let native = ok(
        stack,
        login::api(&app, &kratos, &user.person.email, &user.person.password).await,
    )
    .await;
    let new_password = format!("{}-native", user.person.password);
    let saved = ok(
        stack,
        settings::api_password(&app, &kratos, &native.session_token, None, &new_password).await,
    )
    .await;
    assert_eq!(saved.state_str(), Some(settings::SAVED));
    assert_eq!(saved.flow_type, "api");
    ok(
        stack,
        login::api(
            &NativeApp::new().unwrap(),
            &kratos,
            &user.person.email,
            &new_password,
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn verification_by_a_link_in_the_mail_followed_hop_by_hop() {
    let stack = stack_with("verify-by-link").await;
    let kratos = stack.kratos();
    let user = user(&stack, seed("verify_link"));
    let browser = Browser::new().unwrap();
    ok(
        &stack,
        registration::browser(&browser, &kratos, &user.person).await,
    )
    .await;
    let mail = ok(&stack, user.mailbox.next(journey::MAIL_TIMEOUT).await).await;
    let link = mail
        .link_to("/self-service/verification")
        .unwrap_or_else(|| panic!("no verification link in {:?}", mail.links()));
    assert_eq!(link.origin(), kratos.public_base().origin());

    let flow = ok(
        &stack,
        verification::browser_link(&browser, &kratos, &link).await,
    )
    .await;
    assert_eq!(flow.state_str(), Some(verification::PASSED));
    ok(
        &stack,
        login::browser(&browser, &kratos, &user.person.email, &user.person.password).await,
    )
    .await;
    let session = ok(&stack, kratos.whoami(&browser, None).await).await;
    journey::expect_verified(&kratos, &session, &user.person.email).unwrap();
}
