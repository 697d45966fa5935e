//! The journeys through a self-service UI on an origin of its own
//! (`harness::ui`), as people take them: pages read and forms filled and
//! posted by a browser (`harness::form`), the app at
//! `app.orygate.test`, Kratos at `auth.orygate.test`.

use harness::form::Page;
use harness::ui::UiApp;
use harness::{Browser, OryStack};

use scenarios::flows::ui::{enter_mailed_code, submit_login};

use crate::support::{init_tracing, user};

/// Signs up, verifies the address by the mailed code, signs in and out,
/// all through the app's pages: each form from the page, its hidden CSRF
/// token posted back, the redirects between the two hosts followed.
#[tokio::test]
async fn sign_up_verify_sign_in_and_out_through_the_apps_pages() {
    init_tracing();
    let (ui, stack) = behind_ui(None).await;
    let who = user(&stack, 9_401);
    let person = &who.person;
    let browser = Browser::new().unwrap();

    // The app sends the browser to Kratos, which starts a flow and sends
    // it back to the app's page for it.
    let page = Page::open(&browser, &ui.url("registration")).await.unwrap();
    assert_eq!(page.status, 200, "{}", shown("registration", &page));
    assert_eq!(page.url.host_str(), Some(harness::ui::APP_HOST));
    assert!(
        page.url.query().unwrap_or_default().starts_with("flow="),
        "{}",
        page.url
    );
    assert!(
        page.hops
            .iter()
            .any(|(_, from)| from.host_str() == Some(harness::ui::AUTH_HOST)),
        "{:?}",
        page.hops
    );
    let mut form = page.form().unwrap();
    assert_eq!(form.action.host_str(), Some(harness::ui::AUTH_HOST));
    assert!(
        form.fields
            .iter()
            .any(|(n, v)| n == "csrf_token" && !v.is_empty()),
        "{:?}",
        form.fields
    );
    form.fill("traits.email", &person.email)
        .unwrap()
        .fill("traits.name.first", &person.first_name)
        .unwrap();
    // Two steps, as the profile method makes registration: the traits,
    // then the password, on the same flow.
    let page = form.submit(&browser, ("method", "profile")).await.unwrap();
    assert_eq!(page.status, 200, "{}", shown("the traits", &page));
    let mut form = page.form().unwrap();
    form.fill("password", &person.password).unwrap();
    // `show_verification_ui`: on to the app's verification page.
    let page = form.submit(&browser, ("method", "password")).await.unwrap();
    assert_eq!(page.status, 200, "{}", shown("after sign-up", &page));
    assert_eq!(
        page.url.path(),
        "/verification",
        "{}",
        shown("after sign-up", &page)
    );

    let page = enter_mailed_code(&browser, &page, &who).await.unwrap();
    assert_eq!(page.status, 200, "{}", shown("verification", &page));
    // Kratos' 1080002: "You successfully verified your email address."
    assert!(
        page.html.contains("data-id=\"1080002\""),
        "{}",
        shown("verification", &page)
    );

    let page = submit_login(&browser, &ui.url("login"), &person.email, &person.password)
        .await
        .unwrap();
    // Back on the app, which asks Kratos who this is with the session
    // cookie Kratos set for both hosts.
    assert_eq!(
        page.url.host_str(),
        Some(harness::ui::APP_HOST),
        "{}",
        shown("login", &page)
    );
    assert_eq!(
        page.texts("#who"),
        [format!("Signed in as {}", person.email)],
        "{}",
        shown("login", &page)
    );
    let session = browser
        .cookie(ui.origin(), "ory_kratos_session")
        .expect("the session cookie is sent to the app's host too");
    assert_eq!(session.domain(), Some(harness::ui::COOKIE_DOMAIN));

    // Out through Kratos' logout URL, back to the app's login.
    let logout = page.link("#logout").expect("a sign-out link");
    assert_eq!(logout.host_str(), Some(harness::ui::AUTH_HOST));
    let page = Page::open(&browser, &logout).await.unwrap();
    assert_eq!(page.url.path(), "/login", "{}", shown("logout", &page));
    let page = Page::open(&browser, &ui.url("")).await.unwrap();
    assert_eq!(
        page.url.path(),
        "/login",
        "{}",
        shown("after logout", &page)
    );
}

/// The pitfall Ory's guide names first: a session cookie scoped to Kratos'
/// host. Sign-in succeeds at Kratos, but the app on its own host never
/// gets the cookie: it sends the browser to its login, Kratos (which does
/// get it) sends a signed-in browser back to the app, and round it goes
/// until the browser gives up. The test names the cookie and the domain
/// it was set for.
#[tokio::test]
async fn a_session_cookie_for_kratos_host_alone_leaves_the_app_signed_out() {
    init_tracing();
    let (ui, stack) = behind_ui(Some("cookie-domain")).await;
    let who = user(&stack, 9_402);
    let browser = Browser::new().unwrap();
    // The account made by the API journey: this test is about the login.
    ok_journey(&stack, &who).await;
    let looped = submit_login(
        &browser,
        &ui.url("login"),
        &who.person.email,
        &who.person.password,
    )
    .await
    .expect_err("a browser the app cannot see signed in goes round in circles");
    assert!(
        looped.to_string().contains("more than 10 redirects"),
        "{looped}"
    );
    let kratos_host = ui.kratos_origin().clone();
    let session = browser
        .cookie(&kratos_host, "ory_kratos_session")
        .expect("Kratos signed the browser in");
    assert_eq!(
        session.domain(),
        Some(harness::ui::AUTH_HOST),
        "the fixture's domain"
    );
    assert!(
        browser.cookie(ui.origin(), "ory_kratos_session").is_none(),
        "the app's host must not get a cookie set for {}",
        harness::ui::AUTH_HOST
    );
}

/// What a page was, for a failed assertion: its status, where it landed
/// and by which redirects, and the page.
pub(crate) fn shown(what: &str, page: &Page) -> String {
    format!(
        "{what}: {} {} after {:?}\n{}",
        page.status, page.url, page.hops, page.html
    )
}

/// `who` signed up and verified through Kratos' API flows.
pub(crate) async fn ok_journey(stack: &OryStack, who: &scenarios::User) {
    let kratos = stack.kratos();
    let app = harness::NativeApp::new().unwrap();
    crate::support::ok(
        stack,
        scenarios::journey::api_register_verified(&app, who, &kratos).await,
    )
    .await;
}

/// A stack behind a fresh UI, with the UI fixture `fixture` (under
/// `fixtures/ui/`) merged over Kratos' config when given.
async fn behind_ui(fixture: Option<&str>) -> (UiApp, OryStack) {
    let ui = UiApp::start().await.unwrap();
    let builder = OryStack::builder().with_kratos().self_service_ui(&ui);
    let stack = start(builder, fixture.map(|f| (harness::Service::Kratos, f))).await;
    (ui, stack)
}

/// Starts `builder`, with the UI fixture `(service, name)`
/// (`fixtures/ui/<name>/`) merged over that service's config when given.
pub(crate) async fn start(
    builder: harness::OryStackBuilder,
    fixture: Option<(harness::Service, &str)>,
) -> OryStack {
    let builder = match fixture {
        Some((service, name)) => {
            builder.overlay(service, harness::repo_root().join("fixtures/ui").join(name))
        }
        None => builder,
    };
    builder
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"))
}

/// A login that asks to come back to the app does, when the app is among
/// Kratos' allowed return URLs; when it is not (`fixtures/ui/return-urls`),
/// Kratos refuses it and the app's error page says why.
#[tokio::test]
async fn a_login_returns_to_the_app_only_where_kratos_allows_it() {
    init_tracing();
    let (ui, stack) = behind_ui(None).await;
    let who = user(&stack, 9_403);
    ok_journey(&stack, &who).await;
    let browser = Browser::new().unwrap();
    let mut login = ui.url("login");
    login
        .query_pairs_mut()
        .append_pair("return_to", ui.url("").as_str());
    let page = submit_login(&browser, &login, &who.person.email, &who.person.password)
        .await
        .unwrap();
    assert_eq!(
        page.texts("#who"),
        [format!("Signed in as {}", who.person.email)],
        "{} {}",
        page.url,
        page.html
    );

    let (ui, _stack) = behind_ui(Some("return-urls")).await;
    let mut login = ui.url("login");
    login
        .query_pairs_mut()
        .append_pair("return_to", ui.url("").as_str());
    let page = Page::open(&Browser::new().unwrap(), &login).await.unwrap();
    assert_eq!(page.url.path(), "/error", "{} {}", page.url, page.html);
    let said = page.texts(".error").join(" ");
    assert!(
        said.contains("return_to") && said.contains("not allowed"),
        "the error page names the refused return_to: {said:?}"
    );
}

/// The app's own scripts call Kratos from the app's origin with the
/// browser's cookies: Kratos echoes that origin and allows credentials;
/// with CORS off (`fixtures/ui/cors-off`) it sends neither header.
#[tokio::test]
async fn the_apps_origin_may_call_kratos_with_credentials_unless_cors_is_off() {
    init_tracing();
    let origin = |ui: &UiApp| ui.origin().as_str().trim_end_matches('/').to_owned();
    let ask = |ui: &UiApp| {
        let (url, origin) = (
            ui.kratos_origin().join("sessions/whoami").unwrap(),
            origin(ui),
        );
        async move {
            let browser = Browser::new().unwrap();
            let agent = browser.agent();
            let request = agent
                .client()
                .get(url.clone())
                .header("Origin", origin)
                .header("Accept", "application/json");
            let answer = agent
                .exchange(&harness::Step::get("browser", &url), request)
                .await
                .unwrap();
            let header = |name: &str| {
                answer
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            (
                answer.status().as_u16(),
                header("access-control-allow-origin"),
                header("access-control-allow-credentials"),
            )
        }
    };
    let (ui, _stack) = behind_ui(None).await;
    let (status, allow_origin, credentials) = ask(&ui).await;
    assert_eq!(status, 401, "nobody is signed in");
    assert_eq!(allow_origin.as_deref(), Some(origin(&ui).as_str()));
    assert_eq!(credentials.as_deref(), Some("true"));

    let (ui, _stack) = behind_ui(Some("cors-off")).await;
    let (_, allow_origin, credentials) = ask(&ui).await;
    assert_eq!(
        (allow_origin, credentials),
        (None, None),
        "Access-Control-Allow-Origin and -Credentials from a Kratos with CORS off"
    );
}

/// Recovery through the app's pages: the address, the mailed code, the
/// settings page Kratos sends a recovered browser to, a new password
/// there; then a login with it.
#[tokio::test]
async fn recover_by_code_and_set_a_new_password_through_the_apps_pages() {
    init_tracing();
    let (ui, stack) = behind_ui(None).await;
    let who = user(&stack, 9_404);
    ok_journey(&stack, &who).await;
    let browser = Browser::new().unwrap();

    let page = Page::open(&browser, &ui.url("recovery")).await.unwrap();
    let mut form = page.form().unwrap();
    form.fill("email", &who.person.email).unwrap();
    let page = form.submit(&browser, ("method", "code")).await.unwrap();
    assert_eq!(
        page.url.path(),
        "/recovery",
        "{}",
        shown("the address", &page)
    );
    let page = enter_mailed_code(&browser, &page, &who).await.unwrap();
    // Recovered: signed in, on the app's settings page.
    assert_eq!(page.url.path(), "/settings", "{}", shown("the code", &page));

    let new_password = format!("{}-renewed", who.person.password);
    let mut form = page.form().unwrap();
    form.fill("password", &new_password).unwrap();
    let page = form.submit(&browser, ("method", "password")).await.unwrap();
    // Kratos' 1050001: "Your changes have been saved!"
    assert!(
        page.html.contains("data-id=\"1050001\""),
        "{}",
        shown("the new password", &page)
    );

    let fresh = Browser::new().unwrap();
    let page = submit_login(&fresh, &ui.url("login"), &who.person.email, &new_password)
        .await
        .unwrap();
    assert_eq!(
        page.texts("#who"),
        [format!("Signed in as {}", who.person.email)],
        "{}",
        shown("login with the new password", &page)
    );
}

/// Settings through the app's pages for someone signed in there: the
/// profile form shows their name, a new one saved (Kratos' 1050001) is
/// what the session's identity then carries.
#[tokio::test]
async fn change_the_name_on_the_apps_settings_page() {
    init_tracing();
    let (ui, stack) = behind_ui(None).await;
    let who = user(&stack, 9_405);
    ok_journey(&stack, &who).await;
    let browser = Browser::new().unwrap();
    let page = scenarios::flows::ui::log_in(
        &browser,
        ui.origin(),
        &who.person.email,
        &who.person.password,
    )
    .await
    .unwrap();
    assert_eq!(page.url.path(), "/", "{}", shown("login", &page));

    let page = Page::open(&browser, &ui.url("settings")).await.unwrap();
    assert_eq!(page.url.path(), "/settings", "{}", shown("settings", &page));
    let mut form = page.form().unwrap();
    let shown_name = form
        .fields
        .iter()
        .find(|(n, _)| n == "traits.name.first")
        .map(|(_, v)| v.clone());
    assert_eq!(shown_name.as_deref(), Some(who.person.first_name.as_str()));
    form.fill("traits.name.first", "Renamed").unwrap();
    let page = form.submit(&browser, ("method", "profile")).await.unwrap();
    // Kratos' 1050001: "Your changes have been saved!"
    assert!(
        page.html.contains("data-id=\"1050001\""),
        "{}",
        shown("the new name", &page)
    );
    let kratos = ui.kratos(&stack);
    let session = crate::support::ok(&stack, kratos.whoami(&browser, None).await).await;
    let traits = &session.identity.expect("an identity").traits;
    assert_eq!(traits["name"]["first"], "Renamed", "{traits}");
}
