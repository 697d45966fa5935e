//! The gate's checks against the production-like stack, red on each
//! misconfiguration fixture under `fixtures/misconfig/<check>/` (green on
//! `ory/`: `orygate gate` in `loadtests/tests/gate/main.rs`).

use std::path::PathBuf;

use harness::{OryStack, Service, Tuning};
use scenarios::checks::{self, Configs, Deployment, Outcome, Policy};

use crate::support::{init_tracing, ok};

fn today() -> jiff::civil::Date {
    jiff::Zoned::now().date()
}

/// The repository's own policy for `ory/`.
fn ory_policy() -> Policy {
    Policy::load(&harness::repo_root().join("ory/.orygate/policy.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The fixture folder of `check`.
fn fixture(check: &str) -> PathBuf {
    harness::repo_root().join("fixtures/misconfig").join(check)
}

/// Kratos' hashing of new passwords for a check that neither reads nor
/// times it: Argon2id at 64 KiB and one pass, well under a millisecond,
/// where ory/'s bcrypt takes about 240 ms of a core (and Kratos without
/// `--dev` raises any lower bcrypt cost to 12). The checks read the config
/// files, which still say bcrypt.
const CHEAP_HASHING: [(&str, &str); 4] = [
    ("HASHERS_ALGORITHM", "argon2"),
    ("HASHERS_ARGON2_MEMORY", "64KB"),
    ("HASHERS_ARGON2_ITERATIONS", "1"),
    ("HASHERS_ARGON2_PARALLELISM", "1"),
];

/// The checks whose outcome depends on how Kratos hashes: they run on
/// the config's own hashing.
const HASHING_MATTERS: [&str; 2] = ["hashing", "enumeration"];

/// The check that reads Hydra's signing keys: it runs on keys Hydra made.
const KEYS_MATTER: &str = "jwks";

/// A production-like stack of `services` from `ory/`, with the overlays of
/// the fixture `check` (its `kratos/`, `hydra/`, `keto/` folders: a config
/// file, and an `env` file of environment overrides), and the deployment
/// the checks see. The stack runs the check `runs` only (or none, ""):
/// what that check does not look at is made cheap, Kratos' hashing
/// ([`CHEAP_HASHING`]) and Hydra's signing keys (ready-made instead of
/// RSA 4096 made at start, about 2 CPU seconds).
async fn stack(services: &[Service], check: Option<&str>, runs: &str) -> (OryStack, Deployment) {
    let mut builder = OryStack::builder().tuning(Tuning::Production).in_memory();
    if services.contains(&Service::Kratos) && !HASHING_MATTERS.contains(&runs) {
        for (key, value) in CHEAP_HASHING {
            builder = builder.env(Service::Kratos, key, value);
        }
    }
    if runs != KEYS_MATTER {
        builder = builder.ready_made_keys();
    }
    let mut configs = Configs::default();
    for service in services {
        builder = builder.with(*service);
        let mut files = vec![service.default_config_dir().join(service.config_file())];
        if let Some(check) = check {
            let overlay = fixture(check).join(service.to_string());
            if let Ok(env) = std::fs::read_to_string(overlay.join("env")) {
                let pairs = env.lines().filter(|l| !l.starts_with('#'));
                for (key, value) in pairs.filter_map(|l| l.split_once('=')) {
                    builder = builder.env(*service, key, value);
                }
            }
            if overlay.join(service.config_file()).is_file() {
                files.push(overlay.join(service.config_file()));
                builder = builder.overlay(*service, overlay);
            }
        }
        let config = Some(Configs::read(&files).unwrap());
        match service {
            Service::Kratos => configs.kratos = config,
            Service::Hydra => configs.hydra = config,
            Service::Keto => {
                let overlays: Vec<PathBuf> = check
                    .map(|c| fixture(c).join("keto"))
                    .filter(|d| d.is_dir())
                    .into_iter()
                    .collect();
                let file = checks::keto::model_file(
                    config.as_ref().unwrap(),
                    &service.default_config_dir(),
                    &overlays,
                );
                configs.keto_model = file.map(|f| std::fs::read_to_string(f).unwrap());
                configs.keto = config;
            }
            Service::Oathkeeper => {
                configs.oathkeeper = config;
                let overlays: Vec<PathBuf> = check
                    .map(|c| fixture(c).join("oathkeeper"))
                    .filter(|d| d.is_dir())
                    .into_iter()
                    .collect();
                let file =
                    harness::oathkeeper::rules_file(&service.default_config_dir(), &overlays);
                configs.oathkeeper_rules = Some(harness::oathkeeper::read_rules(&file).unwrap());
                builder = builder.confined();
            }
        }
    }
    let stack = builder
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let has = |s: Service| services.contains(&s);
    let deployment = Deployment {
        kratos: has(Service::Kratos).then(|| stack.kratos()),
        hydra: has(Service::Hydra).then(|| stack.hydra()),
        keto: has(Service::Keto).then(|| stack.keto()),
        oathkeeper: has(Service::Oathkeeper).then(|| stack.oathkeeper()),
        app: stack.upstream_shared(),
        admin: true,
        config: configs,
    };
    (stack, deployment)
}

/// Starts `services` with the fixture of `check` and runs that check
/// alone, under the fixture's policy if it has one (else `ory/`'s); it
/// must fail, and its evidence must say `expected`.
async fn red(check: &str, services: &[Service], expected: &str) {
    red_at(check, check, services, expected).await;
}

/// As [`red`], with the fixture folder `name` (a check with more than one
/// fixture).
async fn red_at(name: &str, check: &str, services: &[Service], expected: &str) {
    init_tracing();
    let policy_file = fixture(name).join(".orygate/policy.toml");
    let policy = if policy_file.is_file() {
        Policy::load(&policy_file).unwrap()
    } else {
        ory_policy()
    };
    let (stack, deployment) = stack(services, Some(name), check).await;
    if let Ok(entries) = std::fs::read_dir(fixture(name).join("hydra/clients")) {
        let app = harness::NativeApp::new().unwrap();
        for entry in entries {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let client = serde_json::from_str(&text).unwrap();
            scenarios::clients::register(&app, &stack.hydra(), &client)
                .await
                .unwrap_or_else(|e| panic!("failed to {e}"));
        }
    }
    let only = [*checks::find(check).expect("a check of the registry")];
    let findings = checks::run(&only, &deployment, &policy, today())
        .await
        .unwrap();
    let outcome = &findings[0].outcome;
    let Outcome::Failed { evidence, .. } = outcome else {
        for service in services {
            eprintln!("{}", stack.log_tail(*service, 20).await);
        }
        panic!("{check} did not fail on its fixture: {outcome:?}");
    };
    for e in evidence {
        eprintln!("{check}: {e}");
    }
    assert!(
        evidence.iter().any(|e| e.to_string().contains(expected)),
        "{check}: no evidence says {expected:?}: {evidence:?}"
    );
}

/// A test per fixture: the check, the services it needs, and what its
/// evidence must say.
macro_rules! red_on_its_fixture {
    ($($name:ident: $check:literal on [$($service:ident),+] says $expected:literal;)*) => {$(
        #[tokio::test]
        async fn $name() {
            red($check, &[$(Service::$service),+], $expected).await;
        }
    )*};
}

red_on_its_fixture! {
    advisories_unacknowledged: "advisories" on [Kratos, Hydra, Keto] says "is affected by GHSA-";
    dev_mode_from_config: "dev-mode" on [Kratos] says "dev mode is on";
    cookies_cross_site_and_broad: "cookies" on [Kratos] says "SameSite=None";
    return_to_without_trailing_slash: "return-to" on [Kratos] says "took return_to=https://app.orygate.test/app-evil/";
    fallback_login_ui: "fallback-ui" on [Kratos] says "Ory's fallback page";
    ui_reach_return_to_without_the_ui: "ui-reach" on [Kratos] says "refused the UI as return_to: its origin http://127.0.0.1:4455/ and each of its pages";
    cors_any_origin_with_credentials: "cors" on [Kratos] says "Access-Control-Allow-Origin: * with credentials";
    secrets_from_the_docs: "secrets" on [Kratos] says "documented example";
    password_policy_weak: "password-policy" on [Kratos] says "was accepted";
    session_lifespan_a_month: "session-lifespan" on [Kratos] says "the policy allows 1day";
    hashing_cheap_argon2: "hashing" on [Kratos] says "below the policy's";
    issuer_fallback_error_page: "issuer" on [Hydra] says "/oauth2/fallbacks/";
    error_debug_exposed: "error-debug" on [Hydra] says "Unable to locate the resource";
    dynamic_registration_open: "dynamic-registration" on [Hydra] says "anyone can register";
    pkce_optional_for_public_clients: "pkce" on [Hydra] says "got a code";
    token_lifespans_a_day: "token-lifespans" on [Hydra] says "the policy allows 1h";
    hydra_cors_any_origin: "hydra-cors" on [Hydra] says "Access-Control-Allow-Origin: https://evil.example";
    hydra_cookies_cross_site: "hydra-cookies" on [Hydra] says "SameSite=None";
    redirect_uri_implicit_client: "redirect-uri" on [Hydra] says "the implicit flow puts tokens in the URL";
    courier_without_smtp: "courier" on [Kratos] says "the courier does not reach its SMTP server";
    reuse_within_a_grace_period: "reuse" on [Hydra] says "a used refresh token was accepted again";
    enumeration_identifier_first: "enumeration" on [Kratos] says "identifier-first login: a known identifier gets";
    keto_model_misspelt_relation: "keto-model" on [Keto] says "did not declare relation \"owner\"";
    oathkeeper_anonymous_fallback: "oathkeeper-open-rules" on [Oathkeeper, Kratos] says "rule admin (<https?>://<[^/]+>/admin<(/.*)?>) sent a request without credentials to the app: the anonymous authenticator with the allow authorizer";
    oathkeeper_api_through_the_proxy: "oathkeeper-api-not-public" on [Oathkeeper] says "the proxy answered with Oathkeeper's rule list";
}

/// ui-reach on Kratos behind the harness's self-service UI, on names of
/// their own (Kratos at `auth.orygate.test`, the UI at `app.orygate.test`,
/// cookies for `orygate.test`): green; with the session cookie for
/// Kratos' host alone (`fixtures/ui/cookie-domain`), red, naming the
/// cookie, its domain and the UI's host.
#[tokio::test]
async fn ui_reach_passes_the_ui_on_its_own_host_unless_the_session_cookie_is_kratos_alone() {
    init_tracing();
    let cases = [
        (None, None),
        (
            Some("cookie-domain"),
            Some(
                "Set-Cookie ory_kratos_session (Domain=auth.orygate.test) is not sent to app.orygate.test",
            ),
        ),
    ];
    for (fixture, expected) in cases {
        let ui = harness::ui::UiApp::start().await.unwrap();
        let mut builder = OryStack::builder().with_kratos().self_service_ui(&ui);
        let kratos = Service::Kratos;
        let mut files = vec![
            kratos.default_config_dir().join(kratos.config_file()),
            ui.kratos_overlay().join(kratos.config_file()),
        ];
        if let Some(name) = fixture {
            let dir = harness::repo_root().join("fixtures/ui").join(name);
            files.push(dir.join(kratos.config_file()));
            builder = builder.overlay(kratos, dir);
        }
        let stack = builder
            .start()
            .await
            .unwrap_or_else(|e| panic!("failed to {e}"));
        let deployment = Deployment {
            kratos: Some(ui.kratos(&stack)),
            hydra: None,
            keto: None,
            oathkeeper: None,
            app: None,
            admin: true,
            config: Configs {
                kratos: Some(Configs::read(&files).unwrap()),
                ..Configs::default()
            },
        };
        let only = [*checks::find("ui-reach").unwrap()];
        let findings = checks::run(&only, &deployment, &ory_policy(), today())
            .await
            .unwrap();
        match (expected, &findings[0].outcome) {
            (None, Outcome::Passed { seen }) => assert!(
                seen.starts_with(
                    "the CSRF cookie and the session cookie reach the UI at app.orygate.test"
                ),
                "{seen}"
            ),
            (Some(expected), Outcome::Failed { evidence, .. }) => assert!(
                evidence.iter().any(|e| e.to_string().contains(expected)),
                "no evidence says {expected:?}: {evidence:?}"
            ),
            (expected, outcome) => panic!("{fixture:?}: expected {expected:?}, got {outcome:?}"),
        }
    }
}

/// Hydra's cookies Strict, with a client on another site than the issuer.
#[tokio::test]
async fn hydra_cookies_strict_with_a_client_on_another_site() {
    red_at(
        "hydra-cookies-strict",
        "hydra-cookies",
        &[Service::Hydra],
        "redirects to https://partner.example/callback, another site than Hydra's",
    )
    .await;
}

/// Runs `check` on a stack of `services` from `ory/` whose deployment, as
/// the checks see it, `misroute` changed (a proxy in front sending one
/// API's host to another's port); it must fail saying `expected`.
async fn red_when(
    check: &str,
    services: &[Service],
    misroute: impl FnOnce(&OryStack, &mut Deployment),
    expected: &str,
) {
    init_tracing();
    let (stack, mut deployment) = stack(services, None, check).await;
    let only = [*checks::find(check).expect("a check of the registry")];
    let green = checks::run(&only, &deployment, &ory_policy(), today())
        .await
        .unwrap();
    assert!(
        matches!(green[0].outcome, Outcome::Passed { .. }),
        "{check} on ory/: {:?}",
        green[0].outcome
    );
    misroute(&stack, &mut deployment);
    let findings = checks::run(&only, &deployment, &ory_policy(), today())
        .await
        .unwrap();
    let Outcome::Failed { evidence, .. } = &findings[0].outcome else {
        panic!(
            "{check} did not fail when misrouted: {:?}",
            findings[0].outcome
        );
    };
    assert!(
        evidence.iter().any(|e| e.to_string().contains(expected)),
        "{check}: no evidence says {expected:?}: {evidence:?}"
    );
}

/// A cache in front of Kratos' public API that keeps whoami answers (a
/// CDN told to cache `GET`): a session logged out, or of a disabled
/// identity, still answers 200 there.
#[tokio::test]
async fn session_ends_behind_a_cache_that_keeps_whoami() {
    init_tracing();
    let (stack, mut deployment) = stack(&[Service::Kratos], None, "session-ends").await;
    let only = [*checks::find("session-ends").unwrap()];
    let direct = checks::run(&only, &deployment, &ory_policy(), today())
        .await
        .unwrap();
    assert!(
        matches!(direct[0].outcome, Outcome::Passed { .. }),
        "{:?}",
        direct[0].outcome
    );
    let kratos = stack.kratos();
    let cache = crate::proxies::start(
        crate::proxies::Fault::CachesWhoami,
        kratos.public_base().clone(),
    )
    .await;
    let admin = kratos.admin_base().unwrap().clone();
    deployment.kratos = Some(harness::kratos::Kratos::new(cache, admin));
    let findings = checks::run(&only, &deployment, &ory_policy(), today())
        .await
        .unwrap();
    let Outcome::Failed { evidence, .. } = &findings[0].outcome else {
        panic!(
            "session-ends did not fail behind the cache: {:?}",
            findings[0].outcome
        );
    };
    let said: Vec<String> = evidence.iter().map(ToString::to_string).collect();
    assert!(
        said.iter()
            .any(|e| e.contains("after logout whoami answers 200, not 401")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|e| e.contains("for a disabled identity whoami answers 200, not 401")),
        "{said:?}"
    );
}

/// Kratos behind a proxy (its base URL the proxy's), which forwards
/// faithfully (green) or "repairs" CSRF errors by putting the flow's own
/// token into every form (red: a forged post passes).
#[tokio::test]
async fn csrf_behind_a_proxy_that_fills_in_the_token() {
    use crate::proxies::{Fault, Proxy};
    init_tracing();
    for (fault, refused) in [(Fault::Faithful, true), (Fault::RepairsCsrf, false)] {
        let proxy = Proxy::listen(fault).await;
        let stack = OryStack::builder()
            .with_kratos()
            .tuning(Tuning::Production)
            .in_memory()
            .env(
                Service::Kratos,
                "SERVE_PUBLIC_BASE_URL",
                proxy.url().as_str(),
            )
            .start()
            .await
            .unwrap_or_else(|e| panic!("failed to {e}"));
        let kratos = stack.kratos();
        proxy.forward_to(kratos.public_base().clone());
        let admin = kratos.admin_base().unwrap().clone();
        let deployment = Deployment {
            kratos: Some(harness::kratos::Kratos::new(proxy.url().clone(), admin)),
            admin: true,
            ..Deployment::default()
        };
        let only = [*checks::find("csrf").unwrap()];
        let findings = checks::run(&only, &deployment, &ory_policy(), today())
            .await
            .unwrap();
        match (&findings[0].outcome, refused) {
            (Outcome::Passed { .. }, true) => {}
            (Outcome::Failed { evidence, .. }, false) => {
                let said: Vec<String> = evidence.iter().map(ToString::to_string).collect();
                for what in ["no csrf_token", "a tampered csrf_token"] {
                    assert!(
                        said.iter().any(|e| e.contains(&format!(
                            "a login form with {what} was not refused for CSRF"
                        ))),
                        "{what}: {said:?}"
                    );
                }
            }
            (outcome, _) => panic!("{fault:?}: {outcome:?}"),
        }
    }
}

/// Kratos' admin API shows a mail's body only in dev mode: redacted on
/// ory/'s production-like Kratos, shown on one served with `--dev`.
/// (`dev: true` in the file is not enough in v1.3.1: `serve`'s `--dev`
/// flag, false when not given, overrides it.)
#[tokio::test]
async fn dev_mode_shows_itself_in_the_courier_list() {
    init_tracing();
    for tuning in [Tuning::Production, Tuning::Dev] {
        let stack = OryStack::builder()
            .with_kratos()
            .tuning(tuning)
            .in_memory()
            .start()
            .await
            .unwrap_or_else(|e| panic!("failed to {e}"));
        let kratos = stack.kratos();
        let app = harness::NativeApp::new().unwrap();
        let email = "courier-body@orygate.test";
        let traits = serde_json::json!({"email": email});
        let made = kratos
            .create_identity(&app, &traits, "a-long-passphrase-9", &[email])
            .await;
        ok(&stack, made).await;
        ok(
            &stack,
            scenarios::flows::recovery::api_request(&app, &kratos, email).await,
        )
        .await;
        let deployment = Deployment {
            kratos: Some(kratos),
            admin: true,
            ..Deployment::default()
        };
        let only = [*checks::find("dev-mode").unwrap()];
        let findings = checks::run(&only, &deployment, &ory_policy(), today())
            .await
            .unwrap();
        match (&findings[0].outcome, tuning) {
            (Outcome::Passed { seen }, Tuning::Production) => {
                assert!(
                    seen.contains("1 mail bodies redacted on the admin API"),
                    "{seen}"
                );
            }
            (Outcome::Failed { evidence, .. }, Tuning::Dev) => assert!(
                evidence
                    .iter()
                    .any(|e| e.to_string().contains("the admin API shows a mail's body")),
                "{evidence:?}"
            ),
            (outcome, _) => panic!("{tuning:?}: {outcome:?}"),
        }
    }
}

/// Hydra's public host routed to its admin port: the admin API answers
/// there.
#[tokio::test]
async fn admin_not_public_when_the_public_host_reaches_the_admin_port() {
    red_when(
        "admin-not-public",
        &[Service::Hydra],
        |stack, d| {
            let admin = stack.hydra().admin("");
            d.hydra = Some(harness::hydra::Hydra::new(admin.clone(), admin));
        },
        "the admin API answers on the public port",
    )
    .await;
}

/// Keto's read host routed to its write port: it takes writes.
#[tokio::test]
async fn keto_write_not_on_read_when_the_read_host_reaches_the_write_port() {
    red_when(
        "keto-write-not-on-read",
        &[Service::Keto],
        |stack, d| {
            let write = stack.keto().write("");
            d.keto = Some(harness::keto::Keto::new(write.clone(), write));
        },
        "the read port handled a write (204)",
    )
    .await;
}

/// A team's own ID token key imported through the admin API, RSA with a
/// 1024-bit modulus: Hydra publishes it, the check names it.
#[tokio::test]
async fn jwks_with_an_imported_short_key() {
    init_tracing();
    let (stack, deployment) = stack(&[Service::Hydra], None, "jwks").await;
    let keys = std::fs::read_to_string(fixture("jwks").join("hydra/id-token.jwks.json")).unwrap();
    let url = stack.hydra().admin("admin/keys/hydra.openid.id-token");
    let app = harness::NativeApp::new().unwrap();
    let put = app
        .agent()
        .client()
        .put(url.clone())
        .header("content-type", "application/json")
        .body(keys);
    let step = harness::Step::new(
        "hydra",
        reqwest::Method::PUT,
        &url,
        harness::Expect::Success,
    );
    let answer = app.agent().exchange(&step, put).await;
    let answer = answer.unwrap_or_else(|e| panic!("Hydra refused the key: {e}"));
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let only = [*checks::find("jwks").unwrap()];
    let findings = checks::run(&only, &deployment, &ory_policy(), today())
        .await
        .unwrap();
    let Outcome::Failed { evidence, .. } = &findings[0].outcome else {
        panic!("jwks did not fail: {:?}", findings[0].outcome);
    };
    assert!(
        evidence.iter().any(|e| e
            .to_string()
            .contains("key imported-1024 is RSA with a 1024-bit modulus")),
        "{evidence:?}"
    );
}

/// A policy for shared devices: the session cookie must end with the
/// browser, and ory/'s Kratos makes it persistent.
#[tokio::test]
async fn cookies_persistent_where_the_policy_wants_browser_sessions() {
    red_at(
        "cookies-persistent",
        "cookies",
        &[Service::Kratos],
        "where the policy wants it to end with the browser",
    )
    .await;
}

/// A schema dropped while identities still name it: green while the
/// config serves person-v2, red once Kratos runs a config without it
/// (v1.3.1 then answers the whole identity list 500).
#[tokio::test]
async fn identity_schemas_when_a_schema_in_use_is_dropped() {
    init_tracing();
    let versioned = harness::repo_root().join("fixtures/migration/versioned/kratos");
    let mut stack = OryStack::builder()
        .with_kratos()
        .overlay(Service::Kratos, &versioned)
        .postgres()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let kratos = stack.kratos();
    let url = kratos.admin("admin/identities").unwrap();
    let app = harness::NativeApp::new().unwrap();
    let body = serde_json::json!({
        "schema_id": "person-v2",
        "traits": {"email": "schema-v2@orygate.test", "phone": "+49 30 1234567"},
    });
    let step = harness::Step::new(
        "kratos",
        reqwest::Method::POST,
        &url,
        harness::Expect::Status(201),
    );
    let created = app
        .agent()
        .exchange(&step, app.agent().client().post(url.clone()).json(&body))
        .await;
    let created = created.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let deployment = Deployment {
        kratos: Some(kratos),
        admin: true,
        ..Deployment::default()
    };
    let only = [*checks::find("identity-schemas").unwrap()];
    let before = checks::run(&only, &deployment, &ory_policy(), today())
        .await
        .unwrap();
    assert!(
        matches!(&before[0].outcome, Outcome::Passed { seen } if seen.contains("person, person-v2")),
        "{:?}",
        before[0].outcome
    );
    stack
        .replace(
            Service::Kratos,
            harness::Replacement {
                config_dir: None,
                overlays: Some(Vec::new()),
                tag: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let after = checks::run(&only, &deployment, &ory_policy(), today())
        .await
        .unwrap();
    let Outcome::Failed { evidence, .. } = &after[0].outcome else {
        panic!("identity-schemas did not fail: {:?}", after[0].outcome);
    };
    assert!(
        evidence.iter().any(|e| e
            .to_string()
            .contains("an identity names a schema Kratos no longer serves")
            && e.to_string().contains("\"person-v2\"")),
        "{evidence:?}"
    );
}

/// The enumeration check's outcome on a production-like Kratos from
/// `ory/` with `config` (a `kratos.yml` overlay) merged in.
async fn enumeration_with(config: &str) -> Outcome {
    let overlay = std::env::temp_dir().join(format!(
        "orygate-enumeration-{}-{}",
        std::process::id(),
        OVERLAYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(overlay.join("kratos.yml"), config).unwrap();
    let stack = OryStack::builder()
        .with_kratos()
        .tuning(Tuning::Production)
        .in_memory()
        .overlay(Service::Kratos, &overlay)
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let deployment = Deployment {
        kratos: Some(stack.kratos()),
        admin: true,
        ..Deployment::default()
    };
    let only = [*checks::find("enumeration").unwrap()];
    let mut findings = checks::run(&only, &deployment, &ory_policy(), today())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&overlay);
    findings.remove(0).outcome
}

static OVERLAYS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The property, not the fixture: identifier-first login with Kratos'
/// mitigation on answers both alike, and the check passes.
#[tokio::test]
async fn enumeration_passes_identifier_first_login_with_the_mitigation() {
    init_tracing();
    let fixture =
        std::fs::read_to_string(fixture("enumeration").join("kratos/kratos.yml")).unwrap();
    let mitigated = fixture.replace("mitigate: false", "mitigate: true");
    assert_ne!(mitigated, fixture);
    let outcome = enumeration_with(&mitigated).await;
    assert!(
        matches!(&outcome, Outcome::Passed { seen } if seen.contains("identifier-first login")),
        "{outcome:?}"
    );
}

/// Login by code, the other first step that takes an identifier alone:
/// Kratos v1.3.1 sends a known address a code and answers an unknown one
/// "account does not exist" (its mitigation covers identifier-first
/// login only), and the check says so. The people the check makes have
/// no code credential, so the code method is let fall back to their
/// address, as a deployment that turned code login on after sign-ups
/// does.
#[tokio::test]
async fn enumeration_compares_login_by_code() {
    init_tracing();
    let outcome = enumeration_with(
        "selfservice:\n  methods:\n    code:\n      passwordless_enabled: true\n\
         \x20     config:\n        missing_credential_fallback_enabled: true\n",
    )
    .await;
    let Outcome::Failed { evidence, .. } = &outcome else {
        panic!("login by code tells accounts apart, and the check passed: {outcome:?}");
    };
    assert!(
        evidence.iter().any(|e| e
            .to_string()
            .contains("login by code: a known identifier gets")),
        "{evidence:?}"
    );
}

/// A team's rules name hosts off this machine: started for the gate, the
/// Oathkeeper runs them pointed at the stack (Keto's check for
/// `remote_json`) or at a closed loopback port, as its own API lists them.
#[tokio::test]
async fn a_teams_oathkeeper_reaches_nothing_off_this_machine() {
    init_tracing();
    let overlay = std::env::temp_dir().join(format!("orygate-confined-{}", std::process::id()));
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(overlay.join("oathkeeper.yml"), "log:\n  level: info\n").unwrap();
    let rules = serde_json::json!([{
        "id": "team",
        "match": {"url": "<https?>://<[^/]+>/team<(/.*)?>", "methods": ["GET"]},
        "authenticators": [{"handler": "bearer_token", "config": {"check_session_url": "https://auth.team.example/sessions/whoami"}}],
        "authorizer": {"handler": "remote_json", "config": {"remote": "https://keto.team.example/relation-tuples/check", "payload": "{}"}},
        "mutators": [{"handler": "id_token", "config": {"jwks_url": "https://keys.team.example/jwks.json"}}],
        "upstream": {"url": "https://app.team.example:8443/api"}
    }]);
    std::fs::write(overlay.join("rules.json"), rules.to_string()).unwrap();
    let stack = OryStack::builder()
        .with_oathkeeper()
        .with_keto()
        .overlay(Service::Oathkeeper, &overlay)
        .confined()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let api = stack.oathkeeper().api("rules").unwrap();
    let app = harness::NativeApp::new().unwrap();
    let listed: serde_json::Value = harness::transport::get_json(&app, "oathkeeper", api)
        .await
        .unwrap();
    let rule = &listed[0];
    let keto_check = stack.keto().read("relation-tuples/check").to_string();
    assert_eq!(
        rule.pointer("/authorizer/config/remote").unwrap(),
        keto_check.as_str(),
        "{rule}"
    );
    assert_eq!(
        rule.pointer("/authenticators/0/config/check_session_url")
            .unwrap(),
        "http://127.0.0.1:1/sessions/whoami",
        "{rule}"
    );
    assert_eq!(
        rule.pointer("/mutators/0/config/jwks_url").unwrap(),
        "http://127.0.0.1:1/jwks.json",
        "{rule}"
    );
    let upstream = rule.pointer("/upstream/url").unwrap().as_str().unwrap();
    assert_eq!(upstream, stack.upstream().url("api").as_str(), "{rule}");
    let _ = std::fs::remove_dir_all(&overlay);
}

/// A client's own lifespan overrides Hydra's `ttl.*`: one registered with a
/// day-long access token fails the check though the config is within it.
#[tokio::test]
async fn token_lifespans_of_a_client() {
    red_at(
        "token-lifespans-client",
        "token-lifespans",
        &[Service::Hydra],
        "client_credentials_grant_access_token_lifespan 24h0m0s; the policy allows 1h",
    )
    .await;
}

/// Hydra's client list is read page by page: with a page of one, every
/// registered client is found once. (The stack was asked for ready-made
/// signing keys: Hydra holds the harness's, not a set of its own.)
#[tokio::test]
async fn the_client_list_is_read_across_pages() {
    init_tracing();
    let (stack, _) = stack(&[Service::Hydra], None, "").await;
    let url = stack.hydra().admin("admin/keys/hydra.openid.id-token");
    let set: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(set["keys"][0]["kid"], "dev-id-token", "{set}");
    // 342 base64url characters: a 256-byte, 2048-bit modulus.
    assert_eq!(
        set["keys"][0]["n"].as_str().map(str::len),
        Some(342),
        "{set}"
    );
    let app = harness::NativeApp::new().unwrap();
    let mut registered = std::collections::BTreeSet::new();
    for n in 0..3 {
        let client = serde_json::from_value(serde_json::json!({
            "client_id": format!("paged-{n}"),
            "client_name": format!("paged {n}"),
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .unwrap();
        scenarios::clients::register(&app, &stack.hydra(), &client)
            .await
            .unwrap_or_else(|e| panic!("failed to {e}"));
        registered.insert(format!("paged-{n}"));
    }
    let (pages, more) = checks::hydra::clients::list(app.agent(), &stack.hydra(), 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!more);
    assert!(pages.len() >= 3, "{} pages", pages.len());
    let listed: Vec<String> = pages
        .iter()
        .flat_map(|p| &p.clients)
        .filter_map(|c| c.get("client_id")?.as_str().map(str::to_owned))
        .collect();
    let unique: std::collections::BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(
        listed.len(),
        unique.len(),
        "a client listed twice: {listed:?}"
    );
    assert!(
        registered.is_subset(&unique),
        "{registered:?} not all in {listed:?}"
    );
}
