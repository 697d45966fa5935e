//! Hydra: the authorization code flow with PKCE, tokens and their
//! validation, discovery, logout and the refusals a client must see, with
//! the harness as login and consent app.

use harness::hydra::jwt::{IdTokenExpect, validate_access_token, validate_id_token};
use harness::hydra::{ClientAuth, Tokens};
use harness::{Browser, NativeApp, OryStack, Service};
use scenarios::clients::register_fixture;
use scenarios::flows::oauth2::{self, Client, Consent, Login, Request};

use crate::support::{init_tracing, ok};

/// A stack with Hydra alone (the harness logs users in).
pub async fn hydra_stack(env: &[(&str, &str)]) -> OryStack {
    init_tracing();
    let mut builder = OryStack::builder().with_hydra();
    for (key, value) in env {
        builder = builder.env(Service::Hydra, *key, *value);
    }
    builder
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"))
}

fn harness_login(subject: &str, remember: bool) -> Login {
    Login::Harness {
        subject: subject.into(),
        remember,
    }
}

/// Validates the ID token of `tokens` for `client` and `request`.
async fn id_claims(
    stack: &OryStack,
    client: &Client,
    request: &Request,
    tokens: &Tokens,
) -> serde_json::Map<String, serde_json::Value> {
    let hydra = stack.hydra();
    let keys = ok(stack, hydra.jwks(&NativeApp::new().unwrap()).await).await;
    let id_token = tokens
        .id_token
        .as_deref()
        .expect("scope openid gives an id_token");
    ok(
        stack,
        validate_id_token(
            id_token,
            &keys,
            IdTokenExpect {
                issuer: hydra.public_base().as_str(),
                audience: client.auth.id(),
                nonce: Some(&request.nonce),
                access_token: Some(&tokens.access_token),
                leeway: 60,
            },
        ),
    )
    .await
}

#[tokio::test]
async fn the_code_flow_with_pkce_gives_validated_tokens_and_remembers_the_user() {
    let stack = hydra_stack(&[]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (_, client) = ok(&stack, register_fixture(&admin, &hydra, "web-basic").await).await;
    let browser = Browser::new().unwrap();
    let request = Request::new("openid offline_access email");
    let mut consent = Consent {
        remember: true,
        ..Consent::default()
    };
    consent
        .id_token
        .insert("email".into(), "ada@orygate.test".into());
    let login = harness_login("user-ada", true);
    let (callback, tokens) = ok(
        &stack,
        oauth2::code_flow(&browser, &hydra, &client, &request, &login, &consent).await,
    )
    .await;
    assert_eq!((callback.logins, callback.consents), (1, 1));
    assert_eq!(tokens.token_type, "bearer");
    assert!(
        tokens.refresh_token.is_some(),
        "offline_access gives a refresh token"
    );
    let claims = id_claims(&stack, &client, &request, &tokens).await;
    assert_eq!(claims["sub"], "user-ada");
    assert_eq!(
        claims["email"], "ada@orygate.test",
        "the consent's id_token claims"
    );
    for claim in [
        "iss",
        "aud",
        "exp",
        "iat",
        "nonce",
        "at_hash",
        "auth_time",
        "sid",
    ] {
        assert!(claims.contains_key(claim), "{claim} missing: {claims:?}");
    }

    // Remembered: a second authorization asks the user nothing (Hydra
    // marks both challenges skip; the harness accepts them).
    let again = Request::new("openid email");
    let (callback, _) = ok(
        &stack,
        oauth2::code_flow(&browser, &hydra, &client, &again, &login, &consent).await,
    )
    .await;
    assert_eq!(
        (callback.logins, callback.consents, callback.skipped),
        (0, 0, 2)
    );
    // Another browser must log in; the consent, remembered for the subject
    // and the client, holds there too.
    let (callback, _) = ok(
        &stack,
        oauth2::code_flow(
            &Browser::new().unwrap(),
            &hydra,
            &client,
            &again,
            &login,
            &consent,
        )
        .await,
    )
    .await;
    assert_eq!(
        (callback.logins, callback.consents, callback.skipped),
        (1, 0, 1)
    );
}

/// One signed-in user's tokens from the `web-basic` client.
async fn signed_in_tokens(
    stack: &OryStack,
    fixture: &str,
    scope: &str,
) -> (Client, Request, Tokens, Browser) {
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (_, client) = ok(stack, register_fixture(&admin, &hydra, fixture).await).await;
    let browser = Browser::new().unwrap();
    let request = Request::new(scope);
    let consent = Consent {
        remember: true,
        ..Consent::default()
    };
    let (_, tokens) = ok(
        stack,
        oauth2::code_flow(
            &browser,
            &hydra,
            &client,
            &request,
            &harness_login("user-bo", true),
            &consent,
        )
        .await,
    )
    .await;
    (client, request, tokens, browser)
}

#[tokio::test]
async fn userinfo_introspection_refresh_rotation_and_revocation() {
    let stack = hydra_stack(&[]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (client, _, tokens, _) =
        signed_in_tokens(&stack, "web-basic", "openid offline_access email").await;

    let info = ok(&stack, hydra.userinfo(&admin, &tokens.access_token).await).await;
    assert_eq!(info["sub"], "user-bo");
    let seen = ok(&stack, hydra.introspect(&admin, &tokens.access_token).await).await;
    assert!(seen.active);
    assert_eq!(seen.sub.as_deref(), Some("user-bo"));
    assert_eq!(seen.client_id.as_deref(), Some(client.auth.id()));
    assert_eq!(seen.scope.as_deref(), Some("openid offline_access email"));
    assert!(seen.exp.unwrap_or(0) > 0);
    assert_eq!(seen.token_use.as_deref(), Some("access_token"));

    // Rotation: the new refresh token works, the old one is refused, and
    // its reuse revokes the whole chain (the new tokens too).
    let old = tokens.refresh_token.clone().unwrap();
    let fresh = ok(&stack, hydra.refresh(&admin, &client.auth, &old).await).await;
    assert_ne!(fresh.access_token, tokens.access_token);
    assert!(
        !ok(&stack, hydra.introspect(&admin, &tokens.access_token).await)
            .await
            .active,
        "the old access token is gone after a refresh"
    );
    let reused = hydra.refresh(&admin, &client.auth, &old).await.unwrap_err();
    assert_eq!(
        reused.ory_id().as_deref(),
        Some("invalid_grant"),
        "{reused}"
    );
    assert!(
        !ok(&stack, hydra.introspect(&admin, &fresh.access_token).await)
            .await
            .active,
        "reusing a refresh token revokes what it was traded for"
    );

    // Revocation of a live token, by its own client: another client's
    // revocation is answered 200 and changes nothing.
    let (own, _, live, _) = signed_in_tokens(&stack, "web-basic", "openid offline_access").await;
    ok(
        &stack,
        hydra.revoke(&admin, &client.auth, &live.access_token).await,
    )
    .await;
    assert!(
        ok(&stack, hydra.introspect(&admin, &live.access_token).await)
            .await
            .active,
        "another client revoked this client's token"
    );
    ok(
        &stack,
        hydra.revoke(&admin, &own.auth, &live.access_token).await,
    )
    .await;
    let seen = ok(&stack, hydra.introspect(&admin, &live.access_token).await).await;
    assert!(!seen.active);
    let e = hydra
        .userinfo(&admin, &live.access_token)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
}

#[tokio::test]
async fn post_and_public_clients_and_pkce_enforced_for_the_public_one() {
    let stack = hydra_stack(&[]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (post, _, tokens, _) = signed_in_tokens(&stack, "web-post", "openid email").await;
    assert!(matches!(post.auth, ClientAuth::Post { .. }));
    assert!(tokens.id_token.is_some());
    let (spa, _, tokens, _) = signed_in_tokens(&stack, "spa", "openid offline_access").await;
    assert!(matches!(spa.auth, ClientAuth::Public { .. }));
    assert!(tokens.refresh_token.is_some());

    // A public client without PKCE is refused at the authorization.
    let mut bare = Request::new("openid");
    bare.pkce = None;
    let e = oauth2::authorize(
        &Browser::new().unwrap(),
        &hydra,
        &spa,
        &bare,
        &harness_login("user-cy", false),
        &Consent::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.ory_id().as_deref(), Some("invalid_request"), "{e}");
    // Refused for the missing PKCE, not for something else.
    let said = e.to_string().to_lowercase();
    assert!(
        said.contains("pkce") || said.contains("code_challenge"),
        "{e}"
    );
    let _ = admin;
}

#[tokio::test]
async fn client_credentials_with_scope_and_audience() {
    let stack = hydra_stack(&[]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (_, service) = ok(&stack, register_fixture(&admin, &hydra, "service").await).await;
    let tokens = ok(
        &stack,
        hydra
            .client_credentials(
                &admin,
                &service.auth,
                "reports.read",
                "https://api.orygate.test",
            )
            .await,
    )
    .await;
    assert!(tokens.refresh_token.is_none() && tokens.id_token.is_none());
    let seen = ok(&stack, hydra.introspect(&admin, &tokens.access_token).await).await;
    assert!(seen.active);
    assert_eq!(seen.sub.as_deref(), Some(service.auth.id()));
    assert_eq!(seen.scope.as_deref(), Some("reports.read"));
    assert_eq!(seen.aud, ["https://api.orygate.test"]);

    let e = hydra
        .client_credentials(&admin, &service.auth, "admin", "")
        .await
        .unwrap_err();
    assert_eq!(e.ory_id().as_deref(), Some("invalid_scope"), "{e}");
    let e = hydra
        .client_credentials(
            &admin,
            &service.auth,
            "reports.read",
            "https://elsewhere.test",
        )
        .await
        .unwrap_err();
    assert_eq!(e.ory_id().as_deref(), Some("invalid_request"), "{e}");
    let ClientAuth::Basic { id, .. } = &service.auth else {
        panic!("the service fixture uses client_secret_basic");
    };
    let wrong = ClientAuth::Basic {
        id: id.clone(),
        secret: "not-the-secret".into(),
    };
    let e = hydra
        .client_credentials(&admin, &wrong, "reports.read", "")
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.ory_id().as_deref()),
        (Some(401), Some("invalid_client")),
        "{e}"
    );
}

/// The `jwt` access-token strategy: access tokens are JWTs signed with a
/// key Hydra publishes; the opaque default is not a JWT at all.
#[tokio::test]
async fn jwt_access_tokens_validate_against_the_published_keys() {
    let stack = hydra_stack(&[("STRATEGIES_ACCESS_TOKEN", "jwt")]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (client, _, tokens, _) = signed_in_tokens(&stack, "web-basic", "openid email").await;
    let keys = ok(&stack, hydra.jwks(&admin).await).await;
    let claims = ok(
        &stack,
        validate_access_token(&tokens.access_token, &keys, hydra.public_base().as_str()),
    )
    .await;
    assert_eq!(claims["sub"], "user-bo");
    assert_eq!(claims["client_id"], client.auth.id());
    assert_eq!(claims["scp"], serde_json::json!(["openid", "email"]));
    assert!(
        ok(&stack, hydra.introspect(&admin, &tokens.access_token).await)
            .await
            .active
    );

    let opaque = hydra_stack(&[]).await;
    let (_, _, tokens, _) = signed_in_tokens(&opaque, "web-basic", "openid").await;
    let keys = ok(&opaque, opaque.hydra().jwks(&admin).await).await;
    let e = validate_access_token(
        &tokens.access_token,
        &keys,
        opaque.hydra().public_base().as_str(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a JWT"), "{e}");
}

#[tokio::test]
async fn discovery_agrees_with_the_config() {
    let stack = hydra_stack(&[]).await;
    let hydra = stack.hydra();
    let found = ok(&stack, hydra.discovery(&NativeApp::new().unwrap()).await).await;
    let base = hydra.public_base().as_str();
    assert_eq!(found.issuer, base, "the issuer is the public URL");
    for (name, endpoint) in [
        ("authorization", &found.authorization_endpoint),
        ("token", &found.token_endpoint),
        ("jwks", &found.jwks_uri),
        ("userinfo", &found.userinfo_endpoint),
        ("revocation", &found.revocation_endpoint),
        ("end session", &found.end_session_endpoint),
    ] {
        assert!(endpoint.starts_with(base), "{name}: {endpoint}");
    }
    assert!(
        found
            .code_challenge_methods_supported
            .contains(&"S256".to_owned())
    );
    assert!(
        found
            .id_token_signing_alg_values_supported
            .contains(&"RS256".to_owned())
    );
    let mut types = found.subject_types_supported.clone();
    types.sort();
    assert_eq!(
        types,
        ["pairwise", "public"],
        "ory/hydra/hydra.yml subject types"
    );
    for grant in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(
            found.grant_types_supported.contains(&grant.to_owned()),
            "{grant}"
        );
    }
}

#[tokio::test]
async fn logout_ends_the_remembered_login_and_a_revoked_consent_is_asked_again() {
    let stack = hydra_stack(&[]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (client, _, tokens, browser) = signed_in_tokens(&stack, "web-basic", "openid email").await;
    let login = harness_login("user-bo", true);
    let consent = Consent {
        remember: true,
        ..Consent::default()
    };

    // A revoked consent: asked again, and its tokens are gone.
    ok(
        &stack,
        hydra
            .revoke_consent(&admin, "user-bo", Some(client.auth.id()))
            .await,
    )
    .await;
    assert!(
        !ok(&stack, hydra.introspect(&admin, &tokens.access_token).await)
            .await
            .active
    );
    let request = Request::new("openid email");
    let (callback, tokens) = ok(
        &stack,
        oauth2::code_flow(&browser, &hydra, &client, &request, &login, &consent).await,
    )
    .await;
    assert_eq!(
        (callback.logins, callback.consents),
        (0, 1),
        "login remembered, consent asked"
    );

    // RP-initiated logout, accepted by the harness, lands on the
    // registered post-logout URL with the state; the login is forgotten.
    let id_token = tokens.id_token.unwrap();
    let landed = ok(
        &stack,
        oauth2::logout(
            &browser,
            &hydra,
            &id_token,
            "http://127.0.0.1:4455/logged-out",
            "bye-state",
        )
        .await,
    )
    .await;
    assert_eq!(landed.path(), "/logged-out");
    assert_eq!(
        landed
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned()),
        Some("bye-state".into())
    );
    let (callback, _) = ok(
        &stack,
        oauth2::code_flow(
            &browser,
            &hydra,
            &client,
            &Request::new("openid email"),
            &login,
            &consent,
        )
        .await,
    )
    .await;
    assert_eq!(callback.logins, 1, "logged out: the login is asked again");
}

/// The full stack: Kratos is Hydra's login provider. A person registered
/// and verified through Kratos signs in through the OAuth2 flow in
/// Kratos' own login flow; Kratos accepts Hydra's login challenge, and the
/// ID token's subject is their Kratos identity id.
#[tokio::test]
async fn a_kratos_user_signs_in_to_an_oauth2_client_through_kratos() {
    init_tracing();
    let stack = OryStack::builder()
        .with_kratos()
        .with_hydra()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let kratos = stack.kratos();
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let user = crate::support::user(&stack, crate::support::seed("oauth2 through kratos"));
    let browser = Browser::new().unwrap();
    ok(
        &stack,
        scenarios::journey::browser_register_verified(&browser, &user, &kratos).await,
    )
    .await;
    let (_, client) = ok(&stack, register_fixture(&admin, &hydra, "web-basic").await).await;
    let login = Login::Kratos {
        kratos: kratos.clone(),
        identifier: user.person.email.clone(),
        password: user.person.password.clone(),
    };
    let consent = Consent {
        remember: true,
        ..Consent::default()
    };
    let request = Request::new("openid offline_access email");
    let (callback, tokens) = ok(
        &stack,
        oauth2::code_flow(&browser, &hydra, &client, &request, &login, &consent).await,
    )
    .await;
    assert_eq!((callback.logins, callback.consents), (1, 1));
    let claims = id_claims(&stack, &client, &request, &tokens).await;

    // The browser now holds Kratos' session too: whoami names the identity
    // the ID token is about, and Kratos said how it was authenticated.
    let session = ok(&stack, kratos.whoami(&browser, None).await).await;
    let identity = session.identity.expect("whoami names the identity").id;
    assert_eq!(claims["sub"], identity.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["password"]), "{claims:?}");

    // Hydra remembers the login Kratos accepted: the next authorization
    // passes Kratos without a form (Kratos accepts the skipped challenge).
    let (callback, _) = ok(
        &stack,
        oauth2::code_flow(
            &browser,
            &hydra,
            &client,
            &Request::new("openid email"),
            &login,
            &consent,
        )
        .await,
    )
    .await;
    assert_eq!((callback.logins, callback.consents), (0, 0), "{callback:?}");

    // A wrong password in Kratos' form is Kratos' refusal (4000006), and no
    // code reaches the client.
    let stranger = Login::Kratos {
        kratos: kratos.clone(),
        identifier: user.person.email.clone(),
        password: "not-the-password-at-all".into(),
    };
    let e = oauth2::code_flow(
        &Browser::new().unwrap(),
        &hydra,
        &client,
        &Request::new("openid"),
        &stranger,
        &consent,
    )
    .await
    .unwrap_err();
    assert_eq!(e.ory_id().as_deref(), Some("4000006"), "{e}");
}
