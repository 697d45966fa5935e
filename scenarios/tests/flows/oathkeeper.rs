//! Oathkeeper in front of an app, against the real Kratos, Hydra and Keto
//! of its stack and ory/oathkeeper/'s rules: who gets through, what the
//! app is told about them, and that the app never sees a request that
//! should have been refused (what the harness's upstream recorded).

use std::time::Duration;

use harness::keto::Relationship;
use harness::kratos::Kratos;
use harness::transport::Transport;
use harness::{Delivery, Expect, NativeApp, OryStack, Service, Step};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, LOCATION};

use crate::support::{init_tracing, ok, seed, signed_in};

/// What the proxy answered, and where a redirect pointed.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

/// `GET path` through the proxy as `t` (its cookies go along), with a
/// bearer token or as a browser asking for a page.
async fn through<T: Transport>(
    t: &T,
    stack: &OryStack,
    path: &str,
    bearer: Option<&str>,
    page: bool,
) -> Answer {
    let proxy = &stack
        .endpoints(Service::Oathkeeper)
        .expect("Oathkeeper runs")
        .public;
    let url = proxy
        .join(path.trim_start_matches('/'))
        .expect("a path joins");
    let step = Step::new(
        "oathkeeper",
        Method::GET,
        &url,
        Expect::OneOf(&[200, 302, 401, 403]),
    );
    let mut request = t.client().get(url.clone());
    if let Some(token) = bearer {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    request = request.header(
        ACCEPT,
        if page {
            "text/html"
        } else {
            "application/json"
        },
    );
    let response = ok(stack, t.send(&step, request).await).await;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        location,
        body,
    }
}

/// The next request the app got, which must be for `path`.
async fn reached(stack: &OryStack, path: &str) -> Delivery {
    let got = ok(stack, stack.upstream().next(Duration::from_secs(5)).await).await;
    assert_eq!(got.path, path, "{got:?}");
    got
}

/// Nothing more reached the app.
async fn nothing_reached(stack: &OryStack) {
    if let Ok(got) = stack.upstream().next(Duration::from_millis(300)).await {
        panic!("the app got a request Oathkeeper should have refused: {got:?}");
    }
}

async fn stack_with(services: &[Service]) -> OryStack {
    init_tracing();
    let mut builder = OryStack::builder().with_oathkeeper();
    for service in services {
        builder = builder.with(*service);
    }
    builder
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"))
}

async fn session_token(stack: &OryStack, kratos: &Kratos, email: &str, password: &str) -> String {
    let app = NativeApp::new().unwrap();
    ok(
        stack,
        scenarios::flows::login::api(&app, kratos, email, password).await,
    )
    .await
    .session_token
}

#[tokio::test]
async fn signed_in_people_pass_with_who_they_are_and_others_are_refused() {
    let stack = stack_with(&[Service::Kratos]).await;
    let kratos = stack.kratos();
    let anonymous = NativeApp::new().unwrap();

    let public = through(&anonymous, &stack, "/public/hello", None, false).await;
    assert_eq!(public.status, 200, "{public:?}");
    reached(&stack, "/public/hello").await;

    // An API client without a session: 401 as JSON; a browser asking for
    // the page: sent to Kratos' login.
    let api = through(&anonymous, &stack, "/me", None, false).await;
    assert_eq!(api.status, 401, "{api:?}");
    assert!(api.body.contains("\"code\":401"), "{api:?}");
    let browser = harness::Browser::new().unwrap();
    let page = through(&browser, &stack, "/me", None, true).await;
    assert_eq!(page.status, 302, "{page:?}");
    let login = kratos.public("self-service/login/browser");
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.starts_with(login.as_str())),
        "{page:?}, login at {login}"
    );
    nothing_reached(&stack).await;

    // Signed in by cookie, and by token: the app is told who.
    let (user, browser) = signed_in(&stack, seed("oathkeeper-signed-in")).await;
    let me = kratos.whoami(&browser, None).await.unwrap();
    let id = me.identity.expect("a session names its identity").id;
    let by_cookie = through(&browser, &stack, "/me", None, true).await;
    assert_eq!(by_cookie.status, 200, "{by_cookie:?}");
    let got = reached(&stack, "/me").await;
    assert_eq!(got.header("x-user"), Some(id.as_str()), "{got:?}");

    let token = session_token(&stack, &kratos, &user.person.email, &user.person.password).await;
    let by_token = through(&anonymous, &stack, "/me", Some(&token), false).await;
    assert_eq!(by_token.status, 200, "{by_token:?}");
    let got = reached(&stack, "/me").await;
    assert_eq!(got.header("x-user"), Some(id.as_str()), "{got:?}");

    // The id_token mutator's token: signed with a key of Oathkeeper's
    // JWKS, issued by the proxy, about this person.
    let jwt = got
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("no id_token reached the app: {got:?}"));
    let api_base = &stack.endpoints(Service::Oathkeeper).unwrap().admin;
    let keys = ok(
        &stack,
        harness::transport::get_json(
            &anonymous,
            "oathkeeper",
            api_base.join(".well-known/jwks.json").unwrap(),
        )
        .await,
    )
    .await;
    let issuer = stack
        .endpoints(Service::Oathkeeper)
        .unwrap()
        .public
        .to_string();
    let claims = harness::hydra::jwt::validate_access_token(jwt, &keys, &issuer)
        .unwrap_or_else(|e| panic!("the id_token does not validate: {e}"));
    assert_eq!(claims["sub"], id.as_str());

    // A revoked session is refused, by token and by cookie.
    let admin = NativeApp::new().unwrap();
    for session in ok(&stack, kratos.identity_sessions(&admin, &id).await).await {
        ok(&stack, kratos.revoke_session(&admin, &session.id).await).await;
    }
    let revoked = through(&anonymous, &stack, "/me", Some(&token), false).await;
    assert_eq!(revoked.status, 401, "{revoked:?}");
    let revoked = through(&browser, &stack, "/me", None, false).await;
    assert_eq!(revoked.status, 401, "{revoked:?}");
    nothing_reached(&stack).await;
}

#[tokio::test]
async fn an_api_needs_an_active_access_token_with_its_scope() {
    let stack = stack_with(&[Service::Hydra]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (_, service) = ok(
        &stack,
        scenarios::clients::register_fixture(&admin, &hydra, "service").await,
    )
    .await;
    let token = |scope: &'static str| {
        let (hydra, admin, auth) = (&hydra, &admin, &service.auth);
        async move {
            hydra
                .client_credentials(admin, auth, scope, "")
                .await
                .map(|t| t.access_token)
        }
    };
    let app = NativeApp::new().unwrap();

    let reader = ok(&stack, token("reports.read").await).await;
    let allowed = through(&app, &stack, "/api/reports/q3", Some(&reader), false).await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    let got = reached(&stack, "/api/reports/q3").await;
    assert!(
        got.header("x-user").is_some_and(|s| !s.is_empty()),
        "{got:?}"
    );

    let writer = ok(&stack, token("reports.write").await).await;
    let no_scope = through(&app, &stack, "/api/reports/q3", Some(&writer), false).await;
    assert_eq!(no_scope.status, 403, "{no_scope:?}");

    ok(&stack, hydra.revoke(&admin, &service.auth, &reader).await).await;
    let revoked = through(&app, &stack, "/api/reports/q3", Some(&reader), false).await;
    assert_eq!(revoked.status, 401, "{revoked:?}");

    let made_up = through(&app, &stack, "/api/reports/q3", Some("not-a-token"), false).await;
    assert_eq!(made_up.status, 401, "{made_up:?}");
    let none = through(&app, &stack, "/api/reports/q3", None, false).await;
    assert_eq!(none.status, 401, "{none:?}");
    nothing_reached(&stack).await;
}

/// GHSA-4mq7-pvjg-xp2r as v0.40.9 shows it: with the introspection cache
/// on, a token one introspection server accepted passes a rule whose own
/// server refuses every token, once the first rule cached it.
#[tokio::test]
async fn the_introspection_cache_is_keyed_by_the_token_alone() {
    init_tracing();
    // A second introspection server, for partners' tokens: it knows none.
    let partners = harness::WebhookSink::start().await.unwrap();
    partners.reply_with(harness::Reply {
        body: r#"{"active": false}"#.into(),
        ..harness::Reply::default()
    });
    let overlay = std::env::temp_dir().join(format!(
        "orygate-introspection-cache-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(
        overlay.join("oathkeeper.yml"),
        "authenticators:\n  oauth2_introspection:\n    config:\n      cache:\n        enabled: true\n        ttl: 60s\n",
    )
    .unwrap();
    let rules =
        std::fs::read_to_string(harness::repo_root().join("ory/oathkeeper/rules.json")).unwrap();
    let mut rules: Vec<serde_json::Value> = serde_json::from_str(&rules).unwrap();
    rules.push(serde_json::json!({
        "id": "partner-api",
        "match": {"url": "<https?>://<[^/]+>/partner<(/.*)?>", "methods": ["GET"]},
        "authenticators": [{"handler": "oauth2_introspection", "config": {"introspection_url": partners.url("introspect").as_str()}}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "noop"}],
        "errors": [{"handler": "json"}],
        "upstream": {"url": harness::oathkeeper::PLACEHOLDER},
    }));
    std::fs::write(
        overlay.join("rules.json"),
        serde_json::to_vec(&rules).unwrap(),
    )
    .unwrap();
    let stack = OryStack::builder()
        .with_oathkeeper()
        .with_hydra()
        .overlay(Service::Oathkeeper, &overlay)
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (_, service) = ok(
        &stack,
        scenarios::clients::register_fixture(&admin, &hydra, "service").await,
    )
    .await;
    let token = || async {
        let made = hydra
            .client_credentials(&admin, &service.auth, "reports.read", "")
            .await;
        ok(&stack, made.map(|t| t.access_token)).await
    };
    let app = NativeApp::new().unwrap();

    // Cold: the partners' server is asked, and refuses.
    let fresh = token().await;
    let refused = through(&app, &stack, "/partner/q3", Some(&fresh), false).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    let asked = partners.next(Duration::from_secs(5)).await.unwrap();
    assert!(asked.body.contains(&fresh), "{asked:?}");

    // Warmed by Hydra's answer on the reports rule: the same kind of token
    // now passes the partners' rule without their server being asked
    // (the cache fills asynchronously, so a few tries).
    let warmed = token().await;
    let mut passed = None;
    for _ in 0..20 {
        let allowed = through(&app, &stack, "/api/reports/q3", Some(&warmed), false).await;
        assert_eq!(allowed.status, 200, "{allowed:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let partner = through(&app, &stack, "/partner/q3", Some(&warmed), false).await;
        if partner.status == 200 {
            passed = Some(partner);
            break;
        }
    }
    let passed = passed.expect("the cached token passes the partners' rule on v0.40.9");
    assert_eq!(passed.status, 200);
    let _ = std::fs::remove_dir_all(&overlay);
}

#[tokio::test]
async fn keto_decides_who_reads_a_document_and_a_removed_relationship_counts_at_once() {
    let stack = stack_with(&[Service::Kratos, Service::Keto]).await;
    let kratos = stack.kratos();
    let keto = stack.keto();
    let admin = NativeApp::new().unwrap();
    let (owner, owner_browser) = signed_in(&stack, seed("oathkeeper-owner")).await;
    let (_, stranger) = signed_in(&stack, seed("oathkeeper-stranger")).await;
    let owner_id = kratos
        .whoami(&owner_browser, None)
        .await
        .unwrap()
        .identity
        .unwrap()
        .id;
    let viewer: Relationship = format!("Document:plan#viewers@{owner_id}").parse().unwrap();
    ok(&stack, keto.create(&admin, &viewer).await).await;

    let read = through(&owner_browser, &stack, "/documents/plan", None, false).await;
    assert_eq!(read.status, 200, "{read:?} ({})", owner.person.email);
    reached(&stack, "/documents/plan").await;
    let refused = through(&stranger, &stack, "/documents/plan", None, false).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let nobody = NativeApp::new().unwrap();
    let anonymous = through(&nobody, &stack, "/documents/plan", None, false).await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    nothing_reached(&stack).await;

    ok(&stack, keto.delete(&admin, &viewer).await).await;
    let removed = through(&owner_browser, &stack, "/documents/plan", None, false).await;
    assert_eq!(removed.status, 403, "{removed:?}");
    nothing_reached(&stack).await;
}

/// Rules that are not a JSON list stop the start, naming the file.
#[tokio::test]
async fn broken_rules_are_named_before_anything_starts() {
    init_tracing();
    let dir = std::env::temp_dir().join(format!("orygate-broken-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("oathkeeper.yml"), "log:\n  level: info\n").unwrap();
    std::fs::write(dir.join("rules.json"), "{\"id\": \"not a list\"}").unwrap();
    let e = OryStack::builder()
        .with_oathkeeper()
        .overlay(Service::Oathkeeper, &dir)
        .start()
        .await
        .expect_err("broken rules started");
    let said = e.to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(said.contains("rules.json"), "{said}");
    assert!(said.contains("not a JSON list of rules"), "{said}");
}

/// `GET target` sent as written (no client normalizes it: `%2e%2e` and
/// `..` stay), with `headers`; the status Oathkeeper answered.
async fn raw(stack: &OryStack, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let proxy = &stack.endpoints(Service::Oathkeeper).unwrap().public;
    let host = format!("{}:{}", proxy.host_str().unwrap(), proxy.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.extend([*name, ": ", *value, "\r\n"]);
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("Oathkeeper answers within 10 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    (status, answer)
}

/// A path as an app that decodes it and resolves dot segments reads it.
fn resolved(path: &str) -> String {
    let decoded = path
        .replace("%2e", ".")
        .replace("%2E", ".")
        .replace("%2f", "/")
        .replace("%2F", "/");
    let mut out: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// What v0.40.9 does with the requests that bite gateways, as the
/// upstream saw them. An unmatched path and a protected one reached by
/// its own rule are refused; but a path under the public prefix that
/// climbs out of it (`/public/../me`, encoded or not) matches the public
/// rule and is forwarded as written: an app that resolves dot segments
/// itself serves `/me` to anyone. A spoofed `X-Forwarded-Proto` is
/// trusted (the login's `return_to` turns https), `X-Forwarded-Host` is
/// not.
#[tokio::test]
async fn path_and_header_tricks_as_oathkeeper_v0_40_9_treats_them() {
    let stack = stack_with(&[Service::Kratos]).await;
    for (target, status) in [("/nowhere", 404), ("//me", 404), ("/me/../public/x", 401)] {
        let (got, answer) = raw(&stack, target, &[]).await;
        assert_eq!(got, status, "{target}: {answer}");
    }
    nothing_reached(&stack).await;

    for trick in [
        "/public/../me",
        "/public/%2e%2e/me",
        "/public/..%2fme",
        "/public/%2e%2e%2fme",
        "/public%2f..%2fme",
    ] {
        assert_eq!(resolved(trick), "/me", "{trick}");
        let (got, answer) = raw(&stack, trick, &[]).await;
        assert_eq!(got, 200, "{trick}: {answer}");
        let seen = ok(&stack, stack.upstream().next(Duration::from_secs(5)).await).await;
        assert_eq!(seen.path, trick, "forwarded as written: {seen:?}");
        assert_eq!(seen.header("x-user"), None, "{seen:?}");
    }

    let (got, answer) = raw(
        &stack,
        "/me",
        &[
            ("Accept", "text/html"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.orygate.test"),
        ],
    )
    .await;
    assert_eq!(got, 302, "{answer}");
    let location = answer
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or_else(|| l.strip_prefix("location: "))
        })
        .unwrap_or_else(|| panic!("no Location: {answer}"));
    assert!(
        location.contains("return_to=https%3A%2F%2F127.0.0.1"),
        "{location}"
    );
    assert!(!location.contains("evil"), "{location}");
    nothing_reached(&stack).await;

    // Spoofed forwarded headers on the public route: what the app is told.
    let spoofed = [
        ("X-Forwarded-Host", "evil.orygate.test"),
        ("X-Forwarded-Proto", "https"),
    ];
    let (got, answer) = raw(&stack, "/public", &spoofed).await;
    assert_eq!(got, 200, "{answer}");
    let seen = reached(&stack, "/public").await;
    // v0.40.9 strips them (serve.proxy.trust_forwarded_headers is off):
    // the app gets neither the spoofed host nor any X-Forwarded-*.
    assert!(
        !seen
            .headers
            .iter()
            .any(|(k, v)| k.starts_with("x-forwarded") || v.contains("evil")),
        "{seen:?}"
    );
}

/// A session past its lifespan is refused at the gateway as at Kratos:
/// Oathkeeper asks Kratos each time and keeps no verdict of its own.
#[tokio::test]
async fn an_expired_session_is_refused() {
    init_tracing();
    let stack = OryStack::builder()
        .with_kratos()
        .with_oathkeeper()
        .env(Service::Kratos, "SESSION_LIFESPAN", "6s")
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let (_, browser) = signed_in(&stack, seed("oathkeeper-expired")).await;
    let fresh = through(&browser, &stack, "/me", None, false).await;
    assert_eq!(fresh.status, 200, "{fresh:?}");
    reached(&stack, "/me").await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let expired = through(&browser, &stack, "/me", None, false).await;
    assert_eq!(expired.status, 401, "{expired:?}");
    nothing_reached(&stack).await;
}
