//! The production-like stack: no `--dev`, Kratos' and Hydra's public APIs
//! over TLS from the stack's own CA, data in PostgreSQL, the config's real
//! hashing cost. The flows that matter pass on it, and what `--dev` would
//! have relaxed is read off the answers Ory sent.

use harness::{Browser, NativeApp, OryStack, Step, Tuning, transport::Transport};
use scenarios::clients::register_fixture;
use scenarios::derived::FlowOutcome;
use scenarios::flows::oauth2::{self, Consent, Login, Request};
use scenarios::journey;

use crate::support::{init_tracing, ok, seed, user};

/// The attributes of the cookie `name` in the `Set-Cookie` headers of
/// `response`, lowercased (`secure`, `httponly`, `samesite=lax`), or
/// `None` when it set no such cookie.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<Vec<String>> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.split('=').next().is_some_and(|n| n.trim() == name))
        .map(|v| {
            v.split(';')
                .skip(1)
                .map(|a| a.trim().to_ascii_lowercase())
                .collect()
        })
}

#[tokio::test]
async fn flows_pass_over_tls_without_dev_mode_and_cookies_are_secure() {
    init_tracing();
    let stack = OryStack::builder()
        .with_kratos()
        .with_hydra()
        .tuning(Tuning::Production)
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let kratos = stack.kratos();
    let hydra = stack.hydra();
    assert_eq!(kratos.public_base().scheme(), "https");
    assert_eq!(hydra.public_base().scheme(), "https");
    assert!(stack.certificates().is_some());

    // What Kratos sets on a browser flow's start: its CSRF cookie, Secure
    // and HttpOnly (with `--dev` it would not be Secure).
    let app = NativeApp::new().unwrap();
    let url = harness::urls::join(kratos.public_base(), "self-service/login/browser");
    let step = Step::get("kratos", &url).expecting(harness::Expect::Redirect);
    let response = ok(&stack, app.send(&step, app.client().get(url)).await).await;
    let csrf = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("csrf_token"))
        .unwrap_or_else(|| panic!("no CSRF cookie: {:?}", response.headers()))
        .to_ascii_lowercase();
    assert!(csrf.contains("; secure"), "{csrf}");
    assert!(csrf.contains("; httponly"), "{csrf}");

    // Sign-up, verification by code, login and logout, over TLS.
    let person = user(&stack, seed("production sign-up"));
    let browser = Browser::new().unwrap();
    ok(
        &stack,
        journey::browser_signup(&browser, &person, &kratos).await,
    )
    .await;

    // The session cookie Kratos sets at login: Secure, HttpOnly, SameSite
    // as the config says (Lax).
    let login =
        scenarios::flows::start_browser(&browser, &kratos, scenarios::flows::Kind::Login).await;
    let flow = ok(&stack, login).await;
    let (action, step) = ok(
        &stack,
        scenarios::flows::action(&flow, harness::Expect::Redirect),
    )
    .await;
    let csrf_token = flow.csrf_token().expect("a browser flow has a CSRF token");
    let response = ok(
        &stack,
        browser
            .send(
                &step,
                browser.client().post(action).form(&[
                    ("method", "password"),
                    ("identifier", person.person.email.as_str()),
                    ("password", person.person.password.as_str()),
                    ("csrf_token", csrf_token),
                ]),
            )
            .await,
    )
    .await;
    let session = set_cookie(&response, "ory_kratos_session")
        .unwrap_or_else(|| panic!("login set no session cookie: {:?}", response.headers()));
    for attribute in ["secure", "httponly", "samesite=lax"] {
        assert!(
            session.iter().any(|a| a == attribute),
            "{attribute} missing: {session:?}"
        );
    }
    ok(&stack, kratos.whoami(&browser, None).await).await;

    // Recovery by code over TLS.
    let forgetful = Browser::new().unwrap();
    let new_password = format!("{}-renewed", person.person.password);
    ok(
        &stack,
        journey::browser_recovery(&forgetful, &person, &kratos, &new_password).await,
    )
    .await;

    // The OAuth2 code flow with Kratos as login provider, and Hydra's
    // issuer the https one.
    let admin = NativeApp::new().unwrap();
    let (_, client) = ok(&stack, register_fixture(&admin, &hydra, "web-basic").await).await;
    let login = Login::Kratos {
        kratos: kratos.clone(),
        identifier: person.person.email.clone(),
        password: new_password,
    };
    let (_, tokens) = ok(
        &stack,
        oauth2::code_flow(
            &Browser::new().unwrap(),
            &hydra,
            &client,
            &Request::new("openid"),
            &login,
            &Consent::default(),
        )
        .await,
    )
    .await;
    assert!(tokens.id_token.is_some());
    let discovery = ok(&stack, hydra.discovery(&app).await).await;
    assert_eq!(discovery.issuer, hydra.public_base().as_str());
}

/// Kratos restarted as an orchestrator rolls it: on PostgreSQL the
/// sessions made before (by token and by cookie) are the same sessions
/// after; with its data in memory they are gone, and the flow says so.
#[tokio::test]
async fn sessions_survive_a_restart_of_kratos_only_where_they_are_stored() {
    init_tracing();
    for in_memory in [false, true] {
        let mut builder = OryStack::builder().with_kratos().tuning(Tuning::Production);
        if in_memory {
            builder = builder.in_memory();
        }
        let stack = builder
            .start()
            .await
            .unwrap_or_else(|e| panic!("failed to {e}"));
        let kratos = stack.kratos();
        let result = scenarios::derived::across_a_restart(&kratos, || {
            stack.restart(harness::Service::Kratos)
        })
        .await;
        assert_eq!(result.name, scenarios::derived::ACROSS_A_RESTART);
        match (&result.outcome, in_memory) {
            (FlowOutcome::Passed, false) => {}
            (FlowOutcome::Failed { error }, true) => assert!(
                error.contains("the session by token did not survive the restart"),
                "{error}"
            ),
            (outcome, _) => panic!(
                "in memory: {in_memory}: {outcome:?}\n{}",
                stack.log_tail(harness::Service::Kratos, 20).await
            ),
        }
    }
}
