//! OAuth2 through the self-service UI: a client on a site of its own
//! (`client.orygate-client.test`) sends a browser to Hydra
//! (`oauth.orygate.test`), whose login and consent pages are the app's
//! (`app.orygate.test`); Kratos (`auth.orygate.test`) signs the person in
//! and accepts the login at Hydra.

use harness::form::Page;
use harness::hydra::Hydra;
use harness::hydra::jwt::{IdTokenExpect, validate_id_token};
use harness::ui::{RelyingParty, UiApp};
use harness::{Browser, NativeApp, OryStack, Service};
use scenarios::clients::{fixture, register};
use scenarios::flows::oauth2::{Client, Request, exchange, read_callback};

use crate::support::{init_tracing, ok, user};
use crate::ui::{ok_journey, shown, start};

/// The app as Hydra's UI in front of a stack of Kratos and Hydra, with
/// `fixtures/ui/<fixture>/` merged over Hydra's config when given; a
/// client on its own site registered with its callback.
async fn stack(fixture_dir: Option<&str>) -> (UiApp, OryStack, RelyingParty, Client) {
    init_tracing();
    let ui = UiApp::start_with_hydra().await.unwrap();
    let builder = OryStack::builder()
        .with_kratos()
        .with_hydra()
        .self_service_ui(&ui);
    let stack = start(builder, fixture_dir.map(|f| (Service::Hydra, f))).await;
    let rp = RelyingParty::start().await.unwrap();
    let mut client = fixture("web-basic").unwrap();
    client.redirect_uris = vec![rp.callback().to_string()];
    client.post_logout_redirect_uris = vec![rp.url("").to_string()];
    let (_, client) = ok(
        &stack,
        register(&NativeApp::new().unwrap(), &stack.hydra(), &client).await,
    )
    .await;
    (ui, stack, rp, client)
}

/// Hydra as browsers reach it beside the app.
fn hydra(ui: &UiApp, stack: &OryStack) -> Hydra {
    let admin = stack.hydra().admin("");
    Hydra::new(ui.hydra_origin().expect("with Hydra").clone(), admin)
}

/// From the client's home page, its "Sign in" link followed: a navigation
/// the client's site starts.
async fn sign_in(browser: &Browser, rp: &RelyingParty, authorize: url::Url) -> Page {
    rp.offer(authorize);
    let home = Page::open(browser, &rp.url("")).await.unwrap();
    let link = home.link("#sign-in").expect("the client offers a sign-in");
    home.follow(browser, &link).await.unwrap()
}

/// Whether the navigation passed Hydra's authorization endpoint with
/// `parameter` (`login_verifier`, `consent_verifier`).
fn passed(page: &Page, parameter: &str) -> bool {
    page.hops.iter().any(|(_, url)| {
        url.host_str() == Some(harness::ui::OAUTH2_HOST)
            && url.query_pairs().any(|(k, _)| k == parameter)
    })
}

/// Signs in at the client: the app's login form the first time, then
/// the app's consent page, allowed; the code exchanged by the client's
/// back end for an ID token whose subject is the person's Kratos identity
/// and whose issuer is Hydra's name beside the app. Returns the subject.
async fn first_sign_in(
    ui: &UiApp,
    stack: &OryStack,
    rp: &RelyingParty,
    client: &Client,
    browser: &Browser,
    who: &scenarios::User,
) -> String {
    let hydra = hydra(ui, stack);
    let request = Request::new("openid");
    let page = sign_in(browser, rp, request.url(&hydra, client)).await;
    assert_eq!(page.url.path(), "/login", "{}", shown("the sign-in", &page));
    assert!(
        page.hops
            .iter()
            .any(|(_, url)| url.query_pairs().any(|(k, _)| k == "login_challenge")),
        "Hydra sent the browser to the app's login with a challenge: {}",
        shown("the sign-in", &page)
    );
    let mut form = page.form().unwrap();
    form.fill("identifier", &who.person.email)
        .unwrap()
        .fill("password", &who.person.password)
        .unwrap();
    let page = form.submit(browser, ("method", "password")).await.unwrap();
    assert_eq!(page.url.path(), "/consent", "{}", shown("the login", &page));
    assert!(
        passed(&page, "login_verifier"),
        "{}",
        shown("the login", &page)
    );
    assert_eq!(
        page.texts(".scope"),
        ["openid"],
        "{}",
        shown("consent", &page)
    );

    let page = page
        .form()
        .unwrap()
        .submit(browser, ("action", "accept"))
        .await
        .unwrap();
    let callback = read_callback(page.url.clone(), client, &request)
        .unwrap_or_else(|e| panic!("{e}: {}", shown("the consent", &page)));
    let app = NativeApp::new().unwrap();
    let tokens = ok(
        stack,
        exchange(&app, &hydra, client, &request, &callback).await,
    )
    .await;
    let keys = ok(stack, hydra.jwks(&NativeApp::new().unwrap()).await).await;
    let claims = validate_id_token(
        tokens
            .id_token
            .as_deref()
            .expect("scope openid gives an id_token"),
        &keys,
        IdTokenExpect {
            issuer: ui.hydra_origin().unwrap().as_str(),
            audience: client.auth.id(),
            nonce: Some(&request.nonce),
            access_token: Some(&tokens.access_token),
            leeway: 60,
        },
    )
    .unwrap();
    let kratos = ui.kratos(stack);
    let session = ok(stack, kratos.whoami(browser, None).await).await;
    let identity = session.identity.expect("a session has its identity");
    assert_eq!(
        claims["sub"].as_str(),
        Some(identity.id.as_str()),
        "the ID token's subject is the Kratos identity signed in"
    );
    identity.id
}

/// A client on another site signs a person in through the app's pages, and
/// a second time without any form: Hydra remembers the login (its session
/// cookie, Lax, goes with the sign-in the client's site starts) and Kratos
/// accepts it at once; only the consent is asked again. A scope the
/// consent form adds is not granted; a consent form another browser posts
/// is refused; a denied consent reaches the client.
#[tokio::test]
async fn a_client_on_another_site_signs_in_through_the_apps_login_and_consent() {
    let (ui, stack, rp, client) = stack(None).await;
    let who = user(&stack, 9_411);
    ok_journey(&stack, &who).await;
    let browser = Browser::new().unwrap();
    let subject = first_sign_in(&ui, &stack, &rp, &client, &browser, &who).await;

    let request = Request::new("openid");
    let page = sign_in(&browser, &rp, request.url(&hydra(&ui, &stack), &client)).await;
    assert_eq!(
        page.url.path(),
        "/consent",
        "{}",
        shown("signed in already", &page)
    );
    assert!(
        passed(&page, "login_verifier"),
        "{}",
        shown("signed in already", &page)
    );
    // A scope the client may have but did not ask for, added to the form
    // as a tampering browser would: the app grants only what Hydra asked.
    let mut form = page.form().unwrap();
    form.fields
        .push(("grant_scope".to_owned(), "offline_access".to_owned()));
    let page = form.submit(&browser, ("action", "accept")).await.unwrap();
    let callback = read_callback(page.url.clone(), &client, &request)
        .unwrap_or_else(|e| panic!("{e}: {}", shown("the second consent", &page)));
    let app = NativeApp::new().unwrap();
    let beside = hydra(&ui, &stack);
    let tokens = ok(
        &stack,
        exchange(&app, &beside, &client, &request, &callback).await,
    )
    .await;
    assert_eq!(tokens.scope, "openid", "{tokens:?}");
    assert!(
        tokens.refresh_token.is_none(),
        "no offline_access, no refresh token"
    );
    assert!(!subject.is_empty());

    // The consent form posted by another browser, which lacks the app's
    // CSRF cookie, is refused; then denied by its own: the client hears
    // access_denied (RFC 6749 4.1.2.1).
    let request = Request::new("openid");
    let page = sign_in(&browser, &rp, request.url(&hydra(&ui, &stack), &client)).await;
    let form = page.form().unwrap();
    let forged = form
        .submit(&Browser::new().unwrap(), ("action", "accept"))
        .await
        .expect_err("a consent posted without the app's cookie");
    assert!(
        matches!(forged, harness::Error::Status { status: 403, .. }),
        "{forged}"
    );
    let page = form.submit(&browser, ("action", "deny")).await.unwrap();
    assert_eq!(
        page.url.host_str(),
        Some(harness::ui::CLIENT_HOST),
        "{}",
        shown("deny", &page)
    );
    assert_eq!(
        page.texts("#error"),
        ["access_denied"],
        "{}",
        shown("deny", &page)
    );
}

/// Hydra's cookies `SameSite=Strict` (`fixtures/ui/hydra-strict`): the
/// first sign-in works, because the login form's post starts a navigation
/// on Hydra's own site. The second, which the client's site starts,
/// reaches Hydra cross-site: the browser withholds Hydra's Strict cookies,
/// so Hydra does not know the person it logged in a minute ago and Kratos,
/// asked for a login Hydra does not remember, wants the password again
/// (1010003). Single sign-on is lost for every client on another site.
/// The same journey passes on `ory/` (Lax), above.
#[tokio::test]
async fn hydra_cookies_samesite_strict_lose_single_sign_on_for_a_client_on_another_site() {
    let (ui, stack, rp, client) = stack(Some("hydra-strict")).await;
    let who = user(&stack, 9_412);
    ok_journey(&stack, &who).await;
    let browser = Browser::new().unwrap();
    first_sign_in(&ui, &stack, &rp, &client, &browser, &who).await;
    let hydra_origin = ui.hydra_origin().unwrap();
    let kept: Vec<String> = browser
        .cookies_for(&hydra_origin.join("oauth2/auth").unwrap())
        .iter()
        .filter(|c| c.name().starts_with("ory_hydra_"))
        .map(|c| format!("{}; SameSite={:?}", c.name(), c.same_site()))
        .collect();
    assert!(
        kept.iter().any(|c| c.starts_with("ory_hydra_session"))
            && kept.iter().all(|c| c.ends_with("SameSite=Some(Strict)")),
        "the browser keeps Hydra's session and CSRF cookies, all Strict: {kept:?}"
    );

    let request = Request::new("openid");
    let page = sign_in(&browser, &rp, request.url(&hydra(&ui, &stack), &client)).await;
    assert!(
        !passed(&page, "login_verifier") && page.url.path() == "/login",
        "asked to sign in again, not passed on to the consent: {}",
        shown("signed in already", &page)
    );
    // Kratos' 1010003: "Please confirm this action by verifying that it is
    // you."
    assert!(
        page.html.contains("data-id=\"1010003\""),
        "{}",
        shown("signed in already", &page)
    );
}
