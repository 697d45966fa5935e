//! What Kratos refuses, and how: each case asserts the status, Ory's error
//! id or the flow's message ids, and that nothing else changed.

use std::time::Duration;

use harness::{Browser, Error, NativeApp, transport::Transport};
use scenarios::flows::{self, Kind, login, logout, registration, verification};
use scenarios::journey;

use crate::support::{kratos_stack, ok, seed, signed_in, user};

/// The message ids of a rejected flow.
fn ids(error: &Error) -> Vec<i64> {
    match error {
        Error::Flow { messages, .. } => messages.iter().map(|m| m.0).collect(),
        other => panic!("expected a rejected flow, got: {other}"),
    }
}

#[tokio::test]
async fn registration_refuses_a_taken_address_a_weak_password_and_a_missing_email() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let person = user(stack, seed("refuse_registration")).person;
    ok(
        stack,
        registration::browser(&Browser::new().unwrap(), &kratos, &person).await,
    )
    .await;

    // The same address again: 4000007 "An account with the same identifier
    // exists already".
    let taken = registration::browser(&Browser::new().unwrap(), &kratos, &person)
        .await
        .expect_err("the address is taken");
    assert_eq!(ids(&taken), [4000007], "{taken}");

    // Shorter than min_password_length (10): 4000032.
    let mut short = user(stack, seed("refuse_short")).person;
    short.password = "Ab3-xy".into();
    let refused = registration::browser(&Browser::new().unwrap(), &kratos, &short)
        .await
        .expect_err("the password is too short");
    assert_eq!(ids(&refused), [4000032], "{refused}");

    // The address itself as the password: 4000031, too similar.
    let mut similar = user(stack, seed("refuse_similar")).person;
    similar.password.clone_from(&similar.email);
    let refused = registration::browser(&Browser::new().unwrap(), &kratos, &similar)
        .await
        .expect_err("the password is the identifier");
    assert_eq!(ids(&refused), [4000031], "{refused}");

    // No email, which the schema requires: 4000002 on traits.email.
    let browser = Browser::new().unwrap();
    let flow = ok(
        stack,
        flows::start_browser(&browser, &kratos, Kind::Registration).await,
    )
    .await;
    let refused = flows::submit_browser(
        &browser,
        &kratos,
        Kind::Registration,
        &flow,
        &[("method", "password"), ("password", &person.password)],
    )
    .await
    .expect_err("the email is required");
    assert_eq!(ids(&refused), [4000002], "{refused}");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_address_get_the_same_answer() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("refuse_login"));
    ok(
        stack,
        journey::browser_register_verified(&Browser::new().unwrap(), &user, &kratos).await,
    )
    .await;

    let wrong = login::browser(
        &Browser::new().unwrap(),
        &kratos,
        &user.person.email,
        "not-the-password-1",
    )
    .await
    .expect_err("a wrong password");
    let unknown = login::browser(
        &Browser::new().unwrap(),
        &kratos,
        "nobody.at.all@orygate.test",
        "not-the-password-1",
    )
    .await
    .expect_err("an unknown address");

    // 4000006 "The provided credentials are invalid", word for word the
    // same: the answer does not say which accounts exist.
    let (Error::Flow { messages: a, .. }, Error::Flow { messages: b, .. }) = (&wrong, &unknown)
    else {
        panic!("expected rejected flows: {wrong} / {unknown}");
    };
    assert_eq!(ids(&wrong), [4000006]);
    assert_eq!(a, b);

    // The same over the API: a 400 with the flow, the same message.
    let api = login::api(
        &NativeApp::new().unwrap(),
        &kratos,
        &user.person.email,
        "not-the-password-1",
    )
    .await
    .expect_err("a wrong password");
    assert_eq!(ids(&api), [4000006], "{api}");
}

#[tokio::test]
async fn whoami_refuses_a_garbage_token_and_a_revoked_one() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let app = NativeApp::new().unwrap();

    let garbage = ok(
        stack,
        kratos
            .whoami_refused(&app, Some("ory_st_not-a-real-token"))
            .await,
    )
    .await;
    assert_eq!(garbage.status(), Some(401));

    let user = user(stack, seed("revoked_token"));
    ok(
        stack,
        journey::api_register_verified(&app, &user, &kratos).await,
    )
    .await;
    let session = ok(
        stack,
        login::api(&app, &kratos, &user.person.email, &user.person.password).await,
    )
    .await;
    ok(
        stack,
        kratos.whoami(&app, Some(&session.session_token)).await,
    )
    .await;
    ok(
        stack,
        logout::api(&app, &kratos, &session.session_token).await,
    )
    .await;
    let revoked = ok(
        stack,
        kratos
            .whoami_refused(&app, Some(&session.session_token))
            .await,
    )
    .await;
    assert_eq!(revoked.status(), Some(401));
}

#[tokio::test]
async fn a_form_with_a_tampered_csrf_token_is_refused() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let browser = Browser::new().unwrap();
    let mut flow = ok(
        stack,
        flows::start_browser(&browser, &kratos, Kind::Registration).await,
    )
    .await;
    // The browser keeps its CSRF cookie; the token in the form is changed.
    for node in &mut flow.ui.nodes {
        if node.attributes.name.as_deref() == Some("csrf_token") {
            node.attributes.value = Some(serde_json::json!("dGFtcGVyZWQ="));
        }
    }
    let p = user(stack, seed("tampered_csrf")).person;
    let refused = flows::submit_browser(
        &browser,
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
    .expect_err("a tampered token");
    assert_eq!(
        refused.ory_id().as_deref(),
        Some("security_csrf_violation"),
        "{refused}"
    );
    assert_eq!(refused.status(), Some(403));
}

#[tokio::test]
async fn a_logout_url_used_from_another_browser_does_not_end_the_session() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let (_, owner) = signed_in(stack, seed("stolen_logout")).await;
    let url: harness::kratos::LogoutUrl = ok(
        stack,
        harness::transport::get_json(
            &owner,
            "kratos",
            kratos.public("self-service/logout/browser"),
        )
        .await,
    )
    .await;

    // Another browser follows the owner's logout link: Kratos refuses it.
    let logout = url::Url::parse(&url.logout_url).unwrap();
    let step = harness::Step::get("kratos", &logout).expecting(harness::Expect::Navigate);
    let other = Browser::new().unwrap();
    let answer = other
        .agent()
        .exchange(&step, other.client().get(logout.clone()))
        .await
        .unwrap();
    // Kratos sends it to the error page and ends no session.
    assert_eq!(answer.status().as_u16(), 303);
    let to = answer
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| url::Url::parse(l).ok())
        .expect("a redirect");
    assert_eq!(to.path(), "/error", "{to}");
    let id = flows::query_param(&to, "id").expect("an error id");
    let error: serde_json::Value = ok(
        stack,
        harness::transport::get_json(
            &other,
            "kratos",
            kratos.public(&format!("self-service/errors?id={id}")),
        )
        .await,
    )
    .await;
    // Kratos' reason: the other browser has no session to end.
    assert_eq!(error["error"]["code"], 401, "{error}");
    assert_eq!(error["error"]["id"], "session_inactive", "{error}");

    // The owner is still signed in.
    ok(stack, kratos.whoami(&owner, None).await).await;

    // The control: the owner's own use of the same URL ends the session.
    ok(
        stack,
        owner
            .send(&step, owner.client().get(logout))
            .await
            .map(drop),
    )
    .await;
    kratos.whoami_refused(&owner, None).await.unwrap();
}

/// Kratos answers a verification request for an address it does not know
/// exactly as for one it knows (no account enumeration), and mails only
/// the known one: the known address's mail, asked for after the unknown
/// one's, has arrived before "nothing for the stranger" is concluded.
#[tokio::test]
async fn verification_for_an_unknown_address_answers_as_for_a_known_one_and_mails_nobody() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let (known, _) = signed_in(stack, seed("verify_known")).await;
    known.mailbox.clear();
    let stranger = user(stack, seed("verify_stranger"));
    let ask = |email: String| {
        let kratos = kratos.clone();
        async move {
            let browser = Browser::new().unwrap();
            let flow = flows::start_browser(&browser, &kratos, Kind::Verification).await?;
            verification::browser_send_code(&browser, &kratos, &flow, &email).await
        }
    };
    let for_stranger = ok(stack, ask(stranger.person.email.clone()).await).await;
    let for_known = ok(stack, ask(known.person.email.clone()).await).await;

    assert_eq!(for_stranger.state_str(), Some(verification::SENT));
    assert_eq!(for_stranger.state_str(), for_known.state_str());
    assert_eq!(for_stranger.messages(), for_known.messages());
    assert!(
        !for_known.messages().is_empty(),
        "Kratos says a code was sent"
    );

    ok(
        stack,
        known
            .mailbox
            .next_code(Duration::from_secs(15))
            .await
            .map(drop),
    )
    .await;
    let nothing = stranger.mailbox.next(Duration::from_millis(500)).await;
    assert!(
        matches!(nothing, Err(Error::MailTimeout { .. })),
        "{nothing:?}"
    );
}
