//! What Hydra must refuse, and what a client must refuse of what Hydra
//! sends: each refusal asserted by its OAuth2 error id.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use harness::hydra::jwt::{IdTokenExpect, validate_id_token};
use harness::hydra::{AcceptConsent, AcceptLogin, ClientAuth};
use harness::{Browser, Error, NativeApp, OryStack};
use scenarios::clients::register_fixture;
use scenarios::flows::oauth2::{self, Client, Consent, Login, Request, Stop};
use url::Url;

use crate::oauth2::hydra_stack;
use crate::support::ok;

fn login() -> Login {
    Login::Harness {
        subject: "user-eve".into(),
        remember: false,
    }
}

/// A callback with a fresh code for `client`, not yet exchanged.
async fn code(stack: &OryStack, client: &Client, request: &Request) -> String {
    let browser = Browser::new().unwrap();
    ok(
        stack,
        oauth2::authorize(
            &browser,
            &stack.hydra(),
            client,
            request,
            &login(),
            &Consent::default(),
        )
        .await,
    )
    .await
    .code
}

fn oauth2_error(e: &Error) -> Option<String> {
    e.ory_id()
}

#[tokio::test]
async fn the_authorization_refuses_a_foreign_redirect_and_a_scope_not_granted() {
    let stack = hydra_stack(&[]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (_, client) = ok(&stack, register_fixture(&admin, &hydra, "web-basic").await).await;

    let elsewhere = Client {
        redirect_uri: "http://127.0.0.1:4455/not-registered".into(),
        ..client.clone()
    };
    let e = oauth2::authorize(
        &Browser::new().unwrap(),
        &hydra,
        &elsewhere,
        &Request::new("openid"),
        &login(),
        &Consent::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(oauth2_error(&e).as_deref(), Some("invalid_request"), "{e}");
    // Sent to Hydra's error URL, never to the unregistered one.
    assert!(e.to_string().contains("/oauth2/error"), "{e}");
    assert!(e.to_string().contains("redirect_uri"), "{e}");

    let e = oauth2::authorize(
        &Browser::new().unwrap(),
        &hydra,
        &client,
        &Request::new("openid admin"),
        &login(),
        &Consent::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(oauth2_error(&e).as_deref(), Some("invalid_scope"), "{e}");
}

#[tokio::test]
async fn the_token_endpoint_refuses_a_wrong_secret_and_a_missing_or_wrong_verifier() {
    let stack = hydra_stack(&[]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (_, client) = ok(&stack, register_fixture(&admin, &hydra, "web-basic").await).await;

    let request = Request::new("openid");
    let code_1 = code(&stack, &client, &request).await;
    let wrong = ClientAuth::Basic {
        id: client.auth.id().into(),
        secret: "guessed".into(),
    };
    let verifier = request.pkce.as_ref().map(|p| p.verifier.as_str());
    let e = hydra
        .exchange_code(&admin, &wrong, &code_1, &client.redirect_uri, verifier)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), oauth2_error(&e).as_deref()),
        (Some(401), Some("invalid_client")),
        "{e}"
    );

    let request = Request::new("openid");
    let code_2 = code(&stack, &client, &request).await;
    let e = hydra
        .exchange_code(&admin, &client.auth, &code_2, &client.redirect_uri, None)
        .await
        .unwrap_err();
    assert_eq!(oauth2_error(&e).as_deref(), Some("invalid_grant"), "{e}");

    let request = Request::new("openid");
    let code_3 = code(&stack, &client, &request).await;
    let other = harness::hydra::tokens::Pkce::new();
    let e = hydra
        .exchange_code(
            &admin,
            &client.auth,
            &code_3,
            &client.redirect_uri,
            Some(&other.verifier),
        )
        .await
        .unwrap_err();
    assert_eq!(oauth2_error(&e).as_deref(), Some("invalid_grant"), "{e}");
    assert!(
        e.to_string().contains("code verifier") || e.to_string().contains("PKCE"),
        "{e}"
    );
}

/// RFC 6749 4.1.2: a code used twice is refused, and the tokens issued for
/// it are revoked.
#[tokio::test]
async fn a_code_used_twice_is_refused_and_its_tokens_revoked() {
    let stack = hydra_stack(&[]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (_, client) = ok(&stack, register_fixture(&admin, &hydra, "web-basic").await).await;
    let request = Request::new("openid offline_access");
    let code = code(&stack, &client, &request).await;
    let verifier = request.pkce.as_ref().map(|p| p.verifier.as_str());
    let first = ok(
        &stack,
        hydra
            .exchange_code(&admin, &client.auth, &code, &client.redirect_uri, verifier)
            .await,
    )
    .await;
    assert!(
        ok(&stack, hydra.introspect(&admin, &first.access_token).await)
            .await
            .active
    );
    let e = hydra
        .exchange_code(&admin, &client.auth, &code, &client.redirect_uri, verifier)
        .await
        .unwrap_err();
    assert_eq!(oauth2_error(&e).as_deref(), Some("invalid_grant"), "{e}");
    assert!(
        !ok(&stack, hydra.introspect(&admin, &first.access_token).await)
            .await
            .active,
        "the first exchange's access token outlived the replay"
    );
    let refresh = first.refresh_token.unwrap();
    let e = hydra
        .refresh(&admin, &client.auth, &refresh)
        .await
        .unwrap_err();
    assert_eq!(oauth2_error(&e).as_deref(), Some("invalid_grant"), "{e}");
}

/// Hydra v2.3 answers a second accept of one login challenge with 200
/// (its challenges are stateless), and the second verifier even leads to
/// a consent challenge; the replay is caught when that consent's verifier
/// comes back: `access_denied` at the client, no second code.
#[tokio::test]
async fn a_login_challenge_accepted_twice_works_once() {
    let stack = hydra_stack(&[]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (_, client) = ok(&stack, register_fixture(&admin, &hydra, "web-basic").await).await;
    let browser = Browser::new().unwrap();
    let request = Request::new("openid");
    let origins = [(hydra.public_base(), "hydra")];
    let Stop::Login(challenge) = ok(
        &stack,
        oauth2::go(&browser, &origins, request.url(&hydra, &client)).await,
    )
    .await
    else {
        panic!("no login challenge");
    };
    let accept = AcceptLogin {
        subject: "user-eve".into(),
        ..AcceptLogin::default()
    };
    let first = ok(
        &stack,
        hydra.accept_login(&admin, &challenge, &accept).await,
    )
    .await;
    let second = ok(
        &stack,
        hydra.accept_login(&admin, &challenge, &accept).await,
    )
    .await;

    // The first verifier leads on to consent and the callback.
    let Stop::Consent(consent) = ok(
        &stack,
        oauth2::go(&browser, &origins, Url::parse(&first.redirect_to).unwrap()).await,
    )
    .await
    else {
        panic!("no consent challenge");
    };
    let granted = AcceptConsent {
        grant_scope: vec!["openid".into()],
        ..AcceptConsent::default()
    };
    let done = ok(
        &stack,
        hydra.accept_consent(&admin, &consent, &granted).await,
    )
    .await;
    let Stop::Elsewhere(callback) = ok(
        &stack,
        oauth2::go(&browser, &origins, Url::parse(&done.redirect_to).unwrap()).await,
    )
    .await
    else {
        panic!("no callback");
    };
    ok(&stack, oauth2::read_callback(callback, &client, &request)).await;

    // The second verifier still leads to a consent challenge; only its
    // consent verifier is refused, at the client's callback.
    let Stop::Consent(again) = ok(
        &stack,
        oauth2::go(&browser, &origins, Url::parse(&second.redirect_to).unwrap()).await,
    )
    .await
    else {
        panic!("the replayed login verifier did not lead to consent");
    };
    let done = ok(&stack, hydra.accept_consent(&admin, &again, &granted).await).await;
    let Stop::Elsewhere(url) = ok(
        &stack,
        oauth2::go(&browser, &origins, Url::parse(&done.redirect_to).unwrap()).await,
    )
    .await
    else {
        panic!("no callback for the replay");
    };
    let refused = oauth2::read_callback(url, &client, &request).unwrap_err();
    assert_eq!(
        refused.ory_id().as_deref(),
        Some("access_denied"),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("already been used"),
        "{refused}"
    );
}

#[tokio::test]
async fn the_client_side_refuses_forged_tokens_and_a_mixed_up_state() {
    // ID tokens live two seconds here, so one can expire during the test.
    let stack = hydra_stack(&[("TTL_ID_TOKEN", "2s")]).await;
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let (_, client) = ok(&stack, register_fixture(&admin, &hydra, "web-basic").await).await;
    let browser = Browser::new().unwrap();
    let request = Request::new("openid");
    let (callback, tokens) = ok(
        &stack,
        oauth2::code_flow(
            &browser,
            &hydra,
            &client,
            &request,
            &login(),
            &Consent::default(),
        )
        .await,
    )
    .await;
    let keys = ok(&stack, hydra.jwks(&admin).await).await;
    // A dev stack starts with the harness' ready-made keys: Hydra made none
    // (making them can outlast its 10 s answer limit on a busy machine).
    let mut kids: Vec<_> = keys
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    kids.sort();
    assert_eq!(kids, ["dev-access-token", "dev-id-token"]);
    let id_token = tokens.id_token.unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], "dev-id-token");
    let expect = IdTokenExpect {
        issuer: hydra.public_base().as_str(),
        audience: client.auth.id(),
        nonce: Some(&request.nonce),
        access_token: Some(&tokens.access_token),
        // Valid however busy the machine: only the expiry check below
        // allows no skew.
        leeway: 60,
    };
    ok(&stack, validate_id_token(&id_token, &keys, expect)).await;

    let refused = |token: &str, expect: IdTokenExpect<'_>| {
        validate_id_token(token, &keys, expect)
            .expect_err("a bad token passed")
            .to_string()
    };
    // A claim changed after signing, the token otherwise well formed: only
    // the signature can catch it.
    let parts: Vec<&str> = id_token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = "user-mallory".into();
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = [parts[0], &forged_payload, parts[2]].join(".");
    let e = refused(&tampered, expect);
    assert!(e.contains("InvalidSignature"), "{e}");
    assert!(
        refused(
            &id_token,
            IdTokenExpect {
                nonce: Some("another"),
                ..expect
            }
        )
        .contains("nonce")
    );
    assert!(
        refused(
            &id_token,
            IdTokenExpect {
                audience: "another-client",
                ..expect
            }
        )
        .contains("InvalidAudience")
    );
    assert!(
        refused(
            &id_token,
            IdTokenExpect {
                access_token: Some("another"),
                ..expect
            }
        )
        .contains("at_hash")
    );
    let issuer = "http://127.0.0.1:1/";
    assert!(refused(&id_token, IdTokenExpect { issuer, ..expect }).contains("InvalidIssuer"));
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let strict = IdTokenExpect {
        leeway: 0,
        ..expect
    };
    assert!(refused(&id_token, strict).contains("ExpiredSignature"));

    // A callback checked against another request's state: forged or mixed
    // up, refused.
    let other = Request::new("openid");
    let e = oauth2::read_callback(callback.url, &client, &other).unwrap_err();
    assert!(e.to_string().contains("state"), "{e}");
}
