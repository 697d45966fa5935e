//! Verification codes that must not work twice, sessions as configured,
//! `return_to`, and requests Kratos cannot use.

use harness::{Browser, Expect, transport::Transport};
use scenarios::flows::{self, Kind, login, registration, verification};
use scenarios::journey;

use crate::support::{kratos_stack, ok, seed, signed_in, user};

#[tokio::test]
async fn a_code_works_once_and_a_new_code_replaces_the_old() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("code_once"));
    let browser = Browser::new().unwrap();
    let flow_id = ok(
        stack,
        registration::browser(&browser, &kratos, &user.person).await,
    )
    .await;
    let (_, first) = ok(stack, user.mailbox.next_code(journey::MAIL_TIMEOUT).await).await;

    // Ask for another code in the same flow: a second mail.
    let flow = ok(
        stack,
        flows::fetch_flow(&browser, &kratos, Kind::Verification, &flow_id).await,
    )
    .await;
    ok(
        stack,
        verification::browser_send_code(&browser, &kratos, &flow, &user.person.email).await,
    )
    .await;
    let (_, second) = ok(stack, user.mailbox.next_code(journey::MAIL_TIMEOUT).await).await;
    assert_ne!(first, second);

    let stale = verification::browser(&browser, &kratos, &flow_id, &first)
        .await
        .expect_err("the first code was replaced");
    assert_eq!(stale.ory_id().as_deref(), Some("4070006"), "{stale}");
    ok(
        stack,
        verification::browser(&browser, &kratos, &flow_id, &second).await,
    )
    .await;

    // Used once, the code does not pass the same flow again: posted to the
    // flow's form as it was before, Kratos refuses it.
    let replay = flows::submit_browser(
        &browser,
        &kratos,
        Kind::Verification,
        &flow,
        &[("method", "code"), ("code", &second)],
    )
    .await;
    let Ok(flows::Outcome::Elsewhere(landing)) = replay else {
        panic!("expected to be sent to a new flow: {replay:?}");
    };
    let new_flow = flows::flow_param(&landing.url).expect("a new verification flow");
    assert_ne!(new_flow, flow_id);
    let again = ok(
        stack,
        flows::fetch_flow(&browser, &kratos, Kind::Verification, &new_flow).await,
    )
    .await;
    // 4070002: "The request was already completed successfully and can not
    // be retried."; the new flow starts over, not passed.
    assert_eq!(
        again.messages().iter().map(|m| m.0).collect::<Vec<_>>(),
        [4070002]
    );
    assert_ne!(again.state_str(), Some(verification::PASSED));
}

#[tokio::test]
async fn a_session_is_aal1_by_password_for_24_hours_and_a_second_login_is_not_offered() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let (_, browser) = signed_in(stack, seed("session_shape")).await;

    let session = ok(stack, kratos.whoami(&browser, None).await).await;
    assert_eq!(
        session.authenticator_assurance_level.as_deref(),
        Some("aal1")
    );
    let methods: Vec<_> = session
        .authentication_methods
        .iter()
        .filter_map(|m| m.method.as_deref())
        .collect();
    assert_eq!(methods, ["password"]);
    let at = |t: &Option<String>| {
        humantime::parse_rfc3339_weak(t.as_deref().unwrap().trim_end_matches('Z'))
            .unwrap_or_else(|e| panic!("{t:?}: {e}"))
    };
    let lifespan = at(&session.expires_at)
        .duration_since(at(&session.authenticated_at))
        .unwrap();
    let day = std::time::Duration::from_secs(24 * 3600);
    assert!(
        lifespan.abs_diff(day) < std::time::Duration::from_secs(5),
        "{lifespan:?}"
    );

    // Signed in, a new login flow is not started: Kratos sends the browser
    // straight to the return URL.
    let refused = flows::start_browser(&browser, &kratos, Kind::Login)
        .await
        .expect_err("already signed in");
    assert!(
        refused.to_string().contains("without a flow id"),
        "{refused}"
    );
}

#[tokio::test]
async fn return_to_is_honoured_inside_the_allowed_urls_and_refused_outside() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let user = user(stack, seed("return_to"));
    ok(
        stack,
        journey::browser_register_verified(&Browser::new().unwrap(), &user, &kratos).await,
    )
    .await;

    let browser = Browser::new().unwrap();
    let landing = ok(
        stack,
        login::browser_with(
            &browser,
            &kratos,
            &user.person.email,
            &user.person.password,
            &[("return_to", "http://127.0.0.1:4455/after-login")],
        )
        .await,
    )
    .await;
    assert_eq!(landing.url.as_str(), "http://127.0.0.1:4455/after-login");

    // Not in allowed_return_urls: refused when the flow starts. Kratos only
    // judges the URL; nothing is sent there.
    let refused = flows::start_browser_with(
        &Browser::new().unwrap(),
        &kratos,
        Kind::Login,
        &[("return_to", "https://elsewhere.invalid/")],
    )
    .await
    .expect_err("a return URL outside the allowed ones");
    assert_eq!(
        refused.ory_id().as_deref(),
        Some("self_service_flow_return_to_forbidden"),
        "{refused}"
    );
}

#[tokio::test]
async fn an_unknown_flow_and_a_form_of_the_wrong_type_are_refused() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let browser = Browser::new().unwrap();

    let unknown = flows::fetch_flow(
        &browser,
        &kratos,
        Kind::Login,
        "8f3a3c1e-0000-4000-8000-000000000000",
    )
    .await
    .expect_err("no such flow");
    assert_eq!(unknown.status(), Some(404), "{unknown}");
    assert!(
        unknown
            .to_string()
            .contains("Unable to locate the resource"),
        "{unknown}"
    );

    // A whole, valid login form (its CSRF token, a verified person's
    // identifier and password) sent as plain text: refused for its type.
    let (person, _) = signed_in(stack, seed("wrong_content_type")).await;
    let p = &person.person;
    let flow = ok(
        stack,
        flows::start_browser(&browser, &kratos, Kind::Login).await,
    )
    .await;
    let csrf = flow.csrf_token().expect("a CSRF token").to_owned();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("method", "password"),
        ("identifier", p.email.as_str()),
        ("password", p.password.as_str()),
    ];
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let (url, step) = flows::action(&flow, Expect::Status(400)).unwrap();
    let refused = browser
        .agent()
        .exchange(
            &step,
            browser
                .client()
                .post(url.clone())
                .header("Content-Type", "text/plain")
                .header("Accept", "application/json")
                .body(body.clone()),
        )
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let again: harness::kratos::Flow = refused.json().await.unwrap();
    let (id, reason) = again.messages().into_iter().next().expect("a message");
    assert_eq!(id, 4000001, "{reason}");
    assert!(
        reason.contains("unknown HTTP Header \"Content-Type: text/plain\""),
        "{reason}"
    );
    kratos.whoami_refused(&browser, None).await.unwrap();

    // The same form, as the form it is, signs the person in.
    let (url, step) = flows::action(&flow, Expect::Redirect).unwrap();
    ok(
        stack,
        browser
            .send(
                &step,
                browser
                    .client()
                    .post(url)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body),
            )
            .await
            .map(drop),
    )
    .await;
    ok(stack, kratos.whoami(&browser, None).await).await;
}

#[tokio::test]
async fn a_registration_return_to_is_carried_into_the_verification_flow() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let p = user(stack, seed("registration_return_to")).person;
    let browser = Browser::new().unwrap();
    let welcome = "http://127.0.0.1:4455/welcome";
    let flow = ok(
        stack,
        flows::start_browser_with(
            &browser,
            &kratos,
            Kind::Registration,
            &[("return_to", welcome)],
        )
        .await,
    )
    .await;
    assert_eq!(flow.return_to.as_deref(), Some(welcome));
    let outcome = ok(
        stack,
        flows::submit_browser(
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
        .await,
    )
    .await;
    let flows::Outcome::Elsewhere(landing) = outcome else {
        panic!("expected the verification UI");
    };
    let id = flows::flow_param(&landing.url).expect("a verification flow");
    let verification = ok(
        stack,
        flows::fetch_flow(&browser, &kratos, Kind::Verification, &id).await,
    )
    .await;
    assert_eq!(verification.return_to.as_deref(), Some(welcome));
}
